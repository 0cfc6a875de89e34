"""One declaration per key: field types, the pydantic -> house-message translator, serialisation.

A section is a frozen pydantic dataclass (:func:`section`) whose fields are declared once with a
type from this module (:func:`Int`, :func:`Float`, :func:`Choice`, :data:`Str`, :data:`Bool`,
:func:`FloatList`, :func:`IntList`) and a :func:`key` (default, example, doc, serialisation).
From that one declaration come validation, the one-line error messages, :func:`dump` (TOML-shaped
plain data, hence the scenario hash), the JSON Schema (``simtrial schema``) and the key reference
(``docs/scenario-keys.md``, :mod:`simtrial.spec.docs`).

Every failure is a :class:`~simtrial.errors.ScenarioError` with one line: key path, value, rule and
an example, e.g. ``scenario error: design.allocation_ratio = -1.0 must be > 0 (e.g.
allocation_ratio = 1.0)``. Unknown keys are errors with a "did you mean" hint. Rules that link
keys raise :func:`rule` (a ``PydanticCustomError("rule", line)``) from a section validator.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from functools import lru_cache
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, TypeAdapter
from pydantic import ValidationError
from pydantic.dataclasses import dataclass as _pydantic_dataclass
from pydantic_core import PydanticCustomError

from ..errors import ScenarioError, fmt_value

__all__ = ["REQUIRED", "to_float", "section", "key", "Int", "Float", "Choice", "Str", "Bool", "FloatList",
           "IntList", "rule", "as_rule", "validate", "validate_key", "translate", "dump", "toml_keys", "field_info",
           "choices_of", "bounds_of", "err", "check_keys", "table", "integer", "number", "choice",
           "number_list"]

REQUIRED = object()
"""Sentinel default: the key must be given."""

CONFIG = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


def section(cls=None, **config: Any):
    """Decorator: a frozen pydantic dataclass with unknown keys forbidden.

    TOML input is validated by :func:`validate` (a TypeAdapter). Building a section in Python
    (``DesignConfig(n, ratio)``, ``dataclasses.replace``) does not validate, as with a plain
    frozen dataclass: downstream code builds sections from already-validated values (and numpy
    integers), and the rules need the validation context of a whole scenario.
    """
    def wrap(c):
        c = _pydantic_dataclass(c, frozen=True, config=ConfigDict(**{**CONFIG, **config}))
        c.__init__ = _plain_init(c)
        return c
    return wrap if cls is None else wrap(cls)


def _plain_init(cls: type):
    names = tuple(_fields(cls))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments")
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {k!r}")
            if k in values:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {k!r}")
            values[k] = v
        for name in names:
            if name in values:
                v = values[name]
            else:
                info = _fields(cls)[name]
                if info.is_required():
                    raise TypeError(f"{cls.__name__}() missing required argument {name!r}")
                v = info.get_default(call_default_factory=True)
            object.__setattr__(self, name, v)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def key(default: Any = REQUIRED, example: str | None = None, doc: str = "", *,
        dump: str = "non_default", required: str = "", toml: bool = True,
        factory: Any = None, shown_default: str | None = None) -> Any:
    """The declaration of one key: default, example, one-line doc and how it is serialised.

    ``dump`` is ``"non_default"`` (written only when it differs from the default), ``"always"``
    or ``"never"`` (derived, not a TOML key); ``required`` is text added to the "is required"
    message; ``toml=False`` marks an attribute that is not a TOML key; ``shown_default`` is the
    default as the key reference shows it when it depends on other keys.
    """
    extra = {"example": example, "dump": dump, "required_msg": required, "toml": toml}
    if shown_default is not None:
        extra["shown_default"] = shown_default
    kw: dict[str, Any] = {"description": doc, "json_schema_extra": extra}
    if factory is not None:
        return Field(default_factory=factory, **kw)
    if default is REQUIRED:
        return Field(**kw)
    return Field(default, **kw)


# ---------------------------------------------------------------------------------------------
# types
# ---------------------------------------------------------------------------------------------

def _as_int(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise PydanticCustomError("int_type", "must be an integer")
    return v


def to_float(v: int | float) -> float:
    """``float(v)``; an integer too large for a float is refused as not finite (not an
    OverflowError)."""
    try:
        return float(v)
    except OverflowError:
        raise PydanticCustomError("finite", "must be finite (an integer this large is not a "
                                  "usable number)") from None


def _as_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PydanticCustomError("float_type", "must be a number")
    v = to_float(v)
    if math.isnan(v):
        raise PydanticCustomError("nan", "must be a number, not nan")
    return v


def _finite(v: float) -> float:
    if math.isinf(v):
        raise PydanticCustomError("finite", "must be finite")
    return v


def _bounds(gt, ge, lt, le) -> list:
    return [c for c, b in ((at.Gt, gt), (at.Ge, ge), (at.Lt, lt), (at.Le, le)) if b is not None
            for c in [c(b)]]


def Int(*, ge: int | None = None, le: int | None = None) -> Any:
    """An integer (an integral float such as 40.0 is accepted as 40; true/"40"/20.5 are not)."""
    return Annotated[int, BeforeValidator(_as_int), *_bounds(None, ge, None, le)]


def Float(*, gt: float | None = None, ge: float | None = None, lt: float | None = None,
          le: float | None = None, finite: bool | None = None) -> Any:
    """A number; nan is refused; bounded numbers (or ``finite=True``) must be finite."""
    meta: list = [BeforeValidator(_as_float), *_bounds(gt, ge, lt, le)]
    if finite or (finite is None and any(b is not None for b in (gt, ge, lt, le))):
        meta.append(AfterValidator(_finite))
    return Annotated[float, *meta]


class _Choices(tuple):
    """Metadata marker: the allowed values of a :func:`Choice`."""


def Choice(*values: Any) -> Any:
    """One of ``values`` (exact match; booleans never match numbers)."""
    def check(v: Any) -> Any:
        for c in values:
            if v == c and not isinstance(v, bool) and type(v) in (type(c), int, float):
                return c
        raise PydanticCustomError("choice", "must be one of", {"choices": values})
    return Annotated[Literal[values], BeforeValidator(check), _Choices(values)]


Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]


def _sequence(msg: str, length: int | None = None, min_length: int = 0, scalar: bool = False):
    def check(v: Any) -> Any:
        if scalar and isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, (list, tuple)) or (length is not None and len(v) != length) \
                or len(v) < min_length:
            raise PydanticCustomError("sequence", "{msg}", {"msg": msg})
        return list(v)
    return BeforeValidator(check)


def FloatList(msg: str, *, length: int | None = None, min_length: int = 0, scalar: bool = False,
              gt: float | None = None, ge: float | None = None, lt: float | None = None,
              le: float | None = None, finite: bool | None = None) -> Any:
    """A list of numbers (``msg``: the rule when it is not, e.g. "must be 3 numbers")."""
    return Annotated[tuple[Float(gt=gt, ge=ge, lt=lt, le=le, finite=finite), ...],
                     _sequence(msg, length, min_length, scalar)]


def IntList(msg: str, *, min_length: int = 0, ge: int | None = None, le: int | None = None) -> Any:
    """A list of integers."""
    return Annotated[tuple[Int(ge=ge, le=le), ...], _sequence(msg, None, min_length)]


def rule(path: str, value: Any, text: str, example: str | None = None, *,
         bare: bool = False) -> PydanticCustomError:
    """A rule linking keys, as an error whose message is the whole house line.

    ``bare``: ``text`` is the line after "scenario error: " (no "= value").
    """
    line = text if bare else f"{path} = {fmt_value(value)} {text}"
    if example:
        line += f" (e.g. {example})"
    return PydanticCustomError("rule", "{line}", {"line": line})


def as_rule(exc: ScenarioError) -> PydanticCustomError:
    """A house error raised inside a field validator, as a pydantic error (so that errors of
    keys declared earlier, collected first, are still reported first)."""
    return PydanticCustomError("rule", "{line}", {"line": str(exc).removeprefix("scenario error: ")})


# ---------------------------------------------------------------------------------------------
# introspection of the declarations
# ---------------------------------------------------------------------------------------------

def _fields(cls: type) -> dict:
    return getattr(cls, "__pydantic_fields__", {}) or {}


def toml_keys(cls: type) -> tuple[str, ...]:
    """The TOML keys of a section, in declaration order."""
    override = getattr(cls, "TOML_KEYS", None)
    if override is not None:
        return tuple(override)
    return tuple(n for n, f in _fields(cls).items() if _extra(f).get("toml", True))


def _extra(info: Any) -> dict:
    e = getattr(info, "json_schema_extra", None)
    return e if isinstance(e, dict) else {}


def _walk_meta(tp: Any):
    """Every Annotated metadata item inside a type (through Optional, tuple, ...)."""
    if typing.get_origin(tp) is Annotated:
        yield from tp.__metadata__
        yield from _walk_meta(tp.__origin__)
        return
    for a in typing.get_args(tp):
        yield from _walk_meta(a)


def _inner_section(tp: Any) -> type | None:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    if typing.get_origin(tp) is Annotated:
        return _inner_section(tp.__origin__)
    for a in typing.get_args(tp):
        s = _inner_section(a)
        if s is not None:
            return s
    return None


def field_info(cls: type, name: str) -> Any:
    """The pydantic FieldInfo of ``cls.name`` (None if unknown)."""
    return _fields(cls).get(name)


def choices_of(info: Any) -> tuple | None:
    """The allowed values of a Choice field."""
    for m in list(getattr(info, "metadata", [])) + list(_walk_meta(getattr(info, "annotation", None))):
        if isinstance(m, _Choices):
            return tuple(m)
    return None


def bounds_of(info: Any) -> dict[str, Any]:
    """``{"gt": 0.0, ...}`` of a field (elements' bounds for a list)."""
    out: dict[str, Any] = {}
    for m in list(getattr(info, "metadata", [])) + list(_walk_meta(getattr(info, "annotation", None))):
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(m, getattr(at, name.capitalize())):
                out.setdefault(name, getattr(m, name))
    return out


def _resolve(cls: type, loc: tuple) -> tuple[type, Any, str | None]:
    """(class owning the last named field, its FieldInfo, its name) along an error location."""
    owner, info, name, cur = cls, None, None, cls
    for part in loc:
        if isinstance(part, int):
            continue
        f = _fields(cur).get(part) if cur is not None else None
        if f is None:
            return (cur if cur is not None else owner), None, str(part)
        owner, info, name = cur, f, part
        cur = _inner_section(f.annotation)
    return owner, info, name


# ---------------------------------------------------------------------------------------------
# the translator: pydantic error -> one house line
# ---------------------------------------------------------------------------------------------

def _join(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _fmt_bound(b: Any) -> str:
    return f"{b:g}" if isinstance(b, float) else str(b)


_RULES = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
          "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}


def translate(e: dict, cls: type, prefix: str = "") -> str:
    """The house line for one pydantic error (``e`` from ``ValidationError.errors()``)."""
    typ, loc, value = e["type"], tuple(e["loc"]), e.get("input")
    if typ == "rule":
        return "scenario error: " + e["ctx"]["line"]
    if typ in _UNKNOWN:
        owner, _, name = _resolve(cls, loc)
        allowed = toml_keys(owner)
        hint = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
        did = f" (did you mean {hint[0]}?)" if hint else ""
        return (f"scenario error: {_join(prefix, loc)} is not a known key{did}; allowed here: "
                f"{', '.join(allowed)}")
    owner, info, name = _resolve(cls, loc)
    path = _join(prefix, loc)
    extra = _extra(info)
    example = extra.get("example")
    if typ in ("missing", "missing_argument"):
        more = extra.get("required_msg") or ""
        ch = choices_of(info)
        if not more and ch:
            more = f" (one of {', '.join(map(str, ch))})"
        return f"scenario error: {path} is required{more}"
    if typ in ("dataclass_type", "dataclass_exact_type", "dict_type", "model_type",
               "dataclass_args_type"):
        return f"scenario error: {path} = {fmt_value(value)} must be a table (e.g. [{path}] ...)"
    if typ == "choice":
        ch = e["ctx"]["choices"]
        allowed = " | ".join(fmt_value(c) for c in ch)
        hint = ""
        if isinstance(value, str):
            lowered = {str(c).lower(): c for c in ch}
            m = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
            hint = f"; did you mean {fmt_value(lowered[m[0]])}?" if m else ""
        text = f"must be one of {allowed}{hint}"
        example = f"{name} = {fmt_value(ch[0])}"
    elif typ in ("int_type", "int_parsing", "int_from_float"):
        text = "must be an integer"
    elif typ in ("float_type", "float_parsing"):
        text = "must be a number"
    elif typ == "nan":
        text = "must be a number, not nan"
    elif typ == "finite":
        text = "must be finite"
    elif typ in _RULES:
        op, k = _RULES[typ]
        bound = e["ctx"][k]
        text = f"must be {op} {_fmt_bound(bound)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value) if isinstance(bound, float) else int(value)  # as validated
    elif typ == "bool_type":
        text = "must be true or false"
    elif typ == "string_type":
        text = "must be a string"
    elif typ == "sequence":
        text = e["ctx"]["msg"]
    else:
        text = e.get("msg", typ)
    line = f"scenario error: {path} = {fmt_value(value)} {text}"
    if example:
        line += f" (e.g. {example})"
    return line


_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")


def first_error(exc: ValidationError) -> dict:
    """The error to report: unknown keys first (as a table's keys are checked before its
    values), then the first in declaration order."""
    errors = exc.errors()
    unknown = [e for e in errors if e["type"] in _UNKNOWN]
    return min(unknown, key=lambda e: len(e["loc"])) if unknown else errors[0]


@lru_cache(maxsize=None)
def _adapter(tp: Any) -> TypeAdapter:
    return TypeAdapter(tp)


def validate(cls: type, data: Any, prefix: str, **context: Any) -> Any:
    """Validate ``data`` into ``cls``; the first error becomes a one-line ScenarioError."""
    try:
        return _adapter(cls).validate_python(data, context={"path": prefix, **context})
    except ValidationError as exc:
        raise ScenarioError(translate(first_error(exc), cls, prefix)) from None


@lru_cache(maxsize=None)
def _key_adapter(cls: type, name: str) -> TypeAdapter:
    info = _fields(cls)[name]
    tp = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(tp)


def validate_key(cls: type, name: str, value: Any, prefix: str = "") -> Any:
    """Validate one value by the declaration of ``cls.name``."""
    try:
        return _key_adapter(cls, name).validate_python(value)
    except ValidationError as exc:
        e = dict(first_error(exc))
        e["loc"] = (name,) + tuple(e["loc"])
        raise ScenarioError(translate(e, cls, prefix)) from None


# ---------------------------------------------------------------------------------------------
# serialisation from the declarations
# ---------------------------------------------------------------------------------------------

def plain(v: Any) -> Any:
    """Tuples -> lists, sections -> dicts (TOML-shaped data)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dump(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def dump(obj: Any) -> dict[str, Any]:
    """TOML-shaped dict of a section: each key by its declared ``dump`` policy, then the
    section's ``_toml(d)`` hook (for keys whose TOML shape differs from the attribute)."""
    d: dict[str, Any] = {}
    for name, info in _fields(type(obj)).items():
        extra = _extra(info)
        policy = extra.get("dump", "non_default")
        if policy == "never" or not extra.get("toml", True):
            continue
        v = getattr(obj, name)
        if policy == "non_default":
            default = (info.default_factory() if info.default_factory is not None
                       else info.default)
            if v is None or (not info.is_required() and _same(v, default)):
                continue
        d[name] = plain(v)
    hook = getattr(obj, "_toml", None)
    return hook(d) if hook is not None else d


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# house primitives for tables whose TOML shape is not a fixed set of keys (population variables,
# criteria, correlations, per-outcome arrays, responder criteria, mixture components)
# ---------------------------------------------------------------------------------------------

def err(path: str, value: Any, rule: str, example: str | None = None) -> ScenarioError:
    """The house line ``scenario error: <path> = <value> <rule> (e.g. <example>)``."""
    msg = f"scenario error: {path} = {fmt_value(value)} {rule}"
    if example:
        msg += f" (e.g. {example})"
    return ScenarioError(msg)


def check_keys(table: dict, path: str, allowed: tuple[str, ...]) -> None:
    """Unknown keys are errors, with a "did you mean" hint and the allowed keys."""
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            did = f" (did you mean {hint[0]}?)" if hint else ""
            raise ScenarioError(
                f"scenario error: {where} is not a known key{did}; allowed here: "
                f"{', '.join(allowed)}")


def table(data: dict, key: str, path: str, required: bool = False) -> dict:
    """``data[key]`` as a table ({} if absent and not required)."""
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
    """``table[key]``, its default, or "<path>.<key> is required"."""
    if key in table:
        return table[key]
    if default is REQUIRED:
        raise ScenarioError(f"scenario error: {path}.{key} is required".replace("scenario error: .",
                                                                               "scenario error: "))
    return default


def keypath(path: str, key: str) -> str:
    """``path.key`` (``key`` at the top level)."""
    return f"{path}.{key}" if path else key


def integer(table: dict, key: str, path: str, default: Any = REQUIRED, lo: int | None = None,
         hi: int | None = None, example: str | None = None) -> Any:
    """An integer key (an integral float is accepted), within [lo, hi]."""
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
    """A number key (not nan), within the bounds; bounded numbers must be finite."""
    v = get(table, key, path, default) if value is REQUIRED else value
    if value is REQUIRED and v is default and default is not REQUIRED:
        return v
    ex = example or f"{key} = 1.0"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise err(keypath(path, key), v, "must be a number", ex)
    try:
        v = float(v)
    except OverflowError:
        raise err(keypath(path, key), v, "must be finite", ex) from None
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
    """One of ``choices`` (case-insensitive hint when close)."""
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
    """A list of numbers (``length`` of them, if given), each within the bounds."""
    if not isinstance(v, list) or (length is not None and len(v) != length):
        n = f"{length} numbers" if length is not None else "a list of numbers"
        raise err(path, v, f"must be {n}", example)
    return tuple(number({}, f"{path}[{i}]", "", value=x, example=example, **bounds)
                 for i, x in enumerate(v))

