"""Arithmetic (docs/papers.md part 3): digit formats, the task, the decoder's positions and cache, the LM pipeline,
and the commands train / eval --digits / analyze equivalence|hidden / export on a tiny run."""

import json

import numpy as np
import pytest
import torch
from conftest import set_args

from mathlens import tasks
from mathlens.cli import main
from mathlens.config import ModelConfig, config_from_dict
from mathlens.encodings.digits import EOS, DigitFormat, digit_matches, n_digits
from mathlens.errors import UserError
from mathlens.models import Decoder
from mathlens.pipelines import DigitPipeline
from mathlens.tasks.arithmetic import carries

FORMATS = [
    DigitFormat("add", 5, 6, True, False, False),  # the paper's
    DigitFormat("add", 5, 6, False, False, True),
    DigitFormat("mul", 0, 0, True, True, True),  # unpadded, everything reversed (McLeish et al.)
    DigitFormat("sub", 0, 0, False, False, True),
    DigitFormat("mul", 4, 8, False, True, False),
]


def _text(fmt, row):
    return "".join(fmt.symbols[i] for i in row if i != fmt.pad_id)


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_round_trip(fmt):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10 ** rng.integers(1, 5, 500))
    b = rng.integers(0, 10 ** rng.integers(1, 5, 500))
    if fmt.op == "sub":
        a, b = np.maximum(a, b), np.minimum(a, b)
    c = {"add": a + b, "sub": a - b, "mul": a * b}[fmt.op]
    enc = fmt.encode(a, b, c)
    answers = [row[p:n] for row, p, n in zip(enc.tokens, enc.prompt_len, enc.length)]
    width = max(map(len, answers))
    padded = np.array([np.pad(r, (0, width - len(r)), constant_values=fmt.pad_id) for r in answers])
    values, ok = fmt.decode(padded)
    assert ok.all() and (values == c).all()
    # the prompt reads back as the operands, in the format's order and padding
    for i in range(20):
        prompt = _text(fmt, enc.tokens[i, : enc.prompt_len[i]])
        sa, sb = (str(v).zfill(fmt.width) for v in (a[i], b[i]))
        if fmt.reverse_operands:
            sa, sb = sa[::-1], sb[::-1]
        sym = {"add": "+", "sub": "-", "mul": "*"}[fmt.op]
        assert prompt == (f"{sa}{sym}{sb}=" if fmt.separators else sa + sb)


def test_paper_format_and_significance():
    fmt = DigitFormat("add", 5, 6, True)
    enc = fmt.encode(np.array([123]), np.array([45]), np.array([168]))
    assert _text(fmt, enc.tokens[0]) == "00123" + "00045" + "861000"
    assert enc.significance[0].tolist() == [5, 4, 3, 2, 1] * 2 + [1, 2, 3, 4, 5, 6]
    assert enc.prompt_len[0] == 10 and enc.length[0] == 16


def test_decode_rejects_what_is_not_an_answer():
    fmt = DigitFormat("add", 0, 0, True, True, True)
    plus, eq = fmt.symbols.index("+"), fmt.symbols.index("=")
    rows = np.array([[1, 2, EOS, 5], [1, 2, 3, 4], [EOS, 1, 1, 1], [1, plus, EOS, 0], [3, EOS, eq, eq]])
    values, ok = fmt.decode(rows)
    assert ok.tolist() == [True, False, False, False, True]
    assert values[0] == 21 and values[4] == 3 and np.isnan(values[1:4]).all()
    fixed = DigitFormat("add", 5, 3, False)
    assert fixed.decode(np.array([[0, 4, 2]]))[0][0] == 42


