"""Grokfast gradient filters (Lee et al. 2024, arXiv 2405.20233): amplify the slow part of the gradient.

After ``loss.backward()`` and before ``optimizer.step()``, each gradient g becomes g + lamb * slow(g), where
slow(g) is an exponential moving average (``ema``: avg = alpha * avg + (1 - alpha) * g) or the mean of the last
``window`` gradients (``ma``, applied once the window is full, as in the authors' code). The moving average
keeps a running sum (float64), so a step costs O(parameters), not O(window x parameters).

Measured on full-batch modular addition (docs/papers.md setting, docs/grokking.md): ``ma`` (window 100, lamb 5) groks in
about a quarter of the steps; ``ema`` (alpha 0.98, lamb 2) does not help there: with the whole dataset in every
step the gradient has no fast, noisy part for the filter to separate.
"""

from __future__ import annotations

import torch


class GradientFilter:
    """A Grokfast filter over ``params``; ``state()``/``load_state()`` carry it through checkpoints."""

    def __init__(self, params, kind: str, alpha: float = 0.98, lamb: float = 2.0, window: int = 100):
        if kind not in ("ema", "ma"):
            raise ValueError(f"unknown grokfast filter {kind!r}")
        self.params = [p for p in params if p.requires_grad]
        self.kind, self.alpha, self.lamb, self.window = kind, alpha, lamb, window
        self.avg: list[torch.Tensor] | None = None  # ema: running average per parameter
        self.history: list[torch.Tensor] | None = None  # ma: (window, *shape) ring buffer per parameter
        self.sums: list[torch.Tensor] | None = None  # ma: float64 sum of the buffer
        self.count = 0

    @torch.no_grad()
    def apply(self) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        if self.kind == "ema":
            if self.avg is None:
                self.avg = [g.detach().clone() for g in grads]
            else:
                for a, g in zip(self.avg, grads):
                    a.mul_(self.alpha).add_(g, alpha=1 - self.alpha)
            slow = self.avg
        else:
            if self.history is None:
                self.history = [torch.zeros((self.window, *g.shape), dtype=g.dtype, device=g.device)
                                for g in grads]
                self.sums = [torch.zeros(g.shape, dtype=torch.float64, device=g.device) for g in grads]
            slot = self.count % self.window
            for h, total, g in zip(self.history, self.sums, grads):
                total.add_(g - h[slot])  # the newest gradient in, the oldest out
                h[slot] = g
            self.count += 1
            if self.count < self.window:
                return
            slow = [(total / self.window).to(g.dtype) for total, g in zip(self.sums, grads)]
        for p, s in zip(self.params, slow):
            if p.grad is not None:
                p.grad.add_(s, alpha=self.lamb)

    def state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """(JSON-able meta, tensors) to save."""
        bufs = self.avg if self.kind == "ema" else self.history
        tensors = {f"grokfast.{i}": b for i, b in enumerate(bufs or [])}
        tensors.update({f"grokfast_sum.{i}": t for i, t in enumerate(self.sums or [])})  # exact resume
        return {"count": self.count, "filled": bufs is not None}, tensors

    def load_state(self, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
        self.count = meta["count"]
        if meta["filled"]:
            bufs = [tensors[f"grokfast.{i}"].to(p.device) for i, p in enumerate(self.params)]
            if self.kind == "ema":
                self.avg = bufs
            else:
                self.history = bufs
                # checkpoints written before the sum was saved: rebuild it from the window (last bits may differ)
                self.sums = [tensors[f"grokfast_sum.{i}"].to(p.device) if f"grokfast_sum.{i}" in tensors
                             else h.double().sum(0) for i, (p, h) in enumerate(zip(self.params, bufs))]
