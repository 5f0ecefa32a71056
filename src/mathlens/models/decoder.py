"""Decoder-only transformer: GPT style, or the one-layer grokking model (no LayerNorm, untied unembedding).

Hook points (names as in ``dict(model.named_modules())``): ``hook_embed``, ``hook_pos_embed``,
``blocks.{i}.hook_resid_pre``, ``blocks.{i}.attn.hook_pattern``, ``blocks.{i}.attn.hook_z``,
``blocks.{i}.hook_attn_out``, ``blocks.{i}.hook_resid_mid``, ``blocks.{i}.mlp.hook_post``,
``blocks.{i}.hook_mlp_out``, ``blocks.{i}.hook_resid_post``, ``hook_resid_final``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import Block, HookPoint


class Decoder(nn.Module):
    """Causal transformer over token ids.

    Parameters
    ----------
    cfg : ModelConfig
        ``layers``, ``d_model``, ``n_heads``, ``d_ff``, ``layernorm``, ``bias``, ``positions``, ``activation``,
        ``share_embeddings``, ``init``, ``dropout``.
    vocab_size : int
        Input tokens.
    n_ctx : int
        Longest sequence (the learned position table).
    n_out : int, optional
        Output classes (default ``vocab_size``); the grokking model answers with one of p residues.

    Example
    -------
    >>> from mathlens.config import ModelConfig
    >>> m = Decoder(ModelConfig(arch="decoder", d_model=32, n_heads=4), vocab_size=10, n_ctx=3, n_out=7)
    >>> x = torch.tensor([[1, 8, 2]])
    >>> m(x).shape, m(x, last_only=True).shape
    (torch.Size([1, 3, 7]), torch.Size([1, 7]))
    """

    def __init__(self, cfg, vocab_size: int, n_ctx: int, n_out: int | None = None):
        super().__init__()
        d, d_ff = cfg.d_model, cfg.d_ff or 4 * cfg.d_model
        n_out = n_out or vocab_size
        self.n_ctx = n_ctx
        self.embed = nn.Embedding(vocab_size, d)
        self.pos = nn.Embedding(n_ctx, d) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, d_ff, cfg.dropout, activation=cfg.activation,
                                          layernorm=cfg.layernorm, bias=cfg.bias) for _ in range(cfg.layers))
        self.ln_final = nn.LayerNorm(d) if cfg.layernorm else nn.Identity()
        self.unembed = nn.Linear(d, n_out, bias=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.hook_embed, self.hook_pos_embed, self.hook_resid_final = HookPoint(), HookPoint(), HookPoint()
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif param.dim() >= 2:  # Nanda et al.: normal with std 1/sqrt(d_model) (1/sqrt(n_out) unembedding)
                fan = n_out if name == "unembed.weight" else d
                nn.init.normal_(param, std=0.02 if cfg.init == "gpt" else 1 / math.sqrt(fan))
        if cfg.share_embeddings and n_out == vocab_size:
            self.unembed.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """tokens (B, T) -> logits (B, T, n_out); with ``last_only`` -> (B, n_out) of the last position,
        computing the last position's query, MLP and unembedding only."""
        T = tokens.shape[1]
        if T > self.n_ctx:
            raise ValueError(f"sequence of {T} tokens exceeds the model's {self.n_ctx} positions")
        if last_only and len(self.blocks) == 1 and self._table_ok():
            table = self.embed.weight[None] + (self.pos.weight[:T, None] if self.pos is not None else 0)
            x = self.blocks[0].forward_last_from_table(tokens, table.expand(T, -1, -1))
        else:
            x = self.hook_embed(self.embed(tokens))
            if self.pos is not None:
                x = x + self.hook_pos_embed(self.pos.weight[:T])
            x = self.drop(x)
            for i, block in enumerate(self.blocks):
                # only the last block can drop positions: earlier blocks' outputs are later blocks' keys/values
                x = block(x, causal=True, last_only=last_only and i == len(self.blocks) - 1)
        logits = self.unembed(self.hook_resid_final(self.ln_final(x)))
        return logits[:, -1] if last_only else logits

    def _table_ok(self) -> bool:
        """The one-block model's input is a function of (position, token) unless hooked or dropped out."""
        b = self.blocks[0]
        watched = (self.hook_embed, self.hook_pos_embed, b.hook_resid_pre, b.attn.hook_q, b.attn.hook_k,
                   b.attn.hook_v, b.attn.hook_pattern, b.attn.hook_z)
        return not any(h.active for h in watched) and not (self.training and self.drop.p > 0)

    @property
    def token_embedding(self) -> torch.Tensor:
        """W_E (vocab, d): the matrix the Fourier measures read (rows 0..p-1 for modular tasks)."""
        return self.embed.weight

    def hook_points(self) -> dict[str, HookPoint]:
        return {n: m for n, m in self.named_modules() if isinstance(m, HookPoint)}