def test_per_digit_accuracy_on_hand_made_cases():
    pred = np.array([1234.0, 1243.0, np.nan, 99.0, 0.0])
    true = np.array([1234, 1234, 1234, 1099, 0])
    match, counted = digit_matches(pred, true)
    share = (match & counted).sum(1) / counted.sum(1)
    assert share.tolist() == [1.0, 0.5, 0.0, 0.75, 1.0]
    # unpadded: an extra leading digit is a wrong digit (11234 for 1234: 4 of 5), a missing one too
    match, counted = digit_matches(np.array([11234.0, 234.0]), np.array([1234, 1234]))
    assert ((match & counted).sum(1) / counted.sum(1)).tolist() == [0.8, 0.75]
    # padded answers count the leading zeros: 0099 vs 1099 at width 6 is 5 of 6 places
    m, c = digit_matches(np.array([99.0]), np.array([1099]), width=6)
    assert c.all() and m.sum() == 5


def test_task_samples_lengths_and_validates():
    rng = np.random.default_rng(0)
    t = tasks.get("arithmetic", op="sub", digits=3)
    p = t.sample(1000, rng)
    assert (p["a"] >= p["b"]).all() and (p["answer"] == p["a"] - p["b"]).all() and p["a"].max() < 1000
    ood = t.with_digits(4).sample(1000, rng)
    assert (n_digits(ood["a"]) == 4).all() and (n_digits(ood["b"]) == 4).all()
    assert t.verify(p, p["answer"].astype(float)).sum() == 0 and t.verify(p, p["answer"] + 1.0).all()
    assert carries(np.array([999, 123, 5]), np.array([1, 456, 5])).tolist() == [3, 0, 1]
    with pytest.raises(UserError, match="task.width: operands of 6 digits do not fit width 5"):
        tasks.get("arithmetic", digits=3, eval_digits=[6])
    with pytest.raises(UserError, match="task.answer_width: \\* of 5-digit operands needs 10 digits; got 6"):
        tasks.get("arithmetic", op="mul", digits=3)
    with pytest.raises(UserError, match="task.separators"):
        tasks.get("arithmetic", width=0, answer_width=0)
    with pytest.raises(UserError, match="task.op: 'div' is not allowed"):
        tasks.get("arithmetic", op="div")


def test_in_distribution_test_set_is_disjoint_from_a_fixed_training_set():
    from mathlens.config import resolve
    from mathlens.pipelines.stream import training_set

    cfg = resolve("arith/add-3digit", ["task.digits=2", "task.eval_digits=[2, 3]", "train.dataset_size=3000"])
    pipe = DigitPipeline(cfg)
    train = np.concatenate([pipe.task.keys(b) for b in training_set(pipe, cfg)])
    sets = pipe.test_set(2000, 0, 500)
    for name in ("id", "2 digits"):
        test = np.concatenate([pipe.task.keys(b) for b in sets[name]])
        assert len(test) == 2000 and not np.isin(test, train).any(), name  # ~30% overlap before
        assert all((b["a"] < 100).all() and (b["answer"] == b["a"] + b["b"]).all() for b in sets[name])
    again = pipe.test_set(2000, 0, 500)["id"]  # seeded: the same set every time
    assert all((x["a"] == y["a"]).all() for x, y in zip(sets["id"], again))
    full = resolve("arith/add-3digit", ["task.digits=1", "task.eval_digits=[2]", "train.dataset_size=2000"])
    with pytest.raises(UserError, match="fewer than 100 distinct problems and none of the training set"):
        DigitPipeline(full).test_set(100, 0, 100)


def test_test_sets_of_a_small_space_hold_each_problem_once():
    """arith/cpu-mul-2digit draws from 10^4 operand pairs: 10,000 draws with replacement held 55 pairs twice."""
    from mathlens.pipelines.stream import Stream, _draw, build_test_set, seeded_rng

    task = tasks.get("arithmetic", op="mul", digits=2, eval_digits=[2])
    with_replacement = np.concatenate([task.keys(b) for b in _draw(task, 10_000, 1000, seeded_rng(0, Stream.TEST))])
    assert len(np.unique(with_replacement)) < 10_000 - 50
    whole = np.concatenate([task.keys(b) for b in build_test_set(task, 10_000, 0, 1000)])
    assert len(np.unique(whole)) == 10_000  # every pair once: the whole space
    three = tasks.get("arithmetic", op="add", digits=3)  # no pair twice in 200 draws: the set drawn as before
    before = np.concatenate([three.keys(b) for b in _draw(three, 200, 100, seeded_rng(0, Stream.TEST))])
    assert len(np.unique(before)) == 200
    assert (np.concatenate([three.keys(b) for b in build_test_set(three, 200, 0, 100)]) == before).all()
    with pytest.raises(UserError, match=r"fewer than 10001 distinct problems; lower the test set's size"):
        build_test_set(task, 10_001, 0, 1000)


