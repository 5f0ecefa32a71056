"""Progress measures of a modular-arithmetic model at one moment of training, from the model and its dataset.

``measure(model, task, data, train_idx)`` returns the record the full-batch trainer writes to metrics.jsonl
(kind ``measure``) every ``train.measure_every`` steps; definitions in :mod:`mathlens.measures.fourier`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..pipelines.modular import logits_of, token_ids
from . import fourier

EPS = 0.1  # FFS/FCR threshold, relative to the largest component (recorded with every measure)
KEY_SHARE = 0.05  # key frequency: at least this share of the embedding's non-constant squared norm


def spectrum_measures(embedding: np.ndarray, n: int, prefix: str = "") -> dict:
    """FFS, FCR, Gini, key frequencies and the (alpha, beta) spectrum of ``embedding[:n]`` over Z_n."""
    alpha, beta = fourier.component_norms(embedding, n)
    return {f"{prefix}ffs": fourier.ffs(embedding, n, EPS), f"{prefix}fcr": fourier.fcr(embedding, n, EPS),
            f"{prefix}gini": fourier.spectrum_gini(embedding, n),
            f"{prefix}key_freqs": fourier.key_frequencies(embedding, n, KEY_SHARE),
            f"{prefix}alpha": np.round(alpha, 5).tolist(), f"{prefix}beta": np.round(beta, 5).tolist()}


def measure(model, task, data: dict, train_idx: np.ndarray, logits: np.ndarray | None = None) -> dict:
    """All progress measures: spectra of W_E (and in the multiplicative basis when the task is multiplicative),
    restricted loss (all data) and excluded loss (training split) for the key frequencies (of the
    multiplicative basis, in that basis, for products and quotients: ``loss_basis``), squared weight norm.

    ``logits`` (N, p) over ``data`` may be passed when already computed.
    """
    p = task.p
    W_E = model.token_embedding.detach().cpu().double().numpy()
    record = {"eps": EPS, **spectrum_measures(W_E, p)}
    if task.multiplicative:
        record.update(spectrum_measures(fourier.multiplicative_embedding(W_E, p), p - 1, prefix="mult_"))
    if logits is None:
        logits = logits_of(model, torch.as_tensor(token_ids(task, data))).numpy()
    logits = np.asarray(logits, dtype=np.float64)
    answers = data["answer"]
    # Products and quotients: the key frequencies and loss directions of the multiplicative basis
    basis = "multiplicative" if task.multiplicative else "additive"
    keys = record["mult_key_freqs" if task.multiplicative else "key_freqs"]
    record["loss_basis"] = basis
    record["restricted_loss"] = fourier.restricted_loss(logits, answers, keys, p, basis)
    record["excluded_loss"] = fourier.excluded_loss(logits[train_idx], answers[train_idx], keys, p, basis)
    record["weight_norm"] = float(sum((w.detach().double() ** 2).sum() for w in model.parameters()))
    return record
