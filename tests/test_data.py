"""`mathlens data` writes a preset's problems (Parquet, JSON Lines, LAWT text), resumably; the same problems come
back through data.train_file (training) and `mathlens eval --data` (testing); bad lines are counted."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, set_args

import mathlens
from mathlens.cli import main
from mathlens.config import resolve
from mathlens.errors import UserError
from mathlens.interop.data import chunk_rng, export_data
from mathlens.pipelines import pipeline_for
from mathlens.pipelines.datafile import read_problems
from mathlens.pipelines.stream import training_set


def expected_inputs(n, seed, chunk):
    """The inputs `mathlens data` must write: chunk i is task.sample(rows, chunk_rng(seed, i))."""
    task = resolve("quickstart", TINY).build_task()
    return np.concatenate([task.sample(min(chunk, n - i), chunk_rng(seed, i // chunk))["input"]
                           for i in range(0, n, chunk)])


def inputs_of(batches):
    return np.concatenate([b["input"] for b in batches])


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_data_files_hold_the_problems_and_read_back(tmp_path, suffix):
    out = export_data("quickstart", 45, 7, tmp_path / f"p{suffix}", overrides=TINY, chunk=20, quiet=True)
    pipe = pipeline_for(resolve("quickstart", TINY))
    back = read_problems(out, pipe, batch_size=16)
    assert [len(b["input"]) for b in back] == [16, 16, 13]
    np.testing.assert_array_equal(inputs_of(back), expected_inputs(45, 7, 20))
    assert not (tmp_path / f"p{suffix}.parts").exists()


def test_text_files_are_lawts_tokens_and_decode_to_the_rounded_inputs(tmp_path):
    out = export_data("quickstart", 30, 1, tmp_path / "p.txt", overrides=TINY, quiet=True)
    lines = out.read_text().splitlines()
    assert len(lines) == 30 and all(line.count("\t") == 1 and line.startswith("V2 V2 ") for line in lines)
    back = inputs_of(read_problems(out, pipeline_for(resolve("quickstart", TINY)), 64))
    np.testing.assert_allclose(back, expected_inputs(30, 1, 10_000), rtol=6e-3)  # P10: three digits


def test_an_interrupted_export_keeps_its_parts_and_gives_the_same_file(tmp_path):
    whole = export_data("quickstart", 50, 2, tmp_path / "whole.jsonl", overrides=TINY, chunk=20, quiet=True)
    # the first run stopped after one part: the second run keeps it and makes the rest
    parts = tmp_path / "cut.jsonl.parts"
    export_data("quickstart", 20, 2, tmp_path / "first.jsonl", overrides=TINY, chunk=20, quiet=True)
    parts.mkdir()
    (parts / "part-00000.jsonl").write_text((tmp_path / "first.jsonl").read_text())
    (parts / "recipe.json").write_text(json.dumps({"preset": "quickstart", "overrides": TINY, "n": 50, "seed": 2,
                                                   "chunk": 20}))
    cut = export_data("quickstart", 50, 2, tmp_path / "cut.jsonl", overrides=TINY, chunk=20, quiet=True)
    assert cut.read_text() == whole.read_text()
    parts.mkdir()
    (parts / "recipe.json").write_text(json.dumps({"preset": "quickstart", "n": 99}))
    with pytest.raises(UserError, match="holds parts of another request"):
        export_data("quickstart", 50, 2, tmp_path / "cut.jsonl", overrides=TINY, chunk=20, quiet=True)


def test_train_file_and_eval_data_see_the_same_problems(tmp_path, capsys):
    data = str(tmp_path / "train.parquet")
    assert main(["data", "quickstart", "--n", "64", "--seed", "5", "--out", data, "--quiet", *set_args(TINY)]) == 0
    run = mathlens.train("quickstart", out="runs/fromfile", overrides=[*TINY, f'data.train_file="{data}"'])
    np.testing.assert_array_equal(inputs_of(training_set(run.pipe, run.cfg)), expected_inputs(64, 5, 10_000))
    capsys.readouterr()
    assert main(["eval", "runs/fromfile", "--data", data]) == 0
    assert "64 test problems (from " in capsys.readouterr().out
    records = run.records()
    assert len(records) == 64 and records["error"].notna().all()
    assert main(["eval", "runs/fromfile", "--data", data, "--seed", "3"]) == 2


def test_bad_lines_are_counted_and_a_mostly_bad_file_stops(tmp_path, capsys):
    good = export_data("quickstart", 20, 0, tmp_path / "p.jsonl", overrides=TINY, quiet=True)
    pipe = pipeline_for(resolve("quickstart", TINY))
    lines = good.read_text().splitlines()
    lines[3] = "{not json"
    lines[7] = json.dumps({"input_tokens": "V2"})
    (tmp_path / "some.jsonl").write_text("\n".join(lines) + "\n")
    assert sum(len(b["input"]) for b in read_problems(tmp_path / "some.jsonl", pipe, 64)) == 18
    err = capsys.readouterr().err
    assert "2 of 20 lines skipped (first: line 4" in err and err.count("\n") == 1
    (tmp_path / "bad.jsonl").write_text("\n".join(["garbage"] * 15 + lines[10:15]) + "\n")
    with pytest.raises(UserError, match=r"15 of 20 lines do not parse \(first: line 1"):
        read_problems(tmp_path / "bad.jsonl", pipe, 64)
    with pytest.raises(UserError, match="data.train_file: .*missing.parquet does not exist"):
        read_problems(tmp_path / "missing.parquet", pipe, 64)
    with pytest.raises(UserError, match="--out .*p.csv: the suffix says the format"):
        export_data("quickstart", 5, 0, tmp_path / "p.csv", overrides=TINY)
    frame = pd.read_json(good, lines=True)
    assert {"input", "input_tokens", "output_tokens"} <= set(frame.columns)
