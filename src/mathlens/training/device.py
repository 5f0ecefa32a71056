"""Where a run computes: CUDA with bf16 autocast when present, else the CPU with one thread per core.

Under torchrun each rank takes its own GPU (LOCAL_RANK), or its share of the machine's cores.
"""

from __future__ import annotations

import contextlib
import os

import torch

from ..distributed import local_ranks
from ..errors import UserError


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def setup(t):
    """(device, autocast context factory) for a TrainConfig; sets the CPU thread count (never oversubscribe)."""
    if t.device == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device: 'cuda' asked for but no CUDA device is available; use auto or cpu")
    use_cuda = t.device == "cuda" or (t.device == "auto" and torch.cuda.is_available())
    local_rank, local_world = local_ranks()
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(t.threads or max(1, cpu_cores() // local_world))  # ranks share the cores
    bf16 = t.precision == "bf16" or (t.precision == "auto" and use_cuda)
    if bf16:
        return device, lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return device, contextlib.nullcontext
