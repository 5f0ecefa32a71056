"""`mathlens compare`: curves, examples to each accuracy and OOD tables of several runs, side by side."""

import pandas as pd
from conftest import set_args

from mathlens.cli import main


def test_compare_two_runs_with_ood_tables(tiny_overrides, capsys):
    tiny = [o for o in tiny_overrides if not o.startswith("task.rows")] + ["task.rows=2"]
    for name, coeffs in (("uni", "uniform"), ("gau", "gaussian")):
        assert main(["train", "quickstart", "--out", f"runs/{name}", "--quiet", *set_args(tiny),
                     "--set", f'task.coeffs="{coeffs}"']) == 0
        assert main(["eval", f"runs/{name}", "--ood", "uniform,gaussian", "--size", "20"]) == 0
    capsys.readouterr()
    assert main(["compare", "runs/uni", "runs/gau", "--out", "runs/cmp"]) == 0
    out = capsys.readouterr().out
    assert "examples to 90%" in out and "Out of distribution" in out
    table = pd.read_csv("runs/cmp/comparison.csv")
    assert table["run"].tolist() == ["uni", "gau"] and (table["examples"] == 1280).all()
    ood = pd.read_csv("runs/cmp/ood.csv", index_col=0)
    assert list(ood.columns) == ["uni", "gau"] and set(ood.index) == {"uniform", "gaussian"}
    assert (pd.read_csv("runs/cmp/comparison.csv")["final"].between(0, 1)).all()
    assert main(["compare", "runs/uni"]) == 2
    assert "at least two runs" in capsys.readouterr().err
