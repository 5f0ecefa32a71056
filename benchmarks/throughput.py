"""Training and decoding speed of a matrix preset against references timed in the same run, as one JSON line.

    python benchmarks/throughput.py [lawt/transpose-5x5] [--set key=value ...] [--steps 15] [--rounds 2]

- mathlens: the trainer's own step (``Trainer.train_step`` on ``Trainer.stream`` batches, so problem generation
  is inside the timed loop), in a temporary run directory.
- plain PyTorch: the same model written with ``nn.Transformer`` (pre-LayerNorm, ReLU, learned positions, tied
  embeddings), AdamW and clipping, on batches generated before timing (so it does less work per step).
- matmul: a square float32 matmul on the same threads; model FLOPs are counted by torch's FlopCounterMode on
  one real step (forward + backward, every matmul and attention, the CPU attention kernel counted as torch counts
  the CUDA ones), so ``share_of_matmul`` is the model FLOP
  utilisation against what this machine's matmul reaches.
The three alternate for ``--rounds`` rounds and each keeps its best round, so a busy moment does not decide a
ratio. A profile of mathlens's step splits its time between dense matmuls, attention kernels and the rest
(norms, softmax, optimiser...), which says what keeps the share below 1. Greedy decoding is timed with and
without the KV cache.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from mathlens.config import resolve
from mathlens.models import greedy
from mathlens.pipelines.stream import build_test_set
from mathlens.training.trainer import Trainer

MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
aten = torch.ops.aten


def _attention(q, k, v, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(q, k, v)


def _attention_backward(grad, q, k, v, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_backward_flop_count(grad, q, k, v)


# torch counts the CUDA attention kernels but not the CPU one; count it the same way (a causal mask not discounted)
CPU_ATTENTION_FLOPS = {aten._scaled_dot_product_flash_attention_for_cpu: _attention,
                       aten._scaled_dot_product_flash_attention_for_cpu_backward: _attention_backward}


def matmul_flops(device, n=1024, seconds=1.5) -> float:
    """FLOP/s of a square float32 matmul on this device and thread count."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start)


class PlainSeq2Seq(nn.Module):
    """The mathlens seq2seq model as a plain PyTorch user would write it with ``nn.Transformer``."""

    def __init__(self, vocab: int, d: int, heads: int, d_ff: int, enc: int, dec: int, src_len: int, tgt_len: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.src_pos, self.tgt_pos = nn.Embedding(src_len, d), nn.Embedding(tgt_len, d)
        self.core = nn.Transformer(d, heads, enc, dec, d_ff, dropout=0.0, batch_first=True, norm_first=True)
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, src, tgt):
        s = self.embed(src) + self.src_pos.weight[: src.shape[1]]
        t = self.embed(tgt) + self.tgt_pos.weight[: tgt.shape[1]]
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=tgt.device)
        return self.out(self.core(s, t, tgt_mask=mask, tgt_is_causal=True))


