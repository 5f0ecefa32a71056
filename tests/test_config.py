import dataclasses
import json
from pathlib import Path

import pytest

from mathlens import config
from mathlens.cli import main
from mathlens.config import apply_overrides, config_from_dict, load_preset, preset_names, resolve, resumed
from mathlens.errors import UserError


def test_every_preset_validates():
    names = preset_names()
    assert "quickstart" in names and "lawt/transpose-5x5" in names
    for name in names:
        cfg = resolve(name)
        assert cfg.description, name
        cfg.build_task()


def test_every_preset_resolves_to_the_config_it_gave_before_presets_inherited():
    """tests/data/resolved_presets.json: every preset resolved before presets stated only what differs (a
    new preset adds its entry; a preset that changes on purpose changes its entry, in the same commit)."""
    before = json.loads((Path(__file__).parent / "data" / "resolved_presets.json").read_text())
    assert sorted(before) == preset_names()
    for name in preset_names():
        assert dataclasses.asdict(resolve(name)) == before[name], name


def test_a_preset_starts_from_its_base_and_states_what_differs(tmp_path, monkeypatch, capsys):
    (tmp_path / "family").mkdir()
    (tmp_path / "family" / "base.toml").write_text('description = "the base"\n[task]\nname = "transpose"\n'
                                                   'rows = 3\n[model]\nd_model = 64\nn_heads = 4\n')
    (tmp_path / "child.toml").write_text('description = "the child"\nbase = "family/base"\n[task]\nrows = 4\n'
                                         '[optim]\nlr = 3e-4\n')
    (tmp_path / "grandchild.toml").write_text('description = "too deep"\nbase = "child"\n')
    (tmp_path / "orphan.toml").write_text('description = "no parent"\nbase = "family/nope"\n')
    monkeypatch.setattr(config, "PRESET_ROOT", tmp_path)
    cfg = resolve("child")
    assert cfg.description == "the child" and cfg.task == {"name": "transpose", "rows": 4}  # tables merge
    assert cfg.model.d_model == 64 and cfg.optim.lr == 3e-4
    with pytest.raises(UserError, match=r"preset grandchild: base 'child' has a base of its own \('family/base'\)"):
        resolve("grandchild")
    with pytest.raises(UserError, match=r"preset orphan: base: unknown preset 'family/nope'"):
        resolve("orphan")
    assert main(["presets", "--show", "child"]) == 0
    shown = config.tomllib.loads(capsys.readouterr().out)  # every setting, as a run's config.toml holds it
    assert config_from_dict(shown) == cfg and shown["train"]["batch_size"] == 64 and "base" not in shown


def test_a_resume_may_change_how_long_a_run_trains_not_what_it_learns():
    cfg = resolve("quickstart")
    assert resumed(cfg, ["train.max_examples=72000", "train.threads=1"]).train.max_examples == 72000
    with pytest.raises(UserError, match=r"--set optim.lr: cannot change an existing run's optim.lr; only "):
        resumed(cfg, ["optim.lr=1e-2"])
    with pytest.raises(UserError, match=r"--set task.rows: cannot change"):
        resumed(cfg, ["task.rows=4"])


def test_overrides_are_typed():
    cfg = resolve("quickstart", ["optim.lr=3e-4", "task.rows=3", "train.max_examples=2_000", "model.dropout=0.1",
                                 "encoding.input=FP15", "task.cols=[2, 4]"])
    assert cfg.optim.lr == 3e-4 and cfg.task["rows"] == 3 and cfg.train.max_examples == 2000
    assert cfg.encoding.input == "FP15" and cfg.task["cols"] == [2, 4]


@pytest.mark.parametrize("override, message", [
    ("optim.lrr=1", "did you mean optim.lr"),
    ("optm.lr=1", "did you mean optim"),
    ("model.d_modle=64", "did you mean model.d_model"),
    ("optim.lr=fast", "optim.lr: expected a number, got 'fast'"),
    ("train.batch_size=0", "train.batch_size: 0 is below the minimum 1"),
    ("model.dropout=1.5", "model.dropout: 1.5 is above the maximum 0.9"),
    ("optim.schedule=linear", "optim.schedule: 'linear' is not allowed; choose from cosine"),
    ("model.n_heads=3", "model.n_heads: 3 does not divide model.d_model=128"),
    ("encoding.output=P100", "did you mean 'P1000'"),
    ("task.rows=[3, 2]", "task.rows"),
    ("task.name=transposee", "did you mean 'transpose'"),
    ("train.compile=yes", "train.compile: expected true or false"),
    ("lr", "expected key=value"),
])
def test_bad_values_name_the_field(override, message):
    with pytest.raises(UserError) as e:
        resolve("quickstart", [override])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_preset_suggests():
    with pytest.raises(UserError, match="lawt/transpose-5x5"):
        load_preset("lawt/transpose-5x6")


@pytest.mark.parametrize("argv, message", [
    (["train", "lawt/transpos-5x5"], "unknown preset"),
    (["train", "quickstart", "--set", "optim.lrr=1"], "did you mean optim.lr"),
    (["eval", "no/such/run"], "not a run directory"),
    (["report", "."], "not a run directory"),
])
def test_cli_user_errors_exit_2_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_presets_command_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in preset_names():
        assert name in out


def test_round_trip_through_toml():
    import tomllib

    cfg = resolve("lawt/matrix_sum-5x5", ["optim.lr=2e-4"])
    again = config_from_dict(tomllib.loads(cfg.to_toml()))
    assert again == cfg
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}
