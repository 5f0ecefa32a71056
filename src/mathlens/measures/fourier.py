"""Fourier progress measures of modular-arithmetic models, as functions of plain arrays (any model's weights).

Definitions (DESIGN.md; the papers' exact equations are not public, so these are mathlens's, stated here):

* Fourier basis over Z_n: the constant vector and, for k = 1..K with K = (n-1)//2, cos(2 pi k x / n) and
  sin(2 pi k x / n), each normalised to unit length; for even n also the Nyquist frequency n/2, whose only
  component is cos(pi x) = (-1)^x (its sine is zero). The basis is complete: n orthonormal rows. In the
  multiplicative basis (n = p - 1, even) the Nyquist component is the Legendre symbol, a natural feature of
  multiplication.
* For a token embedding W_E whose first n rows are the residues 0..n-1, ``alpha_k`` and ``beta_k`` are the L2
  norms (over the model dimension) of its cos_k and sin_k components (beta = 0 at the Nyquist frequency):
  :func:`component_norms`. The n - 1 non-constant components carry the embedding's non-constant energy.
* Structure floor: a component counts as present only when its squared norm exceeds ``FLOOR`` (1e-12) times
  the embedding's energy ||W_E[:n]||^2, i.e. when it is above rounding noise. An embedding whose whole
  non-constant energy is below that floor (a constant embedding, zeros, the Legendre symbol measured in the
  additive basis's missing places) is *structureless*: FFS 0, FCR NaN, Gini 0, no key frequencies.
* FFS, Fourier Frequency Sparsity (Furuta et al.; later called density): the fraction of the n - 1
  non-constant components that are present and whose norm exceeds ``eps`` times the largest component norm.
  Falls as the model groks (1 for a random embedding, 1/(n-1) for a single cos or sin).
* FCR, Fourier Coefficient Ratio (Furuta et al.): the mean of min(alpha_k, beta_k) / max(alpha_k, beta_k) over
  the frequencies with a counted component (1: cos and sin paired; 0: one of them only). The Nyquist
  frequency has no sine to pair with and is left out; NaN when no frequency counts.
* Gini coefficient of the frequency norms sqrt(alpha_k^2 + beta_k^2) (Nanda et al.): 0 spread evenly, near 1
  concentrated on few frequencies.
* Key frequencies: the frequencies holding at least ``share`` of the embedding's non-constant squared norm.
* Restricted and excluded loss (Nanda et al., generalised from x + y to any answer c(x, y)): the logits are
  projected onto the directions cos(w_k (c - z)) and sin(w_k (c - z)) over (example, output z) for the key
  frequencies k. Restricted loss is the loss of that projection alone (low once the model uses only the key
  frequencies); excluded loss is the loss of the logits minus the projection (high once it relies on them).
  With ``basis="multiplicative"`` (products and quotients) c and z are replaced by their discrete logarithms
  over Z_{p-1}: examples whose answer is 0 (no logarithm) are left out, and the output 0 is outside the
  projection.
* Multiplicative basis: for a prime p, re-index the non-zero residues by a discrete logarithm to a primitive
  root g (row i = residue g^i) and use the Fourier basis over Z_{p-1} (:func:`discrete_log_order`).

>>> import numpy as np
>>> x = np.arange(97)[:, None]
>>> W = np.cos(2 * np.pi * 5 * x / 97) * np.ones((1, 8))        # frequency 5, cosine only
>>> round(ffs(W, 97), 4), round(fcr(W, 97), 6), key_frequencies(W, 97)
(0.0104, 0.0, [5])
>>> ffs(np.ones((97, 8)), 97), key_frequencies(np.ones((97, 8)), 97)   # structureless: nothing counts
(0.0, [])
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FLOOR = 1e-12  # a component's squared norm must exceed this share of ||W_E||^2 to count (above rounding noise)


@lru_cache(maxsize=16)
def fourier_basis(n: int) -> tuple[np.ndarray, list[str]]:
    """(basis (n, n) with orthonormal rows [const, cos1, sin1, ..., cosK, sinK(, cos n/2 for even n)], labels)."""
    x = np.arange(n)
    rows, labels = [np.ones(n) / np.sqrt(n)], ["const"]
    for k in range(1, (n - 1) // 2 + 1):
        for name, f in (("cos", np.cos), ("sin", np.sin)):
            v = f(2 * np.pi * k * x / n)
            rows.append(v / np.linalg.norm(v))
            labels.append(f"{name}{k}")
    if n % 2 == 0 and n > 1:
        rows.append((-1.0) ** x / np.sqrt(n))
        labels.append(f"cos{n // 2}")
    basis = np.stack(rows)
    basis.setflags(write=False)
    return basis, labels


def _components(embedding, n: int) -> tuple[np.ndarray, float]:
    """(norms (n - 1,) of the non-constant components in basis order, the embedding's energy ||E[:n]||^2)."""
    E = np.asarray(embedding, dtype=np.float64)[:n]
    basis, _ = fourier_basis(n)
    return np.linalg.norm(basis @ E, axis=1)[1:], float((E * E).sum())


def component_norms(embedding, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha (F,), beta (F,)): norms of the cos_k and sin_k components of ``embedding[:p]`` (p, d), k = 1..F
    with F = p // 2 (for even p the last is the Nyquist frequency, beta = 0 there)."""
    comps, _ = _components(embedding, p)
    alpha, beta = comps[0::2], comps[1::2]
    return alpha, np.concatenate([beta, np.zeros(len(alpha) - len(beta))])


def frequency_norms(embedding, p: int) -> np.ndarray:
    """(F,) norm of each frequency k = 1..p//2: sqrt(alpha_k^2 + beta_k^2)."""
    a, b = component_norms(embedding, p)
    return np.hypot(a, b)


def structureless(embedding, p: int) -> bool:
    """True when the non-constant energy of ``embedding[:p]`` is at rounding level (see ``FLOOR``)."""
    comps, total = _components(embedding, p)
    return not (comps * comps).sum() > FLOOR * total


def _counted(embedding, p, eps) -> tuple[np.ndarray, np.ndarray]:
    """(norms (p - 1,), counted (p - 1,) bool): above the structure floor and above eps x the largest."""
    comps, total = _components(embedding, p)
    on = (comps * comps > FLOOR * total) & (comps > eps * comps.max(initial=0.0))
    return comps, on


def ffs(embedding, p: int, eps: float = 0.1) -> float:
    """Fourier Frequency Sparsity: share of the p - 1 non-constant components that count (0 if structureless)."""
    _, on = _counted(embedding, p, eps)
    return float(on.sum() / max(len(on), 1))


def fcr(embedding, p: int, eps: float = 0.1) -> float:
    """Fourier Coefficient Ratio: mean min/max(alpha_k, beta_k) over the frequencies (Nyquist left out) with a
    counted component (NaN if none)."""
    comps, on = _counted(embedding, p, eps)
    K = (p - 1) // 2
    a, b = comps[0 : 2 * K : 2], comps[1 : 2 * K : 2]
    on = on[0 : 2 * K : 2] | on[1 : 2 * K : 2]
    if not on.any():
        return float("nan")
    return float(np.mean(np.minimum(a[on], b[on]) / np.maximum(a[on], b[on])))


def spectrum_gini(embedding, p: int) -> float:
    """Gini coefficient of the frequency norms of ``embedding[:p]`` (0 for a structureless embedding)."""
    return 0.0 if structureless(embedding, p) else gini(frequency_norms(embedding, p))


def gini(values) -> float:
    """Gini coefficient of non-negative ``values``: 0 when all equal, (n-1)/n when one holds everything."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n, total = len(v), v.sum()
    if n == 0 or total <= 0:
        return 0.0
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * v) / (n * total))


def key_frequencies(embedding, p: int, share: float = 0.05) -> list[int]:
    """Frequencies k (1..p//2) holding >= ``share`` of the non-constant squared norm, strongest first ([] for a
    structureless embedding)."""
    if structureless(embedding, p):
        return []
    sq = frequency_norms(embedding, p) ** 2
    order = np.argsort(-sq)
    return [int(k + 1) for k in order if sq[k] >= share * sq.sum()]


def _key_projection(logits: np.ndarray, answers: np.ndarray, keys, n: int) -> np.ndarray:
    """The part of ``logits`` (N, n) along cos/sin(w_k (answer - z)) for k in ``keys``, over Z_n.

    For 0 < k < n/2 these 2|keys| directions are orthogonal (the sums over z vanish in every row); the Nyquist
    frequency k = n/2 has its cosine only. So the projection is a sum of independent terms, each with one
    coefficient over all examples.
    """
    z = np.arange(n)
    diff = answers[:, None] - z[None, :]
    out = np.zeros_like(logits)
    for k in keys:
        angle = 2 * np.pi * k * diff / n
        for direction in (np.cos(angle),) + ((np.sin(angle),) if 2 * k != n else ()):
            out += np.sum(logits * direction) / np.sum(direction * direction) * direction
    return out


def _key_part(logits, answers, keys, p: int, basis: str):
    """(rows used, their logits (m, p), their answers, the key frequencies' part of those logits)."""
    logits, answers = np.asarray(logits, dtype=np.float64), np.asarray(answers)
    if basis == "additive":
        return logits, answers, _key_projection(logits, answers, keys, p)
    if basis != "multiplicative":
        raise ValueError(f"basis must be 'additive' or 'multiplicative', got {basis!r}")
    order = discrete_log_order(p)  # column i of the re-indexed logits is the residue g^i
    log = np.zeros(p, dtype=np.int64)
    log[order] = np.arange(p - 1)
    keep = answers % p != 0
    logits, answers = logits[keep], answers[keep]
    part = np.zeros_like(logits)
    part[:, order] = _key_projection(logits[:, order], log[answers], keys, p - 1)
    return logits, answers, part


def cross_entropy(logits: np.ndarray, answers: np.ndarray) -> float:
    """Mean cross-entropy in float64 (as the grokking references compute it)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logz = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(logz - shifted[np.arange(len(answers)), answers]))


def restricted_loss(logits, answers, keys, p: int, basis: str = "additive") -> float:
    """Loss of the logits (N, p) kept only along the key frequencies' directions (see module docstring);
    ``basis="multiplicative"``: frequencies over the discrete logarithms (products and quotients)."""
    _, answers, part = _key_part(logits, answers, keys, p, basis)
    return cross_entropy(part, answers)


def excluded_loss(logits, answers, keys, p: int, basis: str = "additive") -> float:
    """Loss of the logits (N, p) with the key frequencies' directions removed (``basis`` as restricted_loss)."""
    logits, answers, part = _key_part(logits, answers, keys, p, basis)
    return cross_entropy(logits - part, answers)


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
