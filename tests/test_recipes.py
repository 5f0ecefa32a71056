"""The options of the CPU recipes (issue 15): xVal inputs, the upper-triangle layout, 2-D positions, two-set
training, canonical eigenvector signs and the training-time limit, each on tiny configs."""

import json

import numpy as np
import pytest
import torch
from conftest import set_args

from mathlens import encodings, tasks
from mathlens.cli import main
from mathlens.config import resolve
from mathlens.encodings.sequence import FIRST_PLACE, MatrixCodec, Vocabulary, entries
from mathlens.errors import UserError
from mathlens.pipelines import pipeline_for
from mathlens.pipelines.stream import TwoSetStream, make_stream, training_set
from mathlens.run import Run
from mathlens.rundir import of_kind

TINY_EV = ["task.name=\"eigenvalues\"", "task.rows=3", "encoding.input=\"P10\"", "encoding.output=\"P10\"",
           "model.enc_layers=1", "model.dec_layers=1", "model.d_model=16", "model.n_heads=2",
           "train.max_examples=256", "train.batch_size=32", "train.eval_every=128", "train.eval_size=20",
           "train.log_every=2", "train.threads=1", "optim.warmup=2", "eval.size=40", "eval.batch_size=20"]


def pipe_of(*overrides):
    return pipeline_for(resolve("quickstart", TINY_EV + list(overrides)))


def sample(pipe, n=8, seed=0):
    return pipe.task.sample(n, np.random.default_rng(seed))


# ---------------------------------------------------------------------------------------------------- xVal

def test_xval_writes_one_token_per_number_and_carries_the_value_as_the_embedding_factor():
    pipe = pipe_of("encoding.input=\"xval\"", "encoding.xval_scale=5.0")
    p = sample(pipe)
    src, tgt, place, mult = pipe.encode(p)
    assert src.shape == (8, 2 + 9)  # header + one [NUM] per entry
    assert (src[:, 2:] == pipe.vocab.index["[NUM]"]).all()
    assert np.allclose(mult[:, 2:], p["input"].reshape(8, 9) / 5.0, atol=1e-6)
    assert (mult[:, :2] == 1).all()  # header tokens keep their embedding
    model = pipe.build_model()
    seen = {}
    model.encoder.hook_embed.register_forward_hook(lambda m, i, o: seen.setdefault("embed", o))
    model.encode(torch.from_numpy(src), torch.from_numpy(place), torch.from_numpy(mult))
    expected = model.embed.weight[pipe.vocab.index["[NUM]"]] * torch.from_numpy(mult[:, 2:, None])
    assert torch.allclose(seen["embed"][:, 2:], expected, atol=1e-6)


def test_xval_decodes_nothing_and_is_refused_as_an_output():
    enc = encodings.get("xval")
    values, ok = enc.decode(enc.encode(np.array([1.0, -2.0])))
    assert not ok.any() and np.isnan(values).all()
    with pytest.raises(UserError, match=r"encoding.output: xval is an input encoding"):
        pipe_of("encoding.output=\"xval\"")
    with pytest.raises(UserError, match=r"for matrix tasks"):
        resolve("arith/add-3digit", ["encoding.input=\"xval\""])


@pytest.mark.parametrize("preset, setting, says", [
    # was accepted, then a raw ValueError at the first batch
    ("quickstart", "encoding.input=\"int10\"", "encoding.input: int10 writes integers only, and task 'transpose' "
                                              "has real numbers; choose from P10, P1000, B1999, FP15, xval"),
    ("quickstart", "encoding.output=\"int1000\"", "encoding.output: int1000 writes integers only"),
    # encodings the other families never read: were ignored without a word
    ("arith/add-3digit", "encoding.input=\"P10\"", "encoding.input: number encodings and model.src_positions are "
                                                  "for matrix tasks; task 'arithmetic' writes its own tokens"),
    ("grok/quick", "encoding.output=\"FP15\"", "encoding.output: number encodings"),
    ("grok/quick", "encoding.xval_scale=3", "encoding.xval_scale: number encodings"),
])
def test_an_encoding_the_family_cannot_use_is_refused_at_config_time(preset, setting, says):
    with pytest.raises(UserError) as e:
        resolve(preset, [setting])
    assert str(e.value).startswith(says) and "\n" not in str(e.value)


