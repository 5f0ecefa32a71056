"""`mathlens import CKPT --format mingpt|nanogpt|hf-gpt2 --preset PRESET --out RUN`: a GPT trained elsewhere as
an ordinary run directory, so that eval, analyze, report and load_run work on it unchanged.

The preset gives the task and its token format; the checkpoint gives the architecture (layers, width, MLP
width, context length and vocabulary from the weights' shapes; heads from the format's config, ``--heads`` or
the preset). The three formats are read into GPT-2's layout (``wte``, ``wpe``, ``h.N.{ln_1, attn.c_attn,
attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}``, ``ln_f``, ``lm_head``; weights as (out, in)), then copied into a
:class:`~mathlens.models.Decoder`:

- minGPT: a raw state dict (torch.save), ``transformer.`` prefix, tanh-GELU, biases, untied ``lm_head``;
- nanoGPT: ``{"model": state_dict, "model_args": {...}}``, optional biases, exact GELU, tied head,
  ``_orig_mod.`` prefixes from torch.compile;
- Hugging Face GPT-2: a GPT2LMHeadModel (or GPT2Model) state dict, or a saved folder (config.json with
  model.safetensors or pytorch_model.bin); Conv1D weights are (in, out) and are transposed.

The token map is explicit: ``vocab`` lists the other code's tokens in id order (one character each, or
comma-separated), each one of the preset's tokens (minGPT's adder: "0123456789"). Preset tokens the model
lacks get zero embeddings and an unembedding bias of -1e4, so the model never writes them. Loading is
``torch.load(weights_only=True)`` or safetensors; a checkpoint that does not fit is one line naming what.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..config import apply_overrides, config_from_dict, load_preset
from ..errors import UserError
from ..io import write_json, write_text
from ..pipelines import pipeline_for
from ..rundir import CONFIG, IMPORTED, LATEST
from ..training import checkpoint

FORMATS = ("mingpt", "nanogpt", "hf-gpt2")
ACTIVATIONS = {"mingpt": "gelu_tanh", "nanogpt": "gelu"}  # hf-gpt2: its config's activation_function
HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
                  "gelu": "gelu", "relu": "relu"}
MASKED = -1e4  # unembedding bias of the preset's tokens the imported model cannot write


@dataclass
class Foreign:
    """A checkpoint in GPT-2's layout: ``weights`` (name -> tensor, Linear (out, in)), its config's heads and
    activation when it says them."""

    weights: dict
    heads: int | None
    activation: str


def read_file(path: Path) -> object:
    """A checkpoint file's contents without unpickling code: safetensors, or torch.load(weights_only=True)."""
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as e:  # noqa: BLE001  safetensors raises several types for a bad file
            raise UserError(f"{path}: not a readable safetensors file ({e})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  a pickle with code, a truncated zip, not a checkpoint at all
        raise UserError(f"{path}: not a checkpoint torch.load(weights_only=True) can read "
                        f"({str(e).strip().splitlines()[0][:160]})") from None


def state_dict_of(obj, path: Path, key: str | None = None) -> dict:
    """The tensors of a loaded checkpoint (``obj[key]`` when given), checked to be a flat dict of tensors."""
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise UserError(f"{path}: expected a dict with {key!r} (nanoGPT's checkpoint), got "
                            f"{sorted(obj)[:5] if isinstance(obj, dict) else type(obj).__name__}")
        obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise UserError(f"{path}: expected a state dict (names -> tensors)")
    return obj


def gpt2_layout(sd: dict, prefixes: tuple[str, ...], transpose: bool) -> dict:
    """Names without the format's prefixes and attention-mask buffers; Conv1D weights turned (out, in)."""
    out = {}
    for name, value in sd.items():
        for prefix in prefixes:
            name = name.removeprefix(prefix)
        if re.fullmatch(r"h\.\d+\.attn\.(bias|masked_bias)", name) and value.dim() != 1:
            continue  # the causal-mask buffer minGPT and older Hugging Face models save
        if transpose and value.dim() == 2 and re.fullmatch(r"h\.\d+\.(attn|mlp)\.c_\w+\.weight", name):
            value = value.T
        out[name] = value.float()
    return out


def read_foreign(path, fmt: str) -> Foreign:
    """Read ``path`` in format ``fmt`` into GPT-2's layout."""
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"--format: {fmt!r} is not allowed; choose from {', '.join(FORMATS)}")
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if fmt == "hf-gpt2":
        config = {}
        if path.is_dir():
            config_file = path / "config.json"
            config = json.loads(config_file.read_text()) if config_file.exists() else {}
            files = [f for f in (path / "model.safetensors", path / "pytorch_model.bin") if f.exists()]
            if not files:
                raise UserError(f"{path}: a Hugging Face folder needs model.safetensors or pytorch_model.bin")
            path = files[0]
        sd = gpt2_layout(state_dict_of(read_file(path), path), ("transformer.",), transpose=True)
        act = config.get("activation_function", "gelu_new")
        if act not in HF_ACTIVATIONS:
            raise UserError(f"{path}: activation_function {act!r} is not one of {', '.join(HF_ACTIVATIONS)}")
        return Foreign(sd, config.get("n_head"), HF_ACTIVATIONS[act])
    obj = read_file(path)
    if fmt == "nanogpt":
        args = obj.get("model_args", {}) if isinstance(obj, dict) else {}
        sd = gpt2_layout(state_dict_of(obj, path, "model"), ("_orig_mod.", "transformer."), transpose=False)
        return Foreign(sd, args.get("n_head"), ACTIVATIONS[fmt])
    return Foreign(gpt2_layout(state_dict_of(obj, path), ("transformer.",), transpose=False), None,
                   ACTIVATIONS[fmt])


