"""Decoding constrained to well-formed matrices: what a MatrixCodec writes, and nothing else.

A matrix is ``V<r> V<c>`` (the answer's shape, which the problem gives), then r * c numbers each as the output
encoding writes them (:func:`~mathlens.encodings.grammar.number_automaton`), then ``<eos>``.
:class:`MatrixGrammar` follows that grammar for every row of a batch at once, so greedy decoding and beam search
(:mod:`mathlens.models.decoding`) can mask every token the grammar does not allow: a model so decoded always
writes a matrix that decodes, and its check can judge it.
"""

from __future__ import annotations

import torch

from ..encodings.grammar import DONE, number_automaton


class MatrixGrammar:
    """The grammar of one output encoding in a vocabulary, as tensors on ``device``.

    A state is three int64 tensors: the position in the grammar (n,) (a number's automaton state 0..S-1, or
    FIRST_DIM, SECOND_DIM, END), the numbers still to write (n,) (after the header: r * c), and the header's
    dimensions when they are given (n, 2) (0: any V token that the vocabulary has).
    """

    def __init__(self, vocab, enc, device=None):
        automaton = number_automaton(enc)
        S, V = len(automaton), len(vocab)
        self.FIRST_DIM, self.SECOND_DIM, self.END = S, S + 1, S + 2
        self.dim0, self.eos = int(vocab.dim_id(1)), vocab.eos_id
        to_global = vocab.to_global(enc)
        allowed = torch.zeros(S + 3, V, dtype=torch.bool)
        self.next = torch.full((S, V), DONE, dtype=torch.long)
        for s, transitions in enumerate(automaton):
            for local, nxt in transitions.items():
                allowed[s, to_global[local]] = True
                self.next[s, to_global[local]] = nxt
        allowed[S : S + 2, self.dim0 : self.dim0 + vocab.max_dim] = True  # V1..V<max_dim>
        allowed[self.END, self.eos] = True
        self.allowed, self.next = allowed.to(device), self.next.to(device)

    def start(self, n: int, shape: tuple[int, int] | None = None) -> tuple:
        """The state of ``n`` rows before their first token; ``shape``: the answer's (rows, cols), which the
        header must then say (the problem gives it: a matrix of another shape fails the check anyway)."""
        device = self.allowed.device
        dims = torch.tensor(shape or (0, 0), dtype=torch.long, device=device).expand(n, 2)
        return (torch.full((n,), self.FIRST_DIM, dtype=torch.long, device=device),
                torch.zeros(n, dtype=torch.long, device=device), dims)

    def mask(self, state) -> torch.Tensor:
        """(n, vocab) bool: the tokens the grammar allows next."""
        where, _, dims = state
        allowed = self.allowed[where]
        for k, at in enumerate((self.FIRST_DIM, self.SECOND_DIM)):  # a given dimension: its own V token only
            rows = (where == at) & (dims[:, k] > 0)
            if bool(rows.any()):
                allowed[rows] = False
                allowed[rows, self.dim0 + dims[rows, k] - 1] = True
        return allowed

    def advance(self, state, tokens: torch.Tensor):
        """The state after writing ``tokens`` (n,) (each one allowed by :meth:`mask`)."""
        where, left, dims = state
        dim = tokens - self.dim0 + 1
        in_number = where < self.FIRST_DIM
        step = self.next[where.clamp(max=self.FIRST_DIM - 1), tokens]  # (n,): meaningful inside a number only
        finished = in_number & (step == DONE)
        left = torch.where(where == self.FIRST_DIM, dim, left)  # rows for now; times the columns below
        left = torch.where(where == self.SECOND_DIM, left * dim, left) - finished.long()
        after_number = torch.where(left > 0, torch.zeros_like(where), torch.full_like(where, self.END))
        where = torch.where(where == self.FIRST_DIM, torch.full_like(where, self.SECOND_DIM),
                            torch.where(where == self.SECOND_DIM, after_number,
                                        torch.where(finished, after_number, torch.where(in_number, step, where))))
        return where, left, dims

    def reorder(self, state, index: torch.Tensor):
        """The states of the rows ``index`` (beam search keeps its hypotheses' parents)."""
        return tuple(part[index] for part in state)
