"""`mathlens grid --launcher submitit-local`: one submitit job per point, the table once all are done."""

import pandas as pd
import pytest
from conftest import set_args

from mathlens.cli import main

pytest.importorskip("submitit", reason="the cluster extra: pip install 'mathlens[cluster]'")


def test_two_point_grid_through_submitit(tiny_overrides, capsys):
    sets = set_args(tiny_overrides)
    argv = ["grid", "quickstart", "--vary", "optim.lr=0.001,0.003", "--out", "runs/g", "--launcher",
            "submitit-local", *sets]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 point(s) submitted through submitit" in out
    table = pd.read_csv("runs/g/comparison.csv")
    assert table["optim.lr"].tolist() == [0.001, 0.003] and (table["examples"] == 1280).all()
    for point in ("00_0.001", "01_0.003"):
        assert (pd.read_json(f"runs/g/{point}/metrics.jsonl", lines=True)["kind"] == "eval").any()
    assert main(argv) == 0  # every point done: nothing is submitted again, the table is rewritten
    assert "submitted" not in capsys.readouterr().out
    assert main(["grid", "quickstart", "--vary", "optim.lr=0.001", "--slurm", "partition"]) == 2
    assert "--slurm 'partition': expected KEY=VALUE" in capsys.readouterr().err
