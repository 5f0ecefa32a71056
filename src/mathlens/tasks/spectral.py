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
from ..errors import UserError
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
    max_cond: float = opt(1e6, "inversion: problems whose condition number exceeds this are re-drawn (and "
                               "counted); 0: no limit", min=0.0)


class SpectralTask(MatrixTask):
    """Shared sampling: symmetric inputs with the chosen eigenvalue distribution, or general ones."""

    Options = SpectralOptions
    symmetric = True
    square = True  # only the SVD tasks take rectangular inputs

    @property
    def ood_option(self) -> str:
        """Symmetric tasks are tested on other eigenvalue distributions; the others on other coefficients."""
        return "distribution" if self.symmetric else "coeffs"

    def __init__(self, options=None):
        super().__init__(options)
        o = self.options
        if self.square and o.cols not in (0, o.rows):
            raise UserError(f"task.cols: {self.name} needs square matrices (cols = 0, or equal to rows={o.rows!r}); "
                            f"got cols={o.cols!r}")
        if not self.symmetric and o.distribution != SpectralOptions.distribution:
            raise UserError(f"task.distribution: {self.name} draws general matrices ({o.coeffs} coefficients); "
                            f"eigenvalue distributions apply to eigenvalues, eigenvectors and syminverse")

    def draw_shape(self, rng):
        o = self.options
        d = draw_dim(rng, o.rows)
        return d, (d if o.cols == 0 or self.square else draw_dim(rng, o.cols))

    def draw(self, n, rng, shape) -> Problems:
        o = self.options
        if self.symmetric:
            return {"input": symmetric_matrices(rng, n, shape[0], o.distribution, o.coeffs, o.max_coeff)}
        return {"input": random_matrices(rng, n, *shape, o.coeffs, o.max_coeff)}

    def largest(self) -> Problems:
        o = self.options
        d = dim_max(o.rows)
        c = d if o.cols == 0 or self.square else dim_max(o.cols)
        return {"input": np.eye(d, c)[None] * o.max_coeff}

    def features(self, problems):
        """Norms, condition number, determinant, spectral radius and the smallest gap between eigenvalues
        (singular values for non-symmetric inputs), relative to the spectral radius."""
        m = problems["input"]
        n, r, c = m.shape
        nan = np.full(n, np.nan)  # what a rectangular matrix has no value for
        s = np.linalg.svd(m, compute_uv=False)
        if self.symmetric:
            spectrum = np.linalg.eigvalsh(m)
            radius = np.abs(spectrum).max(1)
        else:
            spectrum = s[:, ::-1]
            radius = np.abs(np.linalg.eigvals(m)).max(1) if r == c else nan
        gap = np.diff(spectrum, axis=1).min(1) if spectrum.shape[1] > 1 else nan
        return {"rows": np.full(n, r), "cols": np.full(n, c),
                "norm": matrix_norm(m, self.options.norm), "frobenius": matrix_norm(m, "l2"),
                "cond": s[:, 0] / np.maximum(s[:, -1], 1e-300), "det": np.linalg.det(m) if r == c else nan,
                "spectral_radius": radius, "min_gap": gap / np.maximum(radius, 1e-300),
                "trace": np.trace(m, axis1=1, axis2=2) if r == c else nan}

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

    def properties(self, problems, predictions):
        """Written in decreasing order (0/1), and their sum equals the trace (relative to sum |eigenvalue|)."""
        if not self._shape_ok(problems, predictions):
            return {}
        p = predictions[:, :, 0]
        with np.errstate(invalid="ignore"):
            ordered = np.where(np.isfinite(p).all(1), (np.diff(p, axis=1) <= 0).all(1), False)
        scale = np.abs(self.target_matrix(problems)[:, :, 0]).sum(1)
        trace = np.trace(problems["input"], axis1=1, axis2=2)
        return {"sorted": np.where(ordered, 0.0, 1.0), "sum = trace": relative(np.abs(p.sum(1) - trace), scale)}


def orthogonality_error(v: np.ndarray, kind: str) -> np.ndarray:
    """||V^T V - I|| / ||I|| per (n, r, k) matrix with k orthonormal columns expected; inf where V is not finite."""
    k = v.shape[2]
    eye = np.broadcast_to(np.eye(k), (len(v), k, k))
    with np.errstate(invalid="ignore", over="ignore"):
        gram = np.swapaxes(v, 1, 2) @ v
    return relative(matrix_norm(gram - eye, kind), matrix_norm(eye, kind))


