"""`mathlens eval RUN`: a fresh seeded test set, decoded and verified; records saved as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path, write_json
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
    records = pd.DataFrame({**data, "prediction": prediction, "correct": task.verify(data, prediction),
                            "split": split})
    by_split = records.groupby("split")["correct"].mean()
    summary = {"n": len(records), "train_acc": float(by_split.get("train", np.nan)),
               "test_acc": float(by_split.get("test", np.nan))}
    out = run.path / "eval" / "all-examples.parquet"
    with atomic_path(out) as tmp:
        records.to_parquet(tmp, index=False)
    write_json(out.with_suffix(".json"), summary)
    return summary, out


def eval_run(path, size=None, seed=None, beam=1, batch_size=None):
    """Evaluate the run in ``path``; returns (summary dict, path of the records file)."""
    run = Run(path)
    cfg = run.cfg
    if run.full_batch:
        if size is not None or seed is not None or beam != 1:
            raise UserError(f"{run.path}: a {run.task.name} run is evaluated on every example; "
                            f"--size, --seed and --beam do not apply")
        return eval_full_batch(run)
    size = cfg.eval.size if size is None else size
    seed = cfg.eval.seed if seed is None else seed
    batch_size = batch_size or cfg.eval.batch_size
    for name, v, lo in (("--size", size, 1), ("--seed", seed, 0), ("--batch-size", batch_size, 1)):
        if v < lo:
            raise UserError(f"{name}: must be at least {lo}, got {v}")
    if beam != 1:
        raise UserError(f"--beam: only greedy decoding (--beam 1) is available so far, got {beam}")
    device, autocast = setup(cfg.train)
    model = run.model.to(device)
    batches = build_test_set(run.pipe.task, size, seed, batch_size)
    summary, records = evaluate(model, run.pipe, batches, device, autocast, records=True)
    summary.update(size=size, seed=seed, beam=beam)
    out = run.path / "eval" / f"test-n{size}-seed{seed}.parquet"
    with atomic_path(out) as tmp:
        records.to_parquet(tmp, index=False)
    write_json(out.with_suffix(".json"), summary)
    return summary, out


def format_summary(summary: dict) -> str:
    if "test_acc" in summary:
        return (f"{summary['n']} examples: train accuracy {summary['train_acc']:.2%}, "
                f"test accuracy {summary['test_acc']:.2%}")
    accs = [(k, v) for k, v in summary.items() if k.startswith("acc@")]
    head = "  ".join(f"{k:>9}" for k, _ in accs) + f"  {'invalid':>9}"
    row = "  ".join(f"{v:>9.2%}" for _, v in accs) + f"  {summary['invalid']:>9.2%}"
    return f"{summary['n']} test problems (seed {summary.get('seed')})\n{head}\n{row}"


def latest_summary(run: Run) -> dict | None:
    files = [f.with_suffix(".json") for f in run.eval_files()]
    files = [f for f in files if Path(f).exists()]
    return json.loads(files[-1].read_text()) if files else None
