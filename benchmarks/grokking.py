"""Grokking speed of a preset: steps/s and wall time to test accuracy >= 99%, as one JSON line.

    python benchmarks/grokking.py grok/add-p97 [--set key=value ...] [--reference-steps 100]

The run trains in a temporary directory with mathlens's full-batch trainer until the preset stops it (test
accuracy held at train.stop_acc) or train.max_steps. In the same process, a plain PyTorch loop of the same
model (full forward over every position, no position/token tables, same float64 loss and AdamW) is timed for
``--reference-steps`` steps, so the speed-up is measured on the same machine at the same moment.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from mathlens.analysis.grokking import summary
from mathlens.config import resolve
from mathlens.io import read_jsonl
from mathlens.rundir import METRICS
from mathlens.training.full_batch import FullBatchTrainer
from mathlens.training.optim import make_optimizer


def plain_loop_steps_per_s(trainer, steps: int) -> float:
    """A straightforward loop over the same data and a fresh copy of the same model."""
    torch.manual_seed(0)
    model = trainer.pipe.build_model().to(trainer.device)
    opt = make_optimizer(model, trainer.cfg.optim)
    x, y = trainer.x_train, trainer.y_train
    start = None
    for i in range(steps + 3):
        if i == 3:
            start = time.perf_counter()
        logits = model(x)[:, -1]  # every position computed, the last one read
        loss = F.cross_entropy(logits.double(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset", nargs="?", default="grok/add-p97")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--reference-steps", type=int, default=100)
    args = ap.parse_args()

    cfg = resolve(args.preset, args.set)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = FullBatchTrainer(cfg, tmp, quiet=True)
        reference = plain_loop_steps_per_s(trainer, args.reference_steps)
        wall = time.perf_counter()
        trainer.run()
        wall = time.perf_counter() - wall
        metrics = pd.DataFrame(read_jsonl(Path(tmp) / METRICS))
    s = summary(metrics)
    evals = metrics.query("kind == 'eval'")
    hit = evals[evals["test_acc"] >= 0.99]
    steps_per_s = trainer.step / trainer.train_time
    print(json.dumps({
        "benchmark": "grokking", "preset": args.preset, "overrides": args.set, "threads": torch.get_num_threads(),
        "steps": trainer.step, "steps_per_s": round(steps_per_s, 2),
        "plain_loop_steps_per_s": round(reference, 2), "speedup_vs_plain_loop": round(steps_per_s / reference, 2),
        "grokked": len(hit) > 0, "steps_to_test_99": s.get("steps_to_test_99"),
        "train_time_to_test_99_s": round(float(hit["time"].iloc[0]), 1) if len(hit) else None,
        "wall_s": round(wall, 1), "final_test_acc": s.get("test_acc"), "final_ffs": s.get("ffs"),
        "final_fcr": s.get("fcr"),
    }))


if __name__ == "__main__":
    main()
