"""Evaluating a run: one module per task family (matrix, digits, modular), and what they share (common).

Each ``eval_*_run(run, size, seed, beam, batch_size, ood, digits)`` refuses the options that do not apply to
it with one line, writes its records under RUN/eval/ and returns (summary, path); ``mathlens.evaluate`` picks
the family's.
"""

from .common import format_summary, latest_summary
from .digits import eval_digits_run
from .matrix import eval_matrix_run
from .modular import eval_modular_run

__all__ = ["eval_digits_run", "eval_matrix_run", "eval_modular_run", "format_summary", "latest_summary"]
