"""Data-parallel training: 2 CPU ranks under torchrun (gloo) train exactly as one process on the same batches."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from conftest import set_args

from mathlens.cli import main
from mathlens.config import config_from_dict
from mathlens.errors import UserError
from mathlens.pipelines import MatrixPipeline
from mathlens.pipelines import stream as stream_module

# Two ranks and one process add the same numbers in different orders (each rank's half of a batch, then the
# all-reduce), so their losses agree only up to rounding, and training grows a difference over the steps: in
# float32, 4.7e-5 relative after 19 steps on an Intel Xeon host. The comparisons run in float64 (tests/float64_cli.py
# under torchrun, torch's default dtype in this process): a sum of n terms in another order moves by at most about
# n * 2^-53 of the sum of their magnitudes, ~1e-14 here, and the growth that took float32's 6e-8 to 4.7e-5
# (~1e3x) leaves ~1e-11, so rtol 1e-9 holds on any processor (measured on an AMD EPYC host: 3e-16 at most), where
# a wrong scaling (the ranks' gradients not multiplied by the world size) moves the losses by 1.5e-2.
F64_CLI = str(Path(__file__).with_name("float64_cli.py"))
RTOL = 1e-9


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


# 2x2 transpose at a learning rate where the evaluation's median error moves from the first evaluations on;
# a constant schedule, so that raising max_examples on resume does not change the steps already taken
SMALL = ["task.rows=2", "model.enc_layers=1", "model.dec_layers=1", "model.d_model=32", "model.n_heads=2",
         "train.batch_size=32", "train.eval_every=640", "train.eval_size=40", "train.log_every=5",
         "train.threads=1", "optim.warmup=5", "optim.schedule=constant", "optim.lr=0.003"]



def _records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_two_ranks_match_one_process_and_resume_on_one(float64):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           F64_CLI, "train", "quickstart", "--out", "runs/ddp", "--quiet",
           *set_args(SMALL + ["train.max_examples=1920"])]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 1920 examples") == 1  # rank 0 speaks for both

    # one set of files: rank 1 wrote nothing of its own
    run = Path("runs/ddp")
    assert sorted(p.name for p in run.iterdir()) == [".lock", "best.safetensors", "checkpoint.safetensors",
                                                    "config.toml", "metrics.jsonl", "tb"]
    assert len(list((run / "tb").iterdir())) == 1
    assert sorted(p.name for p in Path("runs").iterdir()) == ["ddp"]
    keys = [(r["kind"], r["step"]) for r in _records(run / "metrics.jsonl")]
    assert len(keys) == len(set(keys)) == 15  # 12 train records, 3 evaluations, none twice

    # resumed by one process: its batches are both streams of the 2-rank run
    assert main(["train", "runs/ddp", "--quiet", "--set", "train.max_examples=3200"]) == 0
    # the reference: one process, the same two streams, 3200 examples straight through
    assert main(["train", "quickstart", "--out", "runs/ref", "--quiet",
                 *set_args(SMALL + ["train.max_examples=3200", "train.data_streams=2"])]) == 0

    got, ref = _records(run / "metrics.jsonl"), _records("runs/ref/metrics.jsonl")
    assert [(r["kind"], r["step"], r["examples"]) for r in got] == [(r["kind"], r["step"], r["examples"])
                                                                     for r in ref]
    assert len(got) == 25
    losses = np.array([[a["loss"], b["loss"]] for a, b in zip(got, ref) if a["kind"] == "train"])
    assert losses[0, 0] > losses[-1, 0] + 0.5  # it learned: the comparison is not between two flat curves
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], rtol=RTOL)
    evals = [(a, b) for a, b in zip(got, ref) if a["kind"] == "eval"]
    medians = [a["median_error"] for a, _ in evals if a["median_error"] is not None]
    assert len(set(medians)) > 1  # the split evaluation has something to agree on
    for a, b in evals:  # evaluation split between the ranks, gathered: the same figures as one process
        assert a["n"] == b["n"] == 40 and a["invalid"] == b["invalid"] and a["acc@5%"] == b["acc@5%"]
        if b["median_error"] is None:
            assert a["median_error"] is None
        else:
            assert a["median_error"] == pytest.approx(b["median_error"], rel=RTOL)


# unpadded addition: answers of different lengths, so the ranks hold different numbers of loss tokens
UNPADDED_ADD = ["task.digits=2", "task.eval_digits=[3]", "task.width=0", "task.answer_width=0",
                "task.separators=true", "model.layers=1", "model.d_model=16", "model.n_heads=2", "model.dropout=0",
                "train.max_examples=640", "train.batch_size=32", "train.log_every=2", "train.eval_every=320",
                "train.eval_size=40", "train.threads=1", "optim.lr=0.003", "optim.warmup=2"]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_two_ranks_weigh_every_answer_token_as_one_process(float64):
    """The loss is the whole batch's token mean, not the mean of the ranks' means (which differ in tokens)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           F64_CLI, "train", "arith/add-3digit", "--out", "runs/ddp", "--quiet", *set_args(UNPADDED_ADD)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert main(["train", "arith/add-3digit", "--out", "runs/ref", "--quiet",
                 *set_args(UNPADDED_ADD + ["train.data_streams=2"])]) == 0
    got, ref = _records("runs/ddp/metrics.jsonl"), _records("runs/ref/metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in got] == [(r["kind"], r["step"]) for r in ref] and len(got) == 12
    for a, b in zip(got, ref):
        for key in ("loss", "seq_acc", "acc", "digit_acc", "digit_acc_3d", "invalid_3d"):
            if key in b:
                assert a[key] == pytest.approx(b[key], rel=RTOL, abs=1e-12), (key, a, b)


def test_streams_are_dealt_to_ranks_and_too_few_are_refused(monkeypatch):
    cfg = config_from_dict({"task": {"name": "transpose", "rows": 2}})
    pipe = MatrixPipeline(cfg)
    whole = stream_module.FreshStream(pipe, 10, seed=0, streams=3)  # one process makes all three parts
    parts = {}
    for rank in (0, 1):
        monkeypatch.setattr(stream_module, "rank_and_world", lambda r=rank: (r, 2))
        part = stream_module.FreshStream(pipe, 10, seed=0, streams=3)
        parts[rank] = part.mine, part.next()
    assert parts[0][0] == [0, 2] and parts[1][0] == [1]
    src = whole.next()[0]
    assert len(parts[0][1][0]) == 4 + 3 and len(parts[1][1][0]) == 3  # sizes 4, 3, 3
    np.testing.assert_array_equal(np.sort(src, axis=0), np.sort(np.concatenate([parts[0][1][0],
                                                                                parts[1][1][0]]), axis=0))
    with pytest.raises(UserError, match="train.data_streams: this run's batches come from 1 stream"):
        stream_module.FreshStream(pipe, 10, seed=0, streams=1)


def test_overlapped_generation_trains_on_the_same_batches(tiny_overrides):
    """train.overlap=on (the CUDA default: next batch made in a thread) changes nothing but speed, resume too."""
    base = tiny_overrides + ["optim.schedule=constant"]  # so that raising max_examples keeps the schedule
    assert main(["train", "quickstart", "--out", "runs/inline", "--quiet", *set_args(base)]) == 0
    half = [o for o in base if not o.startswith("train.max_examples")] + ["train.overlap=on"]
    assert main(["train", "quickstart", "--out", "runs/overlap", "--quiet",
                 *set_args(half + ["train.max_examples=640"])]) == 0
    assert main(["train", "runs/overlap", "--quiet", "--set", "train.max_examples=1280"]) == 0
    a, b = _records("runs/inline/metrics.jsonl"), _records("runs/overlap/metrics.jsonl")
    assert len(a) == len(b) > 4
    for x, y in zip(a, b):
        for k in ("loss", "acc@5%", "invalid"):
            if k in x:
                assert x[k] == pytest.approx(y[k], rel=1e-6), (k, x, y)
