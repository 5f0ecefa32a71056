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

# Token order of each task.layout; the last position is where the answer is read.
LAYOUTS = {"x op y": ("x", "op", "y"), "x y op": ("x", "y", "op")}
OP_SYMBOL = {"x+y": "+", "x-y": "-", "x*y": "*", "x/y": "/"}  # one formula's op token, as the papers write it


def positions(task) -> tuple[str, ...]:
    """What each input position holds, in order: ("x", "op", "y") or ("x", "y", "op")."""
    return LAYOUTS[task.options.layout]


def token_ids(task, problems) -> np.ndarray:
    """(n, 3) token ids of ``problems`` in the order of the task's layout: residues are 0..p-1, the operation
    tokens follow (p + op)."""
    ids = {"x": problems["x"], "y": problems["y"], "op": task.p + problems["op"]}
    return np.stack([ids[part] for part in positions(task)], axis=1)


def symbols(task) -> list[str]:
    """The token strings: the residues, then one token per formula (``+`` for x+y alone, ``=`` for another
    single formula, ``[formula]`` for each of a mixture's)."""
    if len(task.formulas) == 1:
        ops = [OP_SYMBOL.get(task.formulas[0].text, "=")]
    else:
        ops = [f"[{f.text}]" for f in task.formulas]
    return [str(i) for i in range(task.p)] + ops


class ModularPipeline:
    """The dataset, split and model of a modular-arithmetic run (``cfg``)."""

    progress = "steps"
    headline = "test_acc"

    def __init__(self, cfg):
        self.cfg = cfg
        self.task = cfg.build_task()

    @property
    def symbols(self) -> list[str]:
        return symbols(self.task)

    @cached_property
    def data(self) -> dict:
        """Every example: (N,) arrays x, y, op, answer."""
        return self.task.dataset()

    def tokens(self) -> np.ndarray:
        """(N, 3) token ids of every example, in the task's layout ([x, op, y] or [x, y, op])."""
        return token_ids(self.task, self.data)

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """The run's seeded (train, test) indices into the dataset."""
        return self.task.split(len(self.data["answer"]), seeded_rng(self.cfg.seed, Stream.SPLIT))

    def build_model(self) -> Decoder:
        if self.cfg.model.arch != "decoder":
            raise UserError(f"model.arch: task {self.task.name!r} needs a decoder-only model; "
                            f"set model.arch=\"decoder\"")
        return Decoder(self.cfg.model, len(self.symbols), len(positions(self.task)), self.task.n_classes)


@torch.inference_mode()
def logits_of(model, tokens: torch.Tensor, batch: int = 16384) -> torch.Tensor:
    """(N, classes) float32 logits at the last position for (N, T) tokens, in batches."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(tokens[i : i + batch], last_only=True).float() for i in range(0, len(tokens), batch)])
    model.train(was_training)
    return out
