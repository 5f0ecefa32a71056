"""`mathlens import`: GPT checkpoints written with minGPT's, nanoGPT's and Hugging Face's key names become runs
whose logits are those of a reference GPT-2 forward pass written here; bad checkpoints are one-line errors."""

import argparse
import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from mathlens import load_run
from mathlens.cli import main
from mathlens.errors import UserError
from mathlens.interop.checkpoints import import_checkpoint

V, D, HEADS, LAYERS, CTX = 10, 12, 3, 2, 16  # digits only: the preset (arith/add-3digit) has 16 tokens


def gpt2_weights(bias=True, seed=0) -> dict:
    """Random GPT-2 weights in its own names, Linear (out, in) orientation."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    w = {"wte.weight": r(V, D), "wpe.weight": r(CTX, D), "ln_f.weight": 1 + r(D), "lm_head.weight": r(V, D)}
    if bias:
        w["ln_f.bias"] = r(D)
    for i in range(LAYERS):
        for name, shape in (("ln_1", (D,)), ("ln_2", (D,)), ("attn.c_attn", (3 * D, D)), ("attn.c_proj", (D, D)),
                            ("mlp.c_fc", (4 * D, D)), ("mlp.c_proj", (D, 4 * D))):
            w[f"h.{i}.{name}.weight"] = (1 + r(*shape)) if name.startswith("ln") else r(*shape)
            if bias:
                w[f"h.{i}.{name}.bias"] = r(shape[0])
    return w


def reference_logits(w, ids, act) -> torch.Tensor:
    """GPT-2's forward pass, written out: pre-LN blocks, causal attention, GELU MLP, final LN, head."""
    def ln(x, name):
        return F.layer_norm(x, (D,), w[f"{name}.weight"], w.get(f"{name}.bias"))

    def linear(x, name):
        return x @ w[f"{name}.weight"].T + (w[f"{name}.bias"] if f"{name}.bias" in w else 0)

    B, T = ids.shape
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    dh = D // HEADS
    for i in range(LAYERS):
        q, k, v = linear(ln(x, f"h.{i}.ln_1"), f"h.{i}.attn.c_attn").split(D, dim=-1)
        q, k, v = (t.view(B, T, HEADS, dh).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + linear(y, f"h.{i}.attn.c_proj")
        h = linear(ln(x, f"h.{i}.ln_2"), f"h.{i}.mlp.c_fc")
        h = F.gelu(h, approximate="tanh") if act == "tanh" else F.gelu(h)
        x = x + linear(h, f"h.{i}.mlp.c_proj")
    head = w.get("lm_head.weight", w["wte.weight"])
    return ln(x, "ln_f") @ head.T


def save_mingpt(w, path):
    sd = {f"transformer.{k}": v for k, v in w.items() if k != "lm_head.weight"}
    for i in range(LAYERS):  # minGPT saves its causal mask as a buffer called attn.bias
        sd[f"transformer.h.{i}.attn.bias"] = torch.ones(1, 1, CTX, CTX).tril()
    sd["lm_head.weight"] = w["lm_head.weight"]
    torch.save(sd, path)


def save_nanogpt(w, path):
    sd = {f"_orig_mod.transformer.{k}": v for k, v in w.items() if k != "lm_head.weight"}
    sd["_orig_mod.lm_head.weight"] = w["wte.weight"]  # tied
    torch.save({"model": sd, "model_args": {"n_layer": LAYERS, "n_head": HEADS, "n_embd": D, "block_size": CTX,
                                            "bias": "ln_f.bias" in w, "vocab_size": V}, "iter_num": 5}, path)


def save_hf(w, folder):
    folder.mkdir()
    sd = {}
    for k, v in w.items():
        conv1d = k.endswith(".weight") and any(f".{n}." in f".{k}" for n in ("c_attn", "c_proj", "c_fc"))
        sd[f"transformer.{k}" if k != "lm_head.weight" else k] = v.T.contiguous() if conv1d else v
    save_file(sd, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"n_head": HEADS, "n_layer": LAYERS, "n_embd": D,
                                                    "activation_function": "gelu_new"}))


CASES = {"mingpt": (save_mingpt, "tanh", True), "nanogpt": (save_nanogpt, "exact", False),
         "hf-gpt2": (save_hf, "tanh", True)}


