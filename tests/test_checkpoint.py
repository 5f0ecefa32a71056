from pathlib import Path

import pytest
import torch
from conftest import set_args

from mathlens.cli import main
from mathlens.config import ModelConfig
from mathlens.errors import UserError
from mathlens.models import Seq2Seq
from mathlens.training import checkpoint


def _model(seed):
    torch.manual_seed(seed)
    return Seq2Seq(ModelConfig(enc_layers=1, dec_layers=1, d_model=16, n_heads=2), 20, 10, 10)


def test_round_trip_weights_optimizer_and_meta(tmp_path):
    m = _model(0)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    m(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 4, dtype=torch.long)).sum().backward()
    opt.step()
    checkpoint.save(tmp_path / "c.safetensors", m, opt, {"step": 7, "rng": {"a": [1, 2]}},
                    extra={"t": torch.arange(3)})
    m2 = _model(1)
    opt2 = torch.optim.AdamW(m2.parameters(), lr=1e-3)
    meta, extra = checkpoint.load(tmp_path / "c.safetensors", m2, opt2)
    assert meta == {"step": 7, "rng": {"a": [1, 2]}} and torch.equal(extra["t"], torch.arange(3))
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert m2.unembed.weight is m2.embed.weight  # still tied after loading
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)


def test_missing_truncated_and_foreign_files(tmp_path):
    m = _model(0)
    with pytest.raises(UserError, match="not found"):
        checkpoint.load(tmp_path / "none.safetensors", m)
    checkpoint.save(tmp_path / "c.safetensors", m)
    data = (tmp_path / "c.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        checkpoint.load(tmp_path / "t.safetensors", m)
    (tmp_path / "x.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(UserError):
        checkpoint.load(tmp_path / "x.safetensors", m)
    bigger = Seq2Seq(ModelConfig(enc_layers=1, dec_layers=1, d_model=32, n_heads=2), 20, 10, 10)
    with pytest.raises(UserError, match="do not fit"):
        checkpoint.load(tmp_path / "c.safetensors", bigger)


def test_cli_on_truncated_checkpoint_damages_nothing(tiny_overrides, capsys):
    sets = set_args(tiny_overrides)
    assert main(["train", "quickstart", "--out", "runs/t", "--quiet", *sets]) == 0
    ck = Path("runs/t/checkpoint.safetensors")
    data = ck.read_bytes()
    ck.write_bytes(data[:-1000])
    def contents():  # every file of the run but the writer lock (each command writes its holder there)
        return {p: p.read_bytes() for p in Path("runs/t").rglob("*") if p.is_file() and p.name != ".lock"}

    files = contents()
    for argv in (["eval", "runs/t"], ["train", "runs/t", "--set", "train.max_examples=2000"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "checkpoint.safetensors" in err and "Traceback" not in err
    assert contents() == files
    assert not list(Path("runs/t").rglob("*.tmp"))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    from mathlens.io import atomic_path

    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1
