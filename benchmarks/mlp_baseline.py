"""A non-transformer yardstick for a matrix preset: a plain MLP regressing the answer's numbers from the input's,
judged by the task's own check. It says how much of a task's difficulty is the function itself and how much the
token set-up. One JSON line, in the shape of benchmarks/learning.py's.

    python benchmarks/mlp_baseline.py cpu/eigenvalues-3x3 [--set key=value ...] [--minutes 5]
                                      [--width 512] [--layers 3] [--batch 256] [--eval-every 100000]

Inputs: the entries the preset's input layout writes (the upper triangle of a symmetric matrix when
encoding.input_layout = "upper", else every entry), divided by task.max_coeff; outputs: the target matrix's
entries, scaled by their standard deviation on a first batch. Fresh problems every step (the preset's task and
distribution), Adam with lr --lr, MSE loss; every --eval-every examples the fixed test set (eval.seed, 2,000
problems) is verified with task.verify exactly as a decoded transformer answer would be (no rounding to 3 digits).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from mathlens.config import resolve
from mathlens.encodings.sequence import entries
from mathlens.pipelines.stream import build_test_set, seeded_rng

TARGETS = (0.5, 0.9, 0.99)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=100_000)
    ap.add_argument("--test-size", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    cfg = resolve(args.preset, args.overrides)
    task = cfg.build_task()
    torch.manual_seed(cfg.seed)
    rng = seeded_rng(cfg.seed, 1)
    layout = cfg.encoding.input_layout

    def features(p):
        x = task.input_matrix(p)
        i, j = entries(layout, *x.shape[1:])
        return torch.as_tensor(x[:, i, j] / task.options.max_coeff, dtype=torch.float32)

    first = task.sample(4096, rng)
    y0 = task.target_matrix(first)
    shape, scale = y0.shape[1:], float(y0.std())
    n_in = features(first).shape[1]
    dims = [n_in] + [args.width] * args.layers
    model = nn.Sequential(*[m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())],
                          nn.Linear(dims[-1], int(np.prod(shape))))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    tests = build_test_set(task, args.test_size, cfg.eval.seed, args.test_size)

    def evaluate():
        model.eval()
        errs = []
        with torch.no_grad():
            for p in tests:
                pred = (model(features(p)) * scale).double().numpy().reshape(len(p["input"]), *shape)
                errs.append(task.verify(p, pred))
        model.train()
        err = np.concatenate(errs)
        return float(np.mean(err < 0.05)), float(np.median(err))

    curve, examples, train_time, next_eval = [], 0, 0.0, args.eval_every
    while train_time < args.minutes * 60:
        start = time.perf_counter()
        p = task.sample(args.batch, rng)
        y = torch.as_tensor(task.target_matrix(p).reshape(args.batch, -1) / scale, dtype=torch.float32)
        loss = nn.functional.mse_loss(model(features(p)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_time += time.perf_counter() - start
        examples += args.batch
        if examples >= next_eval:
            next_eval += args.eval_every
            acc, med = evaluate()
            curve.append([examples, round(train_time, 1), round(acc, 4), round(med, 4)])
    acc, med = evaluate()
    curve.append([examples, round(train_time, 1), round(acc, 4), round(med, 4)])
    result = {"preset": args.preset, "overrides": args.overrides, "model": f"MLP {args.layers}x{args.width}",
              "inputs": n_in, "outputs": int(np.prod(shape)), "examples": examples,
              "train_time_s": round(train_time, 1), "examples_per_s": round(examples / train_time, 1)}
    for target in TARGETS:
        hit = [c for c in curve if c[2] >= target]
        result[f"to_{target:.0%}"] = {"examples": hit[0][0], "seconds": hit[0][1]} if hit else None
    result["final_acc@5%"], result["final_median_error"] = round(acc, 4), round(med, 4)
    result["curve"] = curve
    print(json.dumps(result))


if __name__ == "__main__":
    main()
