"""xVal (Golkar et al. 2023, arXiv 2310.02989): every number is one ``[NUM]`` token whose embedding the model
scales by the number's value, so the model reads magnitudes directly instead of learning to read digits.

An input encoding only: the token ids say where the numbers are (all ``[NUM]``), and :meth:`XVal.multipliers`
gives, for the same slots, the factor the model multiplies each token's embedding by (value / ``scale``; the
pipeline passes it beside the ids). Outputs stay tokens (P10, P1000, B1999, FP15), verified as written.

>>> enc = XVal(scale=10.0)
>>> enc.encode(np.array([3.0, -20.0]))[:, 0].tolist(), enc.multipliers(np.array([2.5, -20.0])).tolist()
([0, 0], [0.25, -2.0])
"""

from __future__ import annotations

import numpy as np

from .base import Encoding


class XVal(Encoding):
    """One ``[NUM]`` token per number; :meth:`multipliers` carries the value (divided by ``scale``)."""

    name = "xval"
    width = 1
    vocab = ["[NUM]"]
    continuous = True  # the value travels beside the token ids (see MatrixCodec.source)

    def __init__(self, scale: float = 10.0):
        self.scale = float(scale)

    def encode(self, values):
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("cannot encode a non-finite number")
        return np.zeros(values.shape + (1,), dtype=np.int64)

    def multipliers(self, values) -> np.ndarray:
        """The factor of each number's ``[NUM]`` embedding: value / scale (LAWT's inputs, |x| <= 10, land in
        [-1, 1] with the default scale), as float32."""
        return (np.asarray(values, dtype=np.float64) / self.scale).astype(np.float32)

    def decode(self, ids):
        """A ``[NUM]`` token holds no value: xVal cannot be written by the model, so nothing decodes."""
        ids = np.asarray(ids)[..., 0]
        return np.full(ids.shape, np.nan), np.zeros(ids.shape, dtype=bool)

    def is_start(self, ids):
        return np.asarray(ids) == 0
