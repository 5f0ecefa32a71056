"""Figures of modular-arithmetic runs: the grokking curve with progress measures under it, Fourier spectra of
the embedding, 2-D Fourier maps, attention patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from ..rundir import of_kind
from .plots import plt


def _log_x(ax, steps):
    if len(steps) and np.nanmax(steps) > 10:
        ax.set_xscale("symlog", linthresh=10)  # log steps, with step 0 still on the axis
        ax.set_xlim(0, np.nanmax(steps) * 1.05)


def grokking_curves(metrics: pd.DataFrame):
    """Accuracy and loss (train, test) against steps, and below them, on the same axis, FFS/FCR, Gini,
    restricted/excluded loss and the weight norm."""
    evals, meas = of_kind(metrics, "eval"), of_kind(metrics, "measure")
    fig, axes = plt.subplots(5, 1, figsize=(10, 13), sharex=True, constrained_layout=True,
                             gridspec_kw={"height_ratios": [1.3, 1.3, 1, 1, 1]})
    ax = axes[0]
    ax.plot(evals["step"], evals["train_acc"], label="train")
    ax.plot(evals["step"], evals["test_acc"], label="test")
    ax.set(ylabel="accuracy", ylim=(-0.02, 1.02), title="Grokking: accuracy, loss and progress measures")
    ax = axes[1]
    stablemax = "test_softmax_loss" in evals  # the trained loss is StableMax's; softmax's dashed beside it
    ax.plot(evals["step"], evals["train_loss"], label="train")
    ax.plot(evals["step"], evals["test_loss"], label="test")
    if stablemax:
        ax.plot(evals["step"], evals["train_softmax_loss"], ls="--", color="C0", label="train, softmax")
        ax.plot(evals["step"], evals["test_softmax_loss"], ls="--", color="C1", label="test, softmax")
    ax.set(ylabel="StableMax cross-entropy" if stablemax else "loss", yscale="log")
    if len(meas):
        ax = axes[2]
        ax.plot(meas["step"], meas["ffs"], label="FFS (share of components above eps)")
        ax.plot(meas["step"], meas["fcr"], label="FCR (min/max of cos, sin)")
        if "mult_ffs" in meas:
            ax.plot(meas["step"], meas["mult_ffs"], ls="--", label="FFS, multiplicative basis")
            ax.plot(meas["step"], meas["mult_fcr"], ls="--", label="FCR, multiplicative basis")
        ax.set(ylabel="FFS / FCR", ylim=(-0.02, 1.02))
        ax = axes[3]
        ax.plot(meas["step"], meas["gini"], label="Gini of frequency norms")
        ax.plot(meas["step"], meas["weight_norm"] / meas["weight_norm"].max(), label="weight norm (of its max)")
        ax.set(ylabel="share", ylim=(-0.02, 1.02))
        ax = axes[4]
        ax.plot(meas["step"], meas["restricted_loss"], label="restricted loss (key frequencies only)")
        ax.plot(meas["step"], meas["excluded_loss"], label="excluded loss (key frequencies removed)")
        # restricted and excluded losses are softmax cross-entropies (Nanda et al.): beside the test one
        ax.plot(evals["step"], evals["test_softmax_loss" if stablemax else "test_loss"], color="grey", lw=0.8,
                label="test loss (softmax)")
        ax.set(ylabel="loss", yscale="log")
    axes[-1].set_xlabel("step")
    _log_x(axes[-1], evals["step"].to_numpy())
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8, loc="best")
    return fig


def spectra(metrics: pd.DataFrame, steps: dict[str, int], prefix: str = ""):
    """Norms of the cos and sin components of the embedding per frequency, at the named steps (one row each)."""
    meas = of_kind(metrics, "measure").set_index("step")
    rows = max(1, len(steps))
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.2 * rows), sharex=True, constrained_layout=True,
                             squeeze=False)
    basis = "multiplicative (discrete-log) basis" if prefix else "Fourier basis"
    for ax, (name, step) in zip(axes[:, 0], steps.items()):
        rec = meas.loc[step]
        if isinstance(rec, pd.DataFrame):
            rec = rec.iloc[-1]
        alpha, beta = np.asarray(rec[f"{prefix}alpha"]), np.asarray(rec[f"{prefix}beta"])
        k = np.arange(1, len(alpha) + 1)
        ax.bar(k - 0.2, alpha, width=0.4, label="cos")
        ax.bar(k + 0.2, beta, width=0.4, label="sin")
        ax.set_title(f"{name}: step {step}; FFS {rec[prefix + 'ffs']:.3f}, FCR {rec[prefix + 'fcr']:.3f}, "
                     f"key frequencies {rec[prefix + 'key_freqs']}", fontsize=9)
        ax.set_ylabel("norm")
        ax.legend(fontsize=8)
    axes[0, 0].figure.suptitle(f"Embedding spectrum, {basis}")
    axes[-1, 0].set_xlabel("frequency k")
    return fig


def fourier_map(norms: np.ndarray, labels: list[str], title: str):
    """Heat map of a 2-D Fourier norm table (rows: x components, columns: y components), log colour."""
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    vmax = float(norms.max()) or 1.0
    im = ax.imshow(np.maximum(norms, vmax * 1e-4), norm=LogNorm(vmin=vmax * 1e-4, vmax=vmax), cmap="viridis")
    ticks = list(range(0, len(labels), max(1, len(labels) // 12)))
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=7)
    ax.set(title=title, xlabel="y component", ylabel="x component")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def attention(pattern: np.ndarray):
    """pattern (p, p, heads, 3): the answer position's attention to x (token 0) and y (token 2) per head."""
    heads = pattern.shape[2]
    fig, axes = plt.subplots(2, heads, figsize=(2.6 * heads, 5.2), constrained_layout=True, squeeze=False)
    for h in range(heads):
        for row, (pos, name) in enumerate(((0, "x"), (2, "y"))):
            ax = axes[row, h]
            ax.imshow(pattern[:, :, h, pos], vmin=0, vmax=1, cmap="magma")
            ax.set_title(f"head {h}: to {name}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1, h].set_xlabel("y")
    axes[0, 0].set_ylabel("x")
    axes[1, 0].set_ylabel("x")
    return fig
