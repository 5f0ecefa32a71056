"""Arithmetic for a decoder-only model: problems written as digit sequences, loss on the answer, greedy decoding.

The model reads ``prompt + answer`` and is trained to predict each answer token from the tokens before it
(teacher forcing; the loss covers the answer only, as in Xu et al.). At test time it reads the prompt and
writes the answer greedily, one token at a time, with a key/value cache. With abacus positions every digit's
position id is its place in its number (``Encoded.significance``), shifted in training by a random offset per
sequence (McLeish et al.) so that the ids longer numbers need are trained too.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch

from ..distributed import gather_rows, shard_rows
from ..encodings.digits import EOS, DigitFormat, answer_digits, digit_matches
from ..errors import UserError
from ..models import Decoder
from .base import LossTerms, summed_cross_entropy
from .stream import build_test_set, training_set


class DigitPipeline:
    """Task + digit format + the decoder that reads it, for one run.

    ``encode(problems)`` gives the training arrays ``(tokens, answer_mask, significance)``, each (n, L):
    token ids right-padded to at least the training distribution's longest sequence (one shape, one bucket),
    True where a token belongs to the answer (its ``<eos>`` included), and the digit-place ids.
    """

    progress = "examples"
    headline = "acc"  # exact answers on the training distribution

    def __init__(self, cfg):
        self.cfg = cfg
        self.task = cfg.build_task()
        o = self.task.options
        self.format = fmt = DigitFormat(o.op, o.width, o.answer_width, o.reverse, o.reverse_operands, o.separators)
        self.symbols = list(fmt.symbols)
        m = cfg.model
        if m.positions == "abacus" and not (fmt.reverse or fmt.answer_width):
            raise UserError("model.positions: abacus ids of an answer written most significant digit first are "
                            "only known when it is padded; set task.reverse=true or task.answer_width")
        longest = self.task.max_digits
        self.n_ctx = fmt.seq_len(longest)
        self.max_answer_len = fmt.max_answer_len(longest)
        self.train_len = fmt.seq_len(self.task.options.digits)
        top_place = max(fmt.width, fmt.answer_width, answer_digits(fmt.op, longest))
        self.n_pos = top_place + 1 + m.abacus_offset if m.positions == "abacus" else self.n_ctx

    # ------------------------------------------------------------------------------------------ data
    def encode(self, problems) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        enc = self.format.encode(problems["a"], problems["b"], problems["answer"])
        n, L = enc.tokens.shape
        width = max(L, self.train_len)
        tokens = np.full((n, width), self.format.pad_id, dtype=np.int64)
        sig = np.zeros((n, width), dtype=np.int64)
        tokens[:, :L], sig[:, :L] = enc.tokens, enc.significance
        cols = np.arange(width)[None, :]
        answer = (cols >= enc.prompt_len[:, None]) & (cols < enc.length[:, None])
        return tokens, answer, sig

    def build_model(self):
        return Decoder(self.cfg.model, len(self.symbols), self.n_ctx, n_pos=self.n_pos)

    def positions(self, significance: torch.Tensor, training: bool) -> torch.Tensor | None:
        """Position ids the model reads: abacus ids (shifted at random in training), or None (0, 1, 2...)."""
        if self.cfg.model.positions != "abacus":
            return None
        if training and self.cfg.model.abacus_offset:
            shift = torch.randint(0, self.cfg.model.abacus_offset + 1, (len(significance), 1),
                                  device=significance.device)
            return significance + shift * (significance > 0)
        return significance

    @property
    def fills(self) -> tuple:
        """What pads (tokens, answer mask, significance) when batches of different lengths are joined."""
        return self.format.pad_id, False, 0

    def loss(self, forward, arrays, device) -> LossTerms:
        """Teacher-forced cross-entropy summed over the answer tokens (arrays: numpy or, pinned, torch)."""
        tokens, answer, sig = (torch.as_tensor(x).to(device, non_blocking=True) for x in arrays)
        positions = self.positions(sig, training=True)
        logits = forward(tokens[:, :-1], positions=None if positions is None else positions[:, :-1])
        target, mask = tokens[:, 1:], answer[:, 1:]
        total = summed_cross_entropy(logits[mask], target[mask])
        with torch.no_grad():
            right = ((logits.argmax(-1) == target) | ~mask).all(1).sum()
        return LossTerms(total, mask.sum(), right, len(tokens))

    def test_set(self, size: int, seed: int, batch_size: int, lengths=None) -> dict[str, list]:
        """Seeded test sets: the training distribution ('id') and each operand length ('4 digits'; default: the
        task's eval lengths). With a fixed training set (train.dataset_size, or two-set training's repeated set)
        no test problem is one of its pairs: an in-distribution accuracy is on pairs never trained on (or, with
        two-set training, never repeated)."""
        train = training_set(self, self.cfg)
        seen = np.concatenate([self.task.keys(b) for b in train]) if train else None
        sets = {"id": build_test_set(self.task, size, seed, batch_size, seen)}
        for d in self.task.eval_digits if lengths is None else lengths:
            sets[f"{d} digits"] = build_test_set(self.task.with_digits(d), size, seed, batch_size, seen)
        return sets

    def evaluate(self, model, tests, device, autocast, records: bool = False):
        return evaluate_digits(model, self, tests, device, autocast, records=records)

    # ------------------------------------------------------------------------------- data files (datafile.py)
    def texts(self, problems) -> tuple[list[str], list[str]]:
        """The prompt and answer tokens of ``problems``, as space-separated strings."""
        enc = self.format.encode(problems["a"], problems["b"], problems["answer"])
        sym = self.symbols
        return ([" ".join(sym[t] for t in row[:p]) for row, p in zip(enc.tokens, enc.prompt_len)],
                [" ".join(sym[t] for t in row[p:n]) for row, p, n in zip(enc.tokens, enc.prompt_len, enc.length)])

    def problem_keys(self) -> list[str]:
        return ["a", "b", "answer"]

    def problems_from_text(self, lines, option: str):
        raise UserError(f"{option}: arithmetic problems are read from .parquet or .jsonl files (their numbers); "
                        f"write them with `mathlens data`")

    # ------------------------------------------------------------------------------------------ decoding
    def answer_positions(self, step: int) -> int:
        """Abacus id of the answer token written at ``step`` (its digit place + 1)."""
        fmt = self.format
        return step + 1 if fmt.reverse else fmt.answer_width - step

    def prompts(self, problems, device):
        """The prompts of ``problems`` grouped by length (one group for padded formats): yields (rows, tokens
        (m, P), position ids (m, P) for abacus models or None)."""
        enc = self.format.encode(problems["a"], problems["b"], np.abs(problems["answer"]))  # only prompts read
        abacus = self.cfg.model.positions == "abacus"
        for P in np.unique(enc.prompt_len):
            rows = np.flatnonzero(enc.prompt_len == P)
            pos = torch.from_numpy(enc.significance[rows, :P]).to(device) if abacus else None
            yield rows, torch.from_numpy(enc.tokens[rows, :P]).to(device), pos

    @torch.inference_mode()
    def generate(self, model, problems, device, probs: bool = False):
        """Greedy answers of ``model`` to ``problems``: (tokens (n, A) ids, probabilities (n, A, V) or None).

        Rows are grouped by prompt length (unpadded formats), each group decoded in one batch with a KV cache.
        """
        n, A = len(problems["a"]), self.max_answer_len
        out = np.full((n, A), self.format.pad_id, dtype=np.int64)
        prob = np.zeros((n, A, len(self.symbols)), dtype=np.float32) if probs else None
        abacus = self.cfg.model.positions == "abacus"
        kind = torch.device(device).type  # the cache holds keys in the dtype attention computes them in
        dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else model.embed.weight.dtype
        was_training = model.training
        model.eval()
        for rows, prompt, pos in self.prompts(problems, device):
            P = prompt.shape[1]
            if P + A > model.n_ctx:
                raise UserError(f"operands of these lengths need {P + A} positions; the model has {model.n_ctx} "
                                f"(task.eval_digits sizes the table when training)")
            caches = model.new_caches(len(rows), P + A, device, dtype)
            logits = model(prompt, positions=pos, caches=caches)[:, -1]
            done = torch.zeros(len(rows), dtype=torch.bool, device=device)
            for step in range(A):
                if probs:
                    prob[rows, step] = logits.float().softmax(-1).cpu().numpy()
                tok = logits.argmax(-1)
                out[rows, step] = tok.cpu().numpy()
                done |= tok == EOS
                if step + 1 == A or bool(done.all()):
                    break
                pos = torch.full((len(rows), 1), self.answer_positions(step), device=device) if abacus else None
                logits = model(tok[:, None], positions=pos, caches=caches, start=P + step)[:, -1]
        model.train(was_training)
        return out, prob

    def decode(self, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Generated answer tokens -> (values with NaN where invalid, valid)."""
        return self.format.decode(generated)


