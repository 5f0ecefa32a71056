"""How fast a recipe learns: examples and training seconds to 50/90/99% at 5% tolerance, as one JSON line.

    python benchmarks/learning.py cpu/eigenvalues-3x3 [--set key=value ...] [--minutes 30]
                                  [--eval-every 16000] [--eval-size 1000] [--out runs/learning/NAME]

Trains the preset (with the overrides) for at most ``--minutes`` of training time (train.max_seconds;
evaluations are not counted) or its train.max_examples, evaluating a fixed seeded test set every
``--eval-every`` examples, and prints the first evaluation at which each accuracy was reached, the final
accuracy and median error, and the curve [examples, seconds, acc@5%, median error]. A rerun with the same
--out resumes. Plot several runs' curves with `mathlens compare RUN...`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from mathlens.api import prepare_run, training
from mathlens.run import Run
from mathlens.rundir import of_kind

TARGETS = (0.5, 0.9, 0.99)


def reached(evals, column: str, target: float) -> dict | None:
    """The first evaluation with ``column`` >= ``target``: {examples, seconds}, or None."""
    hit = evals[evals[column] >= target]
    if hit.empty:
        return None
    first = hit.iloc[0]
    return {"examples": int(first["examples"]), "seconds": round(float(first["time"]), 1)}


def rounded(x) -> float | None:
    """A median error for JSON: None where most answers did not decode (NaN/None in the records)."""
    return None if pd.isna(x) else round(float(x), 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--minutes", type=float, default=30.0, help="training time limit")
    ap.add_argument("--eval-every", type=int, default=16_000, help="examples between evaluations")
    ap.add_argument("--eval-size", type=int, default=1000, help="problems in the fixed test set")
    ap.add_argument("--out", default=None, help="run directory (default runs/learning/<preset name>)")
    args = ap.parse_args()
    out = args.out or str(Path("runs/learning") / Path(args.preset).name)
    overrides = args.overrides + [f"train.max_seconds={args.minutes * 60}", f"train.eval_every={args.eval_every}",
                                  f"train.eval_size={args.eval_size}"]
    cfg, run_dir, _ = prepare_run(args.preset, overrides, out)
    with training(cfg, run_dir, quiet=True) as trainer:
        trainer.run()
    evals = of_kind(Run(run_dir).metrics(), "eval")
    column = "acc@5%"
    result = {"preset": args.preset, "overrides": args.overrides, "run": str(run_dir),
              "test_size": args.eval_size, "examples": int(trainer.examples),
              "train_time_s": round(trainer.train_time, 1),
              "examples_per_s": round(trainer.examples / max(trainer.train_time, 1e-9), 1)}
    for target in TARGETS:
        result[f"to_{target:.0%}"] = reached(evals, column, target)
    last = evals.iloc[-1]
    result["final_acc@5%"] = float(last[column])
    result["final_median_error"] = rounded(last["median_error"])
    result["curve"] = [[int(r["examples"]), round(float(r["time"]), 1), round(float(r[column]), 4),
                        rounded(r["median_error"])] for _, r in evals.iterrows()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
