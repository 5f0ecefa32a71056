"""Matrix tasks (LAWT; docs/papers.md parts 1 and 2): streamed batches, a seq2seq model, verified evaluation."""

from ..evaluation.matrix import eval_matrix_run
from ..report import matrix as report
from ..training.trainer import Trainer
from .base import Family, last_evaluation

MATRIX = Family("matrix", trainer=Trainer, evaluate=eval_matrix_run, setting=report.setting,
                sections=report.sections,
                shown=lambda last: tuple(k for k in last if k.startswith("acc")), grid_row=last_evaluation)
