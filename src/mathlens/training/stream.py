"""Training batches: fresh problems for every batch (LAWT), or a fixed training set reshuffled each epoch.

Both are driven by one seeded numpy Generator whose state goes into checkpoints, so a resumed run draws the
same batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import numpy as np


def seeded_rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generators for independent purposes (training data, test sets) from one seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))


class FreshStream:
    """A new batch of problems at every step, generated and encoded in numpy."""

    def __init__(self, pipe, batch_size: int, rng: np.random.Generator):
        self.pipe, self.batch_size, self.rng = pipe, batch_size, rng

    def next(self):
        return self.pipe.encode(self.pipe.task.sample(self.batch_size, self.rng))

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


class FixedStream:
    """A fixed set of ``size`` problems (drawn once from its own seed), cut into same-shape batches.

    Each epoch shuffles the problems inside each shape bucket, cuts them into batches and shuffles the batch
    order. The checkpointed state is the RNG state at the start of the epoch plus the batch cursor.
    """

    def __init__(self, pipe, batch_size: int, size: int, data_rng, rng):
        self.pipe, self.batch_size, self.rng = pipe, batch_size, rng
        buckets: dict = {}
        left = size
        while left > 0:
            n = min(batch_size, left)
            arrays = pipe.encode(pipe.task.sample(n, data_rng))  # (src, tgt), or (tokens, mask, places)
            buckets.setdefault(tuple(x.shape[1:] for x in arrays), []).append(arrays)
            left -= n
        self.buckets = [tuple(np.concatenate(column) for column in zip(*parts)) for parts in buckets.values()]
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
        return tuple(x[idx] for x in self.buckets[b])

    def state(self) -> dict:
        return {"epoch_rng": self.epoch_state, "cursor": self.cursor}

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state["epoch_rng"]
        self._new_epoch()
        self.cursor = state["cursor"]


def make_stream(pipe, cfg):
    t = cfg.train
    rng = seeded_rng(cfg.seed, 1)
    if t.dataset_size:
        return FixedStream(pipe, t.batch_size, t.dataset_size, seeded_rng(cfg.seed, 3), rng)
    return FreshStream(pipe, t.batch_size, rng)


def build_test_set(task, size: int, seed: int, batch_size: int) -> list:
    """A seeded test set as a list of same-shape batches of problems (independent of the training stream)."""
    rng = seeded_rng(seed, 2)
    out, left = [], size
    while left > 0:
        n = min(batch_size, left)
        out.append(task.sample(n, rng))
        left -= n
    return out
