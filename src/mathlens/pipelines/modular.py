"""Modular arithmetic for a one-block decoder: the whole dataset as tokens, its seeded split, the model.

A finite task is trained full-batch (training.full_batch): every example is known, so the pipeline gives the
dataset's tokens and answers at once, the run's seeded (train, test) split of them, and the model's logits at
the answer position for any set of examples.

>>> from mathlens.config import resolve
>>> pipe = ModularPipeline(resolve("grok/quick"))
>>> train, test = pipe.split()
>>> len(train) + len(test) == len(pipe.data["answer"])
True
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from ..errors import UserError
from ..models import Decoder
from .stream import Stream, seeded_rng


class ModularPipeline:
    """The dataset, split and model of a modular-arithmetic run (``cfg``)."""

    progress = "steps"

    def __init__(self, cfg):
        self.cfg = cfg
        self.task = cfg.build_task()

    @property
    def symbols(self) -> list[str]:
        return self.task.token_names

    @cached_property
    def data(self) -> dict:
        """Every example: (N,) arrays x, y, op, answer."""
        return self.task.dataset()

    def tokens(self) -> np.ndarray:
        """(N, 3) token ids of every example, in the task's layout ([x, op, y] or [x, y, op])."""
        return self.task.tokens(self.data)

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """The run's seeded (train, test) indices into the dataset."""
        return self.task.split(len(self.data["answer"]), seeded_rng(self.cfg.seed, Stream.SPLIT))

    def build_model(self) -> Decoder:
        if self.cfg.model.arch != "decoder":
            raise UserError(f"model.arch: task {self.task.name!r} needs a decoder-only model; "
                            f"set model.arch=\"decoder\"")
        return Decoder(self.cfg.model, self.task.vocab_size, self.task.seq_len, self.task.n_classes)


@torch.inference_mode()
def logits_of(model, tokens: torch.Tensor, batch: int = 16384) -> torch.Tensor:
    """(N, classes) float32 logits at the last position for (N, T) tokens, in batches."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(tokens[i : i + batch], last_only=True).float() for i in range(0, len(tokens), batch)])
    model.train(was_training)
    return out
