"""`mathlens report RUN`: one self-contained HTML page (images inlined, no CDN) with the story of a run."""

from __future__ import annotations

import html
from pathlib import Path

from ..evaluation.run_eval import latest_summary
from ..io import write_text
from ..run import Run, of_kind
from . import plots

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}code{font-size:90%}img{max-width:100%}
.tok{font-family:monospace;font-size:85%;text-align:left;max-width:420px;overflow-wrap:anywhere}
"""


def _table(rows: list[dict], left=()) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th class={'l' if c in left else ''}>{html.escape(c)}</th>" for c in cols)
    body = ""
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            shares = ("acc", "any_beam", "invalid", "exact", "per_digit", "share")  # shown in percent
            text = f"{v:.2%}" if isinstance(v, float) and c.startswith(shares) else (
                f"{v:.4g}" if isinstance(v, float) else str(v))
            cls = "tok" if c in ("prediction", "target") else ("l" if c in left else "")
            cells.append(f"<td class='{cls}'>{html.escape(text)}</td>")
        body += "<tr>" + "".join(cells) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(b64: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def _setting(cfg, full_batch: bool) -> list[dict]:
    task_opts = ", ".join(f"{k}={v}" for k, v in cfg.task.items() if k != "name")
    m, t, o = cfg.model, cfg.train, cfg.optim
    rows = [{"setting": "task", "value": f"{cfg.task['name']} ({task_opts})"}]
    if m.arch == "decoder" and not full_batch:
        rows += [{"setting": "model", "value": f"decoder, {m.layers} layer(s), d {m.d_model}, {m.n_heads} heads, "
                                               f"dropout {m.dropout}, positions {m.positions}"},
                 {"setting": "training", "value": f"{t.max_examples} examples, batch {t.batch_size}, "
                                                  f"{t.dataset_size or 'fresh'} training problems, AdamW lr {o.lr} "
                                                  f"({o.schedule}), wd {o.weight_decay}, seed {cfg.seed}"}]
    elif full_batch:
        rows += [{"setting": "model", "value": f"decoder, {m.layers} layer(s), d {m.d_model}, {m.n_heads} heads, "
                                               f"MLP {m.d_ff or 4 * m.d_model} {m.activation}, LayerNorm "
                                               f"{'on' if m.layernorm else 'off'}, positions {m.positions}"},
                 {"setting": "training", "value": f"full batch, up to {t.max_steps} steps, AdamW lr {o.lr}, wd "
                                                  f"{o.weight_decay}, betas ({o.beta1}, {o.beta2}), warm-up "
                                                  f"{o.warmup}, grokfast {o.grokfast}, seed {cfg.seed}"}]
    else:
        rows += [{"setting": "encoding", "value": f"{cfg.encoding.input} -> {cfg.encoding.output}"},
                 {"setting": "model", "value": f"{m.arch} {m.enc_layers}+{m.dec_layers} layers, d {m.d_model}, "
                                               f"{m.n_heads} heads, dropout {m.dropout}"},
                 {"setting": "training", "value": f"{t.max_examples} examples, batch {t.batch_size}, lr {o.lr} "
                                                  f"({o.schedule}, warm-up {o.warmup}), seed {cfg.seed}"}]
    return rows


def _grokking_sections(run, metrics, plot_dir) -> list[str]:
    from ..analysis import grokking
    from . import grok_plots

    parts = []
    if not len(metrics):
        return ["<p>No metrics yet.</p>"]
    img = plots.save(grok_plots.grokking_curves(metrics), plot_dir / "grokking")
    parts.append("<h2>Training</h2><p>Accuracy and loss on the train and test splits (log steps), with the "
                 "progress measures under them: FFS, FCR, Gini (of the embedding's Fourier spectrum), restricted "
                 "and excluded loss, weight norm. Definitions: <code>mathlens.analysis.fourier</code>.</p>"
                 + _img(img, "grokking curves"))
    s = grokking.summary(metrics)
    rows = [{"measure": k, "value": ", ".join(map(str, v)) if isinstance(v, list) else
             ("not reached" if v is None else v)} for k, v in s.items()]
    parts.append("<h2>Summary</h2>" + _table(rows, left=("measure",)))
    steps = grokking.chosen_steps(metrics)
    if steps:
        img = plots.save(grok_plots.spectra(metrics, steps), plot_dir / "spectrum")
        parts.append("<h2>Embedding spectrum</h2>" + _img(img, "spectrum"))
        if run.task.multiplicative:
            img = plots.save(grok_plots.spectra(metrics, steps, prefix="mult_"), plot_dir / "spectrum_mult")
            parts.append(_img(img, "spectrum in the multiplicative basis"))
    from ..training.trainer import CHECKPOINT

    if (run.path / CHECKPOINT).exists():
        figs = {k: plots.save(fig, plot_dir / k) for k, fig in grokking.model_figures(run.model, run.task).items()}
        parts.append("<h2>Inside the final model</h2>" + _img(figs["logits_2d"], "2-D Fourier map of the logits")
                     + _img(figs["neurons_2d"], "2-D Fourier map of the neurons"))
        parts.append("<h3>Attention of the answer position to x and to y, over (x, y)</h3>"
                     + _img(figs["attention"], "attention patterns"))
    return parts


def _matrix_sections(run, metrics, plot_dir) -> list[str]:
    parts = []
    if len(metrics):
        img = plots.save(plots.training_curves(metrics), plot_dir / "training_curves")
        parts.append("<h2>Training</h2>" + _img(img, "training curves"))
        train = of_kind(metrics, "train")
        if len(train):
            parts.append(f"<p>{int(train['examples'].iloc[-1])} examples in {train['time'].iloc[-1]:.0f} s of "
                         f"training; median throughput {train['examples_per_s'].median():.0f} examples/s.</p>")

    summary = latest_summary(run)
    if summary is None and len(of_kind(metrics, "eval")):
        summary = of_kind(metrics, "eval").iloc[-1].dropna().to_dict()
        summary["source"] = "last periodic evaluation"
    if summary:
        acc = {k: v for k, v in summary.items() if k.startswith("acc@") or k == "invalid"}
        acc = {"test problems": int(summary["n"]), **acc}
        source = summary.get("source", f"mathlens eval, seed {summary.get('seed')}")
        parts.append(f"<h2>Accuracy</h2><p>{html.escape(source)}; a prediction is correct when its error is "
                     f"below the tolerance.</p>" + _table([acc]))

    ood = latest_summary(run, ood=True)
    if ood:
        parts.append(f"<h2>Out of distribution</h2><p>The model on other {html.escape(ood['ood'])} values "
                     f"(mathlens eval --ood; {ood['size']} problems each, seed {ood['seed']}).</p>"
                     + _table(ood["table"], left=(ood["ood"],)))

    if run.eval_files():
        records = run.records()
        img = plots.save(plots.error_histogram(records, run.pipe.task.tolerances), plot_dir / "errors")
        parts.append(_img(img, "error histogram"))
        col = "correct@5%"
        show = ["error", "reason", "target", "prediction"]
        right = records[records[col]].head(5)[show]
        wrong = records[~records[col]].head(5)[show]
        parts.append("<h2>Examples</h2><h3>Right (at 5%)</h3>" + _table(right.to_dict("records"), left=("reason",)))
        parts.append("<h3>Wrong (at 5%)</h3>" + _table(wrong.to_dict("records"), left=("reason",)))
    return parts + _failure_section(run)


def _embed_png(path: Path, alt: str) -> str:
    """An analysis figure already on disk, inlined (the page stays self-contained)."""
    import base64

    return _img(base64.b64encode(path.read_bytes()).decode(), alt) if path.exists() else ""


def _failure_section(run) -> list[str]:
    """`mathlens analyze RUN failures`, when it has been run: retained properties, predictors, figures."""
    import json

    out = run.path / "analysis" / "failures"
    if not (out / "summary.json").exists():
        return []
    s = json.loads((out / "summary.json").read_text())
    rows = [{k: (f"{v:.2%}" if isinstance(v, float) and v == v else ("" if isinstance(v, float) else v))
             for k, v in r.items()} for r in s["retained"]]
    text = [f"<p>mathlens analyze failures, on {s['records']} evaluation records: the share of all predictions "
            f"and of the wrong ones (all@tol, wrong@tol) that keep each property of the solution.</p>"]
    p = s["predictor"]
    for name in ("logistic", "boosting"):
        if name in p:
            m = p[name]
            text.append(f"<p>Failure predictor ({name}, fitted on half the records, scored on the other half): "
                        f"accuracy {m['accuracy']:.1%} against {p['majority']:.1%} for the majority class, AUC "
                        f"{m['auc']:.3f}; most telling features: {html.escape(', '.join(m['top_features']))}.</p>")
    t = s["threshold"]
    if t.get("feature"):
        text.append(f"<p>Best single threshold: right when <code>{html.escape(t['feature'])}</code> is "
                    f"{t['right_when']} {t['threshold']:.4g} ({t['right_on_their_side']:.1%} of right and "
                    f"{t['wrong_on_their_side']:.1%} of wrong predictions on their side).</p>")
    return ["<h2>Why it fails</h2>" + text[0] + _table(rows, left=("property",)) + "".join(text[1:])
            + _embed_png(out / "eigenvalues.png", "predicted vs true eigenvalues")
            + _embed_png(out / "right_vs_wrong.png", "right vs wrong histograms")
            + _embed_png(out / "accuracy_by_feature.png", "accuracy by feature")]


def _arithmetic_sections(run, metrics, plot_dir) -> list[str]:
    import json

    parts = []
    if len(metrics):
        img = plots.save(plots.training_curves(metrics), plot_dir / "training_curves")
        parts.append("<h2>Training</h2><p>Exact accuracy on the periodic test sets: the training distribution and "
                     "each longer operand length.</p>" + _img(img, "training curves"))
    summary = latest_summary(run)
    if summary and "lengths" in summary:
        parts.append(f"<h2>Accuracy by operand length</h2><p>mathlens eval, {summary['size']} problems per row, "
                     f"seed {summary['seed']}; per digit: share of answer places right.</p>"
                     + _table(summary["lengths"], left=("operands", "distribution")))
    eq = run.path / "analysis" / "equivalence"
    if (eq / "summary.json").exists():
        s = json.loads((eq / "summary.json").read_text())
        parts.append(f"<h2>Which relation explains the OOD answers</h2><p>mathlens analyze equivalence: "
                     f"{s['size']} problems with {s['digits']}-digit operands; best relation "
                     f"<code>{html.escape(s['best_relation'])}</code> explains {s['best_share']:.2%}.</p>"
                     + _table(s["relations"][:6], left=("relation",))
                     + _embed_png(eq / "output_maps.png", "output maps")
                     + _embed_png(eq / "twin_probabilities.png", "digit probabilities, OOD input and twin"))
    hid = run.path / "analysis" / "hidden"
    if (hid / "summary.json").exists():
        s = json.loads((hid / "summary.json").read_text())
        rows = [{"measure": "PCA, top 4 components", "value": f"{s['pca_top4_explained']:.1%} of variance"},
                {"measure": "last digit, nearest centroid on top 3 PCs",
                 "value": f"{s['last_digit_probe']['nearest_centroid_pca3']:.1%}"},
                {"measure": "units carry, linear probe", "value": f"{s['carry_probe']['linear']:.1%}"},
                {"measure": f"{s['ood_digits']}-digit input to its reduced twin (median relative distance)",
                 "value": f"{s['twin_distance_median']:.3f}"},
                {"measure": "... to a random in-distribution input", "value": f"{s['random_distance_median']:.3f}"}]
        parts.append(f"<h2>Hidden states</h2><p>mathlens analyze hidden, at {html.escape(s['hook'])}.</p>"
                     + _table(rows, left=("measure", "value")) + _embed_png(hid / "pca.png", "PCA"))
    if summary and "lengths" in summary:
        records = run.records()
        wrong = records[~records["correct"]].head(8)[["set", "a", "b", "answer", "prediction", "digit_acc"]]
        parts.append("<h2>Wrong answers</h2>" + _table(wrong.to_dict("records"), left=("set",)))
    return parts + _failure_section(run)


def write_report(path) -> Path:
    """Write ``RUN/report.html`` (figures also as PNG and SVG in ``RUN/plots``); returns its path."""
    run = Run(path)
    cfg = run.cfg
    metrics = run.metrics()
    plot_dir = run.path / "plots"
    plot_dir.mkdir(exist_ok=True)
    parts = [f"<h1>{html.escape(run.path.name)}</h1><p>{html.escape(cfg.description)}</p>",
             "<h2>Setting</h2>" + _table(_setting(cfg, run.full_batch), left=("setting", "value"))]
    sections = (_grokking_sections if run.full_batch else
                _arithmetic_sections if run.task.pipeline == "digits" else _matrix_sections)
    parts += sections(run, metrics, plot_dir)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>mathlens: {html.escape(run.path.name)}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out = run.path / "report.html"
    write_text(out, page)
    return out
