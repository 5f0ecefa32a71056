"""Evaluation: decode a test set, verify every prediction, keep per-sample records.

A prediction that does not decode counts as wrong, with the reason recorded (``no_eos``, ``wrong_shape``...).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch

from ..encodings.sequence import REASONS
from ..models.decoding import greedy


def tol_key(tol: float) -> str:
    """Column name of the accuracy at a tolerance: 0.05 -> 'acc@5%'."""
    return f"acc@{tol * 100:g}%"


def evaluate(model, pipe, batches: list, device, autocast=contextlib.nullcontext, records: bool = False):
    """Greedy-decode and verify ``batches`` (a list of same-shape problem batches).

    Returns (summary, records): summary maps 'acc@5%'... to the share of problems correct at each tolerance,
    plus 'invalid' (share that did not decode) and 'n'; records is a DataFrame with one row per problem
    (features, error, correct@tol, reason, prediction and target tokens), or None when not asked for.
    """
    task, vocab = pipe.task, pipe.vocab
    was_training = model.training
    model.eval()
    errors, reasons, rows = [], [], []
    for problems in batches:
        src, tgt = pipe.encode(problems)
        with torch.inference_mode(), autocast():
            gen = greedy(model, torch.from_numpy(src).to(device), pipe.max_out_len, vocab.eos_id, vocab.eos_id)
        gen = gen.cpu().numpy()
        pred, reason = pipe.decode(problems, gen)
        err = task.verify(problems, pred)
        errors.append(err)
        reasons.append(reason)
        if records:
            frame = pd.DataFrame(task.features(problems))
            frame["error"] = err
            for tol in task.tolerances:
                frame[f"correct@{tol * 100:g}%"] = err < tol
            frame["reason"] = [REASONS[r] for r in reason]
            frame["prediction"] = [" ".join(vocab.strings(_until_eos(g, vocab.eos_id))) for g in gen]
            frame["target"] = [" ".join(vocab.strings(_until_eos(t[1:], vocab.eos_id))) for t in tgt]
            rows.append(frame)
    model.train(was_training)
    err = np.concatenate(errors)
    reason = np.concatenate(reasons)
    summary = {tol_key(tol): float(np.mean(err < tol)) for tol in task.tolerances}
    summary["invalid"] = float(np.mean(reason != 0))
    summary["n"] = int(err.size)
    frame = pd.concat(rows, ignore_index=True) if records else None
    return summary, frame


def _until_eos(ids, eos):
    ids = list(ids)
    return ids[: ids.index(eos)] if eos in ids else ids
