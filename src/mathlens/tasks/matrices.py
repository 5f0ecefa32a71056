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


def relative_l1(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """LAWT's error: sum|pred - true| / sum|true| per problem; inf where the prediction is missing or misshaped."""
    if pred.shape != true.shape:
        return np.full(true.shape[0], np.inf)
    axes = tuple(range(1, true.ndim))
    num = np.abs(pred - true).sum(axes)
    den = np.abs(true).sum(axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num == 0, 0.0, np.inf))
    return np.where(np.isnan(err), np.inf, err)
