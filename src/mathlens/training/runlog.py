"""What every training loop writes and how it stops: metrics.jsonl + TensorBoard, and Ctrl-C at a step boundary.

On resume the records written after the checkpoint are dropped (:meth:`RunLog.truncate`), so a run killed at
any moment and resumed ends with the same records as an uninterrupted one.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from ..io import append_jsonl, dumps, read_jsonl, write_text
from ..rundir import METRICS


class RunLog:
    """metrics.jsonl (one JSON record per line) and TensorBoard scalars of a run directory.

    Each record has ``kind`` (train, eval, measure) and ``step``; TensorBoard gets its numeric fields as
    ``KIND/FIELD`` against ``x_key`` (examples for streamed tasks, steps for full-batch ones).
    """

    def __init__(self, run_dir: Path, x_key: str = "examples"):
        self.path = Path(run_dir) / METRICS
        self.x_key = x_key
        self.tb = None

    def open(self, resume_at: int) -> None:
        from tensorboardX import SummaryWriter  # a second to import: only when a run starts logging

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tb = SummaryWriter(str(self.path.parent / "tb"), purge_step=resume_at or None)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def __call__(self, record: dict) -> None:
        append_jsonl(self.path, record)
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("kind", "step", "examples") and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{record['kind']}/{k}", v, record[self.x_key])

    def truncate(self, step: int) -> None:
        """Drop the records after ``step`` (the resumed run writes them again)."""
        kept = [r for r in read_jsonl(self.path) if r["step"] <= step]
        write_text(self.path, "".join(dumps(r) + "\n" for r in kept))

    def last(self, kind: str = "eval") -> dict:
        found = [r for r in read_jsonl(self.path) if r.get("kind") == kind]
        return found[-1] if found else {}


class StopAtStepBoundary:
    """SIGINT handler that asks the loop to stop after the current step instead of interrupting it mid-update.

    A second Ctrl-C stops at once.
    """

    def __init__(self):
        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
