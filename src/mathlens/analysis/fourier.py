"""Fourier progress measures of modular-arithmetic models, as functions of plain arrays (any model's weights).

Definitions (DESIGN.md; the papers' exact equations are not public, so these are mathlens's, stated here):

* Fourier basis over Z_n: the constant vector and, for k = 1..K with K = (n-1)//2, cos(2 pi k x / n) and
  sin(2 pi k x / n), each normalised to unit length (for even n the Nyquist frequency n/2 is left out).
* For a token embedding W_E whose first n rows are the residues 0..n-1, ``alpha_k`` and ``beta_k`` are the L2
  norms (over the model dimension) of its cos_k and sin_k components: :func:`component_norms`.
* FFS, Fourier Frequency Sparsity (Furuta et al.; later called density): the fraction of the 2K components
  whose norm exceeds ``eps`` times the largest component norm. Falls as the model grokks.
* FCR, Fourier Coefficient Ratio (Furuta et al.): the mean of min(alpha_k, beta_k) / max(alpha_k, beta_k) over
  the frequencies with a component above that threshold (1: cos and sin paired; 0: one of them only).
* Gini coefficient of the frequency norms sqrt(alpha_k^2 + beta_k^2) (Nanda et al.): 0 spread evenly, near 1
  concentrated on few frequencies.
* Key frequencies: the frequencies holding at least ``share`` of the embedding's non-constant squared norm.
* Restricted and excluded loss (Nanda et al., generalised from x + y to any answer c(x, y)): the logits are
  projected onto the directions cos(w_k (c - z)) and sin(w_k (c - z)) over (example, output z) for the key
  frequencies k. Restricted loss is the loss of that projection alone (low once the model uses only the key
  frequencies); excluded loss is the loss of the logits minus the projection (high once it relies on them).
* Multiplicative basis: for a prime p, re-index the non-zero residues by a discrete logarithm to a primitive
  root g (row i = residue g^i) and use the Fourier basis over Z_{p-1} (:func:`discrete_log_order`).

>>> import numpy as np
>>> x = np.arange(97)[:, None]
>>> W = np.cos(2 * np.pi * 5 * x / 97) * np.ones((1, 8))        # frequency 5, cosine only
>>> round(ffs(W, 97), 4), round(fcr(W, 97), 6), key_frequencies(W, 97)
(0.0104, 0.0, [5])
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def fourier_basis(n: int) -> tuple[np.ndarray, list[str]]:
    """(basis (1 + 2K, n) with orthonormal rows [const, cos1, sin1, ..., cosK, sinK], their labels)."""
    x = np.arange(n)
    rows, labels = [np.ones(n) / np.sqrt(n)], ["const"]
    for k in range(1, (n - 1) // 2 + 1):
        for name, f in (("cos", np.cos), ("sin", np.sin)):
            v = f(2 * np.pi * k * x / n)
            rows.append(v / np.linalg.norm(v))
            labels.append(f"{name}{k}")
    basis = np.stack(rows)
    basis.setflags(write=False)
    return basis, labels


def component_norms(embedding, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha (K,), beta (K,)): norms of the cos_k and sin_k components of ``embedding[:p]`` (p, d)."""
    E = np.asarray(embedding, dtype=np.float64)[:p]
    basis, _ = fourier_basis(p)
    norms = np.linalg.norm(basis @ E, axis=1)[1:]
    return norms[0::2], norms[1::2]


def frequency_norms(embedding, p: int) -> np.ndarray:
    """(K,) norm of each frequency k = 1..K: sqrt(alpha_k^2 + beta_k^2)."""
    a, b = component_norms(embedding, p)
    return np.hypot(a, b)


def _above(embedding, p, eps):
    a, b = component_norms(embedding, p)
    top = max(a.max(initial=0.0), b.max(initial=0.0))
    return a, b, a > eps * top, b > eps * top


def ffs(embedding, p: int, eps: float = 0.1) -> float:
    """Fourier Frequency Sparsity: share of the 2K cos/sin components above ``eps`` x the largest."""
    _, _, on_a, on_b = _above(embedding, p, eps)
    return float((on_a.sum() + on_b.sum()) / (2 * len(on_a)))


