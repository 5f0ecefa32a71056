"""`mathlens compare RUN...`: several runs side by side (docs/papers.md part 2's training-distribution experiment).

One figure with every run's test-accuracy curve, a table of how many examples (steps, for full-batch runs)
each needed to reach 50%, 90% and 99%, and their newest out-of-distribution tables (`mathlens eval --ood`, or
the by-length table of arithmetic runs) merged into one, a column per run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import UserError
from .evaluation.common import latest_summary
from .io import write_table
from .report import plots
from .run import Run
from .rundir import of_kind

LEVELS = (0.5, 0.9, 0.99)


def curve(run: Run) -> tuple[pd.DataFrame, str, str]:
    """(evaluation records, x column, accuracy column) of a run; refuses a run with no evaluation yet."""
    metrics = run.metrics()
    evals = of_kind(metrics, "eval")
    col = run.pipe.headline  # the family's own: acc@5% (matrices), acc (arithmetic), test_acc (modular)
    if not len(evals) or col not in evals:
        raise UserError(f"{run.path}: no evaluation in its metrics yet; train it first")
    return evals, ("step" if run.pipe.progress == "steps" else "examples"), col


def first_reaching(evals: pd.DataFrame, x: str, col: str, level: float):
    hit = evals[evals[col] >= level]
    return int(hit[x].iloc[0]) if len(hit) else None


def ood_column(run: Run) -> pd.Series | None:
    """The run's newest OOD table as one column: accuracy by OOD value (or by operand length)."""
    ood = latest_summary(run.path, ood=True)
    if ood:
        table = pd.DataFrame(ood["table"])
        key = ood["ood"]
        index = table[key].str.replace(" (trained)", "", regex=False)
        return pd.Series(table[run.pipe.headline].to_numpy(), index=pd.Index(index, name=key))
    plain = latest_summary(run.path)
    if plain and "lengths" in plain:
        table = pd.DataFrame(plain["lengths"])
        return pd.Series(table["exact"].to_numpy(), index=pd.Index(table["operands"], name="operands"))
    return None


def compare(paths, out=None) -> tuple[str, Path]:
    """Compare runs; returns (markdown of the tables, output directory with comparison.md/csv, ood.csv and
    curves.png/svg)."""
    runs = [Run(p) for p in paths]
    if len(runs) < 2:
        raise UserError("compare: give at least two runs")
    names = [r.path.name for r in runs]
    if len(set(names)) < len(names):
        names = [str(r.path) for r in runs]
    out = Path(out) if out else Path("runs") / ("compare-" + "-vs-".join(r.path.name for r in runs))[:120]
    curves, rows, oods = {}, [], {}
    for name, run in zip(names, runs):
        evals, x, col = curve(run)
        curves[name] = (evals[x].to_numpy(), evals[col].to_numpy(), x, col)
        row = {"run": name, "task": run.task.name, "accuracy": col, "final": float(evals[col].iloc[-1]),
               "best": float(evals[col].max()), x: int(evals[x].iloc[-1])}
        row.update({f"{x} to {level:.0%}": first_reaching(evals, x, col, level) for level in LEVELS})
        rows.append(row)
        column = ood_column(run)
        if column is not None:
            oods[name] = column
    table = pd.DataFrame(rows)
    for c in table.columns:
        if " to " in c:
            table[c] = table[c].astype("Int64")  # whole numbers; empty where never reached
    markdown = table.astype(object).where(table.notna(), "not reached").to_markdown(index=False, floatfmt=".3f")
    if oods:
        ood = pd.DataFrame(oods)
        shown = ood.map(lambda v: "" if pd.isna(v) else f"{v:.1%}")  # empty: the run was not tested there
        write_table(out / "ood", ood.reset_index(), shown.to_markdown())
        markdown += "\n\nOut of distribution (accuracy at 5%, or exact for arithmetic):\n" + shown.to_markdown()
    write_table(out / "comparison", table, markdown)
    plots.save(plots.compare_curves(curves), out / "curves")
    return markdown, out
