"""`mathlens eval RUN`: a fresh seeded test set, decoded and verified; records saved as Parquet."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path, write_json, write_table
from ..lock import hold
from ..run import Run
from ..training.device import setup
from ..training.stream import build_test_set
from .evaluate import evaluate


def eval_full_batch(run: Run):
    """A finite task: every example, with its split; records x, y, op, answer, prediction, correct, split."""
    import numpy as np
    import pandas as pd
    import torch

    from ..analysis.progress import logits_of

    task = run.task
    data = task.dataset()
    train_idx, _ = run.split()
    prediction = logits_of(run.model, torch.as_tensor(task.tokens(data))).argmax(-1).numpy()
    split = np.full(len(data["answer"]), "test", dtype=object)
    split[train_idx] = "train"
    correct = task.verify(data, prediction)
    records = pd.DataFrame({**data, "prediction": prediction, "correct": correct, "error": 1.0 - correct,
                            "split": split})
    for name, value in task.properties(data, prediction).items():  # for `mathlens analyze RUN failures`
        records[f"property:{name}"] = value
    by_split = records.groupby("split")["correct"].mean()
    summary = {"n": len(records), "train_acc": float(by_split.get("train", np.nan)),
               "test_acc": float(by_split.get("test", np.nan))}
    out = run.path / "eval" / f"all-examples{run.suffix}.parquet"
    with atomic_path(out) as tmp:
        records.to_parquet(tmp, index=False)
    write_json(out.with_suffix(".json"), summary)
    return summary, out


def eval_run(path, size=None, seed=None, beam=1, batch_size=None, ood=None, digits=None, checkpoint="latest"):
    """Evaluate the run in ``path``; returns (summary dict, path of the records file).

    With ``ood`` ("all" or a comma-separated list), the model is evaluated on every listed value of the task's
    out-of-distribution option (the eigenvalue distribution, or the coefficient distribution) and the
    summary is a table, one row per value (see :func:`eval_ood`). ``checkpoint``: "latest" or "best" (the
    best periodic evaluation's weights; its files end in "-best"). Holds the run's writer lock.
    """
    run = Run(path, checkpoint=checkpoint)
    with hold(run.path, "mathlens eval"):
        return _eval_run(run, size, seed, beam, batch_size, ood, digits)


def _eval_run(run, size, seed, beam, batch_size, ood, digits):
    cfg = run.cfg
    if run.full_batch:
        if size is not None or seed is not None or beam != 1 or ood:
            raise UserError(f"{run.path}: a {run.task.name} run is evaluated on every example; "
                            f"--size, --seed, --beam and --ood do not apply")
        return eval_full_batch(run)
    size = cfg.eval.size if size is None else size
    seed = cfg.eval.seed if seed is None else seed
    batch_size = batch_size or cfg.eval.batch_size
    for name, v, lo in (("--size", size, 1), ("--seed", seed, 0), ("--batch-size", batch_size, 1),
                        ("--beam", beam, 1)):
        if v < lo:
            raise UserError(f"{name}: must be at least {lo}, got {v}")
    arithmetic = run.task.pipeline == "digits"
    if arithmetic and (beam != 1 or ood):
        raise UserError(f"{run.path}: an arithmetic run is evaluated greedily by operand length; use --digits "
                        f"instead of --beam and --ood")
    if digits is not None and not arithmetic:
        raise UserError(f"--digits: {run.path} trains task {run.task.name!r}; --digits is for arithmetic runs")
    if arithmetic:
        from .digits import eval_digits_run

        return eval_digits_run(run, size, seed, batch_size, digits)
    if ood:
        return eval_ood(run, ood, size, seed, beam, batch_size)
    device, autocast = setup(cfg.train)
    model = run.model.to(device)
    batches = build_test_set(run.pipe.task, size, seed, batch_size)
    summary, records = evaluate(model, run.pipe, batches, device, autocast, records=True, beam=beam)
    summary.update(size=size, seed=seed, beam=beam, redrawn=run.pipe.task.redrawn)
    stem = f"test-n{size}-seed{seed}" + (f"-beam{beam}" if beam > 1 else "") + run.suffix
    out = run.path / "eval" / f"{stem}.parquet"
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


def eval_ood(run: Run, ood: str, size: int, seed: int, beam: int, batch_size: int):
    """One seeded test set per value of the task's OOD option, one table (csv, md, json) and one records file
    with the value in a column. Returns (summary with a 'table' of rows, path of the table)."""
    import pandas as pd

    key, values = ood_values(run.task, ood)
    device, autocast = setup(run.cfg.train)
    model = run.model.to(device)
    rows, frames = [], []
    for value in values:
        task = type(run.task)(dataclasses.replace(run.task.options, **{key: value}))
        pipe = copy.copy(run.pipe)
        pipe.task = task
        summary, records = evaluate(model, pipe, build_test_set(task, size, seed, batch_size), device, autocast,
                                    records=True, beam=beam)
        option = getattr(run.task.options, key)
        trained = value in option if isinstance(option, list) else value == option  # a mixture trains on each
        rows.append({key: value + (" (trained)" if trained else ""), **summary, "redrawn": task.redrawn})
        frames.append(records.assign(**{key: value}))
    table = pd.DataFrame(rows)
    stem = run.path / "eval" / (f"ood-{key}-n{size}-seed{seed}" + (f"-beam{beam}" if beam > 1 else "") + run.suffix)
    summary = {"ood": key, "size": size, "seed": seed, "beam": beam, "table": rows}
    return summary, write_table(stem, table, format_table(table), records=pd.concat(frames, ignore_index=True),
                                summary=summary)


def format_table(table) -> str:
    """The OOD table as markdown, accuracies in percent."""
    shown = table.copy()
    for col in shown.columns:
        if col.startswith(("acc@", "any_beam@")) or col == "invalid":
            shown[col] = shown[col].map(lambda v: f"{v:.1%}")
        elif col == "median_error":
            shown[col] = shown[col].map(lambda v: "inf" if v is None or v != v else f"{v:.3g}")
    return shown.to_markdown(index=False)


def format_summary(summary: dict) -> str:
    if "lengths" in summary:
        import pandas as pd

        from .digits import format_lengths

        return (f"{summary['size']} test problems per row (seed {summary['seed']})\n"
                + format_lengths(pd.DataFrame(summary["lengths"])))
    if "table" in summary:
        import pandas as pd

        return (f"{summary['size']} test problems per {summary['ood']} (seed {summary['seed']}, beam "
                f"{summary['beam']})\n" + format_table(pd.DataFrame(summary["table"])))
    if "test_acc" in summary:
        return (f"{summary['n']} examples: train accuracy {summary['train_acc']:.2%}, "
                f"test accuracy {summary['test_acc']:.2%}")
    accs = [(k, v) for k, v in summary.items() if k.startswith(("acc@", "any_beam@"))]
    head = "  ".join(f"{k:>9}" for k, _ in accs) + f"  {'invalid':>9}  {'median error':>12}"
    median = summary.get("median_error")
    row = "  ".join(f"{v:>9.2%}" for _, v in accs) + f"  {summary['invalid']:>9.2%}" \
        + f"  {float('inf') if median is None else median:>12.3g}"
    by_task = "".join(f"\n  {k} {v:.2%}" for k, v in summary.get("by_task", {}).items())
    return (f"{summary['n']} test problems (seed {summary.get('seed')})\n{head}\n{row}"
            + (f"\nper task, acc@{next(iter(accs))[0][4:]}:{by_task}" if by_task else ""))


def latest_summary(run: Run, ood: bool = False) -> dict | None:
    """The newest evaluation summary: a plain one, or (``ood=True``) an --ood table."""
    files = [f.with_suffix(".json") for f in reversed(run.eval_files())]
    for f in files:
        if Path(f).exists():
            summary = json.loads(Path(f).read_text())
            if ("table" in summary) == ood:
                return summary
    return None