def examples_per_s(fn, steps: int, examples: int, device) -> float:
    """Examples per second of ``steps`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * examples / (time.perf_counter() - start)


def time_split(step, steps: int = 3) -> dict:
    """Shares of a step's self time in dense matmuls, attention kernels and everything else."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    times = {"matmul": 0.0, "attention": 0.0, "other": 0.0}
    for event in prof.key_averages():
        kind = ("matmul" if event.key in MATMUL_OPS else
                "attention" if "scaled_dot_product" in event.key else "other")
        times[kind] += event.self_cpu_time_total
    total = sum(times.values())
    return {k: v / total for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("preset", nargs="?", default="lawt/transpose-5x5")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--steps", type=int, default=15, help="timed training steps per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--decode-batch", type=int, default=64)
    args = ap.parse_args()

    cfg = resolve(args.preset, args.set)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, quiet=True)
    device, pipe, model = trainer.device, trainer.pipe, trainer.model
    B = cfg.train.batch_size

    def ours():
        trainer.train_step(trainer.stream.next(), False)

    m = cfg.model
    plain = PlainSeq2Seq(len(pipe.vocab), m.d_model, m.n_heads, m.d_ff or 4 * m.d_model, m.enc_layers,
                         m.dec_layers, pipe.max_src_len, pipe.max_tgt_len).to(device)
    plain_opt = torch.optim.AdamW(plain.parameters(), lr=cfg.optim.lr)
    batches = [tuple(torch.from_numpy(x).to(device) for x in trainer.stream.next()) for _ in range(4)]
    turn = [0]

    def reference():
        src, tgt = batches[turn[0] % len(batches)]
        turn[0] += 1
        with trainer.autocast():
            logits = plain(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt[:, 1:].flatten(), ignore_index=pipe.vocab.pad_id)
        plain_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), cfg.optim.clip or 1e9)
        plain_opt.step()

    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        ours()
    flops_per_example = counter.get_total_flops() / B
    by_op = {str(k): v for k, v in counter.get_flop_counts().get("Global", {}).items()}
    attention_flops = sum(v for k, v in by_op.items() if "scaled_dot_product" in k) / (flops_per_example * B)
    for _ in range(2):
        ours(), reference()
    rates = {"ours": 0.0, "plain": 0.0, "matmul": 0.0}
    for _ in range(args.rounds):
        rates["ours"] = max(rates["ours"], examples_per_s(ours, args.steps, B, device))
        rates["plain"] = max(rates["plain"], examples_per_s(reference, args.steps, B, device))
        rates["matmul"] = max(rates["matmul"], matmul_flops(device))
    split = time_split(ours) if device.type == "cpu" else None
    achieved = rates["ours"] * flops_per_example

    model.eval()
    problems = build_test_set(pipe.task, args.decode_batch, 0, args.decode_batch)[0]
    src = torch.from_numpy(pipe.encode(problems)[0]).to(device)
    decode = {}
    for cached in (True, False):
        greedy(model, src[:4], 4, pipe.vocab.eos_id, -1, use_cache=cached)
        start = time.perf_counter()
        out = greedy(model, src, pipe.max_out_len, pipe.vocab.eos_id, -1, use_cache=cached)  # eos -1: full length
        decode[cached] = len(src) / (time.perf_counter() - start)
        assert out.shape[1] == pipe.max_out_len
    result = {
        "benchmark": "throughput", "preset": args.preset, "overrides": args.set, "device": str(device),
        "threads": torch.get_num_threads(), "batch_size": B, "d_head": m.d_model // m.n_heads,
        "src_len": pipe.max_src_len, "tgt_len": pipe.max_tgt_len,
        "train_examples_per_s": round(rates["ours"], 1),
        "plain_pytorch_examples_per_s": round(rates["plain"], 1),
        "ratio_to_plain_pytorch": round(rates["ours"] / rates["plain"], 2),
        "train_flops_per_example": int(flops_per_example),
        "train_achieved_gflops": round(achieved / 1e9, 1),
        "matmul_gflops": round(rates["matmul"] / 1e9, 1),
        "share_of_matmul": round(achieved / rates["matmul"], 3),
        "attention_share_of_flops": round(attention_flops, 3),
        "decode_tokens": pipe.max_out_len,
        "decode_examples_per_s_kv_cache": round(decode[True], 1),
        "decode_examples_per_s_no_cache": round(decode[False], 1),
        "decode_speedup_kv_cache": round(decode[True] / decode[False], 2),
    }
    if split:
        t_step = B / rates["ours"]
        result.update({
            "time_share_matmul": round(split["matmul"], 3), "time_share_attention": round(split["attention"], 3),
            "time_share_other": round(split["other"], 3),
            "dense_matmul_gflops": round(achieved * (1 - attention_flops) / split["matmul"] / 1e9, 1),
            "attention_gflops": round(achieved * attention_flops / split["attention"] / 1e9, 1)
            if split["attention"] else None,
            # the share if norms, softmax, optimiser and data took no time at all: what matmuls and attention allow
            "share_without_other": round(achieved / (1 - split["other"]) / rates["matmul"], 3),
            "step_s": round(t_step, 3),
        })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
