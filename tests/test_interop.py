"""Other tools on mathlens models and runs: TransformerLens (export), nnsight (tracing), Weights & Biases (logging).

Each runs where its extra is installed (CI installs them): pip install 'mathlens[lens,nnsight,wandb]'.
"""

import json
import sys
import types

import pytest
import torch
from conftest import TINY

import mathlens
from mathlens.config import ModelConfig
from mathlens.models import Decoder
from mathlens.models.cache import capture


def random_decoder(positions="learned", norm=True, activation="gelu", unembed_bias=False, seed=0):
    torch.manual_seed(seed)
    m = Decoder(ModelConfig(arch="decoder", layers=2, d_model=48, n_heads=3, positions=positions, layernorm=norm,
                            bias=norm, activation=activation, unembed_bias=unembed_bias), 16, 12).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return m


# Weights of std 0.3 make logits of up to ~800; TransformerLens computes them in another order (einsums, split
# heads), so float32 rounding (relative 6e-8 per operation) leaves differences up to ~2.3e-5 of the largest
# logit (measured: 240 seeded draws with TransformerLens 3.9). 1e-4 is four times that; a wrong layout or a
# missing bias is off by order one.
TL_TOLERANCE = 1e-4


@pytest.mark.parametrize("positions", ["learned", "none", "rotary"])
def test_transformer_lens_export_reproduces_our_logits(positions):
    pytest.importorskip("transformer_lens", reason="the optional extra: pip install 'mathlens[lens]'")
    from mathlens.export import to_hooked_transformer

    try:
        from transformer_lens import HookedTransformer  # noqa: F401
    except ImportError:
        pytest.skip("this TransformerLens has no HookedTransformer (4.0 removed it); pip install 'mathlens[lens]'")
    x = torch.randint(0, 16, (4, 12), generator=torch.Generator().manual_seed(1))
    for norm, activation, unembed_bias in ((True, "gelu", False), (False, "relu", False), (True, "gelu_tanh", True)):
        m = random_decoder(positions, norm, activation, unembed_bias)
        if unembed_bias:
            torch.nn.init.normal_(m.unembed.bias, std=1.0)
        ours, theirs = m(x), to_hooked_transformer(m)(x)
        error = ((ours - theirs).abs().max() / ours.abs().max()).item()
        assert error < TL_TOLERANCE, (positions, norm, activation, error)


def test_nnsight_sees_the_activations_of_our_hook_points():
    nnsight = pytest.importorskip("nnsight", reason="the optional extra: pip install 'mathlens[nnsight]'")
    m = random_decoder()
    x = torch.randint(0, 16, (3, 12), generator=torch.Generator().manual_seed(2))
    names = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_z", "blocks.1.mlp.hook_post"]
    with capture(m, names) as ours:
        logits = m(x)
    traced = nnsight.NNsight(m)
    with traced.trace(x):  # nnsight runs this block itself: plain statements, one saved value each
        resid = traced.blocks[0].hook_resid_post.output.save()
        z = traced.blocks[1].attn.hook_z.output.save()
        neurons = traced.blocks[1].mlp.hook_post.output.save()
        out = traced.output.save()
    for name, value in zip(names, (resid, z, neurons)):
        torch.testing.assert_close(getattr(value, "value", value), ours[name], rtol=0, atol=0, msg=name)
    torch.testing.assert_close(getattr(out, "value", out), logits, rtol=0, atol=0)


class FakeRun:
    """What wandb.init returns, recording what is logged."""

    def __init__(self, log, **kwargs):
        self.calls, self.kwargs = log, kwargs

    def define_metric(self, *args, **kwargs):
        pass

    def log(self, values):
        self.calls.append(values)

    def finish(self):
        self.calls.append("finish")


def test_wandb_gets_the_records_tensorboard_gets_and_a_resume_keeps_the_run_id(monkeypatch):
    calls, inits = [], []
    fake = types.SimpleNamespace(init=lambda **kw: inits.append(kw) or FakeRun(calls, **kw))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run = mathlens.train("quickstart", out="runs/wb", overrides=[*TINY, "train.wandb=true",
                                                                "train.wandb_mode=\"offline\""])
    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    logged = [c for c in calls if c != "finish"]
    assert len(logged) == len(records) and calls[-1] == "finish"
    evals = [c for c in logged if "eval/acc@5%" in c]
    assert [c["examples"] for c in evals] == [r["examples"] for r in records if r["kind"] == "eval"]
    assert evals[-1]["eval/acc@5%"] == [r for r in records if r["kind"] == "eval"][-1]["acc@5%"]
    assert len(inits[0]["id"]) == 8 and inits[0]["mode"] == "offline" and inits[0]["name"] == "wb"
    mathlens.train("runs/wb", overrides=["train.max_examples=1600"])
    assert inits[1]["id"] == inits[0]["id"] and inits[1]["resume"] == "allow"


def test_wandb_offline_writes_the_run_here():
    pytest.importorskip("wandb", reason="the optional extra: pip install 'mathlens[wandb]'")
    run = mathlens.train("quickstart", out="runs/wbo", overrides=[*TINY, "train.wandb=true",
                                                                 "train.wandb_mode=\"offline\""])
    run_id = json.loads((run.path / "wandb.json").read_text())["id"]
    offline = list((run.path / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(offline) == 1 and any(offline[0].rglob("*.wandb"))
