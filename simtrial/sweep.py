"""Sweeps: one scenario file, many design points.

A scenario may list several values for any key; :func:`expand` turns the raw (TOML-shaped) data
into the grid of design points (the Cartesian product of the swept keys), each validated once by
:func:`simtrial.scenario.parse_scenario`. Two ways to write a sweep:

``[sweep]`` table (any key, including list-valued ones)::

    [sweep]
    "design.n_per_arm" = [20, 40, 80]        # dotted key (quoted) -> list of values
    population.preset = ["t1d", "t2d"]       # unquoted dotted keys work too (TOML nests them)
    "design.n_grid" = [[10, 20], [40, 80]]   # a list-valued key: each value is itself a list

    [[sweep.cases]]                          # optional: linked keys, one case per table
    "effect.population" = "T1DM"             # (cases are crossed with the grid above)
    [[sweep.cases]]
    "effect.population" = "all"
    "effect.discount" = 0.5

Inline, where the key takes a single value (a scalar key given a list) or a list (a list-valued key
given a list of lists)::

    [design]
    n_per_arm = [20, 40, 80]                 # n_per_arm takes a number, so this is a sweep
    n_grid = [[10, 20], [40, 80]]            # n_grid takes a list, so a list of lists is a sweep
    target_power = [0.8, 0.9]                # NOT a sweep: target_power takes a list

Inline sweeps are recognised only for the keys in :data:`INLINE_SCALAR` and :data:`INLINE_LIST`;
every other key (arrays of tables such as ``[[arms]]``, ``endpoint.responder``,
``effect.components``, sections added later) is swept through ``[sweep]`` only, so a list is never
silently reinterpreted. A swept value replaces the key's whole value; ``name`` and ``description``
cannot be swept.

Design points are named ``<name>/<key>=<value>,<key>=<value>`` in sweep order (keys shortened to
their last part where that is unambiguous), e.g. ``t1d_hba1c_12m/n_per_arm=20,preset=t1d``; a
scenario without a sweep is one design point named ``<name>``. Every design point keeps the
scenario's ``seed`` (sweep ``seed`` itself to get independent replicates), so the points share
random numbers (common random numbers): differences between points are not blurred by
independent Monte Carlo noise, e.g. power is (nearly) monotone along an ``n_per_arm`` sweep.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import fmt_value, ScenarioError
from .model.outcomes import OUTCOMES
from .model.presets import VARIABLES
from .scenario import parse_scenario, read_toml, Scenario

__all__ = ["DesignPoint", "count_points", "expand", "load_points", "sweep_axes", "value_text", "INLINE_SCALAR",
           "INLINE_LIST", "MAX_POINTS"]

MAX_POINTS = 100_000
_V = "|".join(VARIABLES)
_O = "|".join(OUTCOMES)
#: dotted keys that take one value: a list here is an inline sweep
INLINE_SCALAR = tuple(re.compile(p) for p in (
    r"seed", r"n_trials",
    r"population\.preset", rf"population\.({_V})\.(family|mean|sd|lower|upper|p)",
    r"population\.strata\.[^.]+", r"population\.correlation\.[^.]+",
    r"endpoint\.(outcome|visit_months|analysis|type|scale|hypothesis|margin|combine|missing"
    r"|imputations)",
    r"effect\.(source|population|row|md|distribution|se|i2|k|tau2|predictive_dist|discount"
    r"|sceptical_sd|family|mean|sd|df|after_last|half_life_months)", rf"effect\.outcomes\.({_O})",
    r"design\.(n_per_arm|allocation_ratio|alpha|sides|max_n_per_arm|target)",
    r"outcome_model\.(sd_change|rho|control_change|heterogeneity|effect_cv|responder_fraction"
    r"|modifier|modifier_slope|visit_correlation)",
    r"dropout\.(rate|mechanism|outcome|strength|intermittent)",
    r"multiplicity\.(method|within)", r"sequential\.(spending|gamma|binding)",
))
#: dotted keys that take a list: a list of lists here is an inline sweep
INLINE_LIST = tuple(re.compile(p) for p in (
    r"design\.(n_grid|target_power|visits)", r"dropout\.per_visit",
    r"sequential\.(fractions|futility)", rf"population\.criteria\.({_V}|insulin_dose)",
    rf"outcome_model\.({_O})\.(control_change|sd_change|rho)",
))
_NOT_SWEPT = ("name", "description")
_SWEEP_EXAMPLE = '[sweep] "design.n_per_arm" = [20, 40, 80]'
_FOLDER_OK = re.compile(r"[^A-Za-z0-9._,=+-]")


@dataclass(frozen=True)
class DesignPoint:
    """One validated design point of a batch.

    Attributes
    ----------
    id : str
        ``<name>`` or ``<name>/<key>=<value>,...`` (unique within a batch).
    folder : str
        Output folder relative to the batch folder (POSIX separators; ``id`` with characters
        outside ``A-Za-z0-9._,=+-`` replaced by ``_``).
    scenario : Scenario
        The resolved scenario of this point (name = the file's scenario name).
    values : tuple of (str, Any)
        The swept keys (dotted) and this point's values, in sweep order.
    source : str or None
        The scenario file.
    """

    id: str
    folder: str
    scenario: Scenario
    values: tuple[tuple[str, Any], ...] = ()
    source: str | None = None

    def value_text(self) -> dict[str, str]:
        """Swept key -> value as text (as in the batch table)."""
        return {k: value_text(v) for k, v in self.values}


def value_text(v: Any) -> str:
    """A swept value as compact text (TOML-like; strings unquoted at top level)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(value_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}={value_text(x)}" for k, x in v.items()) + "}"
    return str(v)


