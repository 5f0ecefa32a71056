import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mathlens import tasks
from mathlens.analysis.grokking import grid_activations
from mathlens.cli import main
from mathlens.config import ModelConfig
from mathlens.families.modular import grokking_row
from mathlens.grid import grid_values
from mathlens.models import Decoder
from mathlens.models.cache import capture
from mathlens.pipelines.modular import positions, symbols, token_ids
from mathlens.run import load_run
from mathlens.tasks.modular import MIXTURES, PAPER_FORMULAS
from mathlens.training import checkpoint

TINY_GROK = ["task.p=11", "model.d_model=16", "model.n_heads=2", "model.d_ff=32", "train.max_steps=40",
             "train.eval_every=10", "train.log_every=5", "train.measure_every=20", "train.threads=1"]


def sets(items):
    return [a for item in items for a in ("--set", item)]


def records(run_dir, kind):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["kind"] == kind]


@pytest.mark.parametrize("init, embed_std, w_q_std", [("gpt", 0.02, 0.02), ("nanda", 64 ** -0.5, 64 ** -0.5),
                                                       ("torch", 1.0, (3 * 64) ** -0.5)])
def test_each_init_gives_its_scale(init, embed_std, w_q_std):
    # torch: nn.Embedding is N(0, 1) and nn.Linear uniform in +-1/sqrt(fan-in), whose std is 1/sqrt(3 fan-in):
    # Grokfast's baseline starts from these, 50x the gpt scale on the embeddings
    torch.manual_seed(0)
    cfg = ModelConfig(arch="decoder", layers=1, d_model=64, n_heads=4, d_ff=128, init=init)
    model = Decoder(cfg, vocab_size=400, n_ctx=3, n_out=97)
    w_q, b_q = model.blocks[0].attn.W_q.weight, model.blocks[0].attn.W_q.bias
    assert model.embed.weight.std().item() == pytest.approx(embed_std, rel=0.05)
    assert w_q.std().item() == pytest.approx(w_q_std, rel=0.05)
    assert (b_q.abs().max().item() > 0) == (init == "torch")  # torch draws biases too; the others zero them


