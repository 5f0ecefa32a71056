"""Batched greedy decoding, with a KV cache (fast) or by re-running the decoder on the whole prefix (reference)."""

from __future__ import annotations

import torch


@torch.inference_mode()
def greedy(model, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int, use_cache: bool = True):
    """Generate up to ``max_len`` tokens per row after the start token.

    Returns (B, L) int64 ids, L <= max_len; decoding stops once every row has written ``eos_id``.
    """
    B = src.shape[0]
    memory, mask = model.encode(src)
    out = torch.full((B, max_len), eos_id, dtype=torch.long, device=src.device)
    tok = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    caches = model.new_caches(B, max_len + 1, src.device, memory.dtype) if use_cache else None
    prefix = tok
    for t in range(max_len):
        if use_cache:
            logits = model.decode(tok, memory, mask, start=t, caches=caches)[:, -1]
        else:
            logits = model.decode(prefix, memory, mask)[:, -1]
        tok = logits.argmax(-1, keepdim=True)
        out[:, t] = tok[:, 0]
        if not use_cache:
            prefix = torch.cat([prefix, tok], dim=1)
        done |= tok[:, 0] == eos_id
        if bool(done.all()):
            return out[:, : t + 1]
    return out
