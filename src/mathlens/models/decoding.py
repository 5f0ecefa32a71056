"""Batched greedy decoding, with a KV cache (fast) or by re-running the decoder on the whole prefix (reference)."""

from __future__ import annotations

import torch


@torch.inference_mode()
def greedy(model, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int, use_cache: bool = True,
           source: tuple = (), grammar=None, shape: tuple[int, int] | None = None):
    """Generate up to ``max_len`` tokens per row after the start token (``source``: the encoder's other inputs,
    place and multiplier, when the pipeline makes them; ``grammar``: only the tokens it allows are written, as
    :class:`~mathlens.pipelines.grammar.MatrixGrammar` says: ``start(n, shape)``, ``mask(state)``, ``advance``;
    ``shape``: the answer's (rows, cols) the grammar's header then writes).

    Returns (B, L) int64 ids, L <= max_len; decoding stops once every row has written ``eos_id``.
    """
    B = src.shape[0]
    memory, mask = model.encode(src, *source)
    out = torch.full((B, max_len), eos_id, dtype=torch.long, device=src.device)
    tok = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    caches = model.new_caches(B, max_len + 1, src.device, memory.dtype) if use_cache else None
    prefix = tok
    state = grammar.start(B, shape) if grammar is not None else None
    for t in range(max_len):
        if use_cache:
            logits = model.decode(tok, memory, mask, start=t, caches=caches)[:, -1]
        else:
            logits = model.decode(prefix, memory, mask)[:, -1]
        if grammar is not None:
            logits = logits.masked_fill(~grammar.mask(state), float("-inf"))
        tok = logits.argmax(-1, keepdim=True)
        if grammar is not None:
            state = grammar.advance(state, tok[:, 0])
        out[:, t] = tok[:, 0]
        if not use_cache:
            prefix = torch.cat([prefix, tok], dim=1)
        done |= tok[:, 0] == eos_id
        if bool(done.all()):
            return out[:, : t + 1]
    return out


@torch.inference_mode()
def beam_search(model, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int, beam: int,
                length_penalty: float = 1.0, source: tuple = (), grammar=None, shape=None):
    """Batched beam search with a KV cache: ``beam`` hypotheses per source row, all rows advanced together.

    A hypothesis that has written ``eos_id`` is frozen (its score no longer changes) and keeps its place among
    the beams; the search stops once every hypothesis is frozen or ``max_len`` tokens are written. Final
    scores are summed log-probabilities divided by length ** length_penalty (LAWT and fairseq's convention).

    Returns
    -------
    ids : (B, beam, L) int64, the hypotheses after the start token, best first (rows end with ``eos_id``).
    scores : (B, beam) float, the normalised scores, decreasing.

    ``source``: the encoder's other inputs (place, multiplier), ``grammar`` and ``shape``: the tokens allowed,
    as for :func:`greedy` (a disallowed token's log-probability is -inf; the allowed ones are not renormalised).

    >>> ids, scores = beam_search(model, src, 20, 1, 1, beam=4)     # doctest: +SKIP
    """
    B, K = src.shape[0], beam
    memory, mask = model.encode(src, *source)
    memory = memory.repeat_interleave(K, 0)
    mask = None if mask is None else mask.repeat_interleave(K, 0)
    caches = model.new_caches(B * K, max_len + 1, src.device, memory.dtype)
    out = torch.full((B * K, max_len), eos_id, dtype=torch.long, device=src.device)
    tok = torch.full((B * K, 1), bos_id, dtype=torch.long, device=src.device)
    scores = torch.full((B, K), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # at the start all beams are the same: expand only the first
    scores = scores.view(-1)
    lengths = torch.zeros(B * K, dtype=torch.long, device=src.device)
    done = torch.zeros(B * K, dtype=torch.bool, device=src.device)
    base = (torch.arange(B, device=src.device) * K)[:, None]
    steps = max_len
    state = grammar.start(B * K, shape) if grammar is not None else None
    for t in range(max_len):
        logp = model.decode(tok, memory, mask, start=t, caches=caches)[:, -1].float().log_softmax(-1)
        V = logp.shape[-1]
        if grammar is not None:
            logp.masked_fill_(~grammar.mask(state), float("-inf"))
        logp.masked_fill_(done[:, None], float("-inf"))
        logp[:, eos_id].masked_fill_(done, 0.0)  # a finished hypothesis can only "write" eos again, at no cost
        cand = (scores[:, None] + logp).view(B, K * V)
        top, idx = cand.topk(K, dim=1)
        parent = (base + idx // V).view(-1)
        tok = (idx % V).view(-1, 1)
        scores = top.view(-1)
        out = out[parent]
        out[:, t] = tok[:, 0]
        was_done = done[parent]
        if grammar is not None:
            state = grammar.advance(grammar.reorder(state, parent), tok[:, 0])
        lengths = lengths[parent] + (~was_done).long()
        done = was_done | (tok[:, 0] == eos_id)
        for cache in caches:  # reorder the self-attention keys and values; cross-attention's are per source
            cache["self"]["k"] = cache["self"]["k"][parent]
            cache["self"]["v"] = cache["self"]["v"][parent]
        if bool(done.all()):
            steps = t + 1
            break
    final = (scores / lengths.clamp(min=1).float() ** length_penalty).view(B, K)
    final, order = final.sort(dim=1, descending=True)
    ids = out[:, :steps].view(B, K, steps)
    return ids.gather(1, order[:, :, None].expand(-1, -1, steps)), final
