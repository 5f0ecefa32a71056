"""Evaluation of arithmetic runs by operand length: exact and per-digit accuracy, in and out of distribution.

One test set per length (plus the training distribution, 'id'); each answer is generated greedily, decoded
and compared with the true one exactly and digit by digit (by place: units, tens...; a padded answer's
leading zeros count). An answer that does not decode (a non-digit token, no ``<eos>``) is wrong at every digit.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..io import write_table
from ..pipelines.datafile import read_problems
from ..pipelines.digits import evaluate_digits
from ..rundir import EVAL
from ..training.device import setup
from .common import check_test_options, format_lengths


def length_table(records: pd.DataFrame, train_digits: int) -> pd.DataFrame:
    """One row per test set: operand digits, in distribution or not, exact and per-digit accuracy, invalid, n."""
    rows = []
    for name, part in records.groupby("set", sort=False):
        digits = f"0-{train_digits}" if name == "id" else name.split()[0]
        ood = name != "id" and int(digits) > train_digits
        rows.append({"operands": f"{digits} digits", "distribution": "OOD" if ood else "ID",
                     "exact": part["correct"].mean(), "per_digit": part["digit_acc"].mean(),
                     "invalid": 1 - part["valid"].mean(), "n": len(part)})
    return pd.DataFrame(rows)


def parse_digits(text: str | None, task) -> list[int]:
    """``--digits 4,5`` -> [4, 5] (default: the task's eval lengths); each must fit the run's format."""
    if text is None:
        return list(task.eval_digits)
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--digits: expected comma-separated operand lengths like 4,5; got {text!r}") from None
    longest = task.max_digits
    for d in values:
        if not 1 <= d <= longest:
            raise UserError(f"--digits: {d} is outside 1..{longest}, the operand lengths this run's format and "
                            f"position table hold (task.width, task.eval_digits)")
    if not values:
        raise UserError("--digits: expected at least one operand length, e.g. 4,5")
    return values


def eval_digits_run(run, size=None, seed=None, beam=1, batch_size=None, ood=None, digits: str | None = None,
                    data=None, constrained=False):
    """`mathlens eval` of an arithmetic run: the training distribution and each operand length, one table
    (``data``: the problems of a data file instead, one row).

    Writes eval/digits-nN-seedS.{parquet,csv,md,json}; returns (summary, path of the table)."""
    if beam != 1 or ood or constrained:
        raise UserError(f"{run.path}: an arithmetic run is evaluated greedily by operand length; use --digits "
                        f"instead of --beam, --ood and --constrained")
    if data and (digits or size is not None or seed is not None):
        raise UserError("--data: the file is the test set; --size, --seed and --digits do not apply with it")
    size, seed, batch_size = check_test_options(run.cfg, size, seed, batch_size, beam)
    pipe, task = run.pipe, run.task
    device, autocast = setup(run.cfg.train)
    if data:
        tests = {"id": read_problems(data, pipe, batch_size, option="--data")}
        size, seed = sum(len(b["a"]) for b in tests["id"]), None
    else:
        tests = pipe.test_set(size, seed, batch_size, parse_digits(digits, task))
    summary, records = evaluate_digits(run.model.to(device), pipe, tests, device, autocast, records=True)
    table = length_table(records, task.options.digits)
    if data:
        table["operands"] = f"file {Path(data).name}"
        table["distribution"] = "file"
    summary = {**summary, "size": size, "seed": seed, "lengths": table.to_dict("records"),
               **({"data": str(data)} if data else {})}
    stem = run.path / EVAL / (f"data-{Path(data).stem}-n{size}{run.suffix}" if data else
                                f"digits-n{size}-seed{seed}{run.suffix}")
    return summary, write_table(stem, table, format_lengths(table), records=records, summary=summary)