# ---------------------------------------------------------------------------------- upper-triangle layout

def test_upper_layout_writes_the_entries_on_and_above_the_diagonal():
    i, j = entries("upper", 3, 3)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    full = pipe_of("encoding.input=\"P1000\"")
    upper = pipe_of("encoding.input=\"P1000\"", "encoding.input_layout=\"upper\"")
    p = sample(full)
    src_full, src_upper = full.encode(p)[0], upper.encode(p)[0]
    assert src_full.shape[1] == 2 + 9 * 3 and src_upper.shape[1] == 2 + 6 * 3 == upper.max_src_len
    keep = np.isin(np.arange(9), [0, 1, 2, 4, 5, 8])  # row-major indices of the upper entries
    body_full = src_full[:, 2:].reshape(8, 9, 3)
    assert np.array_equal(src_upper[:, 2:].reshape(8, 6, 3), body_full[:, keep])
    with pytest.raises(UserError, match=r"encoding.input_layout: 'upper' writes half of a symmetric input"):
        pipe_of("task.name=\"invert_matrix\"", "encoding.input_layout=\"upper\"")


# ------------------------------------------------------------------------------------------ 2-D positions

def test_places_name_the_entry_and_the_slot_whatever_came_before():
    vocab = Vocabulary([encodings.get("P10")], max_dim=4)
    codec = MatrixCodec(encodings.get("P10"), vocab)
    m = np.array([[[1.5, 0.0], [2.0, -3.0]], [[1.5, 7.0], [2.0, -3.0]]])  # P10 writes 0 in 3 tokens, 7 in 5
    ids, lengths, (place, mult) = codec.encode(m, source=True)
    assert place.shape == ids.shape and (mult == 1).all()
    assert place[:, :2].tolist() == [[1, 2], [1, 2]]

    def first_token_of(row, r, c):  # where entry (r, c) starts in row ``row``
        return int(np.flatnonzero(place[row] == FIRST_PLACE + (r * 4 + c) * 5)[0])

    assert first_token_of(0, 1, 0) == 2 + 5 + 3 and first_token_of(1, 1, 0) == 2 + 5 + 5  # shifted by the 0
    for row in (0, 1):  # ... but the entry's tokens carry the same places
        start = first_token_of(row, 1, 1)
        assert place[row, start : start + 5].tolist() == [FIRST_PLACE + (1 * 4 + 1) * 5 + s for s in range(5)]


def test_2d_positions_embed_row_column_and_slot():
    pipe = pipe_of("model.src_positions=\"2d\"", "encoding.input_layout=\"upper\"")
    src, tgt, place, mult = pipe.encode(sample(pipe))
    model = pipe.build_model()
    pos = model.encoder.pos
    assert pos.row.num_embeddings == pos.col.num_embeddings == 3 and pos.slot.num_embeddings == 5
    out = pos(torch.from_numpy(place))
    assert out.shape == (*src.shape, 16)
    code = FIRST_PLACE + (0 * 3 + 2) * 5 + 1  # entry (0, 2), second token
    expect = pos.row.weight[0] + pos.col.weight[2] + pos.slot.weight[1]
    assert torch.allclose(pos(torch.tensor([code])), expect)
    assert torch.allclose(pos(torch.tensor([1])), pos.special.weight[1])
    logits = model(torch.from_numpy(src), torch.from_numpy(tgt[:, :-1]), torch.from_numpy(place),
                   torch.from_numpy(mult))
    assert logits.shape == (8, tgt.shape[1] - 1, len(pipe.vocab))
    with pytest.raises(ValueError, match="2-D positions need the place"):
        model(torch.from_numpy(src), torch.from_numpy(tgt[:, :-1]))


