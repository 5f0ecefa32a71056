"""Grokking accelerators of the full-batch trainer, each doing what its paper says on a tiny case: StableMax,
the perpendicular gradient, Muon, Grokfast-EMA on minibatches; each resumes exactly and refuses what it does
not support in one line."""

import math

import pytest
import torch
from test_grokking import TINY_GROK, records, sets

from mathlens import load_run
from mathlens.cli import main
from mathlens.config import resolve
from mathlens.errors import UserError
from mathlens.models import Decoder
from mathlens.pipelines.modular import logits_of
from mathlens.training import checkpoint
from mathlens.training.optim import Hybrid, Muon, make_optimizer, orthogonalise
from mathlens.training.stability import perpendicular_, stablemax, stablemax_cross_entropy


def test_stablemax_is_a_distribution_and_its_loss_is_the_papers_formula():
    x = torch.tensor([[3.0, 0.0, -1.0, -4.0], [0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    p = stablemax(x)
    assert (p > 0).all() and torch.allclose(p.sum(-1), torch.ones(2, dtype=torch.float64))
    s = lambda v: v + 1 if v >= 0 else 1 / (1 - v)  # noqa: E731  s(x) of Prieto et al.
    target = torch.tensor([2, 0])
    by_hand = -(math.log(s(-1.0) / sum(map(s, [3.0, 0.0, -1.0, -4.0]))) + math.log(0.25)) / 2
    assert stablemax_cross_entropy(x, target).item() == pytest.approx(by_hand, rel=1e-12)
    # where float32 softmax collapses to exactly 1 (zero gradient), StableMax keeps a gradient
    big = torch.tensor([[40.0, 0.0, -40.0]], requires_grad=True)
    assert torch.softmax(big, -1)[0, 0].item() == 1.0
    stablemax_cross_entropy(big, torch.tensor([0])).backward()
    assert big.grad.abs().max() > 1e-3
    # float32 logits are scored in float64, as by the authors: at a right logit of 1e9 the other classes' share
    # (1.5 / 1e9) is absorbed in float32 (the loss would be exactly 0, the right logit's gradient 0)
    huge = torch.tensor([[1e9, 0.0, -1.0]], requires_grad=True)
    loss = stablemax_cross_entropy(huge, torch.tensor([0]))
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(1.5e-9, rel=1e-3)
    loss.backward()
    assert huge.grad[0, 0] < 0


def test_perpendicular_gradient_is_orthogonal_to_the_weights_and_keeps_its_norm():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, 7))
    w.grad = torch.randn(5, 7) + 0.8 * w.detach()  # a gradient partly along the weights
    norm = w.grad.norm().item()
    perpendicular_([w])
    assert abs((w.grad * w.detach()).sum().item()) < 1e-5 * norm * w.norm().item()
    assert w.grad.norm().item() == pytest.approx(norm, rel=1e-6)


def test_our_muon_makes_torchs_update_up_to_bf16_rounding():
    torch.manual_seed(0)
    start = [torch.randn(64, 16), torch.randn(16, 48)]  # tall and wide: both of Newton-Schulz's orientations
    ours = [w.clone().requires_grad_() for w in start]
    theirs = [w.clone().requires_grad_() for w in start]
    opts = [Muon(ours, lr=0.02, weight_decay=0.1), torch.optim.Muon(theirs, lr=0.02, weight_decay=0.1)]
    for _ in range(3):  # momentum and Nesterov over several steps
        grads = [torch.randn_like(w) for w in start]
        for params, opt in zip((ours, theirs), opts):
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
    for w, a, b in zip(start, ours, theirs):
        moved = (b - w).detach()
        assert ((a - b).detach().norm() / moved.norm()).item() < 0.02 and moved.norm() > 0.05
    assert set(opts[0].state[ours[0]]) == set(opts[1].state[theirs[0]]) == {"momentum_buffer"}


def test_muon_takes_the_hidden_matrices_and_orthogonalises_their_update():
    cfg = resolve("grok/add-p97", [*TINY_GROK, "optim.optimizer=\"muon\"", "optim.muon_lr=0.02",
                                   "optim.weight_decay=0"])
    torch.manual_seed(0)
    model = Decoder(cfg.model, 13, 3, 11)
    opt = make_optimizer(model, cfg.optim)
    assert isinstance(opt, Hybrid)
    muon_params = {id(p) for p in opt.parts[0].param_groups[0]["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in muon_params}
    assert names and all(n.startswith("blocks.") and n.endswith("weight") and "ln" not in n for n in names)
    w = model.blocks[0].mlp.W_in.weight
    u, _, v = torch.linalg.svd(torch.randn(*w.shape), full_matrices=False)
    g = u @ torch.diag(torch.logspace(-2, 0, w.shape[1])) @ v  # singular values over two decades
    before = w.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    w.grad = g
    opt.step()
    sv = torch.linalg.svdvals((w.detach() - before) / 0.02)  # Newton-Schulz: every direction about the same step
    assert sv.max() / sv.min() < 3 and 100 * 0.99 < torch.linalg.svdvals(g).max() / torch.linalg.svdvals(g).min()


def test_muon_orthogonalises_the_fused_key_value_matrix_part_by_part():
    # V's gradient 100x K's: orthogonalised as one block, K's half of the update would be ~100x smaller than
    # V's (median singular value ~0.01); part by part each half is about orthogonal (singular values ~1)
    cfg = resolve("grok/add-p97", [*TINY_GROK, "optim.optimizer=\"muon\"", "optim.weight_decay=0"])
    torch.manual_seed(0)
    model = Decoder(cfg.model, 13, 3, 11)
    opt = make_optimizer(model, cfg.optim)
    w = model.blocks[0].attn.W_kv.weight
    d = w.shape[1]
    g = torch.cat([torch.randn(d, d), 100 * torch.randn(d, d)])
    before = w.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    w.grad = g.clone()
    opt.step()
    group = opt.parts[0].param_groups[0]
    newton_schulz = (group["ns_coefficients"], group["ns_steps"], group["eps"])
    moved = (w.detach() - before) / -group["lr"]
    for half, grad in zip(moved.chunk(2), g.chunk(2)):  # Nesterov's first step: a multiple of the gradient
        assert torch.linalg.svdvals(half).median() > 0.5
        # the half's own Newton-Schulz, nothing else; 1e-3 allows for float32 rounding (of the gradient's
        # multiple and of the matmuls, in any order) grown by five iterations, where the joint update is O(1) off
        ref = orthogonalise(grad, *newton_schulz)
        assert ((half - ref).norm() / ref.norm()).item() < 1e-3
    joint = orthogonalise(g, *newton_schulz)  # what one block would have given K: nearly nothing
    assert torch.linalg.svdvals(joint[:d]).median() < 0.05


def test_adam_decay_is_l2_on_the_gradient_where_adamw_decouples_it():
    # Grokfast's code uses torch's Adam: its decay passes through Adam's normalisation, so with no loss gradient
    # every decayed weight moves by about lr per step; AdamW's decoupled decay moves it by lr * wd * w
    steps = {}
    for name in ("adam", "adamw"):
        cfg = resolve("grok/add-p97", [*TINY_GROK, f"optim.optimizer=\"{name}\"", "optim.weight_decay=0.01"])
        torch.manual_seed(0)
        model = Decoder(cfg.model, 13, 3, 11)
        opt = make_optimizer(model, cfg.optim)
        w = model.embed.weight
        before = w.detach().clone()
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        steps[name] = (before - w.detach()) / before.sign()  # how far each weight moved towards 0
    lr = cfg.optim.lr
    torch.testing.assert_close(steps["adam"], torch.full_like(steps["adam"], lr), rtol=1e-3, atol=0)
    torch.testing.assert_close(steps["adamw"], lr * 0.01 * before.abs(), rtol=0, atol=1e-7)  # float32 rounding


@pytest.mark.parametrize("accelerator", [["optim.optimizer=\"muon\""], ["optim.loss=\"stablemax\""],
                                         ["optim.perp_grad=true", "optim.weight_decay=0"],
                                         ["optim.grokfast=\"ema\"", "train.minibatch=40"]])
def test_each_accelerator_changes_training_and_resumes_exactly(accelerator):
    common = [*TINY_GROK, *accelerator]
    assert main(["train", "grok/add-p97", "--out", "runs/a", "--quiet", *sets(common)]) == 0
    assert main(["train", "grok/add-p97", "--out", "runs/b", "--quiet", *sets(common),
                 "--set", "train.max_steps=20"]) == 0
    assert main(["train", "runs/b", "--quiet", "--set", "train.max_steps=40"]) == 0
    wa, _ = checkpoint.read(load_run("runs/a").path / "checkpoint.safetensors")
    wb, _ = checkpoint.read(load_run("runs/b").path / "checkpoint.safetensors")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    assert main(["train", "grok/add-p97", "--out", "runs/plain", "--quiet", *sets(TINY_GROK)]) == 0
    a, b = records(load_run("runs/plain").path, "eval")[-1], records(load_run("runs/a").path, "eval")[-1]
    assert a["train_loss"] != b["train_loss"]


def test_a_stablemax_run_logs_the_loss_it_trains_and_the_softmax_one_named():
    assert main(["train", "grok/add-p97", "--out", "runs/s", "--quiet",
                 *sets([*TINY_GROK, "optim.loss=\"stablemax\""])]) == 0
    run = load_run("runs/s")
    last = records(run.path, "eval")[-1]
    pipe, model = run.pipe, run.model  # the checkpoint of the last evaluation's step
    train_idx, test_idx = pipe.split()
    with torch.no_grad():
        logits = logits_of(model, torch.as_tensor(pipe.tokens())).double()
    answers = torch.as_tensor(pipe.data["answer"])
    for split, idx in (("train", train_idx), ("test", test_idx)):
        # 1e-9: the same float64 loss of float32 logits, computed in a batch of another size
        assert last[f"{split}_loss"] == pytest.approx(stablemax_cross_entropy(logits[idx], answers[idx]).item(),
                                                      rel=1e-9)
        assert last[f"{split}_softmax_loss"] == pytest.approx(
            torch.nn.functional.cross_entropy(logits[idx], answers[idx]).item(), rel=1e-9)
        assert last[f"{split}_loss"] != pytest.approx(last[f"{split}_softmax_loss"], rel=1e-3)
    train = records(run.path, "train")[-1]  # the train record's loss is the trained one too
    assert train["loss"] > 0
    assert main(["train", "grok/add-p97", "--out", "runs/plain", "--quiet", *sets(TINY_GROK)]) == 0
    assert "train_softmax_loss" not in records(load_run("runs/plain").path, "eval")[-1]
    assert main(["report", "runs/s"]) == 0  # the curves draw both losses


def test_grokfast_lamb_0_adds_nothing_and_auto_is_the_authors_value(capsys):
    assert main(["train", "grok/add-p97", "--out", "runs/plain", "--quiet", *sets(TINY_GROK)]) == 0
    for name, lamb in (("zero", "0"), ("auto", "\"auto\"")):
        assert main(["train", "grok/add-p97", "--out", f"runs/{name}", "--quiet",
                     *sets([*TINY_GROK, "optim.grokfast=\"ma\"", "optim.grokfast_window=7",
                           f"optim.grokfast_lamb={lamb}"])]) == 0
    weights = {name: checkpoint.read(load_run(f"runs/{name}").path / "checkpoint.safetensors")[0]
               for name in ("plain", "zero", "auto")}
    for k in weights["plain"]:  # g + 0 * slow(g) is g: the plain run, bit for bit
        torch.testing.assert_close(weights["zero"][k], weights["plain"][k], rtol=0, atol=0, msg=k)
    assert any(not torch.equal(weights["auto"][k], weights["plain"][k]) for k in weights["plain"])
    assert resolve("grok/add-p97", ["optim.grokfast=\"ma\""]).optim.grokfast_lamb == "auto"
    capsys.readouterr()
    # the default clip of a streaming run would clip the amplified gradient: said once, in one line
    assert main(["train", "grok/add-p97", "--out", "runs/clip", "--quiet",
                 *sets([*TINY_GROK, "optim.grokfast=\"ema\"", "optim.clip=5"])]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optim.clip=5 clips the Grokfast-amplified gradient" in err[0]


@pytest.mark.parametrize("optimizer, says", [("adamw", "AdamW lr 0.001, wd 1.0"), ("adam", "Adam (L2 decay) lr"),
                                              ("muon", "Muon lr 0.02 on the hidden matrices + AdamW lr 0.001")])
def test_the_report_names_the_optimiser_that_ran(optimizer, says):
    # it said "AdamW" for Adam and Muon runs
    assert main(["train", "grok/add-p97", "--out", "runs/o", "--quiet",
                 *sets([*TINY_GROK, f"optim.optimizer=\"{optimizer}\"", "train.max_steps=10"])]) == 0
    assert main(["report", "runs/o"]) == 0
    html = (load_run("runs/o").path / "report.html").read_text()
    assert says in html


def test_unsupported_combinations_are_one_line(capsys):
    with pytest.raises(UserError, match=r"optim.loss: an option of the full-batch trainer"):
        resolve("quickstart", ["optim.loss=\"stablemax\""])
    with pytest.raises(UserError, match=r"train.minibatch: an option of the full-batch trainer"):
        resolve("quickstart", ["train.minibatch=8"])
    with pytest.raises(UserError, match=r"optim.perp_grad: ⊥Grad projects AdamW's gradients"):
        resolve("grok/add-p97", ["optim.perp_grad=true", "optim.optimizer=\"muon\""])
    with pytest.raises(UserError, match=r"optim.grokfast_lamb: 'big' is not allowed; a number >= 0, or \"auto\""):
        resolve("grok/add-p97", ["optim.grokfast_lamb=big"])
    with pytest.raises(UserError, match=r"optim.grokfast_lamb: -1.0 is below the minimum 0"):
        resolve("grok/add-p97", ["optim.grokfast_lamb=-1"])
    assert main(["train", "grok/add-p97", "--set", "optim.optimizer=\"sgd\"", "--out", "runs/x"]) == 2
    assert "optim.optimizer: 'sgd' is not allowed; choose from adamw, adam, muon" in capsys.readouterr().err
