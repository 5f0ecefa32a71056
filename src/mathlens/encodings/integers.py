"""Integers in base B: a sign, then the digits, most significant first (``+ 1 2 3`` in base 10).

Base 1000 writes 1234567 as ``+ 1 234 567``. ``max_digits`` bounds the width of one number; larger
magnitudes cannot be encoded and raise.
"""

from __future__ import annotations

import numpy as np

from .base import PAD, Encoding


class IntBase(Encoding):
    integers_only = True

    def __init__(self, base: int = 10, max_digits: int | None = None):
        if base < 2:
            raise ValueError("base must be at least 2")
        # int64 arithmetic: base**max_digits must stay below 2**63
        fits = int(np.floor(18 / np.log10(base)))
        max_digits = fits if max_digits is None else max_digits
        if not 1 <= max_digits <= fits:
            raise ValueError(f"max_digits for base {base} must be in 1..{fits}")
        self.base, self.max_digits = base, max_digits
        self.name = f"int{base}"
        self.width = 1 + max_digits
        self.vocab = ["+", "-"] + [str(i) for i in range(base)]

    def encode(self, values):
        x = np.asarray(values)
        if not np.issubdtype(x.dtype, np.integer):
            if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
                raise ValueError(f"{self.name} encodes integers only")
            x = x.astype(np.int64)
        x = x.astype(np.int64)
        a = np.abs(x)
        if np.any(a >= self.base ** self.max_digits):
            raise ValueError(f"{self.name}: {a.max()} has more than max_digits={self.max_digits} digits")
        # digits, least significant first; the count of digits written is 1 for zero
        powers = self.base ** np.arange(self.max_digits, dtype=np.int64)
        digits = (a[..., None] // powers) % self.base
        n = np.maximum(1, (a[..., None] >= powers).sum(-1))
        out = np.full(x.shape + (self.width,), PAD, dtype=np.int64)
        out[..., 0] = (x < 0).astype(np.int64)
        pos = np.arange(self.max_digits)
        # token j (1-based after the sign) is digit n-1-j (most significant first)
        src = n[..., None] - 1 - pos
        vals = np.take_along_axis(digits, np.clip(src, 0, self.max_digits - 1), -1) + 2
        out[..., 1:] = np.where(src >= 0, vals, PAD)
        return out

    def decode(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        sign_ok = (ids[..., 0] == 0) | (ids[..., 0] == 1)
        body = ids[..., 1:]
        is_digit = (body >= 2) & (body < len(self.vocab))  # an id past the vocabulary is no digit
        n = is_digit.sum(-1)
        # digits must be contiguous from the start, then padding only
        contiguous = np.all(is_digit == (np.arange(self.max_digits) < n[..., None]), axis=-1)
        ok = sign_ok & contiguous & (n >= 1) & np.all((body == PAD) | is_digit, axis=-1)
        value = np.zeros(ids.shape[:-1], dtype=np.float64)
        for j in range(self.max_digits):
            use = j < n
            value = np.where(use, value * self.base + (body[..., j] - 2), value)
        value = np.where(ids[..., 0] == 1, -value, value)
        return np.where(ok, value, np.nan), ok

    def is_start(self, ids):
        ids = np.asarray(ids)
        return (ids == 0) | (ids == 1)
