"""The elementary matrix tasks of LAWT: transpose, matrix_sum, matrix_vector, matrix_product.

As in LAWT, the model reads one matrix: the operands side by side.
- transpose:      M (r x c)                  -> M^T (c x r)
- matrix_sum:     [A | B], A, B (r x c)      -> A + B (r x c)
- matrix_vector:  [A | v], A (r x c), v (r)  -> A^T v (c x 1)
- matrix_product: [A | B], A (r x c), B (r x c) -> A^T B (c x c)
Verification is LAWT's relative error against the target in ``task.norm``: d1 (default) sum|pred - true| /
sum|true|, d2 the squared Frobenius ratio, dinf max|pred - true| / max|true| (matrices.lawt_error).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UserError
from ..options import opt
from .base import MatrixTask, Problems, TaskOptions
from .matrices import COEFF_DISTRIBUTIONS, NORMS, dim_max, draw_dim, random_matrices, target_error


@dataclasses.dataclass
class MatrixOptions(TaskOptions):
    rows: int | list = opt(5, "rows of the operands: an int, or [lo, hi] to draw a size per batch")
    cols: int | list = opt(0, "columns of the operands (int or [lo, hi]); 0 means square", min=0)
    coeffs: str = opt("uniform", "coefficient distribution", choices=list(COEFF_DISTRIBUTIONS))
    max_coeff: float = opt(10.0, "coefficients in [-A, A] (gaussian: the same standard deviation)", min=1e-9)
    noise: float = opt(0.0, "sigma of noisy inputs: the model reads x + (A sigma / sqrt3) N(0, 1) and answers "
                            "for x (LAWT uses 0.05); 0: clean inputs", min=0.0)
    norm: str = opt("d1", "LAWT's error norm: d1 = sum|m| / sum|s|, d2 = sum m^2 / sum s^2 (squared), dinf = "
                          "max|m| / max|s|, for residual m and scale s", choices=list(NORMS))

    def validate(self, prefix: str) -> None:
        for name in ("rows", "cols"):
            v = getattr(self, name)
            ok = (isinstance(v, int) and v >= (0 if name == "cols" else 1)) or (
                isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v) and 1 <= v[0] <= v[1])
            if not ok:
                raise UserError(f"{prefix}.{name}: expected a positive int or [lo, hi] with 1 <= lo <= hi, got {v!r}")


class RandomOperandsTask(MatrixTask):
    """Shared sampling for tasks whose operands are r x c random matrices."""

    Options = MatrixOptions
    n_operands = 1
    extra_cols = 0

    def draw_shape(self, rng):
        o = self.options
        r = draw_dim(rng, o.rows)
        return r, (r if o.cols == 0 else draw_dim(rng, o.cols))

    def draw(self, n, rng, shape) -> Problems:
        r, c = shape
        o = self.options
        return {"input": random_matrices(rng, n, r, c * self.n_operands + self.extra_cols, o.coeffs, o.max_coeff)}

    def operands(self, problems):
        m = problems["input"]
        c = (m.shape[2] - self.extra_cols) // self.n_operands
        return [m[:, :, i * c : (i + 1) * c] for i in range(self.n_operands)]

    def verify(self, problems, predictions):
        return target_error(predictions, self.target_matrix(problems), self.options.norm)

    def features(self, problems):
        m = problems["input"]
        t = self.target_matrix(problems)
        return {
            "rows": np.full(m.shape[0], m.shape[1]),
            "cols": np.full(m.shape[0], (m.shape[2] - self.extra_cols) // self.n_operands),
            "input_norm": np.linalg.norm(m.reshape(m.shape[0], -1), axis=1),
            "target_norm": np.linalg.norm(t.reshape(t.shape[0], -1), axis=1),
            "target_max_abs": np.abs(t).reshape(t.shape[0], -1).max(1),
        }

    def largest(self) -> Problems:
        """One problem of the largest shape the options allow (sizes the position tables)."""
        o = self.options
        r = dim_max(o.rows)
        c = r if o.cols == 0 else dim_max(o.cols)
        return self.draw(1, np.random.default_rng(0), (r, c))


class Transpose(RandomOperandsTask):
    name = "transpose"

    def target_matrix(self, problems):
        return np.swapaxes(problems["input"], 1, 2)


class MatrixSum(RandomOperandsTask):
    name = "matrix_sum"
    n_operands = 2

    def target_matrix(self, problems):
        a, b = self.operands(problems)
        return a + b


class MatrixVector(RandomOperandsTask):
    name = "matrix_vector"

    extra_cols = 1  # the vector beside the matrix

    def target_matrix(self, problems):
        m = problems["input"]
        return np.swapaxes(m[:, :, :-1], 1, 2) @ m[:, :, -1:]


class MatrixProduct(RandomOperandsTask):
    name = "matrix_product"
    n_operands = 2

    def target_matrix(self, problems):
        a, b = self.operands(problems)
        return np.swapaxes(a, 1, 2) @ b
