"""Random matrices, in batches: coefficients uniform or gaussian with the same spread as LAWT's."""

from __future__ import annotations

import math

import numpy as np

COEFF_DISTRIBUTIONS = ("uniform", "gaussian")


def random_matrices(rng: np.random.Generator, n: int, rows: int, cols: int, coeffs: str, max_coeff: float):
    """(n, rows, cols) matrices with coefficients uniform in [-A, A], or gaussian with the same std (A/sqrt3)."""
    if coeffs == "uniform":
        return rng.uniform(-max_coeff, max_coeff, size=(n, rows, cols))
    if coeffs == "gaussian":
        return rng.normal(0.0, max_coeff / math.sqrt(3.0), size=(n, rows, cols))
    raise ValueError(f"coeffs must be one of {COEFF_DISTRIBUTIONS}, got {coeffs!r}")


def draw_dim(rng: np.random.Generator, dim) -> int:
    """A dimension from an int (fixed) or a [lo, hi] range (inclusive), drawn once per batch."""
    if isinstance(dim, int):
        return dim
    lo, hi = dim
    return int(rng.integers(lo, hi + 1))


def dim_max(dim) -> int:
    return dim if isinstance(dim, int) else max(dim)


# LAWT's error norms (its --eval_norm), by LAWT's names. For a residual m and a scale s: d1 = sum|m| / sum|s|,
# d2 = trace(m^T m) / trace(s^T s) (the SQUARED Frobenius ratio, so d2 < tau is ||m||_F / ||s||_F < sqrt(tau)),
# dinf = max|m| / max|s|. Inversion takes s = I: d1 = sum|M H - I| / n, d2 = trace(m^T m) / n, dinf = max|m|.
NORMS = ("d1", "d2", "dinf")


def lawt_error(residual: np.ndarray, scale: np.ndarray, norm: str = "d1") -> np.ndarray:
    """LAWT's relative error of each residual (n, ...) against its scale in ``norm`` (d1, d2, dinf).

    ``scale``: (n, ...) with any trailing shape (a decomposition's values stand for their diagonal matrix: the
    three norms see the same entries), or one matrix of the residual's trailing shape for all (I, inversion).

    As in LAWT, a zero scale with a zero residual is an error of 0 and a zero scale with any other residual is
    wrong (``inf``); ``inf`` also where the residual is not finite (a prediction that did not decode is NaN).

    >>> m = np.array([[[3.0, 4.0]]])
    >>> [round(float(lawt_error(0.1 * m, m, norm)[0]), 12) for norm in NORMS]
    [0.1, 0.01, 0.1]
    """
    n = len(residual)
    r = np.abs(residual).reshape(n, -1)
    scale = np.asarray(scale)
    if scale.shape == residual.shape[1:]:
        scale = np.broadcast_to(scale, residual.shape)
    s = np.abs(scale).reshape(n, -1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if norm == "d1":
            num, den = r.sum(1), s.sum(1)
        elif norm == "d2":
            num, den = (r * r).sum(1), (s * s).sum(1)
        elif norm == "dinf":
            num, den = r.max(1, initial=0.0), s.max(1, initial=0.0)
        else:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        err = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num == 0, 0.0, np.inf))
    return np.where(np.isnan(err), np.inf, err)


def target_error(pred: np.ndarray, true: np.ndarray, norm: str = "d1") -> np.ndarray:
    """LAWT's error of predictions (n, r, c) against the targets (n, r, c): ``lawt_error(pred - true, true)``;
    ``inf`` for every problem when the shapes differ."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != true.shape:
        return np.full(len(true), np.inf)
    return lawt_error(pred - true, true, norm)


# Eigenvalue distributions of LAWT's out-of-distribution experiments (docs/papers.md, part 1).
EIGEN_DISTRIBUTIONS = ("semicircle", "positive", "uniform", "gaussian", "laplace", "positive2", "marcenko")


def wigner(rng: np.random.Generator, n: int, dim: int, coeffs: str = "uniform", max_coeff: float = 10.0):
    """(n, dim, dim) symmetric matrices whose independent coefficients (lower triangle) follow ``coeffs``:
    LAWT's Wigner matrices, with a semicircle spectrum for large dim."""
    m = random_matrices(rng, n, dim, dim, coeffs, max_coeff)
    lower = np.tril(m)
    return lower + np.swapaxes(np.tril(m, -1), 1, 2)


def symmetric_matrices(rng: np.random.Generator, n: int, dim: int, distribution: str | list = "semicircle",
                       coeffs: str = "uniform", max_coeff: float = 10.0) -> np.ndarray:
    """(n, dim, dim) random symmetric matrices with the eigenvalue ``distribution`` of LAWT.

    A Wigner matrix W = Q diag(l) Q^T keeps its eigenvectors Q; its eigenvalues l are replaced, with
    s = sqrt(dim) A / sqrt(3) (the spread of W's eigenvalues): semicircle (W as is), positive (|l|), uniform
    (U[-s sqrt3, s sqrt3]), gaussian (N(0, s^2)), laplace (Laplace with scale s / sqrt2, so std s), positive2
    (|laplace|), marcenko (M1^T M1 with M1's coefficients drawn by ``coeffs`` with A replaced by sqrt A, as LAWT: a
    Marchenko-Pastur spectrum). A list of names is a mixture: each matrix from one of them, uniformly (the
    training mixtures of "What is my math transformer doing?").
    All batched: one stacked ``eigh``, never a loop over problems.

    >>> m = symmetric_matrices(np.random.default_rng(0), 4, 5, "positive")
    >>> bool((np.linalg.eigvalsh(m) >= -1e-9).all()), m.shape
    (True, (4, 5, 5))
    """
    if not isinstance(distribution, str):  # a mixture: each matrix from one of the listed distributions
        counts = rng.multinomial(n, np.full(len(distribution), 1.0 / len(distribution)))
        parts = [symmetric_matrices(rng, k, dim, d, coeffs, max_coeff) for d, k in zip(distribution, counts) if k]
        return np.concatenate(parts)[rng.permutation(n)]
    if distribution not in EIGEN_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {EIGEN_DISTRIBUTIONS}, got {distribution!r}")
    if distribution == "marcenko":
        m1 = random_matrices(rng, n, dim, dim, coeffs, math.sqrt(max_coeff))  # gaussian: std sqrt(A / 3)
        return np.swapaxes(m1, 1, 2) @ m1
    w = wigner(rng, n, dim, coeffs, max_coeff)
    if distribution == "semicircle":
        return w
    lam, q = np.linalg.eigh(w)
    s = math.sqrt(dim) * max_coeff / math.sqrt(3.0)
    if distribution == "positive":
        lam = np.abs(lam)
    elif distribution == "uniform":
        lam = rng.uniform(-s * math.sqrt(3.0), s * math.sqrt(3.0), size=(n, dim))
    elif distribution == "gaussian":
        lam = rng.normal(0.0, s, size=(n, dim))
    else:  # laplace, positive2
        lam = rng.laplace(0.0, s / math.sqrt(2.0), size=(n, dim))
        if distribution == "positive2":
            lam = np.abs(lam)
    m = (q * lam[:, None, :]) @ np.swapaxes(q, 1, 2)
    return (m + np.swapaxes(m, 1, 2)) / 2  # exactly symmetric despite rounding
