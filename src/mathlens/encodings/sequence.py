"""Whole matrices as token sequences, in the run's shared vocabulary.

A matrix is written as LAWT writes it: ``V<rows> V<cols>`` and then its coefficients row by row, each in
the number encoding. :class:`Vocabulary` is the union of the specials, the dimension tokens and the symbols
of the input and output encodings (the same string means the same token, so P10 and P1000 share ``+``).
:class:`MatrixCodec` does both directions for whole batches with numpy, never a Python loop per problem.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .base import PAD, Encoding

PAD_TOKEN, EOS_TOKEN = "<pad>", "<eos>"  # <eos> also starts every target, as in LAWT


class Vocabulary:
    """Token strings <-> global ids. ``pad_id`` is 0 and ``eos_id`` is 1."""

    def __init__(self, encodings: list[Encoding], max_dim: int, extra: list[str] = ()):
        symbols = [PAD_TOKEN, EOS_TOKEN, *extra] + [f"V{i}" for i in range(1, max_dim + 1)]
        for enc in encodings:
            symbols += enc.vocab
        self.symbols = list(dict.fromkeys(symbols))
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.pad_id, self.eos_id = 0, 1
        self.max_dim = max_dim
        self._dim0 = self.index["V1"]

    def __len__(self) -> int:
        return len(self.symbols)

    def dim_id(self, d):
        return self._dim0 + np.asarray(d) - 1

    def to_local(self, enc: Encoding) -> np.ndarray:
        """Table global id -> the encoding's local id, -1 where the token is not the encoding's."""
        table = np.full(len(self.symbols), PAD, dtype=np.int64)
        for i, s in enumerate(enc.vocab):
            table[self.index[s]] = i
        return table

    def to_global(self, enc: Encoding) -> np.ndarray:
        return np.array([self.index[s] for s in enc.vocab], dtype=np.int64)

    def strings(self, ids) -> list[str]:
        return [self.symbols[i] for i in ids]


def pack(ids: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop the ``-1`` slots of each row and left-align: (n, k) with holes -> ((n, L) padded, lengths)."""
    keep = ids != PAD
    lengths = keep.sum(1)
    width = int(lengths.max()) if len(lengths) else ids.shape[1]
    return pack_like(ids, keep, pad_id, width), lengths


def pack_like(values: np.ndarray, keep: np.ndarray, fill, width: int) -> np.ndarray:
    """Left-align the ``keep`` slots of each row of ``values`` as :func:`pack` does with ids, ``width`` wide."""
    if keep.all() and values.shape[1] == width:
        return values
    out = np.full((values.shape[0], width), fill, dtype=values.dtype)
    cols = np.cumsum(keep, axis=1) - 1
    rows = np.broadcast_to(np.arange(values.shape[0])[:, None], values.shape)
    out[rows[keep], cols[keep]] = values[keep]
    return out


# Why a decoded sequence is invalid (recorded per sample).
REASONS = ["ok", "no_eos", "bad_header", "wrong_shape", "bad_token", "wrong_count", "bad_number"]


LAYOUTS = ("full", "upper")  # which entries are written: all (row by row), or those on and above the diagonal