@pytest.mark.parametrize("fmt", list(CASES))
def test_imported_models_give_the_reference_logits(fmt, tmp_path):
    save, act, bias = CASES[fmt]
    w = gpt2_weights(bias=bias)
    if fmt == "nanogpt":
        w.pop("lm_head.weight")  # tied: the reference reads wte
    source = tmp_path / ("hf" if fmt == "hf-gpt2" else "ckpt.pt")
    save(w, source)
    out = import_checkpoint(source, fmt, "arith/add-3digit", tmp_path / "run", vocab="0123456789", heads=HEADS)
    run = load_run(out)
    assert run.cfg.model.layers == LAYERS and run.cfg.model.d_model == D and run.cfg.model.bias == bias
    ids = torch.randint(0, V, (4, CTX - 1), generator=torch.Generator().manual_seed(1))
    ours = run.model(ids)  # token ids 0..9 are the digits in the preset too
    torch.testing.assert_close(ours[..., :V], reference_logits(w, ids, act), atol=1e-5, rtol=1e-5)
    assert (ours[..., V:] < ours[..., :V].min() - 1000).all()  # the preset's other tokens are never written


def test_bad_checkpoints_are_one_line(tmp_path, capsys):
    w = gpt2_weights()
    good = tmp_path / "good.pt"
    save_mingpt(w, good)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="not a checkpoint torch.load"):
        import_checkpoint(garbage, "mingpt", "arith/add-3digit", tmp_path / "a", vocab="0123456789")
    no_pos = tmp_path / "no_pos.pt"
    save_mingpt({k: v for k, v in w.items() if k != "wpe.weight"}, no_pos)
    with pytest.raises(UserError, match=r"has no wpe.weight"):
        import_checkpoint(no_pos, "mingpt", "arith/add-3digit", tmp_path / "b", vocab="0123456789")
    with pytest.raises(UserError, match=r"--vocab: 'x' is not one of the preset's tokens"):
        import_checkpoint(good, "mingpt", "arith/add-3digit", tmp_path / "c", vocab="012345678x")
    with pytest.raises(UserError, match=r"--vocab: 9 tokens given; the checkpoint's embedding has 10"):
        import_checkpoint(good, "mingpt", "arith/add-3digit", tmp_path / "d", vocab="012345678")
    with pytest.raises(UserError, match=r"model.n_heads: 5 does not divide model.d_model=12"):
        import_checkpoint(good, "mingpt", "arith/add-3digit", tmp_path / "e", vocab="0123456789", heads=5)
    with pytest.raises(UserError, match=r"expected a dict with 'model' \(nanoGPT's checkpoint\)"):
        import_checkpoint(good, "nanogpt", "arith/add-3digit", tmp_path / "f", vocab="0123456789")
    renamed = tmp_path / "renamed.pt"
    torch.save({k.replace("wte", "tok_emb"): v for k, v in torch.load(good, weights_only=True).items()}, renamed)
    with pytest.raises(UserError, match=r"has no wte.weight .* is --format right"):
        import_checkpoint(renamed, "mingpt", "arith/add-3digit", tmp_path / "h", vocab="0123456789")
    assert main(["import", str(garbage), "--format", "mingpt", "--preset", "arith/add-3digit", "--out",
                 str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a checkpoint" in err
    assert not (tmp_path / "g").exists()


def test_a_pickle_with_code_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"  # an arbitrary class in the pickle: what weights_only=False would instantiate
    torch.save({"transformer.wte.weight": torch.zeros(2, 2), "x": argparse.Namespace(a=1)}, evil)
    with pytest.raises(UserError, match="not a checkpoint torch.load\\(weights_only=True\\) can read"):
        import_checkpoint(evil, "mingpt", "arith/add-3digit", tmp_path / "run", vocab="0123456789")


def test_an_imported_run_is_evaluated_and_not_trained(tmp_path, capsys):
    source = tmp_path / "ckpt.pt"
    save_mingpt(gpt2_weights(), source)
    run = str(tmp_path / "run")
    assert main(["import", str(source), "--format", "mingpt", "--preset", "arith/add-3digit", "--out", run,
                 "--vocab", "0123456789", "--heads", "3"]) == 0
    assert main(["eval", run, "--size", "20", "--digits", "4"]) == 0
    assert "0-3 digits" in capsys.readouterr().out
    assert main(["train", run]) == 2
    assert "imported by `mathlens import`" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "imported.json").read_text())["vocab"][:3] == ["0", "1", "2"]
