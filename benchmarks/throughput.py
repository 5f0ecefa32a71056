"""Training and greedy-decoding throughput of a preset, with FLOP/s next to a plain matmul's, as one JSON line.

    python benchmarks/throughput.py lawt/transpose-5x5 [--set key=value ...] [--steps 20]

Model FLOPs are counted by torch's FlopCounterMode on one real training step (forward + backward, every
matmul and attention). The matmul reference is a square float32 matmul timed in the same run, on the same
threads, so the share is robust to how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mathlens.config import resolve
from mathlens.models import greedy
from mathlens.training.device import setup
from mathlens.training.optim import make_optimizer
from mathlens.training.pipeline import Pipeline
from mathlens.training.stream import build_test_set, make_stream

LAWT_REFERENCE = 43.0  # LAWT's own training loop, 5x5 transpose, its setting, measured on this 2-core machine


def matmul_flops(device, n=1024, seconds=2.0) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset", nargs="?", default="lawt/transpose-5x5")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--decode-batch", type=int, default=64)
    args = ap.parse_args()

    cfg = resolve(args.preset, args.set)
    device, autocast = setup(cfg.train)
    pipe = Pipeline(cfg)
    torch.manual_seed(0)
    model = pipe.build_model().to(device)
    opt = make_optimizer(model, cfg.optim)
    stream = make_stream(pipe, cfg)
    pad = pipe.vocab.pad_id

    def step(src, tgt):
        src, tgt = torch.from_numpy(src).to(device), torch.from_numpy(tgt).to(device)
        with autocast():
            logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt[:, 1:].flatten(), ignore_index=pad)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip or 1e9)
        opt.step()

    batch = stream.next()
    with FlopCounterMode(display=False) as counter:
        step(*batch)
    flops_per_example = counter.get_total_flops() / len(batch[0])
    for _ in range(3):
        step(*stream.next())
    start = time.perf_counter()
    n = 0
    for _ in range(args.steps):
        src, tgt = stream.next()  # data generation is part of the measured loop
        step(src, tgt)
        n += len(src)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_rate = n / (time.perf_counter() - start)
    mm = matmul_flops(device)

    model.eval()
    problems = build_test_set(pipe.task, args.decode_batch, 0, args.decode_batch)[0]
    src = torch.from_numpy(pipe.encode(problems)[0]).to(device)
    rates = {}
    for cached in (True, False):
        greedy(model, src[:4], 4, pipe.vocab.eos_id, -1, use_cache=cached)
        start = time.perf_counter()
        out = greedy(model, src, pipe.max_out_len, pipe.vocab.eos_id, -1, use_cache=cached)  # eos -1: full length
        rates[cached] = len(src) / (time.perf_counter() - start)
        assert out.shape[1] == pipe.max_out_len
    print(json.dumps({
        "benchmark": "throughput", "preset": args.preset, "overrides": args.set, "device": str(device),
        "threads": torch.get_num_threads(), "batch_size": cfg.train.batch_size,
        "train_examples_per_s": round(train_rate, 1),
        "lawt_reference_examples_per_s": LAWT_REFERENCE,
        "ratio_to_lawt": round(train_rate / LAWT_REFERENCE, 2),
        "train_flops_per_example": int(flops_per_example),
        "train_achieved_flops": round(train_rate * flops_per_example / 1e9, 2) * 1e9,
        "matmul_flops": round(mm / 1e9, 2) * 1e9,
        "share_of_matmul": round(train_rate * flops_per_example / mm, 3),
        "decode_tokens": pipe.max_out_len,
        "decode_examples_per_s_kv_cache": round(rates[True], 1),
        "decode_examples_per_s_no_cache": round(rates[False], 1),
        "decode_speedup_kv_cache": round(rates[True] / rates[False], 2),
    }))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
