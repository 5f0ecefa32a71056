"""Decoder-only transformer: GPT style, or the one-layer grokking model (no LayerNorm, untied unembedding).

Positions (``model.positions``): ``learned`` absolute (GPT; Xu et al.), ``none`` (the causal mask alone),
``rotary`` (queries and keys rotated by their position), ``abacus`` (McLeish et al. 2024: a learned table
indexed by ids the data pipeline gives, each digit's place in its number, so that digits to be combined share
an id whatever the operands' lengths).

Hook points (names as in ``dict(model.named_modules())``): ``hook_embed``, ``hook_pos_embed``,
``blocks.{i}.hook_resid_pre``, ``blocks.{i}.attn.hook_pattern``, ``blocks.{i}.attn.hook_z``,
``blocks.{i}.hook_attn_out``, ``blocks.{i}.hook_resid_mid``, ``blocks.{i}.mlp.hook_post``,
``blocks.{i}.hook_mlp_out``, ``blocks.{i}.hook_resid_post``, ``hook_resid_final``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .cache import hook_points
from .layers import Block, HookPoint, rotary_tables


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
    n_pos : int, optional
        Rows of the position table (default ``n_ctx``); abacus ids index it.

    Example
    -------
    >>> from mathlens.config import ModelConfig
    >>> m = Decoder(ModelConfig(arch="decoder", d_model=32, n_heads=4), vocab_size=10, n_ctx=3, n_out=7)
    >>> x = torch.tensor([[1, 8, 2]])
    >>> m(x).shape, m(x, last_only=True).shape
    (torch.Size([1, 3, 7]), torch.Size([1, 7]))
    """

    def __init__(self, cfg, vocab_size: int, n_ctx: int, n_out: int | None = None, n_pos: int | None = None):
        super().__init__()
        d, d_ff = cfg.d_model, cfg.d_ff or 4 * cfg.d_model
        n_out = n_out or vocab_size
        self.n_ctx, self.positions = n_ctx, cfg.positions
        self.embed = nn.Embedding(vocab_size, d)
        self.pos = nn.Embedding(n_pos or n_ctx, d) if cfg.positions in ("learned", "abacus") else None
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, d_ff, cfg.dropout, activation=cfg.activation,
                                          layernorm=cfg.layernorm, bias=cfg.bias) for _ in range(cfg.layers))
        self.ln_final = nn.LayerNorm(d) if cfg.layernorm else nn.Identity()
        self.unembed = nn.Linear(d, n_out, bias=cfg.unembed_bias)
        self.drop = nn.Dropout(cfg.dropout)
        self.hook_embed, self.hook_pos_embed, self.hook_resid_final = HookPoint(), HookPoint(), HookPoint()
        # torch: keep each module's own initialisation (Grokfast's code does)
        for name, param in self.named_parameters() if cfg.init != "torch" else ():
            if name.endswith("bias"):  # (the unembedding's too: imported models set theirs)
                nn.init.zeros_(param)
            elif param.dim() >= 2:  # Nanda et al.: normal with std 1/sqrt(d_model) (1/sqrt(n_out) unembedding)
                fan = n_out if name == "unembed.weight" else d
                nn.init.normal_(param, std=0.02 if cfg.init == "gpt" else 1 / math.sqrt(fan))
        if cfg.share_embeddings and n_out == vocab_size:
            self.unembed.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor, last_only: bool = False, positions: torch.Tensor | None = None,
                caches: list | None = None, start: int = 0) -> torch.Tensor:
        """tokens (B, T) -> logits (B, T, n_out); with ``last_only`` -> (B, n_out) of the last position,
        computing the last position's query, MLP and unembedding only where the positions allow it.

        ``positions`` (B, T) ids into the position table (required for abacus; default ``start + arange(T)``).
        ``caches`` (from :meth:`new_caches`) makes decoding incremental: the tokens are the ones after the
        ``start`` already seen, whose keys and values are cached.
        """
        T = tokens.shape[1]
        if start + T > self.n_ctx:
            raise ValueError(f"sequence of {start + T} tokens exceeds the model's {self.n_ctx} positions")
        if positions is None:
            if self.positions == "abacus":
                raise ValueError("abacus positions need position ids from the data pipeline")
            positions = torch.arange(start, start + T, device=tokens.device)
        elif self.pos is not None and int(positions.max()) >= self.pos.num_embeddings:
            raise ValueError(f"position id {int(positions.max())} exceeds the model's "
                             f"{self.pos.num_embeddings}-row position table")
        plain = self.positions in ("learned", "none") and positions.dim() == 1 and start == 0 and caches is None
        if last_only and plain and len(self.blocks) == 1 and self._table_ok():
            table = self.embed.weight[None] + (self.pos.weight[:T, None] if self.pos is not None else 0)
            x = self.blocks[0].forward_last_from_table(tokens, table.expand(T, -1, -1))
        else:
            x = self.hook_embed(self.embed(tokens))
            if self.pos is not None:
                x = x + self.hook_pos_embed(self.pos(positions))
            x = self.drop(x)
            rope = rotary_tables(positions, self.blocks[0].attn.d_head) if self.positions == "rotary" else None
            for i, block in enumerate(self.blocks):
                # only the last block can drop positions: earlier blocks' outputs are later blocks' keys/values
                last = last_only and plain and caches is None and i == len(self.blocks) - 1
                x = block(x, causal=True, last_only=last, rope=rope, cache=None if caches is None else caches[i])
            if last_only and x.shape[1] > 1:
                x = x[:, -1:]
        logits = self.unembed(self.hook_resid_final(self.ln_final(x)))
        return logits[:, -1] if last_only else logits

    def new_caches(self, batch: int, max_len: int, device, dtype) -> list:
        """Empty key/value caches for incremental decoding of up to ``max_len`` tokens in all."""
        a = self.blocks[0].attn
        shape = (batch, a.n_heads, max_len, a.d_head)
        return [{"self": {"k": torch.empty(shape, device=device, dtype=dtype),
                          "v": torch.empty(shape, device=device, dtype=dtype), "n": 0}} for _ in self.blocks]

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
        return hook_points(self)