def need(weights: dict, name: str, path) -> torch.Tensor:
    if name not in weights:
        raise UserError(f"{path}: has no {name} (found {', '.join(sorted(weights)[:6])}...); is --format right?")
    return weights[name]


def architecture(f: Foreign, path, heads: int | None) -> dict:
    """model.* settings from the weights' shapes (and the heads from the config, --heads or the preset)."""
    w = f.weights
    wte = need(w, "wte.weight", path)
    layers = 1 + max((int(m.group(1)) for n in w if (m := re.match(r"h\.(\d+)\.", n))), default=-1)
    if layers == 0:
        raise UserError(f"{path}: no transformer blocks (h.0...) found")
    d = wte.shape[1]
    heads = heads or f.heads
    out = {"arch": "decoder", "layers": layers, "d_model": d, "d_ff": need(w, "h.0.mlp.c_fc.weight", path).shape[0],
           "bias": "h.0.attn.c_attn.bias" in w, "layernorm": True, "positions": "learned",
           "activation": f.activation, "dropout": 0.0, "share_embeddings": "lm_head.weight" not in w or bool(
               torch.equal(w["lm_head.weight"], wte))}
    if heads is not None:
        out["n_heads"] = heads
    return out


def token_map(vocab: str | None, foreign_size: int, symbols: list[str]) -> list[int]:
    """For each of the other model's token ids, the preset's token id; a UserError names a token that does not
    map. ``vocab``: one character per token, or comma-separated tokens; None: the preset's own order."""
    if vocab is None:
        if foreign_size > len(symbols):
            raise UserError(f"--vocab: the checkpoint has {foreign_size} tokens, the preset {len(symbols)} "
                            f"({' '.join(symbols)}); say which is which, e.g. --vocab \"0123456789\"")
        return list(range(foreign_size))
    tokens = vocab.split(",") if "," in vocab else list(vocab)
    if len(tokens) != foreign_size:
        raise UserError(f"--vocab: {len(tokens)} tokens given; the checkpoint's embedding has {foreign_size}")
    index = {s: i for i, s in enumerate(symbols)}
    for t in tokens:
        if t not in index:
            raise UserError(f"--vocab: {t!r} is not one of the preset's tokens ({' '.join(symbols)})")
    if len(set(tokens)) < len(tokens):
        raise UserError("--vocab: a token is listed twice")
    return [index[t] for t in tokens]


