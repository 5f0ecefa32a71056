"""Start a run from another run's weights: transfer (grokking) and fine-tuning to larger matrices (LAWT).

``train.init_from`` names the source run and ``train.init_parts`` which parts to copy (embed, pos, blocks,
unembed). Shapes must match, with two exceptions that fine-tuning needs:
- token tables (embedding, unembedding) are copied row by row by token *string*, so a run whose vocabulary
  gained ``V6`` or a new encoding's symbols keeps every token it shares with the source (new rows keep their
  fresh initialisation);
- position tables, and the row reader's column table, may be longer than the source's (6x6 matrices after
  5x5): the source's rows fill the first rows, the new ones keep their fresh initialisation.
Anything else that differs (width, layers, heads, architecture) is refused with one line naming the parameter.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import load_config_file
from ..errors import UserError
from ..pipelines import pipeline_for
from ..rundir import CONFIG, LATEST
from . import checkpoint

PARTS = ("embed", "pos", "blocks", "unembed")
TOKEN_TABLES = ("embed.weight", "unembed.weight")
GROWING = ("reader.col.weight",)  # a table with one row per matrix column (models/seq2seq.py RowReader)


def part_of(name: str) -> str:
    """Which part of a model a parameter belongs to: 'embed', 'pos', 'unembed' or 'blocks' (the rest)."""
    if name.startswith("embed."):
        return "embed"
    if name.startswith("unembed."):
        return "unembed"
    if name.startswith("pos.") or ".pos." in name:
        return "pos"
    return "blocks"


def selected(model, parts) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) of the model's parameters in ``parts``."""
    return [(n, p) for n, p in model.named_parameters() if part_of(n) in parts]


def start_from(model, train_cfg, arch: str, fresh: bool, vocab=None) -> None:
    """What both trainers do before building the optimiser: copy ``train.init_from``'s parts into a fresh run
    (a resumed run has them in its checkpoint), then freeze them when ``train.freeze`` says so."""
    t = train_cfg
    if not t.init_from:
        return
    if fresh:
        copy_from_run(model, t.init_from, t.init_parts, arch, vocab)
    if t.freeze:  # frozen weights must be left out of the optimiser, so this comes first
        for _, param in selected(model, t.init_parts):
            param.requires_grad_(False)


def copy_from_run(model, source_path, parts, arch: str, vocab=None) -> int:
    """Copy the ``parts`` of the run in ``source_path`` into ``model``; returns how many tensors were copied.

    ``arch`` is this run's ``model.arch`` (the source's must be the same). ``vocab`` (the token strings in the
    row order of this model's token tables) maps token rows by string to the source run's vocabulary; without
    it token tables must match in shape like any other parameter.
    """
    source = Path(source_path)
    if not (source / CONFIG).exists():
        raise UserError(f"train.init_from: {source} is not a run directory (no {CONFIG})")
    source_cfg = load_config_file(source / CONFIG)
    if source_cfg.model.arch != arch:
        raise UserError(f"train.init_from: {source} is a {source_cfg.model.arch} model ({source_cfg.task['name']}); "
                        f"this run needs a {arch} model")
    source_vocab = pipeline_for(source_cfg).symbols if vocab is not None else None
    tensors, _ = checkpoint.read(source / LATEST)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    ours = selected(model, parts)
    theirs = {n for n in weights if part_of(n) in parts}
    missing = sorted(theirs - {n for n, _ in ours})
    if missing:
        raise UserError(f"train.init_from: {source} has {missing[0]}, which this model lacks; the models "
                        f"must have the same layers (model.enc_layers, dec_layers, layers)")
    copied = 0
    for name, param in ours:
        if name == "unembed.weight" and name not in weights and "embed.weight" in weights:
            name_in_source = "embed.weight"  # tied to the embedding in the source (saved once)
        else:
            name_in_source = name
        if name_in_source not in weights:
            raise UserError(f"train.init_from: {source} has no {name}; the models must have the same "
                            f"layers and options (model.*)")
        src = weights[name_in_source]
        with torch.no_grad():
            if name in TOKEN_TABLES and vocab is not None and src.shape[1:] == param.shape[1:]:
                _copy_rows_by_token(param, src, vocab, source_vocab)
            elif (part_of(name) == "pos" or name in GROWING) and src.dim() == 2 and src.shape[1] == param.shape[1] \
                    and src.shape[0] <= param.shape[0]:
                param[: src.shape[0]].copy_(src)
            elif src.shape == param.shape:
                param.copy_(src)
            else:
                raise UserError(f"train.init_from: {name} is {tuple(src.shape)} in {source} but "
                                f"{tuple(param.shape)} here; the models must match in width, heads and layers")
        copied += 1
    if not copied:
        raise UserError(f"train.init_parts: none of {list(parts)} found in {source}")
    return copied


def _copy_rows_by_token(param, src, vocab, source_vocab):
    index = {s: i for i, s in enumerate(source_vocab)}
    pairs = [(i, index[s]) for i, s in enumerate(vocab) if s in index]
    if not pairs:
        raise UserError("train.init_from: the two runs share no token; their encodings differ entirely")
    new_rows, old_rows = map(list, zip(*pairs))
    param[new_rows] = src[old_rows].to(param.dtype)