def set_key(name: str, key: str) -> str:
    """Metric name of a test set: ('id', 'acc') -> 'acc', ('4 digits', 'acc') -> 'acc_4d'."""
    return key if name == "id" else f"{key}_{name.split()[0]}d"


def evaluate_digits(model, pipe, tests: dict, device, autocast=contextlib.nullcontext, records: bool = False):
    """Decode and verify every test set of ``tests`` (name -> list of problem batches).

    Returns (summary, records): summary has, for each set, exact accuracy 'acc' ('acc_4d' for the 4-digit set),
    per-digit accuracy 'digit_acc' and the share of answers that did not decode 'invalid', plus 'n';
    records (or None) is one row per problem: set, operands, answer, prediction (NaN if invalid), correct,
    digit_acc, the problem's features and the generated tokens. Under torchrun each rank decodes every
    world-th problem and the summary is over all of them (records then hold this rank's problems only).
    """
    task, fmt = pipe.task, pipe.format
    summary, frames = {}, []
    for name, batches in tests.items():
        correct, digit_acc, valid_all = [], [], []
        for problems in map(shard_rows, batches):
            if not len(problems["a"]):
                continue
            with autocast():
                gen, _ = pipe.generate(model, problems, device)
            pred, valid = pipe.decode(gen)
            error = task.verify(problems, pred)  # 0 right, 1 wrong
            ok = error == 0
            match, count = digit_matches(pred, problems["answer"], fmt.answer_width or None)
            correct.append(ok)
            valid_all.append(valid)
            digit_acc.append((match & count).sum(1) / count.sum(1))  # share of this answer's digits right
            if records:
                frame = pd.DataFrame(task.features(problems))
                frame.insert(0, "set", name)
                frame["prediction"] = pred
                frame["error"] = error
                frame["correct"] = ok
                frame["digit_acc"] = digit_acc[-1]
                frame["valid"] = valid
                for prop, value in task.properties(problems, pred).items():
                    frame[f"property:{prop}"] = value
                frame["generated"] = ["".join(pipe.symbols[i] for i in row) for row in gen]
                frames.append(frame)
        correct, valid = gather_rows(correct), gather_rows(valid_all)
        summary[set_key(name, "acc")] = float(correct.mean())
        summary[set_key(name, "digit_acc")] = float(gather_rows(digit_acc).mean())
        summary[set_key(name, "invalid")] = float(1 - valid.mean())
        summary.setdefault("n", int(correct.size))
    return summary, (pd.concat(frames, ignore_index=True) if records else None)
