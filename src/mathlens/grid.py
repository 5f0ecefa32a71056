"""`mathlens grid PRESET --vary KEY=V1,V2,...`: one run per value, then one comparison table.

Each point is an ordinary run directory (``GRID/NN_value``). ``--launcher local`` trains them one after the
other in this process; ``--launcher slurm`` submits one job per unfinished point through submitit (its logs
in ``GRID/submitit``) and waits for them; ``submitit-local`` does the same with submitit's local executor
(subprocesses on this machine, the CPU threads split between them). Re-running the command skips finished
points and resumes unfinished ones; the table (``GRID/comparison.csv`` and ``.md``) is written once every
point is done.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from .api import prepare_run, toml_value, train, training
from .config import load_preset, parse_override
from .errors import UserError
from .families import family_of
from .io import write_table
from .run import Run
from .rundir import LATEST
from .tasks import task_class
from .training.checkpoint import read_meta


def grid_values(preset: str, vary: str) -> tuple[str, list]:
    """(key, values) of ``--vary KEY=V1,V2`` (values as TOML: numbers stay numbers); ``KEY=all`` takes the
    task's list for that option (e.g. every operation of the modular task)."""
    if "=" not in vary:
        raise UserError(f"--vary {vary!r}: expected KEY=V1,V2,... or KEY=all, e.g. task.formula=all")
    key, raw = (part.strip() for part in vary.split("=", 1))
    if raw == "all":
        task_name = load_preset(preset).get("task", {}).get("name", "")
        option = key.removeprefix("task.")
        values = task_class(task_name).grid_values.get(option) if key.startswith("task.") else None
        if not values:
            raise UserError(f"--vary {key}=all: no list of values is known for {key}; give them, e.g. {key}=a,b")
        return key, list(values)
    values = [parse_override(f"{key}={v}")[1] for v in raw.split(",") if v.strip()]
    if not values:
        raise UserError(f"--vary {vary!r}: no values given")
    return key, values


def point_done(run_dir: Path) -> bool:
    """True when the point's checkpoint says its training is complete."""
    path = Path(run_dir) / LATEST
    return path.exists() and bool(read_meta(path).get("done"))


def parse_slurm_option(item: str) -> tuple[str, object]:
    """``--slurm partition=gpu`` -> ('slurm_partition', 'gpu'); submitit's own names (timeout_min,
    gpus_per_node, cpus_per_task, mem_gb, nodes) pass as they are."""
    if "=" not in item:
        raise UserError(f"--slurm {item!r}: expected KEY=VALUE, e.g. partition=gpu or timeout_min=720")
    key, value = parse_override(item)
    generic = {"timeout_min", "gpus_per_node", "cpus_per_task", "mem_gb", "nodes", "tasks_per_node", "name"}
    return (key if key in generic else f"slurm_{key}"), value


def train_point(preset: str, out: str, overrides: list[str]) -> str:
    """One grid point as a job: ``mathlens.train`` in the job's process (submitit pickles this call)."""
    return str(train(preset, out, overrides=overrides).path)


def submit_points(jobs: list[tuple], grid_dir: Path, launcher: str, options: dict) -> None:
    """Run (preset, run directory, overrides) points as submitit jobs and wait for all of them."""
    try:
        import submitit  # optional: the cluster extra
    except ImportError:
        raise UserError(f"--launcher {launcher}: submitit is not installed; pip install 'mathlens[cluster]'") from None
    folder = grid_dir / "submitit"
    if launcher == "slurm":
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    else:
        executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(**{"timeout_min": 24 * 60, **options})
    submitted = [executor.submit(train_point, *job) for job in jobs]
    for job, (_, out, _) in zip(submitted, jobs):
        try:
            job.result()
        except Exception as e:  # the job's own error, with where its log is
            raise UserError(f"grid point {out} failed ({str(e).strip().splitlines()[-1][:200]}); "
                            f"log: {folder}") from None


def point_name(i: int, value) -> str:
    slug = re.sub(r"[^A-Za-z0-9+\-^.]+", "_", str(value)).strip("_") or "value"
    return f"{i:02d}_{slug}"


def point_row(run_dir: Path, key: str, value) -> dict:
    """One line of the comparison table from a run directory (its family says which figures)."""
    run = Run(run_dir)
    return {key: value, **family_of(run).grid_row(run.metrics())}


def write_grid_table(grid_dir: Path, rows: list[dict]) -> str:
    """Write comparison.csv and comparison.md; returns the markdown."""
    table = pd.DataFrame(rows)
    for col in [c for c in table.columns if c.startswith("steps") or c == "examples"]:
        table[col] = table[col].astype("Int64")  # whole numbers; an empty cell where never reached
    markdown = table.to_markdown(index=False, floatfmt=".3g")
    write_table(grid_dir / "comparison", table, markdown)
    return markdown