def test_a_2d_xval_upper_run_trains_evaluates_and_resumes():
    """Stopped by the time limit wherever it happens to be, then resumed: the same losses as a straight run."""
    args = TINY_EV + ["encoding.input=\"xval\"", "encoding.input_layout=\"upper\"", "model.src_positions=\"2d\"",
                      "train.max_examples=1024"]
    assert main(["train", "quickstart", "--out", "runs/a", *set_args(args)]) == 0
    assert main(["train", "quickstart", "--out", "runs/b", *set_args(args + ["train.max_seconds=0.3"])]) == 0
    assert main(["train", "runs/b", "--set", "train.max_seconds=0"]) == 0
    a, b = (Run(f"runs/{r}").metrics() for r in "ab")
    assert of_kind(a, "train")["loss"].tolist() == pytest.approx(of_kind(b, "train")["loss"].tolist(), rel=1e-6)
    assert of_kind(a, "train")["loss"].iloc[-1] < of_kind(a, "train")["loss"].iloc[0]
    assert main(["eval", "runs/a", "--size", "40", "--beam", "2"]) == 0


# ------------------------------------------------------------------------------------ two-set training

def test_two_set_batches_take_their_share_from_the_repeated_set():
    cfg = resolve("quickstart", TINY_EV + ["train.repeat_size=50", "train.repeat_frac=0.25"])
    pipe = pipeline_for(cfg)
    stream = make_stream(pipe, cfg)
    assert isinstance(stream, TwoSetStream)
    repeated = {row.tobytes() for row in stream.buckets[0][0]}
    assert len(repeated) == 50
    seen, counts = set(), []
    for _ in range(40):
        src = stream.next()[0]
        assert len(src) == 32
        inside = np.array([row.tobytes() in repeated for row in src])
        counts.append(int(inside.sum()))
        seen |= {row.tobytes() for row in src[inside]}
    assert len(set(counts)) > 2  # each example is drawn from the repeated set on its own: the count varies
    assert len(seen) > 40  # drawn across the whole repeated set (~320 draws from 50)
    state = json.loads(json.dumps(stream.merge([stream.state()])))  # what a checkpoint holds, as JSON
    after = [stream.next()[0] for _ in range(3)]
    again = make_stream(pipe, cfg)
    again.restore(state)
    assert all(np.array_equal(a, again.next()[0]) for a in after)
    assert len(training_set(pipe, cfg)) == 2  # the repeated set: 50 problems in batches of 32


@pytest.mark.parametrize("batch_size, frac", [(64, 0.01), (32, 0.01), (32, 0.003), (32, 0.25)])
def test_two_set_share_is_the_asked_probability_whatever_the_batch(batch_size, frac):
    """A fixed round(frac * batch) rows (at least one) gave 0.0156 for 0.01 at batch 64 and 5.2x the share for
    0.003 at 32; drawn example by example the share is frac. The bound: 5 standard deviations of the binomial
    share over the examples drawn."""
    cfg = resolve("quickstart", TINY_EV + ["train.repeat_size=50", f"train.repeat_frac={frac}",
                                           f"train.batch_size={batch_size}"])
    stream = make_stream(pipeline_for(cfg), cfg)
    repeated = {row.tobytes() for row in stream.buckets[0][0]}
    batches = 20_000 // batch_size
    inside = sum(row.tobytes() in repeated for _ in range(batches) for row in stream.next()[0])
    n = batches * batch_size
    assert abs(inside / n - frac) < 5 * (frac * (1 - frac) / n) ** 0.5


def test_two_set_options_are_checked():
    with pytest.raises(UserError, match=r"train.repeat_frac: two-set training needs both"):
        resolve("quickstart", TINY_EV + ["train.repeat_size=50"])
    with pytest.raises(UserError, match=r"train.repeat_frac: 1.5 is above the maximum 1.0"):
        resolve("quickstart", TINY_EV + ["train.repeat_size=50", "train.repeat_frac=1.5"])
    with pytest.raises(UserError, match=r"train.repeat_size: two-set training .* \(train.dataset_size\)"):
        resolve("quickstart", TINY_EV + ["train.repeat_size=50", "train.repeat_frac=0.5", "train.dataset_size=100"])


