"""A run directory as an object: its config, model, metrics and evaluation records.

>>> run = load_run("runs/quickstart")          # doctest: +SKIP
>>> run.metrics().query("kind == 'eval'")      # doctest: +SKIP
>>> run.records(); run.failures()              # doctest: +SKIP
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from .config import load_config_file
from .errors import UserError
from .io import read_jsonl
from .training.checkpoint import BEST, LATEST

CONFIG = "config.toml"
CHECKPOINTS = {"latest": LATEST, "best": BEST}  # --checkpoint: which weights a Run loads


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
    def task(self):
        return self.cfg.build_task()

    @property
    def full_batch(self) -> bool:
        """True for finite tasks trained on their whole dataset at once (modular arithmetic)."""
        return self.task.full_batch

    @cached_property
    def pipe(self):
        from .training.pipeline import pipeline_for

        return pipeline_for(self.cfg)

    @cached_property
    def model(self):
        """The model with the checkpoint's weights, in eval mode, on the CPU."""
        from .training import checkpoint

        if self.full_batch:
            from .training.full_batch import build_model

            model = build_model(self.cfg, self.task)
        else:
            model = self.pipe.build_model()
        file = self.path / CHECKPOINTS[self.checkpoint]
        if self.checkpoint == "best" and not file.exists():
            raise UserError(f"{file}: no best checkpoint yet (it is written at the run's first periodic evaluation)")
        checkpoint.load(file, model)
        return model.eval()

    def split(self):
        """(train, test) example indices of a full-batch run, as it trained."""
        from .training.full_batch import split_of

        return split_of(self.cfg, self.task, len(self.task.dataset()["answer"]))

    def metrics(self) -> pd.DataFrame:
        """metrics.jsonl as a DataFrame (kind = 'train' or 'eval')."""
        return pd.DataFrame(read_jsonl(self.path / "metrics.jsonl"))

    def eval_files(self) -> list[Path]:
        return sorted((self.path / "eval").glob("*.parquet"), key=lambda p: p.stat().st_mtime)

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

    # ---------------------------------------------------------------------- analyses, for notebooks
    def evaluate(self, **options):
        """`mathlens eval` from Python: (summary, path of the records or table); options as eval_run's."""
        from .evaluation.run_eval import eval_run

        return eval_run(self.path, **options)

    def failures(self) -> dict:
        """Retained properties, failure predictors and the best threshold on the newest records."""
        from .analysis.failures import failures_report

        return failures_report(self)

    def equivalence(self, digits: int | None = None, size: int = 2000, seed: int = 1234) -> dict:
        """Arithmetic: which relation explains the answers on longer operands."""
        from .analysis.equivalence import equivalence_report

        return equivalence_report(self, digits, size, seed)

    def hidden(self, hook: str | None = None, digits: int | None = None, size: int = 2000, seed: int = 1234) -> dict:
        """Arithmetic: PCA, probes and twin distances of the hidden states at ``hook``."""
        from .analysis.hidden import hidden_report

        return hidden_report(self, hook, digits, size, seed)

    def fourier(self) -> dict:
        """Modular arithmetic: the Fourier analysis of the final model and the progress measures."""
        from .analysis.grokking import analyze_fourier

        return analyze_fourier(self)


def of_kind(metrics: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The records of one kind ('train', 'eval', 'measure') of a metrics frame; empty when it has none."""
    return metrics[metrics["kind"] == kind] if "kind" in metrics else metrics.iloc[0:0]


def load_run(path, checkpoint: str = "latest") -> Run:
    """The run in ``path`` as a :class:`Run` (config, model, metrics, records, analyses); ``checkpoint``: which
    weights its model has, "latest" or "best" (the best periodic evaluation's)."""
    return Run(path, checkpoint=checkpoint)
