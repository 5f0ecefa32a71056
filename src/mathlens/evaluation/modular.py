"""Evaluation of a modular-arithmetic run: every example of the finite task, with the split it belongs to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import UserError
from ..io import atomic_path, write_json
from ..pipelines.modular import logits_of
from ..rundir import EVAL


def eval_modular_run(run, size=None, seed=None, beam=1, batch_size=None, ood=None, digits=None, data=None,
                     constrained=False):
    """A finite task: every example, with its split; records x, y, op, answer, prediction, correct, split."""
    if size is not None or seed is not None or beam != 1 or ood or digits is not None or data or constrained:
        raise UserError(f"{run.path}: a {run.task.name} run is evaluated on every example; "
                        f"--size, --seed, --beam, --ood, --digits, --data and --constrained do not apply")
    task, examples = run.task, run.pipe.data
    train_idx, _ = run.pipe.split()
    prediction = logits_of(run.model, torch.as_tensor(run.pipe.tokens())).argmax(-1).numpy()
    split = np.full(len(examples["answer"]), "test", dtype=object)
    split[train_idx] = "train"
    error = task.verify(examples, prediction)
    records = pd.DataFrame({**examples, "prediction": prediction, "correct": error == 0, "error": error,
                            "split": split})
    for name, value in task.properties(examples, prediction).items():  # for `mathlens analyze RUN failures`
        records[f"property:{name}"] = value
    by_split = records.groupby("split")["correct"].mean()
    summary = {"n": len(records), "train_acc": float(by_split.get("train", np.nan)),
               "test_acc": float(by_split.get("test", np.nan))}
    out = run.path / EVAL / f"all-examples{run.suffix}.parquet"
    with atomic_path(out) as tmp:
        records.to_parquet(tmp, index=False)
    write_json(out.with_suffix(".json"), summary)
    return summary, out
