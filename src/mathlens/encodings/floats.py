"""LAWT's four encodings of real numbers, with 3 significant digits (Charton, arXiv 2112.01898).

| name  | tokens | 3.14              | -0.0271           |
|-------|--------|-------------------|-------------------|
| P10   | 5      | + 3 1 4 E-2       | - 2 7 1 E-4       |
| P1000 | 3      | + 314 E-2         | - 271 E-4         |
| B1999 | 2      | N314 E-2          | N-271 E-4         |
| FP15  | 1      | N314e7            | N-271e5           |

Rounding is printf's ``%.2e`` (999.5 -> ``+ 1 0 0 E1``). Exponents run from E-100 to E100; a number whose
exponent falls below -100 is written as zero. Zero is ``+ 0 E0`` (P10, P1000), ``N0 E0`` (B1999), ``N0e0``
(FP15). FP15 covers about 1e-7 to 1e9 and writes larger magnitudes as ``NaN`` / ``-NaN``, which decode to
+-1e9 as in LAWT.
"""

from __future__ import annotations

import math

import numpy as np

from .base import PAD, Encoding, decimal_parts, times_power_of_ten

MAX_EXPONENT = 100
PRECISION = 2  # digits after the point in %.2e: 3 significant digits
POW10_PY = np.array([float(10**k) for k in range(-30, 31)])  # index k + 30: 10 ** k as Python computes it


def _exponent_symbols() -> list[str]:
    return [f"E{i}" for i in range(-MAX_EXPONENT, MAX_EXPONENT + 1)]


