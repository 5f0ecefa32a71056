"""A run directory as an object: its config, pipeline, model, metrics and evaluation records.

A thin accessor: it reads what trainers and `mathlens eval` wrote and builds the model the checkpoint holds;
evaluating and analysing a run are :func:`mathlens.evaluate` and :func:`mathlens.analyze`.

>>> run = load_run("runs/quickstart")          # doctest: +SKIP
>>> run.metrics().query("kind == 'eval'")      # doctest: +SKIP
>>> run.records()                              # doctest: +SKIP
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from .config import load_config_file
from .errors import UserError
from .pipelines import Pipeline, pipeline_for
from .rundir import BEST, CONFIG, LATEST, eval_files, read_metrics
from .training import checkpoint

CHECKPOINTS = {"latest": LATEST, "best": BEST}  # --checkpoint: which weights a Run loads
__all__ = ["Run", "load_run"]


class Run:
    """A trained (or training) run in ``path``: ``runs/NAME`` with config.toml, checkpoint, metrics, eval/."""

    def __init__(self, path, checkpoint: str = "latest"):
        self.path = Path(path)
        if not (self.path / CONFIG).exists():
            what = "does not exist" if not self.path.exists() else f"has no {CONFIG}"
            raise UserError(f"{self.path}: not a run directory ({what})")
        if checkpoint not in CHECKPOINTS:
            raise UserError(f"--checkpoint: {checkpoint!r} is not allowed; choose from {', '.join(CHECKPOINTS)}")
        self.checkpoint = checkpoint  # which weights `model` loads: the latest, or the best evaluation's
        self.cfg = load_config_file(self.path / CONFIG)

    @property
    def suffix(self) -> str:
        """What evaluation files of the best checkpoint add to their names ('' for the latest)."""
        return "" if self.checkpoint == "latest" else f"-{self.checkpoint}"

    @cached_property
    def pipe(self) -> Pipeline:
        """The run's pipeline: its task, tokens and model builder."""
        return pipeline_for(self.cfg)

    @property
    def task(self):
        return self.pipe.task

    @property
    def family(self) -> str:
        """The task's family: matrix, digits or modular (``mathlens.families``)."""
        return self.task.family

    @cached_property
    def model(self):
        """The model with the checkpoint's weights, in eval mode, on the CPU."""
        model = self.pipe.build_model()
        file = self.path / CHECKPOINTS[self.checkpoint]
        if self.checkpoint == "best" and not file.exists():
            raise UserError(f"{file}: no best checkpoint yet (it is written at the run's first periodic evaluation)")
        checkpoint.load(file, model)
        return model.eval()

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINTS[self.checkpoint]).exists()

    def metrics(self) -> pd.DataFrame:
        """metrics.jsonl as a DataFrame (kind = 'train', 'eval' or 'measure')."""
        return read_metrics(self.path)

    def eval_files(self) -> list[Path]:
        return eval_files(self.path)

    def records(self, name: str | None = None) -> pd.DataFrame:
        """Per-sample evaluation records: the newest plain evaluation's (an --ood evaluation's only when there
        is no other), or the file called ``name`` (e.g. 'ood-distribution-n10000-seed1234')."""
        files = self.eval_files()
        if name is not None:
            files = [f for f in files if f.stem == name]
        else:
            files = [f for f in files if not f.stem.startswith("ood-")] or files
        if not files:
            raise UserError(f"{self.path}: no evaluation records yet; run `mathlens eval {self.path}` first")
        return pd.read_parquet(files[-1])


def load_run(path, checkpoint: str = "latest") -> Run:
    """The run in ``path`` as a :class:`Run` (config, model, metrics, records); ``checkpoint``: which weights its
    model has, "latest" or "best" (the best periodic evaluation's)."""
    return Run(path, checkpoint=checkpoint)
