"""Safe writes: a file is either its old self or its complete new self, never half written.

Files are created with the permissions a plain ``open()`` would give under the user's umask (a team's shared
directory stays readable), synced, renamed into place, and the directory entry is synced too, so a crash right
after a save cannot lose the rename. JSON is written strictly: a NaN or an infinity becomes ``null``, so that
jq and strict parsers read every file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    If the body or the sync fails (a full disk: OSError ENOSPC), the temporary file is removed and ``path``
    keeps its old content; the error propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600 (and a writer may re-create the file): give it open()'s permissions
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        sync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sync_dir(directory: Path) -> None:
    """fsync a directory, so that a rename inside it survives a crash (a no-op where it is not supported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def finite(obj):
    """``obj`` with every NaN or infinite float (also numpy's) replaced by None, recursively: strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy and torch scalars
        return finite(obj.item())
    return obj


def dumps(obj, **kw) -> str:
    """Strict JSON (NaN and infinities as null)."""
    return json.dumps(finite(obj), allow_nan=False, **kw)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path: Path, obj) -> None:
    write_text(path, dumps(obj, indent=2) + "\n")


def write_table(stem: Path, table, markdown: str | None = None, floatfmt: str = ".4g", records=None,
                summary: dict | None = None) -> Path:
    """A table as ``stem.csv`` and ``stem.md`` (``markdown``, or the table's own with ``floatfmt``); also
    ``records`` (a DataFrame) as ``stem.parquet`` and ``summary`` as ``stem.json`` when given. Every file is
    written atomically. Returns the markdown file's path."""
    stem = Path(stem)
    write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
    write_text(stem.with_suffix(".md"), (markdown if markdown is not None
                                         else table.to_markdown(index=False, floatfmt=floatfmt)) + "\n")
    if records is not None:
        with atomic_path(stem.with_suffix(".parquet")) as tmp:
            records.to_parquet(tmp, index=False)
    if summary is not None:
        write_json(stem.with_suffix(".json"), summary)
    return stem.with_suffix(".md")


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file; torn, empty or garbage lines (a killed writer, a hand edit) are skipped,
    and so is anything that is not a JSON object."""
    out = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_bytes().decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(dumps(record) + "\n")
        f.flush()
