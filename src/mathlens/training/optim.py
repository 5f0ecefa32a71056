"""AdamW and the learning-rate schedules: linear warm-up, then cosine, inverse square root or constant."""

from __future__ import annotations

import math

import torch


def make_optimizer(model, t) -> torch.optim.Optimizer:
    """AdamW; weight decay only on matrices (not on biases, norms), as is usual for transformers."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = torch.cuda.is_available() and next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), fused=fused or None)


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
