"""The ``mathlens`` command: train, eval, analyze, report, grid, presets, quickstart.

User mistakes end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import analysis, api, distributed, lock
from .api import first_rank
from .compare import compare
from .config import load_preset, preset_names, resolve
from .errors import UserError
from .evaluation import format_summary
from .export import export_transformer_lens
from .grid import parse_slurm_option, run_grid
from .interop.checkpoints import import_checkpoint
from .interop.data import export_data


def cmd_train(args) -> int:
    def say(line: str) -> None:  # under torchrun, rank 0 speaks for all
        if distributed.is_main():
            print(line)

    try:
        api.train(args.target, args.out, from_run=args.from_run, quiet=args.quiet, overrides=args.set or [], say=say)
        return 0
    finally:
        distributed.stop()


def cmd_eval(args) -> int:
    summary, path = api.evaluate(args.run, checkpoint=args.checkpoint, size=args.size, seed=args.seed,
                                 beam=args.beam, batch_size=args.batch_size, ood=args.ood, digits=args.digits,
                                 data=args.data, constrained=args.constrained)
    print(format_summary(summary))
    print(f"{'table' if str(path).endswith('.md') else 'records'}: {path}")
    return 0


def cmd_report(args) -> int:
    print(f"report: {api.report(args.run)}")
    return 0


def cmd_analyze(args) -> int:
    run = api.as_run(args.run)
    result = api.analyze(run, args.analysis, digits=args.digits, hook=args.hook, size=args.size, seed=args.seed)
    print("\n".join(analysis.get(args.analysis).describe(run, result.summary)))
    return 0


def cmd_compare(args) -> int:
    markdown, out = compare(args.runs, args.out)
    print(markdown)
    print(f"tables and curves: {out}")
    return 0


def cmd_export(args) -> int:
    with lock.hold(args.run, "mathlens export"):
        path = export_transformer_lens(args.run, args.out)
    print(f"TransformerLens model: {path}")
    print(f"open it with: mathlens.export.load_hooked_transformer({str(path)!r})")
    return 0


def cmd_grid(args) -> int:
    slurm = dict(parse_slurm_option(o) for o in args.slurm or [])  # a bad one stops before anything runs
    markdown, grid_dir = run_grid(args.preset, args.vary, args.set or [], args.out, args.launcher, slurm, args.quiet,
                                  seeds=args.seeds)
    print(markdown)
    print(f"table: {grid_dir / 'comparison.csv'} and comparison.md")
    return 0


def cmd_import(args) -> int:
    out = import_checkpoint(args.checkpoint, args.format, args.preset, args.out, vocab=args.vocab, heads=args.heads,
                            overrides=args.set or [])
    print(f"{out}: imported {args.checkpoint} ({args.format}) as a {args.preset} run; try `mathlens eval {out}`")
    return 0


def cmd_data(args) -> int:
    out = export_data(args.preset, args.n, args.seed, args.out, overrides=args.set or [], quiet=args.quiet)
    print(f"{out}: {args.n} problems of {args.preset} (seed {args.seed})")
    return 0


def cmd_presets(args) -> int:
    if args.show:  # the preset as a run would resolve it: every setting, defaults and base included
        print(resolve(args.show).to_toml(), end="")
        return 0
    names = preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {load_preset(name).get('description', '')}")
    return 0


def cmd_quickstart(args) -> int:
    print(f"mathlens quickstart: {load_preset('quickstart')['description']}")
    run = api.train("quickstart", args.out, quiet=args.quiet, overrides=args.set or [])
    summary, records = api.evaluate(run)
    print(f"{format_summary(summary)}\nrecords: {records}\nreport:  {api.report(run)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mathlens", description="Train, evaluate and look inside math transformers.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a preset into a run directory, or resume a run")
    t.add_argument("target", help="preset name (see `mathlens presets`) or an existing run directory")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    t.add_argument("--out", help="run directory (default runs/<preset name>)")
    t.add_argument("--from", dest="from_run", metavar="RUN",
                   help="start from RUN's weights (fine-tuning; a larger matrix size extends the position tables)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run on a fresh seeded test set; writes per-sample records")
    e.add_argument("run")
    e.add_argument("--size", type=int, help="test problems (default: the run's eval.size)")
    e.add_argument("--seed", type=int, help="test-set seed (default: the run's eval.seed)")
    e.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    e.add_argument("--constrained", action="store_true",
                   help="matrix runs: decode only well-formed matrices of the answer's shape in the output encoding "
                        "(a grammar built from the encoder), so that every answer decodes and the check judges it")
    e.add_argument("--batch-size", type=int, help="problems decoded at once")
    e.add_argument("--checkpoint", choices=["latest", "best"], default="latest",
                   help="the weights to evaluate: the latest checkpoint (default) or the best periodic evaluation's "
                        "(its files end in -best)")
    e.add_argument("--ood", metavar="all|V1,V2",
                   help="evaluate on other input distributions (eigenvalue distributions for symmetric tasks, "
                        "coefficient distributions otherwise) and write one table")
    e.add_argument("--digits", metavar="D1,D2",
                   help="arithmetic runs: operand lengths to test besides the training distribution (default: the "
                        "task's eval_digits)")
    e.add_argument("--data", metavar="FILE", help="evaluate on the problems of a data file (.parquet, .jsonl, LAWT "
                                                  ".txt: `mathlens data` writes them) instead of a seeded test set")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("report", help="write RUN/report.html: curves, accuracy table, examples")
    r.add_argument("run")
    r.set_defaults(func=cmd_report)

    a = sub.add_parser("analyze", help="look inside a trained run: " + "; ".join(
        f"{name}: {an.help}" for name, an in analysis.REGISTRY.items()))
    a.add_argument("run")
    a.add_argument("analysis", choices=list(analysis.REGISTRY), help="which analysis (the run's family says which "
                                                                        "apply)")
    a.add_argument("--digits", type=int, help="arithmetic: OOD operand length (default: one more than trained)")
    a.add_argument("--hook", help="hidden: hook point to read (default: the last block's hook_resid_post)")
    a.add_argument("--size", type=int, help="arithmetic: problems analysed (default 2000)")
    a.add_argument("--seed", type=int, help="arithmetic: seed of those problems (default 1234)")
    a.set_defaults(func=cmd_analyze)

    c = sub.add_parser("compare", help="several runs side by side: accuracy curves, examples to each accuracy, "
                                       "OOD tables")
    c.add_argument("runs", nargs="+", metavar="RUN")
    c.add_argument("--out", help="directory (default runs/compare-<names>)")
    c.set_defaults(func=cmd_compare)

    x = sub.add_parser("export", help="write a decoder run as a TransformerLens HookedTransformer")
    x.add_argument("run")
    x.add_argument("--to", required=True, choices=["transformer-lens"], help="target library")
    x.add_argument("--out", help="directory (default RUN/export/transformer-lens)")
    x.set_defaults(func=cmd_export)

    g = sub.add_parser("grid", help="one run per value of a config key, then a comparison table")
    g.add_argument("preset")
    g.add_argument("--vary", metavar="KEY=V1,V2,...", help="values to run (KEY=all: the task's list); without it, "
                                                          "--seeds N runs the preset over N seeds")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every point (repeatable)")
    g.add_argument("--out", help="grid directory (default runs/grid-<preset name>)")
    g.add_argument("--seeds", type=int, default=0, metavar="N", help="run every value with seeds 0..N-1 and add "
                                                                      "each value's median and range (seeds.md)")
    g.add_argument("--quiet", action="store_true")
    g.add_argument("--launcher", choices=["local", "slurm", "submitit-local"], default="local",
                   help="local: one point after the other here; slurm: one submitit job per point; "
                        "submitit-local: submitit's local executor (subprocesses here)")
    g.add_argument("--slurm", action="append", metavar="KEY=VALUE",
                   help="slurm job parameter, e.g. partition=gpu, gpus_per_node=1, timeout_min=720 (repeatable)")
    g.set_defaults(func=cmd_grid)

    i = sub.add_parser("import", help="a GPT trained elsewhere (minGPT, nanoGPT, Hugging Face GPT-2) as a run")
    i.add_argument("checkpoint", help="the checkpoint file (or a Hugging Face folder)")
    i.add_argument("--format", required=True, choices=["mingpt", "nanogpt", "hf-gpt2"])
    i.add_argument("--preset", required=True, help="the task and token format it was trained on")
    i.add_argument("--out", required=True, help="the new run directory")
    i.add_argument("--vocab", help="the checkpoint's tokens in id order, one character each or comma-separated "
                                   "(default: the preset's own order)")
    i.add_argument("--heads", type=int, help="attention heads, where the checkpoint does not say (minGPT)")
    i.add_argument("--set", action="append", metavar="KEY=VALUE", help="another config value the checkpoint "
                                                                       "does not say")
    i.set_defaults(func=cmd_import)

    dt = sub.add_parser("data", help="write a preset's problems to a file (.parquet, .jsonl, or LAWT .txt)")
    dt.add_argument("preset")
    dt.add_argument("--n", type=int, required=True, help="problems")
    dt.add_argument("--seed", type=int, default=0, help="the file's seed (the same seed, the same file)")
    dt.add_argument("--out", required=True, help="the file; its suffix says the format")
    dt.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    dt.add_argument("--quiet", action="store_true", help="no progress bar")
    dt.set_defaults(func=cmd_data)

    ps = sub.add_parser("presets", help="list the shipped experiments")
    ps.add_argument("--show", metavar="NAME", help="print one preset resolved: every setting, base and defaults "
                                                   "included (what a run's config.toml holds)")
    ps.set_defaults(func=cmd_presets)

    q = sub.add_parser("quickstart", help="train, evaluate and report the built-in default in a few minutes")
    q.add_argument("--out", default="runs/quickstart")
    q.add_argument("--set", action="append", metavar="KEY=VALUE")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_quickstart)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        if first_rank():  # under torchrun every rank meets the same mistake; one line says it
            print(f"mathlens: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        if first_rank():
            print("\nmathlens: interrupted; the checkpoint is saved, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
