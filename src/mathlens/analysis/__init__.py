"""Analyses of trained runs, reachable by name: ``mathlens analyze RUN NAME`` and ``mathlens.analyze(run, NAME)``.

A new analysis is one module with its compute function, a ``describe`` for the command line and an
:class:`~mathlens.analysis.base.Analysis`, plus one line in ``REGISTRY`` (docs/architecture.md has a worked
example). The functions of ``fourier``, ``failures`` and ``equivalence`` also work on plain arrays and frames,
from any model.
"""

from __future__ import annotations

from ..errors import UserError, did_you_mean
from . import equivalence, failures, grokking, hidden
from .base import Analysis

REGISTRY: dict[str, Analysis] = {
    "failures": failures.ANALYSIS,
    "fourier": grokking.ANALYSIS,
    "equivalence": equivalence.ANALYSIS,
    "hidden": hidden.ANALYSIS,
}


def get(name: str) -> Analysis:
    """The analysis called ``name``; a UserError lists the others."""
    if name not in REGISTRY:
        raise UserError(f"unknown analysis {name!r}{did_you_mean(name, REGISTRY)}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


__all__ = ["Analysis", "REGISTRY", "get"]
