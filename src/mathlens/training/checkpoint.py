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
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


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
    _, tied = _unique_state(model)
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