def test_all_repeated_batches_work_without_a_fresh_stream():
    cfg = resolve("quickstart", TINY_EV + ["train.repeat_size=40", "train.repeat_frac=1.0"])
    stream = make_stream(pipeline_for(cfg), cfg)
    assert stream.fresh is None and len(stream.next()[0]) == 32


# ------------------------------------------------------------------------------------- canonical signs

@pytest.mark.parametrize("name", ["eigenvectors", "singularvectors"])
def test_canonical_signs_make_the_largest_component_positive_and_still_verify(name):
    numpy_task, canon = tasks.get(name, rows=4), tasks.get(name, rows=4, signs="canonical")
    p = canon.sample(500, np.random.default_rng(0))
    a, b = numpy_task.target_matrix(p), canon.target_matrix(p)
    vectors = [b[:, 1:]] if name == "eigenvectors" else [b[:, 5:]]
    for v in vectors:
        top = np.take_along_axis(v, np.abs(v).argmax(1)[:, None, :], 1)
        assert (top > 0).all()
    assert np.allclose(np.abs(a), np.abs(b))  # only signs change
    assert (a != b).any()  # numpy's signs are not canonical
    assert (canon.verify(p, b) < 1e-9).all() and (numpy_task.verify(p, b) < 1e-9).all()
    with pytest.raises(UserError, match=r"task.signs: 'canonical' is about the vectors"):
        tasks.get("eigenvalues", signs="canonical")


# ------------------------------------------------------------------------------------- time limit

def test_max_seconds_stops_with_an_evaluation_and_a_checkpoint_and_resumes():
    args = TINY_EV + ["train.max_examples=100000", "train.eval_every=100000", "train.max_seconds=1.0"]
    assert main(["train", "quickstart", "--out", "runs/t", *set_args(args)]) == 0
    metrics = Run("runs/t").metrics()
    evals = of_kind(metrics, "eval")
    assert len(evals) == 1 and 1.0 <= evals["time"].iloc[0] < 5.0
    stopped = int(evals["examples"].iloc[0])
    assert 0 < stopped < 100000
    assert main(["train", "runs/t", "--set", "train.max_seconds=2.0"]) == 0  # continues where it stopped
    evals = of_kind(Run("runs/t").metrics(), "eval")
    assert len(evals) == 2 and evals["examples"].iloc[1] > stopped and evals["time"].iloc[1] >= 2.0


def test_full_batch_runs_refuse_the_streaming_options():
    with pytest.raises(UserError, match=r"train.max_seconds: task 'modular' trains full-batch"):
        resolve("grok/quick", ["train.max_seconds=10"])
    with pytest.raises(UserError, match=r"train.repeat_size: task 'modular' trains full-batch"):
        resolve("grok/quick", ["train.repeat_size=10", "train.repeat_frac=0.5"])


def test_a_list_of_distributions_is_a_mixture_of_them():
    task = tasks.get("eigenvalues", rows=3, distribution=["positive", "marcenko"])
    m = task.sample(4000, np.random.default_rng(0))["input"]
    assert (np.linalg.eigvalsh(m) >= -1e-9).all()  # both are positive semi-definite
    mixed = tasks.get("eigenvalues", rows=3, distribution=["semicircle", "positive"])
    lam = np.linalg.eigvalsh(mixed.sample(4000, np.random.default_rng(0))["input"])
    assert 0.45 < np.mean(lam.min(1) >= -1e-9) < 0.55  # half from "positive"; Wigner 3x3 spectra rarely are
    with pytest.raises(UserError, match=r"task.distribution: 'wishart' is not allowed"):
        tasks.get("eigenvalues", distribution=["laplace", "wishart"])
