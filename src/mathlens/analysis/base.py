"""The Analysis contract: what `mathlens analyze RUN NAME` and ``mathlens.analyze(run, name)`` need to know.

An analysis is one module with a function that computes on a run and returns its summary (a dict, also saved
as ``RUN/analysis/NAME/summary.json`` with its tables and figures), plus an :class:`Analysis` entry in
``analysis.REGISTRY``. Adding one is that file plus the registry line; the command line takes its choices and
options from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import UserError

OPTIONS = ("digits", "hook", "size", "seed")  # every option `mathlens analyze` has


@dataclass(frozen=True)
class Analysis:
    """One analysis.

    name: what users type. help: one line for ``mathlens analyze --help``. compute(run, **options) -> summary
    dict. describe(run, summary) -> the lines the command prints. applies(run) -> None, or why the run cannot be
    analysed this way (the one-line error). options: which of :data:`OPTIONS` it takes.
    """

    name: str
    help: str
    compute: Callable[..., dict]
    describe: Callable[..., list[str]]
    applies: Callable[..., str | None] = lambda run: None
    options: tuple[str, ...] = field(default=())

    def __call__(self, run, **options) -> dict:
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
        return self.compute(run, **given)
