"""`mathlens eval RUN`: a fresh seeded test set, decoded and verified; records saved as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path, write_json
from ..run import Run
from ..training.device import setup
from ..training.stream import build_test_set
from .evaluate import evaluate


def eval_run(path, size=None, seed=None, beam=1, batch_size=None):
    """Evaluate the run in ``path``; returns (summary dict, path of the records file)."""
    run = Run(path)
    cfg = run.cfg
    size = cfg.eval.size if size is None else size
    seed = cfg.eval.seed if seed is None else seed
    batch_size = batch_size or cfg.eval.batch_size
    for name, v, lo in (("--size", size, 1), ("--seed", seed, 0), ("--batch-size", batch_size, 1)):
        if v < lo:
            raise UserError(f"{name}: must be at least {lo}, got {v}")
    if beam != 1:
        raise UserError(f"--beam: only greedy decoding (--beam 1) is available so far, got {beam}")
    device, autocast = setup(cfg.train)
    model = run.model.to(device)
    batches = build_test_set(run.pipe.task, size, seed, batch_size)
    summary, records = evaluate(model, run.pipe, batches, device, autocast, records=True)
    summary.update(size=size, seed=seed, beam=beam)
    out = run.path / "eval" / f"test-n{size}-seed{seed}.parquet"
    with atomic_path(out) as tmp:
        records.to_parquet(tmp, index=False)
    write_json(out.with_suffix(".json"), summary)
    return summary, out


def format_summary(summary: dict) -> str:
    accs = [(k, v) for k, v in summary.items() if k.startswith("acc@")]
    head = "  ".join(f"{k:>9}" for k, _ in accs) + f"  {'invalid':>9}"
    row = "  ".join(f"{v:>9.2%}" for _, v in accs) + f"  {summary['invalid']:>9.2%}"
    return f"{summary['n']} test problems (seed {summary.get('seed')})\n{head}\n{row}"


def latest_summary(run: Run) -> dict | None:
    files = [f.with_suffix(".json") for f in run.eval_files()]
    files = [f for f in files if Path(f).exists()]
    return json.loads(files[-1].read_text()) if files else None
