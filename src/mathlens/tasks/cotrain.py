"""Cotraining: several LAWT tasks in one model, each problem's input prefixed by its task token.

``tasks`` is a string of LAWT's codes: T transpose, A matrix_sum (addition), D matrix_vector (dot products),
M matrix_product, E eigenvalues, F eigenvectors (full decomposition), I invert_matrix. Each batch is one task,
drawn uniformly (so batches keep one shape and need no padding); its input starts with ``<T>``, ``<E>``...
Verification, targets and features are those of the batch's task; records carry a ``task`` column.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UserError
from ..options import opt
from .base import MatrixTask, Problems
from .inverse import InvertMatrix
from .linalg import MatrixProduct, MatrixSum, MatrixVector, Transpose
from .spectral import Eigenvalues, Eigenvectors, SpectralOptions

TASKS = {"T": Transpose, "A": MatrixSum, "D": MatrixVector, "M": MatrixProduct, "E": Eigenvalues, "F": Eigenvectors,
         "I": InvertMatrix}
CODES = {code: cls.name for code, cls in TASKS.items()}


@dataclasses.dataclass
class CotrainOptions(SpectralOptions):
    """The options of the tasks it mixes (sizes, coefficients, distribution, norm), plus their codes."""

    tasks: str = opt("TADMEFI", "LAWT task codes to train together: " + ", ".join(f"{k} {v}" for k, v in CODES.items()))

    def validate(self, prefix: str) -> None:
        super().validate(prefix)
        bad = [c for c in self.tasks if c not in CODES]
        if bad or not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise UserError(f"{prefix}.tasks: {self.tasks!r} must be distinct letters among "
                            f"{''.join(CODES)} ({', '.join(f'{k} {v}' for k, v in CODES.items())})")


class Cotrain(MatrixTask):
    name = "cotrain"
    Options = CotrainOptions
    ood_option = "distribution"  # changes the symmetric tasks' inputs (E, F); the others keep theirs

    def __init__(self, options=None):
        super().__init__(options)
        o = self.options
        self.codes = list(o.tasks)
        self.subtasks = []
        for code in self.codes:
            cls = TASKS[code]
            fields = {f.name for f in dataclasses.fields(cls.Options)}
            values = {k: v for k, v in dataclasses.asdict(o).items() if k in fields}
            if "distribution" in fields and not cls.symmetric:
                values.pop("distribution")  # general matrices: the eigenvalue distribution does not apply
            self.subtasks.append(cls(cls.Options(**values)))
        self.extra_tokens = [f"<{c}>" for c in self.codes]

    def _sub(self, problems: Problems):
        return self.subtasks[int(problems["task"][0])]

    def draw_shape(self, rng):
        which = int(rng.integers(len(self.subtasks)))
        return which, self.subtasks[which].draw_shape(rng)

    def draw(self, n, rng, shape) -> Problems:
        which, sub_shape = shape
        return {**self.subtasks[which].draw(n, rng, sub_shape), "task": np.full(n, which)}

    def sample(self, n, rng) -> Problems:
        """One task per batch; its own sampling (re-draws, noise) does the rest."""
        which = int(rng.integers(len(self.subtasks)))
        problems = {**self.subtasks[which].sample(n, rng), "task": np.full(n, which)}
        self.redrawn = sum(t.redrawn for t in self.subtasks)
        return problems

    def task_token(self, problems):
        return self.extra_tokens[int(problems["task"][0])]

    def target_matrix(self, problems):
        return self._sub(problems).target_matrix(problems)

    def verify(self, problems, predictions):
        return self._sub(problems).verify(problems, predictions)

    def output_shape(self, problems):
        return self._sub(problems).output_shape(problems)

    def features(self, problems):
        return {"task": np.full(len(problems["task"]), self.codes[int(problems["task"][0])]),
                **self._sub(problems).features(problems)}

    def parts(self):
        return self.subtasks

    def largest(self) -> Problems:
        return self.subtasks[0].largest()  # sizes come from parts(); this one only has to be a valid problem
