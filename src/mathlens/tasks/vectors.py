"""Properties of predicted eigenvector (singular vector) matrices V, batched over (n, d, k) arrays: the author's
failure measures (unit norms, consecutive cosines, cond(V)), orthonormality, and the sign conventions.
"""

from __future__ import annotations

import numpy as np

from .matrices import lawt_error


def _finite(err: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(err), err, np.inf)


def orthonormality_error(v: np.ndarray, norm: str = "d1") -> np.ndarray:
    """||V^T V - I|| / ||I|| in LAWT's ``norm`` per (n, r, k) matrix whose k columns should be orthonormal (d1:
    sum|V^T V - I| / k); inf where V is not finite."""
    k = v.shape[2]
    with np.errstate(invalid="ignore", over="ignore"):
        gram = np.swapaxes(v, 1, 2) @ v
    return lawt_error(gram - np.eye(k), np.eye(k), norm)


def unit_norm_error(v: np.ndarray) -> np.ndarray:
    """The author's err3: the largest | ||v|| - 1 | over the rows AND the columns of each (n, k, k) V."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.maximum(np.abs(np.linalg.norm(v, axis=1) - 1).max(1), np.abs(np.linalg.norm(v, axis=2) - 1).max(1))
    return _finite(err)


def consecutive_cosine(v: np.ndarray) -> np.ndarray:
    """The author's err4 (orthogonality): the largest |cos| between consecutive rows of each (n, k, k) V, the
    last and the first row included, and likewise between consecutive columns; 0 for orthogonal V."""
    def rows(w):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            unit = w / np.linalg.norm(w, axis=2, keepdims=True)
            return np.abs((unit * np.roll(unit, -1, axis=1)).sum(2)).max(1)

    if v.shape[1] < 2:
        return np.zeros(len(v))
    return _finite(np.maximum(rows(v), rows(np.swapaxes(v, 1, 2))))


def canonical_signs(v: np.ndarray) -> np.ndarray:
    """Each column of each (n, r, k) V with the sign that makes its largest-magnitude component positive (the
    first such component on a tie), so that nearby matrices get nearby targets.

    >>> canonical_signs(np.array([[[0.6, 0.8], [-0.8, 0.6]]])).tolist()
    [[[-0.6, 0.8], [0.8, 0.6]]]
    """
    return v * column_signs(v)


def column_signs(v: np.ndarray) -> np.ndarray:
    """(n, 1, k): +1 or -1, the sign of each column's largest-magnitude component (+1 for a zero column)."""
    top = np.take_along_axis(v, np.abs(v).argmax(1)[:, None, :], 1)
    return np.where(top < 0, -1.0, 1.0)


def condition_numbers(v: np.ndarray) -> np.ndarray:
    """2-norm condition number of each (n, k, k) matrix; inf where it is singular or not finite."""
    out = np.full(len(v), np.inf)
    ok = np.isfinite(v).reshape(len(v), -1).all(1)
    if ok.any():
        s = np.linalg.svd(v[ok], compute_uv=False)
        with np.errstate(divide="ignore"):
            out[ok] = s[:, 0] / s[:, -1]
    return out
