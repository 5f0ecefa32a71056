"""The library API under the command line: mathlens.train / evaluate / analyze, and the analysis registry."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

import mathlens
from mathlens import analysis
from mathlens.analysis import Analysis
from mathlens.analysis.base import Result
from mathlens.cli import main
from mathlens.errors import UserError
from mathlens.options import opt
from mathlens.tasks import REGISTRY as TASKS
from mathlens.tasks.base import MatrixTask, TaskOptions
from mathlens.tasks.matrices import target_error


def test_train_evaluate_and_analyze_from_python():
    options = {o.split("=")[0]: o.split("=", 1)[1] for o in TINY}
    overrides = [f"{k}={v}" for k, v in options.items()]
    run = mathlens.train("quickstart", out="runs/api", overrides=overrides, **{"train.max_examples": 640},
                         optim__lr=2e-3)
    assert run.cfg.train.max_examples == 640 and run.cfg.optim.lr == 2e-3
    summary, path = mathlens.evaluate(run, size=30)
    assert summary["n"] == 30 and path.exists()
    result = mathlens.analyze(run, "failures")
    assert result["records"] == 30 and result["retained"][0]["property"] == "full solution"
    assert (run.path / "analysis" / "failures" / "retained.csv").exists()  # saved by the API, not the analysis
    again = mathlens.train("runs/api")  # an existing run resumes (here: already done)
    assert again.path == run.path
    with pytest.raises(UserError, match=r"unknown analysis 'failure' \(did you mean 'failures'\?\)"):
        mathlens.analyze(run, "failure")
    with pytest.raises(UserError, match=r"analyze fourier: runs/api trains task 'transpose'"):
        mathlens.analyze(run, "fourier")
    with pytest.raises(UserError, match=r"analyze failures: --hook does not apply to this analysis"):
        mathlens.analyze(run, "failures", hook="encoder.hook_embed")


def test_a_new_analysis_is_one_function_and_a_registry_line(monkeypatch, capsys):
    """The worked example of docs/architecture.md: an analysis added through the registry, run from the CLI."""
    def count_parameters(run, size=None):
        n = sum(p.numel() for p in run.model.parameters())
        return Result({"parameters": n, "size": size}, tables={"sizes": pd.DataFrame({"size": [size]})})

    def describe(run, summary):
        return [f"{run.path}: {summary['parameters']} parameters"]

    toy = Analysis("parameters", "how many weights the model has", compute=count_parameters, describe=describe,
                   options=("size",))
    monkeypatch.setitem(analysis.REGISTRY, "parameters", toy)
    assert main(["train", "quickstart", "--out", "runs/toy", "--quiet", *[x for o in TINY for x in ("--set", o)]]) == 0
    capsys.readouterr()
    assert main(["analyze", "runs/toy", "parameters"]) == 0
    out = capsys.readouterr().out.strip()
    model = mathlens.load_run("runs/toy").model
    assert out == f"runs/toy: {sum(p.numel() for p in model.parameters())} parameters"
    assert mathlens.analyze("runs/toy", "parameters", size=5)["size"] == 5
    assert (Path("runs/toy/analysis/parameters/sizes.csv")).read_text().splitlines() == ["size", "5"]
    assert main(["analyze", "runs/toy", "parameters", "--digits", "4"]) == 2  # an option it does not take


def test_a_new_task_is_one_class_and_a_registry_line(monkeypatch):
    """The worked example of docs/architecture.md ("Adding a task"): trained and evaluated like any other."""
    @dataclasses.dataclass
    class NegateOptions(TaskOptions):
        rows: int = opt(5, "matrix size", min=1)

    class Negate(MatrixTask):
        name = "negate"
        Options = NegateOptions
        def draw_shape(self, rng):           return (self.options.rows, self.options.rows)  # noqa: E704
        def draw(self, n, rng, shape):       return {"input": rng.uniform(-10, 10, (n, *shape))}  # noqa: E704
        def target_matrix(self, p):          return -p["input"]  # noqa: E704
        def verify(self, p, pred):           return target_error(pred, self.target_matrix(p))  # noqa: E704
        def largest(self):                   return self.draw(1, np.random.default_rng(0), (self.options.rows,) * 2)  # noqa: E501,E704

    monkeypatch.setitem(TASKS, "negate", Negate)
    run = mathlens.train("quickstart", out="runs/negate", overrides=[*TINY, 'task.name="negate"'])
    summary, _ = mathlens.evaluate(run, size=20)
    assert run.task.name == "negate" and summary["n"] == 20 and 0 <= summary["acc@5%"] <= 1
