"""The Task contract: problems, verification, features. Nothing about tokens.

A task samples a batch of problems from a seeded numpy Generator, verifies decoded predictions against the
problem, and computes per-problem features for failure analysis. A :class:`MatrixTask` (read by the seq2seq
pipeline) also says which matrix goes in and which comes out, all of one shape per batch so that batches need
no padding. A finite task (family ``modular``) lists its whole dataset instead.
Adding a task is one file plus a registry line.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod

import numpy as np
import torch

Problems = dict  # name -> numpy array with the problem index first; every array has the same length n

TOLERANCES = (0.05, 0.02, 0.01, 0.005)


@dataclasses.dataclass
class TaskOptions:
    """Options every task has; tasks extend this dataclass with their own fields."""


class Task(ABC):
    """Base class of tasks. Subclasses set ``name``, ``Options`` and implement the abstract methods.

    Parameters
    ----------
    options : Options
        The task's validated options (a dataclass instance).
    """

    name: str
    Options = TaskOptions
    tolerances = TOLERANCES
    family: str  # matrix, digits or modular: its pipeline (pipelines.PIPELINES) and trainer (families/)
    arch = "seq2seq"  # the model.arch that trains it: seq2seq (matrix tasks) or decoder (modular, arithmetic)
    grid_values: dict = {}  # option -> the values `mathlens grid --vary task.OPTION=all` runs

    def __init__(self, options=None):
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> Problems:
        """``n`` problems (of one shape), drawn from ``rng``."""

    @abstractmethod
    def verify(self, problems: Problems, predictions: np.ndarray) -> np.ndarray:
        """Per-problem error (or correctness) of decoded predictions."""

    def keys(self, problems: Problems) -> np.ndarray | None:
        """(n,) int64 key per problem, equal for equal problems, or None where problems are drawn from a
        continuum (real matrices): lets a test set leave out the problems of a fixed training set."""
        return None

    def features(self, problems: Problems) -> dict[str, np.ndarray]:
        """Per-problem numbers describing the problem (for failure analysis): name -> (n,) array."""
        return {}

    def properties(self, problems: Problems, predictions: np.ndarray) -> dict[str, np.ndarray]:
        """Deep properties of the solution that a prediction may keep even when it is wrong (docs/papers.md part 2):
        name -> (n,) error of the prediction on that property, kept at tolerance tau when error < tau (0/1 for
        yes/no properties; inf where the prediction did not decode). Default: none."""
        return {}

    def prediction_features(self, problems: Problems, predictions: np.ndarray) -> dict[str, np.ndarray]:
        """Numbers computed from the prediction itself (e.g. the condition number of predicted eigenvectors),
        which may tell right from wrong without the answer. Default: none."""
        return {}


class MatrixTask(Task):
    """A task whose problems are read and written as matrices (the seq2seq pipeline's tasks).

    Subclasses implement ``draw_shape`` and ``draw`` (a batch of clean problems of one shape), the target and
    the verification; :meth:`sample` adds what every matrix task shares: ill-posed problems (non-finite, or
    ill-conditioned where the task says so) are re-drawn and counted in ``redrawn``, and with
    ``options.noise`` the model reads a noisy copy of the input (``problems["noisy_input"]``) while answers
    and verification stay those of the clean problem.
    """

    family = "matrix"  # pipelines.matrix.MatrixPipeline and the seq2seq model
    symmetric = False  # inputs are symmetric matrices (the noise is then symmetric too)
    ood_option = "coeffs"  # the option `mathlens eval --ood` varies: the coefficient distribution
    MAX_REDRAWS = 100

    def __init__(self, options=None):
        super().__init__(options)
        self.redrawn = 0  # problems re-drawn because they were ill-posed, since this task was built

    @abstractmethod
    def draw_shape(self, rng: np.random.Generator) -> tuple:
        """The dimensions of the next batch (drawn when a size is a [lo, hi] range)."""

    @abstractmethod
    def draw(self, n: int, rng: np.random.Generator, shape: tuple) -> Problems:
        """``n`` clean problems of dimensions ``shape``."""

    def sample(self, n: int, rng: np.random.Generator) -> Problems:
        shape = self.draw_shape(rng)
        problems = self.draw(n, rng, shape)
        for _ in range(self.MAX_REDRAWS):
            bad = ~self.well_posed(problems)
            if not bad.any():
                break
            self.redrawn += int(bad.sum())
            fresh = self.draw(int(bad.sum()), rng, shape)
            for key in problems:
                problems[key][bad] = fresh[key]
        else:
            raise RuntimeError(f"{self.name}: still ill-posed problems after {self.MAX_REDRAWS} re-draws")
        sigma = getattr(self.options, "noise", 0.0)
        if sigma:
            m = problems["input"]
            noise = rng.normal(0.0, self.options.max_coeff * sigma / np.sqrt(3.0), size=m.shape)
            if self.symmetric:  # mirror the lower triangle: symmetric, same variance everywhere
                noise = np.tril(noise) + np.swapaxes(np.tril(noise, -1), 1, 2)
            problems["noisy_input"] = m + noise
        return problems

    def well_posed(self, problems: Problems) -> np.ndarray:
        """(n,) bool: problems to keep. Default: the input is finite (tasks whose answer can blow up, like
        inversion, also check their condition number)."""
        m = problems["input"]
        return np.isfinite(m).reshape(len(m), -1).all(1)

    def check_loss(self, m: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The check as a differentiable loss (``optim.loss = "check"``, a number head): (n,) for inputs m
        (n, r, c), predictions and targets (n, r', c'). Default: LAWT's d1 error against the target,
        sum|P - T| / sum|T|; tasks whose check needs no target (inversion, decompositions) override it."""
        return (pred - target).abs().flatten(1).sum(1) / target.abs().flatten(1).sum(1).clamp_min(1e-12)

    def input_matrix(self, problems: Problems) -> np.ndarray:
        """The (n, rows, cols) matrix the model reads (the noisy copy when the task adds noise)."""
        return problems.get("noisy_input", problems["input"])

    @abstractmethod
    def target_matrix(self, problems: Problems) -> np.ndarray:
        """The (n, rows, cols) matrix the model should write."""

    @abstractmethod
    def verify(self, problems: Problems, predictions: np.ndarray) -> np.ndarray:
        """Per-problem error of decoded predictions (n, r, c); ``inf`` where a prediction is missing (NaN) or
        has the wrong shape. A prediction is correct at tolerance ``tau`` when its error is below ``tau``."""

    @abstractmethod
    def largest(self) -> Problems:
        """One problem of the largest shape these options allow: sizes vocabularies and position tables."""

    def parts(self) -> list[MatrixTask]:
        """The tasks whose shapes this one writes (several for cotraining): sizes the position tables."""
        return [self]

    def task_token(self, problems: Problems) -> str | None:
        """A token written before the input (cotraining's task code), or None."""
        return None

    extra_tokens: list = []  # tokens this task adds to the vocabulary (cotraining's task codes)

    @property
    def max_dim(self) -> int:
        """Largest matrix dimension in or out: the dimension tokens V1..V<max_dim> the vocabulary needs."""
        dims = []
        for part in self.parts():
            p = part.largest()
            dims += [*part.input_matrix(p).shape[1:], *part.target_matrix(p).shape[1:]]
        return max(dims)

    def output_shape(self, problems: Problems) -> tuple[int, int]:
        return self.target_matrix(problems).shape[1:]