def _flatten(table: dict, prefix: str) -> list[tuple[str, Any]]:
    """Nested tables -> (dotted key, leaf value), in document order."""
    out = []
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.extend(_flatten(v, key))
        else:
            out.append((key, v))
    return out


def _matches(patterns, key: str) -> bool:
    return any(p.fullmatch(key) for p in patterns)


def _inline_axes(data: dict) -> list[tuple[str, list]]:
    """Inline sweeps: lists at scalar keys, lists of lists at list-valued keys."""
    axes = []

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, key)
            elif isinstance(v, list) and v:
                if _matches(INLINE_SCALAR, key) and not any(isinstance(x, (list, dict)) for x in v):
                    axes.append((key, list(v)))
                elif _matches(INLINE_LIST, key) and all(isinstance(x, list) for x in v):
                    axes.append((key, list(v)))

    walk({k: v for k, v in data.items() if k != "sweep"}, "")
    return axes


def _check_key(key: str, where: str) -> None:
    top = key.split(".")[0]
    if top in _NOT_SWEPT or top == "sweep":
        raise ScenarioError(f"scenario error: {where} cannot be swept (design points are named "
                            f"<name>/<key>=<value>); sweep any other scenario key "
                            f"(e.g. {_SWEEP_EXAMPLE})")


def _check_values(key: str, values: Any, where: str) -> list:
    if not isinstance(values, list):
        raise ScenarioError(f"scenario error: {where} = {fmt_value(values)} must be a list of the "
                            f"values to sweep (e.g. \"{key}\" = [{fmt_value(values)}, ...])")
    if not values:
        raise ScenarioError(f"scenario error: {where} = [] must list at least one value "
                            f"(e.g. {_SWEEP_EXAMPLE})")
    seen = set()
    for v in values:
        t = json.dumps(v, sort_keys=True, default=str)
        if t in seen:
            raise ScenarioError(f"scenario error: {where} = {fmt_value(values)} lists "
                                f"{fmt_value(v)} twice; each value makes one design point")
        seen.add(t)
    return values


