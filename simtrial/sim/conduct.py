"""Trial conduct: sites, recruitment, screening, randomisation, cell manufacturing, infusions,
visits and withdrawal as a discrete-event simulation (SimPy), and its link to the analysis.

Time is in **days** from day 0 (the trial's calendar origin, when the first site may open); one
month is :data:`MONTH_DAYS` = 30.4375 days (365.25 / 12). Every replicate conduct is one SimPy
environment with tiny processes:

1. **Sites.** Site ``s`` opens on its activation day (``activation_months`` or evenly over
   ``ramp_months``: site k at ``k ramp / (sites - 1)`` months), then sends candidates to
   screening as a Poisson process of ``rate_per_site_month`` (``arrivals = "regular"``: one
   every ``1 / rate`` months, a deterministic check; ``rate = inf``: all at once, round-robin
   over the open sites).
2. **Screening.** A candidate fails with the population model's screen-failure probability for
   the inclusion criteria (:attr:`simtrial.model.TrialModel.screen_fail_prob`; with strata the
   mix ``1 - 1 / sum_s f_s / (1 - p_s)`` that yields the strata fractions among those
   randomised) or ``screen_fail``. Passing candidates are randomised ``screening_days`` later;
   screening stops when the design's N have passed (no over-recruitment).
3. **Randomisation.** The allocation list is a random permutation of the design's exact group
   sizes (:func:`simtrial.model.design.group_sizes`: stratum x arm), i.e. a single randomisation list
   with fixed totals; the k-th patient randomised takes entry k.
4. **Manufacturing** (MSC arms; placebo too with ``placebo_doses = true``, a blinded supply).
   At randomisation the patient's ``doses_per_patient`` doses are booked first-come first-served
   into GMP batches that start every ``batch_interval_days`` from ``batch_day`` with
   ``batch_capacity`` doses each: a dose booked on day t takes the first batch starting on or
   after t with a free slot and is released ``release_delay_days`` (manufacture + QC) after the
   batch starts. The batch calendar is a ledger, not a process, because booking is all it does
   (no events needed).
5. **Infusions.** ``infusions`` infusions, the first as soon as the dose is released, each later
   one ``interval_days`` after the previous one started (and not before its dose). An infusion
   takes an infusion chair for ``infusion_hours``, then a bed for ``observation_hours``; the
   patient keeps the chair until a bed is free (blocking), so a full ward backs up the chairs.
   Chairs and beds are per site (``infusion_unit = "site"``) or one shared unit (``"central"``);
   ``inf`` skips the resource request entirely. Placebo patients (``placebo = true``) use the
   chairs and beds but not manufacturing.
6. **Visits** at the scenario's visit months after the first infusion (after randomisation for
   patients without one), each on a day uniform within ``+/- visit_window_days`` of its target.
   Visits hold no resource, so they are computed as arrays after the event run.
7. **Withdrawal** (extra conduct dropout): exponential with hazard ``withdrawal_per_month``
   from randomisation; a withdrawn patient gets no further infusion or visit.

Random streams: replicate ``r`` draws process ``p`` from
``SeedSequence(seed, spawn_key=(0xC0D0, r, p))``: ``p = 0`` randomisation, 1 screening,
2 visit windows, 3 withdrawal, ``100 + s`` the arrivals of site ``s``. A replicate depends only
on (seed, r), so results are identical serial or parallel, and the first R replicates are the
same whatever the number of replicates. Streams are consumed in fixed-size blocks, so the
numbers do not depend on how many are used.

**Link to power** (:mod:`simtrial.sim.full`): when the scenario has ``[conduct]``, replicate trial
``i`` takes its calendar from conduct replicate ``i mod R`` (``R = min(replicates, n_trials)``;
the pool is re-simulated for each design N). The engine's patient ``i`` of group (stratum, arm)
is the group's i-th patient randomised. A visit is observed if the design engine's dropout
model keeps it (``[dropout]``: its draws are unchanged) *and* the conduct has the patient in the
study on that day (not withdrawn). The final analysis is at the last visit actually done
(LPLV). Interim look ``l`` (``[sequential]`` fraction ``t_l < 1``) happens on the day of the
``ceil(t_l C)``-th endpoint visit, where ``C`` is the number of patients of that conduct who
complete the endpoint visit (not withdrawn), i.e. when ``t_l`` of the final endpoint data is in;
it analyses every patient with the visits done by that day (MMRM uses partial follow-up;
responders count only patients whose endpoint visit is due; GSD boundaries stay at the planned
fractions). With unlimited capacity, instant recruitment, no windows and no withdrawal the conduct
path reproduces the plain path bit for bit (a test).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._rng import generator
from ..model.design import group_sizes
from ..spec.conduct import (CONDUCT_KEYS, MANUFACTURING_KEYS, REGIMEN_KEYS,  # noqa: F401
                           ConductConfig, ManufacturingConfig, RegimenConfig, parse_conduct)
from ..stats.mc import MONTH_DAYS, median_mc_se, quantiles

__all__ = ["MONTH_DAYS", "ConductConfig", "ManufacturingConfig", "RegimenConfig",
           "ConductResult", "parse_conduct", "simulate_conduct", "conduct_design",
           "median_mc_se"]

STREAM_KEY = 0xC0D0
"""First spawn-key word of every conduct stream."""
STREAM_RANDOMISATION, STREAM_SCREENING, STREAM_VISITS, STREAM_WITHDRAWAL = 0, 1, 2, 3
STREAM_SITE0 = 100
_BLOCK = 64
INF = math.inf


# ---------------------------------------------------------------------------------------------
# one replicate
# ---------------------------------------------------------------------------------------------

def _gen(seed: int, rep: int, proc: int) -> np.random.Generator:
    return generator(seed, STREAM_KEY, rep, proc)


class _Out:
    """Per-replicate output views (rows of the result arrays)."""

    __slots__ = ("site", "screen", "rand", "inf", "w_dose", "w_chair", "w_bed", "withdraw",
                 "screened", "chair_busy", "bed_busy", "doses", "batches", "first_inf",
                 "last_end")


class _BatchLedger:
    """The GMP batch ledger: FIFO, one batch every ``batch_interval_days`` from ``batch_day``,
    at most ``batch_capacity`` doses each, released ``release_delay_days`` after its day."""

    def __init__(self, man):
        self.cap = man.batch_capacity
        self.interval = man.batch_interval_days
        self.day = man.batch_day
        self.release = man.release_delay_days
        self.batch, self.in_batch = -1, 0       # current batch index, doses in it
        self.first, self.last, self.doses = math.inf, -math.inf, 0

    def book(self, t: float) -> float:
        """Book one dose on day t; return its release day."""
        w0 = max(0, math.ceil((t - self.day) / self.interval - 1e-9))
        if w0 > self.batch:
            self.batch, self.in_batch = w0, 0
        elif self.in_batch >= self.cap:
            self.batch, self.in_batch = self.batch + 1, 0
        self.in_batch += 1
        w = self.batch
        self.first = min(self.first, w)
        self.last = max(self.last, w)
        self.doses += 1
        return self.day + w * self.interval + self.release

    @property
    def batches(self) -> int:
        """Batches from the first to the last one used."""
        return (self.last - self.first + 1) if self.doses else 0


class _ScreenFailures:
    """Screen-failure draws in blocks of :data:`_BLOCK` uniforms from one stream."""

    def __init__(self, gen: np.random.Generator | None, p_fail: float):
        self.gen, self.p = gen, p_fail
        self.buf: list[float] = []
        self.i = 0

    def next(self) -> bool:
        if self.gen is None:
            return False
        if self.i == len(self.buf):
            self.buf = self.gen.random(_BLOCK).tolist()
            self.i = 0
        u = self.buf[self.i]
        self.i += 1
        return u < self.p


class _Replicate:
    """One conduct replicate: a SimPy environment with three kinds of process.

    * :meth:`site` opens on its activation day and screens candidates (Poisson or regular
      arrivals, screen failures) until the trial has ``N`` patients;
    * :meth:`patient` waits the screening days, is randomised, books its doses in the batch
      ledger and receives its infusions (:meth:`infusion`: a chair, then an observation bed);
    * the batch ledger (:class:`_BatchLedger`) and the screening stream
      (:class:`_ScreenFailures`) are shared state, not processes.
    """

    def __init__(self, cfg: ConductConfig, seed: int, rep: int, group_seq: np.ndarray,
                 product: np.ndarray, p_fail: float, o: _Out, trace: list | None):
        self.cfg, self.seed, self.rep, self.o, self.trace = cfg, seed, rep, o, trace
        self.group_seq, self.product = group_seq, product
        self.N = group_seq.size
        import simpy        # only for designs with a [conduct] section (0.1 s to import)
        self.env = simpy.Environment()
        reg = cfg.regimen
        self.I = reg.infusions
        self.interval = reg.interval_days
        self.t_inf = reg.infusion_hours / 24.0
        self.t_obs = reg.observation_hours / 24.0
        self.placebo = reg.placebo
        self.sdays = cfg.screening_days
        self.units = cfg.sites if cfg.infusion_unit == "site" else 1
        env = self.env
        self.chairs = ([simpy.Resource(env, capacity=int(cfg.chairs)) for _ in range(self.units)]
                       if cfg.chairs != INF else None)
        self.beds = ([simpy.Resource(env, capacity=int(cfg.beds)) for _ in range(self.units)]
                     if cfg.beds != INF else None)
        self.timed = self.chairs is not None or self.beds is not None
        self.ledger = _BatchLedger(cfg.manufacturing)
        self.per_inf = cfg.manufacturing.doses_per_patient > 1
        self.n_doses = cfg.manufacturing.doses_per_patient
        if cfg.withdrawal_per_month > 0:
            self.wdraw = (_gen(seed, rep, STREAM_WITHDRAWAL).standard_exponential(self.N)
                          * (MONTH_DAYS / cfg.withdrawal_per_month)).tolist()
        else:
            self.wdraw = None
        self.rate = cfg.rate_per_site_month
        self.count = self.screened = 0
        self.stopped = False
        self.chair_busy = self.bed_busy = 0.0
        self.first, self.last = math.inf, -math.inf
        self.screening = _ScreenFailures(_gen(seed, rep, STREAM_SCREENING) if p_fail > 0
                                         else None, p_fail)

    def _log(self, *event) -> None:
        if self.trace is not None:
            self.trace.append(event)

    def run(self) -> None:
        for s, act in enumerate(self.cfg.activation_days):
            self.env.process(self.site(s, act))
        self.env.run()
        o = self.o
        o.screened = self.screened
        o.chair_busy = self.chair_busy
        o.bed_busy = self.bed_busy
        o.doses = self.ledger.doses
        o.batches = self.ledger.batches
        o.first_inf = self.first
        o.last_end = self.last

    def _gaps(self, s: int):
        """Days between candidates at site ``s`` (None: at once, every event)."""
        cfg, rate = self.cfg, self.rate
        if rate == INF:
            while True:
                yield 0.0
        elif cfg.arrivals == "regular":
            gap = MONTH_DAYS / rate
            while True:
                yield gap
        else:
            g = _gen(self.seed, self.rep, STREAM_SITE0 + s)
            scale = MONTH_DAYS / rate
            while True:
                yield from (g.standard_exponential(_BLOCK) * scale).tolist()

    def site(self, s: int, act: float):
        env = self.env
        if act > 0:
            yield env.timeout(act)
        for gap in self._gaps(s):
            yield env.timeout(gap)
            if self.stopped:
                return
            self.screened += 1
            if self.screening.next():
                self._log(env.now, -1, "screen_fail", s)
                continue
            k = self.count
            self.count = k + 1
            self.o.screen[k] = env.now
            self._log(env.now, k, "screen_pass", s)
            env.process(self.patient(k, s))
            if k + 1 == self.N:
                self.stopped = True
                return

    def patient(self, k: int, s: int):
        env, o = self.env, self.o
        if self.sdays > 0:
            yield env.timeout(self.sdays)
        t0 = env.now
        o.rand[k] = t0
        o.site[k] = s
        W = t0 + self.wdraw[k] if self.wdraw is not None else INF
        o.withdraw[k] = W
        prod = self.product[self.group_seq[k]]
        self._log(t0, k, "randomised", int(self.group_seq[k]))
        if not (prod or self.placebo):
            return
        rel = None
        if prod:
            rel = [self.ledger.book(t0) for _ in range(self.n_doses)]
            for r_ in rel:
                self._log(t0, k, "dose_booked", r_)
        u = s if self.units > 1 else 0
        target = t0
        for j in range(self.I):
            ready = target
            if rel is not None:
                r_ = rel[j] if self.per_inf else rel[0]
                if r_ > ready:
                    ready = r_
            if ready > env.now:
                yield env.timeout(ready - env.now)
            if env.now >= W:
                self._log(env.now, k, "withdrawn", j)
                return
            o.w_dose[k, j] = ready - target
            start = yield from self.infusion(k, j, u)
            target = start + self.interval

    def infusion(self, k: int, j: int, u: int):
        """Infusion ``j`` of patient ``k`` in unit ``u``: a chair, then an observation bed;
        returns the start day."""
        env, o = self.env, self.o
        chairs, beds = self.chairs, self.beds
        tq = env.now
        if chairs is not None:
            req = chairs[u].request()
            yield req
        start = env.now
        o.inf[k, j] = start
        o.w_chair[k, j] = start - tq
        self._log(start, k, "infusion_start", j)
        if self.timed:
            yield env.timeout(self.t_inf)
        if beds is not None:
            breq = beds[u].request()
            yield breq
            t_bed = env.now
        else:
            t_bed = start + self.t_inf
        o.w_bed[k, j] = t_bed - (start + self.t_inf)
        if chairs is not None:
            chairs[u].release(req)
        self.chair_busy += t_bed - start
        self._log(t_bed, k, "bed_start", j)
        end = t_bed + self.t_obs
        if beds is not None:
            yield env.timeout(self.t_obs)
            beds[u].release(breq)
            self._log(end, k, "bed_end", j)
        self.bed_busy += self.t_obs
        if start < self.first:
            self.first = start
        if end > self.last:
            self.last = end
        return start


def _replicate(cfg: ConductConfig, seed: int, rep: int, group_seq: np.ndarray,
               product: np.ndarray, p_fail: float, o: _Out, trace: list | None) -> None:
    """Run one conduct replicate (SimPy), writing into ``o``'s arrays."""
    _Replicate(cfg, seed, rep, group_seq, product, p_fail, o, trace).run()


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

