import json
from pathlib import Path

import pandas as pd
from conftest import set_args

from mathlens.cli import main
from mathlens.run import load_run


def test_train_eval_report(tiny_overrides, capsys):
    assert main(["train", "quickstart", "--out", "runs/tiny", "--quiet", *set_args(tiny_overrides)]) == 0
    run = Path("runs/tiny")
    for name in ["config.toml", "checkpoint.safetensors", "metrics.jsonl"]:
        assert (run / name).exists(), name
    assert list((run / "tb").glob("events.*"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["examples"] for r in evals] == [320, 640, 960, 1280]
    assert all(0 <= r["acc@5%"] <= 1 for r in evals)
    train = [r for r in records if r["kind"] == "train"]
    assert train[-1]["loss"] < train[0]["loss"]  # it learns something

    assert main(["eval", "runs/tiny", "--size", "50", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "acc@5%" in out and "50 test problems" in out
    frame = pd.read_parquet(run / "eval" / "test-n50-seed5.parquet")
    assert len(frame) == 50
    assert {"error", "correct@5%", "correct@0.5%", "reason", "prediction", "target", "input_norm"} <= set(frame.columns)
    summary = json.loads((run / "eval" / "test-n50-seed5.json").read_text())
    assert summary["acc@5%"] == frame["correct@5%"].mean()

    assert main(["report", "runs/tiny"]) == 0
    page = (run / "report.html").read_text()
    assert page.count("<img") >= 2 and "acc@5%" in page and "Wrong (at 5%)" in page
    assert "http://" not in page and "https://" not in page  # works offline
    # examples as decoded matrices: a 2x2 transpose is a 2-row table, the wrong predictions' off entries marked
    wrong = page[page.index("Wrong (at 5%)"):]
    assert wrong.count("<table class='mat'>") >= 1 and wrong.count("<tr><td class=") >= 2
    assert "class='off'" in wrong or "does not decode" in wrong
    assert (run / "plots" / "training_curves.png").exists() and (run / "plots" / "training_curves.svg").exists()

    # a finished run says so instead of training again; the API sees the same run
    assert main(["train", "runs/tiny"]) == 0
    assert "already trained" in capsys.readouterr().out
    r = load_run("runs/tiny")
    assert len(r.records()) == 50 and (r.metrics()["kind"] == "eval").sum() == 4


def test_same_seed_same_run(tiny_overrides):
    for out in ("runs/a", "runs/b"):
        assert main(["train", "quickstart", "--out", out, "--quiet", *set_args(tiny_overrides)]) == 0
    a = [json.loads(x) for x in Path("runs/a/metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in Path("runs/b/metrics.jsonl").read_text().splitlines()]
    assert [r.get("loss") for r in a] == [r.get("loss") for r in b]


def test_existing_run_with_other_config_is_refused(tiny_overrides, capsys):
    assert main(["train", "quickstart", "--out", "runs/x", "--quiet", *set_args(tiny_overrides)]) == 0
    before = Path("runs/x/config.toml").read_text()
    assert main(["train", "quickstart", "--out", "runs/x", *set_args(tiny_overrides), "--set", "optim.lr=0.5"]) == 2
    assert "another config" in capsys.readouterr().err
    assert main(["train", "runs/x", "--set", "model.d_model=32"]) == 2
    assert "cannot change" in capsys.readouterr().err
    assert Path("runs/x/config.toml").read_text() == before
