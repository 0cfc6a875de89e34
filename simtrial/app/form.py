"""The app's scenario form: fields, form values <-> scenario data, uploads and downloads.

Every change of the form is turned into TOML-shaped data and validated by the one scenario
validator, :func:`~simtrial.scenario.parse_scenario`; its one-line message is what the form
shows. The form only *overrides* the keys whose field differs from the loaded scenario, so an
uploaded scenario with more than the form shows (strata, secondary endpoints, conduct, ...)
keeps all of it until a field is changed.

Nothing here reads a file outside the folder the app was started in (:func:`confine`), and an
upload is parsed from memory (:func:`parse_upload`).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from ..errors import ScenarioError, SimtrialError
from ..scenario import Scenario, load_scenario, parse_scenario
from ..spec.scenario import (CONTINUOUS_ANALYSES, DISTRIBUTIONS, EFFECT_SOURCES,
                             EVIDENCE_POPULATIONS, MAX_FILE_BYTES, MULTIPLICITY_METHODS, OUTCOMES,
                             PRESETS, RESPONDER_ANALYSES, SPENDING)

__all__ = ["Field", "FIELDS", "DEFAULT_SCENARIO", "default_scenario", "confine", "form_values",
           "apply_form", "scenario_from_form", "field_of_error", "parse_upload", "toml_text"]

DEFAULT_SCENARIO = "scenarios/t1d_hba1c_12m.toml"
"""The scenario the app opens on (relative to the folder it is started in); the package ships
a byte-identical copy (``simtrial/app/t1d_hba1c_12m.toml``) for folders that lack it."""


@dataclass(frozen=True)
class Field:
    """One form field: input id, the scenario key it sets (dotted path), label, input kind
    (``select``, ``int``, ``float`` or ``text``), choices or bounds."""

    id: str
    key: str
    label: str
    kind: str
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    step: float | None = None


FIELDS: tuple[Field, ...] = (
    Field("preset", "population.preset", "Population preset", "select", tuple(PRESETS)),
    Field("outcome", "endpoint.outcome", "Endpoint outcome", "select", tuple(OUTCOMES)),
    Field("visit", "endpoint.visit_months", "Endpoint visit (months)", "int", lo=1, hi=24,
          step=1),
    Field("analysis", "endpoint.analysis", "Analysis", "select",
          CONTINUOUS_ANALYSES + RESPONDER_ANALYSES),
    Field("source", "effect.source", "Effect source", "select", EFFECT_SOURCES),
    Field("evidence_population", "effect.population", "Evidence subgroup", "select",
          EVIDENCE_POPULATIONS),
    Field("md", "effect.md", "Fixed mean difference (MSC - control)", "float", step=0.05),
    Field("distribution", "effect.distribution", "Effect distribution", "select", DISTRIBUTIONS),
    Field("allocation", "design.allocation_ratio", "Allocation (MSC per control patient)",
          "float", lo=0.1, hi=10, step=0.5),
    Field("n", "design.n_per_arm", "N per arm (control)", "int", lo=2, step=1),
    Field("dropout", "dropout.rate", "Dropout by the last visit", "float", lo=0, hi=0.95,
          step=0.05),
    Field("multiplicity", "multiplicity.method", "Multiplicity", "select", MULTIPLICITY_METHODS),
    Field("looks", "sequential.looks", "Looks (1 = no interim)", "int", lo=1, hi=10, step=1),
    Field("spending", "sequential.spending", "Alpha spending", "select", SPENDING),
    Field("targets", "design.target_power", "Target powers", "text"),
    Field("n_trials", "n_trials", "Replicate trials", "int", lo=1, step=1000),
    Field("seed", "seed", "Seed", "int", lo=0, step=1),
)
_BY_ID = {f.id: f for f in FIELDS}


# ---------------------------------------------------------------------------------------------
# files: the default scenario, confinement, uploads, downloads
# ---------------------------------------------------------------------------------------------

def confine(path: str | Path, root: str | Path, what: str = "SCENARIO") -> Path:
    """``path`` resolved, if it lies inside ``root`` (the folder the app was started in); a
    one-line SimtrialError otherwise (the app reads no file outside that folder)."""
    root = Path(root).resolve()
    p = (root / path).resolve()
    if p != root and root not in p.parents:
        raise SimtrialError(f"usage error: {what} = {str(path)!r} is outside the folder the app "
                            f"was started in ({root}); the app reads no file outside it")
    return p


def default_scenario(root: str | Path, path: str | Path | None = None) -> Scenario:
    """The scenario the app opens on: ``path`` (inside ``root``), else
    :data:`DEFAULT_SCENARIO` under ``root`` if present, else the package's copy of it."""
    if path is not None:
        return load_scenario(confine(path, root))
    p = Path(root) / DEFAULT_SCENARIO
    if p.is_file():
        return load_scenario(confine(DEFAULT_SCENARIO, root))
    text = resources.files(__package__).joinpath("t1d_hba1c_12m.toml").read_text("utf-8")
    return parse_scenario(tomllib.loads(text))


