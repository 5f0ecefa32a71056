"""The Analysis contract: what `mathlens analyze RUN NAME` and ``mathlens.analyze(run, name)`` need to know.

An analysis computes on a run and returns a :class:`Result` (a summary, named tables, and the arrays its
figures are drawn from); it writes nothing and draws nothing. ``mathlens.analyze`` saves the result under
``RUN/analysis/NAME/`` (:func:`save_result`) and the report layer draws its figures
(:mod:`mathlens.report.figures`). Adding an analysis is one module plus an :class:`Analysis` line in
``analysis.REGISTRY``; the command line takes its choices and options from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import UserError
from ..io import write_json, write_table

OPTIONS = ("digits", "hook", "size", "seed")  # every option `mathlens analyze` has
FAMILIES = ("matrix", "digits", "modular")
FAMILY_NAMES = {"matrix": "matrix", "digits": "arithmetic", "modular": "modular-arithmetic"}


@dataclass
class Result:
    """What an analysis found.

    summary: JSON-able headline figures (what ``describe`` prints; saved as summary.json). tables: named
    DataFrames (each saved as CSV, markdown and JSON rows). formats: a table's number format in markdown
    (default ".4g"). data: what the report's figures are drawn from (arrays, frames; not saved).
    ``result[key]`` reads the summary.
    """

    summary: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.summary[key]


@dataclass(frozen=True)
class Analysis:
    """One analysis.

    name: what users type. help: one line for ``mathlens analyze --help``. compute(run, **options) -> a
    :class:`Result` (or a plain summary dict). describe(run, summary) -> the lines the command prints.
    families: the task families it is for (matrix, digits, modular). options: which of :data:`OPTIONS` it takes.
    """

    name: str
    help: str
    compute: Callable[..., Result | dict]
    describe: Callable[..., list[str]]
    families: tuple[str, ...] = FAMILIES
    options: tuple[str, ...] = field(default=())

    def applies(self, run) -> str | None:
        """None, or why ``run`` cannot be analysed this way."""
        if run.family in self.families:
            return None
        return (f"trains task {run.task.name!r}; this analysis is for "
                f"{' and '.join(FAMILY_NAMES[f] for f in self.families)} runs")

    def __call__(self, run, **options) -> Result:
        """Check that the analysis applies to ``run`` and takes ``options`` (None values are left out), then
        compute it."""
        why = self.applies(run)
        if why:
            raise UserError(f"analyze {self.name}: {run.path} {why}")
        given = {k: v for k, v in options.items() if v is not None}
        extra = sorted(set(given) - set(self.options))
        if extra:
            takes = ", ".join(f"--{o}" for o in self.options) or "no options"
            raise UserError(f"analyze {self.name}: --{extra[0]} does not apply to this analysis (it takes {takes})")
        result = self.compute(run, **given)
        return result if isinstance(result, Result) else Result(result)


def save_result(result: Result, out: Path) -> None:
    """``out/summary.json`` and each table as ``out/NAME.{csv,md,json}``, every file written atomically."""
    for name, table in result.tables.items():
        write_table(Path(out) / name, table, floatfmt=result.formats.get(name, ".4g"),
                    summary={"rows": table.to_dict("records")})
    write_json(Path(out) / "summary.json", result.summary)
