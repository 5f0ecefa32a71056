"""The report of an arithmetic run: exact accuracy over training, accuracy by operand length, and (from
`mathlens analyze`) the relation that explains its out-of-distribution answers and its hidden states."""

from __future__ import annotations

import html
import json

from ..evaluation.common import latest_summary
from ..rundir import ANALYSIS
from . import plots
from .html import embed_png, failure_section, img, table


def setting(cfg) -> list[dict]:
    m, t, o = cfg.model, cfg.train, cfg.optim
    task_opts = ", ".join(f"{k}={v}" for k, v in cfg.task.items() if k != "name")
    return [{"setting": "task", "value": f"{cfg.task['name']} ({task_opts})"},
            {"setting": "model", "value": f"decoder, {m.layers} layer(s), d {m.d_model}, {m.n_heads} heads, "
                                          f"dropout {m.dropout}, positions {m.positions}"},
            {"setting": "training", "value": f"{t.max_examples} examples, batch {t.batch_size}, "
                                             f"{t.dataset_size or 'fresh'} training problems, {o.describe()} "
                                             f"({o.schedule}), seed {cfg.seed}"}]


def sections(run, metrics, plot_dir) -> list[str]:
    parts = []
    if len(metrics):
        curves = plots.save(plots.training_curves(metrics), plot_dir / "training_curves")
        parts.append("<h2>Training</h2><p>Exact accuracy on the periodic test sets: the training distribution and "
                     "each longer operand length.</p>" + img(curves, "training curves"))
    summary = latest_summary(run.path)
    if summary and "lengths" in summary:
        parts.append(f"<h2>Accuracy by operand length</h2><p>mathlens eval, {summary['size']} problems per row, "
                     f"seed {summary['seed']}; per digit: share of answer places right.</p>"
                     + table(summary["lengths"], left=("operands", "distribution")))
    eq = run.path / ANALYSIS / "equivalence"
    if (eq / "summary.json").exists():
        s = json.loads((eq / "summary.json").read_text())
        parts.append(f"<h2>Which relation explains the OOD answers</h2><p>mathlens analyze equivalence: "
                     f"{s['size']} problems with {s['digits']}-digit operands; best relation "
                     f"<code>{html.escape(s['best_relation'])}</code> explains {s['best_share']:.2%}.</p>"
                     + table(s["relations"][:6], left=("relation",))
                     + embed_png(eq / "output_maps.png", "output maps")
                     + embed_png(eq / "twin_probabilities.png", "digit probabilities, OOD input and twin"))
    hid = run.path / ANALYSIS / "hidden"
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
                     + table(rows, left=("measure", "value")) + embed_png(hid / "pca.png", "PCA"))
    if summary and "lengths" in summary:
        records = run.records()
        wrong = records[~records["correct"]].head(8)[["set", "a", "b", "answer", "prediction", "digit_acc"]]
        parts.append("<h2>Wrong answers</h2>" + table(wrong.to_dict("records"), left=("set",)))
    return parts + failure_section(run)
