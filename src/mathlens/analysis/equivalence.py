"""Which equivalence relation explains a model's out-of-distribution arithmetic answers (docs/papers.md, part 3).

Xu et al. found that a decoder trained on 3-digit addition answers a 4-digit problem a + b with
(a mod 1000) + (b mod 1000): it maps the OOD input to an equivalent in-distribution one. :func:`explain` scores
candidate relations of that kind on any outputs (from our models or anyone's) and ranks them.

>>> import numpy as np
>>> a, b = np.array([1234, 5678]), np.array([4321, 8765])
>>> explain(a, b, (a % 1000) + (b % 1000), "add", id_digits=3).iloc[0]["relation"]
'(a mod 10^3) + (b mod 10^3)'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..encodings.digits import OP_SYMBOL
from ..errors import UserError
from ..pipelines.stream import Stream, seeded_rng
from ..tasks.arithmetic import FUNCTIONS
from .base import Analysis, Result

OPS = {op: (OP_SYMBOL[op], FUNCTIONS[op]) for op in FUNCTIONS}  # name -> (symbol, numpy function)


def candidates(a: np.ndarray, b: np.ndarray, op: str, id_digits: int) -> dict[str, np.ndarray]:
    """Candidate answers by name: the true result; the result on operands reduced mod 10^k (each operand
    alone and both), and the true result reduced mod 10^k, for k = 1 .. id_digits + 2."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    sym, f = OPS[op]
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    out = {f"a {sym} b": f(a, b)}
    for k in range(1, id_digits + 3):
        m = 10**k
        out[f"(a mod 10^{k}) {sym} (b mod 10^{k})"] = f(a % m, b % m)
        out[f"(a mod 10^{k}) {sym} b"] = f(a % m, b)
        out[f"a {sym} (b mod 10^{k})"] = f(a, b % m)
        out[f"(a {sym} b) mod 10^{k}"] = f(a, b) % m
    return out


