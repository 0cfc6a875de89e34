"""The scenario key reference (``docs/scenario-keys.md``), generated from the declarations.

Regenerate with ``python -m simtrial.spec.docs`` (writes ``docs/scenario-keys.md``; ``--check``
exits 1 if the file differs). A test keeps the committed file equal to :func:`key_reference`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from pathlib import Path
from typing import Any

from ..errors import fmt_value
from ._fields import bounds_of, choices_of, field_info, toml_keys
from .adaptive import AdaptiveConfig
from .bayes import BayesConfig, StudyRow
from .conduct import ConductConfig, ManufacturingConfig, RegimenConfig
from .safety import MonitoringConfig, SafetyConfig
from .scenario import (ArmConfig, DesignConfig, DropoutConfig, EffectConfig, EndpointConfig,
                       MultiplicityConfig, OutcomeModelConfig, PopulationConfig, Scenario,
                       SequentialConfig)

__all__ = ["key_reference", "main"]

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "scenario-keys.md"

SECTIONS: tuple[tuple[str, type, str], ...] = (
    ("", Scenario, "top level"),
    ("population", PopulationConfig, "[population]"),
    ("endpoint", EndpointConfig, "[endpoint] (and each [[endpoints]] table)"),
    ("effect", EffectConfig, "[effect]"),
    ("design", DesignConfig, "[design]"),
    ("outcome_model", OutcomeModelConfig, "[outcome_model]"),
    ("arms[]", ArmConfig, "[[arms]]"),
    ("dropout", DropoutConfig, "[dropout]"),
    ("multiplicity", MultiplicityConfig, "[multiplicity]"),
    ("sequential", SequentialConfig, "[sequential]"),
    ("conduct", ConductConfig, "[conduct]"),
    ("conduct.manufacturing", ManufacturingConfig, "[conduct.manufacturing]"),
    ("conduct.regimen", RegimenConfig, "[conduct.regimen]"),
    ("safety[]", SafetyConfig, "[[safety]]"),
    ("safety[].monitoring", MonitoringConfig, "[safety.monitoring] (after its [[safety]] table)"),
    ("bayes", BayesConfig, "[bayes]"),
    ("bayes.studies[]", StudyRow, "[[bayes.studies]]"),
    ("adaptive", AdaptiveConfig, "[adaptive]"),
)
# attributes whose TOML form is a family of keys, and keys with no attribute of their own
_PATTERN_KEYS = {"marginals": "<variable>", "per_outcome": "<outcome>"}
_KEY_ONLY = {("sequential", "looks"): ("integer", ">= 1, <= 10", "—", "looks = 2",
                                       "equally spaced looks (instead of fractions)")}


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) \
            and len(args) == 1:
        return args[0]
    return tp


def _is_section(tp: Any) -> bool:
    tp = _strip_optional(tp)
    if typing.get_origin(tp) is tuple:
        tp = typing.get_args(tp)[0]
    return dataclasses.is_dataclass(tp)


def _type_text(info: Any) -> str:
    if choices_of(info):
        return "choice"
    tp = _strip_optional(info.annotation)
    if typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    origin = typing.get_origin(tp)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if typing.get_origin(inner) is typing.Annotated:
            inner = inner.__origin__
        if dataclasses.is_dataclass(inner) or typing.get_origin(inner) is tuple:
            return "array of tables"
        name = {int: "integers", float: "numbers"}.get(inner, "values")
        return f"list of {name}"
    if origin is dict:
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {int: "integer", float: "number", str: "string", bool: "boolean"}.get(tp, str(tp))


def _allowed(info: Any) -> str:
    ch = choices_of(info)
    if ch:
        return " | ".join(fmt_value(c) for c in ch)
    ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    b = bounds_of(info)
    return ", ".join(f"{ops[k]} {v:g}" if isinstance(v, float) else f"{ops[k]} {v}"
                     for k, v in b.items())


def _default(info: Any) -> str:
    shown = (info.json_schema_extra or {}).get("shown_default")
    if shown is not None:
        return shown
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        v = info.default_factory()
        return "—" if not v or dataclasses.is_dataclass(v) else fmt_value(v)
    v = info.default
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return fmt_value(v)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text else ""


def key_reference() -> str:
    """Markdown: every scenario key with path, type, bounds/choices, default, example, doc."""
    lines = ["# Scenario keys", "",
             "Generated from the declarations in `simtrial/spec` by `python -m simtrial.spec.docs`;"
             " do not edit by hand (a test checks it).", "",
             "Defaults in brackets in the descriptions depend on other keys. Every bad value is a "
             "one-line `scenario error: <key path> = <value> <rule> (e.g. <example>)`; rules that "
             "link keys (\"only used with\", \"required when\") are listed by `simtrial validate`"
             " when broken.", ""]
    for prefix, cls, title in SECTIONS:
        lines += [f"## {title}", ""]
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        if prefix:
            lines += [doc, ""]
        lines += ["| key | type | allowed | default | example | description |",
                  "|---|---|---|---|---|---|"]
        for name in toml_keys(cls) + tuple(n for n in _PATTERN_KEYS if field_info(cls, n)):
            info = field_info(cls, name)
            path = f"{prefix}.{name}" if prefix else name
            if (prefix, name) in _KEY_ONLY:
                t, allowed, default, ex, d = _KEY_ONLY[(prefix, name)]
                lines.append(f"| `{path}` | {t} | {allowed} | {default} | `{ex}` | {d} |")
                continue
            if info is None:
                continue                       # a family of keys documented by its pattern row
            if name in _PATTERN_KEYS:
                path = f"{prefix}.{_PATTERN_KEYS[name]}"
            if _is_section(info.annotation):
                continue                       # a table of its own: see its section
            extra = info.json_schema_extra or {}
            ex = extra.get("example")
            lines.append(f"| `{path}` | {_type_text(info)} | {_cell(_allowed(info))} | "
                         f"{_cell(_default(info))} | {f'`{ex}`' if ex else ''} | "
                         f"{_cell(info.description)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write ``docs/scenario-keys.md`` (``--check``: exit 1 if it is out of date)."""
    argv = sys.argv[1:] if argv is None else argv
    text = key_reference()
    if "--check" in argv:
        same = DOC_PATH.is_file() and DOC_PATH.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{DOC_PATH} is out of date: run python -m "
              "simtrial.spec.docs")
        return 0 if same else 1
    DOC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
