"""Reading and writing numbers as numbers (issue 32): the row reader (one encoder token per matrix row) and the
number head (one query per output number, a regression), on tiny configs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import set_args

from mathlens import encodings, load_run
from mathlens.cli import main
from mathlens.config import resolve
from mathlens.encodings.grammar import DONE, number_automaton
from mathlens.errors import UserError
from mathlens.pipelines import pipeline_for
from mathlens.pipelines.grammar import MatrixGrammar
from mathlens.pipelines.scoring import score_matrices
from mathlens.training import checkpoint

NUMBERS = ["model.reader=\"rows\"", "model.head=\"numbers\"", "optim.loss=\"smooth_l1\""]
TINY = ["task.name=\"eigenvalues\"", "task.rows=3", "model.enc_layers=1", "model.dec_layers=1", "model.d_model=16",
        "model.n_heads=2", "train.max_examples=512", "train.batch_size=32", "train.eval_every=256",
        "train.eval_size=20", "train.log_every=2", "train.threads=1", "optim.warmup=2", "optim.lr=3e-3",
        "optim.schedule=\"constant\"", "eval.size=40", "eval.batch_size=20"]


def pipe_of(*overrides):
    return pipeline_for(resolve("quickstart", TINY + list(overrides)))


def test_the_row_reader_makes_one_token_per_row_from_the_rows_numbers():
    pipe = pipe_of(*NUMBERS, "task.rows=[3, 4]")
    problems = pipe.task.sample(6, np.random.default_rng(0))
    src, tgt = pipe.encode(problems)
    rows = src.shape[1]
    assert src.dtype == np.float32 and src.shape == (6, rows, rows)  # square inputs of one drawn size
    np.testing.assert_allclose(src * 10, problems["input"], rtol=1e-6)  # / model.number_scale
    want = np.linalg.eigvalsh(problems["input"])[:, ::-1] / 10
    np.testing.assert_allclose(tgt, want, rtol=1e-5, atol=1e-6)
    model = pipe.build_model()
    assert pipe.max_src_len == 4 and pipe.max_tgt_len == 4  # four rows in, four numbers out at most
    memory, mask = model.encode(torch.from_numpy(src))
    assert memory.shape == (6, rows, 16) and mask is None
    out = model(torch.from_numpy(src), n_out=rows)
    assert out.shape == (6, rows)
    # the token of row i is a linear map of that row's numbers: changing row 0 changes token 0 alone
    tokens = model.reader(torch.from_numpy(src))
    moved = src.copy()
    moved[:, 0] += 1.0
    delta = model.reader(torch.from_numpy(moved)) - tokens
    assert delta[:, 1:].abs().max() == 0 and delta[:, 0].abs().max() > 0
    torch.testing.assert_close(delta[:, 0], model.reader.col.weight[:rows].sum(0).expand(6, -1))


def test_a_wider_reader_reads_narrower_rows_with_its_first_columns():
    small, large = pipe_of(*NUMBERS).build_model(), pipe_of(*NUMBERS, "task.rows=5").build_model()
    with torch.no_grad():
        large.reader.col.weight[:3] = small.reader.col.weight
        large.reader.bias.copy_(small.reader.bias)
    rows = torch.randn(4, 3, 3)
    torch.testing.assert_close(large.reader(rows), small.reader(rows), rtol=0, atol=0)


@pytest.mark.parametrize("head_scale", [0, 100])
def test_the_number_head_round_trip_verifies_the_true_answer_and_records_it(head_scale):
    pipe = pipe_of(*NUMBERS, f"model.head_scale={head_scale}")
    batches = pipe.test_set(40, 1, 20)
    out = head_scale or 10  # what the head's numbers are multiplied by (0: model.number_scale)
    assert np.allclose(pipe.encode(batches[0])[1] * out, pipe.task.target_matrix(batches[0])[..., 0], atol=1e-5)

    class Oracle(torch.nn.Module):  # writes the true eigenvalues: what a perfect number head writes
        def forward(self, src, tgt_in=None, n_out=None):
            return torch.linalg.eigvalsh(src.double() * 10).flip(-1).float() / out

    summary, records = score_matrices(Oracle(), pipe, batches, torch.device("cpu"), records=True)
    assert summary["acc@0.5%"] == 1.0 and summary["invalid"] == 0.0 and summary["n"] == 40
    assert (records["error"] < 1e-5).all() and set(records["head"]) == {"numbers"}
    assert (records["prediction"] == records["target"]).all()  # written in the output encoding for reading
    assert pipe.decode_text(records["prediction"][:1])[0].shape == (3, 1)  # the report reads them back

    class Off(Oracle):  # 10% too large: wrong at 5%, right at no tolerance below 10%
        def forward(self, src, tgt_in=None, n_out=None):
            return super().forward(src) * 1.1

    summary, _ = score_matrices(Off(), pipe, batches, torch.device("cpu"))
    assert summary["acc@5%"] == 0.0 and summary["median_error"] == pytest.approx(0.1, rel=1e-4)
    diverged = pipe.written(np.array([[[np.inf], [np.nan], [1e300]]]))  # shown, not an exception
    assert pipe.decode_text(diverged)[0].shape == (3, 1)


@pytest.mark.parametrize("loss", ["smooth_l1", "mse"])
def test_a_number_run_learns_resumes_exactly_and_evaluates(loss):
    args = TINY + NUMBERS[:2] + [f"optim.loss=\"{loss}\""]
    assert main(["train", "quickstart", "--out", "runs/a", "--quiet", *set_args(args)]) == 0
    assert main(["train", "quickstart", "--out", "runs/b", "--quiet",
                 *set_args(args + ["train.max_examples=256"])]) == 0
    assert main(["train", "runs/b", "--quiet", "--set", "train.max_examples=512"]) == 0
    wa, _ = checkpoint.read(load_run("runs/a").path / "checkpoint.safetensors")
    wb, _ = checkpoint.read(load_run("runs/b").path / "checkpoint.safetensors")
    assert set(wa) == set(wb) and not any("embed.weight" == k.split("model.")[-1] for k in wa)  # no tokens at all
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    train = load_run("runs/a").metrics().query("kind == 'train'")["loss"]
    assert np.isfinite(train).all() and train.iloc[-1] < train.iloc[0]
    assert main(["eval", "runs/a", "--size", "40"]) == 0
    records = pd.read_parquet("runs/a/eval/test-n40-seed1234.parquet")
    assert len(records) == 40 and np.isfinite(records["error"]).all()
    assert main(["analyze", "runs/a", "failures"]) == 0 and main(["report", "runs/a"]) == 0


def test_gradients_of_the_number_head_are_finite_and_reach_every_weight():
    pipe = pipe_of(*NUMBERS)
    torch.manual_seed(0)
    model = pipe.build_model()
    arrays = pipe.encode(pipe.task.sample(8, np.random.default_rng(0)))
    terms = pipe.loss(model, arrays, torch.device("cpu"))
    assert terms.tokens.item() == 8 * 3 and terms.n == 8
    terms.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_tokens_in_numbers_out_and_rows_in_tokens_out_train_too():
    for extra in (["model.head=\"numbers\"", "optim.loss=\"mse\""], ["model.reader=\"rows\""]):
        args = TINY + extra + ["train.max_examples=128", "train.eval_every=128"]
        assert main(["train", "quickstart", "--out", "runs/mixed", "--quiet", *set_args(args)]) == 0
        evals = load_run("runs/mixed").metrics().query("kind == 'eval'")
        assert len(evals) == 1 and evals["n"].iloc[0] == 20
        assert main(["eval", "runs/mixed", "--size", "20"]) == 0
        shutil.rmtree("runs/mixed")  # the next combination reuses the directory


@pytest.mark.parametrize("task", ["eigenvalues", "invert_matrix", "eigenvectors", "matrix_product"])
def test_each_check_loss_is_zero_on_the_true_answer_and_the_checks_value_otherwise(task):
    pipe = pipe_of(*NUMBERS[:2], "optim.loss=\"check\"", f"task.name=\"{task}\"")
    problems = pipe.task.sample(16, np.random.default_rng(0))
    m = torch.from_numpy(pipe.task.input_matrix(problems)).double()
    true = torch.from_numpy(pipe.task.target_matrix(problems).copy()).double()
    loss = pipe.task.check_loss
    assert loss(m, true, true).abs().max() < 1e-9  # the true answer passes (float64 rounding)
    wrong = true * 1.1  # every number 10% off: the check's value, in LAWT's d1
    if task in ("eigenvalues", "invert_matrix", "matrix_product"):  # d1 of the residual, as verify computes it
        want = pipe.task.verify(problems, wrong.numpy())
        torch.testing.assert_close(loss(m, wrong, true), torch.from_numpy(want), rtol=1e-9, atol=1e-12)
    else:  # eigenvectors: the strict check (LAWT's residual plus ||V^T V - I||_1 / n) and V = 0 refused
        v, lam = wrong[:, 1:], wrong[:, 0]
        residual = v.transpose(1, 2) @ m @ v - torch.diag_embed(lam)
        orth = (v.transpose(1, 2) @ v - torch.eye(3, dtype=v.dtype)).abs().sum((1, 2)) / 3
        torch.testing.assert_close(loss(m, wrong, true), residual.abs().sum((1, 2)) / lam.abs().sum(1) + orth)
        zero = true.clone()
        zero[:, 1:] = 0
        assert (loss(m, zero, true) >= 1 - 1e-9).all()  # V = 0: residual -diag(lam), error 1, orthogonality 1
        flipped = true.clone()
        flipped[:, 1:, 0] *= -1  # another sign of an eigenvector: still exact, no target's sign preferred
        assert loss(m, flipped, true).abs().max() < 1e-9
    pred = true.clone().requires_grad_()
    loss(m, pred + 0.01, true).sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_a_check_loss_run_trains_and_evaluates():
    args = TINY + NUMBERS[:2] + ["optim.loss=\"check\"", "task.name=\"invert_matrix\"", "task.rows=2"]
    assert main(["train", "quickstart", "--out", "runs/c", "--quiet", *set_args(args)]) == 0
    train = load_run("runs/c").metrics().query("kind == 'train'")["loss"]
    assert np.isfinite(train).all() and train.iloc[-1] < train.iloc[0]
    assert main(["eval", "runs/c", "--size", "40"]) == 0


@pytest.mark.parametrize("preset, settings, says", [
    ("quickstart", ["model.head=\"numbers\""], "optim.loss: 'cross_entropy' does not train a number head"),
    ("quickstart", ["optim.loss=\"mse\""], "optim.loss: 'mse' is a regression loss; it trains a number head"),
    ("quickstart", ["model.reader=\"rows\"", "encoding.input=\"xval\""], "encoding.input: model.reader = \"rows\""),
    ("quickstart", ["model.reader=\"rows\"", "model.src_positions=\"2d\""], "model.src_positions: model.reader"),
    ("arith/add-3digit", ["model.head=\"numbers\""], "model.head: rows and numbers are for matrix tasks"),
    ("quickstart", ["model.reader=\"columns\""], "model.reader: 'columns' is not allowed; choose from tokens, rows"),
])
def test_number_options_that_do_not_combine_are_one_line(preset, settings, says):
    with pytest.raises(UserError) as e:
        resolve(preset, settings)
    assert str(e.value).startswith(says) and "\n" not in str(e.value)


def test_a_number_head_has_no_beam_to_search(capsys):
    assert main(["train", "quickstart", "--out", "runs/n", "--quiet",
                 *set_args(TINY + NUMBERS + ["train.max_examples=64", "train.eval_every=64"])]) == 0
    assert main(["eval", "runs/n", "--size", "20", "--beam", "3"]) == 2
    assert "--beam: a number head" in capsys.readouterr().err


# ------------------------------------------------------------------------------ decoding constrained by grammar

@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15"])
def test_the_number_automaton_accepts_what_the_encoder_writes_and_nothing_else(name):
    enc = encodings.get(name)
    automaton = number_automaton(enc)
    values = np.concatenate([[0.0, 1e-100, -9.99e100, 3.14, -0.0271],
                             np.random.default_rng(0).normal(0, 10, 500) * 10.0 ** np.arange(-5, 5).repeat(50)])

    def accepts(seq):
        state = 0
        for i, tok in enumerate(seq):
            nxt = automaton[state].get(int(tok))
            if nxt is None:
                return False
            if nxt == DONE:
                return i == len(seq) - 1
            state = nxt
        return False  # ended inside a number

    with np.errstate(invalid="ignore"):  # FP15 writes NaN past its range
        written = enc.encode(values)
    assert all(accepts(row[row != -1]) for row in written)
    ok = enc.decode(written)[1]
    rng = np.random.default_rng(1)
    decodes = []
    for _ in range(2000):  # random sequences: what the automaton accepts decodes (not the other way round: the
        seq = rng.integers(0, len(enc.vocab), rng.integers(1, enc.width + 1))  # decoders also read "N-3 E-78")
        padded = np.full((1, enc.width), -1)
        padded[0, : len(seq)] = seq
        decodes.append(bool(enc.decode(padded)[1][0]))
        assert not accepts(seq) or decodes[-1], [enc.vocab[t] for t in seq]
    assert ok.all() and (enc.width == 1 or not all(decodes))  # ill-formed ones were among them (FP15 has none)


def test_the_matrix_grammar_walks_a_written_matrix_by_hand():
    pipe = pipe_of("encoding.output=\"P10\"", "encoding.input=\"P10\"")
    grammar, index = MatrixGrammar(pipe.vocab, pipe.enc_out), pipe.vocab.index
    text = "V2 V1 + 3 1 4 E-2 - 2 7 1 E-4 <eos>".split()
    state = grammar.start(1)
    for tok in text:
        assert grammar.mask(state)[0, index[tok]], tok
        state = grammar.advance(state, torch.tensor([index[tok]]))
    assert int(state[0][0]) == grammar.END and int(state[1][0]) == 0
    state = grammar.start(1)
    for tok in "V2 V1 + 3 1 4 E-2".split():
        state = grammar.advance(state, torch.tensor([index[tok]]))
    allowed = {pipe.vocab.symbols[i] for i in grammar.mask(state)[0].nonzero()[:, 0].tolist()}
    assert allowed == {"+", "-"}  # a second number must follow: no <eos>, no V token, no digit


@pytest.mark.parametrize("output", ["P10", "P1000", "B1999", "FP15"])
def test_constrained_decoding_makes_every_answer_decode_even_from_an_untrained_model(output):
    pipe = pipe_of(f"encoding.output=\"{output}\"")
    torch.manual_seed(0)
    model = pipe.build_model()
    batches = pipe.test_set(20, 1, 20)
    free, _ = score_matrices(model, pipe, batches, torch.device("cpu"))
    assert free["invalid"] > 0.5  # an untrained model writes tokens at random
    for beam in (1, 3):
        summary, records = score_matrices(model, pipe, batches, torch.device("cpu"), records=True, beam=beam,
                                          constrained=True)
        assert summary["invalid"] == 0.0 and (records["reason"] == "ok").all()
        assert np.isfinite(records["error"]).all()


def test_eval_constrained_writes_its_own_files_and_is_refused_where_it_does_not_apply(capsys):
    assert main(["train", "quickstart", "--out", "runs/t", "--quiet",
                 *set_args(TINY + ["train.max_examples=64", "train.eval_every=64"])]) == 0
    assert main(["eval", "runs/t", "--size", "20", "--constrained"]) == 0
    summary = json.loads(Path("runs/t/eval/test-n20-seed1234-constrained.json").read_text())
    assert summary["constrained"] is True and summary["invalid"] == 0.0
    assert main(["train", "quickstart", "--out", "runs/n", "--quiet",
                 *set_args(TINY + NUMBERS + ["train.max_examples=64", "train.eval_every=64"])]) == 0
    capsys.readouterr()
    assert main(["eval", "runs/n", "--size", "20", "--constrained"]) == 2
    assert "--constrained: a number head" in capsys.readouterr().err


def test_a_larger_matrix_run_starts_from_a_smaller_ones_reader_and_head():
    assert main(["train", "quickstart", "--out", "runs/three", "--quiet",
                 *set_args(TINY + NUMBERS + ["train.max_examples=64", "train.eval_every=64"])]) == 0
    assert main(["train", "quickstart", "--out", "runs/four", "--from", "runs/three", "--quiet",
                 *set_args(TINY + NUMBERS + ["task.rows=4", "train.max_examples=32", "train.eval_every=32",
                                             "optim.lr=0"])]) == 0  # lr 0: the copied weights as copied
    small, _ = checkpoint.read(load_run("runs/three").path / "checkpoint.safetensors")
    large, _ = checkpoint.read(load_run("runs/four").path / "checkpoint.safetensors")
    for name in ("reader.col.weight", "encoder.pos.weight", "decoder.pos.weight"):  # 3 rows -> 4: extended
        a, b = small[f"model.{name}"], large[f"model.{name}"]
        assert b.shape[0] == 4 and a.shape[0] == 3 and torch.equal(b[:3], a), name
    assert torch.equal(small["model.head.weight"], large["model.head.weight"])