def entries(layout: str, r: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the entries a matrix of r x c is written with, in writing order."""
    i, j = np.divmod(np.arange(r * c), c)
    if layout == "upper":
        keep = i <= j
        return i[keep], j[keep]
    return i, j


FIRST_PLACE = 3  # Source.place of an entry's first token (0: a prefix token, 1 and 2: the header)


class Source(NamedTuple):
    """What the encoder reads besides token ids, aligned with them (n, L).

    place: 1 and 2 for the two header tokens, else FIRST_PLACE + (row * max_dim + col) * width + slot (the
    token's entry and its place in the number; read by 2-D positions); 0 is left for a token before the
    matrix (cotraining's task token). multiplier: the factor of each token's
    embedding (xVal's value / scale; 1 for every other token).
    """

    place: np.ndarray
    multiplier: np.ndarray


class MatrixCodec:
    """Batches of matrices <-> global token ids for one number encoding.

    ``layout`` = "upper" writes only the entries on and above the diagonal (a symmetric input: 15 numbers for
    5x5 instead of 25); the header still says the matrix's shape.
    """

    def __init__(self, encoding: Encoding, vocab: Vocabulary, layout: str = "full"):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.enc, self.vocab, self.layout = encoding, vocab, layout
        self._local = vocab.to_local(encoding)
        self._global = vocab.to_global(encoding)

    def max_len(self, rows: int, cols: int) -> int:
        """Tokens of a rows x cols matrix at most (header included, no EOS)."""
        return 2 + len(entries(self.layout, rows, cols)[0]) * self.enc.width

    def written(self, matrices: np.ndarray) -> np.ndarray:
        """(n, r, c) -> (n, k): the entries the layout writes, in writing order."""
        i, j = entries(self.layout, *matrices.shape[1:])
        return matrices[:, i, j]

    def encode(self, matrices: np.ndarray, source: bool = False):
        """(n, r, c) floats -> ((n, L) global ids, lengths), and with ``source`` the :class:`Source` arrays
        aligned with the ids. Rows are right-padded with pad_id."""
        r, c = matrices.shape[1:]
        self.check_shape(r, c)
        values = self.written(matrices)
        local = self.enc.encode(values)
        ids, lengths = self.from_local(local, r, c)
        if not source:
            return ids, lengths
        return ids, lengths, self.source(values, local, r, c, ids.shape[1])

    def source(self, values: np.ndarray, local: np.ndarray, r: int, c: int, width: int) -> Source:
        """The :class:`Source` of the written ``values`` (n, k) of r x c matrices, given their local ids
        (``encode``'s, (n, k, width) or flat) and the length of their packed global ids."""
        n, k, w = len(values), values.shape[1], self.enc.width
        local = local.reshape(n, -1)
        i, j = entries(self.layout, r, c)
        place = FIRST_PLACE + ((i * self.vocab.max_dim + j)[:, None] * w + np.arange(w)).reshape(-1)
        place = np.concatenate([np.broadcast_to([1, 2], (n, 2)), np.broadcast_to(place, (n, k * w))], axis=1)
        mult = np.ones((n, k, w), dtype=np.float32)
        if self.enc.continuous:
            mult[:, :, 0] = self.enc.multipliers(values)
        mult = np.concatenate([np.ones((n, 2), dtype=np.float32), mult.reshape(n, -1)], axis=1)
        keep = np.concatenate([np.ones((n, 2), dtype=bool), local != PAD], axis=1)
        return Source(pack_like(place, keep, 0, width), pack_like(mult, keep, 1.0, width))

    def check_shape(self, r: int, c: int) -> None:
        """Refuse a matrix whose dimensions have no V token in the vocabulary."""
        if r > self.vocab.max_dim or c > self.vocab.max_dim:
            raise ValueError(f"matrix {r}x{c} exceeds the vocabulary's max dimension {self.vocab.max_dim}")

    def from_local(self, local: np.ndarray, r: int, c: int) -> tuple[np.ndarray, np.ndarray]:
        """The encoding's ids of the written entries of n r x c matrices, (n, k, width) -> ((n, L) global ids,
        lengths)."""
        n = local.shape[0]
        local = local.reshape(n, -1)
        hole = local == PAD
        header = np.broadcast_to(self.vocab.dim_id([r, c]), (n, 2))
        if not hole.any():  # every number at full width (P1000, B1999, FP15): nothing to pack
            ids = np.concatenate([header, self._global[local]], axis=1)
            return ids, np.full(n, ids.shape[1])
        body = np.where(hole, PAD, self._global[np.maximum(local, 0)])
        return pack(np.concatenate([header, body], axis=1), self.vocab.pad_id)

    def decode(self, ids: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Generated sequences -> (matrices (n, r, c) with NaN where invalid, reason codes (n,) into REASONS).

        ``ids`` (n, L) are the tokens after the start token; each row should end with ``<eos>`` (the full
        layout: what a model writes). Nothing here raises: a sequence that does not parse gets a reason code
        and a NaN matrix.
        """
        ids = np.asarray(ids, dtype=np.int64)
        n = ids.shape[0]
        r, c = shape
        k, w = r * c, self.enc.width
        reason = np.zeros(n, dtype=np.int64)
        if ids.shape[1] < 3:
            ids = np.concatenate([ids, np.full((n, 3 - ids.shape[1]), self.vocab.pad_id)], axis=1)
        is_eos = ids == self.vocab.eos_id
        has_eos = is_eos.any(1)
        end = np.where(has_eos, np.argmax(is_eos, 1), ids.shape[1])
        reason[~has_eos] = REASONS.index("no_eos")
        dim_ids = self.vocab.dim_id(np.arange(1, self.vocab.max_dim + 1))
        header_ok = np.isin(ids[:, 0], dim_ids) & np.isin(ids[:, 1], dim_ids) & (end >= 2)
        shape_ok = (ids[:, 0] == self.vocab.dim_id(r)) & (ids[:, 1] == self.vocab.dim_id(c))
        reason[(reason == 0) & ~header_ok] = REASONS.index("bad_header")
        reason[(reason == 0) & ~shape_ok] = REASONS.index("wrong_shape")
        body = ids[:, 2:]
        pos = np.arange(body.shape[1])
        in_body = pos[None, :] < (end - 2)[:, None]
        known = (body >= 0) & (body < len(self._local))  # an id past the vocabulary is a bad token, not a crash
        local = np.where(in_body & known, self._local[np.where(known, body, 0)], PAD)
        bad_tok = (in_body & (local == PAD)).any(1)
        reason[(reason == 0) & bad_tok] = REASONS.index("bad_token")
        # Cut each row into numbers at the tokens that start one.
        start = in_body & self.enc.is_start(local) & (local != PAD)
        number = np.cumsum(start, axis=1) - 1
        count = start.sum(1)
        last_start = np.maximum.accumulate(np.where(start, pos[None, :], -1), axis=1)
        offset = pos[None, :] - last_start
        orphan = (in_body & (number < 0)).any(1)
        too_long = (in_body & (offset >= w)).any(1)
        reason[(reason == 0) & ((count != k) | orphan)] = REASONS.index("wrong_count")
        reason[(reason == 0) & too_long] = REASONS.index("bad_number")
        slots = np.full((n, k, w), PAD, dtype=np.int64)
        place = in_body & (reason == 0)[:, None] & (number >= 0) & (number < k) & (offset < w)
        rows = np.broadcast_to(np.arange(n)[:, None], body.shape)
        slots[rows[place], number[place], offset[place]] = local[place]
        values, ok = self.enc.decode(slots)
        reason[(reason == 0) & ~ok.all(1)] = REASONS.index("bad_number")
        values = np.where((reason == 0)[:, None], values, np.nan)
        return values.reshape(n, r, c), reason