def run_grid(preset: str, vary: str | None, sets: list[str], out: str | None, launcher: str, slurm: dict,
             quiet: bool, seeds: int = 0) -> tuple[str, Path]:
    """`mathlens grid`: every point validated first, then trained here one after the other (``local``) or
    submitted through submitit; with ``seeds`` = N each value runs with seeds 0..N-1 (GRID/NN_value/seedS) and
    a second table gives each value's median and range over its seeds. Without ``vary`` the grid is the preset
    (with ``sets``) over its seeds (GRID/seedS; the tables' first column is the preset). A re-run trains only the
    points that are missing or unfinished. Returns (the tables as markdown, the grid directory)."""
    if seeds < 0:
        raise UserError(f"--seeds: {seeds}; give N >= 1 (seeds 0..N-1), or leave it out")
    if vary is None and not seeds:
        raise UserError("grid: give --vary KEY=V1,V2,... (one run per value), --seeds N (one run per seed), or both")
    key, values = grid_values(preset, vary) if vary is not None else ("preset", [preset])
    grid_dir = Path(out or Path("runs") / f"grid-{Path(preset).name}")
    points, jobs = [], []
    plan = [(i, value, s) for i, value in enumerate(values) for s in (range(seeds) if seeds else [None])]
    for n, (i, value, seed) in enumerate(plan):
        overrides = [*sets] + ([f"{key}={toml_value(value)}"] if vary is not None else [])
        overrides += [] if seed is None else [f"seed={seed}"]
        where = grid_dir / point_name(i, value) if vary is not None else grid_dir
        where = where / f"seed{seed}" if seed is not None else where
        cfg, run_dir, _ = prepare_run(preset, overrides, str(where))
        points.append((run_dir, value, seed))
        if launcher == "local":
            with training(cfg, run_dir, quiet) as trainer:
                if not trainer.done:
                    label = f"{key}={value}" + ("" if seed is None else f", seed {seed}")
                    print(f"[{n + 1}/{len(plan)}] {label}: training in {run_dir}", flush=True)
                    trainer.run()
        elif not point_done(run_dir):
            jobs.append((preset, str(run_dir), overrides))
    if jobs:
        if launcher == "submitit-local":  # jobs share this machine's cores: never oversubscribe them
            threads = max(1, len(os.sched_getaffinity(0)) // len(jobs))
            jobs = [(p, o, [*s, f"train.threads={threads}"]) for p, o, s in jobs]
        print(f"{len(jobs)} point(s) submitted through submitit ({launcher}); waiting", flush=True)
        submit_points(jobs, grid_dir, launcher, slurm)
    rows = [{**point_row(run_dir, key, value), **({} if seed is None else {"seed": seed})}
            for run_dir, value, seed in points]
    markdown = write_grid_table(grid_dir, rows)
    if seeds:
        markdown += "\n\nover seeds (median, min-max):\n" + write_seed_table(grid_dir, pd.DataFrame(rows), key)
    return markdown, grid_dir


def seed_summary(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per value over its seeds: the number of seeds, for each "..._to_..." column the share of seeds
    that got there, and for every numeric column its median, min and max (seeds that never got there left out)."""
    rows = []
    for value, part in table.groupby(key, sort=False):
        row = {key: value, "seeds": len(part)}
        for col in part.columns:
            if col in (key, "seed"):
                continue
            numbers = pd.to_numeric(part[col], errors="coerce")
            if "_to_" in col:
                row[f"{col} reached"] = float(numbers.notna().mean())
            if numbers.notna().any() and part[col].dtype != bool:
                row.update({f"{col} median": numbers.median(), f"{col} min": numbers.min(),
                            f"{col} max": numbers.max()})
        rows.append(row)
    return pd.DataFrame(rows)


def write_seed_table(grid_dir: Path, table: pd.DataFrame, key: str) -> str:
    """seeds.csv (every statistic) and seeds.md (median (min-max) of the main columns); returns the markdown."""
    summary = seed_summary(table, key)
    shown = summary[[key, "seeds"]].copy()
    for col in [c[: -len(" median")] for c in summary.columns if c.endswith(" median")]:
        if col.startswith(("steps_to", "seconds_to", "examples", "test_acc", "acc")):
            shown[col] = [f"{m:.4g} ({lo:.4g}-{hi:.4g})" if m == m else "" for m, lo, hi in
                          zip(summary[f"{col} median"], summary[f"{col} min"], summary[f"{col} max"])]
            if f"{col} reached" in summary:
                shown[f"{col} reached"] = summary[f"{col} reached"].map(lambda v: f"{v:.0%}")
    markdown = shown.to_markdown(index=False)
    write_table(grid_dir / "seeds", summary, markdown)
    return markdown
