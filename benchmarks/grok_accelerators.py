"""Grokking accelerators side by side over seeds: steps and training seconds to 99% test accuracy, as one JSON line.

    python benchmarks/grok_accelerators.py grok/add-p97 [--seeds 3] [--only none,ma] [--set key=value ...]
                                           [--out runs/accel-NAME] [--max-steps 20000]

Each accelerator is a set of overrides on the preset (its authors' defaults); each runs with seeds 0..N-1
through `mathlens grid` (one ordinary run per seed in OUT/ACCELERATOR/, so a re-run fills only what is
missing). The JSON line gives, per accelerator: median, min and max steps and seconds to 99% over the seeds
that got there, and the share of seeds that got there within --max-steps (and the same for steps to 95%, the
level Grokfast reports). Never run it beside another training: the seconds are wall-clock training time on
this machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from mathlens.grid import run_grid

# name -> overrides (the papers' defaults; weight decay stays the preset's unless the method drops it)
ACCELERATORS = {
    "none": [],
    "grokfast-ma": ["optim.grokfast=\"ma\""],  # window 100, lamb 5 (Lee et al.)
    "grokfast-ema": ["optim.grokfast=\"ema\""],  # alpha 0.98, lamb 2, full batch
    "grokfast-ema-minibatch": ["optim.grokfast=\"ema\"", "train.minibatch=512"],  # their minibatch setting
    "muon": ["optim.optimizer=\"muon\""],  # torch's Muon on the hidden matrices, lr 0.02
    "stablemax": ["optim.loss=\"stablemax\"", "optim.weight_decay=0"],  # Prieto et al.: no weight decay
    "perp-grad": ["optim.perp_grad=true", "optim.weight_decay=0"],  # ⊥AdamW, no weight decay
    "stablemax+perp-grad": ["optim.loss=\"stablemax\"", "optim.perp_grad=true", "optim.weight_decay=0"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", help="comma-separated accelerators (default all): " + ", ".join(ACCELERATORS))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--max-steps", type=int, default=20_000, help="budget of each run")
    ap.add_argument("--out", help="directory (default runs/accel-<preset name>)")
    args = ap.parse_args()
    chosen = args.only.split(",") if args.only else list(ACCELERATORS)
    unknown = [c for c in chosen if c not in ACCELERATORS]
    if unknown:
        ap.error(f"--only: unknown accelerator {unknown[0]!r}; choose from {', '.join(ACCELERATORS)}")
    out = Path(args.out or f"runs/accel-{Path(args.preset).name}")
    result = {"preset": args.preset, "overrides": args.overrides, "seeds": args.seeds, "max_steps": args.max_steps,
              "accelerators": {}}
    for name in chosen:
        sets = [*args.overrides, f"train.max_steps={args.max_steps}", *ACCELERATORS[name]]
        run_grid(args.preset, None, sets, str(out / name), "local", {}, quiet=True, seeds=args.seeds)
        table = pd.read_csv(out / name / "comparison.csv")
        steps, seconds = table["steps_to_test_99"].dropna(), table["seconds_to_test_99"].dropna()
        steps95 = table.get("steps_to_test_95", pd.Series(dtype=float)).dropna()  # Grokfast's own level
        result["accelerators"][name] = {
            "overrides": ACCELERATORS[name], "reached": f"{len(steps)}/{len(table)}",
            **_spread("steps", steps), **_spread("seconds", seconds.round(1)),
            "reached_95": f"{len(steps95)}/{len(table)}", **_spread("steps95", steps95)}
    print(json.dumps(result))


def _spread(name: str, values: pd.Series) -> dict:
    """Median, min and max of the seeds that got there (None where none did)."""
    return {f"{name}_{k}": (None if values.empty else float(getattr(values, k)())) for k in ("median", "min", "max")}


if __name__ == "__main__":
    main()
