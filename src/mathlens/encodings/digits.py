"""Integer arithmetic problems as digit sequences for a decoder-only model: ``a op b = c`` in one row.

The paper's format (Xu et al., docs/papers.md part 3) is digit tokens only, operands zero-padded to 5 digits, the
answer zero-padded to 6 digits and reversed: 123 + 45 is ``0 0 1 2 3 0 0 0 4 5 8 6 1 0 0 0``. Every choice is
an option of :class:`DigitFormat`: operand and answer widths (0: as many digits as the number has, the answer
then ends with ``<eos>``), reversed answer or operands (least significant digit first), and separators
(``+`` and ``=`` tokens). Token ids 0..9 are the digits themselves.

Besides the token ids, :meth:`DigitFormat.encode` gives each token's *significance id*: 1 for a units digit,
2 for tens..., 0 for a separator. Abacus positions (McLeish et al. 2024) are these ids: the digits that must
be combined share an id whatever the operands' lengths.

>>> f = DigitFormat("add", width=5, answer_width=6, reverse=True)
>>> s = f.encode(np.array([123]), np.array([45]), np.array([168]))
>>> "".join(f.symbols[i] for i in s.tokens[0])
'0012300045861000'
>>> f.decode(s.tokens[:, s.prompt_len[0]:])[0]
array([168.])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OP_SYMBOL = {"add": "+", "sub": "-", "mul": "*"}
SYMBOLS = [str(d) for d in range(10)] + ["+", "-", "*", "=", "<eos>", "<pad>"]
EQ, EOS, PAD = SYMBOLS.index("="), SYMBOLS.index("<eos>"), SYMBOLS.index("<pad>")
HOLE = -1  # a slot with no token (an operand shorter than the widest one), packed away


def answer_digits(op: str, operand_digits: int) -> int:
    """Most digits of the answer of ``op`` on operands of ``operand_digits`` digits."""
    return {"add": operand_digits + 1, "sub": operand_digits, "mul": 2 * operand_digits}[op]


def n_digits(x: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers (1 for zero). (n,) int -> (n,) int."""
    x = np.asarray(x, dtype=np.int64)
    return 1 + sum((x >= 10**k).astype(np.int64) for k in range(1, 19))


