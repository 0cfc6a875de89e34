"""``[conduct]``: trial-conduct settings (sites, recruitment, capacity, manufacturing, regimen).

Each key is declared once (see :mod:`simtrial.spec._fields`); validated here, simulated by
:mod:`simtrial.sim.conduct`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema, field_validator
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from ..errors import ScenarioError
from ._fields import (Bool, Choice, Float, Int, as_rule, check_keys, dump, err, integer, key,
                      number, rule, section, table, to_float, toml_keys, validate)

__all__ = ["MONTH_DAYS", "ConductConfig", "ManufacturingConfig", "RegimenConfig", "parse_conduct",
           "CONDUCT_KEYS", "MANUFACTURING_KEYS", "REGIMEN_KEYS"]

from ..stats.mc import MONTH_DAYS  # noqa: E402
"""Days per month (30.4375)."""
INF = math.inf


def _is_inf(v: Any) -> bool:
    return v == "inf" or (isinstance(v, float) and math.isinf(v) and v > 0)   # "inf": manifests


def _capacity(v: Any) -> float:
    """A positive integer count or inf (unlimited)."""
    if _is_inf(v):
        return INF
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise PydanticCustomError("int_type", "must be an integer")
    if v < 1:
        raise PydanticCustomError("greater_than_equal", "too small", {"ge": 1})
    if v > 1_000_000:
        raise PydanticCustomError("less_than_equal", "too large", {"le": 1_000_000})
    return float(v)


MIN_RATE = 0.01
"""Slowest recruitment simulated: one candidate per site every 100 months."""


def _rate(v: Any) -> float:
    """Candidates per site per month: > 0, or inf (everyone at once)."""
    if _is_inf(v):
        return INF
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PydanticCustomError("float_type", "must be a number")
    v = to_float(v)
    if math.isnan(v):
        raise PydanticCustomError("nan", "must be a number, not nan")
    if not v >= MIN_RATE:     # slower would take centuries: no trial is recruited like that
        raise PydanticCustomError("greater_than_equal", "too small", {"ge": MIN_RATE})
    if not v <= 1e6:
        raise PydanticCustomError("less_than_equal", "too large", {"le": 1e6})
    return v


_INF_SCHEMA = {"const": "inf"}
Capacity = Annotated[float, BeforeValidator(_capacity), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 1_000_000}, {"type": "number"},
               _INF_SCHEMA]})]
Rate = Annotated[float, BeforeValidator(_rate), WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": MIN_RATE, "maximum": 1e6}, _INF_SCHEMA]})]


@section
class ManufacturingConfig:
    """``[conduct.manufacturing]``: GMP batches (doses per batch, calendar, release delay)."""

    batch_capacity: Capacity = key(INF, "batch_capacity = 4 (or inf)", "doses per batch [inf]",
                                   dump="always")
    batch_interval_days: Float(gt=0.0, le=365.0) = key(
        7.0, "batch_interval_days = 7", "days between batches", dump="always")
    batch_day: Float(ge=0.0, le=365.0) = key(0.0, "batch_day = 0", "day of the first batch "
                                             "(< batch_interval_days)", dump="always")
    release_delay_days: Float(ge=0.0, le=365.0) = key(
        0.0, "release_delay_days = 21", "days from batch to release", dump="always")
    doses_per_patient: Int(ge=1, le=52) = key(
        1, "doses_per_patient = 1", "1 (one lot for the whole regimen) or conduct.regimen."
        "infusions (a fresh dose per infusion)", dump="always",
        shown_default="conduct.regimen.infusions")
    placebo_doses: Bool = key(False, "placebo_doses = false", "placebo infusions also use "
                              "manufactured doses", dump="always")

    @model_validator(mode="after")
    def _rules(self) -> "ManufacturingConfig":
        if self.batch_day >= self.batch_interval_days:
            raise rule("conduct.manufacturing.batch_day", self.batch_day, f"must be < "
                       f"batch_interval_days = {self.batch_interval_days:g} (day of the first "
                       "batch)", "batch_day = 0")
        return self


@section
class RegimenConfig:
    """``[conduct.regimen]``: infusions per patient, spacing, chair and bed times."""

    infusions: Int(ge=1, le=52) = key(1, "infusions = 3", "infusions per patient", dump="always")
    interval_days: Float(gt=0.0, le=365.0) = key(28.0, "interval_days = 28", "days between "
                                                 "infusions", dump="always")
    infusion_hours: Float(gt=0.0, le=72.0) = key(2.0, "infusion_hours = 2", "chair time per "
                                                 "infusion", dump="always")
    observation_hours: Float(ge=0.0, le=720.0) = key(24.0, "observation_hours = 24", "bed time "
                                                     "after each infusion", dump="always")
    placebo: Bool = key(True, "placebo = true", "control patients get placebo infusions",
                        dump="always")

    @model_validator(mode="after")
    def _rules(self) -> "RegimenConfig":
        days = (self.infusion_hours + self.observation_hours) / 24.0
        if days > self.interval_days:
            raise rule("conduct.regimen.interval_days", self.interval_days, f"must be >= the chair "
                       f"+ bed time of one infusion ({days:g} days)", "interval_days = 28")
        return self


@section
class ConductConfig:
    """``[conduct]``: validated conduct settings (see :mod:`simtrial.sim.conduct` for the model).

    ``activation_days`` is resolved per site from ``activation_months`` or ``ramp_months``.
    """

    TOML_KEYS = ("sites", "activation_months", "ramp_months", "rate_per_site_month", "arrivals",
                 "screen_fail", "screening_days", "withdrawal_per_month", "visit_window_days",
                 "chairs", "beds", "infusion_unit", "replicates", "manufacturing", "regimen")

    sites: Int(ge=1, le=10_000) = key(example="sites = 10", doc="number of sites",
                                      required=" (number of sites, e.g. sites = 10)",
                                      dump="always")
    rate_per_site_month: Rate = key(
        example="rate_per_site_month = 0.8", doc="candidates screened per open site per month "
        "(inf = all at once)", required=" (candidates screened per site per month; inf = all at "
        "once) (e.g. rate_per_site_month = 0.8)", dump="always")
    activation_days: tuple[float, ...] = key((), doc="day each site opens (derived)",
                                             toml=False)
    activation_months: tuple[float, ...] | None = key(
        None, "activation_months = [0, 1, 2, 3, ...] (one per site)", "month each site opens "
        "(or ramp_months)")
    ramp_months: Float(ge=0.0, le=240.0) | None = key(None, "ramp_months = 6", "sites open "
                                                      "evenly over this many months [0]")
    arrivals: Choice("poisson", "regular") = key("poisson", doc="candidate arrivals per site")
    screen_fail: Float(ge=0.0, le=0.99) | None = key(None, "screen_fail = 0.2", "screen-failure "
                                                    "probability [from the inclusion criteria]")
    screening_days: Float(ge=0.0, le=365.0) = key(0.0, "screening_days = 14", "days from "
                                                  "screening to randomisation")
    withdrawal_per_month: Float(ge=0.0, le=1.0) = key(
        0.0, "withdrawal_per_month = 0.01", "withdrawal hazard per month")
    visit_window_days: Float(ge=0.0, le=180.0) = key(
        0.0, "visit_window_days = 14", "+/- days around each visit (< half the shortest gap)")
    chairs: Capacity = key(INF, "chairs = 2 (or inf)", "infusion chairs per site [inf]")
    beds: Capacity = key(INF, "beds = 2 (or inf)", "24-h observation beds per site [inf]")
    infusion_unit: Choice("site", "central") = key("site", doc="where patients are infused")
    replicates: Int(ge=1, le=1_000_000) = key(200, "replicates = 200", "simulated conducts")
    regimen: RegimenConfig = key(factory=RegimenConfig, doc="[conduct.regimen]", dump="always")
    manufacturing: ManufacturingConfig = key(factory=ManufacturingConfig,
                                             doc="[conduct.manufacturing]", dump="always")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        check_keys(data, "conduct", toml_keys(cls))
        d = dict(data)
        if "activation_months" in d and "ramp_months" in d:
            raise err("conduct.ramp_months", d["ramp_months"], "cannot be combined with "
                      "activation_months (give one: a month per site, or a ramp)",
                      "ramp_months = 6")
        d.setdefault("manufacturing", {})    # its doses_per_patient defaults to the regimen's
        return d

    @field_validator("activation_months", mode="before")
    @classmethod
    def _activation(cls, v: Any, info: ValidationInfo) -> Any:
        sites = info.data.get("sites")
        if v is None or sites is None:
            return v
        ex = f"activation_months = [{', '.join(str(i) for i in range(min(sites, 4)))}" \
             f"{', ...' if sites > 4 else ''}] (one per site)"
        if not isinstance(v, (list, tuple)) or len(v) != sites:
            raise rule("conduct.activation_months", v, f"must list one month per site "
                       f"({sites} numbers for sites = {sites})", ex)
        try:
            return tuple(number({}, f"conduct.activation_months[{i}]", "", value=x, ge=0.0,
                                le=240.0, example=ex) for i, x in enumerate(v))
        except ScenarioError as exc:
            raise as_rule(exc) from None

    @field_validator("manufacturing", mode="before")
    @classmethod
    def _doses(cls, v: Any, info: ValidationInfo) -> Any:
        reg = info.data.get("regimen")
        if not isinstance(v, dict) or reg is None:
            return v
        n = reg.infusions
        try:
            dpp = integer(v, "doses_per_patient", "conduct.manufacturing", n, lo=1, hi=52,
                          example=f"doses_per_patient = {n}")
        except ScenarioError as exc:
            raise as_rule(exc) from None
        return {**v, "doses_per_patient": dpp}

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "ConductConfig":
        sites = self.sites
        if self.activation_months is not None:
            act = tuple(m * MONTH_DAYS for m in self.activation_months)
        else:
            r = 0.0 if self.ramp_months is None else self.ramp_months
            act = tuple(r * k / (sites - 1) * MONTH_DAYS if sites > 1 else 0.0
                        for k in range(sites))
        if not self.activation_days:
            object.__setattr__(self, "activation_days", act)   # derived, on a frozen section
        visits = (info.context or {}).get("visits")
        win = self.visit_window_days
        if win > 0 and visits:
            m = (0,) + tuple(visits)
            gap = min(b - a for a, b in zip(m, m[1:])) * MONTH_DAYS
            if win >= gap / 2:
                raise rule("conduct.visit_window_days", win, f"must be < {gap / 2:g} (half the "
                           f"shortest gap between visits at months {', '.join(map(str, visits))}"
                           ", so visits keep their order)", "visit_window_days = 14")
        man, reg = self.manufacturing, self.regimen
        dpp, cap, infusions = man.doses_per_patient, man.batch_capacity, reg.infusions
        if dpp not in (1, infusions):
            raise rule("conduct.manufacturing.doses_per_patient", dpp, f"must be 1 (one lot for "
                       f"the whole regimen) or {infusions} (a fresh dose per infusion, "
                       f"conduct.regimen.infusions = {infusions})",
                       f"doses_per_patient = {infusions}")
        if cap != INF and dpp > cap:
            raise rule("conduct.manufacturing.batch_capacity", int(cap), f"must be >= "
                       f"doses_per_patient = {dpp}", f"batch_capacity = {dpp}")
        if man.placebo_doses and not reg.placebo:
            raise rule("conduct.manufacturing.placebo_doses", man.placebo_doses, "needs "
                       "conduct.regimen.placebo = true (placebo infusions)",
                       "placebo_doses = false")
        return self

    def to_toml(self) -> dict[str, Any]:
        """TOML-shaped dict (round-trips through :func:`parse_conduct`)."""
        return dump(self)


CONDUCT_KEYS = toml_keys(ConductConfig)
MANUFACTURING_KEYS = toml_keys(ManufacturingConfig)
REGIMEN_KEYS = toml_keys(RegimenConfig)


def parse_conduct(data: dict, visits: tuple[int, ...]) -> ConductConfig | None:
    """Validate the ``[conduct]`` table (``None`` if absent).

    Parameters
    ----------
    data : dict
        The whole scenario (TOML-shaped).
    visits : tuple of int
        The scenario's visit months (for the window check).

    Raises
    ------
    ScenarioError
        One line: key path, value, rule, example; unknown keys with a "did you mean" hint.
    """
    if "conduct" not in data:
        return None
    return validate(ConductConfig, table(data, "conduct", ""), "conduct", visits=tuple(visits))
