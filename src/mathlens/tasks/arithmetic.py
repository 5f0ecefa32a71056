"""Integer arithmetic: a + b, a - b, a * b on non-negative integers (docs/papers.md part 3, Xu et al.).

Training operands are uniform in [0, 10^digits), each independently (the paper: 3 digits, 10,000 pairs).
``exact = true`` draws both operands with exactly ``digits`` digits instead: the out-of-distribution test sets
("both operands exactly 4 digits"). Subtraction orders each pair so that a >= b (answers stay non-negative).
How a problem is written (padding, reversal, separators) is the format, :mod:`mathlens.encodings.digits`;
its options live here so that one ``task`` table says everything about the data.

>>> import numpy as np
>>> from mathlens import tasks
>>> t = tasks.get("arithmetic", op="add", digits=3)
>>> p = t.sample(4, np.random.default_rng(0))
>>> bool((p["answer"] == p["a"] + p["b"]).all())
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..encodings.digits import OP_SYMBOL, answer_digits, n_digits
from ..errors import UserError
from ..options import opt
from .base import Problems, Task, TaskOptions

FUNCTIONS = {"add": np.add, "sub": np.subtract, "mul": np.multiply}
MAX_DIGITS = 9  # products stay below 10^18: int64


@dataclasses.dataclass
class ArithmeticOptions(TaskOptions):
    op: str = opt("add", "the operation", choices=list(OP_SYMBOL))
    digits: int = opt(3, "training operands are uniform in [0, 10^digits)", min=1, max=MAX_DIGITS)
    exact: bool = opt(False, "both operands have exactly `digits` digits (the out-of-distribution test sets)")
    eval_digits: list = opt([], "operand lengths `mathlens eval` reports by default, and tracked while training; "
                                "the longest sizes the position table (default: digits + 1 and digits + 2)")
    width: int = opt(5, "operands zero-padded to this many digits (the paper: 5); 0: no padding", min=0,
                     max=MAX_DIGITS)
    answer_width: int = opt(6, "answer zero-padded to this many digits (the paper: 6 for addition, 10 for "
                               "multiplication); 0: no padding, the answer ends with <eos>", min=0, max=2 * MAX_DIGITS)
    reverse: bool = opt(True, "answer written least significant digit first (the paper's format)")
    reverse_operands: bool = opt(False, "operands written least significant digit first (McLeish et al.)")
    separators: bool = opt(False, "write the operation and '=' tokens (the paper writes digits only)")

    def test_lengths(self) -> list[int]:
        """``eval_digits``, or its default: one and two digits more than in training (capped at MAX_DIGITS)."""
        return list(self.eval_digits) or [d for d in (self.digits + 1, self.digits + 2) if d <= MAX_DIGITS]

    def validate(self, prefix: str) -> None:
        if self.op not in OP_SYMBOL:  # reached when built outside the config (choices are checked there)
            raise UserError(f"{prefix}.op: {self.op!r} is not allowed; choose from {', '.join(OP_SYMBOL)}")
        for d in self.eval_digits:
            if not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= MAX_DIGITS:
                raise UserError(f"{prefix}.eval_digits: {d!r} is not an operand length; use integers 1..{MAX_DIGITS}")
        longest = max([self.digits, *self.test_lengths()])
        if self.width and longest > self.width:
            raise UserError(f"{prefix}.width: operands of {longest} digits do not fit width {self.width}; "
                            f"raise it or set 0 (no padding)")
        need = answer_digits(self.op, longest)
        if self.answer_width and need > self.answer_width:
            raise UserError(f"{prefix}.answer_width: {OP_SYMBOL[self.op]} of {longest}-digit operands needs "
                            f"{need} digits; got {self.answer_width}")
        if not self.width and not self.separators:
            raise UserError(f"{prefix}.separators: unpadded operands (width = 0) need separators = true, "
                            f"or the operands could not be told apart")


class Arithmetic(Task):
    """``a op b`` on non-negative integers; problems are dicts of (n,) int64 arrays a, b, answer."""

    name = "arithmetic"
    Options = ArithmeticOptions
    arch = "decoder"
    family = "digits"  # pipelines.digits.DigitPipeline, a decoder-only model
    tolerances = (0.0,)  # exact answers only

    def __init__(self, options=None):
        super().__init__(options)
        o = self.options
        self.eval_digits = o.test_lengths()

    @property
    def max_digits(self) -> int:
        """The longest operands this run is asked about (sizes the model's position table)."""
        return max([self.options.digits, *self.eval_digits])

    def with_digits(self, digits: int, exact: bool = True) -> Arithmetic:
        """The same task and format on operands of ``digits`` digits (the test set for one length)."""
        return type(self)(dataclasses.replace(self.options, digits=digits, exact=exact))

    def sample(self, n: int, rng: np.random.Generator) -> Problems:
        d = self.options.digits
        lo = 10 ** (d - 1) if self.options.exact and d > 1 else 0
        a, b = rng.integers(lo, 10**d, size=(2, n), dtype=np.int64)
        if self.options.op == "sub":
            a, b = np.maximum(a, b), np.minimum(a, b)
        return {"a": a, "b": b, "answer": FUNCTIONS[self.options.op](a, b)}

    def keys(self, problems: Problems) -> np.ndarray:
        """a * 10^MAX_DIGITS + b: the pair of operands (below 10^18, an int64)."""
        return problems["a"] * 10**MAX_DIGITS + problems["b"]

    def verify(self, problems: Problems, predictions: np.ndarray) -> np.ndarray:
        """Error per problem: 0.0 where the predicted integer is the answer, 1.0 otherwise (NaN included)."""
        return (np.asarray(predictions, dtype=np.float64) != problems["answer"]).astype(np.float64)

    def features(self, problems: Problems) -> dict[str, np.ndarray]:
        """Operand and answer lengths, and (addition) the number of carries."""
        a, b = problems["a"], problems["b"]
        out = {"a": a, "b": b, "answer": problems["answer"], "a_digits": n_digits(a), "b_digits": n_digits(b),
               "answer_digits": n_digits(problems["answer"])}
        if self.options.op == "add":
            out["carries"] = carries(a, b)
        return out

    def properties(self, problems: Problems, predictions: np.ndarray) -> dict[str, np.ndarray]:
        """Last digit right, and the answer's length right (0 kept, 1 not; inf where it did not decode)."""
        pred = np.asarray(predictions, dtype=np.float64)
        ok = np.isfinite(pred) & (pred >= 0)
        p = np.where(ok, pred, 0).astype(np.int64)
        true = problems["answer"]
        last = np.where(p % 10 == true % 10, 0.0, 1.0)
        length = np.where(n_digits(p) == n_digits(true), 0.0, 1.0)
        return {"last digit": np.where(ok, last, np.inf), "length": np.where(ok, length, np.inf)}


def carries(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Carries of the column addition of a and b. (n,) -> (n,) int.

    >>> carries(np.array([999, 123]), np.array([1, 456])).tolist()
    [3, 0]
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    count = np.zeros(len(a), dtype=np.int64)
    carry = np.zeros(len(a), dtype=np.int64)
    for k in range(int(max(n_digits(a).max(initial=1), n_digits(b).max(initial=1)))):
        s = (a // 10**k) % 10 + (b // 10**k) % 10 + carry
        carry = (s >= 10).astype(np.int64)
        count += carry
    return count
