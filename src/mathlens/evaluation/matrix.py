"""Evaluation of a matrix run: a fresh seeded test set decoded (greedy or beam) and verified, per-sample records
as Parquet; with ``--ood``, one test set per value of the task's out-of-distribution option and one table."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..io import atomic_path, write_json, write_table
from ..pipelines.datafile import read_problems
from ..pipelines.scoring import score_matrices
from ..pipelines.stream import build_test_set
from ..rundir import EVAL
from ..training.device import setup
from .common import check_test_options, format_table


def eval_matrix_run(run, size=None, seed=None, beam=1, batch_size=None, ood=None, digits=None, data=None,
                    constrained=False):
    """`mathlens eval` of a matrix run; returns (summary, path of the records, or of the --ood table).
    ``data``: a data file whose problems are the test set (instead of a seeded one); ``constrained``: decoding
    writes only well-formed matrices of the output encoding (files end in -constrained)."""
    if digits is not None:
        raise UserError(f"--digits: {run.path} trains task {run.task.name!r}; --digits is for arithmetic runs")
    if data and (ood or size is not None or seed is not None):
        raise UserError("--data: the file is the test set; --size, --seed and --ood do not apply with it")
    size, seed, batch_size = check_test_options(run.cfg, size, seed, batch_size, beam)
    if ood:
        return eval_ood(run, ood, size, seed, beam, batch_size, constrained)
    device, autocast = setup(run.cfg.train)
    model = run.model.to(device)
    if data:
        batches = read_problems(data, run.pipe, batch_size, option="--data")
        size = sum(len(next(iter(b.values()))) for b in batches)
    else:
        batches = build_test_set(run.pipe.task, size, seed, batch_size)
    summary, records = score_matrices(model, run.pipe, batches, device, autocast, records=True, beam=beam,
                                      constrained=constrained)
    summary.update(size=size, seed=None if data else seed, beam=beam, constrained=constrained,
                   redrawn=run.pipe.task.redrawn)
    if data:
        summary["data"] = str(data)
    stem = (f"data-{Path(data).stem}-n{size}" if data else f"test-n{size}-seed{seed}") \
        + decoding_suffix(beam, constrained) + run.suffix
    out = run.path / EVAL / f"{stem}.parquet"
    with atomic_path(out) as tmp:
        records.to_parquet(tmp, index=False)
    write_json(out.with_suffix(".json"), summary)
    return summary, out


def ood_values(task, ood: str) -> tuple[str, list]:
    """(option name, values) that ``--ood`` asks for: 'all' or a comma-separated list of the option's values."""
    key = task.ood_option
    field = {f.name: f for f in dataclasses.fields(task.options)}[key]
    allowed = list(field.metadata["choices"])
    values = allowed if ood == "all" else [v.strip() for v in ood.split(",") if v.strip()]
    for v in values:
        if v not in allowed:
            raise UserError(f"--ood: {v!r} is not a task.{key} of {task.name}; choose from all, {', '.join(allowed)}")
    if not values:
        raise UserError(f"--ood: expected all or a comma-separated list of {', '.join(allowed)}")
    return key, values


def decoding_suffix(beam: int, constrained: bool) -> str:
    """What a result file's name says of its decoding: '-beam4', '-constrained', both, or nothing (greedy)."""
    return (f"-beam{beam}" if beam > 1 else "") + ("-constrained" if constrained else "")


def eval_ood(run, ood: str, size: int, seed: int, beam: int, batch_size: int, constrained: bool = False):
    """One seeded test set per value of the task's OOD option, one table (csv, md, json) and one records file
    with the value in a column. Returns (summary with a 'table' of rows, path of the table)."""
    key, values = ood_values(run.task, ood)
    device, autocast = setup(run.cfg.train)
    model = run.model.to(device)
    rows, frames = [], []
    for value in values:
        task = type(run.task)(dataclasses.replace(run.task.options, **{key: value}))
        pipe = copy.copy(run.pipe)
        pipe.task = task
        summary, records = score_matrices(model, pipe, build_test_set(task, size, seed, batch_size), device,
                                          autocast, records=True, beam=beam, constrained=constrained)
        option = getattr(run.task.options, key)
        trained = value in option if isinstance(option, list) else value == option  # a mixture trains on each
        rows.append({key: value + (" (trained)" if trained else ""), **summary, "redrawn": task.redrawn})
        frames.append(records.assign(**{key: value}))
    table = pd.DataFrame(rows)
    stem = run.path / EVAL / (f"ood-{key}-n{size}-seed{seed}" + decoding_suffix(beam, constrained) + run.suffix)
    summary = {"ood": key, "size": size, "seed": seed, "beam": beam, "constrained": constrained, "table": rows}
    return summary, write_table(stem, table, format_table(table), records=pd.concat(frames, ignore_index=True),
                                summary=summary)
