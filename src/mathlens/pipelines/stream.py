"""Training batches: fresh problems for every batch (LAWT), or a fixed training set reshuffled each epoch.

Both are driven by seeded numpy Generators whose states go into checkpoints, so a resumed run draws the same
batches an uninterrupted run would have drawn. Under torchrun each rank makes only its part of every batch:
fresh batches are the concatenation of ``train.data_streams`` independently seeded streams, dealt out to the
ranks (stream s to rank s mod world); a fixed set's batch is cut by rows. One process with the same streams
therefore trains on exactly the batches of N ranks, and a run can resume on another number of ranks.
"""

from __future__ import annotations

import numpy as np

from ..distributed import rank_and_world
from ..errors import UserError
from .datafile import read_problems


class Stream:
    """:func:`seeded_rng`'s stream numbers, one per purpose, so that one seed gives independent generators.
    The numbers are part of what a seed means: changing one changes every run's data."""

    TRAIN = 1  # training batches (stream_rng), a fixed training set's epochs
    TEST = 2  # test sets
    TRAINING_SET = 3  # a fixed training set, two-set training's repeated set
    DATA_FILE = 4  # `mathlens data` files (interop/data.py)
    REPEATED = 5  # two-set training: which repeated rows
    EQUIVALENCE = 5  # `analyze equivalence`'s problems (a run's analysis, never its training: 5 reused)
    HIDDEN = 6  # `analyze hidden`'s problems
    SPLIT = 7  # a modular task's train/test split


def seeded_rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generators for independent purposes (training data, test sets) from one seed; ``stream``:
    one of :class:`Stream`."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))


def stream_rng(seed: int, s: int) -> np.random.Generator:
    """Generator of training stream ``s`` (stream 0 is the single-process stream of every earlier run)."""
    if s == 0:
        return seeded_rng(seed, Stream.TRAIN)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, Stream.TRAIN, s])))


def concat_batches(parts: list[tuple], fills: tuple) -> tuple:
    """Row-concatenate encoded batches, right-padding shorter sequences with each array's fill value."""
    if len(parts) == 1:
        return parts[0]
    out = []
    for column, fill in zip(zip(*parts), fills):
        width = max(x.shape[1] for x in column)
        out.append(np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=fill)
                                   for x in column]))
    return tuple(out)


