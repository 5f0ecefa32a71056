"""The run directory's layout and its plain readers: where each file lives, and the metrics as a table.

The bottom layer: trainers write these files, :class:`mathlens.run.Run` and the analyses read them.

    RUN/config.toml              the run's settings (RunConfig as TOML)
    RUN/checkpoint.safetensors   latest weights, optimiser, RNG and stream states
    RUN/best.safetensors         weights of the best periodic evaluation
    RUN/metrics.jsonl            one JSON record per line: kind train, eval or measure
    RUN/eval/                    per-sample records (Parquet) and summaries of `mathlens eval`
    RUN/analysis/                what `mathlens analyze` writes; RUN/report.html, RUN/tb/ (TensorBoard)
    RUN/imported.json            `mathlens import`: the checkpoint the weights came from, its token map
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .io import read_jsonl

CONFIG = "config.toml"
LATEST, BEST = "checkpoint.safetensors", "best.safetensors"
METRICS = "metrics.jsonl"
EVAL = "eval"
WANDB_ID = "wandb.json"  # train.wandb: the wandb run id a resumed run continues
IMPORTED = "imported.json"  # a run made by `mathlens import`: where its weights came from
ANALYSIS = "analysis"


def read_metrics(run_dir) -> pd.DataFrame:
    """metrics.jsonl of ``run_dir`` as a DataFrame (empty when there is none yet)."""
    return pd.DataFrame(read_jsonl(Path(run_dir) / METRICS))


def of_kind(metrics: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The records of one kind ('train', 'eval', 'measure') of a metrics frame; empty when it has none.

    >>> of_kind(pd.DataFrame({"kind": ["train", "eval"], "step": [1, 2]}), "eval")["step"].tolist()
    [2]
    """
    return metrics[metrics["kind"] == kind] if "kind" in metrics else metrics.iloc[0:0]


def eval_files(run_dir) -> list[Path]:
    """The run's evaluation records (Parquet), oldest first."""
    return sorted((Path(run_dir) / EVAL).glob("*.parquet"), key=lambda p: p.stat().st_mtime)
