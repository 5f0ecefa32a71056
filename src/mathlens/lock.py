"""One writer per run directory: an advisory lock on ``RUN/.lock`` held by whatever writes into the run.

``mathlens train``, ``eval``, ``analyze``, ``report`` and ``export`` hold it while they write; a second writer
gets one line naming the holder (PID, host, command) and exit code 2. The lock is ``flock``-based, so the kernel
drops it when its process dies (even by SIGKILL): a killed run never leaves a stale lock. Readers (``load_run``,
``mathlens compare``) take no lock: every file is replaced atomically, and a torn last line of metrics.jsonl is
skipped. Within one process the lock is re-entrant (``mathlens quickstart`` trains, evaluates and reports).

>>> with hold("runs/quickstart", "notebook"):      # doctest: +SKIP
...     ...                                        # nobody else writes into runs/quickstart meanwhile
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError

LOCK = ".lock"
_held: dict[str, list] = {}  # resolved run path -> [fd, depth]: this process's locks


def acquire(run_dir, command: str | None = None, create: bool = False) -> str:
    """Take the writer lock of ``run_dir`` or raise a UserError naming its holder. ``create``: make the
    directory if it is missing (a new run); otherwise a missing directory is a UserError.

    Returns the key to pass to :func:`release`."""
    path = Path(run_dir)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.is_dir():
        raise UserError(f"{path}: not a run directory (does not exist)")
    key = str(path.resolve())
    if key in _held:
        _held[key][1] += 1
        return key
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read(fd)
        os.close(fd)
        raise UserError(f"{path}: another process is writing this run ({holder}); one writer at a time: wait "
                        f"for it to finish or stop it (a killed process releases the lock at once)") from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or " ".join(sys.argv[:3]),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _held[key] = [fd, 1]
    return key


def release(key: str | None) -> None:
    """Give back one hold of the lock (the last one unlocks); None is a no-op."""
    entry = _held.get(key) if key is not None else None
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _held[key]
        os.close(entry[0])  # closing the descriptor drops the flock


@contextmanager
def hold(run_dir, command: str | None = None, create: bool = False):
    """The writer lock of ``run_dir`` for the duration of a ``with`` block (``create``: as for :func:`acquire`)."""
    key = acquire(run_dir, command, create=create)
    try:
        yield
    finally:
        release(key)


def _read(fd: int) -> str:
    """'pid P on HOST: COMMAND, since T' from the lock file, or a plain word when it cannot be read."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {info['pid']} on {info['host']}: {info['command']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
