"""The training loop: generate, step, log, evaluate, checkpoint; resumable at every checkpoint.

A run directory holds ``config.toml``, ``checkpoint.safetensors`` (weights, optimiser, RNG and stream
states), ``metrics.jsonl`` (one JSON record per log or evaluation), ``tb/`` (TensorBoard events). On resume
the metrics written after the checkpoint are dropped, so a run killed at any moment and resumed ends with the
same records as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint, transfer
from .device import setup
from .optim import lr_at, make_optimizer
from .pipeline import pipeline_for
from .runlog import METRICS, RunLog, StopAtStepBoundary
from .stream import make_stream

CHECKPOINT = "checkpoint.safetensors"
__all__ = ["CHECKPOINT", "METRICS", "Trainer"]


def headline(summary: dict) -> float:
    """The first accuracy of an evaluation summary ('acc@5%' for matrices, 'acc' for arithmetic), or NaN."""
    return next((v for k, v in summary.items() if k.startswith("acc")), float("nan"))


class Trainer:
    """Train the model of ``cfg`` in ``run_dir`` (resuming from its checkpoint when one is there)."""

    def __init__(self, cfg, run_dir: Path, quiet: bool = False):
        self.cfg, self.run_dir, self.quiet = cfg, Path(run_dir), quiet
        t = cfg.train
        self.device, self.autocast = setup(t)
        self.pipe = pipeline_for(cfg)
        torch.manual_seed(cfg.seed)
        self.model = self.pipe.build_model().to(self.device)
        fresh = not (self.run_dir / CHECKPOINT).exists()
        # fine-tuning: start from another run's weights (with this run's own schedule)
        transfer.start_from(self.model, t, cfg.model.arch, fresh, self.pipe.symbols)
        self.optimizer = make_optimizer(self.model, cfg.optim)
        self.stream = make_stream(self.pipe, cfg)
        self.tests = self.pipe.test_set(t.eval_size, cfg.eval.seed, min(cfg.eval.batch_size, t.eval_size))
        self.total_steps = math.ceil(t.max_examples / t.batch_size)
        self.step = self.examples = 0
        self.window = {"loss": 0.0, "acc": 0.0, "n": 0}
        self.train_time = 0.0
        self.forward = torch.compile(self.model) if t.compile else self.model
        self.log = RunLog(self.run_dir, x_key="examples")
        if not fresh:
            self._resume()

    # ------------------------------------------------------------------------------------------ state
    def _resume(self):
        meta, extra = checkpoint.load(self.run_dir / CHECKPOINT, self.model, self.optimizer)
        self.step, self.examples = meta["step"], meta["examples"]
        self.window, self.train_time = meta["window"], meta["train_time"]
        self.stream.restore(meta["stream"])
        torch.set_rng_state(extra["torch_rng"])
        self.log.truncate(self.step)

    def save(self):
        meta = {"step": self.step, "examples": self.examples, "window": self.window,
                "train_time": self.train_time, "stream": self.stream.state(), "done": self.done}
        checkpoint.save(self.run_dir / CHECKPOINT, self.model, self.optimizer, meta,
                        extra={"torch_rng": torch.get_rng_state()})

    @property
    def done(self) -> bool:
        return self.examples >= self.cfg.train.max_examples

    # ------------------------------------------------------------------------------------------ loop
    def train_step(self, arrays):
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.cfg.optim, self.total_steps)
        with self.autocast():
            loss, seq_acc = self.pipe.loss(self.forward, arrays, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.clip)
        self.optimizer.step()
        return loss.item(), seq_acc.item()

    def evaluate_now(self) -> dict:
        summary, _ = self.pipe.evaluate(self.model, self.tests, self.device, self.autocast)
        record = {"kind": "eval", "step": self.step, "examples": self.examples, **summary}
        self.log(record)
        return record

    def run(self) -> dict:
        """Train to ``train.max_examples``; returns the last evaluation record.

        Ctrl-C finishes the step in progress, saves a checkpoint and raises KeyboardInterrupt (a second Ctrl-C
        stops at once), so the resumed run continues exactly where this one stopped.
        """
        t = self.cfg.train
        self.log.open(resume_at=self.examples)
        last_eval = self.log.last("eval")
        self.model.train()
        bar = tqdm(total=t.max_examples, initial=self.examples, unit="ex", unit_scale=True, disable=self.quiet,
                   dynamic_ncols=True, desc=self.run_dir.name)
        tick = time.perf_counter()  # start of the current log window; evaluation time is excluded
        paused = 0.0
        stop = StopAtStepBoundary()
        try:
            while not self.done:
                if stop.requested:
                    self.save()
                    raise KeyboardInterrupt
                arrays = self.stream.next()
                loss, acc = self.train_step(arrays)
                self.step += 1
                self.examples += len(arrays[0])
                w = self.window
                w["loss"], w["acc"], w["n"] = w["loss"] + loss, w["acc"] + acc, w["n"] + 1
                bar.update(len(arrays[0]))
                if self.step % t.log_every == 0:
                    now = time.perf_counter()
                    busy = max(now - tick - paused, 1e-9)
                    self.train_time += busy
                    rate = w["n"] * t.batch_size / busy
                    self.log({"kind": "train", "step": self.step, "examples": self.examples,
                              "loss": w["loss"] / w["n"], "seq_acc": w["acc"] / w["n"],
                              "lr": self.optimizer.param_groups[0]["lr"], "examples_per_s": rate,
                              "time": self.train_time})
                    bar.set_postfix(loss=f"{w['loss'] / w['n']:.4f}", acc=f"{w['acc'] / w['n']:.3f}",
                                    ex_s=f"{rate:.0f}", test=f"{headline(last_eval):.3f}")
                    self.window = {"loss": 0.0, "acc": 0.0, "n": 0}
                    tick, paused = time.perf_counter(), 0.0
                if self.examples // t.eval_every > (self.examples - len(arrays[0])) // t.eval_every or self.done:
                    start = time.perf_counter()
                    last_eval = self.evaluate_now()
                    self.save()
                    paused += time.perf_counter() - start
        finally:
            stop.restore()
            bar.close()
            self.log.close()
        return last_eval
