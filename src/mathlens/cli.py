"""The ``mathlens`` command: train, eval, analyze, report, grid, presets, quickstart.

User mistakes end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import lock
from .api import first_rank, from_overrides, prepare_run, start_trainer, toml_value
from .errors import UserError


def cmd_train(args) -> int:
    from .training import distributed

    def say(line: str) -> None:  # under torchrun, rank 0 speaks for all
        if distributed.is_main():
            print(line)

    try:
        return _train(args, say)
    finally:
        distributed.stop()


def _train(args, say) -> int:
    overrides = from_overrides(args.from_run, args.set or [])
    if args.from_run and (Path(args.target) / "config.toml").exists():
        raise UserError(f"--from: {args.target} is an existing run (resumed as it is); --from starts a new run "
                        f"from a preset")
    cfg, run_dir, resuming = prepare_run(args.target, overrides, args.out)
    trainer = start_trainer(cfg, run_dir, args.quiet)
    full_batch = not hasattr(trainer, "examples")
    length = f"{trainer.step} steps" if full_batch else f"{trainer.examples} examples"
    if resuming and trainer.done:
        more = "train.max_steps" if full_batch else "train.max_examples"
        say(f"{run_dir}: already trained to {length} (raise it with --set {more}=N)")
        return 0
    if resuming:
        say(f"{run_dir}: resuming at step {trainer.step}" + ("" if full_batch else f" ({length})"))
    last = trainer.run()
    length = f"{trainer.step} steps" if full_batch else f"{trainer.examples} examples"
    shown = ("train_acc", "test_acc") if full_batch else tuple(k for k in last if k.startswith("acc"))
    say(f"{run_dir}: trained {length} in {trainer.train_time:.0f}s; "
        + ", ".join(f"{k} {last[k]:.3f}" for k in shown))
    return 0


def cmd_eval(args) -> int:
    from .evaluation.run_eval import eval_run, format_summary

    summary, path = eval_run(args.run, size=args.size, seed=args.seed, beam=args.beam,
                             batch_size=args.batch_size, ood=args.ood, digits=args.digits, checkpoint=args.checkpoint)
    print(format_summary(summary))
    print(f"{'table' if str(path).endswith('.md') else 'records'}: {path}")
    return 0


def cmd_report(args) -> int:
    from .report.html import write_report

    with lock.hold(args.run, "mathlens report"):
        print(f"report: {write_report(args.run)}")
    return 0


def cmd_analyze(args) -> int:
    from .api import analyze

    summary, lines = analyze(args.run, args.analysis, digits=args.digits, hook=args.hook, size=args.size,
                             seed=args.seed, describe=True)
    print("\n".join(lines))
    return 0


def cmd_compare(args) -> int:
    from .compare import compare

    markdown, out = compare(args.runs, args.out)
    print(markdown)
    print(f"tables and curves: {out}")
    return 0


def cmd_export(args) -> int:
    from .export import export_transformer_lens

    with lock.hold(args.run, "mathlens export"):
        path = export_transformer_lens(args.run, args.out)
    print(f"TransformerLens model: {path}")
    print(f"open it with: mathlens.export.load_hooked_transformer({str(path)!r})")
    return 0


def cmd_grid(args) -> int:
    from .grid import grid_values, point_done, point_name, point_row, submit_points, write_grid_table

    key, values = grid_values(args.preset, args.vary)
    options = dict(parse_slurm_option(o) for o in args.slurm or [])  # a bad one stops before anything runs
    grid_dir = Path(args.out or Path("runs") / f"grid-{Path(args.preset).name}")
    points, jobs = [], []
    for i, value in enumerate(values):
        point = grid_dir / point_name(i, value)
        overrides = [*(args.set or []), f"{key}={toml_value(value)}"]
        cfg, run_dir, _ = prepare_run(args.preset, overrides, str(point))  # validates every point up front
        points.append((run_dir, value))
        if args.launcher == "local":
            trainer = start_trainer(cfg, run_dir, args.quiet)
            if not trainer.done:
                print(f"[{i + 1}/{len(values)}] {key}={value}: training in {run_dir}", flush=True)
                trainer.run()
        elif not point_done(run_dir):
            jobs.append((args.preset, str(run_dir), overrides))
    if jobs:
        if args.launcher == "submitit-local":  # jobs share this machine's cores: never oversubscribe them
            threads = max(1, len(os.sched_getaffinity(0)) // len(jobs))
            jobs = [(preset, out, [*sets, f"train.threads={threads}"]) for preset, out, sets in jobs]
        print(f"{len(jobs)} point(s) submitted through submitit ({args.launcher}); waiting", flush=True)
        submit_points(jobs, grid_dir, args.launcher, options)
    rows = [point_row(run_dir, key, value) for run_dir, value in points]
    print(write_grid_table(grid_dir, rows))
    print(f"table: {grid_dir / 'comparison.csv'} and comparison.md")
    return 0


def parse_slurm_option(item: str) -> tuple[str, object]:
    """``--slurm partition=gpu`` -> ('slurm_partition', 'gpu'); submitit's own names (timeout_min,
    gpus_per_node, cpus_per_task, mem_gb, nodes) pass as they are."""
    from .config import parse_override

    if "=" not in item:
        raise UserError(f"--slurm {item!r}: expected KEY=VALUE, e.g. partition=gpu or timeout_min=720")
    key, value = parse_override(item)
    generic = {"timeout_min", "gpus_per_node", "cpus_per_task", "mem_gb", "nodes", "tasks_per_node", "name"}
    return (key if key in generic else f"slurm_{key}"), value


def cmd_presets(args) -> int:
    from .config import load_preset, preset_names

    names = preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {load_preset(name).get('description', '')}")
    return 0


def cmd_quickstart(args) -> int:
    from .evaluation.run_eval import eval_run, format_summary
    from .report.html import write_report

    cfg, run_dir, _ = prepare_run("quickstart", args.set or [], args.out)
    print(f"mathlens quickstart: {cfg.description}")
    trainer = start_trainer(cfg, run_dir, args.quiet)
    if not trainer.done:
        trainer.run()
    summary, records = eval_run(run_dir)
    print(format_summary(summary))
    print(f"records: {records}")
    print(f"report:  {write_report(run_dir)}")
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
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("report", help="write RUN/report.html: curves, accuracy table, examples")
    r.add_argument("run")
    r.set_defaults(func=cmd_report)

    from .analysis import REGISTRY

    a = sub.add_parser("analyze", help="look inside a trained run: " + "; ".join(
        f"{name}: {an.help}" for name, an in REGISTRY.items()))
    a.add_argument("run")
    a.add_argument("analysis", choices=list(REGISTRY), help="which analysis")
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
    g.add_argument("--vary", required=True, metavar="KEY=V1,V2,...", help="values to run (KEY=all: the task's list)")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every point (repeatable)")
    g.add_argument("--out", help="grid directory (default runs/grid-<preset name>)")
    g.add_argument("--quiet", action="store_true")
    g.add_argument("--launcher", choices=["local", "slurm", "submitit-local"], default="local",
                   help="local: one point after the other here; slurm: one submitit job per point; "
                        "submitit-local: submitit's local executor (subprocesses here)")
    g.add_argument("--slurm", action="append", metavar="KEY=VALUE",
                   help="slurm job parameter, e.g. partition=gpu, gpus_per_node=1, timeout_min=720 (repeatable)")
    g.set_defaults(func=cmd_grid)

    ps = sub.add_parser("presets", help="list the shipped experiments")
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