def digits_lsb(x: np.ndarray, width: int) -> np.ndarray:
    """(n,) non-negative integers -> (n, width) digits, least significant first."""
    return (np.asarray(x, dtype=np.int64)[:, None] // 10 ** np.arange(width, dtype=np.int64)) % 10


@dataclass
class Encoded:
    """A batch written out: ``tokens`` (n, L) ids right-padded with ``<pad>``; ``significance`` (n, L) ids
    (digit place + 1, 0 for other tokens); ``prompt_len`` (n,) tokens before the answer; ``length`` (n,)
    tokens in all (the answer and its ``<eos>`` included)."""

    tokens: np.ndarray
    significance: np.ndarray
    prompt_len: np.ndarray
    length: np.ndarray


@dataclass(frozen=True)
class DigitFormat:
    """How ``a op b = c`` is written. Widths of 0 mean "as many digits as the number has"."""

    op: str = "add"
    width: int = 5
    answer_width: int = 6
    reverse: bool = True
    reverse_operands: bool = False
    separators: bool = False

    symbols = SYMBOLS
    pad_id, eos_id = PAD, EOS

    @property
    def fixed_length(self) -> bool:
        return self.width > 0 and self.answer_width > 0

    def max_answer_len(self, max_operand_digits: int) -> int:
        """Answer tokens to generate at most (with ``<eos>`` when the answer is not padded)."""
        if self.answer_width:
            return self.answer_width
        return answer_digits(self.op, max_operand_digits) + 1

    def seq_len(self, max_operand_digits: int) -> int:
        """Tokens of the longest sequence with operands of up to ``max_operand_digits`` digits."""
        w = self.width or max_operand_digits
        return 2 * w + 2 * self.separators + self.max_answer_len(max_operand_digits)

    def _number(self, x, width: int, reverse: bool, lsb_width: int):
        """(tokens, significance) of numbers as (n, W) arrays with HOLE where a short number has no digit."""
        d = digits_lsb(x, lsb_width)
        sig = np.broadcast_to(np.arange(1, lsb_width + 1), d.shape)
        if not width:  # unpadded: the digits the number has
            present = np.arange(lsb_width)[None, :] < n_digits(x)[:, None]
            d, sig = np.where(present, d, HOLE), np.where(present, sig, HOLE)
        if not reverse:
            d, sig = d[:, ::-1], sig[:, ::-1]
        return d, sig

    def encode(self, a, b, c) -> Encoded:
        """Operands and answers ((n,) non-negative ints) -> :class:`Encoded`. Raises ValueError when a number
        does not fit its width."""
        a, b, c = (np.asarray(v, dtype=np.int64) for v in (a, b, c))
        if min(a.min(initial=0), b.min(initial=0), c.min(initial=0)) < 0:
            raise ValueError("the digit format writes non-negative integers only")
        n = len(a)
        wide = int(max(n_digits(a).max(initial=1), n_digits(b).max(initial=1)))
        if self.width and wide > self.width:
            raise ValueError(f"operands of {wide} digits do not fit width {self.width}")
        longest = int(n_digits(c).max(initial=1))
        if self.answer_width and longest > self.answer_width:
            raise ValueError(f"answers of {longest} digits do not fit answer_width {self.answer_width}")
        w_op, w_ans = self.width or wide, self.answer_width or longest
        parts, sigs = [], []
        for x, sep in ((a, OP_SYMBOL[self.op]), (b, "=")):
            d, s = self._number(x, self.width, self.reverse_operands, w_op)
            parts.append(d)
            sigs.append(s)
            if self.separators:
                parts.append(np.full((n, 1), SYMBOLS.index(sep)))
                sigs.append(np.zeros((n, 1), dtype=np.int64))
        d, s = self._number(c, self.answer_width, self.reverse, w_ans)
        parts.append(d)
        sigs.append(s)
        if not self.answer_width:
            parts.append(np.full((n, 1), EOS))
            sigs.append(np.zeros((n, 1), dtype=np.int64))
        tokens, sig = np.concatenate(parts, axis=1), np.concatenate(sigs, axis=1)
        prompt_slots = sum(p.shape[1] for p in parts[: 4 if self.separators else 2])
        prompt_len = (tokens[:, :prompt_slots] != HOLE).sum(1)
        tokens, sig, length = _pack(tokens, sig)
        return Encoded(tokens, sig, prompt_len, length)

    def decode(self, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Generated answer tokens (n, L) -> (values (n,) float with NaN where invalid, valid (n,) bool).

        Padded answers are the first ``answer_width`` tokens; unpadded ones end at ``<eos>``. An answer is
        invalid when a token in it is not a digit, when it is empty, or when ``<eos>`` never comes."""
        answer = np.asarray(answer, dtype=np.int64)
        n, L = answer.shape
        if self.answer_width:
            body = answer[:, : self.answer_width]
            ok = np.full(n, body.shape[1] == self.answer_width)
            used = np.ones_like(body, dtype=bool)
        else:
            is_eos = answer == EOS
            ok = is_eos.any(1)
            end = np.where(ok, is_eos.argmax(1), L)
            used = np.arange(L)[None, :] < end[:, None]
            ok &= end > 0
            body = answer
        ok &= ~(used & (body > 9)).any(1)
        digits = np.where(used & (body <= 9), body, 0)
        count = used.sum(1)
        if self.reverse:  # least significant first: digit j has place j
            place = np.broadcast_to(np.arange(body.shape[1]), body.shape)
        else:  # most significant first: digit j has place count - 1 - j
            place = count[:, None] - 1 - np.arange(body.shape[1])[None, :]
        value = (digits * np.where(used, 10.0 ** np.maximum(place, 0), 0.0)).sum(1)
        return np.where(ok, value, np.nan), ok


def _pack(tokens: np.ndarray, sig: np.ndarray):
    """Drop the HOLE slots of each row, left-align, pad with ``<pad>`` (significance 0)."""
    keep = tokens != HOLE
    length = keep.sum(1)
    if keep.all():
        return tokens, sig, length
    out = np.full((len(tokens), length.max()), PAD, dtype=np.int64)
    out_sig = np.zeros_like(out)
    cols = np.cumsum(keep, axis=1) - 1
    rows = np.broadcast_to(np.arange(len(tokens))[:, None], tokens.shape)
    out[rows[keep], cols[keep]] = tokens[keep]
    out_sig[rows[keep], cols[keep]] = sig[keep]
    return out, out_sig, length


def digit_matches(pred: np.ndarray, true: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-digit comparison of predicted and true answers, by place (units, tens, ...).

    pred (n,) float (NaN: no answer, every digit wrong), true (n,) int. Digits compared: ``width`` places when
    given (a padded answer: leading zeros count), else as many as the longer of the true and the predicted
    answer has (an extra leading digit is a wrong digit, a missing one too). Returns (match (n, D) bool,
    counted (n, D) bool); per-digit accuracy is ``match[counted].mean()``.

    >>> m, c = digit_matches(np.array([1235.0, 11234.0]), np.array([1234, 1234]))
    >>> m[0][c[0]].tolist(), m[1][c[1]].tolist()
    ([False, True, True, True], [True, True, True, True, False])
    """
    true = np.asarray(true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.float64)
    valid = np.isfinite(pred) & (pred >= 0) & (pred < 1e18)
    p = np.where(valid, pred, 0).astype(np.int64)
    length = n_digits(true) if width else np.maximum(n_digits(true), np.where(valid, n_digits(p), 0))
    D = width or int(length.max(initial=1))
    match = (digits_lsb(p, D) == digits_lsb(true, D)) & valid[:, None]
    counted = np.ones_like(match) if width else np.arange(D)[None, :] < length[:, None]
    return match, counted
