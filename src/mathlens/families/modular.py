"""Modular arithmetic (docs/papers.md part 4): the whole dataset, full-batch training, Fourier progress measures."""

from ..analysis.grokking import summary
from ..evaluation.modular import eval_modular_run
from ..report import modular as report
from ..training.full_batch import FullBatchTrainer
from .base import Family

GRID_COLUMNS = ("steps_to_train_99", "steps_to_test_99", "seconds_to_test_99", "steps_to_test_95", "steps",
                "train_acc", "test_acc", "ffs", "fcr", "cos_share", "gini", "train_time_s")


def grokking_row(metrics) -> dict:
    """A modular run's line in a grid table: steps to 99% (empty: never reached), final accuracies, measures;
    also steps to 95% test accuracy, the level Grokfast (Lee et al. 2024) reports."""
    s = summary(metrics, levels=(0.95, 0.99))
    row = {k: s.get(k) for k in GRID_COLUMNS}
    row.update({k: s[k] for k in ("mult_ffs", "mult_fcr") if k in s})
    row["grokked"] = s.get("steps_to_test_99") is not None
    row["key_freqs"] = " ".join(map(str, s.get("key_freqs") or []))
    return row


MODULAR = Family("modular", trainer=FullBatchTrainer, evaluate=eval_modular_run, setting=report.setting,
                 sections=report.sections,
                 shown=lambda last: ("train_acc", "test_acc"), report_analyses=("fourier",), distributed=False,
                 grid_row=grokking_row)
