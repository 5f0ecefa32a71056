"""Inputs nobody planned for (issue 16), found by property-based tests: decoders never raise, parsers raise
nothing but the one-line UserError and never hang, readers survive torn files, checkpoints that do not fit are
refused in one line. Each test draws a bounded number of examples, so the file runs in seconds."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from mathlens import encodings
from mathlens.config import apply_overrides, config_from_dict, load_preset
from mathlens.encodings.sequence import REASONS, MatrixCodec, Vocabulary
from mathlens.errors import UserError
from mathlens.io import read_jsonl
from mathlens.tasks.formula import parse
from mathlens.training import checkpoint

# (the autouse fixture that moves each test into its own directory is function-scoped: harmless here)
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
FAST = settings(max_examples=200, deadline=None, suppress_health_check=QUIET)
REALS = ["P10", "P1000", "B1999", "FP15"]


def ids_for(enc, n=12):
    """Arbitrary (numbers, width) id arrays: valid local ids, the padding -1, and ids outside the vocabulary."""
    ids = st.integers(min_value=-3, max_value=len(enc.vocab) + 3)
    return st.lists(st.lists(ids, min_size=enc.width, max_size=enc.width), min_size=1, max_size=n)


@pytest.mark.parametrize("name", REALS + ["int10", "int1000"])
@FAST
@given(data=st.data())
def test_decode_of_any_ids_never_raises(name, data):
    enc = encodings.get(name)
    ids = np.array(data.draw(ids_for(enc)), dtype=np.int64)
    values, ok = enc.decode(ids)
    assert values.shape == ok.shape == ids.shape[:1]
    assert np.isnan(values[~ok]).all() if values.dtype.kind == "f" else True


@pytest.mark.parametrize("name", REALS)
@FAST
@given(x=st.floats(min_value=-1e8, max_value=1e8, allow_nan=False, allow_infinity=False))
def test_reals_round_trip_what_encode_wrote(name, x):
    enc = encodings.get(name)
    ids = enc.encode(np.array([x]))
    values, ok = enc.decode(ids)
    assert ok.all()
    again = enc.encode(values)  # decoding gives the number the tokens say: it encodes to the same tokens
    assert np.array_equal(again, ids)
    if abs(x) >= 1e-6:  # three significant digits (FP15 flushes tinier numbers)
        assert abs(values[0] - x) <= 5e-3 * abs(x) + 1e-12


@pytest.mark.parametrize("name", ["int10", "int1000"])
@FAST
@given(x=st.integers(min_value=-10**15, max_value=10**15))
def test_integers_round_trip_exactly(name, x):
    enc = encodings.get(name)
    values, ok = enc.decode(enc.encode(np.array([x])))
    assert ok.all() and int(values[0]) == x


@FAST
@given(data=st.data())
def test_the_matrix_codec_reads_any_token_stream(data):
    enc = encodings.get(data.draw(st.sampled_from(REALS)))
    vocab = Vocabulary([enc], max_dim=4)
    codec = MatrixCodec(enc, vocab)
    rows = data.draw(st.lists(st.lists(st.integers(-2, len(vocab) + 2), max_size=40), min_size=1, max_size=6))
    width = max(len(r) for r in rows)
    ids = np.array([r + [vocab.pad_id] * (width - len(r)) for r in rows], dtype=np.int64).reshape(len(rows), -1)
    shape = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    values, reason = codec.decode(ids, shape)
    assert values.shape == (len(rows), *shape) and reason.shape == (len(rows),)
    assert ((reason >= 0) & (reason < len(REASONS))).all()
    assert np.isnan(values[reason != 0]).all()


@FAST
@given(m=st.lists(st.floats(-1e6, 1e6), min_size=6, max_size=6))
def test_a_matrix_round_trips_through_the_codec(m):
    enc = encodings.get("P1000")
    codec = MatrixCodec(enc, Vocabulary([enc], max_dim=3))
    matrix = np.array(m).reshape(1, 2, 3)
    ids, lengths = codec.encode(matrix)
    eos = codec.vocab.eos_id
    values, reason = codec.decode(np.concatenate([ids, [[eos]]], axis=1), (2, 3))
    assert reason[0] == 0
    assert np.allclose(values, enc.decode(enc.encode(matrix))[0])


def _bounded(fn, *args, seconds=1.0):
    """fn(*args) returns or says one line, within ``seconds`` of this thread's CPU time: what a hang or an
    exponential blow-up would exceed, whatever else the machine is doing (wall time is not counted)."""
    start = time.thread_time()
    try:
        fn(*args)
    except UserError as e:
        assert "\n" not in str(e)
    assert time.thread_time() - start < seconds, f"took too long on {args!r}"


FORMULA_CHARS = st.lists(st.sampled_from(list("xy0123456789+-*/^() .") + ["**", "_", "a", "é"]),
                         max_size=300).map("".join)


@FAST
@given(text=st.one_of(FORMULA_CHARS, st.text(max_size=200)))
def test_the_formula_parser_says_one_line_or_parses_and_never_hangs(text):
    _bounded(parse, text)


@settings(max_examples=30, deadline=None, suppress_health_check=QUIET)
@given(depth=st.integers(1, 5000), kind=st.sampled_from(["(", "-", "x*", "x^"]))
def test_deep_formulas_are_refused_quickly(depth, kind):
    text = {"(": "(" * depth + "x" + ")" * depth, "-": "-" * depth + "x", "x*": "x*" * depth + "y",
            "x^": "x^" * depth + "2"}[kind]
    _bounded(parse, text)


KEYS = st.one_of(st.sampled_from(["train.lr", "optim.lr", "model.d_model", "task.rows", "encoding.input", "seed",
                                  "train", "task", "train.max_examples.x", "", "..", "optim.lr.x"]),
                 st.text(max_size=30))
VALUES = st.one_of(st.text(max_size=30), st.sampled_from(["1e400", "-1", "[1,", "{a=1}", "nan", "inf", "true",
                                                          '"P10"', "[2, 5]", "0", "1e-9"]))


@FAST
@given(key=KEYS, value=VALUES)
def test_set_with_any_key_and_value_is_a_config_or_one_line(key, value):
    base = load_preset("quickstart")

    def build():
        config_from_dict(apply_overrides(base, [f"{key}={value}"]))

    _bounded(build, seconds=5.0)


LINES = st.one_of(st.just(""), st.just("{"), st.just('{"kind": "eval", "step": 1}'), st.just("[1, 2]"),
                  st.just("null"), st.just('{"kind": "train", "step": 2, "loss": NaN}'), st.text(max_size=40),
                  st.binary(max_size=20).map(lambda b: b.decode("latin-1")))


@FAST
@given(lines=st.lists(LINES, max_size=20), torn=st.booleans())
def test_metrics_with_torn_empty_or_garbage_lines_are_read(tmp_path_factory, lines, torn):
    path = tmp_path_factory.mktemp("m") / "metrics.jsonl"
    text = "\n".join(lines) + ("" if torn else "\n")
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    records = read_jsonl(path)
    assert all(isinstance(r, dict) for r in records)
    assert len(records) <= len(lines)


@settings(max_examples=25, deadline=None, suppress_health_check=QUIET)
@given(data=st.data())
def test_a_checkpoint_with_wrong_shapes_or_dtypes_is_one_line(tmp_path_factory, data):
    from mathlens.config import resolve
    from mathlens.pipelines import pipeline_for

    model = pipeline_for(resolve("quickstart", ["model.d_model=16", "model.n_heads=2"])).build_model()
    state = {f"model.{k}": v.detach().clone() for k, v in checkpoint._unique_state(model)[0].items()}
    names = sorted(state)
    victim = data.draw(st.sampled_from(names))
    change = data.draw(st.sampled_from(["shape", "dtype", "drop", "extra"]))
    if change == "shape":
        state[victim] = torch.zeros(*[s + 1 for s in state[victim].shape])
    elif change == "dtype":
        state[victim] = state[victim].to(data.draw(st.sampled_from([torch.float16, torch.int64, torch.float64])))
    elif change == "drop":
        del state[victim]
    else:
        state["model.surprise"] = torch.zeros(3)
    path = Path(tmp_path_factory.mktemp("c")) / "checkpoint.safetensors"
    save_file(state, str(path), metadata={"format": checkpoint.FORMAT, "meta": json.dumps({"step": 1}),
                                          "param_groups": "null"})
    with pytest.raises(UserError) as e:
        checkpoint.load(path, model)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
