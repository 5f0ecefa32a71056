"""From a config to arrays of token ids: the task, its codecs and the shared vocabulary, in one object.

A pipeline is what the trainer needs from a task family: ``encode`` problems into training arrays, build the
model, the teacher-forced ``loss``, a seeded ``test_set`` and ``evaluate``. :class:`Pipeline` does it for
matrix tasks and the seq2seq model; :class:`~mathlens.training.lm.DigitPipeline` for arithmetic and a
decoder-only model. :func:`pipeline_for` picks one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .. import encodings
from ..encodings.sequence import MatrixCodec, Vocabulary
from .stream import build_test_set


def pipeline_for(cfg):
    """The pipeline of ``cfg``'s task: :class:`Pipeline` (matrices) or ``DigitPipeline`` (arithmetic)."""
    from ..tasks import task_class

    kind = task_class(cfg.task["name"]).pipeline
    if kind == "digits":
        from .lm import DigitPipeline

        return DigitPipeline(cfg)
    if kind == "matrix":
        return Pipeline(cfg)
    raise ValueError(f"task {cfg.task['name']!r} is trained full-batch, without a pipeline")


class LossTerms(NamedTuple):
    """A batch's teacher-forced loss as sums, so that ranks holding parts of a batch add up to the whole batch.

    total: summed cross-entropy over the target tokens; tokens: their number; right: sequences entirely
    right; n: sequences. The batch mean is ``total / tokens``, its sequence accuracy ``right / n``.
    """

    total: torch.Tensor
    tokens: torch.Tensor
    right: torch.Tensor
    n: int


class Pipeline:
    """Task + input/output codecs + vocabulary for one run.

    ``encode(problems)`` gives the model's arrays: ``src`` (n, S) and ``tgt`` (n, T) where every target starts
    and ends with ``<eos>`` (LAWT's convention) and shorter rows are padded with ``<pad>``.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.task = cfg.build_task()
        self.enc_in = encodings.get(cfg.encoding.input)
        self.enc_out = encodings.get(cfg.encoding.output)
        self.vocab = Vocabulary([self.enc_in, self.enc_out], max_dim=self.task.max_dim,
                                extra=self.task.extra_tokens)
        self.codec_in = MatrixCodec(self.enc_in, self.vocab)
        self.codec_out = MatrixCodec(self.enc_out, self.vocab)
        prefix = 1 if self.task.extra_tokens else 0  # cotraining's task token
        self.max_src_len = prefix + max(self.codec_in.max_len(*t.input_matrix(t.largest()).shape[1:])
                                        for t in self.task.parts())
        # matrix + end token (the start token is counted in max_tgt_len)
        self.max_out_len = max(self.codec_out.max_len(*t.target_matrix(t.largest()).shape[1:])
                               for t in self.task.parts()) + 1
        self.max_tgt_len = self.max_out_len + 1

    def encode(self, problems) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.task.input_matrix(problems), self.task.target_matrix(problems)
        if self.enc_in is self.enc_out:  # one encoding call for both: half the per-call numpy overhead
            n, k = len(x), x.shape[1] * x.shape[2]
            self.codec_in.check_shape(*x.shape[1:])
            self.codec_out.check_shape(*y.shape[1:])
            local = self.enc_in.encode(np.concatenate([x.reshape(n, -1), y.reshape(n, -1)], axis=1))
            src, _ = self.codec_in.from_local(local[:, :k], *x.shape[1:])
            body, lengths = self.codec_out.from_local(local[:, k:], *y.shape[1:])
        else:
            src, _ = self.codec_in.encode(x)
            body, lengths = self.codec_out.encode(y)
        token = self.task.task_token(problems)
        if token is not None:
            src = np.concatenate([np.full((len(src), 1), self.vocab.index[token]), src], axis=1)
        n = body.shape[0]
        tgt = np.full((n, body.shape[1] + 2), self.vocab.pad_id, dtype=np.int64)
        tgt[:, 0] = self.vocab.eos_id
        tgt[:, 1 : body.shape[1] + 1] = body
        tgt[np.arange(n), lengths + 1] = self.vocab.eos_id
        return src, tgt

    @property
    def symbols(self) -> list[str]:
        return self.vocab.symbols

    @property
    def fills(self) -> tuple:
        """What pads each encoded array when batches of different lengths are joined."""
        return self.vocab.pad_id, self.vocab.pad_id

    def loss(self, forward, arrays, device) -> LossTerms:
        """Teacher-forced cross-entropy over the target tokens (arrays: numpy or, pinned, torch)."""
        src, tgt = (torch.as_tensor(x).to(device, non_blocking=True) for x in arrays)
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
        logits = forward(src, tgt_in)
        mask = tgt_out != self.vocab.pad_id
        total = F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten(), ignore_index=self.vocab.pad_id,
                                reduction="sum")
        with torch.no_grad():
            right = ((logits.argmax(-1) == tgt_out) | ~mask).all(1).sum()
        return LossTerms(total, mask.sum(), right, len(src))

    def test_set(self, size: int, seed: int, batch_size: int) -> list:
        return build_test_set(self.task, size, seed, batch_size)

    def evaluate(self, model, tests, device, autocast, records: bool = False, beam: int = 1):
        from ..evaluation.evaluate import evaluate

        return evaluate(model, self, tests, device, autocast, records=records, beam=beam)

    def decode(self, problems, generated: np.ndarray):
        """Generated ids (after the start token) -> (predicted matrices with NaN where invalid, reason codes)."""
        return self.codec_out.decode(generated, self.task.output_shape(problems))

    def build_model(self):
        from ..models import Seq2Seq

        return Seq2Seq(self.cfg.model, len(self.vocab), self.max_src_len, self.max_tgt_len, self.vocab.pad_id)
