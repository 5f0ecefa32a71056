"""The library API, and the run lifecycle under `mathlens train|eval|analyze`: the command line is a thin layer
over these functions.

>>> import mathlens
>>> run = mathlens.train("quickstart", out="runs/q", **{"train.max_examples": 3200})   # doctest: +SKIP
>>> summary, records = mathlens.evaluate(run, size=500)                               # doctest: +SKIP
>>> result = mathlens.analyze(run, "failures")                                          # doctest: +SKIP

Overrides are the `--set` keys with Python values (``**{"optim.lr": 3e-4}``, or ``optim__lr=3e-4``).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

from . import analysis, distributed, lock
from .analysis.base import Result, save_result
from .config import resolve, resumed
from .errors import UserError
from .families import family_of
from .io import write_text
from .report.figures import save_figures
from .report.html import write_report
from .run import Run
from .rundir import ANALYSIS, CONFIG, IMPORTED


def prepare_run(target: str, overrides: list[str], out: str | None):
    """(config, run dir, resuming?) for ``mathlens train TARGET``; TARGET is a preset or a run directory.

    Nothing is written here: the caller saves the config once the run (and its checkpoint) has loaded.
    """
    if (Path(target) / IMPORTED).exists():
        raise UserError(f"{target}: imported by `mathlens import`, for eval, analyze and report; to train on from its "
                        f"weights start a new run: mathlens train PRESET --from {target}")
    if (Path(target) / CONFIG).exists():
        run = Run(target)
        return resumed(run.cfg, overrides), run.path, True
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


@contextmanager
def training(cfg, run_dir: Path, quiet: bool):
    """The run's trainer (its checkpoint loaded, the config it runs with saved), holding the run's writer lock
    until the ``with`` block ends: ``with training(cfg, run_dir, quiet) as trainer: trainer.run()``."""
    family = family_of(cfg)
    if distributed.launched() and not family.distributed:
        raise UserError(f"task.name: {cfg.task['name']} trains on its whole dataset at every step, in one "
                        f"process; run it without torchrun")
    # rank 0 writes for all (asked of the environment: the process group starts inside the trainer)
    with lock.hold(run_dir, "mathlens train", create=True) if first_rank() else nullcontext():
        trainer = family.trainer(cfg, run_dir, quiet=quiet)
        if distributed.is_main():
            write_text(Path(run_dir) / CONFIG, cfg.to_toml())
        yield trainer


def first_rank() -> bool:
    """Rank 0 of a torchrun launch (or a plain process), from the environment: true before any process group."""
    return os.environ.get("RANK", "0") == "0"


def from_overrides(source: str | None, overrides: list[str]) -> list[str]:
    """``--from RUN``: start from every part of RUN's weights (unless --set train.init_parts says which)."""
    if not source:
        return overrides
    Run(source)  # a clear error now if it is not a run
    parts = [] if any(o.strip().startswith("train.init_parts") for o in overrides) else \
        ['train.init_parts=["embed", "pos", "blocks", "unembed"]']
    return [f"train.init_from={toml_value(source)}", *parts, *overrides]


def toml_value(value) -> str:
    """A value as TOML text for --set (strings quoted, so that '2x+y' stays a string)."""
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else str(value)



def overrides_of(options: dict) -> list[str]:
    """{"train.max_examples": 3200, "optim__lr": 3e-4} -> ["train.max_examples=3200", "optim.lr=0.0003"]."""
    return [f"{key.replace('__', '.')}={toml_value(value)}" for key, value in options.items()]


def train(target: str, out: str | None = None, *, from_run: str | None = None, quiet: bool = True,
          overrides: list[str] = (), say=None, **options) -> Run:
    """Train (or resume) a run, as `mathlens train TARGET [--from RUN] [--out OUT] [--set KEY=VALUE]...`.

    target: a preset name or an existing run directory; overrides: ``--set`` strings ("optim.lr=3e-4");
    options: more overrides as Python values; say: a function that gets the command's lines (resuming,
    trained, already done), or None. Returns the Run.
    """
    say = say or (lambda line: None)
    overrides = from_overrides(from_run, [*overrides, *overrides_of(options)])
    if from_run and (Path(target) / CONFIG).exists():
        raise UserError(f"--from: {target} is an existing run (resumed as it is); --from starts a new run "
                        f"from a preset")
    cfg, run_dir, resuming = prepare_run(target, overrides, out)
    with training(cfg, run_dir, quiet) as trainer:
        unit = trainer.pipe.progress  # examples (streamed batches) or steps (full batch)
        if trainer.done:
            if resuming:
                say(f"{run_dir}: already trained to {length(trainer)} (raise it with --set train.max_{unit}=N)")
            return Run(run_dir)
        if resuming:
            say(f"{run_dir}: resuming at step {trainer.step}" + (f" ({length(trainer)})" if unit != "steps" else ""))
        last = trainer.run()
    say(f"{run_dir}: trained {length(trainer)} in {trainer.train_time:.0f}s; "
        + ", ".join(f"{k} {last[k]:.3f}" for k in family_of(cfg).shown(last)))
    return Run(run_dir)


def length(trainer) -> str:
    """How far ``trainer`` has trained: '3200 examples' or '1500 steps'."""
    unit = trainer.pipe.progress
    return f"{trainer.examples if unit == 'examples' else trainer.step} {unit}"


def as_run(run, checkpoint: str = "latest") -> Run:
    """A Run from a Run or a path."""
    return run if isinstance(run, Run) and run.checkpoint == checkpoint else Run(getattr(run, "path", run), checkpoint)


def evaluate(run, checkpoint: str = "latest", **options) -> tuple[dict, Path]:
    """`mathlens eval RUN` from Python: (summary, path of the records or table). ``checkpoint``: "latest" or
    "best"; options: size, seed, beam, batch_size, ood, digits, data, constrained (those that apply to the run's
    family). Holds the run's writer lock."""
    run = as_run(run, checkpoint)
    with lock.hold(run.path, "mathlens eval"):
        return family_of(run).evaluate(run, **options)


def analyze(run, name: str, **options) -> Result:
    """`mathlens analyze RUN NAME` from Python: the analysis's :class:`~mathlens.analysis.base.Result`, also
    saved (summary.json, tables, figures) in RUN/analysis/NAME. Holds the run's writer lock while it writes."""
    run = as_run(run)
    chosen, family = analysis.get(name), family_of(run)
    if name not in family.analyses:
        raise UserError(f"analyze {name}: {run.path} {chosen.applies(run)} (this run's: {', '.join(family.analyses)})")
    with lock.hold(run.path, f"mathlens analyze {name}"):
        result = chosen(run, **options)
        out = run.path / ANALYSIS / name
        save_result(result, out)
        save_figures(name, result, out)
    return result


def report(run) -> Path:
    """`mathlens report RUN`: the analyses the run's family shows in its report (when the run has weights),
    then RUN/report.html from what is on disk. Returns the page's path."""
    run = as_run(run)
    family = family_of(run)
    if run.has_checkpoint():
        for name in family.report_analyses:
            analyze(run, name)
    with lock.hold(run.path, "mathlens report"):
        return write_report(run, family.setting, family.sections)
