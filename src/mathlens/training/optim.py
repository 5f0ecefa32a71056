"""The optimisers (AdamW; Muon for the hidden matrices) and the learning-rate schedules: linear warm-up, then
cosine, inverse square root or constant."""

from __future__ import annotations

import math

import torch

EMBEDDINGS = ("embed", "pos", "unembed")  # matrices Muon leaves to AdamW (as its authors do)


def make_optimizer(model, t):
    """AdamW (or Adam with L2 decay: ``optim.optimizer = "adam"``); weight decay only on matrices (not on
    biases, norms), as is usual for transformers. With ``optim.optimizer = "muon"``, torch's Muon (momentum
    orthogonalised by Newton-Schulz; off CUDA the same update in float32, :class:`Float32Muon`) takes the hidden
    matrices (attention and MLP weights) at ``optim.muon_lr``, and AdamW the rest."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    hidden = [p for n, p in trainable if p.dim() == 2 and n.split(".")[0] not in EMBEDDINGS]
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
    # native bf16 on CUDA: torch's own Muon there; elsewhere the same update in float32
    muon = (torch.optim.Muon if on_cuda else Float32Muon)(hidden, lr=t.muon_lr, weight_decay=t.weight_decay)
    muon.param_groups[0]["lr_scale"] = t.muon_lr / t.lr if t.lr else 0.0
    return Hybrid(muon, adam)


class Float32Muon(torch.optim.Muon):
    """torch's Muon with its Newton-Schulz iteration in float32 instead of bfloat16: the same update up to bf16
    rounding, with torch's state (``momentum_buffer``) and groups, so checkpoints move between the two.

    Why: CPUs without native bf16 matmuls run torch's iteration 10-18x slower than float32 (a 512x128 matrix:
    123 ms against 7 ms on the 2-core host of 2026-12-07), which made a one-layer grokking step 7x slower with
    Muon than with AdamW. Only torch's default learning-rate adjustment ("original") is supported.
    """

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
                update = orthogonalise(update.float(), group["ns_coefficients"], group["ns_steps"], group["eps"])
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update.to(p.dtype), alpha=-lr * math.sqrt(max(1.0, p.shape[0] / p.shape[1])))
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