@pytest.mark.parametrize("positions", ["learned", "none", "rotary", "abacus"])
def test_cached_decoding_matches_the_full_forward(positions):
    torch.manual_seed(0)
    m = Decoder(ModelConfig(arch="decoder", layers=2, d_model=32, n_heads=4, positions=positions), 16, 12,
                n_pos=20).eval()
    x = torch.randint(0, 16, (3, 12))
    pos = torch.randint(0, 20, (3, 12)) if positions == "abacus" else None
    full = m(x, positions=pos)
    caches = m.new_caches(3, 12, "cpu", torch.float32)
    parts = [m(x[:, :7], positions=None if pos is None else pos[:, :7], caches=caches)]
    for t in range(7, 12):
        parts.append(m(x[:, t : t + 1], positions=None if pos is None else pos[:, t : t + 1], caches=caches,
                       start=t))
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
    if positions == "abacus":
        with pytest.raises(ValueError, match="abacus positions need position ids"):
            m(x)


def _cfg(**task):
    return config_from_dict({"task": {"name": "arithmetic", **task},
                             "model": {"arch": "decoder", "layers": 1, "d_model": 16, "n_heads": 2}})


def test_pipeline_masks_the_loss_to_the_answer_and_decodes_greedily():
    cfg = _cfg(op="add", digits=2, eval_digits=[3], width=4, answer_width=5)
    pipe = DigitPipeline(cfg)
    p = pipe.task.sample(8, np.random.default_rng(0))
    tokens, answer, sig = pipe.encode(p)
    assert tokens.shape == (8, 13) and answer[:, 8:].all() and not answer[:, :8].any()
    torch.manual_seed(0)
    model = pipe.build_model()
    terms = pipe.loss(model, (tokens, answer, sig), "cpu")
    assert terms.tokens.item() == 8 * 5 and terms.n == 8  # the answer's 5 tokens of each row, nothing else
    assert terms.total.item() > 0 and 0 <= terms.right.item() <= 8
    # greedy decoding with the cache writes what the full forward's argmax writes, step by step
    gen, prob = pipe.generate(model, p, "cpu", probs=True)
    seq = torch.from_numpy(tokens[:, :8])
    for step in range(5):
        nxt = model.eval()(seq)[:, -1].argmax(-1)
        assert (nxt.numpy() == gen[:, step]).all()
        seq = torch.cat([seq, nxt[:, None]], 1)
    assert np.allclose(prob.sum(-1), 1, atol=1e-5)


def test_abacus_ids_are_shifted_in_training_only():
    cfg = config_from_dict({"task": {"name": "arithmetic", "digits": 2, "eval_digits": [3], "width": 0,
                                     "answer_width": 0, "separators": True, "reverse_operands": True},
                            "model": {"arch": "decoder", "layers": 1, "d_model": 16, "n_heads": 2,
                                      "positions": "abacus", "abacus_offset": 7}})
    pipe = DigitPipeline(cfg)
    _, _, sig = pipe.encode(pipe.task.sample(64, np.random.default_rng(0)))
    sig = torch.from_numpy(sig)
    torch.manual_seed(0)
    shifted = pipe.positions(sig, training=True)
    shift = (shifted - sig)[sig > 0]
    assert shift.min() >= 0 and shift.max() <= 7 and len(shift.unique()) > 1
    assert (shifted[sig == 0] == 0).all() and torch.equal(pipe.positions(sig, training=False), sig)
    assert pipe.n_pos > int(shifted.max())


