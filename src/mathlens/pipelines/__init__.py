"""Pipelines by task family: ``pipeline_for(cfg)`` gives the one that turns the run's problems into tokens.

A task says its family (``Task.family``); a new family is one pipeline module plus a line in ``PIPELINES``.
"""

from __future__ import annotations

from ..tasks import task_class
from .base import LossTerms, Pipeline, StreamPipeline
from .digits import DigitPipeline
from .matrix import MatrixPipeline
from .modular import ModularPipeline

PIPELINES = {"matrix": MatrixPipeline, "digits": DigitPipeline, "modular": ModularPipeline}


def pipeline_for(cfg) -> Pipeline:
    """The pipeline of ``cfg``'s task family."""
    return PIPELINES[task_class(cfg.task["name"]).family](cfg)


__all__ = ["PIPELINES", "DigitPipeline", "LossTerms", "MatrixPipeline", "ModularPipeline", "Pipeline",
           "StreamPipeline", "pipeline_for"]
