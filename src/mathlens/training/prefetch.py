"""Generate the next training batch in a background thread while the current step runs.

On a GPU the step leaves the CPU idle, so problem generation (numpy) can run beside it; the batch is copied
into pinned host memory so that its transfer overlaps too. On the CPU the step already uses every core and a
second worker would only fight it, so ``train.overlap = auto`` keeps generation inline there.

The stream state a checkpoint stores is the one before the batch being prepared, so a resumed run draws the
same batches whether or not batches were prefetched.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch


class Prefetcher:
    """Wraps a stream (``next``, ``state``, ``restore``) and prepares one batch ahead."""

    def __init__(self, stream, pin: bool):
        self.stream, self.pin = stream, pin
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="mathlens-data")
        self.pending = None
        self.before = None  # the stream's state before the pending batch

    def _make(self):
        arrays = self.stream.next()
        return tuple(torch.from_numpy(x).pin_memory() for x in arrays) if self.pin else arrays

    def next(self):
        batch = self._make() if self.pending is None else self.pending.result()
        self.before = self.stream.state()
        self.pending = self.pool.submit(self._make)
        return batch

    def state(self) -> dict:
        return self.stream.state() if self.pending is None else self.before

    def merge(self, states: list[dict]) -> dict:
        return self.stream.merge(states)

    def restore(self, state: dict) -> None:
        self._drop()
        self.stream.restore(state)

    def _drop(self):
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def close(self):
        self._drop()
        self.pool.shutdown()


def overlapped(stream, t, device):
    """The stream, prefetched when ``train.overlap`` says so (auto: on CUDA only)."""
    on = t.overlap == "on" or (t.overlap == "auto" and device.type == "cuda")
    return Prefetcher(stream, pin=device.type == "cuda") if on else stream
