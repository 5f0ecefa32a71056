"""Activations by name, TransformerLens's ``run_with_cache`` idea: hook the named points, run, read the cache.

>>> with capture(model, ["blocks.0.hook_resid_post"]) as cache:      # doctest: +SKIP
...     model(tokens)
>>> cache["blocks.0.hook_resid_post"].shape                          # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import UserError
from .layers import HookPoint


def hook_points(model) -> dict[str, HookPoint]:
    """Every hook point of ``model`` by its module path (``decoder.blocks.0.cross_attn.hook_pattern``)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, HookPoint)}


@contextmanager
def capture(model, names: list[str], where: str = "hook"):
    """Record the activation at each of ``names`` while the ``with`` block runs the model; yields a dict that
    holds, after each forward pass, the newest activation of every name. The hooks are removed on exit, whatever
    happens. A name that is not a hook point is a one-line UserError naming ``where`` (the option it came from)
    and the points there are."""
    points = hook_points(model)
    missing = [n for n in names if n not in points]
    if missing:
        shown = ", ".join(n for n in points if "blocks.0." in n or "blocks." not in n)
        raise UserError(f"{where}: {missing[0]!r} is not a hook point of this model; the first block's and the "
                        f"others: {shown} (and the same for every block)")
    cache: dict = {}
    handles = [points[n].register_forward_hook(lambda m, i, o, n=n: cache.__setitem__(n, o)) for n in names]
    try:
        yield cache
    finally:
        for h in handles:
            h.remove()
