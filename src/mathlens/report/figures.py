"""Figures of analysis results: each analysis's ``Result.data`` drawn and saved beside its tables.

``FIGURES`` maps an analysis name to a function ``Result -> {figure name: matplotlib figure}``; an analysis
without an entry has tables only. ``save_figures`` writes them as PNG and SVG into the analysis's directory.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.base import Result
from . import grok_plots, plots


def failure_figures(result: Result) -> dict:
    d, figs = result.data, {}
    if "eigenvalues" in d and len(d["eigenvalues"][0]):  # none when no prediction decodes
        figs["eigenvalues"] = plots.eigenvalue_scatter(*d["eigenvalues"])
    if d["shown"]:
        figs["right_vs_wrong"] = plots.right_vs_wrong(d["records"], d["correct"], d["shown"])
        figs["accuracy_by_feature"] = plots.accuracy_by_feature(d["records"], d["correct"], d["shown"])
    return figs


def equivalence_figures(result: Result) -> dict:
    panels, reversed_answer = result.data["twin_probabilities"]
    return {"output_maps": plots.output_maps(*result.data["output_maps"]),
            "twin_probabilities": plots.digit_probabilities(panels, reversed_answer=reversed_answer)}


def hidden_figures(result: Result) -> dict:
    return {"pca": plots.pca_scatter(*result.data["pca"])}


def model_maps_figures(maps: dict) -> dict:
    """2-D Fourier maps of a modular model's logits and neurons, and its attention (from grokking.model_maps)."""
    return {"logits_2d": grok_plots.fourier_map(maps["logits_2d"], maps["labels"],
                                                "Logits over (x, y) in the 2-D Fourier basis"),
            "neurons_2d": grok_plots.fourier_map(maps["neurons_2d"], maps["labels"],
                                                 "MLP neurons over (x, y) in the 2-D Fourier basis"),
            "attention": grok_plots.attention(maps["pattern"])}


def fourier_figures(result: Result) -> dict:
    d = result.data
    figs = {"progress": grok_plots.grokking_curves(d["metrics"]),
            "spectrum": grok_plots.spectra(d["metrics"], d["steps"]), **model_maps_figures(d["maps"])}
    if d["multiplicative"]:
        figs["spectrum_multiplicative"] = grok_plots.spectra(d["metrics"], d["steps"], prefix="mult_")
    return figs


FIGURES = {"failures": failure_figures, "equivalence": equivalence_figures, "hidden": hidden_figures,
           "fourier": fourier_figures}


def save_figures(name: str, result: Result, out: Path) -> list[Path]:
    """Draw analysis ``name``'s figures of ``result`` into ``out`` (PNG and SVG); returns the PNG paths."""
    paths = []
    for fig_name, fig in FIGURES.get(name, lambda r: {})(result).items():
        plots.save(fig, Path(out) / fig_name)
        paths.append(Path(out) / f"{fig_name}.png")
    return paths
