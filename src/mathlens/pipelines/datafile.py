"""Problems in files: Parquet, JSON Lines, or LAWT/Int2Int text (``input tokens<TAB>output tokens`` per line).

A row holds the problem's numbers (one column per array of the task's problem dict: ``input`` as nested lists
for matrix tasks; ``a``, ``b``, ``answer`` for arithmetic) and, to read by eye or feed another code, the
tokens the run's model reads and writes (``input_tokens``, ``output_tokens``). Reading gives back batches of
problems, each of one shape: the numbers when the file has them (Parquet, JSON Lines), or, for a text file,
the matrices decoded from the tokens with the run's own encodings (matrix tasks with token inputs). A line that
does not parse is counted and reported with its line number; a file that is mostly unparsable is an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from ..io import atomic_path, write_text

SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl", ".txt": "text"}
TOKENS = ("input_tokens", "output_tokens")
MOSTLY_BAD = 0.5  # more than this share of unparsable lines stops the read


def file_format(path, option: str = "--out") -> str:
    """parquet, jsonl or text, from the file name's suffix."""
    fmt = SUFFIXES.get(Path(path).suffix)
    if fmt is None:
        raise UserError(f"{option} {path}: the suffix says the format; choose from {', '.join(SUFFIXES)}")
    return fmt


def rows_of(problems: dict, pipe) -> pd.DataFrame:
    """A batch of problems as rows: each array of the problem dict (per problem) and the token strings."""
    inputs, outputs = pipe.texts(problems)
    n = len(inputs)
    frame = pd.DataFrame({key: list(np.asarray(value).tolist()) for key, value in problems.items()
                          if np.ndim(value) and len(value) == n})
    frame["input_tokens"], frame["output_tokens"] = inputs, outputs
    return frame


def write_rows(path: Path, frame: pd.DataFrame, fmt: str) -> None:
    """Write ``frame`` to ``path`` atomically in format ``fmt``."""
    if fmt == "parquet":
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    elif fmt == "jsonl":
        write_text(path, "".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
    else:
        write_text(path, "".join(f"{i}\t{o}\n" for i, o in zip(frame["input_tokens"], frame["output_tokens"])))


def _records(path: Path, fmt: str) -> tuple[list[dict | None], list[tuple[int, str]]]:
    """(rows, bad lines as (line number, why)) of a Parquet or JSON Lines file; None where a line is bad."""
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001  pyarrow raises several types for a bad file
            raise UserError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:160]})") from None
        return frame.to_dict("records"), []
    rows, bad = [], []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            rows.append(row)
        except ValueError as e:
            rows.append(None)
            bad.append((i, str(e)[:80]))
    return rows, bad


def _batches(rows: list[dict], keys: list[str], batch_size: int) -> list[dict]:
    """Rows grouped by the shapes of their arrays, in batches of at most ``batch_size`` problems."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(np.shape(row[k]) for k in keys), []).append(row)
    out = []
    for group in groups.values():
        for start in range(0, len(group), batch_size):
            part = group[start : start + batch_size]
            out.append({k: np.array([np.asarray(r[k]).tolist() for r in part]) for k in keys})
    return out


def read_problems(path, pipe, batch_size: int, option: str = "data.train_file") -> list[dict]:
    """Batches of problems from a data file, for ``pipe``'s task (a UserError names what does not fit)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{option}: {path} does not exist")
    fmt = file_format(path, option)
    if fmt == "text":
        rows, bad = pipe.problems_from_text(path.read_text(errors="replace").splitlines(), option)
    else:
        rows, bad = _records(path, fmt)
    keys = pipe.problem_keys()
    good = []
    for i, row in enumerate(rows, start=1):
        if row is None:
            continue
        missing = [k for k in keys if k not in row]
        if missing:
            bad.append((i, f"no column {missing[0]!r}"))
        else:
            good.append(row)
    total = len(rows)
    if not total:
        raise UserError(f"{option}: {path} holds no problems")
    if len(bad) > MOSTLY_BAD * total:
        line, why = bad[0]
        raise UserError(f"{option}: {path}: {len(bad)} of {total} lines do not parse (first: line {line}, {why}); "
                        f"is it a {pipe.task.name} file written by `mathlens data` for this preset?")
    if bad:
        line, why = bad[0]
        print(f"mathlens: {option}: {path}: {len(bad)} of {total} lines skipped (first: line {line}, {why})",
              file=sys.stderr)
    return _batches(good, keys, batch_size)