@pytest.mark.parametrize("layernorm, bias, positions", [(False, False, "learned"), (True, True, "none")])
def test_last_position_only_gives_the_logits_and_gradients_of_the_full_pass(layernorm, bias, positions):
    torch.manual_seed(0)
    cfg = ModelConfig(arch="decoder", layers=1, d_model=32, n_heads=4, d_ff=64, layernorm=layernorm, bias=bias,
                      positions=positions, share_embeddings=False, init="nanda")
    model = Decoder(cfg, vocab_size=14, n_ctx=3, n_out=13).double()  # float64: differences are the method's
    tokens = torch.randint(0, 14, (64, 3))
    full = model(tokens)[:, -1]
    fast = model(tokens, last_only=True)  # gathers keys/values from a (position, token) table
    seen = []
    hook = model.blocks[0].attn.hook_pattern.register_forward_hook(lambda m, i, o: seen.append(o))
    hooked = model(tokens, last_only=True)  # a hook forces the plain last-position path
    hook.remove()
    assert seen and seen[0].shape == (64, 4, 1, 3)
    torch.testing.assert_close(fast, full, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(hooked, full, rtol=1e-10, atol=1e-10)
    params = list(model.parameters())
    g_full = torch.autograd.grad(full.square().sum(), params, allow_unused=True)
    g_fast = torch.autograd.grad(model(tokens, last_only=True).square().sum(), params, allow_unused=True)
    for a, b in zip(g_full, g_fast):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_two_layer_decoder_last_only_matches_too():
    torch.manual_seed(1)
    model = Decoder(ModelConfig(arch="decoder", layers=2, d_model=32, n_heads=4), vocab_size=20, n_ctx=6)
    tokens = torch.randint(0, 20, (8, 6))
    torch.testing.assert_close(model(tokens, last_only=True), model(tokens)[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["x op y", "x y op"])
def test_attention_map_is_to_x_op_y_whatever_the_layout(layout):
    task = tasks.get("modular", p=7, formula="x+y", layout=layout)
    torch.manual_seed(0)
    model = Decoder(ModelConfig(arch="decoder", layers=1, d_model=16, n_heads=2, d_ff=32), len(symbols(task)), 3, 7)
    x, y = 2, 5  # row x * p + y of the grid
    tokens = torch.as_tensor(token_ids(task, {"x": np.array([x]), "y": np.array([y]), "op": np.array([0])}))
    with torch.no_grad(), capture(model, ["blocks.0.attn.hook_pattern"]) as seen:
        model.eval()(tokens, last_only=True)
    raw = seen["blocks.0.attn.hook_pattern"][0, :, -1]  # (heads, positions) in the layout's order
    pattern = grid_activations(model, task)["pattern"][x, y]  # (heads, 3): to x, op, y
    for key, part in enumerate(("x", "op", "y")):
        np.testing.assert_allclose(pattern[:, key], raw[:, positions(task).index(part)].numpy(), atol=1e-6)


def test_full_batch_run_writes_evaluations_measures_and_a_checkpoint():
    assert main(["train", "grok/add-p97", "--out", "runs/g", "--quiet", *sets(TINY_GROK)]) == 0
    evals = records(load_run("runs/g").path, "eval")
    assert [r["step"] for r in evals] == [0, 10, 20, 30, 40]
    assert all(0 <= r["test_acc"] <= 1 and r["train_loss"] > 0 for r in evals)
    assert evals[-1]["train_loss"] < evals[0]["train_loss"]  # it learns
    measures = records(load_run("runs/g").path, "measure")
    assert [r["step"] for r in measures] == [0, 20, 40]
    m = measures[-1]
    assert 0 < m["ffs"] <= 1 and 0 <= m["fcr"] <= 1 and 0 <= m["gini"] < 1 and len(m["alpha"]) == 5
    assert m["weight_norm"] > 0 and m["restricted_loss"] > 0 and m["excluded_loss"] > 0


@pytest.mark.parametrize("grokfast", ["none", "ema", "ma"])
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(grokfast):
    common = [*TINY_GROK, f"optim.grokfast={grokfast}", "optim.grokfast_window=7"]
    assert main(["train", "grok/add-p97", "--out", "runs/a", "--quiet", *sets(common)]) == 0
    half = [*common[:4], "train.max_steps=20", *common[5:]]
    assert main(["train", "grok/add-p97", "--out", "runs/b", "--quiet", *sets(half)]) == 0
    assert main(["train", "runs/b", "--quiet", "--set", "train.max_steps=40"]) == 0
    wa, _ = checkpoint.read(load_run("runs/a").path / "checkpoint.safetensors")
    wb, _ = checkpoint.read(load_run("runs/b").path / "checkpoint.safetensors")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    ea = [{k: v for k, v in r.items() if k != "time"} for r in records(load_run("runs/a").path, "eval")]
    eb = [{k: v for k, v in r.items() if k != "time"} for r in records(load_run("runs/b").path, "eval")]
    assert ea == eb


def test_grokfast_changes_training():
    assert main(["train", "grok/add-p97", "--out", "runs/plain", "--quiet", *sets(TINY_GROK)]) == 0
    assert main(["train", "grok/add-p97", "--out", "runs/ema", "--quiet", *sets(TINY_GROK),
                 "--set", "optim.grokfast=ema"]) == 0
    a, b = records(load_run("runs/plain").path, "eval")[-1], records(load_run("runs/ema").path, "eval")[-1]
    assert a["train_loss"] != b["train_loss"]


def test_early_stop_once_test_accuracy_holds():
    assert main(["train", "grok/add-p97", "--out", "runs/s", "--quiet", *sets(TINY_GROK),
                 "--set", "train.stop_acc=0.001", "--set", "train.stop_patience=2"]) == 0
    evals = records(load_run("runs/s").path, "eval")
    assert evals[-1]["step"] == 20  # evaluations at 10 and 20 both >= 0.001
    assert records(load_run("runs/s").path, "measure")[-1]["step"] == 20  # the final state is measured


def test_transfer_of_a_frozen_embedding():
    assert main(["train", "grok/add-p97", "--out", "runs/src", "--quiet", *sets(TINY_GROK)]) == 0
    assert main(["train", "grok/add-p97", "--out", "runs/dst", "--quiet", *sets(TINY_GROK),
                 "--set", "train.init_from='runs/src'", "--set", "train.freeze=true", "--set", "seed=5"]) == 0
    src, dst = load_run("runs/src").model, load_run("runs/dst").model
    torch.testing.assert_close(dst.embed.weight, src.embed.weight, rtol=0, atol=0)
    assert not torch.allclose(dst.unembed.weight, src.unembed.weight)
    assert main(["train", "grok/add-p97", "--out", "runs/bad", "--quiet", *sets(TINY_GROK),
                 "--set", "train.init_from='runs/src'", "--set", "model.d_model=32"]) == 2


def test_analyze_fourier_and_report(capsys):
    assert main(["train", "grok/add-p97", "--out", "runs/g", "--quiet", *sets(TINY_GROK),
                 "--set", "task.formula='x*y'"]) == 0
    assert main(["analyze", "runs/g", "fourier"]) == 0
    out = capsys.readouterr().out
    assert "ffs" in out and "mult_ffs" in out  # multiplication is measured in the discrete-log basis too
    summary = json.loads((load_run("runs/g").path / "analysis/fourier/summary.json").read_text())
    for name in ("progress", "spectrum", "logits_2d", "neurons_2d", "attention", "spectrum_multiplicative"):
        assert (load_run("runs/g").path / "analysis/fourier" / f"{name}.png").stat().st_size > 1000
    assert summary["final"]["ffs"] > 0
    assert main(["report", "runs/g"]) == 0
    page = (load_run("runs/g").path / "report.html").read_text()
    assert "Embedding spectrum" in page and "2-D Fourier" in page and "src='http" not in page  # offline


def test_grid_runs_each_value_then_writes_the_table(capsys):
    argv = ["grid", "grok/add-p97", "--vary", "task.formula=x+y,x-y", "--out", "runs/grid", "--quiet",
            *sets([*TINY_GROK, "train.max_steps=20"])]
    assert main(argv) == 0
    table = pd.read_csv("runs/grid/comparison.csv")
    assert list(table["task.formula"]) == ["x+y", "x-y"]
    assert {"steps_to_train_99", "test_acc", "ffs", "fcr", "grokked"} <= set(table.columns)
    capsys.readouterr()
    assert main(argv) == 0  # finished points are not trained again
    assert "training in" not in capsys.readouterr().out


def test_grid_over_seeds_summarises_each_value_and_a_rerun_fills_only_what_is_missing(capsys):
    argv = ["grid", "grok/add-p97", "--vary", "task.formula=x+y,x-y", "--seeds", "2", "--out", "runs/gs", "--quiet",
            *sets([*TINY_GROK, "train.max_steps=20"])]
    assert main(argv) == 0
    table = pd.read_csv("runs/gs/comparison.csv")
    assert list(zip(table["task.formula"], table["seed"])) == [("x+y", 0), ("x+y", 1), ("x-y", 0), ("x-y", 1)]
    seeds = pd.read_csv("runs/gs/seeds.csv")
    assert list(seeds["seeds"]) == [2, 2] and {"steps_to_test_99 reached", "test_acc median", "test_acc min",
                                               "test_acc max"} <= set(seeds.columns)
    part = table[table["task.formula"] == "x-y"]["test_acc"]
    assert seeds["test_acc median"].iloc[1] == pytest.approx(part.median())
    assert seeds["test_acc min"].iloc[1] == part.min() and seeds["test_acc max"].iloc[1] == part.max()
    # one point lost (its directory gone): only it trains again, the finished ones are kept
    shutil.rmtree("runs/gs/01_x-y/seed1")
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("training in") == 1 and "runs/gs/01_x-y/seed1" in out
    assert main([*argv[:5], "-1", *argv[6:]]) == 2


def test_seeds_alone_are_a_grid_of_one_setting(capsys):
    # was refused: "the following arguments are required: --vary"
    argv = ["grid", "grok/quick", "--seeds", "3", "--out", "runs/s3", "--quiet", *sets(TINY_GROK)]
    assert main(argv) == 0
    table = pd.read_csv("runs/s3/comparison.csv")
    assert list(table["seed"]) == [0, 1, 2] and set(table["preset"]) == {"grok/quick"}
    assert sorted(p.name for p in Path("runs/s3").glob("seed*") if p.is_dir()) == ["seed0", "seed1", "seed2"]
    assert [load_run(f"runs/s3/seed{s}").cfg.seed for s in range(3)] == [0, 1, 2]
    seeds = pd.read_csv("runs/s3/seeds.csv")
    assert len(seeds) == 1 and seeds["seeds"].iloc[0] == 3
    assert seeds["test_acc median"].iloc[0] == pytest.approx(table["test_acc"].median())
    capsys.readouterr()
    assert main(["grid", "grok/quick", "--out", "runs/none"]) == 2  # neither --vary nor --seeds: one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give --vary KEY=V1,V2,... (one run per value), --seeds N" in err[0]


def test_grid_row_gives_steps_to_99_and_to_grokfasts_95_percent():
    evals = pd.DataFrame({"kind": "eval", "step": [100, 200, 300, 400], "time": [1.0, 2.0, 3.0, 4.0],
                          "train_acc": [1.0] * 4, "test_acc": [0.5, 0.96, 0.98, 0.995]})
    row = grokking_row(evals)
    assert (row["steps_to_test_95"], row["steps_to_test_99"], row["seconds_to_test_99"]) == (200, 400, 4.0)
    assert row["grokked"] and row["test_acc"] == 0.995
    slow = grokking_row(evals.assign(test_acc=[0.5, 0.6, 0.7, 0.9]))
    assert slow["steps_to_test_95"] is None and not slow["grokked"]


def test_grid_all_means_every_operation_of_the_paper():
    key, values = grid_values("grok/add-p97", "task.formula=all")
    assert key == "task.formula" and values == PAPER_FORMULAS + list(MIXTURES) and len(values) == 31
    assert grid_values("grok/add-p97", "train.seed=1,2")[1] == [1, 2]


def test_split_in_the_run_is_the_trained_one():
    assert main(["train", "grok/add-p97", "--out", "runs/g", "--quiet", *sets(TINY_GROK)]) == 0
    run = load_run("runs/g")
    train, test = run.pipe.split()
    assert len(train) == round(0.3 * 121) and not np.intersect1d(train, test).size


def test_eval_of_a_modular_run_scores_every_example_with_its_split(capsys):
    assert main(["train", "grok/add-p97", "--out", "runs/g", "--quiet", *sets(TINY_GROK)]) == 0
    assert main(["eval", "runs/g"]) == 0
    recs = load_run("runs/g").records()
    assert len(recs) == 121 and set(recs["split"]) == {"train", "test"}
    np.testing.assert_array_equal(recs["correct"], recs["prediction"] == recs["answer"])
    last = records(load_run("runs/g").path, "eval")[-1]
    assert recs.loc[recs["split"] == "test", "correct"].mean() == pytest.approx(last["test_acc"])
    assert main(["eval", "runs/g", "--size", "10"]) == 2
    assert "--size, --seed, --beam, --ood, --digits, --data and --constrained do not apply" in capsys.readouterr().err
