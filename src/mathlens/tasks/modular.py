"""Modular arithmetic: (x op y) mod p over all ordered pairs of residues, the grokking task (docs/papers.md, part 4).

A problem is (x, op, y) and its answer, one of the p residues; how a model reads it (``[x, op, y]``, Furuta
et al.'s order, or with ``layout = "x y op"`` Nanda et al.'s ``[x, y, =]``) is the pipeline's business
(:mod:`mathlens.pipelines.modular`: the task knows nothing about tokens). The dataset is finite, so it is listed whole
and split into train and test by a seeded fraction over the examples (pairs of residues only; the special
tokens are never operands). ``formula`` is one polynomial in x and y (``x^2+xy+y^2``), a name (``add``,
``sub``, ``mul``, ``div``), a mixture (``add+sub``, ``add+mul``, ``add+sub+mul``: the op token tells which), or
several formulas separated by ``;``. Division skips y = 0 mod p.

>>> from mathlens import tasks
>>> t = tasks.get("modular", p=7, formula="x/y")
>>> d = t.dataset(); len(d["answer"])          # 7 * 6 pairs: y = 0 is excluded
42
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UserError
from ..options import opt
from .base import Problems, Task, TaskOptions
from .formula import Formula, parse

NAMES = {"add": "x+y", "sub": "x-y", "mul": "x*y", "div": "x/y"}
MIXTURES = {"add+sub": ["x+y", "x-y"], "add+mul": ["x+y", "x*y"], "add+sub+mul": ["x+y", "x-y", "x*y"]}
# Furuta et al.'s operations, in their order, then the mixtures: what `--vary task.formula=all` runs.
PAPER_FORMULAS = [
    "x+y", "x-y", "x*y", "x/y", "2x+y", "2x-y", "2x+3y", "2x-3y", "xy+y", "xy-y", "xy+x+y", "x^2+y", "x^2-y",
    "x^2+y^2", "x^2-y^2", "x^2+xy+y^2", "x^2+xy+y^2+x", "(x+y)^2", "(x-y)^2", "(x+y)^2+x+y", "x^3+2y", "x^3-2y",
    "x^3+xy", "x^3+xy^2+y", "(x+y)^3", "(x-y)^3", "(x+y)^4", "(x-y)^4",
]


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def formulas_of(spec: str, where: str = "task.formula") -> list[Formula]:
    """The formulas a ``task.formula`` value stands for (a name, a mixture, or formulas separated by ';')."""
    if not isinstance(spec, str):
        raise UserError(f"{where}: expected a formula string, got {spec!r}")
    key = spec.strip()
    texts = MIXTURES.get(key) or [NAMES.get(part.strip(), part) for part in key.split(";")]
    return [parse(t, where) for t in texts]


@dataclasses.dataclass
class ModularOptions(TaskOptions):
    p: int = opt(97, "the modulus (division and the multiplicative basis need a prime)", min=2, max=4096)
    formula: str = opt("x+y", "a polynomial in x, y (e.g. x^2+xy+y^2), add/sub/mul/div, add+sub, add+mul, "
                              "add+sub+mul, or formulas separated by ';'")
    frac: float = opt(0.3, "fraction of the examples used for training; the rest is the test split",
                      min=0.0, max=1.0)
    layout: str = opt("x op y", "token order: x op y (Furuta et al.) or x y op (Nanda et al.'s [x, y, =]: the "
                                "answer is read at the op token)", choices=("x op y", "x y op"))

    def validate(self, prefix: str) -> None:
        formulas = formulas_of(self.formula, f"{prefix}.formula")
        if not 0 < self.frac < 1:
            raise UserError(f"{prefix}.frac: {self.frac} must be strictly between 0 and 1")
        if any(f.has_division for f in formulas) and not is_prime(self.p):
            raise UserError(f"{prefix}.p: {self.p} is not prime; division needs a prime modulus")


class ModularArithmetic(Task):
    """(x op y) mod p for every formula of the options. Problems are dicts of (n,) int arrays x, y, op, answer."""

    name = "modular"
    Options = ModularOptions
    family = "modular"  # trained full-batch on its whole training split
    arch = "decoder"
    grid_values = {"formula": PAPER_FORMULAS + list(MIXTURES)}

    def __init__(self, options=None):
        super().__init__(options)
        self.formulas = formulas_of(self.options.formula)
        self.p = self.options.p
        x, y = np.divmod(np.arange(self.p * self.p), self.p)
        for f in self.formulas:
            if f.has_division and not f.evaluate(x, y, self.p)[1].sum() >= 2:
                raise UserError(f"task.formula: {f.text!r} divides by 0 mod {self.p} for (nearly) every (x, y), so "
                                f"no examples are left; a divisor must be non-zero mod p for some pairs")

    @property
    def n_classes(self) -> int:
        return self.p

    @property
    def multiplicative(self) -> bool:
        """True when every formula is a product/quotient of powers of x and y (and p is prime): the
        discrete-log basis then shows the structure (docs/papers.md, part 4)."""
        def only_mul(t):
            return t[0] == "var" or (t[0] in ("*", "/", "^") and all(only_mul(s) for s in t[1:]
                                                                    if isinstance(s, tuple)))
        return is_prime(self.p) and all(only_mul(f.tree) for f in self.formulas)

    def dataset(self) -> Problems:
        """Every valid example, in a fixed order (formula, then x, then y)."""
        x, y = np.divmod(np.arange(self.p * self.p), self.p)
        parts = []
        for i, f in enumerate(self.formulas):
            answer, valid = f.evaluate(x, y, self.p)
            parts.append({"x": x[valid], "y": y[valid], "op": np.full(valid.sum(), i), "answer": answer[valid]})
        return {k: np.concatenate([d[k] for d in parts]).astype(np.int64) for k in parts[0]}

    def split(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint (train, test) index arrays over ``n`` examples: a seeded ``frac`` of them for training."""
        order = rng.permutation(n)
        n_train = min(max(1, round(self.options.frac * n)), n - 1)
        return np.sort(order[:n_train]), np.sort(order[n_train:])

    def sample(self, n: int, rng: np.random.Generator) -> Problems:
        data = self.dataset()
        idx = rng.integers(0, len(data["answer"]), n)
        return {k: v[idx] for k, v in data.items()}

    def verify(self, problems: Problems, predictions: np.ndarray) -> np.ndarray:
        """Error per problem, as every task gives it: 0.0 where the predicted residue is the answer, 1.0
        otherwise."""
        return (np.asarray(predictions) != problems["answer"]).astype(np.float64)

    def features(self, problems: Problems) -> dict[str, np.ndarray]:
        return {"x": problems["x"], "y": problems["y"], "op": problems["op"]}

    def properties(self, problems: Problems, predictions: np.ndarray) -> dict[str, np.ndarray]:
        """Is a wrong answer the residue of a nearby formula? For every formula of Furuta et al.'s list (and
        y op x) other than the trained ones: 0 where the prediction equals it mod p, 1 otherwise."""
        own = {f.text for f in self.formulas}
        texts = [t for t in PAPER_FORMULAS if t not in own] + ["y-x"] * ("x-y" in own) + ["y/x"] * ("x/y" in own)
        pred = np.asarray(predictions)
        out = {}
        for text in texts:
            value, valid = parse(text).evaluate(problems["x"], problems["y"], self.p)
            out[f"= {text}"] = np.where(valid & (pred == value), 0.0, 1.0)
        return out