def _row_mean(a: np.ndarray, axis=None) -> np.ndarray:
    """Mean over finite entries along axis (NaN where none)."""
    fin = np.isfinite(a)
    n = fin.sum(axis=axis)
    s = np.where(fin, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


@dataclass(frozen=True)
class ConductResult:
    """Replicate conducts of one design point.

    Patients are indexed in randomisation order ``k`` (0 .. N-1). Arrays (days from day 0; NaN
    = did not happen; ``withdraw_day`` inf = never):

    ``site, group`` (R, N) int: site and design group ``stratum * (arms + 1) + arm``
    (arm 0 = control); ``screen_day, rand_day`` (R, N); ``infusion_day, wait_dose,
    wait_chair, wait_bed`` (R, N, infusions): start of each infusion and the days it waited for
    its dose (beyond its target day), a chair and a bed; ``visit_day`` (R, N, V): day of each
    scheduled visit (also for withdrawn patients); ``observed`` (R, N, V): visit done (before
    withdrawal); ``withdraw_day`` (R, N) (the day the patient would withdraw; it matters only
    before the last visit); ``screened`` (R,) candidates screened;
    ``chair_busy, bed_busy`` (R,) occupied days; ``doses, batches`` (R,) doses made and batch
    slots spanned; ``treat_first, treat_last`` (R,) first infusion start and last bed release;
    ``look_day`` (R, L) calendar day of each look.
    """

    config: ConductConfig
    scenario: str
    design_point: int
    sizes: np.ndarray
    visits: tuple[int, ...]
    endpoint_visit: int
    fractions: tuple[float, ...]
    screen_fail: float
    seed: int
    site: np.ndarray
    group: np.ndarray
    screen_day: np.ndarray
    rand_day: np.ndarray
    infusion_day: np.ndarray
    wait_dose: np.ndarray
    wait_chair: np.ndarray
    wait_bed: np.ndarray
    withdraw_day: np.ndarray
    visit_day: np.ndarray
    observed: np.ndarray
    screened: np.ndarray
    chair_busy: np.ndarray
    bed_busy: np.ndarray
    doses: np.ndarray
    batches: np.ndarray
    treat_first: np.ndarray
    treat_last: np.ndarray
    look_day: np.ndarray
    elapsed_s: float = 0.0
    trace: tuple | None = None

    @property
    def replicates(self) -> int:
        return int(self.rand_day.shape[0])

    @property
    def n_patients(self) -> int:
        return int(self.rand_day.shape[1])

    @property
    def arm(self) -> np.ndarray:
        """Arm of each patient (R, N); 0 = control."""
        return self.group % self.sizes.shape[1]

    def last_randomisation(self) -> np.ndarray:
        """Day of the last randomisation, (R,)."""
        return self.rand_day.max(axis=1)

    def lplv(self) -> np.ndarray:
        """Last patient last visit: day of the last visit done, (R,)."""
        v = np.where(self.observed, self.visit_day, -np.inf).max(axis=(1, 2))
        return np.where(np.isfinite(v), v, self.last_randomisation())

    def endpoint_done(self) -> np.ndarray:
        """Day of each patient's endpoint visit, inf if withdrawn before it, (R, N)."""
        k = self.endpoint_visit
        return np.where(self.observed[..., k], self.visit_day[..., k], np.inf)

    def look_counts(self) -> dict[str, np.ndarray]:
        """Per look (R, L): patients randomised, with any visit done, with the endpoint visit
        done, by the look's day."""
        ld = self.look_day[:, None, :]                                 # (R, 1, L)
        done = self.observed[..., None] & (self.visit_day[..., None] <= ld[:, :, None, :])
        return {"randomised": (self.rand_day[..., None] <= ld).sum(axis=1),
                "with_data": done.any(axis=2).sum(axis=1),
                "with_endpoint": done[:, :, self.endpoint_visit].sum(axis=1)}

    def per_replicate(self) -> dict[str, np.ndarray]:
        """Scalar metrics per replicate, each (R,) (names as in :meth:`rows`)."""
        cfg = self.config
        given = np.isfinite(self.infusion_day)
        first = self.infusion_day[..., 0] - self.rand_day
        span = self.treat_last - self.treat_first
        span = np.where(np.isfinite(span) & (span > 0), span, np.nan)     # nan: no infusion
        units = cfg.sites if cfg.infusion_unit == "site" else 1
        with np.errstate(invalid="ignore", divide="ignore"):
            chair_u = (self.chair_busy / (cfg.chairs * units * span) if cfg.chairs != INF
                       else np.full(self.replicates, np.nan))
            bed_u = (self.bed_busy / (cfg.beds * units * span) if cfg.beds != INF
                     else np.full(self.replicates, np.nan))
            cap = cfg.manufacturing.batch_capacity
            man_u = (self.doses / (cap * self.batches) if cap != INF
                     else np.full(self.replicates, np.nan))
        prod = self.arm > 0
        first = np.where(prod, first, np.nan)          # MSC patients: the wait for cells
        wd = np.where(given & prod[..., None], self.wait_dose, np.nan)
        return {
            "screened": self.screened.astype(float),
            "last_randomisation_day": self.last_randomisation(),
            "lplv_day": self.lplv(),
            "first_infusion_delay_days": _row_mean(first, axis=1),
            "dose_wait_days": _row_mean(wd.reshape(self.replicates, -1), axis=1),
            "chair_wait_days": _row_mean(self.wait_chair.reshape(self.replicates, -1), axis=1),
            "bed_wait_days": _row_mean(self.wait_bed.reshape(self.replicates, -1), axis=1),
            "max_chair_wait_days": np.where(given.any(axis=(1, 2)), np.where(
                given, self.wait_chair, -np.inf).max(axis=(1, 2)), np.nan),
            "chair_utilisation": chair_u,
            "bed_utilisation": bed_u,
            "manufacturing_utilisation": man_u,
            "infusions_given": given.sum(axis=(1, 2)).astype(float),
            "withdrawn": (self.withdraw_day < self.visit_day[..., -1]).mean(axis=1),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows: ``scenario, design_point, metric, visit, estimate`` (median over
        replicates), ``q10, q90``, ``mc_se`` (Monte Carlo SE of the median,
        :func:`median_mc_se`), ``replicates``."""
        base = {"scenario": self.scenario, "design_point": self.design_point}
        out = []

        def add(metric, visit, x):
            m, q10, q90 = quantiles(x)
            out.append({**base, "metric": metric, "visit": visit, "estimate": m, "q10": q10,
                        "q90": q90, "mc_se": median_mc_se(x), "replicates": self.replicates})

        for k, v in self.per_replicate().items():
            add(k, "", v)
        lc = self.look_counts()
        for li, f in enumerate(self.fractions):
            lab = f"look {li + 1} ({f:g})"
            add("look_day", lab, self.look_day[:, li])
            add("randomised_at_look", lab, lc["randomised"][:, li])
            add("with_data_at_look", lab, lc["with_data"][:, li])
            add("with_endpoint_at_look", lab, lc["with_endpoint"][:, li])
        return out

    def to_frame(self) -> "pd.DataFrame":
        """:meth:`rows` as a DataFrame."""
        import pandas as pd
        return pd.DataFrame(self.rows())

    def enrolment_curve(self, points: int = 201) -> "pd.DataFrame":
        """Patients randomised, and with the endpoint visit done, by calendar day.

        Returns
        -------
        DataFrame
            ``day, month, randomised_median, randomised_q10, randomised_q90,
            endpoint_median, endpoint_q10, endpoint_q90`` (quantiles over replicates).
        """
        ep = np.where(self.observed[..., self.endpoint_visit],
                      self.visit_day[..., self.endpoint_visit], np.inf)
        hi = float(np.max(self.lplv())) if self.replicates else 1.0
        days = np.linspace(0.0, max(hi, 1.0), points)
        d = {"day": days, "month": days / MONTH_DAYS}
        for name, x in (("randomised", self.rand_day), ("endpoint", ep)):
            xs = np.sort(x, axis=1)
            cnt = np.stack([np.searchsorted(row, days, side="right") for row in xs])   # (R, G)
            q = np.quantile(cnt, [0.5, 0.1, 0.9], axis=0)
            d[f"{name}_median"], d[f"{name}_q10"], d[f"{name}_q90"] = q
        import pandas as pd
        return pd.DataFrame(d)

    def to_dict(self) -> dict[str, Any]:
        """Resolved conduct as plain data, for the manifest."""
        return {"config": self.config.to_toml(),
                "activation_days": list(self.config.activation_days),
                "screen_fail_prob": self.screen_fail, "replicates": self.replicates,
                "patients": self.n_patients, "month_days": MONTH_DAYS,
                "rng": f"replicate r, process p: SeedSequence(seed, spawn_key=({STREAM_KEY}, r, "
                       "p)); p = 0 randomisation, 1 screening, 2 visit windows, 3 withdrawal, "
                       "100 + s arrivals at site s",
                "link": "trial i uses conduct replicate i mod replicates"}

    def summary(self) -> str:
        """Readable multi-line summary (medians with 10-90% bands, in months)."""
        pr = self.per_replicate()
        lines = [f"conduct   {self.config.sites} sites, {self.n_patients} patients, "
                 f"{self.replicates} replicates, screen fail {self.screen_fail:.1%}"]

        def mo(x):
            m, a, b = quantiles(np.asarray(x) / MONTH_DAYS)
            return f"{m:.1f} months (10-90%: {a:.1f}-{b:.1f})"

        lines.append(f"          last randomisation {mo(pr['last_randomisation_day'])}")
        lines.append(f"          last patient last visit {mo(pr['lplv_day'])}")
        m, a, b = quantiles(pr["first_infusion_delay_days"])
        if math.isfinite(m):
            lines.append(f"          MSC randomisation to first infusion {m:.1f} days "
                         f"(10-90%: {a:.1f}-{b:.1f})")
        for key, lab in (("manufacturing_utilisation", "manufacturing"),
                         ("chair_utilisation", "chairs"), ("bed_utilisation", "beds")):
            m, a, b = quantiles(pr[key])
            if math.isfinite(m):
                lines.append(f"          {lab} utilisation {m:.2%} (10-90%: {a:.2%}-{b:.2%})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------

def simulate_conduct(cfg: ConductConfig, sizes, *, visits=(3, 6, 12), endpoint_month: int = 12,
                     fractions=(1.0,), screen_fail: float = 0.0, replicates: int | None = None,
                     seed: int = 0, name: str = "", design_point: int | None = None,
                     trace: bool = False) -> ConductResult:
    """Simulate replicate conducts of a trial with the given group sizes.

    Parameters
    ----------
    cfg : ConductConfig
    sizes : array_like of int, shape (strata, arms + 1)
        Patients per group; column 0 is the control (placebo) arm.
    visits : sequence of int
        Visit months.
    endpoint_month : int
        The primary endpoint's visit (one of ``visits``); defines the information fraction.
    fractions : sequence of float
        Information fractions of the looks (the last is 1.0 = final analysis at LPLV).
    screen_fail : float
        Screen-failure probability (``cfg.screen_fail`` overrides it).
    replicates : int, optional
        Default ``cfg.replicates``.
    seed : int
    trace : bool
        Record the event trace of replicate 0: ``(day, patient k, event, detail)`` tuples.

    Returns
    -------
    ConductResult
    """
    t0 = time.perf_counter()
    sizes = np.atleast_2d(np.asarray(sizes, dtype=np.int64))
    R = cfg.replicates if replicates is None else int(replicates)
    N = int(sizes.sum())
    if N < 1:
        raise ValueError("sizes must contain at least one patient")
    visits = tuple(int(v) for v in visits)
    k_end = visits.index(int(endpoint_month))
    p_fail = cfg.screen_fail if cfg.screen_fail is not None else float(screen_fail)
    labels = np.repeat(np.arange(sizes.size), sizes.ravel())
    product = ((np.arange(sizes.size) % sizes.shape[1]) != 0) | cfg.manufacturing.placebo_doses
    I = cfg.regimen.infusions
    V = len(visits)
    nan = np.nan
    site = np.zeros((R, N), dtype=np.int32)
    group = np.zeros((R, N), dtype=np.int64)
    screen = np.full((R, N), nan)
    rand = np.full((R, N), nan)
    inf = np.full((R, N, I), nan)
    w_dose, w_chair, w_bed = (np.full((R, N, I), nan) for _ in range(3))
    withdraw = np.full((R, N), np.inf)
    visit_day = np.empty((R, N, V))
    scalars = {k: np.zeros(R) for k in ("screened", "chair_busy", "bed_busy", "doses",
                                        "batches", "first_inf", "last_end")}
    vdays = np.asarray(visits, dtype=float) * MONTH_DAYS
    win = cfg.visit_window_days
    tr: list | None = [] if trace else None
    for r in range(R):
        seq = _gen(seed, r, STREAM_RANDOMISATION).permutation(labels)
        group[r] = seq
        o = _Out()
        o.site, o.screen, o.rand, o.inf = site[r], screen[r], rand[r], inf[r]
        o.w_dose, o.w_chair, o.w_bed, o.withdraw = w_dose[r], w_chair[r], w_bed[r], withdraw[r]
        _replicate(cfg, seed, r, seq, product, p_fail, o, tr if r == 0 else None)
        for k in scalars:
            scalars[k][r] = getattr(o, k)
        anchor = np.where(np.isnan(inf[r, :, 0]), rand[r], inf[r, :, 0])
        vd = anchor[:, None] + vdays[None, :]
        if win > 0:
            vd = vd + _gen(seed, r, STREAM_VISITS).uniform(-win, win, (N, V))
        visit_day[r] = vd
    observed = visit_day < withdraw[..., None]
    res = ConductResult(cfg, name, int(sizes[:, 0].sum() if design_point is None else design_point),
                        sizes, visits, k_end, tuple(float(f) for f in fractions), p_fail, seed,
                        site, group, screen, rand, inf, w_dose, w_chair, w_bed, withdraw,
                        visit_day, observed, scalars["screened"].astype(np.int64),
                        scalars["chair_busy"], scalars["bed_busy"], scalars["doses"],
                        scalars["batches"], scalars["first_inf"], scalars["last_end"],
                        np.zeros((R, len(fractions))), 0.0,
                        tuple(tr) if tr is not None else None)
    return dataclasses.replace(res, look_day=_look_days(res), elapsed_s=time.perf_counter() - t0)


def _look_days(res: ConductResult) -> np.ndarray:
    """Look l: day of the ceil(t_l C)-th endpoint visit, C = endpoint visits done in the
    replicate (t_l of the final endpoint data); the final look (t = 1) is at LPLV."""
    R, N = res.rand_day.shape
    lplv = res.lplv()
    done = np.sort(res.endpoint_done(), axis=1)
    C = np.isfinite(done).sum(axis=1)
    out = np.empty((R, len(res.fractions)))
    for li, f in enumerate(res.fractions):
        if f >= 1.0:
            out[:, li] = lplv
        else:
            m = np.maximum(1, np.ceil(f * C - 1e-9).astype(np.int64))
            day = done[np.arange(R), np.minimum(m, N) - 1]
            out[:, li] = np.where(C > 0, np.minimum(day, lplv), lplv)
    return out


def conduct_design(dm, n_per_arm: int | None = None, *, replicates: int | None = None,
                   seed: int | None = None, trace: bool = False) -> ConductResult:
    """Replicate conducts of a design (:class:`simtrial.model.design.DesignModel`) with
    ``[conduct]`` at control-arm size ``n_per_arm`` (default the design N).

    The screen-failure probability comes from the population model of each stratum; the
    randomisation list holds :func:`simtrial.model.design.group_sizes`.
    """
    sc = dm.scenario
    cfg = sc.conduct
    if cfg is None:
        raise ValueError(f"scenario {sc.name!r} has no [conduct] section")
    n = sc.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    sizes = group_sizes(dm, n)
    pf = np.array([m.screen_fail_prob for m in dm.models])
    fr = np.asarray(dm.fractions)
    p_fail = 1.0 - 1.0 / float(np.sum(fr / (1.0 - pf)))
    fractions = sc.sequential.fractions if sc.sequential is not None else (1.0,)
    return simulate_conduct(cfg, sizes, visits=dm.visits, endpoint_month=sc.endpoint.visit_months,
                            fractions=fractions, screen_fail=p_fail,
                            replicates=cfg.replicates if replicates is None else replicates,
                            seed=sc.seed if seed is None else seed, name=sc.name,
                            design_point=n, trace=trace)


# ---------------------------------------------------------------------------------------------
# link to the design engine
# ---------------------------------------------------------------------------------------------

@dataclass
class ChunkLink:
    """Conduct data of one engine chunk, in the engine's patient order (group-major, enrolment
    order within group): ``rep`` (T,), ``visit_day``, ``observed`` (T, P, V), ``rand_day``
    (T, P), ``look_day`` (T, L) with T = trials per chunk."""

    rep: np.ndarray
    visit_day: np.ndarray
    observed: np.ndarray
    rand_day: np.ndarray
    look_day: np.ndarray
    endpoint_visit: int
    replicates: int

    def due(self, look: int) -> np.ndarray:
        """Visits done by interim look ``look`` (T, P, V) (their day has come)."""
        return self.visit_day <= self.look_day[:, look, None, None]

    def outcomes(self, obs: np.ndarray, trials: int, look: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
        """Per-trial calendar outcomes given the engine's final observed mask (T, P, V).

        ``conduct_duration``: day of the analysis at which the trial ends (the stopping look, or
        the last visit done); with looks, per look (trials, L): ``conduct_look_day``,
        ``conduct_look_randomised``, ``conduct_look_patients`` (any visit done),
        ``conduct_look_endpoint`` (endpoint visit done), and ``conduct_randomised_stop``.
        """
        vd = self.visit_day[:trials]
        ob = obs[:trials]
        last = np.where(ob, vd, -np.inf).max(axis=(1, 2))
        last = np.where(np.isfinite(last), last, self.rand_day[:trials].max(axis=1))
        out = {"conduct_rep": self.rep[:trials].copy()}
        if look is None:
            out["conduct_duration"] = last
            return out
        L = self.look_day.shape[1]
        ld = np.concatenate([self.look_day[:trials, :L - 1], last[:, None]], axis=1)
        done = ob[..., None] & (vd[..., None] <= ld[:, None, None, :])       # (T, P, V, L)
        rnd = (self.rand_day[:trials, :, None] <= ld[:, None, :]).sum(axis=1)
        out["conduct_look_day"] = ld
        out["conduct_look_randomised"] = rnd
        out["conduct_look_patients"] = done.any(axis=2).sum(axis=1)
        out["conduct_look_endpoint"] = done[:, :, self.endpoint_visit].sum(axis=1)
        idx = np.arange(trials)
        out["conduct_duration"] = ld[idx, look[:trials]]
        out["conduct_randomised_stop"] = rnd[idx, look[:trials]]
        return out


def link_chunk(cres: ConductResult, chunk: int, chunk_trials: int) -> ChunkLink:
    """Conduct arrays for the trials of engine chunk ``chunk``: trial i = chunk * chunk_trials
    + t uses replicate ``i mod R``; patients reordered to the engine's group-major order."""
    R = cres.replicates
    rep = (chunk * chunk_trials + np.arange(chunk_trials)) % R
    order = np.argsort(cres.group, axis=1, kind="stable")          # (R, N): engine -> k
    vd = np.take_along_axis(cres.visit_day, order[..., None], axis=1)
    ob = np.take_along_axis(cres.observed, order[..., None], axis=1)
    rd = np.take_along_axis(cres.rand_day, order, axis=1)
    return ChunkLink(rep, vd[rep], ob[rep], rd[rep], cres.look_day[rep], cres.endpoint_visit, R)