TINY_ADD = ["task.digits=2", "task.eval_digits=[3]", "task.width=3", "task.answer_width=4", "model.layers=1",
            "model.d_model=16", "model.n_heads=2", "train.max_examples=640", "train.dataset_size=200",
            "train.eval_every=320", "train.eval_size=40", "train.threads=1", "eval.size=50"]



def test_train_eval_analyze_on_a_tiny_run(capsys):
    assert main(["train", "arith/add-3digit", "--out", "runs/a", "--quiet", *set_args(TINY_ADD)]) == 0
    assert "acc_3d" in capsys.readouterr().out
    assert main(["eval", "runs/a", "--digits", "1,3", "--size", "30"]) == 0
    out = capsys.readouterr().out
    assert "0-2 digits" in out and "3 digits" in out and "OOD" in out
    summary = json.loads(open("runs/a/eval/digits-n30-seed1234.json").read())
    assert [r["operands"] for r in summary["lengths"]] == ["0-2 digits", "1 digits", "3 digits"]
    assert main(["analyze", "runs/a", "equivalence", "--size", "40"]) == 0
    out = capsys.readouterr().out
    assert "best relation" in out and "(a mod 10^2) + (b mod 10^2)" in out
    eq = json.loads(open("runs/a/analysis/equivalence/summary.json").read())
    assert eq["digits"] == 3 and 0 <= eq["best_share"] <= 1 and len(eq["relations"]) == 12
    assert main(["analyze", "runs/a", "hidden", "--size", "60"]) == 0
    hid = json.loads(open("runs/a/analysis/hidden/summary.json").read())
    assert hid["hook"] == "blocks.0.hook_resid_post" and 0 < hid["pca_top4_explained"] <= 1
    assert main(["analyze", "runs/a", "hidden", "--hook", "nowhere", "--size", "60"]) == 2
    assert "--hook: 'nowhere' is not a hook point" in capsys.readouterr().err
    assert main(["eval", "runs/a", "--digits", "7"]) == 2
    assert "--digits: 7 is outside 1..3" in capsys.readouterr().err
    assert main(["eval", "runs/a", "--beam", "4"]) == 2


def test_abacus_is_refused_where_there_are_no_digit_places():
    with pytest.raises(UserError, match="model.positions: abacus ids are digit places"):
        config_from_dict({"task": {"name": "modular", "p": 7},
                          "model": {"arch": "decoder", "positions": "abacus", "d_model": 16, "n_heads": 2}})
    with pytest.raises(UserError, match="model.positions: abacus ids of an answer written most significant"):
        DigitPipeline(config_from_dict({"task": {"name": "arithmetic", "width": 0, "answer_width": 0,
                                                 "separators": True, "reverse": False},
                                        "model": {"arch": "decoder", "positions": "abacus"}}))


def test_an_abacus_run_resumed_midway_ends_with_the_same_metrics():
    """The data stream, dropout and abacus shifts all come from checkpointed RNG states."""
    import json
    from pathlib import Path

    tiny = TINY_ADD + ["model.positions=abacus", "model.dropout=0.1", "train.max_examples=1280"]
    assert main(["train", "arith/add-3digit", "--out", "runs/ref", "--quiet", *set_args(tiny)]) == 0
    half = [o for o in tiny if not o.startswith("train.max_examples")] + ["train.max_examples=640"]
    assert main(["train", "arith/add-3digit", "--out", "runs/two", "--quiet", *set_args(half)]) == 0
    assert main(["train", "runs/two", "--set", "train.max_examples=1280", "--quiet"]) == 0

    def records(run):
        return [{k: v for k, v in json.loads(line).items() if k not in ("examples_per_s", "time", "lr")}
                for line in Path(run, "metrics.jsonl").read_text().splitlines()]

    assert records("runs/two") == records("runs/ref")
