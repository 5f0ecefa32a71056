"""What a pipeline is: the contract between a task family's data and the trainers, evaluation and analyses.

A pipeline turns a run's config into everything that touches tokens: it encodes problems into arrays, builds
the model that reads them, computes the loss and scores test sets. The three families each have one
(:mod:`~mathlens.pipelines.matrix`, :mod:`~mathlens.pipelines.digits`, :mod:`~mathlens.pipelines.modular`).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import torch


def summed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
    """Cross-entropy summed over (N, C) ``logits`` and (N,) ``target``, in float32 at least: bf16 logits (CUDA
    autocast) are scored in float32, float64 ones (a float64 model) stay float64."""
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    return torch.nn.functional.cross_entropy(logits, target, reduction="sum", **kwargs)


class LossTerms(NamedTuple):
    """A batch's teacher-forced loss as sums, so that ranks holding parts of a batch add up to the whole batch.

    total: summed cross-entropy over the target tokens; tokens: their number; right: sequences entirely
    right; n: sequences. The batch mean is ``total / tokens``, its sequence accuracy ``right / n``.
    """

    total: torch.Tensor
    tokens: torch.Tensor
    right: torch.Tensor
    n: int


class Pipeline(Protocol):
    """Every pipeline: built from a RunConfig, it holds the run's task and its token symbols."""

    cfg: object
    task: object
    progress: str  # what a run's length counts: "examples" (streamed batches) or "steps" (full batch)
    headline: str  # the evaluation record's column a run is judged by (best checkpoint, compare, grid, report)

    @property
    def symbols(self) -> list[str]:
        """The model's vocabulary, in token-id order."""

    def build_model(self) -> torch.nn.Module:
        """A fresh model of the run's config for this pipeline's tokens."""


class StreamPipeline(Pipeline, Protocol):
    """A pipeline whose trainer streams batches of problems (matrix and digit tasks; training.trainer)."""

    @property
    def fills(self) -> tuple:
        """What pads each encoded array when batches of different lengths are joined."""

    def encode(self, problems: dict) -> tuple[np.ndarray, ...]:
        """Problems -> the model's training arrays, each (n, L)."""

    def loss(self, forward, arrays, device) -> LossTerms:
        """The teacher-forced loss of one batch, as sums."""

    def test_set(self, size: int, seed: int, batch_size: int):
        """A seeded test set (batches of problems) for the periodic evaluation."""

    def evaluate(self, model, tests, device, autocast, records: bool = False):
        """(summary, records or None): accuracy of ``model`` on ``tests``."""
