"""Which equivalence relation explains a model's out-of-distribution arithmetic answers (PAPERS.md, part 3).

Xu et al. found that a decoder trained on 3-digit addition answers a 4-digit problem a + b with
(a mod 1000) + (b mod 1000): it maps the OOD input to an equivalent in-distribution one. :func:`explain` scores
candidate relations of that kind on any outputs (from our models or anyone's) and ranks them.

>>> import numpy as np
>>> a, b = np.array([1234, 5678]), np.array([4321, 8765])
>>> explain(a, b, (a % 1000) + (b % 1000), "add", id_digits=3).iloc[0]["relation"]
'(a mod 10^3) + (b mod 10^3)'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OPS = {"add": ("+", np.add), "sub": ("-", np.subtract), "mul": ("*", np.multiply)}


def candidates(a: np.ndarray, b: np.ndarray, op: str, id_digits: int) -> dict[str, np.ndarray]:
    """Candidate answers by name: the true result; the result on operands reduced mod 10^k (each operand
    alone and both), and the true result reduced mod 10^k, for k = 1 .. id_digits + 2."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    sym, f = OPS[op]
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    out = {f"a {sym} b": f(a, b)}
    for k in range(1, id_digits + 3):
        m = 10**k
        out[f"(a mod 10^{k}) {sym} (b mod 10^{k})"] = f(a % m, b % m)
        out[f"(a mod 10^{k}) {sym} b"] = f(a % m, b)
        out[f"a {sym} (b mod 10^{k})"] = f(a, b % m)
        out[f"(a {sym} b) mod 10^{k}"] = f(a, b) % m
    return out


def explain(a, b, outputs, op: str, id_digits: int, extra: dict | None = None) -> pd.DataFrame:
    """Rank candidate relations by the share of ``outputs`` they explain exactly.

    Parameters
    ----------
    a, b : (n,) integer arrays, the operands.
    outputs : (n,) the decoded answers; anything that is not an integer (NaN, None) matches nothing.
    op : 'add', 'sub' or 'mul'.
    id_digits : operand digits seen in training (the reductions tried go up to 10^(id_digits + 2)).
    extra : more candidates by name, e.g. {"model on the reduced twin": outputs_on_twins}.

    Returns
    -------
    DataFrame with columns relation, share (0..1), n; best first (ties keep the candidates' order, so the
    simplest relation of equal share comes first).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    n = len(outputs)
    cands = {**candidates(a, b, op, id_digits), **(extra or {})}
    rows = [{"relation": name, "share": float(np.mean(outputs == np.asarray(v, dtype=np.float64))) if n else 0.0,
             "n": n} for name, v in cands.items()]
    return pd.DataFrame(rows).sort_values("share", ascending=False, kind="stable").reset_index(drop=True)
