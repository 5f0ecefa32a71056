import pytest

from mathlens.cli import main
from mathlens.config import apply_overrides, config_from_dict, load_preset, preset_names, resolve
from mathlens.errors import UserError


def test_every_preset_validates():
    names = preset_names()
    assert "quickstart" in names and "lawt/transpose-5x5" in names
    for name in names:
        cfg = resolve(name)
        assert cfg.description, name
        cfg.build_task()


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