def fcr(embedding, p: int, eps: float = 0.1) -> float:
    """Fourier Coefficient Ratio: mean min/max(alpha_k, beta_k) over frequencies with a component above
    threshold (NaN if none)."""
    a, b, on_a, on_b = _above(embedding, p, eps)
    on = on_a | on_b
    if not on.any():
        return float("nan")
    return float(np.mean(np.minimum(a[on], b[on]) / np.maximum(a[on], b[on])))


def gini(values) -> float:
    """Gini coefficient of non-negative ``values``: 0 when all equal, (n-1)/n when one holds everything."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n, total = len(v), v.sum()
    if n == 0 or total <= 0:
        return 0.0
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * v) / (n * total))


def key_frequencies(embedding, p: int, share: float = 0.05) -> list[int]:
    """Frequencies k (1..K) holding >= ``share`` of the non-constant squared norm, strongest first."""
    sq = frequency_norms(embedding, p) ** 2
    if sq.sum() <= 0:
        return []
    order = np.argsort(-sq)
    return [int(k + 1) for k in order if sq[k] >= share * sq.sum()]


def _key_projection(logits: np.ndarray, answers: np.ndarray, keys, p: int) -> np.ndarray:
    """The part of ``logits`` (N, p) along cos/sin(w_k (answer - z)) for k in ``keys``.

    For 0 < k < p/2 these 2|keys| directions are orthogonal in every row (the sums over z vanish), each of
    squared norm p/2 per row, so the projection is a sum of independent terms.
    """
    z = np.arange(p)
    diff = answers[:, None] - z[None, :]
    out = np.zeros_like(logits)
    for k in keys:
        angle = 2 * np.pi * k * diff / p
        for direction in (np.cos(angle), np.sin(angle)):
            coef = np.sum(logits * direction) / (len(logits) * p / 2)
            out += coef * direction
    return out


def cross_entropy(logits: np.ndarray, answers: np.ndarray) -> float:
    """Mean cross-entropy in float64 (as the grokking references compute it)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logz = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(logz - shifted[np.arange(len(answers)), answers]))


def restricted_loss(logits, answers, keys, p: int) -> float:
    """Loss of the logits (N, p) kept only along the key frequencies' directions (see module docstring)."""
    logits = np.asarray(logits, dtype=np.float64)
    return cross_entropy(_key_projection(logits, np.asarray(answers), keys, p), answers)


def excluded_loss(logits, answers, keys, p: int) -> float:
    """Loss of the logits (N, p) with the key frequencies' directions removed."""
    logits = np.asarray(logits, dtype=np.float64)
    return cross_entropy(logits - _key_projection(logits, np.asarray(answers), keys, p), answers)


def primitive_root(p: int) -> int:
    """Smallest generator of the multiplicative group mod prime p."""
    factors = {q for q in range(2, p) if (p - 1) % q == 0 and all(q % r for r in range(2, int(q**0.5) + 1))}
    for g in range(2, p):
        if all(pow(g, (p - 1) // q, p) != 1 for q in factors):
            return g
    return 1  # p = 2


def discrete_log_order(p: int) -> np.ndarray:
    """(p-1,) residues g^0, g^1, ..., g^(p-2) mod p: row order of the multiplicative basis."""
    g = primitive_root(p)
    return np.array([pow(g, i, p) for i in range(p - 1)])


def multiplicative_embedding(embedding, p: int) -> np.ndarray:
    """Rows of ``embedding`` for residues 1..p-1 in discrete-log order: measure it with n = p - 1."""
    return np.asarray(embedding)[discrete_log_order(p)]


def fourier_2d(values, p: int) -> np.ndarray:
    """(1+2K, 1+2K) norms of a (p, p, ...) array over (x, y) in the 2-D Fourier basis (trailing axes pooled).

    Row/column labels are ``fourier_basis(p)[1]``: a logit table or neuron activations of a model that
    computes with frequency k light up at (cos_k / sin_k) rows and columns.
    """
    V = np.asarray(values, dtype=np.float64).reshape(p, p, -1)
    basis, _ = fourier_basis(p)
    F = np.einsum("ax,xyd,by->abd", basis, V, basis)
    return np.linalg.norm(F, axis=2)