def sweep_axes(data: dict) -> tuple[list[tuple[str, list]], list[dict[str, Any]]]:
    """The sweep of raw scenario data: grid axes ``[(dotted key, values)]`` (inline ones first,
    then ``[sweep]``) and the linked cases ``[{dotted key: value}]`` of ``[[sweep.cases]]``.

    Raises
    ------
    ScenarioError
        Malformed ``[sweep]``, a key swept twice, an empty or repeated list of values.
    """
    if not isinstance(data, dict):
        raise ScenarioError("scenario error: the scenario must be a TOML table")
    axes = _inline_axes(data)
    cases: list[dict[str, Any]] = []
    if "sweep" in data:
        sw = data["sweep"]
        if not isinstance(sw, dict) or not sw:
            raise ScenarioError(f"scenario error: sweep = {fmt_value(sw)} must be a table of "
                                f"dotted key = [values] (e.g. {_SWEEP_EXAMPLE})")
        for key, values in _flatten({k: v for k, v in sw.items() if k != "cases"}, ""):
            _check_key(key, f"sweep.{key}")
            axes.append((key, _check_values(key, values, f"sweep.{key}")))
        if "cases" in sw:
            raw = sw["cases"]
            ex = '[[sweep.cases]] "effect.population" = "T1DM"'
            if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
                raise ScenarioError(f"scenario error: sweep.cases = {fmt_value(raw)} must be a "
                                    f"list of tables of dotted key = value (e.g. {ex})")
            for i, c in enumerate(raw):
                flat = dict(_flatten(c, ""))
                if not flat:
                    raise ScenarioError(f"scenario error: sweep.cases[{i}] is empty; give at least "
                                        f"one dotted key = value (e.g. {ex})")
                for key in flat:
                    _check_key(key, f"sweep.cases[{i}].{key}")
                cases.append(flat)
            texts = [json.dumps(c, sort_keys=True, default=str) for c in cases]
            for i, t in enumerate(texts):
                if t in texts[:i]:
                    raise ScenarioError(f"scenario error: sweep.cases[{i}] repeats "
                                        f"sweep.cases[{texts.index(t)}]; each case makes one "
                                        "design point")
    seen: dict[str, str] = {}
    inline = {k for k, _ in _inline_axes(data)}
    for key, _ in axes:
        if key in seen:
            how = "inline and in [sweep]" if key in inline else "twice in [sweep]"
            raise ScenarioError(f"scenario error: {key} is swept {how}; give its values once")
        seen[key] = key
    for i, c in enumerate(cases):
        for key in c:
            if key in seen:
                raise ScenarioError(f"scenario error: sweep.cases[{i}].{key} is also a swept key; "
                                    "set it either in the cases or in the grid")
    for key, _ in axes:
        _prefix_clash(key, [k for k, _ in axes] + [k for c in cases for k in c])
    return axes, cases


def _prefix_clash(key: str, keys: list[str]) -> None:
    for other in keys:
        if other != key and other.startswith(key + "."):
            raise ScenarioError(f"scenario error: sweep keys {key} and {other} overlap (one is "
                                "inside the other); sweep one of them")


