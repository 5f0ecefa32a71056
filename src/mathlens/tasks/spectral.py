"""LAWT's spectral tasks and inversion: eigenvalues, eigenvectors, invert_matrix, syminverse, singularvalues,
singularvectors (PAPERS.md, part 1). Problems are drawn and solved in batches (stacked eigh/svd/inv).

Layouts (what the model writes), for an input M of d x d (r x c for the SVD tasks, k = min(r, c)):
- eigenvalues:     (d, 1)        the eigenvalues, in decreasing order
- eigenvectors:    (1 + d, d)    row 0 the eigenvalues, rows 1.. the matrix V whose columns are eigenvectors
- invert_matrix:   (d, d)        M^-1 (syminverse: the same for symmetric M)
- singularvalues:  (k, 1)        singular values, decreasing
- singularvectors: (1 + r + c, k) row 0 the singular values, then U (r x k), then V (c x k)
Verification follows LAWT: the eigen/singular values by relative error after sorting; eigenvectors as
||V^T M V - D|| / ||D|| with the predicted V and D; inversion as ||M H - I|| / ||I||; singular vectors as
||U S V^T - M|| / ||M||; all checked against M, not against a target. ``norm`` picks LAWT's d1, d2 or dinf
(entrywise L1, L2 or max).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import opt
from .base import MatrixTask, Problems
from .linalg import MatrixOptions
from .matrices import EIGEN_DISTRIBUTIONS, dim_max, draw_dim, random_matrices, symmetric_matrices

NORMS = ("l1", "l2", "linf")


def matrix_norm(x: np.ndarray, kind: str) -> np.ndarray:
    """Entrywise norm of each (..., r, c) matrix: l1 sum |x|, l2 sqrt(sum x^2), linf max |x|."""
    a = np.abs(x).reshape(*x.shape[:-2], -1)
    if kind == "l1":
        return a.sum(-1)
    if kind == "l2":
        return np.sqrt((a * a).sum(-1))
    return a.max(-1)


def relative(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den per problem; inf where undefined (a prediction that is NaN, i.e. did not decode)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        err = num / den
    return np.where(np.isfinite(err), err, np.inf)


@dataclasses.dataclass
class SpectralOptions(MatrixOptions):
    """The elementary tasks' size and coefficient options (cols: the SVD tasks only), plus these two."""

    distribution: str = opt("semicircle", "eigenvalue distribution of symmetric inputs (LAWT's OOD families)",
                            choices=list(EIGEN_DISTRIBUTIONS))
    norm: str = opt("l1", "error norm: LAWT's d1 (l1), d2 (l2) or dinf (linf)", choices=list(NORMS))


class SpectralTask(MatrixTask):
    """Shared sampling: symmetric inputs with the chosen eigenvalue distribution, or general ones."""

    Options = SpectralOptions
    symmetric = True

    def sample(self, n, rng) -> Problems:
        o = self.options
        d = draw_dim(rng, o.rows)
        if self.symmetric:
            m = symmetric_matrices(rng, n, d, o.distribution, o.coeffs, o.max_coeff)
        else:
            c = d if o.cols == 0 else draw_dim(rng, o.cols)
            m = random_matrices(rng, n, d, c, o.coeffs, o.max_coeff)
        return {"input": m}

    def input_matrix(self, problems):
        return problems["input"]

    def largest(self) -> Problems:
        o = self.options
        d = dim_max(o.rows)
        c = d if o.cols == 0 else dim_max(o.cols)
        shape = (1, d, d) if self.symmetric else (1, d, c)
        return {"input": np.eye(*shape[1:])[None] * o.max_coeff}

    def features(self, problems):
        m = problems["input"]
        s = np.linalg.svd(m, compute_uv=False)
        return {"norm": matrix_norm(m, self.options.norm), "cond": s[:, 0] / np.maximum(s[:, -1], 1e-300)}

    def output_shape(self, problems) -> tuple[int, int]:
        """The written matrix's shape, from the input's (no solving needed)."""
        r, c = problems["input"].shape[1:]
        return self.layout(r, c)

    def layout(self, r: int, c: int) -> tuple[int, int]:
        return (r, c)

    def _shape_ok(self, problems, predictions):
        return predictions.shape[1:] == self.output_shape(problems)


class Eigenvalues(SpectralTask):
    name = "eigenvalues"

    def layout(self, r, c):
        return (r, 1)

    def target_matrix(self, problems):
        return np.linalg.eigvalsh(problems["input"])[:, ::-1, None]

    def verify(self, problems, predictions):
        if not self._shape_ok(problems, predictions):
            return np.full(len(predictions), np.inf)
        true = self.target_matrix(problems)
        pred = -np.sort(-predictions, axis=1)
        return relative(matrix_norm(pred - true, self.options.norm), matrix_norm(true, self.options.norm))


class Eigenvectors(SpectralTask):
    name = "eigenvectors"

    def layout(self, r, c):
        return (1 + r, r)

    def target_matrix(self, problems):
        lam, v = np.linalg.eigh(problems["input"])
        return np.concatenate([lam[:, None, :], v], axis=1)

    def verify(self, problems, predictions):
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        d = np.zeros_like(m)
        idx = np.arange(m.shape[1])
        d[:, idx, idx] = predictions[:, 0, :]
        v = predictions[:, 1:, :]
        residual = np.swapaxes(v, 1, 2) @ m @ v - d
        return relative(matrix_norm(residual, self.options.norm), matrix_norm(d, self.options.norm))


class InvertMatrix(SpectralTask):
    name = "invert_matrix"
    symmetric = False

    def sample(self, n, rng) -> Problems:
        # square inputs; singular draws (probability 0 for continuous coefficients) would give inf targets
        o = self.options
        d = draw_dim(rng, o.rows)
        return {"input": random_matrices(rng, n, d, d, o.coeffs, o.max_coeff)}

    def largest(self) -> Problems:
        d = dim_max(self.options.rows)
        return {"input": np.eye(d)[None] * self.options.max_coeff}

    def target_matrix(self, problems):
        return np.linalg.inv(problems["input"])

    def verify(self, problems, predictions):
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        eye = np.broadcast_to(np.eye(m.shape[1]), m.shape)
        return relative(matrix_norm(m @ predictions - eye, self.options.norm), matrix_norm(eye, self.options.norm))


class SymInverse(InvertMatrix):
    name = "syminverse"
    symmetric = True
    sample = SpectralTask.sample
    largest = SpectralTask.largest


class SingularValues(SpectralTask):
    name = "singularvalues"
    symmetric = False

    def layout(self, r, c):
        return (min(r, c), 1)

    def target_matrix(self, problems):
        return np.linalg.svd(problems["input"], compute_uv=False)[:, :, None]

    verify = Eigenvalues.verify


class SingularVectors(SpectralTask):
    name = "singularvectors"
    symmetric = False

    def layout(self, r, c):
        return (1 + r + c, min(r, c))

    def target_matrix(self, problems):
        u, s, vt = np.linalg.svd(problems["input"], full_matrices=False)
        return np.concatenate([s[:, None, :], u, np.swapaxes(vt, 1, 2)], axis=1)

    def verify(self, problems, predictions):
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        r = m.shape[1]
        s, u, v = predictions[:, :1, :], predictions[:, 1 : 1 + r, :], predictions[:, 1 + r :, :]
        residual = (u * s) @ np.swapaxes(v, 1, 2) - m
        return relative(matrix_norm(residual, self.options.norm), matrix_norm(m, self.options.norm))
