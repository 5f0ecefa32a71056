"""A run directory you can trust (issue 16): divergence, two writers, permissions, the best checkpoint, a full
disk."""

import errno
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, set_args

from mathlens import lock
from mathlens.cli import main
from mathlens.errors import UserError
from mathlens.run import Run
from mathlens.rundir import of_kind
from mathlens.training import checkpoint
from mathlens.training.trainer import Trainer

# checkpoints every 5 steps (eval_every 160 / batch 32), a train record every step
NAN_RUN = TINY + ["train.max_examples=6400", "train.eval_every=160", "train.log_every=1"]
BAD_STEP = 28  # the first optimiser step (1-based) whose loss or gradient the tests make non-finite


def inject_non_finite(monkeypatch, where: str, from_step: int = BAD_STEP):
    """From step ``from_step`` on, every step's loss (``where="loss"``) or one weight's gradient
    (``where="grad"``) is NaN: the fault is made to happen, whatever a processor's rounding would have done.
    The fault stays for the rest of the test (a resumed run meets it again)."""
    real_step = Trainer.train_step

    def faulty_step(self, arrays, *args, **kwargs):
        if self.step + 1 < from_step:
            return real_step(self, arrays, *args, **kwargs)
        if where == "loss":
            real_loss = self.pipe.loss
            self.pipe.loss = lambda *a, **k: real_loss(*a, **k)._replace(total=real_loss(*a, **k).total * math.nan)
            try:
                return real_step(self, arrays, *args, **kwargs)
            finally:
                del self.pipe.loss  # the instance attribute goes: the class's loss again
        hook = next(self.model.parameters()).register_hook(lambda g: g * math.nan)
        try:
            return real_step(self, arrays, *args, **kwargs)
        finally:
            hook.remove()

    monkeypatch.setattr(Trainer, "train_step", faulty_step)


