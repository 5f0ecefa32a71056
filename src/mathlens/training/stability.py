"""Grokking without weight decay (Prieto et al., "Grokking at the edge of numerical stability", ICLR 2025):
StableMax cross-entropy and the perpendicular gradient (⊥Grad).

StableMax replaces softmax's exp by s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0, so that probabilities
stop being rounded to exactly 0 or 1 once the logits grow ("softmax collapse"). ⊥Grad removes from each
parameter's gradient its component along the parameter, the direction that only scales the logits up, and
rescales the rest to the gradient's norm (as the authors' implementation does).

>>> x = torch.tensor([[2.0, 0.0, -1.0]])
>>> stablemax(x)  # s = (3, 1, 1/2), divided by their sum 4.5
tensor([[0.6667, 0.2222, 0.1111]])
"""

from __future__ import annotations

import torch

EPS = 1e-30


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """s(x): x + 1 for x >= 0, 1 / (1 - x) for x < 0 (positive, continuous, slope 1 at 0)."""
    return torch.where(x >= 0, x + 1, 1 / (1 - torch.clamp(x, max=0)))


def stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """StableMax probabilities: s(x_i) / sum_j s(x_j) along ``dim``."""
    s = stablemax_s(x)
    return s / s.sum(dim, keepdim=True)


def stablemax_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of -log StableMax(logits)[target]: logits (N, C), target (N,) class ids; a scalar of logits' dtype.

    Computed in float64 whatever the logits' dtype, as the authors' implementation does (the full-batch trainer
    passes float64 logits anyway): in float32 the other classes' share of the sum is absorbed once the right
    logit reaches ~1e8 (the loss is exactly 0 and its gradient on the right logit vanishes), the very collapse
    StableMax is meant to put off."""
    s = stablemax_s(logits.double())
    log_p = torch.log(s.gather(-1, target[:, None])[:, 0]) - torch.log(s.sum(-1))
    return -log_p.mean().to(logits.dtype)


@torch.no_grad()
def perpendicular_(params) -> None:
    """⊥Grad in place: each gradient g of a parameter w becomes g - (w.g / w.w) w, rescaled to |g|."""
    for p in params:
        if p.grad is None:
            continue
        w, g = p.detach().reshape(-1).double(), p.grad.reshape(-1).double()
        orth = g - w * (w @ g) / (w @ w + EPS)
        p.grad.copy_((orth * (g.norm() / (orth.norm() + EPS))).view_as(p.grad))
