"""Run every speed benchmark once, one after the other, and write docs/performance.md from their JSON lines.

    python benchmarks/run_all.py --out docs/performance.md      # written atomically when every benchmark ran
    python benchmarks/run_all.py > docs/performance.md          # the same page on stdout

Each benchmark times mathlens and its reference in the same process at the same moment (never two
benchmarks at once: on a small CPU they would slow each other), so every ratio on the page comes from this one
run. Progress goes to stderr; the raw JSON lines are kept at the end of the page.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

# (name, script arguments); each script prints one JSON line last
BENCHMARKS = [
    ("throughput", ["throughput.py", "lawt/transpose-5x5"]),
    ("datagen", ["datagen.py"]),
    ("grokking", ["grokking.py", "grok/quick"]),
]


def run(args: list[str]) -> tuple[dict, float]:
    """(the script's JSON line, seconds it took); a failing script stops everything with its stderr."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"run_all: {args[0]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("{"))
    return json.loads(line), time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                   if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{cpu}, {cores} cores, {memory:.0f} GiB memory, GPU: {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def rows(results: dict) -> list[tuple]:
    """(benchmark, figure, reference, ratio) rows of the page's table."""
    out = []
    t = results.get("throughput")
    if t:
        where = f"`{t['preset']}`, batch {t['batch_size']}, {t['device']}, {t['threads']} threads"
        out += [
            (f"training, {where}", f"{t['train_examples_per_s']} examples/s",
             f"plain PyTorch loop of the same model (`nn.Transformer`): {t['plain_pytorch_examples_per_s']} "
             f"examples/s", f"{t['ratio_to_plain_pytorch']}x"),
            ("model FLOP/s while training (FLOPs of one real step counted by FlopCounterMode, attention included)",
             f"{t['train_achieved_gflops']} GFLOP/s ({t['train_flops_per_example'] / 1e9:.2f} GFLOP per example)",
             f"square float32 matmul on the same threads: {t['matmul_gflops']} GFLOP/s",
             f"{t['share_of_matmul']:.0%}"),
            (f"greedy decoding, {t['decode_tokens']} output tokens, batch 64",
             f"{t['decode_examples_per_s_kv_cache']} examples/s with the KV cache",
             f"the same decoder re-run on the whole prefix per token: {t['decode_examples_per_s_no_cache']}",
             f"{t['decode_speedup_kv_cache']}x"),
        ]
    d = results.get("datagen")
    if d:
        for task in ("eigenvectors", "transpose"):
            out.append((f"problem generation + encoding, {d['rows']}x{d['rows']} {task}, {d['encoding']}, "
                        f"batch {d['batch']}, 1 thread", f"{d[f'{task}_ours_per_s']:,} problems/s",
                        f"LAWT's per-problem loop (same tokens, checked): {d[f'{task}_loop_per_s']:,}/s",
                        f"{d[f'{task}_speedup']}x"))
    g = results.get("grokking")
    if g:
        reached = (f"; test accuracy 99% after {g['steps_to_test_99']} steps, {g['train_time_to_test_99_s']} s"
                   if g["grokked"] else "; did not reach 99% test accuracy")
        out.append((f"full-batch modular training, `{g['preset']}`", f"{g['steps_per_s']} steps/s{reached}",
                    f"plain PyTorch loop of the same model: {g['plain_loop_steps_per_s']} steps/s",
                    f"{g['speedup_vs_plain_loop']}x"))
    return out


def limits(t: dict) -> str:
    """What keeps training below the machine's matmul FLOP/s, from the profile of the throughput benchmark."""
    if "time_share_matmul" not in t:
        return ""
    return (f"Where a training step's time goes (profile of 3 steps): dense matmuls {t['time_share_matmul']:.0%} "
            f"of the time at {t['dense_matmul_gflops']} GFLOP/s, attention kernels {t['time_share_attention']:.0%} "
            f"at {t['attention_gflops']} GFLOP/s ({t['attention_share_of_flops']:.0%} of the FLOPs: heads of "
            f"{t['d_head']} dimensions over {t['src_len']}-{t['tgt_len']} positions make many small matrix "
            f"products), everything else (LayerNorm, softmax and cross-entropy, ReLU, AdamW, data) "
            f"{t['time_share_other']:.0%}. With that last part at zero time the share would be "
            f"{t['share_without_other']:.0%}: the attention kernel at these shapes is what holds the model "
            f"below the matmul's rate.")


def page(results: dict, seconds: dict) -> str:
    today = datetime.date.today().isoformat()
    lines = ["# Performance", "",
             "Generated by `python benchmarks/run_all.py --out docs/performance.md`; every figure and ratio below",
             f"comes from that one run ({today}, {sum(seconds.values()):.0f} s).", "",
             f"Machine: {machine()}.", "",
             "| benchmark | figure | reference (timed in the same run) | ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results)]
    note = limits(results.get("throughput", {}))
    if note:
        lines += ["", note]
    lines += ["", "Each benchmark script can be run alone and prints one JSON line; what it times and against "
              "what is in its docstring. The raw lines of this run:", "", "```"]
    lines += [json.dumps(results[name]) for name in results]
    lines += ["```", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the page here (atomically) instead of stdout")
    ap.add_argument("--only", help="comma-separated benchmark names (default: all)")
    args = ap.parse_args()
    chosen = BENCHMARKS if not args.only else [b for b in BENCHMARKS if b[0] in args.only.split(",")]
    results, seconds = {}, {}
    for name, argv in chosen:
        print(f"run_all: {name} ...", file=sys.stderr, flush=True)
        results[name], seconds[name] = run(argv)
        print(f"run_all: {name} done in {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    text = page(results, seconds)
    if args.out:
        from mathlens.io import write_text

        write_text(Path(args.out), text)
        print(f"run_all: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