def _lawt_parts(values: np.ndarray):
    """printf parts with LAWT's flush-to-zero below E-100; raises past E100 (no such token exists)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        total = values.sum()  # finite sum: every value finite (one cheap pass); else check each
    if not np.isfinite(total) and not np.all(np.isfinite(values)):
        raise ValueError("cannot encode a non-finite number")
    negative, mantissa, expo = decimal_parts(values, PRECISION)
    if np.any(expo > MAX_EXPONENT):
        raise ValueError(f"cannot encode {np.abs(values).max():.3g}: exponent above E{MAX_EXPONENT}")
    tiny = expo < -MAX_EXPONENT
    if tiny.any():
        mantissa = np.where(tiny, 0, mantissa)
    zero = mantissa == 0
    if zero.any():
        expo = np.where(zero, 0, expo)
        negative = negative & ~zero  # LAWT writes every zero with a plus sign
    return negative, mantissa, expo


class Positional(Encoding):
    """P10 and P1000: sign, mantissa in base 10 (3 digit tokens) or base 1000 (1 token), exponent.

    Zero has a one-token mantissa, so in P10 it is shorter than other numbers (``+ 0 E0``).
    """

    def __init__(self, base: int):
        if base not in (10, 1000):
            raise ValueError("positional float encodings exist for base 10 and 1000")
        self.base = base
        self.name = f"P{base}"
        self.digits = 3 if base == 10 else 1  # tokens of a 3-digit mantissa
        self.width = 2 + self.digits
        self.vocab = ["+", "-"] + [str(i) for i in range(base)] + _exponent_symbols()
        self._digit0 = 2
        self._exp0 = 2 + base
        n = len(self.vocab)
        # 1 sign, 2 digit, 3 exponent, 4 not a token of this encoding (index n), 0 padding (index -1)
        self._cls = np.zeros(n + 2, dtype=np.int8)
        self._cls[n] = 4
        self._cls[0:2] = 1
        self._cls[self._digit0 : self._exp0] = 2
        self._cls[self._exp0 : n] = 3

    def encode(self, values):
        negative, mantissa, expo = _lawt_parts(values)
        out = np.full(mantissa.shape + (self.width,), PAD, dtype=np.int64)
        out[..., 0] = negative.astype(np.int64)
        exp_ids = self._exp0 + expo + MAX_EXPONENT
        if self.base == 10:
            digits = np.stack([mantissa // 100, mantissa // 10 % 10, mantissa % 10], axis=-1) + self._digit0
            out[..., 1:4] = digits
            out[..., 4] = exp_ids
        else:
            out[..., 1] = mantissa + self._digit0
            out[..., 2] = exp_ids
        zero = mantissa == 0
        if zero.any():
            out[zero, 1] = self._digit0
            out[zero, 2] = self._exp0 + MAX_EXPONENT
            out[zero, 3:] = PAD
        return out

    def decode(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        n = len(self.vocab)
        cls = self._cls[np.where((ids >= n) | (ids < PAD), n, ids)]  # index -1 -> the padding class
        # A number is: sign, one or more digits, one exponent, then padding.
        is_exp = cls == 3
        n_exp = is_exp.sum(-1)
        exp_pos = np.argmax(is_exp, axis=-1)
        pos = np.arange(self.width)
        before = pos < exp_pos[..., None]
        after = pos > exp_pos[..., None]
        ok = (cls[..., 0] == 1) & (n_exp == 1) & (exp_pos >= 2)
        ok &= np.all(np.where(before & (pos >= 1), cls == 2, True), axis=-1)
        ok &= np.all(np.where(after, cls == 0, True), axis=-1)
        mantissa = np.zeros(ids.shape[:-1], dtype=np.float64)
        for j in range(1, self.width - 1):
            use = ok & (j < exp_pos)
            mantissa = np.where(use, mantissa * self.base + (ids[..., j] - self._digit0), mantissa)
        expo = np.take_along_axis(ids, exp_pos[..., None], -1)[..., 0] - self._exp0 - MAX_EXPONENT
        sign = np.where(ids[..., 0] == 1, -1.0, 1.0)
        values = np.where(ok, sign * times_power_of_ten(mantissa, np.where(ok, expo, 0)), np.nan)
        return values, ok

    def is_start(self, ids):
        return self._cls[np.asarray(ids)] == 1


class B1999(Encoding):
    """Signed mantissa token N-999..N999, then an exponent token: ``N314 E-2``."""

    name = "B1999"
    width = 2

    def __init__(self):
        # LAWT's symbol table runs N-1000..N1000; N+-1000 are never written.
        self._m0 = 1000
        self.vocab = [f"N{i}" for i in range(-1000, 1001)] + _exponent_symbols()
        self._exp0 = 2001

    def encode(self, values):
        negative, mantissa, expo = _lawt_parts(values)
        signed = np.where(negative, -mantissa, mantissa)
        return np.stack([signed + self._m0, expo + MAX_EXPONENT + self._exp0], axis=-1).astype(np.int64)

    def decode(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        m, e = ids[..., 0], ids[..., 1]
        ok = (m >= 0) & (m < self._exp0) & (e >= self._exp0) & (e < len(self.vocab))
        values = times_power_of_ten((m - self._m0).astype(np.float64), np.where(ok, e - self._exp0 - MAX_EXPONENT, 0))
        return np.where(ok, values, np.nan), ok

    def is_start(self, ids):
        ids = np.asarray(ids)
        return (ids >= 0) & (ids < self._exp0)


class FP15(Encoding):
    """One token per number: ``N<signed mantissa>e<exponent>``, value = mantissa * 10**e / 1e9.

    Exponents 0..15 cover about 1e-7 .. 1e9; mantissas below 100 appear only with e0 (numbers under 1e-7).
    Rounding follows LAWT exactly: e = int(log10(|x| * 1e7)), half up on |x| * 1e7 * 10**(2-e), with Python's
    powers of ten.
    """

    name = "FP15"
    width = 1
    MAX_EXP = 16
    LIMIT = 1e9
    SCALE = 1e7

    def __init__(self):
        vocab = ["NaN", "-NaN"] + [f"N{i}e0" for i in range(-99, 100)]
        for e in range(self.MAX_EXP):
            for m in range(100, 1000):
                vocab += [f"N{m}e{e}", f"N-{m}e{e}"]
        self.vocab = vocab
        self._lut = np.full((2, 1000, self.MAX_EXP), PAD, dtype=np.int64)  # [negative, mantissa, exponent]
        values = np.empty(len(vocab), dtype=np.float64)
        for i, s in enumerate(vocab):
            if s.endswith("NaN"):
                values[i] = -self.LIMIT if s.startswith("-") else self.LIMIT
                continue
            m, e = s[1:].split("e")
            m, e = int(m), int(e)
            self._lut[int(m < 0), abs(m), e] = i
            values[i] = m * 10.0**e / self.LIMIT
        self._lut[1, 0, 0] = self._lut[0, 0, 0]
        self._values = values

    def encode(self, values):
        x = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("cannot encode a non-finite number")
        v = np.abs(x) * self.SCALE
        lg = np.log10(np.where(v > 0, v, 1.0))
        e = np.trunc(lg).astype(np.int64)
        # LAWT takes int(math.log10(v)); numpy's log10 may differ by an ulp, which matters only next to a power
        # of ten: redo those few entries with math.log10.
        near = (v > 0) & (np.abs(lg - np.rint(lg)) < 1e-12)
        for idx in zip(*np.nonzero(near)) if near.any() else ():
            e[idx] = int(math.log10(v[idx]))
        e = np.maximum(e, 0)
        # LAWT multiplies by Python's 10 ** (2 - e), not by numpy's power (an ulp off for some exponents:
        # 1.025 would round down to N102e7 instead of LAWT's N103e7).
        m = np.floor(v * POW10_PY[np.clip(PRECISION - e, -30, 30) + 30] + 0.5).astype(np.int64)
        carry = m >= 1000
        m = np.where(carry, 100, m)
        e = e + carry
        over = (np.abs(x) > self.LIMIT) | (e >= self.MAX_EXP)
        negative = (x < 0) & (m != 0)
        ids = self._lut[negative.astype(np.int64), np.clip(m, 0, 999), np.clip(e, 0, self.MAX_EXP - 1)]
        ids = np.where(over, np.where(x > 0, 0, 1), ids)
        return ids[..., None]

    def decode(self, ids):
        ids = np.asarray(ids, dtype=np.int64)[..., 0]
        ok = (ids >= 0) & (ids < len(self.vocab))
        return np.where(ok, self._values[np.clip(ids, 0, len(self.vocab) - 1)], np.nan), ok

    def is_start(self, ids):
        ids = np.asarray(ids)
        return ids >= 0
