"""Declared options: dataclass fields that carry their help text and allowed values, and the builder that
validates a dict against them (naming the field and what is allowed, suggesting the closest key).

A leaf module: config.py (the run's settings) and tasks/ (each task's options) both declare with ``opt`` and
build with ``build_dataclass``.

>>> from dataclasses import dataclass
>>> @dataclass
... class Size:
...     rows: int = opt(5, "matrix rows", min=1)
>>> build_dataclass(Size, {"rows": 3})
Size(rows=3)
>>> build_dataclass(Size, {"row": 3})
Traceback (most recent call last):
mathlens.errors.UserError: unknown config key row; did you mean rows? (allowed: rows)
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import field

from .errors import UserError


def opt(default, help: str, *, min=None, max=None, choices=None):
    """A documented config field with optional bounds or a list of allowed values."""
    meta = {"help": help, "min": min, "max": max, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _type_name(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
            dict: "a table"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value, tp, where: str):
    """value as type tp, or a UserError naming the field and the expected type."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for alt in typing.get_args(tp):
            try:
                return _coerce(value, alt, where)
            except UserError:
                pass
        raise UserError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is list:
        if isinstance(value, list):
            return value
    elif tp is dict:
        if isinstance(value, dict):
            return value
    raise UserError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _check_bounds(value, meta: dict, where: str):
    choices, lo, hi = meta.get("choices"), meta.get("min"), meta.get("max")
    for v in value if isinstance(value, list) and choices is not None else [value]:
        if choices is not None and v not in choices:
            raise UserError(f"{where}: {v!r} is not allowed; choose from {', '.join(map(str, choices))}")
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if lo is not None and v < lo:
                raise UserError(f"{where}: {v!r} is below the minimum {lo}")
            if hi is not None and v > hi:
                raise UserError(f"{where}: {v!r} is above the maximum {hi}")


def unknown_key(key: str, allowed, where: str) -> UserError:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)  # says the dotted key, unquoted
    hint = f"; did you mean {where + '.' if where else ''}{close[0]}?" if close else ""
    return UserError(f"unknown config key {where + '.' if where else ''}{key}{hint} "
                     f"(allowed: {', '.join(allowed)})")


def build_dataclass(cls, data: dict, prefix: str = ""):
    """Validate a dict against dataclass ``cls`` (recursively) and build it. Raises UserError."""
    if not isinstance(data, dict):
        raise UserError(f"{prefix or 'config'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise unknown_key(key, fields, prefix)
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        where = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build_dataclass(tp, data[name], where)
            continue
        value = _coerce(data[name], tp, where)
        _check_bounds(value, dict(f.metadata), where)
        kwargs[name] = value
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check:
        check(prefix)
    return obj
