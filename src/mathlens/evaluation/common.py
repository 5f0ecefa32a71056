"""What every family's evaluation shares: the test-set options, and the summaries as text.

``latest_summary`` reads the newest stored evaluation of a run (the report shows it without running a model).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..rundir import eval_files


def check_test_options(cfg, size, seed, batch_size, beam) -> tuple[int, int, int]:
    """(size, seed, batch_size) of a test set: the run's eval settings where not given; each in range."""
    size = cfg.eval.size if size is None else size
    seed = cfg.eval.seed if seed is None else seed
    batch_size = batch_size or cfg.eval.batch_size
    for name, v, lo in (("--size", size, 1), ("--seed", seed, 0), ("--batch-size", batch_size, 1),
                        ("--beam", beam, 1)):
        if v < lo:
            raise UserError(f"{name}: must be at least {lo}, got {v}")
    return size, seed, batch_size


def format_table(table) -> str:
    """The OOD table as markdown, accuracies in percent."""
    shown = table.copy()
    for col in shown.columns:
        if col.startswith(("acc@", "any_beam@")) or col == "invalid":
            shown[col] = shown[col].map(lambda v: f"{v:.1%}")
        elif col == "median_error":
            shown[col] = shown[col].map(lambda v: "inf" if v is None or v != v else f"{v:.3g}")
    return shown.to_markdown(index=False)


def format_lengths(table: pd.DataFrame) -> str:
    """The by-length table as markdown, accuracies in percent."""
    shown = table.copy()
    for col in ("exact", "per_digit", "invalid"):
        shown[col] = shown[col].map(lambda v: f"{v:.2%}")
    return shown.to_markdown(index=False)


def source(summary: dict) -> str:
    """Where a test set came from: its seed, or the data file."""
    return f"from {summary['data']}" if summary.get("data") else f"seed {summary.get('seed')}"


def format_summary(summary: dict) -> str:
    """An evaluation summary (plain, --ood table, or arithmetic's by-length table) as the text `mathlens eval`
    prints."""
    if "lengths" in summary:
        return (f"{summary['size']} test problems per row ({source(summary)})\n"
                + format_lengths(pd.DataFrame(summary["lengths"])))
    if "table" in summary:
        return (f"{summary['size']} test problems per {summary['ood']} (seed {summary['seed']}, beam "
                f"{summary['beam']})\n" + format_table(pd.DataFrame(summary["table"])))
    if "test_acc" in summary:
        return (f"{summary['n']} examples: train accuracy {summary['train_acc']:.2%}, "
                f"test accuracy {summary['test_acc']:.2%}")
    accs = [(k, v) for k, v in summary.items() if k.startswith(("acc@", "any_beam@"))]
    head = "  ".join(f"{k:>9}" for k, _ in accs) + f"  {'invalid':>9}  {'median error':>12}"
    median = summary.get("median_error")
    row = "  ".join(f"{v:>9.2%}" for _, v in accs) + f"  {summary['invalid']:>9.2%}" \
        + f"  {float('inf') if median is None else median:>12.3g}"
    by_task = "".join(f"\n  {k} {v:.2%}" for k, v in summary.get("by_task", {}).items())
    return (f"{summary['n']} test problems ({source(summary)})\n{head}\n{row}"
            + (f"\nper task, acc@{next(iter(accs))[0][4:]}:{by_task}" if by_task else ""))


def latest_summary(run_dir, ood: bool = False) -> dict | None:
    """The newest evaluation summary: a plain one, or (``ood=True``) an --ood table."""
    files = [f.with_suffix(".json") for f in reversed(eval_files(run_dir))]
    for f in files:
        if Path(f).exists():
            summary = json.loads(Path(f).read_text())
            if ("table" in summary) == ood:
                return summary
    return None
