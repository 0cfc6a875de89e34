"""JSON Schema of a scenario file, from the declarations (``simtrial schema``).

TOML editors use it for completion and checking: Taplo / "Even Better TOML" read a
``#:schema ./scenario.schema.json`` first line, or an ``[[schema]]`` entry in ``.taplo.toml``.

The schema is pydantic's ``model_json_schema`` of :class:`~simtrial.spec.scenario.Scenario`,
reshaped where a table's TOML shape differs from its attributes (population variables, criteria
and correlations, per-outcome arrays, responder criteria, mixture components, ``looks``) and
stripped of the attributes that are not keys (``source_path``, ``activation_days``). It checks
keys, types, ranges and choices; rules that link keys are checked by ``simtrial validate``.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import TypeAdapter

from ._tables import OUTCOMES, PRESETS, VARIABLES
from .scenario import (CRITERIA_VARIABLES, FAMILIES, MARGINAL_KEYS, OUTCOME_PARAM_KEYS,
                       REMISSION_KEYS, RESPONDER_BOUNDS, Scenario)

__all__ = ["json_schema"]

SCHEMA_ID = "https://simtrial.invalid/scenario.schema.json"
_OURS = ("example", "dump", "required_msg", "toml", "shown_default")
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
_NUM = {"type": "number"}


def _clean(node: Any) -> Any:
    """JSON Schema keywords for our field metadata; no nulls (TOML has none); inf -> "inf"."""
    if isinstance(node, list):
        return [_clean(x) for x in node]
    if not isinstance(node, dict):
        if isinstance(node, float) and math.isinf(node):
            return "inf" if node > 0 else "-inf"
        return node
    out: dict[str, Any] = {}
    example = node.get("example")
    for k, v in node.items():
        if k in _OURS or k == "title":
            continue
        if k in _BOUNDS and isinstance(v, (int, float)):
            out[_BOUNDS[k]] = v
            continue
        out[k] = _clean(v)
    if "anyOf" in out:
        alts = [a for a in out["anyOf"] if a != {"type": "null"}]
        if len(alts) == 1:
            out.pop("anyOf")
            out.update(alts[0])
        else:
            out["anyOf"] = alts
    if out.get("default", 0) is None:
        out.pop("default")
    if example and "description" in out:
        out["description"] += f" (e.g. {example})"
    return out


def _table(props: dict, required: tuple = (), description: str = "") -> dict:
    t: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        t["required"] = list(required)
    if description:
        t["description"] = description
    return t


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario TOML file."""
    raw = TypeAdapter(Scenario).json_schema()
    s = _clean(raw)
    defs = s["$defs"]
    s["properties"].pop("source_path", None)
    s["required"] = ["population", "endpoint", "effect", "design"]
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["$id"] = SCHEMA_ID
    s["title"] = "simtrial scenario"

    pop = defs["PopulationConfig"]["properties"]
    pop.pop("marginals", None)
    marginal = _table({k: ({"enum": list(FAMILIES)} if k == "family" else dict(_NUM))
                       for k in MARGINAL_KEYS}, description="override a marginal of the preset")
    for var in VARIABLES:
        pop[var] = marginal
    bound = {"anyOf": [{"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2},
                       {"const": "none"},
                       _table({"min": _NUM, "max": _NUM})]}
    pop["criteria"] = _table({v: bound for v in CRITERIA_VARIABLES},
                             description=pop["criteria"].get("description", ""))
    pop["correlation"] = {"type": "object", "description": pop["correlation"].get("description"),
                          "additionalProperties": {"type": "number", "exclusiveMinimum": -1,
                                                   "exclusiveMaximum": 1}}
    pop["strata"] = _table({p: {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
                            for p in PRESETS}, description=pop["strata"].get("description", ""))

    ep = defs["EndpointConfig"]
    ep["required"] = ["visit_months"]
    crit = _table({"outcome": {"enum": list(OUTCOMES)}, **{b: _NUM for b in RESPONDER_BOUNDS}},
                  ("outcome",))
    ep["properties"]["responder"] = {"type": "array", "items": crit, "minItems": 1,
                                     "description": ep["properties"]["responder"]["description"]}

    seq = defs["SequentialConfig"]
    seq.pop("required", None)
    seq["properties"] = {"looks": {"type": "integer", "minimum": 1, "maximum": 10,
                                   "description": "equally spaced looks (or fractions)"},
                         **seq["properties"]}

    eff = defs["EffectConfig"]
    eff["required"] = ["source"]
    comp = _table({"weight": _NUM, "mean": _NUM, "sd": _NUM}, ("weight", "mean", "sd"))
    eff["properties"]["components"] = {"type": "array", "items": comp, "minItems": 1,
                                       "description": eff["properties"]["components"]
                                       ["description"]}
    eff["properties"]["outcomes"] = _table({o: _NUM for o in OUTCOMES},
                                           description=eff["properties"]["outcomes"]
                                           ["description"])

    om = defs["OutcomeModelConfig"]["properties"]
    per = om.pop("per_outcome")
    arr3 = {"type": "array", "items": _NUM, "minItems": 3, "maxItems": 3}
    for o in OUTCOMES:
        keys = {k: arr3 for k in OUTCOME_PARAM_KEYS}
        if o == "insulin_dose":
            keys.update({k: _NUM for k in REMISSION_KEYS})
        om[o] = _table(keys, description=per["description"])

    des = defs["DesignConfig"]["properties"]
    des["target_power"] = {"anyOf": [des["target_power"], des["target_power"]["items"]],
                           "description": des["target_power"].pop("description")}

    con = defs["ConductConfig"]
    con["properties"].pop("activation_days", None)
    return s
