"""The ``mathlens`` command: train, eval, analyze, report, grid, presets, quickstart.

User mistakes end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import lock
from .errors import UserError

RESUME_MAY_CHANGE = {"train.max_examples", "train.eval_every", "train.log_every", "train.threads", "train.device",
                     "train.max_steps", "train.stop_acc", "train.stop_patience", "train.measure_every",
                     "train.overlap", "train.compile", "train.max_seconds",
                     "description"}


def _flat(d: dict, prefix="") -> dict:
    """{'train': {'lr': 1}} -> {'train.lr': 1}"""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def prepare_run(target: str, overrides: list[str], out: str | None):
    """(config, run dir, resuming?) for ``mathlens train TARGET``; TARGET is a preset or a run directory.

    Nothing is written here: the caller saves the config once the run (and its checkpoint) has loaded.
    """
    from .config import apply_overrides, config_from_dict, resolve
    from .run import CONFIG, Run

    if (Path(target) / CONFIG).exists():
        run = Run(target)
        old = run.cfg.to_dict()
        cfg = config_from_dict(apply_overrides(old, overrides))
        before = _flat(old)
        changed = {k for k, v in _flat(cfg.to_dict()).items() if before.get(k) != v}
        if changed - RESUME_MAY_CHANGE:
            bad = sorted(changed - RESUME_MAY_CHANGE)[0]
            raise UserError(f"--set {bad}: cannot change an existing run's {bad}; "
                            f"only {', '.join(sorted(RESUME_MAY_CHANGE))} may change on resume")
        return cfg, run.path, True
    if out is None and ("/" in target or target.startswith(".")) and Path(target).exists():
        raise UserError(f"{target}: not a run directory (no {CONFIG}) and not a preset")
    cfg = resolve(target, overrides)
    run_dir = Path(out) if out else Path("runs") / Path(target).name
    if (run_dir / CONFIG).exists():
        existing = Run(run_dir).cfg
        if existing.to_dict() != cfg.to_dict():
            raise UserError(f"--out {run_dir}: holds a run with another config; choose a new --out, "
                            f"or resume it with `mathlens train {run_dir}`")
        return cfg, run_dir, True
    return cfg, run_dir, False


def start_trainer(cfg, run_dir: Path, quiet: bool):
    """Build the trainer (loading any checkpoint), then save the config it runs with."""
    from .io import write_text
    from .run import CONFIG
    from .tasks import task_class
    from .training import distributed

    if task_class(cfg.task["name"]).full_batch:
        if distributed.launched():
            raise UserError(f"task.name: {cfg.task['name']} trains on its whole dataset at every step, in one "
                            f"process; run it without torchrun")
        from .training.full_batch import FullBatchTrainer as Trainer
    else:
        from .training.trainer import Trainer
    # rank 0 writes for all (asked of the environment: the process group starts inside the trainer)
    key = lock.acquire(run_dir, "mathlens train", create=True) if _first_rank() else None
    try:
        trainer = Trainer(cfg, run_dir, quiet=quiet)
        if distributed.is_main():
            write_text(Path(run_dir) / CONFIG, cfg.to_toml())
    except BaseException:
        lock.release(key)
        raise
    trainer.lock_key = key  # released when its run() ends
    return trainer


def from_overrides(source: str | None, overrides: list[str]) -> list[str]:
    """``--from RUN``: start from every part of RUN's weights (unless --set train.init_parts says which)."""
    if not source:
        return overrides
    from .run import Run

    Run(source)  # a clear error now if it is not a run
    parts = [] if any(o.strip().startswith("train.init_parts") for o in overrides) else \
        ['train.init_parts=["embed", "pos", "blocks", "unembed"]']
    return [f"train.init_from={_toml(source)}", *parts, *overrides]


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
    from .run import Run

    run = Run(args.run)
    with lock.hold(run.path, f"mathlens analyze {args.analysis}"):
        return _analyze(run, args)