def unit_norm_error(v: np.ndarray) -> np.ndarray:
    """Largest | ||column|| - 1 | per (n, r, k) matrix."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(np.linalg.norm(v, axis=1) - 1).max(1)
    return np.where(np.isfinite(err), err, np.inf)


def condition_numbers(v: np.ndarray) -> np.ndarray:
    """2-norm condition number of each (n, k, k) matrix; inf where it is singular or not finite."""
    out = np.full(len(v), np.inf)
    ok = np.isfinite(v).reshape(len(v), -1).all(1)
    if ok.any():
        s = np.linalg.svd(v[ok], compute_uv=False)
        with np.errstate(divide="ignore"):
            out[ok] = s[:, 0] / s[:, -1]
    return out


def sorted_values_error(pred: np.ndarray, true: np.ndarray, kind: str) -> np.ndarray:
    """Relative error of predicted values (n, k) against the true ones (n, k), both sorted decreasingly."""
    return relative(matrix_norm((-np.sort(-pred, 1) - -np.sort(-true, 1))[:, :, None], kind),
                    matrix_norm(true[:, :, None], kind))


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

    def properties(self, problems, predictions):
        """The author's table: eigenvalues within tolerance, unit-norm eigenvectors, orthogonality."""
        if not self._shape_ok(problems, predictions):
            return {}
        v, kind = predictions[:, 1:, :], self.options.norm
        return {"eigenvalues": sorted_values_error(predictions[:, 0, :], np.linalg.eigvalsh(problems["input"]), kind),
                "unit norms": unit_norm_error(v), "orthogonality": orthogonality_error(v, kind)}

    def prediction_features(self, problems, predictions):
        """cond(V) of the predicted eigenvectors: 1 for an orthogonal V (the author's right/wrong separator)."""
        if not self._shape_ok(problems, predictions):
            return {}
        return {"pred_cond": condition_numbers(predictions[:, 1:, :])}


class InvertMatrix(SpectralTask):
    name = "invert_matrix"
    symmetric = False

    def well_posed(self, problems):
        """Finite, and (with ``max_cond``) not so ill-conditioned that the inverse is meaningless."""
        m = problems["input"]
        ok = super().well_posed(problems)
        if not self.options.max_cond:
            return ok
        s = np.linalg.svd(np.where(np.isfinite(m), m, 0.0), compute_uv=False)
        return ok & (s[:, 0] <= self.options.max_cond * s[:, -1])

    def target_matrix(self, problems):
        return np.linalg.inv(problems["input"])

    def verify(self, problems, predictions):
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        eye = np.broadcast_to(np.eye(m.shape[1]), m.shape)
        return relative(matrix_norm(m @ predictions - eye, self.options.norm), matrix_norm(eye, self.options.norm))

    def properties(self, problems, predictions):
        """H M = I from the other side, and (symmetric M) a symmetric H: ||H - H^T|| / ||H||."""
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return {}
        eye = np.broadcast_to(np.eye(m.shape[1]), m.shape)
        kind = self.options.norm
        with np.errstate(invalid="ignore", over="ignore"):
            out = {"H M = I": relative(matrix_norm(predictions @ m - eye, kind), matrix_norm(eye, kind))}
            if self.symmetric:
                out["symmetric"] = relative(matrix_norm(predictions - np.swapaxes(predictions, 1, 2), kind),
                                            matrix_norm(predictions, kind))
        return out


class SymInverse(InvertMatrix):
    name = "syminverse"
    symmetric = True


class SingularValues(SpectralTask):
    name = "singularvalues"
    symmetric = False
    square = False

    def layout(self, r, c):
        return (min(r, c), 1)

    def target_matrix(self, problems):
        return np.linalg.svd(problems["input"], compute_uv=False)[:, :, None]

    verify = Eigenvalues.verify


class SingularVectors(SpectralTask):
    name = "singularvectors"
    symmetric = False
    square = False

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

    def properties(self, problems, predictions):
        """Singular values within tolerance, orthonormal columns of U and of V."""
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return {}
        r, kind = m.shape[1], self.options.norm
        true = np.linalg.svd(m, compute_uv=False)
        return {"singular values": sorted_values_error(predictions[:, 0, :], true, kind),
                "U orthogonal": orthogonality_error(predictions[:, 1 : 1 + r, :], kind),
                "V orthogonal": orthogonality_error(predictions[:, 1 + r :, :], kind)}