def explain(a, b, outputs, op: str, id_digits: int, extra: dict | None = None) -> pd.DataFrame:
    """Rank candidate relations by the share of ``outputs`` they explain exactly.

    Parameters
    ----------
    a, b : (n,) integer arrays, the operands.
    outputs : (n,) the decoded answers; anything that is not an integer (NaN, None) matches nothing.
    op : 'add', 'sub' or 'mul'.
    id_digits : operand digits seen in training (the reductions tried go up to 10^(id_digits + 2)).
    extra : more candidates by name, e.g. {"model on the reduced twin": outputs_on_twins}.

    Returns
    -------
    DataFrame with columns relation, share (0..1), n; best first (ties keep the candidates' order, so the
    simplest relation of equal share comes first).
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    n = len(outputs)
    cands = {**candidates(a, b, op, id_digits), **(extra or {})}
    rows = [{"relation": name, "share": float(np.mean(outputs == np.asarray(v, dtype=np.float64))) if n else 0.0,
             "n": n} for name, v in cands.items()]
    return pd.DataFrame(rows).sort_values("share", ascending=False, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------- on a trained arithmetic run

TWIN = "model on (a mod 10^{k}, b mod 10^{k})"


def model_answers(run, a, b, device="cpu", probs: bool = False):
    """The run's decoded answers to a op b ((n,) float, NaN where invalid) and, with ``probs``, the
    per-step probabilities (n, steps, vocab). Batched by 2,000 problems."""
    pipe, f = run.pipe, OPS[run.task.options.op][1]
    values, prob = [], []
    for i in range(0, len(a), 2000):
        x, y = a[i : i + 2000], b[i : i + 2000]
        p = {"a": x, "b": y, "answer": f(x, y)}  # only the prompt is read (a reduced twin may have a < b)
        gen, pr = pipe.generate(run.model, p, device, probs=probs)
        values.append(pipe.decode(gen)[0])
        prob.append(pr)
    return np.concatenate(values), (np.concatenate(prob) if probs else None)


def equivalence_report(run, digits: int | None = None, size: int = 2000, seed: int = 1234) -> Result:
    """`mathlens analyze RUN equivalence`: which relation explains the run's answers on operands of ``digits``
    digits (default: one more than in training), with the model's own answer on the reduced twin as a candidate.

    Tables: relations. Figures: output maps over a grid of operands, the digit probabilities of one problem
    and of its twin.
    """
    task = run.task
    k = task.options.digits
    d = digits or k + 1
    problems = task.with_digits(d).sample(size, seeded_rng(seed, Stream.EQUIVALENCE))
    a, b = problems["a"], problems["b"]
    outputs, p_ood = model_answers(run, a, b, probs=True)  # the probabilities: the heatmap of problem 0
    twin, p_twin = model_answers(run, a % 10**k, b % 10**k, probs=True)
    table = explain(a, b, outputs, task.options.op, k, extra={TWIN.format(k=k): twin})
    best = table[table["relation"] != TWIN.format(k=k)].iloc[0]
    grid_a, grid_b = output_grid(d, k)
    ga, gb = np.meshgrid(grid_a, grid_b, indexing="ij")
    grid_out, _ = model_answers(run, ga.ravel(), gb.ravel())
    relation = candidates(ga.ravel(), gb.ravel(), task.options.op, k)
    maps = {"model output": grid_out, f"true: {next(iter(relation))}": next(iter(relation.values())),
            f"best: {best['relation']}": relation[best["relation"]]}
    sym = OPS[task.options.op][0]
    summary = {"digits": d, "train_digits": k, "size": size, "seed": seed, "op": task.options.op,
               "exact_accuracy": float(np.mean(outputs == problems["answer"])),
               "best_relation": best["relation"], "best_share": float(best["share"]),
               "twin_agreement": float(np.mean(outputs == twin)),
               "relations": table.head(12).to_dict("records")}
    data = {"output_maps": (grid_a, grid_b, {n: v.reshape(ga.shape) for n, v in maps.items()}),
            "twin_probabilities": ({f"{a[0]} {sym} {b[0]} (OOD)": p_ood[0, :, :10],
                                    f"{a[0] % 10**k} {sym} {b[0] % 10**k} (its twin)": p_twin[0, :, :10]},
                                   task.options.reverse)}
    return Result(summary, tables={"relations": table}, data=data)


def output_grid(digits: int, train_digits: int, points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Operand values for output maps: ``points`` values of ``digits`` digits spanning two periods of
    10^train_digits, so that a reduction mod 10^train_digits shows as a saw-tooth."""
    lo = 10 ** (digits - 1)
    values = lo + max(1, 2 * 10**train_digits // points) * np.arange(points)
    return values[values < 10**digits], values[values < 10**digits]


def ood_options(run, digits: int | None, size: int | None) -> int:
    """The out-of-distribution operand length an arithmetic analysis uses (default: one more than trained),
    after checking it and ``size``; a UserError names the option otherwise."""
    k = run.task.options.digits
    d = digits or k + 1
    if not k < d <= run.task.max_digits:
        raise UserError(f"--digits: {d} is not an out-of-distribution length this run holds; choose from "
                        f"{k + 1}..{run.task.max_digits}")
    if size is not None and size < 10:
        raise UserError(f"--size: at least 10 problems, got {size}")
    return d


def _compute(run, digits=None, size=2000, seed=1234):
    return equivalence_report(run, ood_options(run, digits, size), size, seed)


def describe(run, s: dict) -> list[str]:
    """What `mathlens analyze RUN equivalence` prints."""
    return [f"{run.path}: {s['size']} problems with {s['digits']}-digit operands (trained on up to "
            f"{run.task.options.digits}); exact accuracy {s['exact_accuracy']:.2%}",
            pd.DataFrame(s["relations"]).head(8).to_markdown(index=False, floatfmt=".4f"),
            f"best relation: {s['best_relation']} explains {s['best_share']:.2%} of the answers; the model's answer "
            f"equals its answer on the reduced twin for {s['twin_agreement']:.2%}",
            f"table, figures and summary.json: {run.path / 'analysis' / 'equivalence'}"]


ANALYSIS = Analysis("equivalence", "arithmetic: which relation explains the answers on longer operands",
                    compute=_compute, describe=describe, families=("digits",), options=("digits", "size", "seed"))
