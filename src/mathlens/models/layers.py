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

    def forward(self, x, memory=None, mask=None, causal=False, cache=None):
        B, T, d = x.shape
        q = self.hook_q(self._heads(self.W_q(x)))
        if memory is not None and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self.W_kv(x if memory is None else memory).split(d, dim=-1)
            k, v = self.hook_k(self._heads(k)), self.hook_v(self._heads(v))
            if cache is not None and memory is not None:
                cache["k"], cache["v"] = k, v
            elif cache is not None:  # self-attention: append this step's keys and values
                n = cache["n"]
                cache["k"][:, :, n : n + T] = k
                cache["v"][:, :, n : n + T] = v
                cache["n"] = n + T
                k, v = cache["k"][:, :, : n + T], cache["v"][:, :, : n + T]
                causal = causal and T > 1  # one new query sees every cached key
        p = self.dropout if self.training else 0.0
        if self.hook_pattern.active:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
            if causal:
                S = k.shape[2]
                keep = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
                scores = scores.masked_fill(~keep, float("-inf"))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            pattern = self.hook_pattern(scores.softmax(-1))
            z = F.dropout(pattern, p, self.training) @ v
        else:
            z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        z = self.hook_z(z)
        return self.W_o(z.transpose(1, 2).reshape(B, T, d))


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", bias: bool = True):
        super().__init__()
        self.W_in = nn.Linear(d_model, d_ff, bias=bias)
        self.W_out = nn.Linear(d_ff, d_model, bias=bias)
        self.act = {"relu": F.relu, "gelu": F.gelu}[activation]
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x):
        return self.W_out(self.hook_post(self.act(self.hook_pre(self.W_in(x)))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: self-attention, optional cross-attention, MLP.

    Hook points: hook_resid_pre, hook_attn_out, (hook_cross_out), hook_mlp_out, hook_resid_post.
    """

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, cross=False, activation="relu"):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads, dropout)
        self.cross = cross
        if cross:
            self.ln_cross = nn.LayerNorm(d_model)
            self.cross_attn = Attention(d_model, n_heads, dropout)
            self.hook_cross_out = HookPoint()
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, d_ff, activation)
        self.drop = nn.Dropout(dropout)
        self.hook_resid_pre, self.hook_resid_post = HookPoint(), HookPoint()
        self.hook_attn_out, self.hook_mlp_out = HookPoint(), HookPoint()

    def forward(self, x, self_mask=None, causal=False, memory=None, memory_mask=None, cache=None):
        x = self.hook_resid_pre(x)
        a = self.attn(self.ln1(x), mask=self_mask, causal=causal, cache=None if cache is None else cache["self"])
        x = x + self.drop(self.hook_attn_out(a))
        if self.cross:
            c = self.cross_attn(self.ln_cross(x), memory=memory, mask=memory_mask,
                                cache=None if cache is None else cache["cross"])
            x = x + self.drop(self.hook_cross_out(c))
        x = x + self.drop(self.hook_mlp_out(self.mlp(self.ln2(x))))
        return self.hook_resid_post(x)
