"""``[conduct]``: trial-conduct settings (sites, recruitment, capacity, manufacturing, regimen).

Validated here, simulated by :mod:`simtrial.conduct`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ScenarioError
from ._fields import check_keys, choice, err, integer, number, table

__all__ = ["MONTH_DAYS", "ConductConfig", "ManufacturingConfig", "RegimenConfig", "parse_conduct"]

MONTH_DAYS = 365.25 / 12
"""Days per month (30.4375)."""
INF = math.inf

CONDUCT_KEYS = ("sites", "activation_months", "ramp_months", "rate_per_site_month", "arrivals",
                "screen_fail", "screening_days", "withdrawal_per_month", "visit_window_days",
                "chairs", "beds", "infusion_unit", "replicates", "manufacturing", "regimen")
MANUFACTURING_KEYS = ("batch_capacity", "batch_interval_days", "batch_day", "release_delay_days",
                      "doses_per_patient", "placebo_doses")
REGIMEN_KEYS = ("infusions", "interval_days", "infusion_hours", "observation_hours", "placebo")


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ManufacturingConfig:
    """``[conduct.manufacturing]``: GMP batches (doses per batch, calendar, release delay)."""

    batch_capacity: float = INF
    batch_interval_days: float = 7.0
    batch_day: float = 0.0
    release_delay_days: float = 0.0
    doses_per_patient: int = 1
    placebo_doses: bool = False


@dataclass(frozen=True)
class RegimenConfig:
    """``[conduct.regimen]``: infusions per patient, spacing, chair and bed times."""

    infusions: int = 1
    interval_days: float = 28.0
    infusion_hours: float = 2.0
    observation_hours: float = 24.0
    placebo: bool = True


@dataclass(frozen=True)
class ConductConfig:
    """``[conduct]``: validated conduct settings (see the module docstring for the model).

    ``activation_days`` is resolved per site from ``activation_months`` or ``ramp_months``.
    """

    sites: int
    rate_per_site_month: float
    activation_days: tuple[float, ...]
    activation_months: tuple[float, ...] | None = None
    ramp_months: float | None = None
    arrivals: str = "poisson"
    screen_fail: float | None = None
    screening_days: float = 0.0
    withdrawal_per_month: float = 0.0
    visit_window_days: float = 0.0
    chairs: float = INF
    beds: float = INF
    infusion_unit: str = "site"
    replicates: int = 200
    manufacturing: ManufacturingConfig = field(default_factory=ManufacturingConfig)
    regimen: RegimenConfig = field(default_factory=RegimenConfig)

    def to_toml(self) -> dict[str, Any]:
        """TOML-shaped dict (round-trips through :func:`parse_conduct`)."""
        d: dict[str, Any] = {"sites": self.sites, "rate_per_site_month": self.rate_per_site_month}
        if self.activation_months is not None:
            d["activation_months"] = list(self.activation_months)
        if self.ramp_months is not None:
            d["ramp_months"] = self.ramp_months
        for k, default in (("arrivals", "poisson"), ("screen_fail", None), ("screening_days", 0.0),
                           ("withdrawal_per_month", 0.0), ("visit_window_days", 0.0),
                           ("chairs", INF), ("beds", INF), ("infusion_unit", "site"),
                           ("replicates", 200)):
            v = getattr(self, k)
            if v != default:
                d[k] = v
        m = self.manufacturing
        d["manufacturing"] = {"batch_capacity": m.batch_capacity,
                              "batch_interval_days": m.batch_interval_days,
                              "batch_day": m.batch_day, "release_delay_days": m.release_delay_days,
                              "doses_per_patient": m.doses_per_patient,
                              "placebo_doses": m.placebo_doses}
        g = self.regimen
        d["regimen"] = {"infusions": g.infusions, "interval_days": g.interval_days,
                        "infusion_hours": g.infusion_hours,
                        "observation_hours": g.observation_hours, "placebo": g.placebo}
        return d


def _capacity(t: dict, key: str, path: str, default: float, example: str) -> float:
    """A positive integer count or inf (unlimited)."""
    if key not in t:
        return default
    v = t[key]
    if v == "inf" or (isinstance(v, float) and math.isinf(v) and v > 0):   # "inf": manifests
        return INF
    n = integer(t, key, path, lo=1, hi=1_000_000, example=example)
    return float(n)


def _rate(t: dict, key: str, path: str) -> float:
    ex = f"{key} = 0.8"
    if key not in t:
        raise ScenarioError(f"scenario error: {path}.{key} is required (candidates screened per "
                            f"site per month; inf = all at once) (e.g. {ex})")
    v = t[key]
    if v == "inf" or (isinstance(v, float) and math.isinf(v) and v > 0):
        return INF
    return number(t, key, path, gt=0.0, le=1e6, example=ex)


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
    p = "conduct"
    t = table(data, "conduct", "")
    check_keys(t, p, CONDUCT_KEYS)
    if "sites" not in t:
        raise ScenarioError("scenario error: conduct.sites is required (number of sites, "
                            "e.g. sites = 10)")
    sites = integer(t, "sites", p, lo=1, hi=10_000, example="sites = 10")
    rate = _rate(t, "rate_per_site_month", p)
    arrivals = choice(t, "arrivals", p, ("poisson", "regular"), "poisson")
    act_m = ramp = None
    if "activation_months" in t and "ramp_months" in t:
        raise err("conduct.ramp_months", t["ramp_months"], "cannot be combined with "
                   "activation_months (give one: a month per site, or a ramp)", "ramp_months = 6")
    if "activation_months" in t:
        v = t["activation_months"]
        ex = f"activation_months = [{', '.join(str(i) for i in range(min(sites, 4)))}"\
             f"{', ...' if sites > 4 else ''}] (one per site)"
        if not isinstance(v, list) or len(v) != sites:
            raise err("conduct.activation_months", v, f"must list one month per site "
                       f"({sites} numbers for sites = {sites})", ex)
        act_m = tuple(number({}, f"conduct.activation_months[{i}]", "", value=x, ge=0.0,
                             le=240.0, example=ex) for i, x in enumerate(v))
        act = tuple(m * MONTH_DAYS for m in act_m)
    else:
        ramp = number(t, "ramp_months", p, None, ge=0.0, le=240.0, example="ramp_months = 6")
        r = 0.0 if ramp is None else ramp
        act = tuple(r * k / (sites - 1) * MONTH_DAYS if sites > 1 else 0.0 for k in range(sites))
    sf = number(t, "screen_fail", p, None, ge=0.0, lt=1.0, example="screen_fail = 0.2")
    sdays = number(t, "screening_days", p, 0.0, ge=0.0, le=365.0, example="screening_days = 14")
    wd = number(t, "withdrawal_per_month", p, 0.0, ge=0.0, le=10.0,
                example="withdrawal_per_month = 0.01")
    win = number(t, "visit_window_days", p, 0.0, ge=0.0, le=180.0,
                 example="visit_window_days = 14")
    if win > 0:
        m = (0,) + tuple(visits)
        gap = min(b - a for a, b in zip(m, m[1:])) * MONTH_DAYS
        if win >= gap / 2:
            raise err("conduct.visit_window_days", win, f"must be < {gap / 2:g} (half the "
                       f"shortest gap between visits at months {', '.join(map(str, visits))}, so "
                       "visits keep their order)", "visit_window_days = 14")
    chairs = _capacity(t, "chairs", p, INF, "chairs = 2 (or inf)")
    beds = _capacity(t, "beds", p, INF, "beds = 2 (or inf)")
    unit = choice(t, "infusion_unit", p, ("site", "central"), "site")
    reps = integer(t, "replicates", p, 200, lo=1, hi=1_000_000, example="replicates = 200")

    rp = "conduct.regimen"
    rg = table(t, "regimen", p)
    check_keys(rg, rp, REGIMEN_KEYS)
    infusions = integer(rg, "infusions", rp, 1, lo=1, hi=52, example="infusions = 3")
    interval = number(rg, "interval_days", rp, 28.0, gt=0.0, le=365.0,
                      example="interval_days = 28")
    ih = number(rg, "infusion_hours", rp, 2.0, gt=0.0, le=72.0, example="infusion_hours = 2")
    oh = number(rg, "observation_hours", rp, 24.0, ge=0.0, le=720.0,
                example="observation_hours = 24")
    if (ih + oh) / 24.0 > interval:
        raise err("conduct.regimen.interval_days", interval, f"must be >= the chair + bed time "
                   f"of one infusion ({(ih + oh) / 24.0:g} days)", "interval_days = 28")
    placebo = rg.get("placebo", True)
    if not isinstance(placebo, bool):
        raise err("conduct.regimen.placebo", placebo, "must be true or false", "placebo = true")

    mp = "conduct.manufacturing"
    mt = table(t, "manufacturing", p)
    check_keys(mt, mp, MANUFACTURING_KEYS)
    cap = _capacity(mt, "batch_capacity", mp, INF, "batch_capacity = 4 (or inf)")
    bint = number(mt, "batch_interval_days", mp, 7.0, gt=0.0, le=365.0,
                  example="batch_interval_days = 7")
    bday = number(mt, "batch_day", mp, 0.0, ge=0.0, le=365.0, example="batch_day = 0")
    if bday >= bint:
        raise err("conduct.manufacturing.batch_day", bday, f"must be < batch_interval_days = "
                   f"{bint:g} (day of the first batch)", "batch_day = 0")
    rel = number(mt, "release_delay_days", mp, 0.0, ge=0.0, le=365.0,
                 example="release_delay_days = 21")
    dpp = integer(mt, "doses_per_patient", mp, infusions, lo=1, hi=52,
               example=f"doses_per_patient = {infusions}")
    if dpp not in (1, infusions):
        raise err("conduct.manufacturing.doses_per_patient", dpp, f"must be 1 (one lot for the "
                   f"whole regimen) or {infusions} (a fresh dose per infusion, "
                   f"conduct.regimen.infusions = {infusions})", f"doses_per_patient = {infusions}")
    if cap != INF and dpp > cap:
        raise err("conduct.manufacturing.batch_capacity", int(cap), f"must be >= "
                   f"doses_per_patient = {dpp}", f"batch_capacity = {dpp}")
    pdoses = mt.get("placebo_doses", False)
    if not isinstance(pdoses, bool):
        raise err("conduct.manufacturing.placebo_doses", pdoses, "must be true or false",
                   "placebo_doses = false")
    if pdoses and not placebo:
        raise err("conduct.manufacturing.placebo_doses", pdoses, "needs conduct.regimen.placebo "
                   "= true (placebo infusions)", "placebo_doses = false")
    return ConductConfig(sites, rate, act, act_m, ramp, arrivals, sf, sdays, wd, win, chairs, beds,
                         unit, reps, ManufacturingConfig(cap, bint, bday, rel, dpp, pdoses),
                         RegimenConfig(infusions, interval, ih, oh, placebo))