def _analyze(run, args) -> int:
    if args.analysis in ("equivalence", "hidden"):
        return analyze_arithmetic(run, args)
    if args.hook or args.digits:
        raise UserError(f"analyze {args.analysis}: --hook and --digits are for the arithmetic analyses")
    if args.analysis == "failures":
        return analyze_failures(run)
    if args.analysis == "fourier":
        if not run.full_batch:
            raise UserError(f"analyze fourier: {run.path} trains task {run.task.name!r}; the Fourier analysis "
                            f"is for modular arithmetic runs")
        from .analysis.grokking import analyze_fourier

        result = analyze_fourier(run)
        final = result["final"]
        print(f"{run.path}: (x op y) mod {result['p']}, formula {result['formula']}")
        for k in ("steps", "steps_to_train_99", "steps_to_test_99", "train_acc", "test_acc"):
            v = result.get(k)
            print(f"  {k:<22} {'not reached' if v is None else (f'{v:.4f}' if isinstance(v, float) else v)}")
        print(f"  final model (eps {final['eps']}):")
        for k, v in final.items():
            if k != "eps":
                print(f"    {k:<20} {f'{v:.4g}' if isinstance(v, float) else v}")
        print(f"figures and summary.json: {run.path / 'analysis' / 'fourier'}")
    return 0


def analyze_failures(run) -> int:
    """`analyze RUN failures`: what wrong predictions keep and which problems fail, printed and saved."""
    import pandas as pd

    from .analysis.failures import failures_report

    s = failures_report(run)
    print(f"{run.path}: {s['records']} evaluation records; right = {s['correct']}")
    print("retained properties (share of all predictions / of wrong ones that keep each):")
    print(pd.DataFrame(s["retained"]).to_markdown(index=False, floatfmt=".2%"))
    p = s["predictor"]
    if "error" in p:
        print(f"failure predictor: {p['error']}")
    else:
        for name in ("logistic", "boosting"):
            m = p[name]
            print(f"failure predictor, {name}: accuracy {m['accuracy']:.1%} (majority {p['majority']:.1%}), "
                  f"AUC {m['auc']:.3f}; top features: {', '.join(m['top_features'])}")
    t = s["threshold"]
    if t["feature"]:
        print(f"best single threshold: right when {t['feature']} is {t['right_when']} {t['threshold']:.4g} "
              f"({t['right_on_their_side']:.1%} of right and {t['wrong_on_their_side']:.1%} of wrong predictions "
              f"on their side)")
    print(f"tables, figures and summary.json: {run.path / 'analysis' / 'failures'}")
    return 0


