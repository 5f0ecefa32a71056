"""The Family contract: everything that differs between the three kinds of task, in one object.

A task names its family (``Task.family``: matrix, digits or modular); the family says how such a run is
trained, evaluated, reported and analysed, so that nothing else asks a flag. One module per family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from .. import analysis
from ..rundir import of_kind


class Trainer(Protocol):
    """What the API and the command line use of a trainer (training.trainer.Trainer, FullBatchTrainer)."""

    pipe: object  # its pipeline: pipe.progress says what the run's length counts (examples or steps)
    step: int
    train_time: float
    done: bool

    def __init__(self, cfg, run_dir, quiet: bool = False): ...

    def run(self) -> dict:
        """Train to the end (or a stop); returns the last evaluation record."""


def last_evaluation(metrics) -> dict:
    """A streamed run's line in a grid table: its last periodic evaluation (acc@5%... for matrix tasks; acc,
    acc_4d... and digit_acc... for arithmetic) and its length in examples."""
    evals = of_kind(metrics, "eval")
    if not len(evals):
        return {}
    last = evals.iloc[-1]
    return {**{k: last[k] for k in metrics.columns if k.startswith(("acc", "digit_acc"))},
            "examples": int(last["examples"])}


@dataclass(frozen=True)
class Family:
    """A kind of task and the machinery for it.

    name: matrix, digits or modular. trainer: the Trainer class. evaluate(run, size, seed, beam, batch_size,
    ood, digits) -> (summary, path): `mathlens eval`. setting(cfg) -> rows, sections(run, metrics, plot_dir)
    -> HTML parts: the report. report_analyses: analyses `mathlens report` runs first (their figures go in the
    page). shown(last) -> the metrics printed after training. grid_row(metrics) -> a run's line in `mathlens grid`'s
    comparison table. distributed: whether torchrun may launch it.
    """

    name: str
    trainer: type
    evaluate: Callable
    setting: Callable
    sections: Callable
    shown: Callable[[dict], tuple[str, ...]]
    grid_row: Callable
    report_analyses: tuple[str, ...] = ()
    distributed: bool = True

    @property
    def analyses(self) -> list[str]:
        """The names of the analyses that apply to this family's runs (from analysis.REGISTRY)."""
        return [name for name, a in analysis.REGISTRY.items() if self.name in a.families]
