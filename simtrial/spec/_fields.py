"""Validation primitives shared by the spec sections, and the house one-line message format.

Every failure is a :class:`~simtrial.errors.ScenarioError` with one line: key path, value, rule and
an example, e.g. ``scenario error: design.allocation_ratio = -1.0 must be > 0 (e.g.
allocation_ratio = 1.0)``. Unknown keys are errors with a "did you mean" hint.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from ..errors import ScenarioError, fmt_value

REQUIRED = object()
"""Sentinel default: the key must be given."""


def err(path: str, value: Any, rule: str, example: str | None = None) -> ScenarioError:
    msg = f"scenario error: {path} = {fmt_value(value)} {rule}"
    if example:
        msg += f" (e.g. {example})"
    return ScenarioError(msg)


def check_keys(table: dict, path: str, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            did = f" (did you mean {hint[0]}?)" if hint else ""
            raise ScenarioError(
                f"scenario error: {where} is not a known key{did}; allowed here: "
                f"{', '.join(allowed)}")


def table(data: dict, key: str, path: str, required: bool = False) -> dict:
    where = f"{path}.{key}" if path else key
    if key not in data:
        if required:
            raise ScenarioError(f"scenario error: [{where}] table is required")
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise err(where, value, "must be a table", f"[{where}] ...")
    return value


def get(table: dict, key: str, path: str, default: Any) -> Any:
    if key in table:
        return table[key]
    if default is REQUIRED:
        raise ScenarioError(f"scenario error: {path}.{key} is required".replace("scenario error: .",
                                                                               "scenario error: "))
    return default


def keypath(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def integer(table: dict, key: str, path: str, default: Any = REQUIRED, lo: int | None = None,
         hi: int | None = None, example: str | None = None) -> Any:
    v = get(table, key, path, default)
    if v is default and default is not REQUIRED:
        return v
    ex = example or f"{key} = {lo if lo is not None else 1}"
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise err(keypath(path, key), v, "must be an integer", ex)
    if lo is not None and v < lo:
        raise err(keypath(path, key), v, f"must be >= {lo}", ex)
    if hi is not None and v > hi:
        raise err(keypath(path, key), v, f"must be <= {hi}", ex)
    return v


def number(table: dict, key: str, path: str, default: Any = REQUIRED, *, gt: float | None = None,
           ge: float | None = None, lt: float | None = None, le: float | None = None,
           example: str | None = None, value: Any = REQUIRED) -> Any:
    v = get(table, key, path, default) if value is REQUIRED else value
    if value is REQUIRED and v is default and default is not REQUIRED:
        return v
    ex = example or f"{key} = 1.0"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise err(keypath(path, key), v, "must be a number", ex)
    v = float(v)
    if math.isnan(v):
        raise err(keypath(path, key), v, "must be a number, not nan", ex)
    if gt is not None and not v > gt:
        raise err(keypath(path, key), v, f"must be > {gt:g}", ex)
    if ge is not None and not v >= ge:
        raise err(keypath(path, key), v, f"must be >= {ge:g}", ex)
    if lt is not None and not v < lt:
        raise err(keypath(path, key), v, f"must be < {lt:g}", ex)
    if le is not None and not v <= le:
        raise err(keypath(path, key), v, f"must be <= {le:g}", ex)
    if math.isinf(v) and (gt is not None or lt is not None or ge is not None or le is not None):
        raise err(keypath(path, key), v, "must be finite", ex)
    return v


def choice(table: dict, key: str, path: str, choices: tuple, default: Any = REQUIRED) -> Any:
    if key not in table and default is REQUIRED:
        raise ScenarioError(
            f"scenario error: {keypath(path, key)} is required (one of {', '.join(map(str, choices))})")
    v = table.get(key, default)
    if v not in choices or isinstance(v, bool):
        allowed = " | ".join(fmt_value(c) for c in choices)
        hint = ""
        if isinstance(v, str):
            lowered = {str(c).lower(): c for c in choices}
            m = difflib.get_close_matches(v.lower(), list(lowered), n=1, cutoff=0.6)
            hint = f"; did you mean {fmt_value(lowered[m[0]])}?" if m else ""
        raise err(keypath(path, key), v, f"must be one of {allowed}{hint}",
                   f"{key} = {fmt_value(choices[0])}")
    return v


def number_list(v: Any, path: str, length: int | None, example: str, **bounds: float
                ) -> tuple[float, ...]:
    if not isinstance(v, list) or (length is not None and len(v) != length):
        n = f"{length} numbers" if length is not None else "a list of numbers"
        raise err(path, v, f"must be {n}", example)
    return tuple(number({}, f"{path}[{i}]", "", value=x, example=example, **bounds)
                 for i, x in enumerate(v))