def strict_records(path: Path) -> list[dict]:
    """metrics.jsonl parsed with a parser that refuses NaN and Infinity, as jq does."""
    def refuse(token):
        raise ValueError(f"non-standard JSON number {token}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------- divergence

def test_a_diverging_run_stops_with_exit_code_3_and_keeps_the_last_good_checkpoint(monkeypatch, capsys):
    inject_non_finite(monkeypatch, "loss")
    code = main(["train", "quickstart", "--out", "runs/nan", "--quiet", *set_args(NAN_RUN)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert len(err) == 1 and f"training diverged at step {BAD_STEP}: loss nan" in err[0] and "optim.lr" in err[0]
    assert "the checkpoint of step 25 is kept" in err[0]  # the last checkpoint before the bad step
    meta, _ = checkpoint.load(Path("runs/nan/checkpoint.safetensors"), Run("runs/nan").pipe.build_model())
    assert meta["step"] == 25  # nothing was saved at or after the bad step
    tensors, _ = checkpoint.read(Path("runs/nan/checkpoint.safetensors"))
    assert all(bool(t.isfinite().all()) for t in tensors.values())  # the last good model
    records = strict_records(Path("runs/nan/metrics.jsonl"))  # jq-readable to the last line
    assert max(r["step"] for r in records) == BAD_STEP - 1  # nothing of the bad step (resume drops 26-27)
    # what the line suggests can be done on resume: skipping bad steps (here they stay bad, so it stops again)
    code = main(["train", "runs/nan", "--quiet", "--set", "train.on_nan=\"skip\"", "--set", "train.nan_patience=2"])
    err = capsys.readouterr().err
    assert code == 3 and f"at step {BAD_STEP + 1}: loss nan in 2 steps in a row" in err


def test_skip_drops_bad_updates_counts_them_and_stops_after_patience(monkeypatch, capsys):
    inject_non_finite(monkeypatch, "grad")
    args = NAN_RUN + ["train.on_nan=\"skip\"", "train.nan_patience=3"]
    code = main(["train", "quickstart", "--out", "runs/skip", "--quiet", *set_args(args)])
    err = capsys.readouterr().err
    assert code == 3 and f"at step {BAD_STEP + 2}: gradient norm nan in 3 steps in a row" in err
    records = strict_records(Path("runs/skip/metrics.jsonl"))  # strict JSON: a skipped window's loss is null
    train = {r["step"]: r for r in records if r["kind"] == "train"}
    assert [train[s]["skipped"] for s in (BAD_STEP - 1, BAD_STEP, BAD_STEP + 1)] == [0, 1, 2]
    assert train[BAD_STEP]["loss"] is None and train[BAD_STEP - 1]["loss"] is not None
    assert max(train) == BAD_STEP + 1  # the third bad step in a row stops the run instead of being skipped


def test_a_skipped_step_leaves_the_weights_and_the_optimiser_as_they_were(monkeypatch):
    """One bad step among good ones: the run goes on to the end, and the bad step changed nothing (not even
    Adam's moments)."""
    real_step, seen = Trainer.train_step, {}

    def one_bad_step(self, arrays, *a, **k):
        if self.step + 1 != BAD_STEP:
            return real_step(self, arrays, *a, **k)
        first = next(self.model.parameters())
        seen["weights"] = [p.detach().clone() for p in self.model.parameters()]
        seen["moments"] = {k: v.clone() for k, v in self.optimizer.state[first].items()}
        hook = first.register_hook(lambda g: g * math.nan)
        try:
            out = real_step(self, arrays, *a, **k)
        finally:
            hook.remove()
        seen["skipped"] = out[-1]
        assert all(torch.equal(b, p) for b, p in zip(seen["weights"], self.model.parameters()))
        assert all(torch.equal(v, self.optimizer.state[first][k]) for k, v in seen["moments"].items())
        return out

    monkeypatch.setattr(Trainer, "train_step", one_bad_step)
    args = NAN_RUN + ["train.on_nan=\"skip\"", "train.max_examples=1280"]  # 40 steps
    assert main(["train", "quickstart", "--out", "runs/once", "--quiet", *set_args(args)]) == 0
    assert seen["skipped"] is True and set(seen["moments"]) == {"step", "exp_avg", "exp_avg_sq"}
    train = [r for r in strict_records(Path("runs/once/metrics.jsonl")) if r["kind"] == "train"]
    assert train[-1]["step"] == 40 and train[-1]["skipped"] == 1


def test_metrics_stay_strict_json_when_a_value_is_not_finite(tmp_path):
    from mathlens.io import append_jsonl, read_jsonl

    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"kind": "train", "step": 1, "loss": float("nan"), "x": [float("inf"), 1.0]})
    assert strict_records(path) == [{"kind": "train", "step": 1, "loss": None, "x": [None, 1.0]}]
    assert read_jsonl(path)[0]["loss"] is None


# ----------------------------------------------------------------------------------------------- one writer

def test_a_second_writer_is_refused_with_the_holders_pid_and_host():
    Path("runs/c").mkdir(parents=True)
    held = lock.acquire("runs/c", "test holder")
    try:
        out = subprocess.run([sys.executable, "-m", "mathlens", "train", "quickstart", "--out", "runs/c",
                              *set_args(TINY)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2
        assert f"pid {os.getpid()} on {socket.gethostname()}: test holder" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        assert not Path("runs/c/config.toml").exists()  # the refused writer wrote nothing
    finally:
        lock.release(held)
    assert main(["train", "quickstart", "--out", "runs/c", *set_args(TINY)]) == 0  # free again


def test_two_trainings_started_together_leave_one_writer(tmp_path):
    slow = TINY + ["train.max_examples=200000", "train.max_seconds=6"]
    cmd = [sys.executable, "-m", "mathlens", "train", "quickstart", "--out", "runs/two", "--quiet", *set_args(slow)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not Path("runs/two/.lock").exists() or not Path("runs/two/.lock").read_text():
        assert time.time() < deadline
        time.sleep(0.1)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr
    assert first.wait(timeout=120) == 0
    steps = [r["step"] for r in of_kind(Run("runs/two").metrics(), "train").to_dict("records")]
    assert len(steps) == len(set(steps))  # no record written twice


def test_a_killed_writer_leaves_no_stale_lock():
    Path("runs/k").mkdir(parents=True)
    code = ("import time; from mathlens import lock; lock.acquire('runs/k', 'doomed'); print('held', flush=True); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match="doomed"):
        lock.acquire("runs/k")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with lock.hold("runs/k", "next"):  # taken at once
        pass


# ------------------------------------------------------------------------------------ files and checkpoints

def test_files_get_the_permissions_of_the_umask():
    old = os.umask(0o002)
    try:
        assert main(["train", "quickstart", "--out", "runs/p", *set_args(TINY)]) == 0
        assert main(["eval", "runs/p", "--size", "20"]) == 0
    finally:
        os.umask(old)
    for name in ("checkpoint.safetensors", "best.safetensors", "config.toml", "eval/test-n20-seed1234.parquet",
                 "eval/test-n20-seed1234.json"):
        assert (Path("runs/p") / name).stat().st_mode & 0o777 == 0o664, name


def test_the_best_checkpoint_keeps_the_best_evaluation_and_eval_reads_it():
    assert main(["train", "quickstart", "--out", "runs/b", *set_args(TINY)]) == 0
    evals = of_kind(Run("runs/b").metrics(), "eval")
    best = checkpoint.read_meta(Path("runs/b/best.safetensors"))
    top = evals.loc[evals["acc@5%"].idxmax()]
    assert best["step"] == top["step"] and best["acc@5%"] == top["acc@5%"]
    assert checkpoint.read_meta(Path("runs/b/checkpoint.safetensors"))["best"]["step"] == top["step"]
    assert main(["eval", "runs/b", "--size", "20", "--checkpoint", "best"]) == 0
    assert Path("runs/b/eval/test-n20-seed1234-best.parquet").exists()
    with pytest.raises(SystemExit):
        main(["eval", "runs/b", "--checkpoint", "worst"])


def test_a_full_disk_while_saving_is_one_line_and_the_run_resumes(monkeypatch, capsys):
    real, calls = checkpoint.save_file, []

    def full_disk_at_the_second_checkpoint(tensors, filename, metadata=None):
        if Path(filename).name.startswith(".checkpoint.safetensors."):
            calls.append(filename)
            if len(calls) == 2:
                Path(filename).write_bytes(b"partial")  # a write that got part of the way
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", full_disk_at_the_second_checkpoint)
    assert main(["train", "quickstart", "--out", "runs/full", "--quiet", *set_args(TINY)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "previous checkpoint is intact" in err[0]
    assert checkpoint.read_meta(Path("runs/full/checkpoint.safetensors"))["step"] == 10  # the first one, whole
    assert not [p for p in Path("runs/full").iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(checkpoint, "save_file", real)
    assert main(["train", "runs/full"]) == 0  # space again: the same command resumes
    assert main(["train", "quickstart", "--out", "runs/straight", *set_args(TINY)]) == 0
    a, b = (of_kind(Run(f"runs/{r}").metrics(), "train")["loss"].tolist() for r in ("full", "straight"))
    assert a == pytest.approx(b, rel=1e-6)  # resumed from the intact checkpoint, as if never interrupted