def decoder_state(f: Foreign, model, ids: list[int], path) -> dict:
    """Our Decoder's state dict from the GPT-2-layout weights, token rows placed by the map ``ids``."""
    w, d = f.weights, model.embed.weight.shape[1]
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}

    def rows(table, name):  # the other model's token rows at our ids
        src = need(w, name, path)
        if src.shape != (len(ids), d):
            raise UserError(f"{path}: {name} is {tuple(src.shape)}, expected ({len(ids)}, {d})")
        table[ids] = src
        return table

    state["embed.weight"] = rows(state["embed.weight"], "wte.weight")
    wpe, ours = need(w, "wpe.weight", path), state["pos.weight"]
    n = min(len(wpe), len(ours))
    if len(wpe) < len(ours) - 1:  # the last position of the longest sequence is never read as an input
        raise UserError(f"{path}: the checkpoint has {len(wpe)} positions; the preset's sequences need "
                        f"{len(ours) - 1} (its task options set their length)")
    ours[:n] = wpe[:n]
    head = "lm_head.weight" if "lm_head.weight" in w else "wte.weight"
    state["unembed.weight"] = rows(torch.zeros_like(state["unembed.weight"]), head)
    if "unembed.bias" in state:
        state["unembed.bias"] = torch.full_like(state["unembed.bias"], MASKED)
        state["unembed.bias"][ids] = 0.0
    names = {"ln1": "ln_1", "ln2": "ln_2", "attn.W_o": "attn.c_proj", "mlp.W_in": "mlp.c_fc",
             "mlp.W_out": "mlp.c_proj"}
    for i in range(len(model.blocks)):
        p, q = f"blocks.{i}.", f"h.{i}."
        for ours_name, theirs in names.items():
            for kind in ("weight", "bias"):
                if p + f"{ours_name}.{kind}" in state and q + f"{theirs}.{kind}" in w:
                    state[p + f"{ours_name}.{kind}"] = w[q + f"{theirs}.{kind}"]
        for kind in ("weight", "bias"):
            qkv = w.get(q + f"attn.c_attn.{kind}")
            if qkv is None and kind == "weight":
                need(w, q + "attn.c_attn.weight", path)
            if qkv is not None and p + f"attn.W_q.{kind}" in state:
                state[p + f"attn.W_q.{kind}"], state[p + f"attn.W_kv.{kind}"] = qkv[:d], qkv[d:]
    for kind in ("weight", "bias"):
        if f"ln_f.{kind}" in w:
            state[f"ln_final.{kind}"] = w[f"ln_f.{kind}"]
    for name, value in state.items():
        if name in model.state_dict() and value.shape != model.state_dict()[name].shape:
            raise UserError(f"{path}: {name} would be {tuple(value.shape)}; the model needs "
                            f"{tuple(model.state_dict()[name].shape)}")
    return state


def import_checkpoint(source, fmt: str, preset: str, out, vocab: str | None = None, heads: int | None = None,
                      overrides: list[str] = ()) -> Path:
    """Write the run directory ``out`` for checkpoint ``source``; returns its path."""
    out = Path(out)
    if (out / CONFIG).exists():
        raise UserError(f"--out {out}: already holds a run; choose a new directory")
    foreign = read_foreign(source, fmt)
    data = load_preset(preset)
    model = {**data.get("model", {}), **architecture(foreign, source, heads)}
    data = apply_overrides({**data, "model": model}, list(overrides))
    data["description"] = f"imported from {source} ({fmt}) into preset {preset}"
    try:
        cfg = config_from_dict(data)
    except UserError as e:
        raise UserError(f"{source}: its architecture does not fit preset {preset} ({e}); --heads or --set "
                        f"model.KEY=... say what the checkpoint does not") from None
    pipe = pipeline_for(cfg)
    ids = token_map(vocab, foreign.weights["wte.weight"].shape[0] if "wte.weight" in foreign.weights else 0,
                    pipe.symbols)
    if len(ids) < len(pipe.symbols) and not cfg.model.unembed_bias:
        cfg = config_from_dict(apply_overrides(cfg.to_dict(), ["model.unembed_bias=true"]))
        pipe = pipeline_for(cfg)
    model = pipe.build_model()
    model.load_state_dict(decoder_state(foreign, model, ids, source))
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.save(out / LATEST, model, meta={"step": 0, "examples": 0, "imported": True})
    write_json(out / IMPORTED, {"source": str(source), "format": fmt, "preset": preset,
                                "vocab": [pipe.symbols[i] for i in ids]})
    write_text(out / CONFIG, cfg.to_toml())
    return out
