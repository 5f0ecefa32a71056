"""Evaluation of arithmetic runs by operand length: exact and per-digit accuracy, in and out of distribution.

One test set per length (plus the training distribution, 'id'); each answer is generated greedily, decoded
and compared with the true one exactly and digit by digit (by place: units, tens...; a padded answer's
leading zeros count). An answer that does not decode (a non-digit token, no ``<eos>``) is wrong at every digit.
"""

from __future__ import annotations

import contextlib

import pandas as pd

from ..encodings.digits import digit_matches
from ..training.distributed import gather_rows, shard_rows


def set_key(name: str, key: str) -> str:
    """Metric name of a test set: ('id', 'acc') -> 'acc', ('4 digits', 'acc') -> 'acc_4d'."""
    return key if name == "id" else f"{key}_{name.split()[0]}d"


def evaluate_digits(model, pipe, tests: dict, device, autocast=contextlib.nullcontext, records: bool = False):
    """Decode and verify every test set of ``tests`` (name -> list of problem batches).

    Returns (summary, records): summary has, for each set, exact accuracy 'acc' ('acc_4d' for the 4-digit set),
    per-digit accuracy 'digit_acc' and the share of answers that did not decode 'invalid', plus 'n';
    records (or None) is one row per problem: set, operands, answer, prediction (NaN if invalid), correct,
    digit_acc, the problem's features and the generated tokens. Under torchrun each rank decodes every
    world-th problem and the summary is over all of them (records then hold this rank's problems only).
    """
    task, fmt = pipe.task, pipe.format
    summary, frames = {}, []
    for name, batches in tests.items():
        correct, digit_acc, valid_all = [], [], []
        for problems in map(shard_rows, batches):
            if not len(problems["a"]):
                continue
            with autocast():
                gen, _ = pipe.generate(model, problems, device)
            pred, valid = pipe.decode(gen)
            error = task.verify(problems, pred)  # 0 right, 1 wrong
            ok = error == 0
            match, count = digit_matches(pred, problems["answer"], fmt.answer_width or None)
            correct.append(ok)
            valid_all.append(valid)
            digit_acc.append((match & count).sum(1) / count.sum(1))  # share of this answer's digits right
            if records:
                frame = pd.DataFrame(task.features(problems))
                frame.insert(0, "set", name)
                frame["prediction"] = pred
                frame["error"] = error
                frame["correct"] = ok
                frame["digit_acc"] = digit_acc[-1]
                frame["valid"] = valid
                for prop, value in task.properties(problems, pred).items():
                    frame[f"property:{prop}"] = value
                frame["generated"] = ["".join(pipe.symbols[i] for i in row) for row in gen]
                frames.append(frame)
        correct, valid = gather_rows(correct), gather_rows(valid_all)
        summary[set_key(name, "acc")] = float(correct.mean())
        summary[set_key(name, "digit_acc")] = float(gather_rows(digit_acc).mean())
        summary[set_key(name, "invalid")] = float(1 - valid.mean())
        summary.setdefault("n", int(correct.size))
    return summary, (pd.concat(frames, ignore_index=True) if records else None)


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
    from ..errors import UserError

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


def eval_digits_run(run, size: int, seed: int, batch_size: int, digits: str | None):
    """`mathlens eval` of an arithmetic run: the training distribution and each operand length, one table.

    Writes eval/digits-nN-seedS.{parquet,csv,md,json}; returns (summary, path of the table)."""
    from ..io import write_table
    from ..training.device import setup

    pipe, task = run.pipe, run.task
    device, autocast = setup(run.cfg.train)
    tests = pipe.test_set(size, seed, batch_size, parse_digits(digits, task))
    summary, records = evaluate_digits(run.model.to(device), pipe, tests, device, autocast, records=True)
    table = length_table(records, task.options.digits)
    summary = {**summary, "size": size, "seed": seed, "lengths": table.to_dict("records")}
    stem = run.path / "eval" / f"digits-n{size}-seed{seed}{run.suffix}"
    return summary, write_table(stem, table, format_lengths(table), records=records, summary=summary)


def format_lengths(table: pd.DataFrame) -> str:
    """The by-length table as markdown, accuracies in percent."""
    shown = table.copy()
    for col in ("exact", "per_digit", "invalid"):
        shown[col] = shown[col].map(lambda v: f"{v:.2%}")
    return shown.to_markdown(index=False)
