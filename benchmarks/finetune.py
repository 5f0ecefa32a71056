"""Few-shot to larger matrices: examples a larger-matrix preset needs to reach an accuracy, trained from scratch
and fine-tuned from a smaller-matrix run (``--from``), as one JSON line.

    python benchmarks/finetune.py --source runs/ev5 [--preset cpu/eigenvalues-6x6] [--target 0.5] [--set key=value]
                                  [--max-examples 96000] [--eval-every 8000] [--out runs/bench-finetune]

Each run's curve lists [examples, acc@5%, median relative error] at every evaluation. Both runs use the
preset's config (the fine-tuned one also its new learning-rate schedule), the same seed and
the same periodic test set; they are trained one after the other (never two at once on a small CPU). Reruns
resume the runs already in ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mathlens.api import from_overrides, prepare_run, training
from mathlens.run import Run


def rounded(x) -> float | None:
    """A median error for JSON: None where most answers did not decode."""
    return None if x is None or x != x else round(float(x), 4)


def first_examples(evals, hit) -> int | None:
    """Examples at the first evaluation where ``hit`` (a boolean Series) holds, or None."""
    return int(evals.loc[hit, "examples"].iloc[0]) if hit.any() else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="the trained smaller-matrix run")
    ap.add_argument("--preset", default="cpu/eigenvalues-6x6")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override for both runs (repeatable)")
    ap.add_argument("--target", type=float, default=0.5, help="accuracy at 5%% tolerance to reach")
    ap.add_argument("--median-target", type=float, default=0.2,
                    help="median relative error to reach (a finer yardstick while accuracies are near 0)")
    ap.add_argument("--max-examples", type=int, default=96_000)
    ap.add_argument("--eval-every", type=int, default=8_000)
    ap.add_argument("--out", default="runs/bench-finetune")
    args = ap.parse_args()
    common = [*args.overrides, f"train.max_examples={args.max_examples}", f"train.eval_every={args.eval_every}"]
    result = {"preset": args.preset, "source": args.source, "target_acc@5%": args.target,
              "target_median_error": args.median_target}
    for name, overrides in (("scratch", common), ("finetuned", from_overrides(args.source, common))):
        cfg, run_dir, _ = prepare_run(args.preset, overrides, str(Path(args.out) / name))
        with training(cfg, run_dir, quiet=True) as trainer:
            if not trainer.done:
                trainer.run()
        evals = Run(run_dir).metrics().query("kind == 'eval'")
        acc, med = evals["acc@5%"], evals["median_error"]
        result[name] = {"examples_to_acc": first_examples(evals, acc >= args.target),
                        "examples_to_median_error": first_examples(evals, med <= args.median_target),
                        "final_acc@5%": float(acc.iloc[-1]), "final_median_error": rounded(med.iloc[-1]),
                        "train_time_s": round(trainer.train_time),
                        "curve": [[int(e), round(float(a), 4), rounded(m)]
                                  for e, a, m in zip(evals["examples"], acc, med)]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