def parse_upload(text: str | None, filename: str, size: int | None = None) -> Scenario:
    """Validate an uploaded scenario file from memory (never written to disk): the size limit
    of scenario files, TOML syntax, then :func:`parse_scenario`. One-line ScenarioError."""
    name = Path(str(filename)).name or "upload.toml"
    n = size if text is None else len(text.encode("utf-8"))
    if n is None or n > MAX_FILE_BYTES:
        raise ScenarioError(f"scenario error: {name} is {(n or 0) / 2 ** 20:.1f} MiB; a scenario "
                            f"file must be at most {MAX_FILE_BYTES // 2 ** 20} MiB")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario error: {name} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"scenario error: {name} nests arrays or tables too deeply") from None
    if "name" not in data:      # as load_scenario names it after the file
        data["name"] = Path(name).stem
    try:
        return parse_scenario(data)
    except RecursionError:
        raise ScenarioError(f"scenario error: {name} nests arrays or tables too deeply") from None


def toml_text(sc: Scenario) -> str:
    """The scenario as a TOML file that ``simtrial run`` reproduces exactly (checked here: it
    parses back to the same scenario hash)."""
    body = tomli_w.dumps(sc.to_dict())
    back = parse_scenario(tomllib.loads(body))
    if back.hash() != sc.hash():
        raise SimtrialError(f"internal error: scenario {sc.name} does not round-trip through "
                            "TOML")
    return (f"# scenario {sc.name} from the simtrial app (sha256 {sc.hash()[:16]})\n"
            f"# reproduce: simtrial run {sc.name}.toml\n" + body)


# ---------------------------------------------------------------------------------------------
# form values <-> scenario data
# ---------------------------------------------------------------------------------------------

def _get(d: dict, key: str, default: Any = None) -> Any:
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def form_values(data: dict) -> dict[str, Any]:
    """The value of every field for TOML-shaped scenario data (``Scenario.to_dict()``)."""
    eff = data.get("effect", {})
    md = eff.get("md")
    seq = data.get("sequential")
    return {
        "preset": _get(data, "population.preset", "t1d"),
        "outcome": _get(data, "endpoint.outcome", "hba1c"),
        "visit": _get(data, "endpoint.visit_months", 12),
        "analysis": _get(data, "endpoint.analysis", "ancova"),
        "source": eff.get("source", "evidence"),
        "evidence_population": eff.get("population", "all"),
        "md": -0.5 if md is None else md,
        "distribution": eff.get("distribution", "point"),
        "allocation": _get(data, "design.allocation_ratio", 1.0),
        "n": _get(data, "design.n_per_arm", 20),
        "dropout": float(_get(data, "dropout.rate", 0.0) or 0.0),
        "multiplicity": _get(data, "multiplicity.method", "none"),
        "looks": 1 if seq is None else len(seq.get("fractions") or ()) or seq.get("looks", 1),
        "spending": "obf" if seq is None else seq.get("spending", "obf"),
        "targets": ", ".join(f"{t:g}" for t in _get(data, "design.target_power", [0.8, 0.9])),
        "n_trials": data.get("n_trials", 10_000),
        "seed": data.get("seed", 0),
    }


def _number(f: Field, v: Any) -> Any:
    """A form number as the validator should see it: integral floats as int, other values as
    given (the validator names what is wrong); an empty field is a one-line error."""
    if v is None or (isinstance(v, str) and not v.strip()):
        raise ScenarioError(f"form error: {f.label} ({f.key}) is empty")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise ScenarioError(f"form error: {f.label} ({f.key}) = {v!r} is not a number") \
                from None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and f.kind == "int":
        return int(v)
    return v


def _targets(text: Any) -> list[float]:
    f = _BY_ID["targets"]
    parts = [p for p in str(text or "").replace(";", ",").split(",") if p.strip()]
    try:
        out = [float(p) for p in parts]
    except ValueError:
        out = []
    if not out:
        raise ScenarioError(f"form error: {f.label} ({f.key}) = {str(text)!r} must be numbers "
                            "in (0, 1) separated by commas (e.g. 0.8, 0.9)")
    return out


