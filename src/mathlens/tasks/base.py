"""The Task contract: problems, verification, features. Nothing about tokens.

A task samples a batch of problems from a seeded numpy Generator, verifies decoded predictions against the
problem, and computes per-problem features for failure analysis. A :class:`MatrixTask` (read by the seq2seq
pipeline) also says which matrix goes in and which comes out, all of one shape per batch so that batches need
no padding. A finite task (``full_batch = True``, e.g. modular arithmetic) lists its whole dataset instead.
Adding a task is one file plus a registry line.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod

import numpy as np

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
    full_batch = False  # True: the whole dataset is enumerable and trained on at once (training.full_batch)
    grid_values: dict = {}  # option -> the values `mathlens grid --vary task.OPTION=all` runs

    def __init__(self, options=None):
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> Problems:
        """``n`` problems (of one shape), drawn from ``rng``."""

    @abstractmethod
    def verify(self, problems: Problems, predictions: np.ndarray) -> np.ndarray:
        """Per-problem error (or correctness) of decoded predictions."""

    def features(self, problems: Problems) -> dict[str, np.ndarray]:
        """Per-problem numbers describing the problem (for failure analysis): name -> (n,) array."""
        return {}


class MatrixTask(Task):
    """A task whose problems are read and written as matrices (the seq2seq pipeline's tasks)."""

    @abstractmethod
    def input_matrix(self, problems: Problems) -> np.ndarray:
        """The (n, rows, cols) matrix the model reads."""

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

    @property
    def max_dim(self) -> int:
        """Largest matrix dimension in or out: the dimension tokens V1..V<max_dim> the vocabulary needs."""
        p = self.largest()
        return max(*self.input_matrix(p).shape[1:], *self.target_matrix(p).shape[1:])

    def output_shape(self, problems: Problems) -> tuple[int, int]:
        return self.target_matrix(problems).shape[1:]
