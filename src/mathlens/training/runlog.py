"""What every training loop writes and how it stops: metrics.jsonl + TensorBoard, and Ctrl-C at a step boundary.

On resume the records written after the checkpoint are dropped (:meth:`RunLog.truncate`), so a run killed at
any moment and resumed ends with the same records as an uninterrupted one.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
from pathlib import Path

from ..errors import UserError
from ..io import append_jsonl, dumps, read_jsonl, write_json, write_text
from ..rundir import METRICS, WANDB_ID


def scalars(record: dict) -> dict:
    """The numeric fields of a record as ``KIND/FIELD`` -> value (what TensorBoard and wandb plot)."""
    return {f"{record['kind']}/{k}": v for k, v in record.items()
            if k not in ("kind", "step", "examples") and isinstance(v, (int, float)) and not isinstance(v, bool)}


class RunLog:
    """metrics.jsonl (one JSON record per line) and TensorBoard scalars of a run directory, and Weights & Biases
    when ``train.wandb`` is set.

    Each record has ``kind`` (train, eval, measure) and ``step``; TensorBoard gets its numeric fields as
    ``KIND/FIELD`` against ``x_key`` (examples for streamed tasks, steps for full-batch ones); wandb the same
    fields with ``x_key`` beside them.
    """

    def __init__(self, run_dir: Path, x_key: str = "examples", cfg=None):
        self.path = Path(run_dir) / METRICS
        self.x_key = x_key
        self.cfg = cfg
        self.tb = self.wandb = None

    def open(self, resume_at: int) -> None:
        from tensorboardX import SummaryWriter  # a second to import: only when a run starts logging

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tb = SummaryWriter(str(self.path.parent / "tb"), purge_step=resume_at or None)
        if self.cfg is not None and self.cfg.train.wandb:
            self.wandb = open_wandb(self.path.parent, self.cfg, self.x_key)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None

    def __call__(self, record: dict) -> None:
        append_jsonl(self.path, record)
        values = scalars(record)
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, record[self.x_key])
        if self.wandb is not None:
            self.wandb.log({self.x_key: record[self.x_key], **values})

    def truncate(self, step: int) -> None:
        """Drop the records after ``step`` (the resumed run writes them again)."""
        kept = [r for r in read_jsonl(self.path) if r["step"] <= step]
        write_text(self.path, "".join(dumps(r) + "\n" for r in kept))

    def last(self, kind: str = "eval") -> dict:
        found = [r for r in read_jsonl(self.path) if r.get("kind") == kind]
        return found[-1] if found else {}


def open_wandb(run_dir: Path, cfg, x_key: str):
    """The run's wandb run, started or (its id kept in RUN/wandb.json) resumed; files under RUN/wandb."""
    try:
        import wandb  # optional: the wandb extra
    except ImportError:
        raise UserError("train.wandb: wandb is not installed; pip install 'mathlens[wandb]'") from None
    id_file = run_dir / WANDB_ID
    run_id = json.loads(id_file.read_text())["id"] if id_file.exists() else secrets.token_hex(4)  # wandb-style id
    write_json(id_file, {"id": run_id})
    (run_dir / "wandb").mkdir(exist_ok=True)
    t = cfg.train
    run = wandb.init(project=t.wandb_project, name=t.wandb_name or run_dir.name, id=run_id, resume="allow",
                     dir=str(run_dir), mode=t.wandb_mode, config=cfg.to_dict())
    run.define_metric("*", step_metric=x_key)
    return run


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
