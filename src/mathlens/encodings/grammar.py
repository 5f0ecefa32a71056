"""Which token sequences an encoding writes: a small automaton, built from the encoder itself.

Decoding constrained to well-formed numbers (``mathlens eval --constrained``) lets a model write only what
the encoding could have written. Nothing is written by hand per encoding: every number the encoding can write
(3 significant digits at every exponent, both signs, and zero) is encoded, the token sequences form a trie,
and states with the same future are merged, so P10's automaton has a handful of states (sign, first digit,
two more digits, exponent) and FP15's one.

>>> from mathlens import encodings
>>> start = number_automaton(encodings.get("P10"))
>>> len(start) < 10  # states, after merging
True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .base import PAD, Encoding

DONE = -1  # the state after a number's last token
MANTISSAS = np.arange(100, 1000)  # 3 significant digits (LAWT)
EXPONENTS = range(-110, 111)  # m * 10^e: past every exponent token E-100..E100 on both sides


def written_numbers(enc: Encoding) -> np.ndarray:
    """(n, width) local ids of every number with 3 significant digits the encoding writes (both signs, zero):
    each power of ten that it can encode (past its largest exponent an encoding raises)."""
    parts = [enc.encode(np.zeros(1))]
    for e in EXPONENTS:
        magnitudes = MANTISSAS * 10.0 ** e
        try:
            with np.errstate(invalid="ignore", over="ignore"):  # FP15 writes NaN past its range
                parts.append(enc.encode(np.concatenate([magnitudes, -magnitudes])))
        except ValueError:  # no exponent token for these
            continue
    return np.concatenate(parts)


@lru_cache(maxsize=None)
def number_automaton(enc: Encoding) -> list[dict[int, int]]:
    """transitions[state][local id] -> the next state, or :data:`DONE` after a number's last token; state 0
    starts a number. Raises ValueError if one written number is a prefix of another (no encoding's is)."""
    ids = written_numbers(enc)  # (n, width), PAD after a shorter number's last token
    n, width = ids.shape
    vocab = len(enc.vocab)
    node = np.zeros(n, dtype=np.int64)  # each number's trie node so far (0: the root)
    edges, final, count = [], set(), 1
    for k in range(width):
        live = ids[:, k] != PAD
        key = node[live] * vocab + ids[live, k]
        uniq, inverse = np.unique(key, return_inverse=True)
        child = count + np.arange(len(uniq))
        edges += zip((uniq // vocab).tolist(), (uniq % vocab).tolist(), child.tolist())
        count += len(uniq)
        node[live] = child[inverse]
        last = ids[:, k + 1] == PAD if k + 1 < width else np.ones(n, dtype=bool)
        final.update(node[live & last].tolist())
    children: dict[int, dict[int, int]] = {}
    for parent, tok, child in edges:
        children.setdefault(parent, {})[tok] = child
    if final & set(children):
        raise ValueError(f"{enc.name}: a written number is the prefix of another; no automaton")
    # merge states with the same future, leaves first (a trie has no cycles: children have larger numbers)
    signature_of: dict[int, tuple] = {}
    state_of: dict[tuple, int] = {}
    for nd in sorted(children, reverse=True):
        sig = tuple(sorted((tok, DONE if c in final else signature_of[c]) for tok, c in children[nd].items()))
        signature_of[nd] = state_of.setdefault(sig, len(state_of))
    # renumber so that the root is state 0
    root = signature_of[0]
    order = [root] + [s for s in range(len(state_of)) if s != root]
    number = {s: i for i, s in enumerate(order)}
    table: list[dict[int, int]] = [{} for _ in order]
    for sig, s in state_of.items():
        table[number[s]] = {tok: (DONE if nxt == DONE else number[nxt]) for tok, nxt in sig}
    return table
