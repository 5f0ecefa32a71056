"""A trained decoder as a TransformerLens ``HookedTransformer`` (optional: ``pip install 'mathlens[lens]'``).

Our hook names already follow TransformerLens, and the weights map one to one: the fused key/value projection
is split per head, ``nn.Linear`` matrices are transposed to TransformerLens's (d_in, d_out) layout, missing
biases become zeros. Learned, absent and rotary positions convert; abacus positions (ids computed from the
digits) have no TransformerLens equivalent and are refused. The logits match ours (tested).

>>> ht = to_hooked_transformer(Run("runs/add3").model)                # doctest: +SKIP
>>> logits, cache = ht.run_with_cache(tokens)                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import UserError
from .io import atomic_path, write_json
from .run import Run

INSTALL = "pip install 'mathlens[lens]' (TransformerLens 2 or 3, which have HookedTransformer)"


def _lens():
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig  # optional: the lens extra
    except ImportError as e:
        raise UserError(f"--to transformer-lens: TransformerLens with HookedTransformer is not installed "
                        f"({e.__class__.__name__}); {INSTALL}") from None
    return HookedTransformer, HookedTransformerConfig


def lens_config(model) -> dict:
    """HookedTransformerConfig arguments describing a :class:`~mathlens.models.Decoder`."""
    if model.positions == "abacus":
        raise UserError("--to transformer-lens: abacus positions (ids from the digits) have no TransformerLens "
                        "equivalent; export a run with model.positions = learned, none or rotary")
    block = model.blocks[0]
    d, heads = model.embed.weight.shape[1], block.attn.n_heads
    act = {"gelu_tanh": "gelu_new"}.get(block.mlp.activation, block.mlp.activation)  # gelu: exact, as TL's
    layernorm = isinstance(block.ln1, torch.nn.LayerNorm)
    out = {"n_layers": len(model.blocks), "d_model": d, "n_heads": heads, "d_head": d // heads,
           "d_mlp": block.mlp.W_in.out_features, "d_vocab": model.embed.num_embeddings,
           "d_vocab_out": model.unembed.out_features, "n_ctx": model.n_ctx, "act_fn": act,
           "normalization_type": "LN" if layernorm else None, "default_prepend_bos": False,
           "positional_embedding_type": "rotary" if model.positions == "rotary" else "standard"}
    if model.positions == "rotary":
        out["rotary_dim"] = d // heads
    return out


def lens_state_dict(model) -> dict[str, torch.Tensor]:
    """Our weights under TransformerLens's names and layouts."""
    cfg = lens_config(model)
    H, dh, d = cfg["n_heads"], cfg["d_head"], cfg["d_model"]

    def bias(linear, n):
        return linear.bias.detach() if linear.bias is not None else torch.zeros(n)

    def per_head(linear, rows):  # rows of an (out, in) Linear weight -> (H, d_in, d_head)
        return linear.weight.detach()[rows].view(H, dh, d).transpose(1, 2)

    sd = {"embed.W_E": model.embed.weight.detach(),
          "pos_embed.W_pos": model.pos.weight.detach() if model.pos is not None else torch.zeros(model.n_ctx, d),
          "unembed.W_U": model.unembed.weight.detach().T, "unembed.b_U": bias(model.unembed, cfg["d_vocab_out"])}
    if cfg["positional_embedding_type"] == "rotary":
        del sd["pos_embed.W_pos"]
    for i, b in enumerate(model.blocks):
        a, p = b.attn, f"blocks.{i}."
        kv_bias = bias(a.W_kv, 2 * d)
        sd.update({
            p + "attn.W_Q": per_head(a.W_q, slice(0, d)), p + "attn.b_Q": bias(a.W_q, d).view(H, dh),
            p + "attn.W_K": per_head(a.W_kv, slice(0, d)), p + "attn.b_K": kv_bias[:d].view(H, dh),
            p + "attn.W_V": per_head(a.W_kv, slice(d, 2 * d)), p + "attn.b_V": kv_bias[d:].view(H, dh),
            p + "attn.W_O": a.W_o.weight.detach().T.reshape(H, dh, d), p + "attn.b_O": bias(a.W_o, d),
            p + "mlp.W_in": b.mlp.W_in.weight.detach().T, p + "mlp.b_in": bias(b.mlp.W_in, cfg["d_mlp"]),
            p + "mlp.W_out": b.mlp.W_out.weight.detach().T, p + "mlp.b_out": bias(b.mlp.W_out, d)})
        if cfg["normalization_type"] == "LN":
            for ours, theirs in (("ln1", "ln1"), ("ln2", "ln2")):
                ln = getattr(b, ours)
                sd[p + f"{theirs}.w"], sd[p + f"{theirs}.b"] = ln.weight.detach(), ln.bias.detach()
    if cfg["normalization_type"] == "LN":
        sd["ln_final.w"], sd["ln_final.b"] = model.ln_final.weight.detach(), model.ln_final.bias.detach()
    return {k: v.contiguous().float() for k, v in sd.items()}


def to_hooked_transformer(model):
    """A HookedTransformer with ``model``'s weights (a :class:`~mathlens.models.Decoder`), in eval mode."""
    HookedTransformer, HookedTransformerConfig = _lens()
    with warnings.catch_warnings():  # TransformerLens 3 warns that HookedTransformer is deprecated: we know
        warnings.simplefilter("ignore", DeprecationWarning)
        ht = HookedTransformer(HookedTransformerConfig(**lens_config(model)))
    _load(ht, lens_state_dict(model))
    return ht.eval()


def _load(ht, state: dict) -> None:
    """Load every parameter; only TransformerLens's own buffers (masks, rotary tables) may be left as built."""
    missing, unexpected = ht.load_state_dict(state, strict=False)
    params = {n for n, _ in ht.named_parameters()}
    if unexpected or params & set(missing):
        raise UserError(f"TransformerLens export: weights do not match its model (missing "
                        f"{sorted(params & set(missing))[:3]}, unexpected {unexpected[:3]})")


def export_transformer_lens(run_path, out=None) -> Path:
    """`mathlens export RUN --to transformer-lens`: write RUN's model as TransformerLens weights
    (``model.safetensors``) and config (``config.json``); returns the directory."""
    run = Run(run_path)
    if run.cfg.model.arch != "decoder":
        raise UserError(f"--to transformer-lens: {run.path} is a {run.cfg.model.arch} model; only decoder-only "
                        f"runs (arithmetic, modular) convert to a HookedTransformer")
    _lens()  # a clear error now when the library is missing
    model = run.model
    out = Path(out) if out else run.path / "export" / "transformer-lens"
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(lens_state_dict(model), str(tmp))
    write_json(out / "config.json", {**lens_config(model), "tokens": run.pipe.symbols})
    return out


def load_hooked_transformer(path):
    """The HookedTransformer written by :func:`export_transformer_lens` in ``path``."""
    HookedTransformer, HookedTransformerConfig = _lens()
    cfg = json.loads((Path(path) / "config.json").read_text())
    cfg.pop("tokens", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ht = HookedTransformer(HookedTransformerConfig(**cfg))
    _load(ht, load_file(str(Path(path) / "model.safetensors")))
    return ht.eval()