def _set(data: dict, key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    node = data
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            sub = ".".join(parts[:i + 1])
            kind = "a list of tables" if isinstance(nxt, list) else f"= {fmt_value(nxt)}"
            raise ScenarioError(f"scenario error: {where} cannot be set: {sub} is {kind}, not a "
                                f"table; sweep the whole {sub} (e.g. \"{sub}\" = [..., ...])")
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _short_names(keys: list[str]) -> dict[str, str]:
    """Last part of each dotted key, or the whole key where the last part is shared."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _folder(name: str, label: str | None) -> str:
    if label is None:
        return name
    part = _FOLDER_OK.sub("_", label)
    if len(part) > 120:   # file systems limit one name to 255 bytes
        part = part[:100] + "-" + hashlib.sha256(label.encode()).hexdigest()[:12]
    return f"{name}/{part}"


def expand(data: dict, origin: str | None = None) -> tuple[DesignPoint, ...]:
    """Expand raw scenario data into its design points, each validated.

    Parameters
    ----------
    data : dict
        TOML-shaped scenario, possibly with ``[sweep]`` or inline sweeps.
    origin : str, optional
        The file (default name, manifest, error messages).

    Returns
    -------
    tuple of DesignPoint
        In sweep order: the Cartesian product of the axes (first axis slowest), each crossed
        with the cases (last). A scenario without a sweep gives one point named after it.

    Raises
    ------
    ScenarioError
        A malformed sweep, or a design point that fails validation (the message names the file
        and the design point).
    """
    axes, cases = sweep_axes(data)
    base = {k: v for k, v in data.items() if k != "sweep"}
    where = f"{Path(origin).name}: " if origin else ""
    if not axes and not cases:
        try:
            sc = parse_scenario(base, origin=origin)
        except ScenarioError as exc:
            raise _in_point(exc, where, None) from None
        return (DesignPoint(sc.name, sc.name, sc, (), origin),)
    n = math.prod(len(v) for _, v in axes) * max(len(cases), 1)
    if n > MAX_POINTS:
        raise ScenarioError(f"scenario error: {where}the sweep gives {n:,} design points; at most "
                            f"{MAX_POINTS:,} per file (sweep fewer values)")
    short = _short_names([k for k, _ in axes] + list(dict.fromkeys(k for c in cases for k in c)))
    points = []
    seen_folders: dict[str, str] = {}
    for combo in itertools.product(*[[(k, v) for v in vs] for k, vs in axes],
                                   *([cases] if cases else [])):
        grid = [kv for kv in combo if isinstance(kv, tuple)]
        case = next((c for c in combo if isinstance(c, dict)), {})
        values = tuple(grid) + tuple(case.items())
        point = copy.deepcopy(base)
        for key, v in values:
            _set(point, key, v, f"sweep.{key}")
        label = ",".join(f"{short[k]}={value_text(v)}" for k, v in values)
        try:
            sc = parse_scenario(point, origin=origin)
        except ScenarioError as exc:
            name = point.get("name", Path(origin).stem if origin else "?")
            raise _in_point(exc, where, f"{name}/{label}") from None
        pid = f"{sc.name}/{label}"
        folder = _folder(sc.name, label)
        low = folder.lower()      # case-insensitive file systems
        if low in seen_folders:
            raise ScenarioError(f"scenario error: {where}design points {seen_folders[low]!r} and "
                                f"{pid!r} would share the output folder {folder!r}; make the swept "
                                "values differ by more than punctuation or case")
        seen_folders[low] = pid
        points.append(DesignPoint(pid, folder, sc, values, origin))
    return tuple(points)


def _in_point(exc: ScenarioError, where: str, pid: str | None) -> ScenarioError:
    msg = str(exc).splitlines()[0] if str(exc) else "invalid scenario"
    head = "scenario error: "
    ctx = where + (f"design point {pid}: " if pid else "")
    if not ctx:
        return exc
    body = msg[len(head):] if msg.startswith(head) else msg
    return ScenarioError(head + ctx + body)


def count_points(data: dict) -> int:
    """Design points of raw scenario data, counted without expanding or validating them
    (0 for a scenario that is not a sweep); a malformed sweep raises ScenarioError."""
    axes, cases = sweep_axes(data)
    if not axes and not cases:
        return 0
    return math.prod(len(v) for _, v in axes) * max(len(cases), 1)


def load_points(path: str | Path) -> tuple[DesignPoint, ...]:
    """Read a scenario or sweep file and expand it (:func:`expand`).

    Raises
    ------
    ScenarioError
        Missing or unreadable file, invalid TOML, malformed sweep, invalid design point.
    """
    return expand(read_toml(path), origin=str(Path(path)))
