"""What a training step does when the loss or the gradient norm is not finite (train.on_nan).

``stop`` (default): the run stops at once with one line (step, value, what to try) and exit code 3; nothing is
saved after the bad step, so the last checkpoint is the last good model. ``skip``: the step's update is dropped
(its batch is used up, so data and schedule stay where an uninterrupted run would be), the skipped steps are
counted in the metrics, and the run stops as above after ``train.nan_patience`` bad steps in a row.
"""

from __future__ import annotations

import math

import torch

from ..errors import Diverged


class DivergenceGuard:
    def __init__(self, train_cfg):
        self.policy, self.patience = train_cfg.on_nan, train_cfg.nan_patience
        self.skipped, self.in_row = 0, 0  # skipped: over the whole run (kept in checkpoints, see restore)

    def state(self) -> dict:
        """What a checkpoint's meta keeps of the guard."""
        return {"skipped": self.skipped, "nan_in_row": self.in_row}

    def restore(self, meta: dict) -> None:
        self.skipped, self.in_row = meta.get("skipped", 0), meta.get("nan_in_row", 0)

    @staticmethod
    def clip(model, clip: float) -> float:
        """Clip the gradients to norm ``clip`` (0: no clipping) and return their norm before clipping."""
        params = [p for p in model.parameters() if p.grad is not None]
        if clip:
            return float(torch.nn.utils.clip_grad_norm_(params, clip))
        return float(torch.nn.utils.get_total_norm([p.grad for p in params]))

    def skip(self, loss: float, grad_norm: float, step: int, saved_step: int | None) -> bool:
        """True when this step's update must be dropped; raises :class:`Diverged` when the run must stop
        (``saved_step``: the step of the run's last checkpoint, None when it has none yet)."""
        if math.isfinite(loss) and math.isfinite(grad_norm):
            self.in_row = 0
            return False
        what = f"loss {loss}" if not math.isfinite(loss) else f"gradient norm {grad_norm}"
        self.in_row += 1
        if self.policy == "skip" and self.in_row < self.patience:
            self.skipped += 1
            return True
        reason = "" if self.policy == "stop" else f" in {self.in_row} steps in a row"
        kept = (f"the checkpoint of step {saved_step} is kept as the last good model" if saved_step is not None
                else "no checkpoint had been written yet")
        raise Diverged(f"training diverged at step {step + 1}: {what}{reason}; stopped without saving ({kept}). Try a "
                       f"lower optim.lr, gradient clipping (optim.clip=1), a longer optim.warmup, or "
                       f"train.on_nan=\"skip\"")
