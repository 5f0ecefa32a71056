"""LAWT's spectral tasks (docs/papers.md, part 1): eigenvalues, eigenvectors, singularvalues, singularvectors; the
inversion tasks are in tasks/inverse.py. Problems are drawn and solved in batches (stacked eigh/svd/inv).

Layouts (what the model writes), for an input M of d x d (r x c for the SVD tasks, k = min(r, c)):
- eigenvalues:     (d, 1)        the eigenvalues, in decreasing order
- eigenvectors:    (1 + d, d)    row 0 the eigenvalues, rows 1.. the matrix V whose columns are eigenvectors
- invert_matrix:   (d, d)        M^-1 (syminverse: the same for symmetric M)
- singularvalues:  (k, 1)        singular values, decreasing
- singularvectors: (1 + r + c, k) row 0 the singular values, then U (r x k), then V (c x k)
Verification follows LAWT's ``evaluate()`` (facebookresearch/LAWT, src/envs/generators.py), in ``task.norm``
(d1, d2 or dinf: :func:`~mathlens.tasks.matrices.lawt_error`), and checks against M where LAWT does:
- eigenvalues, singularvalues: the values as the model wrote them against the decreasing target (a model that
  writes them in another order is wrong; nothing is sorted);
- eigenvectors: ||V^T M V - D|| / ||D|| with the predicted V and D;
- invert_matrix, syminverse: ||M H - I|| / ||I|| (d1 = sum|M H - I| / n);
- singularvectors: ||U^T M V - S|| / ||S||.
``task.check = "lawt"`` (default) is that check, which accepts incomplete answers: V = cQ with D = c^2 Lambda
passes, and so does the top eigenvector alone with zeros elsewhere. ``"strict"`` also requires orthonormal
V (U and V for the SVD): the error is the larger of the check and ||V^T V - I|| / ||I||, in the same norm, so
both must hold within the tolerance. One departure from LAWT's code, which returns 0 for 0/0: an answer whose
eigenvalues (singular values) are all zero is rejected, not accepted.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..errors import UserError
from ..options import opt
from .base import MatrixTask, Problems
from .linalg import MatrixOptions
from .matrices import (
    EIGEN_DISTRIBUTIONS,
    dim_max,
    draw_dim,
    lawt_error,
    random_matrices,
    symmetric_matrices,
    target_error,
)
from .vectors import (
    canonical_signs,
    column_signs,
    condition_numbers,
    consecutive_cosine,
    orthonormality_error,
    unit_norm_error,
)

CHECKS = ("lawt", "strict")


def relative(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den per problem; inf where undefined (a prediction that is NaN, i.e. did not decode)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        err = num / den
    return np.where(np.isfinite(err), err, np.inf)


@dataclasses.dataclass
class SpectralOptions(MatrixOptions):
    """The elementary tasks' size, coefficient and norm options (cols: the SVD tasks only), plus these."""

    distribution: str | list = opt("semicircle", "eigenvalue distribution of symmetric inputs (LAWT's OOD "
                                                 "families); a list is a mixture, each matrix from one of them",
                                   choices=list(EIGEN_DISTRIBUTIONS))
    check: str = opt("lawt", "lawt: LAWT's check (the paper's numbers); strict: also orthonormal V (U and V "
                             "for the SVD) within the tolerance", choices=list(CHECKS))
    signs: str = opt("numpy", "eigenvectors, singularvectors: the target's vector signs: numpy (as eigh/svd return "
                              "them: LAWT) or canonical (each vector's largest-magnitude component positive, so the "
                              "target is a function of the input; LAWT's check ignores signs)",
                     choices=["numpy", "canonical"])
    max_cond: float = opt(1e6, "inversion: problems whose condition number exceeds this are re-drawn (and "
                               "counted); 0: no limit", min=0.0)


