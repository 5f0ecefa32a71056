"""`mathlens data PRESET --n N --seed S --out FILE`: a preset's problems as a data file for any training stack.

Problems are made and written in chunks of ``chunk`` rows, each from its own seed (``seed``, chunk index), so
memory stays one chunk whatever N, and an interrupted command run again keeps the chunks already written
(``FILE.parts/``, each file written atomically) and makes only the rest; the parts are then joined into FILE
(Parquet through a streaming writer) and removed. The same (preset, overrides, N, seed, chunk) always gives
the same file. Formats: :mod:`mathlens.pipelines.datafile`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from ..config import resolve
from ..errors import UserError
from ..io import atomic_path, write_json
from ..pipelines import pipeline_for
from ..pipelines.datafile import file_format, rows_of, write_rows
from ..pipelines.stream import Stream

CHUNK = 10_000


def chunk_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, Stream.DATA_FILE, index])))


def export_data(preset: str, n: int, seed: int, out, overrides: list[str] = (), chunk: int = CHUNK,
                quiet: bool = False) -> Path:
    """Write ``n`` problems of ``preset`` (with ``overrides``) to ``out``; returns its path."""
    out = Path(out)
    fmt = file_format(out)
    if n < 1:
        raise UserError(f"--n: at least 1 problem, got {n}")
    cfg = resolve(preset, list(overrides))
    pipe = pipeline_for(cfg)
    if not hasattr(pipe, "texts"):
        raise UserError(f"{preset}: task {pipe.task.name!r} is a finite dataset (every example); `mathlens data` "
                        f"writes problems of the matrix and arithmetic tasks")
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    recipe = {"preset": preset, "overrides": list(overrides), "n": n, "seed": seed, "chunk": chunk}
    manifest = parts / "recipe.json"
    if manifest.exists() and json.loads(manifest.read_text()) != recipe:
        raise UserError(f"--out {out}: {parts} holds parts of another request ({manifest}); remove it or choose "
                        f"another --out")
    write_json(manifest, recipe)
    count = -(-n // chunk)
    names = [parts / f"part-{i:05d}{out.suffix}" for i in range(count)]
    for i in tqdm(range(count), desc=f"mathlens data {preset}", unit="chunk", disable=quiet):
        if names[i].exists():  # written whole by an earlier run of the same request
            continue
        rows = min(chunk, n - i * chunk)
        problems = pipe.task.sample(rows, chunk_rng(seed, i))
        write_rows(names[i], rows_of(problems, pipe), fmt)
    join(names, out, fmt)
    shutil.rmtree(parts)
    return out


def join(names: list[Path], out: Path, fmt: str) -> None:
    """Concatenate the part files into ``out`` atomically, one part in memory at a time."""
    with atomic_path(out) as tmp:
        if fmt == "parquet":
            writer = None
            for name in names:
                table = pq.read_table(name)
                if writer is None:
                    writer = pq.ParquetWriter(str(tmp), table.schema)
                writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)
            writer.close()
        else:
            with open(tmp, "wb") as f:
                for name in names:
                    with open(name, "rb") as part:
                        shutil.copyfileobj(part, f)

