"""Matrix tasks for a seq2seq model: the task, its codecs and the shared vocabulary, in one object.

:class:`MatrixPipeline` turns problems into arrays of token ids (and, for xVal inputs or 2-D positions, each
token's place and factor), builds the seq2seq model, computes the teacher-forced loss and scores test sets
(:mod:`mathlens.pipelines.scoring`: decode, then the task's verification).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import encodings
from ..encodings.sequence import MatrixCodec, Source, Vocabulary
from ..errors import UserError
from ..models import Seq2Seq
from .base import LossTerms, summed_cross_entropy
from .scoring import score_matrices, tol_key
from .stream import build_test_set


class MatrixPipeline:
    """Task + input/output codecs + vocabulary for one run.

    ``encode(problems)`` gives the model's arrays: ``src`` (n, S) and ``tgt`` (n, T) where every target starts
    and ends with ``<eos>`` (LAWT's convention) and shorter rows are padded with ``<pad>``.
    """

    progress = "examples"

    def __init__(self, cfg):
        self.cfg = cfg
        self.task = cfg.build_task()
        self.enc_in = input_encoding(cfg.encoding)
        self.enc_out = encodings.get(cfg.encoding.output)
        self.vocab = Vocabulary([self.enc_in, self.enc_out], max_dim=self.task.max_dim,
                                extra=self.task.extra_tokens)
        self.codec_in = MatrixCodec(self.enc_in, self.vocab, layout=cfg.encoding.input_layout)
        self.codec_out = MatrixCodec(self.enc_out, self.vocab)
        m = cfg.model
        self.rows, self.numbers = m.reader == "rows", m.head == "numbers"
        self.in_scale, self.scale = m.number_scale, m.head_scale or m.number_scale  # reader's, head's
        self.check = cfg.optim.loss == "check"  # the loss reads the input matrix: two more arrays
        # the encoder also reads each token's place in the matrix and its embedding's factor (Source)
        self.with_source = not self.rows and (self.enc_in.continuous or m.src_positions == "2d")
        prefix = 1 if self.task.extra_tokens else 0  # cotraining's task token
        inputs = [t.input_matrix(t.largest()).shape[1:] for t in self.task.parts()]
        outputs = [t.target_matrix(t.largest()).shape[1:] for t in self.task.parts()]
        self.max_cols = max(c for _, c in inputs)
        self.max_src_len = prefix + max(r if self.rows else self.codec_in.max_len(r, c) for r, c in inputs)
        # matrix + end token (the start token is counted in max_tgt_len); the number head: one query per number
        self.max_out_len = max(self.codec_out.max_len(r, c) for r, c in outputs) + 1
        self.max_tgt_len = max(r * c for r, c in outputs) if self.numbers else self.max_out_len + 1

    @property
    def headline(self) -> str:
        """The accuracy at the task's first tolerance: 'acc@5%' (LAWT)."""
        return tol_key(self.task.tolerances[0])

    def encode(self, problems) -> tuple[np.ndarray, ...]:
        """Problems -> (src, tgt), or (src, tgt, place, multiplier) when the encoder reads a Source. With the row
        reader src is the (n, R, C) input / model.number_scale (float32); with the number head tgt is the (n, K)
        target's entries, row by row, / model.head_scale."""
        x, y = self.task.input_matrix(problems), self.task.target_matrix(problems)
        self.codec_in.check_shape(*x.shape[1:])
        self.codec_out.check_shape(*y.shape[1:])
        token = self.task.task_token(problems)
        if not (self.rows or self.numbers):
            return self._tokens(x, y, token)
        if token is not None:
            raise UserError("model.reader, model.head: rows and numbers do not cotrain (no task token)")
        tokens = None if self.rows and self.numbers else self._tokens(x, y, None)
        src = (x / self.in_scale).astype(np.float32) if self.rows else tokens[0]
        tgt = (y.reshape(len(y), -1) / self.scale).astype(np.float32) if self.numbers else tokens[1]
        arrays = (src, tgt) if self.rows else (src, tgt, *tokens[2:])
        if self.check:  # the check reads the clean input, and the target's shape
            arrays += (problems["input"].astype(np.float32), np.tile(np.array(y.shape[1:]), (len(y), 1)))
        return arrays

    def _tokens(self, x, y, token) -> tuple[np.ndarray, ...]:
        """Input x and target y as LAWT's token sequences (``token``: cotraining's task token, first in src):
        (src, tgt[, place, multiplier])."""
        values = self.codec_in.written(x)
        n, k = values.shape
        if self.enc_in is self.enc_out:  # one encoding call for both: half the per-call numpy overhead
            local = self.enc_in.encode(np.concatenate([values, y.reshape(n, -1)], axis=1))
            local_in, local_out = local[:, :k], local[:, k:]
        else:
            local_in, local_out = self.enc_in.encode(values), self.enc_out.encode(y.reshape(n, -1))
        src, _ = self.codec_in.from_local(local_in, *x.shape[1:])
        body, lengths = self.codec_out.from_local(local_out, *y.shape[1:])
        source = self.codec_in.source(values, local_in, *x.shape[1:], src.shape[1]) if self.with_source else None
        if token is not None:
            src = np.concatenate([np.full((n, 1), self.vocab.index[token]), src], axis=1)
            if source is not None:  # the task token's place is 0, its factor 1
                source = Source(np.pad(source.place, ((0, 0), (1, 0))),
                                np.pad(source.multiplier, ((0, 0), (1, 0)), constant_values=1.0))
        tgt = np.full((n, body.shape[1] + 2), self.vocab.pad_id, dtype=np.int64)
        tgt[:, 0] = self.vocab.eos_id
        tgt[:, 1 : body.shape[1] + 1] = body
        tgt[np.arange(n), lengths + 1] = self.vocab.eos_id
        return (src, tgt) if source is None else (src, tgt, *source)

    @property
    def symbols(self) -> list[str]:
        return self.vocab.symbols

    @property
    def fills(self) -> tuple:
        """What pads each encoded array when batches of different lengths are joined."""
        return ((self.vocab.pad_id, self.vocab.pad_id) + ((0, 1.0) if self.with_source else ())
                + ((0.0, 0) if self.check else ()))

    def loss(self, forward, arrays, device) -> LossTerms:
        """Teacher-forced cross-entropy over the target tokens (arrays: numpy or, pinned, torch); with the number
        head, optim.loss over the scaled numbers (a sequence is 'right' when every number is within 0.5% of
        the head's scale)."""
        src, tgt, *source = (torch.as_tensor(x).to(device, non_blocking=True) for x in arrays)
        if self.numbers:
            if self.check:
                *source, m, shape = source
            pred = forward(src, None, *source, n_out=tgt.shape[1]).float()
            with torch.no_grad():
                right = ((pred - tgt).abs() < 0.005).all(1).sum()
            if self.check:  # the mean of the check over the problems
                r, c = shape[0].tolist()
                total = self.task.check_loss(m, (pred * self.scale).view(-1, r, c),
                                             (tgt * self.scale).view(-1, r, c)).sum()
                return LossTerms(total, torch.tensor(len(src), device=tgt.device), right, len(src))
            fn = F.smooth_l1_loss if self.cfg.optim.loss == "smooth_l1" else F.mse_loss
            total = fn(pred, tgt, reduction="sum")
            return LossTerms(total, torch.tensor(tgt.numel(), device=tgt.device), right, len(src))
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
        logits = forward(src, tgt_in, *source)
        mask = tgt_out != self.vocab.pad_id
        total = summed_cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=self.vocab.pad_id)
        with torch.no_grad():
            right = ((logits.argmax(-1) == tgt_out) | ~mask).all(1).sum()
        return LossTerms(total, mask.sum(), right, len(src))

    def test_set(self, size: int, seed: int, batch_size: int) -> list:
        return build_test_set(self.task, size, seed, batch_size)

    def evaluate(self, model, tests, device, autocast, records: bool = False, beam: int = 1):
        return score_matrices(model, self, tests, device, autocast, records=records, beam=beam)

    def decode(self, problems, generated: np.ndarray):
        """Generated ids (after the start token) -> (predicted matrices with NaN where invalid, reason codes)."""
        return self.codec_out.decode(generated, self.task.output_shape(problems))

    # ------------------------------------------------------------------------------- data files (datafile.py)
    def texts(self, problems) -> tuple[list[str], list[str]]:
        """The tokens the model reads and writes for ``problems``, as space-separated strings."""
        src, tgt = self.encode(problems)[:2]
        sym = self.vocab.symbols

        def text(row):
            return " ".join(sym[i] for i in row if i not in (self.vocab.pad_id, self.vocab.eos_id))

        return [text(r) for r in src], [text(r) for r in tgt]

    def problem_keys(self) -> list[str]:
        """The arrays a problem of this task is made of (the columns a data file must have)."""
        return list(self.task.sample(1, np.random.default_rng(0)))

    def problems_from_text(self, lines, option: str) -> tuple[list[dict | None], list[tuple[int, str]]]:
        """LAWT text lines (``input tokens<TAB>output tokens``) -> rows {"input": matrix}, None where a line does
        not parse, and the bad lines (line number, why). The input is read with the run's input encoding."""
        if self.enc_in.continuous or self.cfg.encoding.input_layout != "full" or self.problem_keys() != ["input"]:
            raise UserError(f"{option}: a text file holds tokens only; this run (task {self.task.name}, input "
                            f"{self.cfg.encoding.input}, layout {self.cfg.encoding.input_layout}) needs the numbers: "
                            f"write it as .parquet or .jsonl with `mathlens data`")
        codec = MatrixCodec(self.enc_in, self.vocab)
        rows, bad = [], []
        for i, line in enumerate(lines, start=1):
            matrix = self._decode_with(codec, line.split("\t")[0])
            rows.append(None if matrix is None else {"input": matrix.tolist()})
            if matrix is None:
                bad.append((i, "its input tokens do not decode"))
        return rows, bad

    def decode_text(self, texts) -> list[np.ndarray | None]:
        """Token strings as records hold them ("V3 V3 + 12 E-1 ...", no end token) -> matrices, each of the shape
        its own header says, or None where it does not parse."""
        return [self._decode_with(self.codec_out, text) for text in texts]

    def _decode_with(self, codec, text) -> np.ndarray | None:
        tokens = str(text).split()
        dims = [int(self.vocab.index.get(t, -1) - self.vocab.dim_id(1) + 1) for t in tokens[:2]]
        if len(dims) < 2 or not all(1 <= d <= self.vocab.max_dim for d in dims):
            return None
        ids = np.array([[self.vocab.index.get(t, -1) for t in tokens] + [self.vocab.eos_id]])
        matrix, reason = codec.decode(ids, tuple(dims))
        return matrix[0] if reason[0] == 0 else None

    def build_model(self):
        return Seq2Seq(self.cfg.model, len(self.vocab), self.max_src_len, self.max_tgt_len, self.vocab.pad_id,
                       places=(self.vocab.max_dim, self.enc_in.width), max_cols=self.max_cols)

    def written(self, predictions: np.ndarray) -> list[str]:
        """A number head's predicted matrices (n, r, c) as the token text the output encoding writes (what records
        and the report show; the check reads the numbers themselves)."""
        n, r, c = predictions.shape
        # what no encoding can write (a diverged head's inf, NaN or 1e300) is shown as 0 or the largest number
        shown = np.clip(np.nan_to_num(predictions.reshape(n, -1), posinf=9e99, neginf=-9e99), -9e99, 9e99)
        with np.errstate(invalid="ignore"):  # FP15 writes NaN past its range
            body, lengths = self.codec_out.from_local(self.enc_out.encode(shown), r, c)
        return [" ".join(self.vocab.strings(row[:k])) for row, k in zip(body, lengths)]


def input_encoding(enc_cfg):
    """The encoding the model reads (xVal with its ``encoding.xval_scale``)."""
    if enc_cfg.input == "xval":
        return encodings.get("xval", scale=enc_cfg.xval_scale)
    return encodings.get(enc_cfg.input)
