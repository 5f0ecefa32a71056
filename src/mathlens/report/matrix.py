"""The report of a matrix run: training curves, accuracy at each tolerance, the OOD table, the error histogram,
examples (decoded matrices side by side, the entries that are off marked) and the failure analysis."""

from __future__ import annotations

import html

import numpy as np

from ..evaluation.common import latest_summary
from ..rundir import of_kind
from . import plots
from .html import failure_section, img, table

TOL = 0.05  # the examples' tolerance: right or wrong at 5%, an entry marked when off by more than 5%


def setting(cfg) -> list[dict]:
    m, t, o = cfg.model, cfg.train, cfg.optim
    task_opts = ", ".join(f"{k}={v}" for k, v in cfg.task.items() if k != "name")
    return [{"setting": "task", "value": f"{cfg.task['name']} ({task_opts})"},
            {"setting": "encoding", "value": f"{'rows' if m.reader == 'rows' else cfg.encoding.input} -> "
                                             f"{'numbers' if m.head == 'numbers' else cfg.encoding.output}"},
            {"setting": "model", "value": f"{m.arch} {m.enc_layers}+{m.dec_layers} layers, d {m.d_model}, "
                                          f"{m.n_heads} heads, dropout {m.dropout}"},
            {"setting": "training", "value": f"{t.max_examples} examples, batch {t.batch_size}, {o.describe()} "
                                             f"({o.schedule}, warm-up {o.warmup}), seed {cfg.seed}"}]


def sections(run, metrics, plot_dir) -> list[str]:
    parts = []
    if len(metrics):
        curves = plots.save(plots.training_curves(metrics), plot_dir / "training_curves")
        parts.append("<h2>Training</h2>" + img(curves, "training curves"))
        train = of_kind(metrics, "train")
        if len(train):
            parts.append(f"<p>{int(train['examples'].iloc[-1])} examples in {train['time'].iloc[-1]:.0f} s of "
                         f"training; median throughput {train['examples_per_s'].median():.0f} examples/s.</p>")

    summary = latest_summary(run.path)
    if summary is None and len(of_kind(metrics, "eval")):
        summary = of_kind(metrics, "eval").iloc[-1].dropna().to_dict()
        summary["source"] = "last periodic evaluation"
    if summary:
        acc = {k: v for k, v in summary.items() if k.startswith("acc@") or k == "invalid"}
        acc = {"test problems": int(summary["n"]), **acc}
        source = summary.get("source", f"mathlens eval, seed {summary.get('seed')}")
        parts.append(f"<h2>Accuracy</h2><p>{html.escape(source)}; a prediction is correct when its error is "
                     f"below the tolerance.</p>" + table([acc]))

    ood = latest_summary(run.path, ood=True)
    if ood:
        parts.append(f"<h2>Out of distribution</h2><p>The model on other {html.escape(ood['ood'])} values "
                     f"(mathlens eval --ood; {ood['size']} problems each, seed {ood['seed']}).</p>"
                     + table(ood["table"], left=(ood["ood"],)))

    if run.eval_files():
        records = run.records()
        errors = plots.save(plots.error_histogram(records, run.pipe.task.tolerances), plot_dir / "errors")
        parts.append(img(errors, "error histogram"))
        parts.append(examples(run, records))
    return parts + failure_section(run)


def matrix_html(m: np.ndarray | None, off: np.ndarray | None = None, text: str = "") -> str:
    """A small matrix as an HTML table; entries where ``off`` is True are marked (red, bold). A matrix that did
    not decode shows its tokens (``text``)."""
    if m is None:
        return f"<i>does not decode</i><div class='tok'>{html.escape(str(text))}</div>"
    cells = "".join("<tr>" + "".join(
        f"<td class='{'off' if off is not None and off[i, j] else ''}'>{m[i, j]:.3g}</td>" for j in range(m.shape[1]))
        + "</tr>" for i in range(m.shape[0]))
    return f"<table class='mat'>{cells}</table>"


def off_entries(pred: np.ndarray, true: np.ndarray, tol: float = TOL) -> np.ndarray | None:
    """Entries of ``pred`` off from ``true`` by more than ``tol`` of the target's largest entry (None when the
    shapes differ: the whole prediction is off).

    >>> off_entries(np.array([[10.0, 2.0]]), np.array([[10.2, 3.0]])).tolist()
    [[False, True]]
    """
    if pred.shape != true.shape:
        return None
    return ~(np.abs(pred - true) <= tol * np.abs(true).max(initial=1e-12))


def examples(run, records, n: int = 5) -> str:
    """Right and wrong predictions at 5% (the first ``n`` of each): target and prediction decoded into matrices
    side by side, the predicted entries that are off marked."""
    col = f"correct@{TOL * 100:g}%"
    parts = ["<h2>Examples</h2><p>Target and prediction decoded; a predicted entry is marked when it is off by "
             f"more than {TOL:.0%} of the target's largest entry. Tasks whose check is against the input "
             "(eigenvectors, inversion) can be right with marked entries: an eigenvector's sign is free.</p>"]
    for title, rows in (("Right", records[records[col]].head(n)), ("Wrong", records[~records[col]].head(n))):
        if not len(rows):
            continue
        targets = run.pipe.decode_text(rows["target"])
        preds = run.pipe.decode_text(rows["prediction"])
        body = ""
        for (_, r), t, p in zip(rows.iterrows(), targets, preds):
            off = None if p is None or t is None else off_entries(p, t)
            shape_off = p is not None and t is not None and off is None
            body += (f"<tr><td>{r['error']:.3g}</td><td class='l'>{html.escape(str(r['reason']))}</td>"
                     f"<td>{matrix_html(t)}</td><td>{'<i>wrong shape</i>' if shape_off else ''}"
                     f"{matrix_html(p, off, r['prediction'])}</td></tr>")
        parts.append(f"<h3>{title} (at {TOL:.0%})</h3><table><tr><th>error</th><th class='l'>reason</th>"
                     f"<th>target</th><th>prediction</th></tr>{body}</table>")
    return "".join(parts)
