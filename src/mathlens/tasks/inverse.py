"""LAWT's inversion tasks: invert_matrix (general M) and syminverse (symmetric M), (d, d) layout M^-1.

Verification is LAWT's ``||M H - I|| / ||I||`` (d1 = sum|M H - I| / n); the author's failure measures are in
``properties``: H M = I from the other side, "close to M^-1" (err2), and (syminverse) a symmetric H. Options
are the spectral tasks' (:class:`~mathlens.tasks.spectral.SpectralOptions`), plus ``max_cond``.
"""

from __future__ import annotations

import numpy as np
import torch

from .matrices import lawt_error, target_error
from .spectral import SpectralTask


class InvertMatrix(SpectralTask):
    name = "invert_matrix"
    symmetric = False

    def well_posed(self, problems):
        """Finite, and (with ``max_cond``) not so ill-conditioned that the inverse is meaningless."""
        m = problems["input"]
        ok = super().well_posed(problems)
        if not self.options.max_cond:
            return ok
        s = np.linalg.svd(np.where(np.isfinite(m), m, 0.0), compute_uv=False)
        return ok & (s[:, 0] <= self.options.max_cond * s[:, -1])

    def target_matrix(self, problems):
        return np.linalg.inv(problems["input"])

    def check_loss(self, m, pred, target):
        """LAWT's d1 check, sum|M H - I| / n: no target (any exact inverse scores 0)."""
        eye = torch.eye(m.shape[1], dtype=pred.dtype, device=pred.device)
        return (m.to(pred.dtype) @ pred - eye).abs().sum((1, 2)) / m.shape[1]

    def verify(self, problems, predictions):
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return np.full(len(m), np.inf)
        eye = np.eye(m.shape[1])
        with np.errstate(invalid="ignore", over="ignore"):
            residual = m @ predictions - eye
        return lawt_error(residual, eye, self.options.norm)

    def properties(self, problems, predictions):
        """H M = I from the other side (d1), the author's err2 (sum|H - M^-1| / sum|M^-1|, "close to M^-1"), and
        (symmetric M) a symmetric H: sum|H - H^T| / sum|H|."""
        m = problems["input"]
        if not self._shape_ok(problems, predictions):
            return {}
        eye = np.eye(m.shape[1])
        with np.errstate(invalid="ignore", over="ignore"):
            out = {"H M = I": lawt_error(predictions @ m - eye, eye),
                   "close to M^-1": target_error(predictions, self.target_matrix(problems))}
            if self.symmetric:
                out["symmetric"] = lawt_error(predictions - np.swapaxes(predictions, 1, 2), predictions)
        return out


class SymInverse(InvertMatrix):
    name = "syminverse"
    symmetric = True
