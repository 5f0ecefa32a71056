"""The optimisers (AdamW; Muon for the hidden matrices) and the learning-rate schedules: linear warm-up, then
cosine, inverse square root or constant."""

from __future__ import annotations

import math

import torch

EMBEDDINGS = ("embed", "pos", "unembed")  # matrices Muon leaves to AdamW (as its authors do)
# Fused matrices: parameter name ending -> how many matrices are stacked along its rows. Muon orthogonalises each
# part on its own, as its reference implementation splits a fused QKV: orthogonalised as one block, the part with
# the larger gradient takes nearly all of the update (K's share of W_kv when V's gradient is larger).
FUSED = {"W_kv.weight": 2}  # models/layers.py: keys then values


def make_optimizer(model, t):
    """AdamW (or Adam with L2 decay: ``optim.optimizer = "adam"``); weight decay only on matrices (not on
    biases, norms), as is usual for transformers. With ``optim.optimizer = "muon"``, torch's Muon (momentum
    orthogonalised by Newton-Schulz; off CUDA in float32: :class:`Muon`) takes the hidden
    matrices (attention and MLP weights) at ``optim.muon_lr``, and AdamW the rest. Fused matrices (:data:`FUSED`)
    are orthogonalised part by part."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    hidden = [p for n, p in trainable if p.dim() == 2 and n.split(".")[0] not in EMBEDDINGS]
    parts = {p: k for n, p in trainable for end, k in FUSED.items() if n.endswith(end)}
    if t.optimizer == "muon":
        rest = [(n, p) for n, p in trainable if not any(p is h for h in hidden)]
    else:
        rest, hidden = trainable, []
    decay = [p for _, p in rest if p.dim() >= 2]
    no_decay = [p for _, p in rest if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_cuda = next(model.parameters()).is_cuda
    adam_class = torch.optim.Adam if t.optimizer == "adam" else torch.optim.AdamW  # Adam: decay is L2 on the grad
    adam = adam_class(groups, lr=t.lr, betas=(t.beta1, t.beta2), fused=on_cuda or None)
    if not hidden:
        return adam
    # Newton-Schulz in bf16 on CUDA, as torch's Muon; elsewhere in float32 (see Muon)
    muon = Muon(hidden, lr=t.muon_lr, weight_decay=t.weight_decay, parts={p: parts[p] for p in hidden if p in parts},
                ns_dtype=torch.bfloat16 if on_cuda else torch.float32)
    muon.param_groups[0]["lr_scale"] = t.muon_lr / t.lr if t.lr else 0.0
    return Hybrid(muon, adam)


class Muon(torch.optim.Muon):
    """torch's Muon, with two changes; torch's state (``momentum_buffer``) and groups, so checkpoints move
    between the two.

    - ``parts``: parameter -> number of matrices stacked along its rows (a fused key/value matrix: 2). Each part
      is orthogonalised, and its step scaled for its shape, on its own, as Muon's reference implementation does
      for fused QKV; torch's Muon orthogonalises the whole block.
    - ``ns_dtype``: the dtype of the Newton-Schulz iteration (torch's: bfloat16). float32 off CUDA: CPUs without
      native bf16 matmuls run torch's iteration 10-18x slower than float32 (a 512x128 matrix: 123 ms against
      7 ms on the 2-core host of 2026-12-07), which made a one-layer grokking step 7x slower with Muon than with
      AdamW. Without parts the update is torch's up to bf16 rounding.

    Only torch's default learning-rate adjustment ("original") is supported.
    """

    def __init__(self, params, *args, parts: dict | None = None, ns_dtype=torch.float32, **kwargs):
        super().__init__(params, *args, **kwargs)
        self.parts, self.ns_dtype = parts or {}, ns_dtype

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["adjust_lr_fn"] not in (None, "original"):
                raise ValueError(f"Float32Muon: adjust_lr_fn {group['adjust_lr_fn']!r} is not supported")
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - momentum)
                update = p.grad.lerp(buf, momentum) if group["nesterov"] else buf
                p.mul_(1 - lr * group["weight_decay"])
                for part, grad in zip(p.chunk(self.parts.get(p, 1)), update.chunk(self.parts.get(p, 1))):
                    step = orthogonalise(grad.to(self.ns_dtype), group["ns_coefficients"], group["ns_steps"],
                                         group["eps"])
                    part.add_(step.to(p.dtype), alpha=-lr * math.sqrt(max(1.0, part.shape[0] / part.shape[1])))
        return loss


def orthogonalise(g: torch.Tensor, coefficients, steps: int, eps: float) -> torch.Tensor:
    """Muon's quintic Newton-Schulz iteration on a 2-D ``g``: about U V^T of its SVD (singular values pushed into
    roughly [0.5, 1.5]), computed in ``g``'s dtype."""
    a, b, c = coefficients
    wide = g.T if g.shape[0] > g.shape[1] else g
    x = wide / wide.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if g.shape[0] > g.shape[1] else x


def set_lr(optimizer, lr: float) -> None:
    """The schedule's learning rate into every group (Muon's scaled by muon_lr / lr)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


class Hybrid:
    """Two optimisers as one (Muon for hidden matrices, AdamW for the rest): step, zero_grad, param_groups, and a
    state dict in torch's format (parameter indices numbered through both) for checkpoints."""

    def __init__(self, *parts):
        self.parts = parts

    @property
    def param_groups(self) -> list:
        return [g for o in self.parts for g in o.param_groups]

    def step(self):
        for o in self.parts:
            o.step()

    def zero_grad(self, set_to_none: bool = True):
        for o in self.parts:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        state, groups, offset = {}, [], 0
        for o in self.parts:
            sd = o.state_dict()
            state.update({offset + i: s for i, s in sd["state"].items()})
            groups += [{**g, "params": [offset + i for i in g["params"]]} for g in sd["param_groups"]]
            offset += sum(len(g["params"]) for g in sd["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        offset, start = 0, 0
        for o in self.parts:
            n_groups = len(o.param_groups)
            groups = sd["param_groups"][start : start + n_groups]
            count = sum(len(g["params"]) for g in groups)
            o.load_state_dict({"state": {int(i) - offset: s for i, s in sd["state"].items()
                                         if offset <= int(i) < offset + count},
                               "param_groups": [{**g, "params": [i - offset for i in g["params"]]} for g in groups]})
            offset, start = offset + count, start + n_groups


def lr_at(step: int, t, total_steps: int) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of ``total_steps``."""
    if t.warmup and step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    if t.schedule == "constant":
        return t.lr
    if t.schedule == "inverse_sqrt":
        return t.lr * math.sqrt(max(t.warmup, 1) / (step + 1))
    progress = min(1.0, (step - t.warmup) / max(1, total_steps - t.warmup))
    return t.min_lr + (t.lr - t.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
