"""`mathlens report RUN`: one self-contained HTML page (images inlined, no CDN) with the story of a run.

The page is assembled here from a family's ``setting`` rows and ``sections`` (report/matrix.py, digits.py,
modular.py); it reads what training, `mathlens eval` and `mathlens analyze` wrote and never runs a model.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Callable

from ..io import write_text
from ..rundir import ANALYSIS

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}code{font-size:90%}img{max-width:100%}
.tok{font-family:monospace;font-size:85%;text-align:left;max-width:420px;overflow-wrap:anywhere}
table.mat{margin:0}table.mat td{border:none;padding:1px 6px;font-family:monospace}
td.off{color:#c00;font-weight:bold;background:#fde}
"""


def table(rows: list[dict], left=()) -> str:
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


def img(b64: str, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def embed_png(path: Path, alt: str) -> str:
    """An analysis figure already on disk, inlined (the page stays self-contained)."""
    return img(base64.b64encode(path.read_bytes()).decode(), alt) if path.exists() else ""


def failure_section(run) -> list[str]:
    """`mathlens analyze RUN failures`, when it has been run: retained properties, predictors, figures."""
    out = run.path / ANALYSIS / "failures"
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
    return ["<h2>Why it fails</h2>" + text[0] + table(rows, left=("property",)) + "".join(text[1:])
            + embed_png(out / "eigenvalues.png", "predicted vs true eigenvalues")
            + embed_png(out / "right_vs_wrong.png", "right vs wrong histograms")
            + embed_png(out / "accuracy_by_feature.png", "accuracy by feature")]


def write_report(run, setting: Callable, sections: Callable) -> Path:
    """Write ``RUN/report.html`` for ``run`` (a Run): ``setting(cfg)`` -> rows of the Setting table,
    ``sections(run, metrics, plot_dir)`` -> the page's HTML parts (figures also as PNG and SVG in RUN/plots).
    Returns the page's path."""
    cfg = run.cfg
    plot_dir = run.path / "plots"
    plot_dir.mkdir(exist_ok=True)
    parts = [f"<h1>{html.escape(run.path.name)}</h1><p>{html.escape(cfg.description)}</p>",
             "<h2>Setting</h2>" + table(setting(cfg), left=("setting", "value"))]
    parts += sections(run, run.metrics(), plot_dir)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>mathlens: {html.escape(run.path.name)}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out = run.path / "report.html"
    write_text(out, page)
    return out
