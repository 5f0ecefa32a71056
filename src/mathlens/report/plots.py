"""Figures of a run, drawn with matplotlib (Agg: no display needed)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_path  # noqa: E402
from ..rundir import of_kind  # noqa: E402


def training_curves(metrics: pd.DataFrame):
    """Loss, accuracy at each tolerance and throughput against training examples, one row of three panels."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    train, evals = of_kind(metrics, "train"), of_kind(metrics, "eval")
    ax = axes[0]
    if len(train):
        ax.plot(train["examples"], train["loss"], label="train loss")
        ax.set_yscale("log")
    ax.set(title="Training loss", xlabel="examples", ylabel="cross-entropy")
    ax = axes[1]
    for col in [c for c in evals.columns if c.startswith("acc")]:  # acc@5%... (matrices), acc, acc_4d... (arithmetic)
        label = f"test {col[4:]}" if col.startswith("acc@") else {"acc": "test, in distribution"}.get(
            col, f"test, {col[4:-1]}-digit operands")
        ax.plot(evals["examples"], evals[col], marker="o", ms=3, label=label)
    if len(train):
        ax.plot(train["examples"], train["seq_acc"], color="grey", alpha=0.5, lw=1, label="train (teacher-forced)")
    ax.set(title="Accuracy", xlabel="examples", ylabel="share correct", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    if len(train):
        ax.plot(train["examples"], train["examples_per_s"])
    ax.set(title="Throughput", xlabel="examples", ylabel="training examples / s")
    ax.set_ylim(bottom=0)
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def error_histogram(records: pd.DataFrame, tolerances):
    """Distribution of the verification error (log scale), with the tolerances marked."""
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    err = records["error"].to_numpy()
    finite = err[np.isfinite(err) & (err > 0)]
    if finite.size:
        bins = np.logspace(np.log10(max(finite.min(), 1e-6)), np.log10(finite.max()) + 1e-9, 50)
        ax.hist(finite, bins=bins)
        ax.set_xscale("log")
    for tol in tolerances:
        ax.axvline(tol, color="red", lw=0.8, ls="--")
    ax.set(title=f"Error per problem ({np.sum(~np.isfinite(err))} undecodable not shown)",
           xlabel="relative error", ylabel="problems")
    return fig


def save(fig, path_stem) -> str:
    """Save as PNG and SVG; returns the PNG as base64 for embedding (the page works offline)."""
    for ext in ("png", "svg"):
        with atomic_path(f"{path_stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=100)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def output_maps(a_values, b_values, maps: dict):
    """Arithmetic: one panel per map (name -> (len(a), len(b)) answers) over the operand grid, each with its own
    colour scale (the shapes are compared: a model that reduces its operands draws a saw-tooth where the true
    answer is a smooth ramp). Answers that did not decode (NaN) are left white."""
    fig, axes = plt.subplots(1, len(maps), figsize=(4.4 * len(maps), 4), constrained_layout=True, squeeze=False)
    extent = (b_values[0], b_values[-1], a_values[-1], a_values[0])
    for ax, (name, values) in zip(axes[0], maps.items()):
        im = ax.imshow(values, extent=extent, cmap="viridis", aspect="auto")
        ax.set(title=name, xlabel="b", ylabel="a")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def digit_probabilities(panels: dict, reversed_answer: bool = True):
    """Arithmetic: for each input (name -> (answer steps, 10) probabilities), the probability of every digit at
    every step of the greedy answer, side by side (an OOD input next to its reduced twin)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), constrained_layout=True,
                             squeeze=False)
    for ax, (name, prob) in zip(axes[0], panels.items()):
        im = ax.imshow(prob, vmin=0, vmax=1, cmap="magma", aspect="auto")
        steps = range(prob.shape[0])
        ax.set_yticks(list(steps), [f"10^{i}" if reversed_answer else f"step {i}" for i in steps])
        ax.set_xticks(range(prob.shape[1]))
        ax.set(title=name, xlabel="digit", ylabel="answer place" if reversed_answer else "answer step")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="probability")
    return fig


def pca_scatter(points, colour, explained, title: str):
    """Hidden states on their first two principal components, coloured by a digit (0..9)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5), constrained_layout=True)
    sc = ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
    ax.set(title=title, xlabel=f"PC1 ({explained[0]:.1%} of variance)", ylabel=f"PC2 ({explained[1]:.1%})")
    fig.colorbar(sc, ax=ax, ticks=range(10), label="(a op b) mod 10")
    return fig


def _finite(values):
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v)]


def right_vs_wrong(records: pd.DataFrame, correct: str, features: list[str]):
    """Histograms of each feature for right and for wrong predictions (log scale where the feature spans
    decades, like a condition number)."""
    fig, axes = plt.subplots(1, len(features), figsize=(4.5 * len(features), 3.5), constrained_layout=True,
                             squeeze=False)
    ok = records[correct].to_numpy(dtype=bool)
    for ax, name in zip(axes[0], features):
        values = records[name].to_numpy(dtype=float)
        finite = _finite(values)
        log = finite.size and finite.min() > 0 and finite.max() / finite.min() > 100
        bins = np.geomspace(finite.min(), finite.max(), 40) if log else 40
        for mask, label in ((ok, "right"), (~ok, "wrong")):
            part = _finite(values[mask])
            if part.size:
                ax.hist(part, bins=bins, alpha=0.6, label=f"{label} ({mask.sum()})")
        if log:
            ax.set_xscale("log")
        ax.set(title=name, xlabel=name, ylabel="problems")
        ax.legend(fontsize=8)
    return fig


def accuracy_by_feature(records: pd.DataFrame, correct: str, features: list[str], bins: int = 10):
    """Share right in each decile of each feature."""
    fig, axes = plt.subplots(1, len(features), figsize=(4.5 * len(features), 3.5), constrained_layout=True,
                             squeeze=False)
    for ax, name in zip(axes[0], features):
        part = records[[name, correct]].replace([float("inf"), float("-inf")], float("nan")).dropna()
        groups = pd.qcut(part[name], bins, duplicates="drop")
        acc = part.groupby(groups, observed=True)[correct].mean()
        centres = [iv.mid for iv in acc.index]
        ax.plot(centres, acc.to_numpy(), marker="o")
        ax.set(title=name, xlabel=f"{name} (decile centres)", ylabel="share right", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    return fig


def compare_curves(curves: dict):
    """Test accuracy of several runs (name -> (x, accuracy, x label, accuracy column)) on one plot."""
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for name, (x, acc, xlabel, col) in curves.items():
        ax.plot(x, acc, marker="o", ms=3, label=f"{name} ({col})")
    ax.set(title="Test accuracy while training", xlabel=xlabel, ylabel="share correct", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def eigenvalue_scatter(true, pred):
    """Predicted against true eigenvalues (sorted, each one a point; colour: rank), with the diagonal."""
    fig, ax = plt.subplots(figsize=(5, 4.5), constrained_layout=True)
    rank = np.broadcast_to(np.arange(true.shape[1]), true.shape)
    sc = ax.scatter(true.ravel(), pred.ravel(), c=rank.ravel(), s=3, alpha=0.5, cmap="viridis")
    lo, hi = float(np.min(true)), float(np.max(true))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
    ax.set(title="Eigenvalues: predicted vs true", xlabel="true", ylabel="predicted")
    fig.colorbar(sc, ax=ax, label="rank (0 = largest)")
    return fig