def split_evenly(n: int, parts: int) -> list[int]:
    """``n`` rows as ``parts`` near-equal sizes, the larger first: split_evenly(10, 3) == [4, 3, 3]."""
    return [n // parts + (s < n % parts) for s in range(parts)]


class FreshStream:
    """A new batch of problems at every step, generated and encoded in numpy.

    The batch of ``batch_size`` rows is made of ``streams`` parts of near-equal size, part s drawn from
    :func:`stream_rng` (seed, s); this rank makes the parts s with s mod world == rank.
    """

    def __init__(self, pipe, batch_size: int, seed: int, streams: int = 1):
        rank, world = rank_and_world()
        if world > streams:
            raise UserError(f"train.data_streams: this run's batches come from {streams} stream(s), fewer than its "
                            f"{world} ranks; start a run with train.data_streams >= {world} to use them all")
        if batch_size < streams:
            raise UserError(f"train.data_streams: {streams} streams cannot share a batch of {batch_size}; "
                            f"use at most train.batch_size streams")
        self.pipe, self.streams = pipe, streams
        self.mine = list(range(rank, streams, world))
        self.sizes = split_evenly(batch_size, streams)
        self.rngs = {s: stream_rng(seed, s) for s in self.mine}

    def next(self, n: int | None = None):
        """The next batch: ``batch_size`` rows, or ``n`` (two-set training's fresh rows, the same n on every
        rank), shared between the streams in the same way."""
        sizes = self.sizes if n is None else split_evenly(n, self.streams)
        parts = [self.pipe.encode(self.pipe.task.sample(sizes[s], self.rngs[s])) for s in self.mine if sizes[s]]
        return concat_batches(parts, self.pipe.fills) if parts else None

    def state(self) -> dict:
        """This rank's streams' generator states (:meth:`merge` joins those of all ranks for a checkpoint)."""
        return {s: rng.bit_generator.state for s, rng in self.rngs.items()}

    def merge(self, states: list[dict]) -> dict:
        """The checkpoint form of every rank's :meth:`state`."""
        merged = {}
        for part in states:
            merged.update(part)
        if self.streams == 1:
            return {"rng": merged[0]}
        return {"streams": [merged[s] for s in range(self.streams)]}

    def restore(self, state: dict) -> None:
        states = [state["rng"]] if "rng" in state else state["streams"]
        if len(states) != self.streams:
            raise UserError(f"train.data_streams: the checkpoint holds {len(states)} streams, not {self.streams}")
        for s, rng in self.rngs.items():
            rng.bit_generator.state = states[s]


def streams_in(state: dict) -> int | None:
    """Fresh streams a checkpoint's stream state holds (None for a fixed training set)."""
    if "fresh" in state:  # two-set training
        return streams_in(state["fresh"]) if state["fresh"] else None
    if "rng" in state:
        return 1
    return len(state["streams"]) if "streams" in state else None


def encode_buckets(pipe, problems: list) -> list[tuple]:
    """Batches of problems -> their encoded arrays, joined by shape: one tuple of arrays per shape."""
    buckets: dict = {}
    for batch in problems:
        arrays = pipe.encode(batch)  # (src, tgt[, place, multiplier]), or (tokens, mask, places)
        buckets.setdefault(tuple(x.shape[1:] for x in arrays), []).append(arrays)
    return [tuple(np.concatenate(column) for column in zip(*parts)) for parts in buckets.values()]


class TwoSetStream:
    """Two-set training (Charton & Kempe, arXiv 2410.07041): each example of a batch is drawn from a fixed set of
    problems with probability ``frac`` (uniformly, with replacement: the model sees them again and again), and
    is fresh (:class:`FreshStream`) otherwise; so the number of repeated rows of a batch is Binomial(batch_size,
    frac), and their share over the run is ``frac`` whatever the batch size. Under torchrun every rank draws the
    same count and takes every world-th repeated row.

    The repeated set is :func:`training_set` (drawn once from its own seed); a batch's repeated rows come from
    one shape bucket, picked in proportion to its size (one bucket unless the task mixes sizes).
    """

    def __init__(self, pipe, batch_size: int, seed: int, streams: int, problems: list, frac: float):
        self.pipe, self.batch_size, self.frac = pipe, batch_size, frac
        self.fresh = FreshStream(pipe, batch_size, seed, streams) if frac < 1 else None
        self.buckets = encode_buckets(pipe, problems)
        sizes = np.array([len(b[0]) for b in self.buckets], dtype=np.float64)
        self.weights = sizes / sizes.sum()
        self.rng = seeded_rng(seed, Stream.REPEATED)

    def next(self):
        count = int(self.rng.binomial(self.batch_size, self.frac))  # rows from the repeated set
        b = self.rng.choice(len(self.buckets), p=self.weights) if len(self.buckets) > 1 else 0
        idx = self.rng.integers(0, len(self.buckets[b][0]), count)
        rank, world = rank_and_world()
        repeated = tuple(x[idx[rank::world]] for x in self.buckets[b])
        fresh = None if self.fresh is None else self.fresh.next(self.batch_size - count)
        if fresh is None or not len(repeated[0]):
            return repeated if fresh is None else fresh
        return concat_batches([fresh, repeated], self.pipe.fills)

    def state(self) -> dict:
        return {"fresh": None if self.fresh is None else self.fresh.state(), "repeat_rng": self.rng.bit_generator.state}

    def merge(self, states: list[dict]) -> dict:
        fresh = None if self.fresh is None else self.fresh.merge([s["fresh"] for s in states])
        return {"fresh": fresh, "repeat_rng": states[0]["repeat_rng"]}  # every rank draws the same rows

    def restore(self, state: dict) -> None:
        if self.fresh is not None:
            self.fresh.restore(state["fresh"])
        self.rng.bit_generator.state = state["repeat_rng"]


class FixedStream:
    """A fixed set of problems (:func:`training_set`: drawn once from its own seed), cut into same-shape batches.

    Each epoch shuffles the problems inside each shape bucket, cuts them into batches and shuffles the batch
    order. The checkpointed state is the RNG state at the start of the epoch plus the batch cursor. Every rank
    holds the whole set and the same plan, and takes every world-th row of each batch.
    """

    def __init__(self, pipe, batch_size: int, problems: list, rng):
        self.pipe, self.batch_size, self.rng = pipe, batch_size, rng
        self.buckets = encode_buckets(pipe, problems)
        self._new_epoch()

    def _new_epoch(self):
        self.epoch_state = self.rng.bit_generator.state
        self.plan = []
        for b, arrays in enumerate(self.buckets):
            perm = self.rng.permutation(len(arrays[0]))
            self.plan += [(b, perm[i : i + self.batch_size]) for i in range(0, len(perm), self.batch_size)]
        order = self.rng.permutation(len(self.plan))
        self.plan = [self.plan[i] for i in order]
        self.cursor = 0

    def next(self):
        if self.cursor >= len(self.plan):
            self._new_epoch()
        b, idx = self.plan[self.cursor]
        self.cursor += 1
        rank, world = rank_and_world()
        return tuple(x[idx[rank::world]] for x in self.buckets[b])

    def state(self) -> dict:
        return {"epoch_rng": self.epoch_state, "cursor": self.cursor}

    def merge(self, states: list[dict]) -> dict:
        return states[0]  # every rank follows the same plan

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state["epoch_rng"]
        self._new_epoch()
        self.cursor = state["cursor"]


def make_stream(pipe, cfg, streams: int | None = None):
    """The run's training stream; ``streams``: the fresh stream's number of parts (default: train.data_streams,
    or one per rank when that is 0). A resumed run passes the number its checkpoint holds."""
    t = cfg.train
    if t.dataset_size or cfg.data.train_file:
        return FixedStream(pipe, t.batch_size, training_set(pipe, cfg), seeded_rng(cfg.seed, Stream.TRAIN))
    streams = streams or t.data_streams or rank_and_world()[1]
    if t.repeat_size:
        return TwoSetStream(pipe, t.batch_size, cfg.seed, streams, training_set(pipe, cfg), t.repeat_frac)
    return FreshStream(pipe, t.batch_size, cfg.seed, streams)


def training_set(pipe, cfg) -> list:
    """The fixed training set of a run: the problems of ``data.train_file``, or ``train.dataset_size`` problems
    (or two-set training's repeated set, ``train.repeat_size``) drawn from their own seed (the same every time,
    so a test set can leave them out); [] for a run on fresh problems only."""
    if cfg.data.train_file:
        return read_problems(cfg.data.train_file, pipe, cfg.train.batch_size)
    size = cfg.train.dataset_size or cfg.train.repeat_size
    return _draw(pipe.task, size, cfg.train.batch_size, seeded_rng(cfg.seed, Stream.TRAINING_SET)) if size else []


MAX_DRAWS = 100  # per test problem: fresh draws a test set may spend finding problems it does not hold yet


def build_test_set(task, size: int, seed: int, batch_size: int, exclude: np.ndarray | None = None) -> list:
    """A seeded test set as a list of same-shape batches of problems (independent of the training stream).

    Problems with keys (``task.keys``: discrete problems, arithmetic's operand pairs) are distinct, drawn without
    replacement: one drawn again is re-drawn, so that a small space (10^4 pairs of 2-digit operands) gives no
    problem twice. ``exclude``: keys of problems the test set must not contain either, e.g. a fixed training
    set, so an in-distribution accuracy is measured on problems never trained on. A test set larger than what
    the distribution holds (less ``exclude``) is refused in one line.
    """
    rng = seeded_rng(seed, Stream.TEST)
    batches = _draw(task, size, batch_size, rng)
    if task.keys(batches[0]) is None:  # drawn from a continuum: never the same problem twice
        return batches
    taken = set() if exclude is None else set(np.asarray(exclude).tolist())
    budget = MAX_DRAWS * size
    for batch in batches:
        again = _taken(task.keys(batch), taken)
        while again.any():  # redraw exactly the repeated problems (none: the same test set as with replacement)
            budget -= int(again.sum())
            if budget < 0:
                also = " and none of the training set (train.dataset_size)" if exclude is not None else ""
                raise UserError(f"task: {task.name}'s test distribution holds fewer than {size} distinct problems"
                                f"{also}; lower the test set's size (--size, train.eval_size) or widen the task")
            fresh = task.sample(int(again.sum()), rng)
            for key in batch:
                batch[key][again] = fresh[key]
            still = _taken(task.keys(fresh), taken)
            again[np.flatnonzero(again)[~still]] = False
    return batches


def _taken(keys: np.ndarray, taken: set) -> np.ndarray:
    """(n,) bool: which keys are in ``taken`` or repeat an earlier one of ``keys``; the others join ``taken``."""
    out = np.zeros(len(keys), dtype=bool)
    for i, k in enumerate(keys.tolist()):
        if k in taken:
            out[i] = True
        else:
            taken.add(k)
    return out


def _draw(task, size: int, batch_size: int, rng) -> list:
    out, left = [], size
    while left > 0:
        n = min(batch_size, left)
        out.append(task.sample(n, rng))
        left -= n
    return out
