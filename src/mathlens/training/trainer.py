"""The training loop: generate, step, log, evaluate, checkpoint; resumable at every checkpoint.

A run directory holds ``config.toml``, ``checkpoint.safetensors`` (weights, optimiser, RNG and stream
states), ``metrics.jsonl`` (one JSON record per log or evaluation), ``tb/`` (TensorBoard events). On resume
the metrics written after the checkpoint are dropped, so a run killed at any moment and resumed ends with the
same records as an uninterrupted one.

Under torchrun the model is wrapped in DistributedDataParallel: each rank makes its part of every batch, the
loss is the batch's token mean over all ranks (so N ranks train exactly as one process on the same batches),
evaluation is split between the ranks, and rank 0 alone writes.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .. import distributed
from ..pipelines import pipeline_for
from ..pipelines.stream import make_stream, streams_in
from ..rundir import LATEST
from . import checkpoint, transfer
from .device import setup
from .guard import DivergenceGuard
from .optim import lr_at, make_optimizer, set_lr
from .prefetch import overlapped
from .runlog import RunLog, StopAtStepBoundary


class Trainer:
    """Train the model of ``cfg`` in ``run_dir`` (resuming from its checkpoint when one is there)."""

    def __init__(self, cfg, run_dir: Path, quiet: bool = False):
        self.cfg, self.run_dir, self.quiet = cfg, Path(run_dir), quiet
        t = cfg.train
        self.device, self.autocast = setup(t)
        distributed.start(self.device)
        self.rank, self.world = distributed.rank_and_world()
        self.main = self.rank == 0
        self.pipe = pipeline_for(cfg)
        torch.manual_seed(cfg.seed)
        self.model = self.pipe.build_model().to(self.device)
        fresh = not (self.run_dir / LATEST).exists()
        # fine-tuning: start from another run's weights (with this run's own schedule)
        transfer.start_from(self.model, t, cfg.model.arch, fresh, self.pipe.symbols)
        self.optimizer = make_optimizer(self.model, cfg.optim)
        # a resumed run keeps the streams it started with, whatever the number of ranks now
        streams = None if fresh else streams_in(checkpoint.read_meta(self.run_dir / LATEST)["stream"])
        self.stream = overlapped(make_stream(self.pipe, cfg, streams), t, self.device)
        self.tests = self.pipe.test_set(t.eval_size, cfg.eval.seed, min(cfg.eval.batch_size, t.eval_size))
        self.total_steps = math.ceil(t.max_examples / t.batch_size)
        self.step = self.examples = 0
        self.window = {"loss": 0.0, "acc": 0.0, "n": 0}
        self.train_time = 0.0
        self.guard = DivergenceGuard(t)
        self.saved_step = None  # the step of the newest checkpoint on disk
        self.forward = self.model
        if self.world > 1:  # same initial weights on every rank (DDP broadcasts rank 0's), own dropout masks
            self.forward = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            torch.manual_seed(cfg.seed + 7919 * self.rank)
        self.forward = torch.compile(self.forward) if t.compile else self.forward
        self.log = RunLog(self.run_dir, x_key="examples", cfg=cfg)
        self.best = checkpoint.Best(self.run_dir)
        if not fresh:
            self._resume()

    # ------------------------------------------------------------------------------------------ state
    def _resume(self):
        meta, extra = checkpoint.load(self.run_dir / LATEST, self.model, self.optimizer)
        self.step, self.examples = meta["step"], meta["examples"]
        self.train_time = meta["train_time"]
        self.guard.restore(meta)
        self.best = checkpoint.Best(self.run_dir, meta)
        self.saved_step = self.step
        # the saved window holds every rank's partial sums: rank 0 carries them, the others start from zero
        self.window = meta["window"] if self.main else {"loss": 0.0, "acc": 0.0, "n": meta["window"]["n"]}
        self.stream.restore(meta["stream"])
        rng = extra.get("torch_rng" if self.rank == 0 else f"torch_rng.{self.rank}")
        if rng is not None:
            torch.set_rng_state(rng)
        else:  # a rank the saving run did not have
            torch.manual_seed(self.cfg.seed + 7919 * self.rank + self.step)
        if self.main:
            self.log.truncate(self.step)

    def save(self):
        """Checkpoint (a collective under torchrun: every rank calls it, rank 0 writes)."""
        w = self.window
        sums = distributed.all_sum(torch.tensor([w["loss"], w["acc"]], dtype=torch.float64, device=self.device))
        stream = self.stream.merge(distributed.gather(self.stream.state()))
        rngs = distributed.gather(torch.get_rng_state())
        if not self.main:
            return
        meta = {"step": self.step, "examples": self.examples, "window": {"loss": sums[0].item(),
                "acc": sums[1].item(), "n": w["n"]}, "train_time": self.train_time, "stream": stream,
                **self.guard.state(), **self.best.state(), "done": self.done}
        extra = {"torch_rng": rngs[0], **{f"torch_rng.{r}": s for r, s in enumerate(rngs) if r}}
        checkpoint.save(self.run_dir / LATEST, self.model, self.optimizer, meta, extra=extra)
        self.saved_step = self.step

    @property
    def done(self) -> bool:
        return self.examples >= self.cfg.train.max_examples

    # ------------------------------------------------------------------------------------------ loop
    def train_step(self, arrays, stop: bool, time_up: bool = False) -> tuple[float, float, int, bool, bool, bool]:
        """One optimiser step on this rank's part of a batch: (this rank's share of the batch's mean loss and
        sequence accuracy, examples in the whole batch, whether any rank asked to stop (Ctrl-C), whether any rank
        reached train.max_seconds, whether the update was dropped for a non-finite loss or gradient:
        train.on_nan)."""
        set_lr(self.optimizer, lr_at(self.step, self.cfg.optim, self.total_steps))
        with self.autocast():
            terms = self.pipe.loss(self.forward, arrays, self.device)
        # the whole batch's sums (one small all-reduce, which also tells every rank of a Ctrl-C or the time limit,
        # so that all stop at the same step)
        counts = torch.tensor([float(terms.n), float(stop), float(time_up)], device=self.device)
        counts = torch.cat([terms.tokens.float()[None], terms.total.detach().float()[None], counts])
        tokens, total, n, stop_any, time_any = distributed.all_sum(counts).tolist()
        # DDP averages gradients over ranks; scaling by world makes them those of the whole batch's token mean
        loss = terms.total / max(tokens, 1.0) * self.world
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self.guard.clip(self.model, self.cfg.optim.clip)  # the same on every rank (all-reduced grads)
        skipped = self.guard.skip(total / max(tokens, 1.0), grad_norm, self.step, self.saved_step)
        if skipped:
            self.optimizer.zero_grad(set_to_none=True)
        else:
            self.optimizer.step()
        return (terms.total.item() / max(tokens, 1.0), terms.right.item() / n, int(n), stop_any > 0, time_any > 0,
                skipped)

    def evaluate_now(self, elapsed: float) -> dict:
        """Evaluate the periodic test set; the record says the training time so far (``time``, seconds)."""
        summary, _ = self.pipe.evaluate(self.model, self.tests, self.device, self.autocast)  # split by rank
        record = {"kind": "eval", "step": self.step, "examples": self.examples, "time": elapsed, **summary}
        if self.main:
            self.log(record)
            self.best.offer(self.model, self.step, summary[self.pipe.headline], record)
        return record

    def run(self) -> dict:
        """Train to ``train.max_examples``; returns the last evaluation record.

        Ctrl-C finishes the step in progress, saves a checkpoint and raises KeyboardInterrupt (a second Ctrl-C
        stops at once), so the resumed run continues exactly where this one stopped.
        """
        t = self.cfg.train
        if self.main:
            self.log.open(resume_at=self.examples)
        last_eval = self.log.last("eval")
        self.model.train()
        bar = tqdm(total=t.max_examples, initial=self.examples, unit="ex", unit_scale=True,
                   disable=self.quiet or not self.main, dynamic_ncols=True, desc=self.run_dir.name)
        tick = time.perf_counter()  # start of the current log window; evaluation time is excluded
        paused = 0.0
        stop = StopAtStepBoundary()
        stop_any = time_any = False

        def elapsed() -> float:  # training time so far, evaluations excluded
            return self.train_time + time.perf_counter() - tick - paused

        try:
            while not self.done:
                if stop_any:  # every rank learns of a Ctrl-C through the step's all-reduce, and stops here
                    self.save()
                    raise KeyboardInterrupt
                if time_any:  # train.max_seconds: an evaluation (unless one was just made) and a checkpoint
                    if last_eval.get("step") != self.step:
                        last_eval = self.evaluate_now(elapsed())
                    self.train_time, tick, paused = elapsed(), time.perf_counter(), 0.0
                    self.save()
                    break
                arrays = self.stream.next()
                time_up = bool(t.max_seconds) and elapsed() >= t.max_seconds
                loss, acc, n, stop_any, time_any, skipped = self.train_step(arrays, stop.requested, time_up)
                self.step += 1
                self.examples += n
                w = self.window
                if not skipped:  # a dropped step's loss (not finite) is counted in 'skipped', not averaged
                    w["loss"], w["acc"], w["n"] = w["loss"] + loss, w["acc"] + acc, w["n"] + 1
                bar.update(n)
                if self.step % t.log_every == 0:
                    now = time.perf_counter()
                    busy = max(now - tick - paused, 1e-9)
                    self.train_time += busy
                    rate = w["n"] * t.batch_size / busy
                    sums = torch.tensor([w["loss"], w["acc"]], dtype=torch.float64, device=self.device)
                    mean = (distributed.all_sum(sums) / max(w["n"], 1)).tolist() if w["n"] else [None, None]
                    if self.main:
                        self.log({"kind": "train", "step": self.step, "examples": self.examples,
                                  "loss": mean[0], "seq_acc": mean[1], "skipped": self.guard.skipped,
                                  "lr": self.optimizer.param_groups[0]["lr"], "examples_per_s": rate,
                                  "time": self.train_time})
                    bar.set_postfix(loss=f"{mean[0] if mean[0] is not None else float('nan'):.4f}",
                                    acc=f"{mean[1] if mean[1] is not None else float('nan'):.3f}",
                                    ex_s=f"{rate:.0f}", test=f"{last_eval.get(self.pipe.headline, math.nan):.3f}")
                    self.window = {"loss": 0.0, "acc": 0.0, "n": 0}
                    tick, paused = time.perf_counter(), 0.0
                if self.examples // t.eval_every > (self.examples - n) // t.eval_every or self.done:
                    start = time.perf_counter()
                    last_eval = self.evaluate_now(elapsed())
                    self.save()
                    paused += time.perf_counter() - start
        finally:
            stop.restore()
            bar.close()
            self.log.close()
            if hasattr(self.stream, "close"):
                self.stream.close()
        return last_eval
