"""Full-batch training of finite tasks (modular arithmetic): the grokking loop, made fast for a laptop CPU.

The whole dataset lives on the device as two tensors (no DataLoader). Every step is one forward and backward
pass over the whole training split that computes only what the loss reads: the last position's query, MLP
and unembedding (``last_only``). The loss is cross-entropy in float64, as in the reference code. Every
``train.eval_every`` steps the model is evaluated on every example at once, without autograd; progress
measures (:mod:`mathlens.measures.progress`) are recorded every ``train.measure_every`` steps. Training stops
at ``train.max_steps``, or once test accuracy has stayed >= ``train.stop_acc`` for ``train.stop_patience``
evaluations in a row.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..measures.progress import measure
from ..pipelines.modular import ModularPipeline, logits_of
from ..rundir import LATEST
from . import checkpoint, transfer
from .device import setup
from .grokfast import GradientFilter
from .guard import DivergenceGuard
from .optim import lr_at, make_optimizer, set_lr
from .runlog import RunLog, StopAtStepBoundary
from .stability import perpendicular_, stablemax_cross_entropy


class FullBatchTrainer:
    """Train ``cfg`` (a finite task) in ``run_dir``, resuming from its checkpoint when one is there."""

    def __init__(self, cfg, run_dir: Path, quiet: bool = False):
        self.cfg, self.run_dir, self.quiet = cfg, Path(run_dir), quiet
        t = cfg.train
        self.device, self.autocast = setup(t)
        self.pipe = ModularPipeline(cfg)
        self.task, self.data = self.pipe.task, self.pipe.data
        self.train_idx, self.test_idx = self.pipe.split()
        tokens = torch.as_tensor(self.pipe.tokens(), device=self.device)
        answers = torch.as_tensor(self.data["answer"], device=self.device)
        self.tokens, self.answers = tokens, answers
        self.x_train, self.y_train = tokens[self.train_idx], answers[self.train_idx]
        torch.manual_seed(cfg.seed)
        self.model = self.pipe.build_model().to(self.device)
        fresh = not (self.run_dir / LATEST).exists()
        transfer.start_from(self.model, t, cfg.model.arch, fresh)
        self.optimizer = make_optimizer(self.model, cfg.optim)
        o = cfg.optim
        self.filter = None
        if o.grokfast != "none":
            lamb = {"ema": 2.0, "ma": 5.0}[o.grokfast] if o.grokfast_lamb == "auto" else o.grokfast_lamb
            self.filter = GradientFilter(self.model.parameters(), o.grokfast, o.grokfast_alpha, lamb,
                                         o.grokfast_window)
            if o.clip:
                print(f"mathlens: optim.clip={o.clip:g} clips the Grokfast-amplified gradient, which Grokfast's own "
                      f"code does not; optim.clip=0 trains as its authors do", file=sys.stderr)
        self.forward = torch.compile(self.model) if t.compile else self.model
        self.loss_fn = stablemax_cross_entropy if o.loss == "stablemax" else F.cross_entropy
        self.batch_rng = torch.Generator().manual_seed(cfg.seed)  # train.minibatch: which rows each step
        self.step, self.train_time, self.streak, self.stopped_early = 0, 0.0, 0, False
        self.guard = DivergenceGuard(t)
        self.saved_step = None  # the step of the newest checkpoint on disk
        self.log = RunLog(self.run_dir, x_key="step", cfg=cfg)
        self.best = checkpoint.Best(self.run_dir)
        if not fresh:
            self._resume()

    # ------------------------------------------------------------------------------------------ state
    def _resume(self):
        meta, extra = checkpoint.load(self.run_dir / LATEST, self.model, self.optimizer)
        self.step, self.train_time = meta["step"], meta["train_time"]
        self.streak, self.stopped_early = meta["streak"], meta["stopped_early"]
        self.guard.restore(meta)
        self.best = checkpoint.Best(self.run_dir, meta)
        self.saved_step = self.step
        if self.filter is not None:
            self.filter.load_state(meta["grokfast"], extra)
        if "batch_rng" in extra:
            self.batch_rng.set_state(extra["batch_rng"])
        self.log.truncate(self.step)

    def save(self):
        meta = {"step": self.step, "train_time": self.train_time, "streak": self.streak,
                "stopped_early": self.stopped_early, "done": self.done, **self.guard.state(), **self.best.state()}
        extra = {}
        if self.filter is not None:
            meta["grokfast"], extra = self.filter.state()
        if self.cfg.train.minibatch:
            extra = {**extra, "batch_rng": self.batch_rng.get_state()}
        checkpoint.save(self.run_dir / LATEST, self.model, self.optimizer, meta, extra=extra)
        self.saved_step = self.step

    @property
    def done(self) -> bool:
        return self.stopped_early or self.step >= self.cfg.train.max_steps

    # ------------------------------------------------------------------------------------------ loop
    def train_step(self) -> tuple[float, float]:
        o = self.cfg.optim
        set_lr(self.optimizer, lr_at(self.step, o, self.cfg.train.max_steps))
        x, y = self.x_train, self.y_train
        if self.cfg.train.minibatch:  # a fresh random minibatch of the training split (Grokfast's EMA setting)
            rows = torch.randperm(len(x), generator=self.batch_rng)[: self.cfg.train.minibatch].to(x.device)
            x, y = x[rows], y[rows]
        with self.autocast():
            logits = self.forward(x, last_only=True)
        loss = self.loss_fn(logits.double(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if o.perp_grad:
            perpendicular_(self.model.parameters())
        if self.filter is not None:
            self.filter.apply()
        grad_norm = self.guard.clip(self.model, self.cfg.optim.clip)
        if self.guard.skip(loss.item(), grad_norm, self.step, self.saved_step):
            self.optimizer.zero_grad(set_to_none=True)
        else:
            self.optimizer.step()
        acc = (logits.detach().argmax(-1) == y).float().mean()
        return loss.item(), acc.item()

    def evaluate_now(self, with_measures: bool) -> dict:
        """Train and test loss/accuracy from one pass over every example (and the progress measures). The loss is
        the one trained (``optim.loss``); with StableMax the softmax cross-entropy is logged too, as
        ``{split}_softmax_loss``."""
        with self.autocast():
            logits = logits_of(self.model, self.tokens)
        record = {"kind": "eval", "step": self.step}
        for split, idx in (("train", self.train_idx), ("test", self.test_idx)):
            part = logits[idx]
            record[f"{split}_loss"] = self.loss_fn(part.double(), self.answers[idx]).item()
            if self.loss_fn is not F.cross_entropy:
                record[f"{split}_softmax_loss"] = F.cross_entropy(part.double(), self.answers[idx]).item()
            record[f"{split}_acc"] = (part.argmax(-1) == self.answers[idx]).float().mean().item()
        record["time"] = self.train_time
        self.log(record)
        self.best.offer(self.model, self.step, record[self.pipe.headline], record)
        if with_measures:
            self.log({"kind": "measure", "step": self.step,
                      **measure(self.model, self.task, self.data, self.train_idx, logits.cpu().numpy())})
        return record

    def run(self) -> dict:
        """Train; returns the last evaluation record. Ctrl-C saves at a step boundary and raises
        KeyboardInterrupt; the same command resumes."""
        t = self.cfg.train
        measure_every = t.measure_every or t.eval_every
        self.log.open(resume_at=self.step)
        last = self.log.last("eval")
        if self.step == 0 and not last:
            last = self.evaluate_now(with_measures=True)  # step 0: the untrained model
        self.model.train()
        bar = tqdm(total=t.max_steps, initial=self.step, unit="step", disable=self.quiet, dynamic_ncols=True,
                   desc=self.run_dir.name)
        stop = StopAtStepBoundary()
        tick = time.perf_counter()
        try:
            while not self.done:
                if stop.requested:
                    self.save()
                    raise KeyboardInterrupt
                loss, acc = self.train_step()
                self.step += 1
                bar.update(1)
                now = time.perf_counter()
                self.train_time += now - tick  # evaluation time is not training time: tick restarts after it
                tick = now
                if self.step % t.log_every == 0:
                    self.log({"kind": "train", "step": self.step, "loss": loss, "acc": acc,
                              "skipped": self.guard.skipped, "lr": self.optimizer.param_groups[0]["lr"],
                              "time": self.train_time})
                if self.step % t.eval_every == 0 or self.step >= t.max_steps:
                    last = self.evaluate_now(with_measures=self.step % measure_every == 0
                                             or self.step >= t.max_steps)
                    self.streak = self.streak + 1 if t.stop_acc and last["test_acc"] >= t.stop_acc else 0
                    if t.stop_acc and self.streak >= t.stop_patience:
                        self.stopped_early = True
                        if self.step % measure_every:  # the final state always has its measures
                            self.log({"kind": "measure", "step": self.step,
                                      **measure(self.model, self.task, self.data, self.train_idx)})
                    self.save()
                    bar.set_postfix(train=f"{last['train_acc']:.3f}", test=f"{last['test_acc']:.3f}",
                                    loss=f"{loss:.2e}")
                    tick = time.perf_counter()
        finally:
            stop.restore()
            bar.close()
            self.log.close()
        return last
