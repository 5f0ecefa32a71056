"""The LAWT suite around the tasks: cotraining, noisy inputs, re-draws, features, beam search, --ood, --from."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import set_args

from mathlens import tasks
from mathlens.cli import main
from mathlens.config import ModelConfig
from mathlens.errors import UserError
from mathlens.models import Seq2Seq
from mathlens.models.decoding import beam_search, greedy
from mathlens.pipelines import MatrixPipeline
from mathlens.run import Run
from mathlens.training import checkpoint

# A tiny eigenvalue run: 3x3, width 16; trains in seconds.
TINY_EV = ["task.name=\"eigenvalues\"", "task.rows=3", "encoding.input=\"P1000\"", "encoding.output=\"P1000\"",
           "model.enc_layers=1", "model.dec_layers=1", "model.d_model=16", "model.n_heads=2",
           "train.max_examples=256", "train.batch_size=32", "train.eval_every=256", "train.eval_size=20",
           "train.log_every=4", "train.threads=1", "optim.warmup=2", "eval.batch_size=20"]



# ------------------------------------------------------------------------------------------------ tasks

def test_impossible_shapes_and_options_are_refused():
    with pytest.raises(UserError, match=r"task.cols: eigenvalues needs square matrices"):
        tasks.get("eigenvalues", rows=5, cols=4)
    with pytest.raises(UserError, match=r"task.cols: invert_matrix needs square"):
        tasks.get("invert_matrix", rows=3, cols=2)
    with pytest.raises(UserError, match=r"task.distribution: 'wishart' is not allowed; choose from semicircle"):
        tasks.get("eigenvectors", distribution="wishart")
    with pytest.raises(UserError, match=r"task.distribution: singularvalues draws general matrices"):
        tasks.get("singularvalues", distribution="laplace")
    assert tasks.get("singularvalues", rows=5, cols=3).sample(2, np.random.default_rng(0))["input"].shape == (2, 5, 3)


@pytest.mark.parametrize("name", ["transpose", "eigenvalues", "eigenvectors", "invert_matrix", "syminverse"])
def test_noisy_inputs_are_read_but_answers_are_for_the_clean_matrix(name):
    task = tasks.get(name, rows=4, noise=0.05)
    p = task.sample(4000, np.random.default_rng(0))
    noise = task.input_matrix(p) - p["input"]
    assert noise.std() == pytest.approx(10 * 0.05 / np.sqrt(3), rel=0.03)  # A sigma / sqrt3
    if task.symmetric:
        assert np.array_equal(noise, np.swapaxes(noise, 1, 2))
    assert (task.verify(p, task.target_matrix(p)) < 1e-9).all()  # exact answers of the clean problem verify
    clean = tasks.get(name, rows=4).sample(4000, np.random.default_rng(0))
    assert np.array_equal(clean["input"], p["input"])  # the noise is drawn after the problem: same problems
    assert "noisy_input" not in clean


def test_ill_conditioned_problems_are_redrawn_and_counted():
    task = tasks.get("invert_matrix", rows=4, max_cond=20.0)
    p = task.sample(2000, np.random.default_rng(1))
    s = np.linalg.svd(p["input"], compute_uv=False)
    assert (s[:, 0] / s[:, -1] <= 20).all()
    assert task.redrawn > 100  # a condition number above 20 is common for 4x4 uniform matrices
    again = tasks.get("invert_matrix", rows=4, max_cond=20.0)
    assert np.array_equal(again.sample(2000, np.random.default_rng(1))["input"], p["input"])  # reproducible
    assert tasks.get("invert_matrix", rows=4, max_cond=0.0).sample(50, np.random.default_rng(1))["input"].shape[0] == 50


def test_spectral_features():
    task = tasks.get("eigenvalues", rows=4)
    p = task.sample(50, np.random.default_rng(2))
    f = task.features(p)
    m = p["input"]
    lam = np.linalg.eigvalsh(m)
    np.testing.assert_allclose(f["det"], np.linalg.det(m))
    np.testing.assert_allclose(f["spectral_radius"], np.abs(lam).max(1))
    np.testing.assert_allclose(f["cond"], np.linalg.cond(m))
    np.testing.assert_allclose(f["min_gap"], np.diff(lam, axis=1).min(1) / np.abs(lam).max(1))
    g = tasks.get("singularvalues", rows=4, cols=2).features(tasks.get("singularvalues", rows=4, cols=2)
                                                              .sample(5, np.random.default_rng(3)))
    assert np.isnan(g["det"]).all() and (g["cols"] == 2).all()


def test_cotraining_prefixes_a_task_token_and_verifies_each_task(tiny_overrides):
    from mathlens.config import resolve

    cfg = resolve("quickstart", [*tiny_overrides, "task.name=\"cotrain\"", "task.rows=3", "task.tasks=\"TAME\"",
                                 "encoding.input=\"P1000\"", "encoding.output=\"P1000\""])
    pipe = MatrixPipeline(cfg)
    assert [pipe.vocab.symbols[2 + i] for i in range(4)] == ["<T>", "<A>", "<M>", "<E>"]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        p = pipe.task.sample(8, rng)
        src, tgt = pipe.encode(p)
        code = pipe.vocab.symbols[src[0, 0]]
        assert (src[:, 0] == src[0, 0]).all() and code == f"<{pipe.task.codes[p['task'][0]]}>"
        assert src.shape[1] <= pipe.max_src_len and tgt.shape[1] <= pipe.max_tgt_len
        pred, reason = pipe.decode(p, tgt[:, 1:])
        assert (reason == 0).all() and (pipe.task.verify(p, pred) < 0.005).all()
        seen.add(code)
    assert seen == {"<T>", "<A>", "<M>", "<E>"}
    with pytest.raises(UserError, match="task.tasks: 'TX' must be distinct letters among TADMEFI"):
        tasks.get("cotrain", tasks="TX")


# ------------------------------------------------------------------------------------------------ beam search

def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return Seq2Seq(ModelConfig(d_model=16, n_heads=2, enc_layers=1, dec_layers=2), vocab_size=7, max_src_len=6,
                   max_tgt_len=7).eval()


def test_beam_of_one_is_greedy_and_scores_match_teacher_forcing():
    model = _tiny_model()
    src = torch.randint(2, 7, (5, 6))
    g = greedy(model, src, 6, bos_id=1, eos_id=1)
    ids, _ = beam_search(model, src, 6, bos_id=1, eos_id=1, beam=1)
    assert torch.equal(ids[:, 0, : g.shape[1]], g)
    ids, scores = beam_search(model, src, 6, bos_id=1, eos_id=1, beam=4)
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    for b in range(5):
        for k in range(4):
            seq = ids[b, k].tolist()
            length = seq.index(1) + 1 if 1 in seq else len(seq)
            tgt = torch.tensor([[1] + seq[:length]])
            with torch.no_grad():
                logp = F.log_softmax(model(src[b : b + 1], tgt[:, :-1]), -1)[0]
            total = logp[torch.arange(length), tgt[0, 1:]].sum().item()
            assert scores[b, k].item() == pytest.approx(total / length, abs=1e-4)  # cache reordering is right


# ------------------------------------------------------------------------------------------------ eval, --from

@pytest.fixture
def ev_run():
    assert main(["train", "quickstart", "--out", "runs/ev", "--quiet", *set_args(TINY_EV)]) == 0
    return Path("runs/ev")


def test_ood_table_and_beam(ev_run, capsys):
    assert main(["eval", str(ev_run), "--ood", "all", "--size", "20"]) == 0
    out = capsys.readouterr().out
    for dist in ("semicircle (trained)", "positive", "uniform", "gaussian", "laplace", "positive2", "marcenko"):
        assert dist in out
    table = pd.read_csv(ev_run / "eval" / "ood-distribution-n20-seed1234.csv")
    assert len(table) == 7 and {"acc@5%", "invalid", "n"} <= set(table.columns)
    records = pd.read_parquet(ev_run / "eval" / "ood-distribution-n20-seed1234.parquet")
    assert len(records) == 140 and set(records["distribution"]) == {
        "semicircle", "positive", "uniform", "gaussian", "laplace", "positive2", "marcenko"}
    assert (records.groupby("distribution")["correct@5%"].mean().sort_index().values
            == table.set_index(table["distribution"].str.split().str[0])["acc@5%"].sort_index().values).all()
    assert main(["eval", str(ev_run), "--ood", "laplace,wishart"]) == 2
    assert "--ood: 'wishart' is not a task.distribution of eigenvalues" in capsys.readouterr().err

    assert main(["eval", str(ev_run), "--size", "20", "--beam", "3"]) == 0
    summary = json.loads((ev_run / "eval" / "test-n20-seed1234-beam3.json").read_text())
    assert summary["any_beam@5%"] >= summary["acc@5%"] and summary["beam"] == 3
    records = pd.read_parquet(ev_run / "eval" / "test-n20-seed1234-beam3.parquet")
    assert (records["any_beam_error"] <= records["error"]).all()
    median = records["error"].median()
    assert summary["median_error"] == (median if np.isfinite(median) else None)  # None: most did not decode
    assert {"cond", "det", "spectral_radius", "min_gap"} <= set(records.columns)


def test_fine_tune_to_a_larger_matrix_extends_positions_and_maps_tokens(ev_run, capsys):
    bigger = [*TINY_EV, "task.rows=4", "optim.lr=3e-4"]
    assert main(["train", "quickstart", "--from", str(ev_run), "--out", "runs/ev4", "--quiet",
                 *set_args([*bigger, "train.max_examples=32"])]) == 0
    old = Run(ev_run)
    new = Run("runs/ev4")
    assert new.cfg.train.init_parts == ["embed", "pos", "blocks", "unembed"]
    # the first step moved the weights a little (lr 3e-4): compare with the source loosely; the tables' shapes
    src = {k[6:]: v for k, v in checkpoint.read(ev_run / "checkpoint.safetensors")[0].items() if k.startswith("model.")}
    dst = dict(new.model.state_dict())
    assert dst["encoder.pos.weight"].shape[0] > src["encoder.pos.weight"].shape[0]
    n_old = src["encoder.pos.weight"].shape[0]
    assert torch.allclose(dst["encoder.pos.weight"][:n_old], src["encoder.pos.weight"], atol=1e-2)
    vo, vn = old.pipe.vocab, new.pipe.vocab
    assert vn.index["+"] != vo.index["+"]  # V4 shifted the encoding's tokens
    assert torch.allclose(dst["embed.weight"][vn.index["+"]], src["embed.weight"][vo.index["+"]], atol=1e-2)
    assert torch.allclose(dst["encoder.blocks.0.mlp.W_in.weight"], src["encoder.blocks.0.mlp.W_in.weight"], atol=1e-2)
    assert main(["train", "quickstart", "--from", str(ev_run), "--out", "runs/wide", "--quiet",
                 *set_args([*bigger, "model.d_model=32"])]) == 2
    err = capsys.readouterr().err
    assert "train.init_from:" in err and "is (" in err and "the models must match" in err
    assert not Path("runs/wide/checkpoint.safetensors").exists()
    assert main(["train", "quickstart", "--from", "runs/nowhere", "--out", "runs/x", *set_args(bigger)]) == 2
    assert "runs/nowhere: not a run directory" in capsys.readouterr().err
    assert main(["train", "quickstart", "--from", str(ev_run), "--out", "runs/deep", "--quiet",
                 *set_args([*bigger, "model.enc_layers=2"])]) == 2
    assert "has no encoder.blocks.1" in capsys.readouterr().err


def test_cotrain_run_trains_and_reports_each_task(tiny_overrides, capsys):
    sets = [*tiny_overrides, "task.name=\"cotrain\"", "task.tasks=\"TE\"", "train.max_examples=320",
            "encoding.input=\"P1000\"", "encoding.output=\"P1000\""]
    assert main(["train", "quickstart", "--out", "runs/co", "--quiet", *set_args(sets)]) == 0
    assert main(["eval", "runs/co", "--size", "40"]) == 0
    out = capsys.readouterr().out
    assert "per task, acc@5%:" in out and "<T>" in out and "<E>" in out
    summary = json.loads(Path("runs/co/eval/test-n40-seed1234.json").read_text())
    records = pd.read_parquet("runs/co/eval/test-n40-seed1234.parquet")
    assert set(records["task"]) == {"T", "E"}
    for code in ("T", "E"):
        assert summary["by_task"][f"<{code}>"] == records.loc[records["task"] == code, "correct@5%"].mean()
