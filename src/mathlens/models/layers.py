"""Transformer layers with named hook points, TransformerLens style.

Every activation passes through a :class:`HookPoint`; its name is its module path, e.g.
``decoder.blocks.0.cross_attn.hook_pattern``. A forward hook on a HookPoint can read or replace the
activation. Attention runs through ``scaled_dot_product_attention``; the explicit softmax pattern is computed
only when someone hooks ``hook_pattern``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SMALL_S = 8  # up to this many keys, a single query attends by a broadcast product (see Attention.attend)


class HookPoint(nn.Module):
    """Identity module: the place where an activation can be observed or patched by a forward hook."""

    def forward(self, x):
        return x

    @property
    def active(self) -> bool:
        return bool(self._forward_hooks)


class Attention(nn.Module):
    """Multi-head attention, self or cross, with an optional KV cache for incremental decoding.

    Shapes: x (B, T, d) queries; ``memory`` (B, S, d) keys/values for cross-attention (None: self-attention).
    ``mask`` is a bool (B, 1, 1, S) "may attend" mask, or None. ``cache`` is a dict: for self-attention it
    holds preallocated ``k``, ``v`` (B, H, Tmax, dh) and the filled length ``n``; for cross-attention the
    keys/values of the memory, computed once.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_kv = nn.Linear(d_model, 2 * d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_pattern, self.hook_z = HookPoint(), HookPoint()

    def _heads(self, x):
        B, T, _ = x.shape
        return x.view(B, T, -1, self.d_head).transpose(1, 2)

    def forward(self, x, memory=None, mask=None, causal=False, cache=None, rope=None):
        B, T, d = x.shape
        q = self._heads(self.W_q(x))
        q = self.hook_q(q if rope is None else rotate(q, *rope))
        if memory is not None and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self.W_kv(x if memory is None else memory).split(d, dim=-1)
            k, v = self._heads(k), self.hook_v(self._heads(v))
            k = self.hook_k(k if rope is None else rotate(k, *rope))
            if cache is not None and memory is not None:
                cache["k"], cache["v"] = k, v
            elif cache is not None:  # self-attention: append this step's keys and values
                n = cache["n"]
                cache["k"][:, :, n : n + T] = k
                cache["v"][:, :, n : n + T] = v
                cache["n"] = n + T
                k, v = cache["k"][:, :, : n + T], cache["v"][:, :, : n + T]
                causal = causal and T > 1  # one new query sees every cached key
        z = self.attend(q, k, v, mask, causal)
        return self.W_o(z.transpose(1, 2).reshape(B, T, d))

    def attend(self, q, k, v, mask=None, causal=False):
        """softmax(q k^T / sqrt(d_head)) v per head: (B, H, T, dh) queries, (B, H, S, dh) keys/values -> z."""
        p = self.dropout if self.training else 0.0
        T, S = q.shape[2], k.shape[2]
        if T == 1 and S <= SMALL_S and mask is None and not self.hook_pattern.active and not p:
            # One query over a few keys (grokking's last position): flash-attention kernels cost more than
            # the arithmetic here; a broadcast product is 1.6x faster on CPU, forward and backward.
            scores = (q * k).sum(-1, keepdim=True) / math.sqrt(self.d_head)  # (B, H, S, 1)
            return self.hook_z((scores.softmax(-2) * v).sum(-2, keepdim=True))
        if self.hook_pattern.active:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
            if causal:
                keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)
                scores = scores.masked_fill(~keep, float("-inf"))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            pattern = self.hook_pattern(scores.softmax(-1))
            z = F.dropout(pattern, p, self.training) @ v
        else:
            z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        return self.hook_z(z)


