"""A run killed with SIGKILL resumes from its last checkpoint and ends with the same metrics."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import set_args

from mathlens.cli import main


def _records(path):
    out = []
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        out.append({k: v for k, v in r.items() if k not in ("examples_per_s", "time")})
    return out


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)])
def test_stopped_run_resumes_to_the_same_metrics(tiny_overrides, sig, code):
    """SIGKILL: resume from the last periodic checkpoint. SIGINT (Ctrl-C): save on the spot, exit 130."""
    overrides = tiny_overrides + ["train.max_examples=6400"]
    sets = set_args(overrides)
    assert main(["train", "quickstart", "--out", "runs/ref", "--quiet", *sets]) == 0

    cmd = [sys.executable, "-m", "mathlens", "train", "quickstart", "--out", "runs/killed", "--quiet", *sets]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck, log = Path("runs/killed/checkpoint.safetensors"), Path("runs/killed/metrics.jsonl")

    def past_the_first_checkpoint() -> bool:  # a train record after step 10's checkpoint: between two of them
        lines = log.read_text().splitlines() if ck.exists() and log.exists() else []
        return any(json.loads(line).get("step", 0) > 10 for line in lines[:-1])  # the last may be half-written

    deadline = time.time() + 120
    while not past_the_first_checkpoint() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)  # land in the middle of the training loop, however fast or loaded the machine is
    proc.send_signal(sig)
    proc.wait()
    err = proc.stderr.read().decode()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert ck.exists()

    resumed = subprocess.run([sys.executable, "-m", "mathlens", "train", "runs/killed", "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming at step" in resumed.stdout
    step = int(resumed.stdout.split("resuming at step ")[1].split()[0])
    assert 0 < step < 200

    ref, got = _records("runs/ref/metrics.jsonl"), _records("runs/killed/metrics.jsonl")
    assert [r["step"] for r in got] == [r["step"] for r in ref]
    for a, b in zip(ref, got):
        for k in a:
            if isinstance(a[k], float):
                assert abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k])), (k, a, b)
            else:
                assert a[k] == b[k], (k, a, b)
