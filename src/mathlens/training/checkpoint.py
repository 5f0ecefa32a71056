"""Checkpoints as safetensors: weights, optimiser state and RNG states in one file, written atomically.

Nothing here unpickles: tensors come back through safetensors and the rest is JSON in the file's metadata.
A missing, truncated or foreign file raises a UserError naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..io import atomic_path
from ..rundir import BEST

FORMAT = "mathlens-checkpoint-1"


def _unique_state(model) -> tuple[dict, list[str]]:
    """State dict without tied duplicates (safetensors refuses shared storage); also the names dropped."""
    seen, out, tied = {}, {}, []
    for k, v in model.state_dict().items():
        key = (v.data_ptr(), v.shape, v.stride()) if v.numel() else None
        if key is not None and key in seen:
            tied.append(k)
            continue
        if key is not None:
            seen[key] = k
        out[k] = v.detach().contiguous().cpu()
    return out, tied


def save(path: Path, model, optimizer=None, meta: dict | None = None, extra: dict | None = None) -> None:
    """Write model (+ optimiser, + extra tensors) and JSON ``meta`` to ``path`` atomically."""
    tensors, _ = _unique_state(model)
    tensors = {f"model.{k}": v for k, v in tensors.items()}
    groups = None
    if optimizer is not None:
        state = optimizer.state_dict()
        for idx, st in state["state"].items():
            for name, value in st.items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"optim.{idx}.{name}"] = t.detach().contiguous().cpu()
        groups = state["param_groups"]
    for k, v in (extra or {}).items():
        tensors[f"extra.{k}"] = v.detach().contiguous().cpu()
    metadata = {"format": FORMAT, "meta": json.dumps(meta or {}), "param_groups": json.dumps(groups)}
    try:
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except (OSError, SafetensorError) as e:  # a full disk, a quota, an I/O error: the old file is still whole
        old = "the previous checkpoint is intact" if Path(path).exists() else "no earlier checkpoint exists"
        raise UserError(f"{path}: could not write the checkpoint ({getattr(e, 'strerror', None) or e}); {old}. Free "
                        f"some space and run the same command again to resume") from None


class Best:
    """``best.safetensors`` beside the latest checkpoint: the weights of the best periodic evaluation so far.

    ``offer(model, step, value, record)`` writes them (with the evaluation ``record`` as metadata) when ``value``,
    the evaluation's headline accuracy, beats every earlier one; ``state()`` goes into the latest checkpoint's
    meta so that a resumed run keeps comparing with the same best.
    """

    def __init__(self, run_dir: Path, meta: dict | None = None):
        self.path = Path(run_dir) / BEST
        self.step, self.value = None, None
        if meta and meta.get("best"):
            self.step, self.value = meta["best"]["step"], meta["best"]["value"]

    def offer(self, model, step: int, value: float, record: dict) -> None:
        if value != value or (self.value is not None and value <= self.value):  # NaN never wins
            return
        save(self.path, model, meta={"best": True, **record})
        self.step, self.value = step, value

    def state(self) -> dict:
        return {"best": None if self.step is None else {"step": self.step, "value": self.value}}


def _metadata(path: Path) -> dict:
    """The checkpoint's metadata, checked to be ours; a UserError naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{path}: not a readable checkpoint (truncated or corrupt: {e})") from None
    if metadata.get("format") != FORMAT:
        raise UserError(f"{path}: not a mathlens checkpoint (format {metadata.get('format')!r})")
    return metadata


def read(path: Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a checkpoint, or a UserError saying what is wrong with the file."""
    metadata = _metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{path}: not a readable checkpoint (truncated or corrupt: {e})") from None
    return tensors, metadata


def read_meta(path: Path) -> dict:
    """The JSON meta of a checkpoint (step, stream state...) without loading its tensors."""
    return json.loads(_metadata(path)["meta"])


def load(path: Path, model, optimizer=None) -> tuple[dict, dict]:
    """Load weights (and optimiser state) into the given objects; returns (meta, extra tensors)."""
    tensors, metadata = read(path)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    own, tied = _unique_state(model)
    for name, value in weights.items():  # torch would convert another dtype silently
        if name in own and value.dtype != own[name].dtype:
            raise UserError(f"{path}: {name} is {value.dtype} in the file but {own[name].dtype} in this model; "
                            f"the checkpoint was not written for this model")
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:
        raise UserError(f"{path}: weights do not fit this model's config ({str(e).splitlines()[0]})") from None
    if unexpected or set(missing) - set(tied):
        raise UserError(f"{path}: weights do not fit this model (missing {sorted(set(missing) - set(tied))[:3]}, "
                        f"unexpected {sorted(unexpected)[:3]})")
    if optimizer is not None:
        groups = json.loads(metadata["param_groups"])
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return json.loads(metadata["meta"]), extra

