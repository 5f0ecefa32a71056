"""Run-level analyses of modular-arithmetic runs: the grokking summary, activations over the (x, y) grid, and
``mathlens analyze RUN fourier``.

>>> run = load_run("runs/add-p97")                 # doctest: +SKIP
>>> summary(run.metrics())["steps_to_test_99"]     # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..measures import fourier
from ..measures.progress import measure
from ..models.cache import capture
from ..pipelines.modular import positions, token_ids
from ..rundir import of_kind
from .base import Analysis, Result


def _first_step(evals: pd.DataFrame, col: str, level: float, at: str = "step"):
    """The ``at`` column (step, or training seconds "time") of the first evaluation with ``col`` >= ``level``."""
    hit = evals[evals[col] >= level] if col in evals else evals.iloc[0:0]
    if not len(hit) or at not in hit:
        return None
    value = hit[at].iloc[0]
    return int(value) if at == "step" else round(float(value), 2)


def summary(metrics: pd.DataFrame, levels: tuple[float, ...] = (0.99,)) -> dict:
    """Steps to train and test accuracy >= each of ``levels`` (None: not reached; keys such as
    ``steps_to_test_99``), final accuracies and measures."""
    if "kind" not in metrics:
        return {}
    evals, measures = of_kind(metrics, "eval"), of_kind(metrics, "measure")
    out = {"steps": int(evals["step"].iloc[-1]) if len(evals) else 0}
    for level in levels:
        pct = round(level * 100)
        out.update({f"steps_to_train_{pct}": _first_step(evals, "train_acc", level),
                    f"steps_to_test_{pct}": _first_step(evals, "test_acc", level),
                    f"seconds_to_test_{pct}": _first_step(evals, "test_acc", level, at="time")})
    if len(evals):
        last = evals.iloc[-1]
        out.update(train_acc=float(last["train_acc"]), test_acc=float(last["test_acc"]),
                   train_time_s=float(last["time"]))
    if len(measures):
        last = measures.iloc[-1]
        for k in ("ffs", "fcr", "gini", "key_freqs", "restricted_loss", "excluded_loss", "weight_norm",
                  "mult_ffs", "mult_fcr", "mult_key_freqs"):
            v = last.get(k)
            if isinstance(v, list):
                out[k] = v
            elif v is not None and not math.isnan(v):
                out[k] = float(v)
        if isinstance(last.get("alpha"), list):  # cosine bias (Furuta et al.: multiplication is cos-biased)
            a2, b2 = np.sum(np.square(last["alpha"])), np.sum(np.square(last["beta"]))
            out["cos_share"] = float(a2 / (a2 + b2))
    return out


@torch.inference_mode()
def grid_activations(model, task, op: int = 0) -> dict[str, np.ndarray]:
    """For every (x, y) with operation ``op``: logits (p, p, p), MLP neurons at the last position
    (p, p, d_ff) and the last position's attention pattern (p, p, heads, 3) to x, op and y, in that order
    whatever the task's token layout."""
    p = task.p
    x, y = np.divmod(np.arange(p * p), p)
    tokens = torch.as_tensor(token_ids(task, {"x": x, "y": y, "op": np.full_like(x, op)}))
    neurons, pattern = "blocks.0.mlp.hook_post", "blocks.0.attn.hook_pattern"
    keys = [positions(task).index(part) for part in ("x", "op", "y")]
    with capture(model, [neurons, pattern]) as seen:
        logits = model.eval()(tokens, last_only=True)
    return {"logits": logits.reshape(p, p, -1).numpy(),
            "neurons": seen[neurons].reshape(p, p, -1).numpy(),
            "pattern": seen[pattern][:, :, -1, keys].reshape(p, p, *seen[pattern].shape[1:2], -1).numpy()}


def chosen_steps(metrics: pd.DataFrame, level: float = 0.99) -> dict[str, int]:
    """Moments worth a spectrum: start, train >= level, test >= level, end (the first measured step at or
    after each moment)."""
    measured = metrics.loc[metrics["kind"] == "measure", "step"].to_numpy() if "kind" in metrics else []
    if not len(measured):
        return {}
    s = summary(metrics, (level,))
    wanted = {"start": 0, f"train {level:.0%}": s.get(f"steps_to_train_{round(level * 100)}"),
              f"test {level:.0%}": s.get(f"steps_to_test_{round(level * 100)}"), "end": int(measured[-1])}
    return {name: int(measured[min(np.searchsorted(measured, step), len(measured) - 1)])
            for name, step in wanted.items() if step is not None}


def model_maps(model, task) -> dict:
    """What the figures of a model's insides show, over the (x, y) grid: the 2-D Fourier transforms of the
    logits and of the MLP neurons (with the basis labels), and the answer position's attention pattern."""
    acts = grid_activations(model, task)
    _, labels = fourier.fourier_basis(task.p)
    return {"logits_2d": fourier.fourier_2d(acts["logits"], task.p),
            "neurons_2d": fourier.fourier_2d(acts["neurons"], task.p), "labels": labels,
            "pattern": acts["pattern"]}


def analyze_fourier(run) -> Result:
    """Measures of the final model and the measures over training (figures: progress curves, spectra at the
    chosen steps, 2-D Fourier maps of logits and neurons, attention)."""
    task, model = run.task, run.model
    train_idx, _ = run.pipe.split()
    final = measure(model, task, run.pipe.data, train_idx)
    metrics = run.metrics()
    result = {"run": str(run.path), "p": task.p, "formula": task.options.formula,
              **summary(metrics), "final": {k: v for k, v in final.items() if k not in ("alpha", "beta",
                                                                                       "mult_alpha", "mult_beta")}}
    return Result(result, data={"metrics": metrics, "steps": chosen_steps(metrics),
                                "multiplicative": task.multiplicative, "maps": model_maps(model, task)})


def describe(run, result: dict) -> list[str]:
    """What `mathlens analyze RUN fourier` prints."""
    final = result["final"]
    lines = [f"{run.path}: (x op y) mod {result['p']}, formula {result['formula']}"]
    for k in ("steps", "steps_to_train_99", "steps_to_test_99", "train_acc", "test_acc"):
        v = result.get(k)
        lines.append(f"  {k:<22} {'not reached' if v is None else (f'{v:.4f}' if isinstance(v, float) else v)}")
    lines.append(f"  final model (eps {final['eps']}):")
    lines += [f"    {k:<20} {f'{v:.4g}' if isinstance(v, float) else v}" for k, v in final.items() if k != "eps"]
    lines.append(f"figures and summary.json: {run.path / 'analysis' / 'fourier'}")
    return lines


ANALYSIS = Analysis("fourier", "modular arithmetic: spectra, key frequencies, FFS/FCR, 2-D maps, attention",
                    compute=analyze_fourier, describe=describe, families=("modular",))