class SpectralTask(MatrixTask):
    """Shared sampling: symmetric inputs with the chosen eigenvalue distribution, or general ones."""

    Options = SpectralOptions
    symmetric = True
    square = True  # only the SVD tasks take rectangular inputs
    has_vectors = False  # writes orthonormal vectors that task.check = "strict" checks

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
        for key, value, default in (("check", o.check, "lawt"), ("signs", o.signs, "numpy")):
            if value != default and not self.has_vectors:
                raise UserError(f"task.{key}: {value!r} is about the vectors a decomposition writes, which "
                                f"{self.name} does not write; it applies to eigenvectors and singularvectors")

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
        """Norms (entrywise L1 and Frobenius), condition number, determinant, spectral radius, the smallest gap
        between eigenvalues (singular values for non-symmetric inputs) relative to the spectral radius, trace."""
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
        flat = m.reshape(n, -1)
        return {"rows": np.full(n, r), "cols": np.full(n, c),
                "norm": np.abs(flat).sum(1), "frobenius": np.sqrt((flat * flat).sum(1)),
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

    def decomposition_error(self, residual, values, vectors) -> np.ndarray:
        """LAWT's check of a written decomposition, ||residual|| / ||diag(values)||, rejecting all-zero values
        (LAWT's 0/0); with task.check = "strict" the larger of that and each ``vectors``' orthonormality error."""
        norm = self.options.norm
        err = lawt_error(residual, values, norm)
        err = np.where((np.abs(values) > 0).any(1), err, np.inf)
        if self.options.check == "strict":
            for v in vectors:
                err = np.maximum(err, orthonormality_error(v, norm))
        return err


class Eigenvalues(SpectralTask):
    name = "eigenvalues"

    def layout(self, r, c):
        return (r, 1)

    def target_matrix(self, problems):
        return np.linalg.eigvalsh(problems["input"])[:, ::-1, None]

    def verify(self, problems, predictions):
        """The values as written against the decreasing eigenvalues (LAWT: no sorting)."""
        return target_error(predictions, self.target_matrix(problems), self.options.norm)

    def properties(self, problems, predictions):
        """Written in decreasing order (0/1), the same values in some order (relative L1 after sorting), and
        their sum equals the trace (relative to sum |eigenvalue|)."""
        if not self._shape_ok(problems, predictions):
            return {}
        p = predictions[:, :, 0]
        true = self.target_matrix(problems)[:, :, 0]
        with np.errstate(invalid="ignore"):
            ordered = np.where(np.isfinite(p).all(1), (np.diff(p, axis=1) <= 0).all(1), False)
        trace = np.trace(problems["input"], axis1=1, axis2=2)
        return {"sorted": np.where(ordered, 0.0, 1.0), "values in any order": target_error(-np.sort(-p, 1), true),
                "sum = trace": relative(np.abs(p.sum(1) - trace), np.abs(true).sum(1))}


class Eigenvectors(SpectralTask):
    name = "eigenvectors"
    has_vectors = True

    def layout(self, r, c):
        return (1 + r, r)

    def target_matrix(self, problems):
        lam, v = np.linalg.eigh(problems["input"])
        if self.options.signs == "canonical":
            v = canonical_signs(v)
        return np.concatenate([lam[:, None, :], v], axis=1)

    def check_loss(self, m, pred, target):
        """The strict check without a target: ||V^T M V - diag(lam)||_1 / ||lam||_1 plus ||V^T V - I||_1 / n, so
        that V = 0 does not pass (it scores 2) and no eigenvector's sign is preferred."""
        lam, v = pred[:, 0, :], pred[:, 1:, :]
        residual = v.transpose(1, 2) @ m.to(pred.dtype) @ v - torch.diag_embed(lam)
        eye = torch.eye(v.shape[2], dtype=pred.dtype, device=pred.device)
        return (residual.abs().sum((1, 2)) / lam.abs().sum(1).clamp_min(1e-12)
                + (v.transpose(1, 2) @ v - eye).abs().sum((1, 2)) / v.shape[2])

    def verify(self, problems, predictions):
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        lam, v = predictions[:, 0, :], predictions[:, 1:, :]
        with np.errstate(invalid="ignore", over="ignore"):
            residual = np.swapaxes(v, 1, 2) @ m @ v
        idx = np.arange(m.shape[1])
        residual[:, idx, idx] -= lam
        return self.decomposition_error(residual, lam, [v])

    def properties(self, problems, predictions):
        """The author's measures (LAWT's failure-analysis notebook), so the table sits beside the paper's:
        eigenvalues (relative L1 error of the written eigenvalues against the true ones, in the target's
        order), unit norms (err3), orthogonality (err4); and, named apart, the stricter ||V^T V - I||_1 / n."""
        if not self._shape_ok(problems, predictions):
            return {}
        v, true = predictions[:, 1:, :], self.target_matrix(problems)
        return {"eigenvalues": target_error(predictions[:, :1, :], true[:, :1, :]),
                "unit norms": unit_norm_error(v), "orthogonality": consecutive_cosine(v),
                "V^T V = I (strict)": orthonormality_error(v)}

    def prediction_features(self, problems, predictions):
        """cond(V) of the predicted eigenvectors: 1 for an orthogonal V (the author's right/wrong separator)."""
        if not self._shape_ok(problems, predictions):
            return {}
        return {"pred_cond": condition_numbers(predictions[:, 1:, :])}


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
    has_vectors = True

    def layout(self, r, c):
        return (1 + r + c, min(r, c))

    def target_matrix(self, problems):
        u, s, vt = np.linalg.svd(problems["input"], full_matrices=False)
        v = np.swapaxes(vt, 1, 2)
        if self.options.signs == "canonical":  # u_k and v_k change sign together (M v_k = s_k u_k): V decides
            sign = column_signs(v)
            u, v = u * sign, v * sign
        return np.concatenate([s[:, None, :], u, v], axis=1)

    def split(self, problems, predictions):
        """(S (n, k), U (n, r, k), V (n, c, k)) of written predictions."""
        r = problems["input"].shape[1]
        return predictions[:, 0, :], predictions[:, 1 : 1 + r, :], predictions[:, 1 + r :, :]

    def verify(self, problems, predictions):
        """LAWT's ||U^T M V - S|| / ||S||: U S V^T = M alone would accept U = M, S = 1, V = I."""
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        s, u, v = self.split(problems, predictions)
        with np.errstate(invalid="ignore", over="ignore"):
            residual = np.swapaxes(u, 1, 2) @ m @ v
        idx = np.arange(s.shape[1])
        residual[:, idx, idx] -= s
        return self.decomposition_error(residual, s, [u, v])

    def properties(self, problems, predictions):
        """Singular values as written against the true ones (relative L1), orthonormal columns of U and of V
        (||U^T U - I||_1 / k)."""
        if not self._shape_ok(problems, predictions):
            return {}
        s, u, v = self.split(problems, predictions)
        true = self.target_matrix(problems)[:, :1, :]
        return {"singular values": target_error(s[:, None, :], true), "U orthonormal": orthonormality_error(u),
                "V orthonormal": orthonormality_error(v)}
