"""Number encodings, reachable by name: ``mathlens.encodings.get("P1000")``.

A new encoding is one file with an :class:`Encoding` subclass plus one line in ``REGISTRY``.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import UserError, did_you_mean
from .base import PAD, Encoding
from .floats import B1999, FP15, Positional
from .integers import IntBase
from .xval import XVal

REGISTRY = {
    "P10": lambda **kw: Positional(10, **kw),
    "P1000": lambda **kw: Positional(1000, **kw),
    "B1999": lambda **kw: B1999(**kw),
    "FP15": lambda **kw: FP15(**kw),
    "xval": lambda **kw: XVal(**kw),  # input only: one [NUM] token scaled by the value
    "int": lambda base=10, **kw: IntBase(base, **kw),
    "int10": lambda **kw: IntBase(10, **kw),
    "int1000": lambda **kw: IntBase(1000, **kw),
}


@lru_cache(maxsize=None)
def _build(name: str, options: tuple) -> Encoding:
    return REGISTRY[name](**dict(options))


def get(name: str, **options) -> Encoding:
    """The encoding called ``name`` (one of ``REGISTRY``), built once and cached.

    >>> get("P10").tokens(3.14)
    ['+', '3', '1', '4', 'E-2']
    """
    if name not in REGISTRY:
        raise UserError(f"unknown encoding {name!r}{did_you_mean(name, REGISTRY)}; choose from {', '.join(REGISTRY)}")
    return _build(name, tuple(sorted(options.items())))


__all__ = ["Encoding", "PAD", "REGISTRY", "get"]