def apply_form(data: dict, values: dict[str, Any]) -> dict:
    """Scenario data with the form's values applied where a field differs from ``data``.

    Removing rules: dropout 0 removes ``[dropout]``, multiplicity ``none`` removes
    ``[multiplicity]``, 1 look removes ``[sequential]``; a fixed effect drops the evidence
    subgroup and row, an evidence effect drops ``md``.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    now = form_values(data)

    def changed(fid: str) -> bool:
        v = values.get(fid, now[fid])
        f = _BY_ID[fid]
        if f.kind in ("int", "float"):
            v = _number(f, v)
            try:
                return not math.isclose(float(v), float(now[fid]), rel_tol=0, abs_tol=1e-12)
            except (TypeError, ValueError):
                return True
        if f.kind == "text":
            return _targets(v) != _targets(now[fid])
        return v != now[fid]

    def val(fid: str) -> Any:
        f = _BY_ID[fid]
        v = values.get(fid, now[fid])
        return _number(f, v) if f.kind in ("int", "float") else v

    def section(name: str) -> dict:
        out[name] = dict(out.get(name) or {})
        return out[name]

    for fid in ("preset",):
        if changed(fid):
            section("population")["preset"] = val(fid)
    for fid, k in (("outcome", "outcome"), ("visit", "visit_months"), ("analysis", "analysis")):
        if changed(fid):
            section("endpoint")[k] = val(fid)
    source = values.get("source", now["source"])
    if changed("source"):
        eff = section("effect")
        eff["source"] = source
        if source == "fixed":
            for k in ("population", "row"):
                eff.pop(k, None)
            eff["md"] = val("md")
        else:
            eff.pop("md", None)
    if source == "fixed" and changed("md"):
        section("effect")["md"] = val("md")
    if source == "evidence" and changed("evidence_population"):
        eff = section("effect")
        eff["population"] = val("evidence_population")
        eff.pop("row", None)
    if changed("distribution"):
        section("effect")["distribution"] = val("distribution")
    for fid, k in (("allocation", "allocation_ratio"), ("n", "n_per_arm")):
        if changed(fid):
            section("design")[k] = val(fid)
    if changed("targets"):
        section("design")["target_power"] = _targets(values["targets"])
    if changed("dropout"):
        rate = val("dropout")
        if rate == 0:
            out.pop("dropout", None)
        else:
            d = section("dropout")
            d.pop("per_visit", None)
            d["rate"] = rate
    if changed("multiplicity"):
        if values["multiplicity"] == "none":
            out.pop("multiplicity", None)
        else:
            section("multiplicity")["method"] = values["multiplicity"]
    looks = val("looks")
    if changed("looks"):
        if looks == 1:
            out.pop("sequential", None)
        else:
            s = section("sequential")
            for k in ("fractions", "futility"):
                s.pop(k, None)
            s["looks"] = looks
            s.setdefault("spending", values.get("spending", "obf"))
    if changed("spending") and looks != 1 and "sequential" in out:
        section("sequential")["spending"] = values["spending"]
    for fid in ("n_trials", "seed"):
        if changed(fid):
            out[fid] = val(fid)
    return out


def scenario_from_form(data: dict, values: dict[str, Any]) -> Scenario:
    """Validate the form: :func:`apply_form` then :func:`parse_scenario` (one-line
    SimtrialError naming the key, the value and what is allowed)."""
    return parse_scenario(apply_form(data, values))


def field_of_error(message: str) -> str | None:
    """The id of the field a validation message is about (its key path), None if it names no
    field of the form."""
    head = message.split(":", 1)[1].strip() if ":" in message else message
    if head.startswith("form error:"):
        head = head.split(":", 1)[1].strip()
    for f in FIELDS:        # "Label (key) ..." from this module
        if f"({f.key})" in message:
            return f.id
    path = head.split(" ", 1)[0].split("=", 1)[0].strip().strip("[]")
    for f in FIELDS:
        if path == f.key:
            return f.id
    sec = path.split(".", 1)[0]
    return _SECTION_FIELD.get(sec)


_SECTION_FIELD = {"population": "preset", "endpoint": "outcome", "effect": "source",
                  "dropout": "dropout", "multiplicity": "multiplicity", "sequential": "looks"}