def rotary_tables(positions: torch.Tensor, d_head: int, base: float = 10000.0):
    """(cos, sin) of rotary embeddings (Su et al.; GPT-NeoX's half-split layout, as TransformerLens computes it)
    for position ids of shape (T,) or (B, T): each (T, d_head) or (B, 1, T, d_head), ready for :func:`rotate`."""
    inv_freq = base ** (-torch.arange(0, d_head, 2, device=positions.device, dtype=torch.float32) / d_head)
    angles = positions.float()[..., None] * inv_freq  # (..., T, d_head / 2)
    angles = torch.cat([angles, angles], dim=-1)
    cos, sin = angles.cos(), angles.sin()
    return (cos, sin) if positions.dim() == 1 else (cos[:, None], sin[:, None])


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys (B, H, T, d_head) by their positions' angles."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat([-x2, x1], dim=-1) * sin.to(x.dtype)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU with the tanh approximation (GPT-2, minGPT's NewGELU, Hugging Face's gelu_new)."""
    return F.gelu(x, approximate="tanh")


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", bias: bool = True):
        super().__init__()
        self.W_in = nn.Linear(d_model, d_ff, bias=bias)
        self.W_out = nn.Linear(d_ff, d_model, bias=bias)
        self.activation = activation
        self.act = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": gelu_tanh}[activation]
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x):
        return self.W_out(self.hook_post(self.act(self.hook_pre(self.W_in(x)))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: self-attention, optional cross-attention, MLP.

    ``layernorm=False`` and ``bias=False`` give the grokking papers' block (no LayerNorm, optionally no biases).
    Hook points: hook_resid_pre, hook_attn_out, (hook_cross_out), hook_resid_mid, hook_mlp_out, hook_resid_post.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, cross=False, activation="relu", layernorm=True,
                 bias=True):
        super().__init__()
        norm = (lambda: nn.LayerNorm(d_model)) if layernorm else nn.Identity
        self.ln1 = norm()
        self.attn = Attention(d_model, n_heads, dropout, bias)
        self.cross = cross
        if cross:
            self.ln_cross = norm()
            self.cross_attn = Attention(d_model, n_heads, dropout, bias)
            self.hook_cross_out = HookPoint()
        self.ln2 = norm()
        self.mlp = MLP(d_model, d_ff, activation, bias)
        self.drop = nn.Dropout(dropout)
        self.hook_resid_pre, self.hook_resid_mid, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()
        self.hook_attn_out, self.hook_mlp_out = HookPoint(), HookPoint()

    def forward(self, x, self_mask=None, causal=False, memory=None, memory_mask=None, cache=None,
                last_only=False, rope=None):
        """x (B, T, d) -> (B, T, d); with ``last_only`` -> (B, 1, d): only the last position's query, MLP and
        output are computed (its keys and values still come from every position), which is all a loss read at
        the last position needs."""
        x = self.hook_resid_pre(x)
        if last_only:
            h = self.ln1(x)
            a = self.attn(h[:, -1:], memory=h)  # the last query sees every position: no causal mask needed
            return self._after_attention(x[:, -1:], a)
        a = self.attn(self.ln1(x), mask=self_mask, causal=causal, cache=None if cache is None else cache["self"],
                      rope=rope)
        x = x + self.drop(self.hook_attn_out(a))
        if self.cross:
            c = self.cross_attn(self.ln_cross(x), memory=memory, mask=memory_mask,
                                cache=None if cache is None else cache["cross"])
            x = x + self.drop(self.hook_cross_out(c))
        return self._after_attention(x, None)

    def _after_attention(self, x, a):
        if a is not None:
            x = x + self.drop(self.hook_attn_out(a))
        x = self.hook_resid_mid(x)
        x = x + self.drop(self.hook_mlp_out(self.mlp(self.ln2(x))))
        return self.hook_resid_post(x)

    def forward_last_from_table(self, tokens, table):
        """``forward(table[pos, tokens], last_only=True)`` for a first block, computed per (position, token).

        tokens (B, T) ids; table (T, V, d) the block's input for every position and token (embedding plus
        position). LayerNorm, keys, values and the last query depend on (position, token) only, so they are
        computed for the T x V table and gathered: the big per-example projections disappear, forward and
        backward. Exact; used when nothing hooks the block's input or attention and dropout is off.
        """
        B, T = tokens.shape
        attn, (_, V, d) = self.attn, table.shape
        H, dh = attn.n_heads, attn.d_head
        h = self.ln1(table)
        k_table, v_table = attn.W_kv(h).reshape(T * V, 2 * d).split(d, dim=-1)
        # Gathers go through F.embedding: its backward is a fast dense scatter, unlike advanced indexing's.
        flat = tokens + V * torch.arange(T, device=tokens.device)  # row of (position, token) in the flat table
        k = F.embedding(flat, k_table.contiguous()).view(B, T, H, dh)
        v = F.embedding(flat, v_table.contiguous()).view(B, T, H, dh)
        q = F.embedding(tokens[:, -1], attn.W_q(h[-1])).view(B, 1, H, dh)
        # One query over T keys, in (B, T, H, dh) layout: a broadcast product beats attention kernels here.
        pattern = ((q * k).sum(-1) / math.sqrt(dh)).softmax(1)  # (B, T, H)
        z = (pattern.unsqueeze(-1) * v).sum(1)  # (B, H, dh)
        a = attn.W_o(z.reshape(B, 1, d))
        return self._after_attention(F.embedding(tokens[:, -1:], table[-1]), a)
