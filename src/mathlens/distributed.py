"""Data-parallel training under torchrun: which rank this process is, and the few collectives the trainer needs.

``torchrun --nproc_per_node N -m mathlens train PRESET`` starts N processes with RANK, WORLD_SIZE, LOCAL_RANK
and LOCAL_WORLD_SIZE set. Each rank generates its own share of every batch, gradients are averaged by
DistributedDataParallel, and only rank 0 writes files. Without torchrun (or with one rank) every function here
is the identity, so one code path trains alone or on many ranks.

Example
-------
>>> rank_and_world()          # a plain process
(0, 1)
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from .errors import UserError


def launched() -> bool:
    """True when torchrun started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_ranks() -> tuple[int, int]:
    """(this process's rank on its machine, ranks on this machine); (0, 1) without torchrun."""
    if not launched():
        return 0, 1
    return int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def start(device: torch.device) -> None:
    """Join the process group (gloo on CPU, nccl on CUDA) when torchrun launched several ranks."""
    if not launched() or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        raise UserError("train.device: CUDA ranks need NCCL, which this torch build lacks; use train.device=cpu")
    dist.init_process_group(backend)


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(global rank, number of ranks): (0, 1) unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Rank 0: the one process that writes checkpoints, metrics, records and reports."""
    return rank_and_world()[0] == 0


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` over the ranks (in place; returned for convenience)."""
    if rank_and_world()[1] > 1:
        dist.all_reduce(values)
    return values


def gather(obj) -> list:
    """Every rank's ``obj``, in rank order (picklable objects; small ones: states, per-problem arrays)."""
    world = rank_and_world()[1]
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def shard_rows(problems: dict) -> dict:
    """This rank's rows (every world-th, from its rank) of a batch of problems (name -> array of n rows)."""
    rank, world = rank_and_world()
    return problems if world == 1 else {k: v[rank::world] for k, v in problems.items()}


def gather_rows(parts: list[np.ndarray]) -> np.ndarray:
    """This rank's per-problem arrays, concatenated with every other rank's (row order: by rank)."""
    local = np.concatenate(parts) if parts else np.empty(0)
    pieces = [p for p in gather(local) if len(p)]
    return np.concatenate(pieces) if pieces else local
