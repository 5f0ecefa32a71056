"""Integer arithmetic (docs/papers.md part 3): streamed batches, a decoder-only model, evaluation by operand length."""

from ..evaluation.digits import eval_digits_run
from ..report import digits as report
from ..training.trainer import Trainer
from .base import Family, last_evaluation

DIGITS = Family("digits", trainer=Trainer, evaluate=eval_digits_run, setting=report.setting,
                sections=report.sections,
                shown=lambda last: tuple(k for k in last if k.startswith("acc")), grid_row=last_evaluation)
