"""Task families by name: ``family_of(run_or_cfg)`` says how a run is trained, evaluated, reported, analysed.

A new family is one module with a :class:`~mathlens.families.base.Family` plus a line in ``FAMILIES`` (and its
pipeline in ``pipelines.PIPELINES``).
"""

from __future__ import annotations

from ..tasks import task_class
from .base import Family
from .digits import DIGITS
from .matrix import MATRIX
from .modular import MODULAR

FAMILIES: dict[str, Family] = {"matrix": MATRIX, "digits": DIGITS, "modular": MODULAR}


def family_of(run_or_cfg) -> Family:
    """The family of a Run, or of a RunConfig."""
    cfg = getattr(run_or_cfg, "cfg", run_or_cfg)
    return FAMILIES[task_class(cfg.task["name"]).family]


__all__ = ["FAMILIES", "Family", "family_of"]
