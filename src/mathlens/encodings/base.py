"""The Encoding contract: arrays of numbers <-> arrays of token ids, vectorised both ways.

An encoding writes every number with at most ``width`` tokens. ``encode`` returns an array with one extra
trailing axis of length ``width``, right-padded with ``-1`` where a number takes fewer tokens (P10 writes zero
as ``+ 0 E0``: 3 of its 5). Ids are *local* to the encoding (indices into ``vocab``); the sequence layer
maps them into the run's shared vocabulary.

Decoding never raises: it returns the values and a validity mask, and invalid numbers come back as NaN.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

PAD = -1  # "no token" inside a number's fixed-width slot


class Encoding(ABC):
    """Base class of number encodings.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"P1000"``.
    vocab : list[str]
        The symbols this encoding uses; local id ``i`` is ``vocab[i]``.
    width : int
        Most tokens one number takes.
    continuous : bool
        Whether the number's value is carried beside its ids (xVal: ``multipliers``) instead of in them.
    integers_only : bool
        Whether it writes integers only (the matrix tasks' real entries need an encoding of reals).
    """

    name: str
    vocab: list[str]
    width: int
    continuous = False  # True: the value travels beside the ids (xVal's embedding factor), not in them
    integers_only = False

    @abstractmethod
    def encode(self, values: np.ndarray) -> np.ndarray:
        """Numbers of any shape S -> int64 ids of shape S + (width,), padded with -1."""

    @abstractmethod
    def decode(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of shape S + (width,) (padded with -1) -> (float64 values of shape S, bool valid of shape S)."""

    @abstractmethod
    def is_start(self, ids: np.ndarray) -> np.ndarray:
        """Bool mask of the ids that begin a number: how a token stream is cut into numbers."""

    def tokens(self, x) -> list[str]:
        """The human-readable tokens of one number, e.g. ``get("P10").tokens(3.14) == ["+", "3", "1", "4", "E-2"]``."""
        ids = self.encode(np.asarray([x]))[0]
        return [self.vocab[i] for i in ids if i != PAD]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, vocab={len(self.vocab)}, width={self.width})"


def decimal_parts(x: np.ndarray, precision: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split reals into printf ``%.{precision}e`` parts, vectorised.

    Returns (negative, mantissa, exponent) with ``|x| ~= mantissa * 10**exponent``, mantissa an integer of
    exactly ``precision + 1`` digits (or 0 for x == 0), rounded as C's printf rounds (so 999.5 -> 100e1).

    Floating-point division can land a hair off an exact tie; those rare entries are re-done with Python's
    correctly rounded formatting, so the result equals printf's for every finite double.
    """
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    negative = np.signbit(x)
    zero = a == 0
    any_zero = bool(zero.any())
    safe = np.where(zero, 1.0, a) if any_zero else a
    e10 = np.floor(np.log10(safe)).astype(np.int64)
    e10 -= precision
    scaled = _scale(safe, e10)
    # Entries whose rounding is ambiguous in float arithmetic (scaled within 1e-6 of a half) are deferred to
    # correctly rounded formatting below. That includes 999.5 and 99.5, where the exponent itself depends on
    # the rounding (0.09995 is 9.99e-02 for printf: the double is a hair below the tie), so look before the fix.
    doubtful = np.abs(scaled - np.rint(scaled)) > 0.5 - 1e-6
    # log10 can be off by one just below a power of ten: fix the exponent, rescale.
    low, high = scaled < 10**precision - 0.5, scaled >= 10 ** (precision + 1) - 0.5
    fix = low | high
    if fix.any():
        e10 = e10 - low + high
        scaled = np.where(fix, _scale(safe, e10), scaled)
    # After the fix every scaled value is below 10**(precision+1) - 0.5, so rint never overflows a digit.
    # (Zeros were scaled from 1.0: never ambiguous.)
    mantissa = np.rint(scaled).astype(np.int64)
    doubtful |= np.abs(scaled - mantissa) > 0.5 - 1e-6
    for idx in zip(*np.nonzero(doubtful)) if doubtful.any() else ():  # (np.nonzero is slow: ask first)
        m, e = (f"%.{precision}e" % a[idx]).split("e")
        mantissa[idx] = int(m.replace(".", ""))
        e10[idx] = int(e) - precision
    if any_zero:
        mantissa[zero] = 0
        e10[zero] = 0
    return negative, mantissa, e10


POW10 = np.array([float(10**k) for k in range(301)])  # correctly rounded powers of ten (exact up to 1e22)


def _scale(a: np.ndarray, e10: np.ndarray) -> np.ndarray:
    """a / 10**e10, multiplying by an exact power of ten where the exponent is negative."""
    # A table lookup (np.power is the slowest step of encoding otherwise); beyond 1e300 the result is
    # meaningless but finite, and such numbers are refused or flushed to zero by the encodings.
    p = POW10[np.minimum(np.abs(e10), 300)]
    out = a * p
    np.divide(a, p, out=out, where=e10 >= 0)
    return out


def times_power_of_ten(m: np.ndarray, e: np.ndarray) -> np.ndarray:
    """m * 10**e, dividing by an exact power of ten where e < 0, so 314e-2 decodes to the double nearest 3.14."""
    e = np.asarray(e)
    p = np.power(10.0, np.abs(e).astype(np.float64))
    return np.where(e >= 0, m * p, m / p)
