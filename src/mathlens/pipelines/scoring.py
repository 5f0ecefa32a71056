"""Scoring a matrix model: decode a test set, verify every prediction, keep per-sample records.

A prediction that does not decode counts as wrong, with the reason recorded (``no_eos``, ``wrong_shape``...).
As in LAWT's evaluator, a prediction whose tokens are exactly the target's is right at every tolerance (its
error is 0), whatever the check against M says (an exact inverse of an ill-conditioned M, rounded to three
digits, can miss ||M H - I|| < 0.5%).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch

from ..distributed import gather_rows, shard_rows
from ..encodings.sequence import REASONS
from ..errors import UserError
from ..models.decoding import beam_search, greedy
from .grammar import MatrixGrammar


def tol_key(tol: float) -> str:
    """Column name of the accuracy at a tolerance: 0.05 -> 'acc@5%'."""
    return f"acc@{tol * 100:g}%"


def any_key(tol: float) -> str:
    """Column name of the share of problems where some beam verifies: 0.05 -> 'any_beam@5%'."""
    return f"any_beam@{tol * 100:g}%"


def score_matrices(model, pipe, batches: list, device, autocast=contextlib.nullcontext, records: bool = False,
                   beam: int = 1, constrained: bool = False):
    """Decode (greedy, or beam search with ``beam`` > 1; ``constrained``: only well-formed matrices in the
    output encoding, :class:`~mathlens.pipelines.grammar.MatrixGrammar`) and verify ``batches`` (same-shape
    problem batches).

    Returns (summary, records): summary maps 'acc@5%'... to the share of problems correct at each tolerance
    (with beam search: the best-scoring beam), plus 'invalid' (share that did not decode) and 'n'; with beam
    search also 'any_beam@5%'... (some beam verifies). records is a DataFrame with one row per problem
    (features, error, correct@tol, reason, prediction and target tokens, 'property:NAME' errors of the task's
    retained properties and its prediction features; with beam search 'any_beam_error',
    the smallest error of any beam), or None when not asked for. For cotraining the summary also has
    'by_task': each task token's accuracy at the first tolerance. Under torchrun each rank decodes every
    world-th problem and the summary is over all of them (records then hold this rank's problems only).
    """
    task, vocab = pipe.task, pipe.vocab
    numbers = pipe.numbers  # a number head writes numbers: nothing to decode, no beam, no grammar
    if numbers and beam > 1:
        raise UserError("--beam: a number head (model.head = \"numbers\") writes its numbers at once; there is "
                        "no search to widen (use --beam 1)")
    if numbers and constrained:
        raise UserError("--constrained: a number head (model.head = \"numbers\") writes numbers, not tokens; "
                        "there is no grammar to follow")
    grammar = MatrixGrammar(vocab, pipe.enc_out, device) if constrained else None
    was_training = model.training
    model.eval()
    errors, groups, best_any, reasons, rows = [], [], [], [], []
    for problems in map(shard_rows, batches):
        if not len(next(iter(problems.values()))):
            continue
        src, tgt, *source = pipe.encode(problems)
        source = source[:-2] if pipe.check else source  # the check loss's input and shape
        src_t = torch.from_numpy(src).to(device)
        source = tuple(torch.from_numpy(x).to(device) for x in source)
        if numbers:
            with torch.inference_mode(), autocast():
                values = model(src_t, None, *source, n_out=tgt.shape[1]).float().cpu().numpy()
            n, k = len(src), 1
            pred = (values * pipe.scale).astype(np.float64).reshape(n, *task.output_shape(problems))
            reason, written = np.zeros(n, dtype=np.int64), pipe.written(pred)
            err_all = task.verify(problems, pred)[:, None]
        else:
            shape = tuple(task.output_shape(problems)) if grammar is not None else None
            with torch.inference_mode(), autocast():
                if beam == 1:
                    gen = greedy(model, src_t, pipe.max_out_len, vocab.eos_id, vocab.eos_id, source=source,
                                 grammar=grammar, shape=shape)[:, None]
                else:
                    gen, _ = beam_search(model, src_t, pipe.max_out_len, vocab.eos_id, vocab.eos_id, beam,
                                         source=source, grammar=grammar, shape=shape)
            gen = gen.cpu().numpy()  # (n, beams, L), best beam first
            n, k = gen.shape[:2]
            repeated = {key: np.repeat(v, k, axis=0) for key, v in problems.items()}
            pred, reason = pipe.decode(repeated, gen.reshape(n * k, -1))
            err_all = np.where(exact_match(gen, tgt, vocab.pad_id), 0.0, task.verify(repeated, pred).reshape(n, k))
            written = [" ".join(vocab.strings(_until_eos(g, vocab.eos_id))) for g in gen[:, 0]]
        err, reason, any_err = err_all[:, 0], reason.reshape(n, k)[:, 0], err_all.min(1)
        errors.append(err)
        groups.append(np.full(n, task.task_token(problems) or ""))
        best_any.append(any_err)
        reasons.append(reason)
        if records:
            frame = pd.DataFrame(task.features(problems))
            frame["error"] = err
            for tol in task.tolerances:
                frame[f"correct@{tol * 100:g}%"] = err < tol
            best = pred.reshape(n, k, *pred.shape[1:])[:, 0]
            for name, value in task.properties(problems, best).items():  # for `mathlens analyze RUN failures`
                frame[f"property:{name}"] = value
            frame = frame.assign(**task.prediction_features(problems, best))
            if beam > 1:
                frame["any_beam_error"] = any_err
            frame["reason"] = [REASONS[r] for r in reason]
            frame["head"] = "numbers" if numbers else "tokens"  # which head wrote it
            frame["prediction"] = written
            frame["target"] = (pipe.written(task.target_matrix(problems)) if numbers else
                               [" ".join(vocab.strings(_until_eos(t[1:], vocab.eos_id))) for t in tgt])
            rows.append(frame)
    model.train(was_training)
    err = gather_rows(errors)
    reason = gather_rows(reasons)
    summary = {tol_key(tol): float(np.mean(err < tol)) for tol in task.tolerances}
    if beam > 1:
        any_err = gather_rows(best_any)
        summary.update({any_key(tol): float(np.mean(any_err < tol)) for tol in task.tolerances})
    summary["invalid"] = float(np.mean(reason != 0))
    median = float(np.median(err))  # how close the typical answer is; None when most do not decode (inf)
    summary["median_error"] = median if np.isfinite(median) else None
    summary["n"] = int(err.size)
    group = gather_rows(groups)
    if (group != "").any():  # cotraining: the accuracy of each task at the first tolerance, e.g. {"<E>": 0.93}
        tol = task.tolerances[0]
        summary["by_task"] = {g: float(np.mean(err[group == g] < tol)) for g in sorted(set(group))}
    frame = pd.concat(rows, ignore_index=True) if records else None
    return summary, frame


def exact_match(generated: np.ndarray, tgt: np.ndarray, pad: int) -> np.ndarray:
    """(n, beams) bool: generated ids (n, beams, L) equal to the target's (tgt (n, T): start, body, eos, pad),
    end token included, so a longer or shorter answer does not match."""
    out = tgt[:, 1:]
    width = min(out.shape[1], generated.shape[2])
    same = (generated[:, :, :width] == out[:, None, :width]) | (out[:, None, :width] == pad)
    return same.all(2) & (out[:, width:] == pad).all(1)[:, None]


def _until_eos(ids, eos):
    ids = list(ids)
    return ids[: ids.index(eos)] if eos in ids else ids
