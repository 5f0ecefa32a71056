"""What the hidden states of an arithmetic model hold (docs/papers.md part 3): PCA by residue, probes, twin distances.

Read at any hook point (default: the last block's output) at the last prompt position, where the model writes
its first answer token. Xu et al. found the top 3 principal components separate (a + b) mod 10, and an OOD
input's state lies close to the state of its reduced twin (a mod 1000, b mod 1000): median relative distance
0.023 against 1.45 for a random in-distribution input.

The functions on arrays work on anyone's activations; :func:`hidden_report` runs them on a trained run.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.cache import capture
from ..pipelines.stream import Stream, seeded_rng
from ..tasks.arithmetic import FUNCTIONS
from .base import Analysis, Result
from .equivalence import ood_options


def pca(states: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) states -> (projections (n, k) on the top k principal components, explained variance ratios (k,))."""
    centred = states - states.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2
    k = min(k, len(s))
    return centred @ vt[:k].T, var[:k] / var.sum()


def nearest_centroid_accuracy(x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> float:
    """Fit class centroids on a random half of (x, labels), classify the other half by the nearest; accuracy."""
    order = rng.permutation(len(x))
    fit, test = order[: len(x) // 2], order[len(x) // 2 :]
    classes = np.unique(labels[fit])
    centroids = np.stack([x[fit][labels[fit] == c].mean(0) for c in classes])
    dist = ((x[test][:, None, :] - centroids[None]) ** 2).sum(-1)
    return float(np.mean(classes[dist.argmin(1)] == labels[test]))


def linear_probe_accuracy(x: np.ndarray, labels: np.ndarray, rng: np.random.Generator, ridge: float = 1e-3) -> float:
    """A linear probe (ridge regression onto one-hot labels, argmax) fitted on a random half, tested on the rest."""
    order = rng.permutation(len(x))
    fit, test = order[: len(x) // 2], order[len(x) // 2 :]
    classes = np.unique(labels[fit])
    mean, scale = x[fit].mean(0), x[fit].std(0) + 1e-8
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    onehot = (labels[fit][:, None] == classes[None]).astype(np.float64)
    w = np.linalg.solve(z[fit].T @ z[fit] + ridge * len(fit) * np.eye(z.shape[1]), z[fit].T @ onehot)
    return float(np.mean(classes[(z[test] @ w).argmax(1)] == labels[test]))


def relative_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """||x - y|| / ||y|| row by row: how far each state is from its reference."""
    return np.linalg.norm(x - y, axis=1) / np.maximum(np.linalg.norm(y, axis=1), 1e-12)


def prompt_states(run, problems: dict, hook: str) -> np.ndarray:
    """Activations (n, d) of ``hook`` at the last prompt position of each problem (batches of 2,000)."""
    model, pipe = run.model, run.pipe
    out = np.zeros((len(problems["a"]), model.embed.weight.shape[1]), dtype=np.float32)
    with capture(model, [hook], where="--hook") as seen, torch.inference_mode():
        for rows, tokens, pos in pipe.prompts(problems, "cpu"):
            for i in range(0, len(rows), 2000):
                chunk = slice(i, i + 2000)
                model(tokens[chunk], positions=None if pos is None else pos[chunk])
                out[rows[chunk]] = seen[hook][:, -1].float().numpy()
    return out


def hidden_report(run, hook: str | None = None, digits: int | None = None, size: int = 2000,
                  seed: int = 1234) -> Result:
    """`mathlens analyze RUN hidden`: PCA of in-distribution states coloured by (a op b) mod 10, probes for the
    last digit and the units carry, and the distance of OOD states (``digits`` digits, default one more than
    in training) to their reduced twins' against random in-distribution inputs (figure: the PCA scatter)."""
    task = run.task
    k, op = task.options.digits, task.options.op
    hook = hook or f"blocks.{len(run.model.blocks) - 1}.hook_resid_post"
    d = digits or k + 1
    rng = seeded_rng(seed, Stream.HIDDEN)
    ident = task.sample(size, rng)
    states = prompt_states(run, ident, hook)
    last = ident["answer"] % 10
    ua, ub = ident["a"] % 10, ident["b"] % 10
    carry = {"add": ua + ub >= 10, "sub": ua < ub, "mul": ua * ub >= 10}[op].astype(int)
    proj, explained = pca(states)
    ood = task.with_digits(d).sample(size, rng)
    twins = {"a": ood["a"] % 10**k, "b": ood["b"] % 10**k}
    twins["answer"] = FUNCTIONS[op](twins["a"], twins["b"])
    h_ood, h_twin = prompt_states(run, ood, hook), prompt_states(run, twins, hook)
    h_random = states[rng.permutation(size)]
    summary = {
        "hook": hook, "size": size, "seed": seed, "ood_digits": d,
        "pca_explained": [float(v) for v in explained],
        "pca_top4_explained": float(explained[:4].sum()),
        "last_digit_probe": {"nearest_centroid": nearest_centroid_accuracy(states, last, rng),
                             "nearest_centroid_pca3": nearest_centroid_accuracy(proj[:, :3], last, rng),
                             "linear": linear_probe_accuracy(states, last, rng)},
        "carry_probe": {"nearest_centroid": nearest_centroid_accuracy(states, carry, rng),
                        "linear": linear_probe_accuracy(states, carry, rng),
                        "majority": float(max(carry.mean(), 1 - carry.mean()))},
        "twin_distance_median": float(np.median(relative_distance(h_ood, h_twin))),
        "random_distance_median": float(np.median(relative_distance(h_ood, h_random))),
    }
    return Result(summary, data={"pca": (proj, last, explained, f"{hook}, last prompt position")})


def _compute(run, hook=None, digits=None, size=2000, seed=1234):
    return hidden_report(run, hook, ood_options(run, digits, size), size, seed)


def describe(run, s: dict) -> list[str]:
    """What `mathlens analyze RUN hidden` prints."""
    ev, lp, cp = s["pca_explained"], s["last_digit_probe"], s["carry_probe"]
    return [f"{run.path}: {s['hook']} at the last prompt position, {s['size']} problems",
            f"  PCA: top 4 components explain {s['pca_top4_explained']:.1%} ("
            + ", ".join(f"{v:.1%}" for v in ev[:4]) + ")",
            f"  last digit of the answer: nearest centroid {lp['nearest_centroid']:.1%} (top 3 PCs "
            f"{lp['nearest_centroid_pca3']:.1%}), linear probe {lp['linear']:.1%}",
            f"  units carry: nearest centroid {cp['nearest_centroid']:.1%}, linear probe {cp['linear']:.1%} "
            f"(majority class {cp['majority']:.1%})",
            f"  {s['ood_digits']}-digit inputs: median relative distance to the reduced twin "
            f"{s['twin_distance_median']:.3f}, to a random in-distribution input {s['random_distance_median']:.3f}",
            f"figure and summary.json: {run.path / 'analysis' / 'hidden'}"]


ANALYSIS = Analysis("hidden", "arithmetic: PCA, probes and twin distances of the hidden states at a hook",
                    compute=_compute, describe=describe, families=("digits",),
                    options=("hook", "digits", "size", "seed"))
