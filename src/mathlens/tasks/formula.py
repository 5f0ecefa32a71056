"""Polynomials (and quotients) in x and y modulo p, parsed from a string by a small recursive-descent parser.

Nothing is ever passed to ``eval``: the text is tokenised into integers, ``x``, ``y``, ``+ - * / ^`` (``**``
too) and parentheses, anything else is an error that names the character and its position. Multiplication
may be implicit, as the papers write it: ``2x+3y``, ``xy+x+y``, ``(x+y)(x-y)``, ``x^2y``. Only ASCII digits and
spaces are read.

Rules that keep every input a one-line answer: an implicit product right after a division is refused as
ambiguous (``x/2y``: write ``x/(2y)`` or ``(x/2)y``), and so is one whose right factor is an integer (``2 3``,
``x2``: write ``2*3``, ``2x``); a formula is at most 1,000 characters, an integer at
most 100 digits, and parentheses, signs and chains of operations nest at most 100 deep.

>>> f = parse("x^2+xy+y^2")
>>> import numpy as np
>>> f.evaluate(np.array([1, 2]), np.array([3, 4]), p=7)
(array([6, 0]), array([ True,  True]))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

ALLOWED = "integers, x, y, + - * / ^ and parentheses"
MAX_EXPONENT = 10**6
MAX_LENGTH = 1000  # characters
MAX_NUMBER = 100  # digits of one integer
MAX_DEPTH = 100  # nesting of the parsed tree (parser and evaluation recurse a few frames per level)
# ASCII only: \d would take Unicode digits (x+٣ read as x+3), \s Unicode spaces
SPACES = " \t\n\r\f\v"  # what \s means with re.ASCII
_TOKEN = re.compile(r"\s*(?:(\d+)|(\*\*|[-+*/^()xy]))", re.ASCII)


def _tokenise(text: str, where: str) -> list[tuple[str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip(SPACES) == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            bad = len(text[pos:]) - len(text[pos:].lstrip(SPACES)) + pos
            raise UserError(f"{where}: unexpected {text[bad]!r} at position {bad} in {_short(text)}; "
                            f"a formula uses {ALLOWED}")
        if m.group(1) and len(m.group(1)) > MAX_NUMBER:
            raise UserError(f"{where}: an integer of {len(m.group(1))} digits at position {m.start(1)}; "
                            f"integers have at most {MAX_NUMBER} digits")
        tokens.append((m.group(1) or ("^" if m.group(2) == "**" else m.group(2)), m.start(m.lastindex)))
        pos = m.end()
    return tokens


@dataclass(frozen=True)
class Formula:
    """A parsed formula: ``text`` as written, ``tree`` as nested tuples, ``has_division``."""

    text: str
    tree: tuple

    @property
    def has_division(self) -> bool:
        return _contains(self.tree, "/")

    def evaluate(self, x: np.ndarray, y: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
        """(values mod p, valid) for integer arrays x, y; ``valid`` is False where a divisor is 0 mod p."""
        x, y = np.asarray(x, dtype=np.int64) % p, np.asarray(y, dtype=np.int64) % p
        valid = np.ones(np.broadcast(x, y).shape, dtype=bool)
        values = _eval(self.tree, x, y, p, valid)
        return np.broadcast_to(values, valid.shape) % p, valid


def _short(text: str) -> str:
    """The formula as quoted in an error: whole, or its first 60 characters."""
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "..."


def _depth(tree) -> int:
    """Levels of a parsed tree, without recursion (the tree may be deeper than Python's stack)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        t, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in t[1:] if isinstance(c, tuple))
    return deepest


def _contains(tree, op) -> bool:
    return tree[0] == op or any(_contains(t, op) for t in tree[1:] if isinstance(t, tuple))


def _power(base: np.ndarray, e: int, p: int) -> np.ndarray:
    """base**e mod p by repeated squaring (exact in int64 for p < 3e9)."""
    result = np.ones_like(base)
    base = base % p
    while e:
        if e & 1:
            result = result * base % p
        base = base * base % p
        e >>= 1
    return result


def _eval(t, x, y, p, valid):
    kind = t[0]
    if kind == "num":
        return np.int64(t[1] % p)
    if kind == "var":
        return x if t[1] == "x" else y
    if kind == "neg":
        return (-_eval(t[1], x, y, p, valid)) % p
    if kind == "^":
        return _power(np.asarray(_eval(t[1], x, y, p, valid)), t[2], p)
    a, b = _eval(t[1], x, y, p, valid), _eval(t[2], x, y, p, valid)
    if kind == "+":
        return (a + b) % p
    if kind == "-":
        return (a - b) % p
    if kind == "*":
        return a * b % p
    # a / b = a * b^(p-2) (Fermat); the caller checked that p is prime. Pairs with b = 0 are invalid.
    valid &= np.broadcast_to(b != 0, valid.shape)
    return a * _power(np.asarray(b), p - 2, p) % p


class _Parser:
    def __init__(self, text: str, where: str):
        self.text, self.where = text, where
        if len(text) > MAX_LENGTH:
            raise UserError(f"{where}: a formula of {len(text)} characters; at most {MAX_LENGTH}")
        self.tokens = _tokenise(text, where)
        self.i = 0
        self.depth = 0  # open parentheses and signs: the parser recurses once per level

    def deeper(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"parentheses and signs nested more than {MAX_DEPTH} deep")

    def peek(self):
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, what: str):
        if self.i < len(self.tokens):
            tok, pos = self.tokens[self.i]
            raise UserError(f"{self.where}: {what}, got {tok!r} at position {pos} in {_short(self.text)}")
        raise UserError(f"{self.where}: {what}, but {_short(self.text)} ends there")

    def parse(self):
        if not self.tokens:
            raise UserError(f"{self.where}: empty formula; a formula uses {ALLOWED}")
        tree = self.expr()
        if self.peek() is not None:
            self.fail("expected an operator or the end")
        if _depth(tree) > MAX_DEPTH:
            raise UserError(f"{self.where}: {_short(self.text)} chains more than {MAX_DEPTH} operations; "
                            f"write long products as powers (x^300) or shorten the formula")
        return tree

    def expr(self):
        tree = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[0]
            tree = (op, tree, self.term())
        return tree

    def term(self):
        tree = self.unary()
        divided = False
        while True:
            if self.peek() in ("*", "/"):
                op = self.take()[0]
                tree = (op, tree, self.unary())
                divided = op == "/"
            elif self.peek() is not None and (self.peek().isdigit() or self.peek() in ("x", "y", "(")):
                if divided:  # x/2y: (x/2)y to a parser, x/(2y) to many readers
                    self.fail("an implicit product after '/' is ambiguous; write x/(2y) or (x/2)y")
                if self.peek().isdigit():  # "2 3" is 6 to a parser, 23 or a typo to a reader; x2, (x+y)2 alike
                    self.fail("an integer after a factor needs an explicit '*' (an implicit product starts "
                              "with its integer: 2x, not x2)")
                tree = ("*", tree, self.power())  # implicit multiplication: 2x, xy, (x+y)(x-y)
            else:
                return tree

    def unary(self):
        if self.peek() in ("-", "+"):
            sign = self.take()[0]
            self.deeper()
            inner = self.unary()
            self.depth -= 1
            return ("neg", inner) if sign == "-" else inner
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == "^":
            self.take()
            if self.peek() is None or not self.peek().isdigit():
                self.fail("expected a non-negative integer exponent after '^'")
            e = int(self.take()[0])
            if e > MAX_EXPONENT:
                self.i -= 1
                self.fail(f"exponent above {MAX_EXPONENT}")
            return ("^", base, e)
        return base

    def atom(self):
        tok = self.peek()
        if tok is None:
            self.fail("expected a number, x, y or '('")
        if tok.isdigit():
            return ("num", int(self.take()[0]))
        if tok in ("x", "y"):
            return ("var", self.take()[0])
        if tok == "(":
            self.take()
            self.deeper()
            tree = self.expr()
            if self.peek() != ")":
                self.fail("expected ')'")
            self.take()
            self.depth -= 1
            return tree
        self.fail("expected a number, x, y or '('")


def parse(text: str, where: str = "task.formula") -> Formula:
    """Parse ``text`` into a :class:`Formula`; a UserError naming ``where`` says what is wrong."""
    if not isinstance(text, str):
        raise UserError(f"{where}: expected a formula string, got {text!r}")
    return Formula(text.strip(), _Parser(text, where).parse())
