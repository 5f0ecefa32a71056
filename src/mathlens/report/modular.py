"""The report of a modular-arithmetic run: grokking curves and progress measures, the summary, embedding
spectra at chosen steps, and (from `mathlens analyze RUN fourier`) the final model's 2-D Fourier maps."""

from __future__ import annotations

from ..analysis import grokking
from ..rundir import ANALYSIS
from . import grok_plots, plots
from .html import embed_png, img, table


def setting(cfg) -> list[dict]:
    m, t, o = cfg.model, cfg.train, cfg.optim
    task_opts = ", ".join(f"{k}={v}" for k, v in cfg.task.items() if k != "name")
    return [{"setting": "task", "value": f"{cfg.task['name']} ({task_opts})"},
            {"setting": "model", "value": f"decoder, {m.layers} layer(s), d {m.d_model}, {m.n_heads} heads, "
                                          f"MLP {m.d_ff or 4 * m.d_model} {m.activation}, LayerNorm "
                                          f"{'on' if m.layernorm else 'off'}, positions {m.positions}"},
            {"setting": "training", "value": f"full batch, up to {t.max_steps} steps, {o.describe()}, betas "
                                             f"({o.beta1}, {o.beta2}), warm-up {o.warmup}, seed {cfg.seed}"}]


def sections(run, metrics, plot_dir) -> list[str]:
    if not len(metrics):
        return ["<p>No metrics yet.</p>"]
    parts = []
    curves = plots.save(grok_plots.grokking_curves(metrics), plot_dir / "grokking")
    parts.append("<h2>Training</h2><p>Accuracy and loss on the train and test splits (log steps), with the "
                 "progress measures under them: FFS, FCR, Gini (of the embedding's Fourier spectrum), restricted "
                 "and excluded loss, weight norm. Definitions: <code>mathlens.measures.fourier</code>.</p>"
                 + img(curves, "grokking curves"))
    s = grokking.summary(metrics)
    rows = [{"measure": k, "value": ", ".join(map(str, v)) if isinstance(v, list) else
             ("not reached" if v is None else v)} for k, v in s.items()]
    parts.append("<h2>Summary</h2>" + table(rows, left=("measure",)))
    steps = grokking.chosen_steps(metrics)
    if steps:
        spectrum = plots.save(grok_plots.spectra(metrics, steps), plot_dir / "spectrum")
        parts.append("<h2>Embedding spectrum</h2>" + img(spectrum, "spectrum"))
        if run.task.multiplicative:
            mult = plots.save(grok_plots.spectra(metrics, steps, prefix="mult_"), plot_dir / "spectrum_mult")
            parts.append(img(mult, "spectrum in the multiplicative basis"))
    maps = run.path / ANALYSIS / "fourier"
    if (maps / "logits_2d.png").exists():
        parts.append("<h2>Inside the final model</h2><p>From <code>mathlens analyze RUN fourier</code>.</p>"
                     + embed_png(maps / "logits_2d.png", "2-D Fourier map of the logits")
                     + embed_png(maps / "neurons_2d.png", "2-D Fourier map of the neurons"))
        parts.append("<h3>Attention of the answer position to x and to y, over (x, y)</h3>"
                     + embed_png(maps / "attention.png", "attention patterns"))
    return parts
