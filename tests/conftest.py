import os

import pytest
import torch
from hypothesis import settings

# CI draws the same examples every run (a failure there can be replayed); locally each run explores new ones
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

torch.set_num_threads(1)  # tests are small; one thread keeps them deterministic and leaves a core free

# A tiny run: 2x2 transpose, width 16; trains in seconds.
TINY = ["task.rows=2", "model.enc_layers=1", "model.dec_layers=1", "model.d_model=16", "model.n_heads=2",
        "train.max_examples=1280", "train.batch_size=32", "train.eval_every=320", "train.eval_size=40",
        "train.log_every=5", "train.threads=1", "optim.warmup=5", "eval.size=60", "eval.batch_size=30"]


def set_args(overrides) -> list[str]:
    """["a.b=1", ...] -> ["--set", "a.b=1", ...]: config overrides as `mathlens train` arguments."""
    return [x for o in overrides for x in ("--set", o)]


@pytest.fixture
def tiny_overrides():
    return list(TINY)


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("MPLBACKEND", "Agg")