def analyze_arithmetic(run, args) -> int:
    """`analyze RUN equivalence|hidden` on an arithmetic run: print the findings, say where the files are."""
    if run.task.pipeline != "digits":
        raise UserError(f"analyze {args.analysis}: {run.path} trains task {run.task.name!r}; this analysis is for "
                        f"arithmetic runs")
    k = run.task.options.digits
    digits = args.digits or k + 1
    if not k < digits <= run.task.max_digits:
        raise UserError(f"--digits: {digits} is not an out-of-distribution length this run holds; choose from "
                        f"{k + 1}..{run.task.max_digits}")
    if args.size < 10:
        raise UserError(f"--size: at least 10 problems, got {args.size}")
    if args.analysis == "equivalence":
        from .analysis.equivalence import equivalence_report

        s = equivalence_report(run, digits, args.size, args.seed)
        print(f"{run.path}: {args.size} problems with {digits}-digit operands (trained on up to {k}); "
              f"exact accuracy {s['exact_accuracy']:.2%}")
        import pandas as pd

        print(pd.DataFrame(s["relations"]).head(8).to_markdown(index=False, floatfmt=".4f"))
        print(f"best relation: {s['best_relation']} explains {s['best_share']:.2%} of the answers; the model's "
              f"answer equals its answer on the reduced twin for {s['twin_agreement']:.2%}")
        print(f"table, figures and summary.json: {run.path / 'analysis' / 'equivalence'}")
        return 0
    from .analysis.hidden import hidden_report

    s = hidden_report(run, args.hook, digits, args.size, args.seed)
    ev = s["pca_explained"]
    print(f"{run.path}: {s['hook']} at the last prompt position, {args.size} problems")
    print(f"  PCA: top 4 components explain {s['pca_top4_explained']:.1%} (" + ", ".join(f"{v:.1%}" for v in ev[:4])
          + ")")
    lp, cp = s["last_digit_probe"], s["carry_probe"]
    print(f"  last digit of the answer: nearest centroid {lp['nearest_centroid']:.1%} (top 3 PCs "
          f"{lp['nearest_centroid_pca3']:.1%}), linear probe {lp['linear']:.1%}")
    print(f"  units carry: nearest centroid {cp['nearest_centroid']:.1%}, linear probe {cp['linear']:.1%} "
          f"(majority class {cp['majority']:.1%})")
    print(f"  {digits}-digit inputs: median relative distance to the reduced twin {s['twin_distance_median']:.3f}, "
          f"to a random in-distribution input {s['random_distance_median']:.3f}")
    print(f"figure and summary.json: {run.path / 'analysis' / 'hidden'}")
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
    from .grid import grid_values, point_done, point_name, point_row, submit_points, write_table

    key, values = grid_values(args.preset, args.vary)
    options = dict(parse_slurm_option(o) for o in args.slurm or [])  # a bad one stops before anything runs
    grid_dir = Path(args.out or Path("runs") / f"grid-{Path(args.preset).name}")
    points, jobs = [], []
    for i, value in enumerate(values):
        point = grid_dir / point_name(i, value)
        overrides = [*(args.set or []), f"{key}={_toml(value)}"]
        cfg, run_dir, _ = prepare_run(args.preset, overrides, str(point))  # validates every point up front
        points.append((run_dir, value))
        if args.launcher == "local":
            trainer = start_trainer(cfg, run_dir, args.quiet)
            if not trainer.done:
                print(f"[{i + 1}/{len(values)}] {key}={value}: training in {run_dir}", flush=True)
                trainer.run()
        elif not point_done(run_dir):
            jobs.append(["train", args.preset, "--out", str(run_dir), "--quiet",
                         *[x for o in overrides for x in ("--set", o)]])
    if jobs:
        if args.launcher == "submitit-local":  # jobs share this machine's cores: never oversubscribe them
            import os

            threads = max(1, len(os.sched_getaffinity(0)) // len(jobs))
            jobs = [argv + ["--set", f"train.threads={threads}"] for argv in jobs]
        print(f"{len(jobs)} point(s) submitted through submitit ({args.launcher}); waiting", flush=True)
        submit_points(jobs, grid_dir, args.launcher, options)
    rows = [point_row(run_dir, key, value) for run_dir, value in points]
    print(write_table(grid_dir, rows))
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


def _toml(value) -> str:
    """A value as TOML text for --set (strings quoted, so that '2x+y' stays a string)."""
    import json

    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else str(value)


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

    a = sub.add_parser("analyze", help="look inside a trained run (failures: any evaluated run; fourier: modular "
                                       "arithmetic; equivalence, hidden: arithmetic)")
    a.add_argument("run")
    a.add_argument("analysis", choices=["fourier", "equivalence", "hidden", "failures"], help="which analysis")
    a.add_argument("--digits", type=int, help="arithmetic: OOD operand length (default: one more than trained)")
    a.add_argument("--hook", help="hidden: hook point to read (default: the last block's hook_resid_post)")
    a.add_argument("--size", type=int, default=2000, help="arithmetic: problems analysed (default 2000)")
    a.add_argument("--seed", type=int, default=1234, help="arithmetic: seed of those problems")
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
        if _first_rank():  # under torchrun every rank meets the same mistake; one line says it
            print(f"mathlens: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        if _first_rank():
            print("\nmathlens: interrupted; the checkpoint is saved, run the same command to resume", file=sys.stderr)
        return 130


def _first_rank() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


if __name__ == "__main__":
    sys.exit(main())
