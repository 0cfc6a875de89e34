"""One result type for every scenario: operating characteristics in a tidy table.

* :class:`PointResult` — the simulated operating characteristics at one control-arm size N
  (every hypothesis, the family, interim looks, dropout, screening, conduct), with the closed
  form beside the simulation wherever one exists.
* :class:`SampleSize` — the smallest N from which the simulated power (or assurance) of the
  primary hypothesis stays at or above a target, with the closed-form N beside it.
* :class:`RunResult` — what ``simtrial run`` computes: the design point, the power curve and the
  sample sizes.

Every table has the same id columns, whatever the scenario and whichever kernel simulated it
(:data:`ID_COLUMNS`), then ``metric, estimate, mc_se`` (and ``q10, q90`` for conduct
logistics). Every simulated probability carries its Monte Carlo SE; means carry ``SD / sqrt(R)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.design import DesignModel, Hypothesis
from ..model.outcomes import OUTCOMES
from ..stats.closed_form import power_ancova, power_ttest
from ..stats.mc import calendar_summary, mean_se, MONTH_DAYS, rate_se, wilson
from ..stats.exact import EXACT_SIZE_MAX_N, responder_test_size
from .closed_form import analytic_assurance
from .safety import safety_rows
from .text import point_summary, run_summary, sample_size_line

__all__ = ["ID_COLUMNS", "TIDY_COLUMNS", "HypothesisStats", "PointResult", "SampleSize",
           "RunResult", "closed_form_power", "closed_form_assurance", "has_closed_form"]

ID_COLUMNS = ("scenario", "design_point", "n_per_arm", "hypothesis", "endpoint", "arm", "visit")
"""Id columns of every operating-characteristics row."""
TIDY_COLUMNS = ("table",) + ID_COLUMNS + ("metric", "estimate", "mc_se", "q10", "q90")
"""Columns of ``results.csv`` and :meth:`RunResult.to_frame`."""


# ---------------------------------------------------------------------------------------------
# closed forms of a hypothesis
# ---------------------------------------------------------------------------------------------

def has_closed_form(dm: DesignModel, h: Hypothesis) -> bool:
    """A complete-data closed form exists for ``h``: one stratum, a continuous endpoint on the
    natural scale at the primary outcome and visit (the model's moments), superiority, no
    margin."""
    e = h.endpoint
    sc = dm.scenario
    return (len(dm.models) == 1 and e.type == "continuous" and e.scale != "log"
            and not math.isnan(h.truth) and e.hypothesis == "superiority" and not e.margin
            and e.outcome == sc.endpoint.outcome and e.visit_months == sc.endpoint.visit_months)


def closed_form_power(dm: DesignModel, h: Hypothesis, n0: int, n1: int) -> float:
    """Closed-form power of hypothesis ``h`` at arm sizes ``n0`` (control), ``n1`` (its arm):
    the t-test or ANCOVA formula of :mod:`simtrial.stats.closed_form` with complete data and no
    multiplicity or interim looks (a reference beside the simulation); NaN where none exists."""
    if not has_closed_form(dm, h) or n0 < 2 or n1 < 2:
        return math.nan
    m = dm.models[0]
    sc = dm.scenario
    better = OUTCOMES[h.endpoint.outcome].better
    if h.endpoint.analysis == "ttest_change":
        return float(power_ttest(h.truth, m.analytic["sd_change"], n0, n1, sc.design.alpha,
                                 sc.design.sides, better))
    return float(power_ancova(h.truth, m.analytic["sd_resid_ancova"], n0, n1, sc.design.alpha,
                              sc.design.sides, better))


def closed_form_assurance(dm: DesignModel, h: Hypothesis, n0: int, n1: int) -> float:
    """Closed-form assurance of the primary hypothesis (NaN without an effect distribution or a
    closed form)."""
    dist = dm.models[0].distribution
    if (dist is None or dist.is_point or h.index != 0 or not has_closed_form(dm, h)
            or h.arm != 1 or dm.arms[0].effect_scale != 1.0 or n0 < 2 or n1 < 2):
        return math.nan
    return float(analytic_assurance(dm.models[0], n0, n1))


# ---------------------------------------------------------------------------------------------
# one design point
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HypothesisStats:
    """Sufficient statistics of one hypothesis over the replicate trials (either kernel)."""

    n_trials: int
    reject: int
    success: int
    reject_raw: int
    est_n: int
    est_sum: float
    est_sum2: float
    se_n: int
    se_sum: float
    not_fitted: int
    tested: int | None = None
    assurance: int | None = None

    @classmethod
    def from_trials(cls, tr: dict[str, np.ndarray], j: int, tested: bool) -> "HypothesisStats":
        est = tr["point_est"][:, j]
        fin = est[np.isfinite(est)]
        se = tr["point_se"][:, j]
        sfin = se[np.isfinite(se)]
        # centred second moment: the SD does not lose digits to a large mean
        c = float(np.mean(fin)) if fin.size else 0.0
        d = fin - c
        return cls(
            n_trials=int(est.size), reject=int(tr["point_reject"][:, j].sum()),
            success=int(tr["point_success"][:, j].sum()),
            reject_raw=int(tr["point_reject_raw"][:, j].sum()), est_n=int(fin.size),
            est_sum=float(fin.sum()), est_sum2=float(d @ d + fin.size * c * c),
            se_n=int(sfin.size), se_sum=float(sfin.sum()),
            not_fitted=int(np.sum(tr["point_status"][:, j] != 0)),
            tested=int(tr["point_tested"][:, j].sum()) if tested else None,
            assurance=(int(tr["assurance_success"][:, j].sum()) if "assurance_success" in tr
                       else None))

    def mean_sd(self) -> tuple[float, float, float]:
        """Mean estimate, its MC SE and the SD of the estimates."""
        n = self.est_n
        if n < 2:
            return math.nan, math.nan, math.nan
        m = self.est_sum / n
        var = max(self.est_sum2 / n - m * m, 0.0) * n / (n - 1)
        sd = math.sqrt(var)
        return m, sd / math.sqrt(n), sd


def _row_value(metric: str, *, column: int = 0, arm: str | None = None, doc: str = ""):
    """A read-only shortcut to one number of a PointResult's rows (0 = estimate, 1 = MC SE)."""
    return property(lambda self: self._row(metric, arm)[column], doc=doc or f"``{metric}``.")


@dataclass(frozen=True)
class PointResult:
    """Simulated operating characteristics at control-arm size ``n_per_arm``.

    Attributes
    ----------
    design : DesignModel
    n_per_arm : int
        Control-arm size (the TOML key ``design.n_per_arm``).
    sizes : ndarray of int, shape (strata, arms + 1)
        Patients per stratum and arm (arm 0 = control).
    n_trials, seed : int
    kernel : {"suffstat", "prefix", "full"}
        Which simulation kernel produced it (prefix and full give identical numbers where both
        apply; suffstat the same distribution from other random numbers).
    stats : tuple of HypothesisStats
        Per hypothesis.
    extra : tuple of dict
        Further rows (family, looks, dropout, screening, conduct, insulin independence, ...).
    trials : dict of str -> ndarray, optional
        Per-trial arrays (``point_est``, ``point_reject``, ... shaped (n_trials, H)) when kept.
    conduct : ConductResult, optional
        The conduct replicates (``[conduct]``).
    """

    design: DesignModel
    n_per_arm: int
    sizes: np.ndarray = field(repr=False)
    n_trials: int
    seed: int
    kernel: str
    stats: tuple[HypothesisStats, ...] = field(repr=False)
    extra: tuple[dict, ...] = field(default=(), repr=False)
    trials: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    conduct: Any = field(default=None, repr=False)
    elapsed_s: float = field(default=0.0, repr=False)

    # -- plain data ---------------------------------------------------------------------------
    @property
    def arm_sizes(self) -> np.ndarray:
        """Patients per arm (control first)."""
        return self.sizes.sum(axis=0)

    @property
    def power(self) -> float:
        """Simulated power of the primary hypothesis."""
        return self.stats[0].reject / self.n_trials

    @property
    def mc_se(self) -> float:
        return rate_se(self.power, self.n_trials)

    # primary-hypothesis shortcuts (every number is also a row of to_frame())
    def _primary(self, metric: str) -> float:
        h0 = self.design.hypotheses[0]
        for r in self.rows():
            if r["metric"] == metric and r["hypothesis"] == h0.label:
                return float(r["estimate"])
        return math.nan

    @property
    def analytic_power(self) -> float:
        """Closed-form power of the primary hypothesis (NaN where none exists)."""
        return self._primary("analytic_power")

    @property
    def mean_estimate(self) -> float:
        return self.stats[0].mean_sd()[0]

    @property
    def mean_estimate_mc_se(self) -> float:
        return self.stats[0].mean_sd()[1]

    @property
    def sd_estimate(self) -> float:
        return self.stats[0].mean_sd()[2]

    @property
    def assurance(self) -> float:
        """Simulated assurance of the primary hypothesis (NaN without an effect distribution)."""
        a = self.stats[0].assurance
        return math.nan if a is None else a / self.n_trials

    @property
    def assurance_mc_se(self) -> float:
        return rate_se(self.assurance, self.n_trials)

    @property
    def analytic_assurance(self) -> float:
        return self._primary("analytic_assurance")

    def _row(self, metric: str, arm: str | None = None) -> tuple[float, float]:
        for r in self.rows():
            if r["metric"] == metric and (arm is None or r["arm"] == arm):
                return float(r["estimate"]), float(r["mc_se"])
        return math.nan, math.nan

    @property
    def md(self) -> float:
        """True effect of the primary hypothesis on the analysis scale."""
        return self.design.hypotheses[0].truth

    screen_fail = _row_value("screen_fail", doc="Simulated share of screened candidates "
                             "failing the inclusion criteria.")
    screen_fail_mc_se = _row_value("screen_fail", column=1)
    theta_mean = _row_value("trial_effect_mean", doc="Mean of the drawn trial effects (NaN "
                            "without an effect distribution).")
    theta_sd = _row_value("trial_effect_sd")

    @property
    def theta_clipped(self) -> int:
        v = self._row("trial_effects_clipped")[0]
        return 0 if math.isnan(v) else int(v)

    responder_fraction = _row_value("responder_fraction")
    responder_fraction_mc_se = _row_value("responder_fraction", column=1)
    insulin_independence_control = _row_value("insulin_independence", arm="control")

    @property
    def insulin_independence_msc(self) -> float:
        return self._row("insulin_independence", self.design.arms[0].name)[0]

    @property
    def n_msc(self) -> int:
        """Size of the first MSC arm."""
        return int(self.arm_sizes[1])

    @property
    def estimates(self) -> np.ndarray | None:
        """Per-trial estimates of the primary hypothesis (when the trials were kept)."""
        return None if self.trials is None else self.trials["point_est"][:, 0]

    CURVE_ROWS = ("power", "assurance", "analytic_power")
    """The rows :meth:`curve_row` gives without building the others."""

    def curve_row(self, metric: str, hypothesis: str) -> tuple[float, float] | None:
        """``(estimate, mc_se)`` of one of :data:`CURVE_ROWS` of a hypothesis (by label), as
        :meth:`rows` has it, without building every row: a plot of a dense power curve needs
        these three at every N, and the rows would also evaluate the closed-form assurance at
        each. None where the row does not exist."""
        i = next((h.index for h in self.design.hypotheses if h.label == hypothesis), None)
        if i is None or metric not in self.CURVE_ROWS:
            return None
        st, r = self.stats[i], self.n_trials
        if metric == "analytic_power":
            h = self.design.hypotheses[i]
            cf = closed_form_power(self.design, h, int(self.arm_sizes[0]),
                                   int(self.arm_sizes[h.arm]))
            return None if math.isnan(cf) else (cf, math.nan)
        count = st.reject if metric == "power" else st.assurance
        return None if count is None else (count / r, rate_se(count / r, r))

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows (:data:`ID_COLUMNS`, ``metric, estimate, mc_se``); fresh dicts each call."""
        return [dict(r) for r in self._rows]

    @functools.cached_property
    def _rows(self) -> tuple[dict[str, Any], ...]:
        """The rows, built once (the result is frozen)."""
        dm = self.design
        sc = dm.scenario
        base = {"scenario": sc.name, "design_point": f"n_per_arm={self.n_per_arm}",
                "n_per_arm": self.n_per_arm}
        out: list[dict[str, Any]] = []
        n_arm = self.arm_sizes
        for h, st in zip(dm.hypotheses, self.stats):
            e = h.endpoint
            ids = {**base, "hypothesis": h.label, "endpoint": e.name, "arm": h.arm_name,
                   "visit": e.visit_months}

            def add(metric, est, se=math.nan, ids=ids):
                out.append({**ids, "metric": metric, "estimate": est, "mc_se": se})
            r = self.n_trials
            lo, hi = wilson(st.reject, r)
            add("power", *self.curve_row("power", h.label))
            add("power_ci_low", lo)
            add("power_ci_high", hi)
            add("success", st.success / r, rate_se(st.success / r, r))
            add("power_unadjusted", st.reject_raw / r, rate_se(st.reject_raw / r, r))
            if st.tested is not None:
                add("tested", st.tested / r, rate_se(st.tested / r, r))
            m, m_se, sd = st.mean_sd()
            add("mean_estimate", m, m_se)
            add("sd_estimate", sd)
            if st.se_n:
                add("mean_se", st.se_sum / st.se_n)
            if not math.isnan(h.truth):
                add("true_effect", h.truth)
                add("bias", m - h.truth, m_se)
            # fits that failed: a rate beside the other rates, with its count
            add("not_fitted", st.not_fitted / r, rate_se(st.not_fitted / r, r))
            add("not_fitted_count", float(st.not_fitted))
            n0, n1 = int(n_arm[0]), int(n_arm[h.arm])
            cf = self.curve_row("analytic_power", h.label)
            if cf is not None:
                add("analytic_power", cf[0])
            if st.assurance is not None:
                alo, ahi = wilson(st.assurance, r)
                add("assurance", *self.curve_row("assurance", h.label))
                add("assurance_ci_low", alo)
                add("assurance_ci_high", ahi)
                ca = closed_form_assurance(dm, h, n0, n1)
                if not math.isnan(ca):
                    add("analytic_assurance", ca)
        out.extend({**base, **row} for row in self.extra)
        return tuple(out)

    def to_frame(self) -> "pd.DataFrame":
        """Tidy table: :data:`ID_COLUMNS`, ``metric, estimate, mc_se`` (``q10, q90``)."""
        return _frame(self.rows())

    @functools.cached_property
    def safety(self) -> tuple[dict[str, Any], ...]:
        """Rows of the ``[[safety]]`` events at this N (:func:`simtrial.oc.safety.safety_rows`;
        ``table = "safety"`` in :meth:`RunResult.to_frame`), with the id columns; ``()``
        without ``[[safety]]``. The efficacy power lost to harm stopping needs the kept
        per-trial arrays (``trials``)."""
        sc = self.design.scenario
        if not getattr(sc, "safety", ()):
            return ()
        base = {"scenario": sc.name, "design_point": f"n_per_arm={self.n_per_arm}",
                "n_per_arm": self.n_per_arm}
        return tuple({**base, **r} for r in safety_rows(self.design, self.sizes, self.n_trials,
                                                        self.seed, self.trials, self.conduct))

    def metric(self, metric: str, hypothesis: str | None = None) -> tuple[float, float]:
        """``(estimate, mc_se)`` of one metric (of one hypothesis label; default the first)."""
        for r in self.rows():
            if r["metric"] == metric and (hypothesis is None or r["hypothesis"] == hypothesis):
                return r["estimate"], r["mc_se"]
        raise KeyError(f"metric {metric!r}" + (f" of {hypothesis!r}" if hypothesis else "")
                       + " is not in this result")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ids, the primary hypothesis's metrics flat, and every row."""
        h0 = self.design.hypotheses[0]
        d: dict[str, Any] = {
            "scenario": self.design.scenario.name, "n_per_arm": self.n_per_arm,
            "n_msc": int(self.arm_sizes[1]), "arm_sizes": [int(x) for x in self.arm_sizes],
            "n_trials": self.n_trials, "seed": self.seed, "kernel": self.kernel,
            "hypothesis": h0.label}
        for r in self.rows():
            if r["hypothesis"] == h0.label and r["arm"] == h0.arm_name and r["metric"] not in d:
                d[r["metric"]] = r["estimate"]
                if r["metric"] in ("power", "mean_estimate", "assurance", "success", "not_fitted"):
                    d[f"{r['metric']}_mc_se"] = r["mc_se"]
        d["mc_se"] = d.pop("power_mc_se")
        d["ci_low"], d["ci_high"] = d.pop("power_ci_low"), d.pop("power_ci_high")
        d.setdefault("analytic_power", None)
        sf = [r for r in self.rows() if r["metric"] == "screen_fail"]
        if sf:
            d["screen_fail"], d["screen_fail_mc_se"] = sf[0]["estimate"], sf[0]["mc_se"]
        if "assurance" in d:
            d["assurance_definition"] = (
                "P(significant result favouring MSC), averaged over the effect distribution: "
                "one-sided success, not power (about alpha/sides under a null point effect)")
        bay = [r for r in self.rows() if r["hypothesis"] == "bayes"]
        if bay:     # [bayes]: the prior and each condition's P(Go) etc. (also in "rows")
            cfg = self.design.scenario.bayes
            out: dict[str, Any] = {"prior": cfg.prior, "target": cfg.target, "conditions": {}}
            for r in bay:
                cond = r["design_point"].split(" ", 1)[1]
                if cond == "prior":
                    out.setdefault("prior_summary", {})[r["metric"]] = r["estimate"]
                else:
                    c = out["conditions"].setdefault(cond, {})
                    c[r["metric"]] = r["estimate"]
                    if not math.isnan(r["mc_se"]):
                        c[r["metric"] + "_mc_se"] = r["mc_se"]
            d["bayes"] = out
        ad = [r for r in self.rows() if r["hypothesis"] == "adaptive"]
        if ad:      # [adaptive]: each condition's numbers (also in "rows")
            cfg = self.design.scenario.adaptive
            blk: dict[str, Any] = {"rule": cfg.rule, "test": cfg.test,
                                   "futility": cfg.futility, "conditions": {}}
            for r in ad:
                c = blk["conditions"].setdefault(r["design_point"].split(" ", 1)[1], {})
                c[r["metric"]] = r["estimate"]
                if not math.isnan(r["mc_se"]):
                    c[r["metric"] + "_mc_se"] = r["mc_se"]
                if not math.isnan(r.get("q10", math.nan)):
                    c[r["metric"] + "_q10"], c[r["metric"] + "_q90"] = r["q10"], r["q90"]
            d["adaptive"] = blk
        d["rows"] = self.rows()
        if self.safety:
            d["safety"] = [dict(r) for r in self.safety]
        return d

    def summary(self) -> str:
        return point_summary(self)

    def __repr__(self) -> str:
        return (f"PointResult({self.design.scenario.name!r}, n_per_arm={self.n_per_arm}, "
                f"n_trials={self.n_trials}, power={self.power:.4f} (MC SE {self.mc_se:.4f}), "
                f"kernel={self.kernel!r})")

    def _repr_html_(self) -> str:
        return _html_table(self.to_frame(), repr(self))


def _frame(rows: list[dict[str, Any]]) -> "pd.DataFrame":
    import pandas as pd     # only where a table is asked for (0.3-0.5 s to import)
    df = pd.DataFrame(rows)
    for c in ("q10", "q90"):
        if c not in df:
            df[c] = math.nan
    return df[[c for c in TIDY_COLUMNS if c in df.columns]]


def _html_table(df: "pd.DataFrame", title: str, limit: int = 30) -> str:
    import html
    body = df.head(limit).to_html(index=False, float_format=lambda x: f"{x:.4g}")
    more = f"<p>... {len(df) - limit} more rows (to_frame())</p>" if len(df) > limit else ""
    return f"<p><b>{html.escape(title)}</b></p>{body}{more}"


# ---------------------------------------------------------------------------------------------
# rows that only the full kernel produces (they need per-trial arrays)
# ---------------------------------------------------------------------------------------------

def design_rows(dm: DesignModel, tr: dict[str, np.ndarray], sizes: np.ndarray, n_trials: int,
                conduct=None) -> list[dict[str, Any]]:
    """Family, interim-look, dropout and conduct rows from per-trial arrays."""
    rows: list[dict[str, Any]] = []

    def add(hyp, endpoint, arm, visit, metric, est, se=math.nan):
        rows.append({"hypothesis": hyp, "endpoint": endpoint, "arm": arm, "visit": visit,
                     "metric": metric, "estimate": est, "mc_se": se})

    def rate(x):
        p = float(np.mean(x))
        return p, rate_se(p, x.shape[0])
    rej = tr["point_reject"]
    suc = tr["point_success"]
    null = np.array([h.true_null for h in dm.hypotheses])
    fam = ("family", "all", "all", "")
    if len(dm.hypotheses) > 1:
        add(*fam, "any_success", *rate(suc.any(axis=1)))
        add(*fam, "all_success", *rate(suc.all(axis=1)))
        if (~null).any():
            add(*fam, "disjunctive_power", *rate(suc[:, ~null].any(axis=1)))
            add(*fam, "conjunctive_power", *rate(suc[:, ~null].all(axis=1)))
    if null.any():
        add(*fam, "fwer", *rate(rej[:, null].any(axis=1)))
    if "assurance_success" in tr and len(dm.hypotheses) > 1:
        add(*fam, "assurance_any", *rate(tr["assurance_success"].any(axis=1)))
    for h in dm.hypotheses:
        rk = f"point_rates_{h.endpoint_index}"
        if rk in tr:
            e = h.endpoint
            if h.arm == 1:
                add(h.label, e.name, "control", e.visit_months, "responder_rate",
                    *mean_se(tr[rk][:, 0]))
            add(h.label, e.name, h.arm_name, e.visit_months, "responder_rate",
                *mean_se(tr[rk][:, h.arm]))
            # exact size of the chosen test at these arm sizes, both arms at the simulated
            # control rate (a liberal chi-square with rare responders becomes visible)
            arm_n = sizes.sum(axis=0)
            n0, n1 = int(arm_n[0]), int(arm_n[h.arm])
            if max(n0, n1) <= EXACT_SIZE_MAX_N:
                p0 = float(np.mean(tr[rk][:, 0]))
                add(h.label, e.name, h.arm_name, e.visit_months, "exact_size",
                    responder_test_size("chisq" if e.analysis == "cmh" else e.analysis, n0, n1,
                                        p0, dm.scenario.design.alpha, dm.scenario.design.sides))
    if dm.boundaries is not None:
        look = tr["point_gsd_look"]
        why = tr["point_gsd_why"]
        h0 = dm.hypotheses[0]
        for li, frac in enumerate(dm.boundaries.fractions):
            k = (h0.label, h0.endpoint.name, h0.arm_name, f"look {li + 1} ({frac:g})")
            add(*k, "stop_efficacy", *rate((look == li) & (why == 1)))
            add(*k, "stop_futility", *rate((look == li) & (why == 2)))
            add(*k, "boundary_z", float(dm.boundaries.z[li]))
        add(h0.label, h0.endpoint.name, h0.arm_name, "", "expected_patients",
            *mean_se(tr["point_gsd_n"].astype(float)))
        add(h0.label, h0.endpoint.name, h0.arm_name, "", "max_patients", float(sizes.sum()))
    if dm.scenario.dropout is not None or conduct is not None:   # dropout, conduct withdrawal
        obs = tr["observed"]
        arm_n = sizes.sum(axis=0)
        names = ["control"] + [a.name for a in dm.arms]
        for a, nm in enumerate(names):
            for j, month in enumerate(dm.visits):
                add("", "", nm, month, "observed_fraction", *mean_se(obs[:, a, j] / arm_n[a]))
    if conduct is not None:
        rows.extend(_conduct_rows(conduct, tr, n_trials))
    return rows


def _trial_row(metric: str, visit, x: np.ndarray, n_eff: int, mean: bool = False
               ) -> dict[str, Any]:
    """Summary row of a per-trial calendar metric; MC SE with ``n_eff`` independent conducts
    (:func:`~simtrial.stats.mc.calendar_summary`)."""
    est, se, q10, q90 = calendar_summary(x, n_eff, mean)
    return {"hypothesis": "conduct", "endpoint": "", "arm": "", "visit": visit,
            "metric": metric, "estimate": est, "mc_se": se, "q10": q10, "q90": q90}


def _conduct_rows(c, tr: dict[str, np.ndarray], n_trials: int) -> list[dict[str, Any]]:
    """Conduct rows (hypothesis = "conduct").

    Logistics (from the conduct replicates): median over replicates with the 10/90% quantiles
    and the MC SE of the median. Calendar outcomes per trial (after dropout and early
    stopping): ``duration_days`` (median), ``mean_duration_days``; with looks, per look
    ``look_day``, ``randomised_at_look``, ``patients_with_data``, ``patients_with_endpoint``,
    and ``mean_randomised_at_stop``. Their MC SE counts the distinct conduct replicates used
    (``min(replicates, n_trials)``), not the trials: trials that share a conduct share its
    calendar, so this is the conservative choice.
    """
    rows = []
    for r in c.rows():
        if r["metric"] in ("look_day", "randomised_at_look", "with_data_at_look",
                           "with_endpoint_at_look", "lplv_day"):
            continue
        rows.append({"hypothesis": "conduct", "endpoint": "", "arm": "",
                     "visit": r["visit"], "metric": r["metric"], "estimate": r["estimate"],
                     "mc_se": r["mc_se"], "q10": r["q10"], "q90": r["q90"]})
    n_eff = min(c.replicates, n_trials)
    rows.append(_trial_row("duration_days", "", tr["conduct_duration"], n_eff))
    rows.append(_trial_row("mean_duration_days", "", tr["conduct_duration"], n_eff, True))
    if "conduct_look_day" in tr:
        for li, f in enumerate(c.fractions):
            lab = f"look {li + 1} ({f:g})"
            rows.append(_trial_row("look_day", lab, tr["conduct_look_day"][:, li], n_eff))
            for key, name in (("conduct_look_randomised", "randomised_at_look"),
                              ("conduct_look_patients", "patients_with_data"),
                              ("conduct_look_endpoint", "patients_with_endpoint")):
                rows.append(_trial_row(name, lab, tr[key][:, li], n_eff))
        rows.append(_trial_row("mean_randomised_at_stop", "", tr["conduct_randomised_stop"],
                               n_eff, True))
    return rows


def common_rows(dm: DesignModel, n_trials: int, screened: np.ndarray, accepted: np.ndarray,
                zeros: np.ndarray | None, responders: int | None, sizes: np.ndarray,
                theta: tuple[float, float, int] | None) -> list[dict[str, Any]]:
    """Rows both kernels produce: simulated screen failures (overall and per stratum),
    insulin independence per arm, responder fraction, and the drawn trial effects."""
    rows: list[dict[str, Any]] = []
    blank = {"hypothesis": "", "endpoint": "", "arm": "", "visit": ""}
    scr, acc = int(screened.sum()), int(accepted.sum())
    if scr:
        f = 1.0 - acc / scr
        rows.append({**blank, "metric": "screen_fail", "estimate": f, "mc_se": rate_se(f, scr)})
    if len(dm.strata) > 1:
        for s, sc_, ac in zip(dm.strata, screened, accepted):
            f = 1.0 - ac / sc_ if sc_ else math.nan
            rows.append({**blank, "metric": f"screen_fail_{s}", "estimate": f,
                         "mc_se": rate_se(f, int(sc_)) if sc_ else math.nan})
    h0 = dm.hypotheses[0]
    e = h0.endpoint
    arm_n = sizes.sum(axis=0)
    names = ["control"] + [a.name for a in dm.arms]
    if zeros is not None:
        for a, nm in enumerate(names):
            p = zeros[a] / (n_trials * arm_n[a])
            rows.append({"hypothesis": h0.label, "endpoint": e.name, "arm": nm,
                         "visit": e.visit_months, "metric": "insulin_independence",
                         "estimate": p, "mc_se": rate_se(p, n_trials * int(arm_n[a]))})
    if responders is not None:
        n_msc = int(arm_n[1:].sum())
        p = responders / (n_trials * n_msc)
        rows.append({"hypothesis": h0.label, "endpoint": e.name, "arm": "MSC" if len(dm.arms) == 1
                     else "all", "visit": e.visit_months, "metric": "responder_fraction",
                     "estimate": p, "mc_se": rate_se(p, n_trials * n_msc)})
    if theta is not None:
        tm, tsd, clipped = theta
        for metric, v in (("trial_effect_mean", tm), ("trial_effect_sd", tsd),
                          ("trial_effects_clipped", float(clipped))):
            rows.append({"hypothesis": h0.label, "endpoint": e.name, "arm": h0.arm_name,
                         "visit": e.visit_months, "metric": metric, "estimate": v,
                         "mc_se": math.nan})
    return rows


# ---------------------------------------------------------------------------------------------
# sample size and run
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleSize:
    """The smallest control-arm size from which the simulated power (or assurance) of the
    primary hypothesis stays at or above ``target_power`` over every simulated larger N.

    Attributes
    ----------
    n_per_arm : int or None
        None if not reached by ``searched_max``.
    power, mc_se : float
        Simulated power (or assurance) at that N (NaN if not reached).
    analytic_n_per_arm : int or None
        Closed-form answer where a closed form exists (see :func:`closed_form_power`).
    """

    scenario: str
    hypothesis: str
    target: str
    target_power: float
    n_per_arm: int | None
    arm_sizes: tuple[int, ...] | None
    power: float
    mc_se: float
    analytic_n_per_arm: int | None
    searched_max: int
    n_trials: int
    seed: int

    @property
    def reached(self) -> bool:
        return self.n_per_arm is not None

    @property
    def n_msc(self) -> int | None:
        """First MSC arm's size at the answer."""
        return None if self.arm_sizes is None else self.arm_sizes[1]

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "hypothesis": self.hypothesis, "target": self.target,
                "target_power": self.target_power, "n_per_arm": self.n_per_arm,
                "arm_sizes": None if self.arm_sizes is None else list(self.arm_sizes),
                "n_msc": self.n_msc, "power": self.power, "mc_se": self.mc_se,
                "analytic_n_per_arm": self.analytic_n_per_arm, "reached": self.reached,
                "searched_max": self.searched_max, "n_trials": self.n_trials, "seed": self.seed}

    def rows(self) -> list[dict[str, Any]]:
        ids = {"scenario": self.scenario,
               "design_point": f"target_{self.target}={self.target_power:g}",
               "n_per_arm": self.n_per_arm, "hypothesis": self.hypothesis, "endpoint": "",
               "arm": "", "visit": ""}
        return [{**ids, "metric": "sample_size", "estimate": self.n_per_arm, "mc_se": math.nan},
                {**ids, "metric": f"{self.target}_at_sample_size", "estimate": self.power,
                 "mc_se": self.mc_se},
                {**ids, "metric": "analytic_sample_size", "estimate": self.analytic_n_per_arm,
                 "mc_se": math.nan},
                {**ids, "metric": "searched_max", "estimate": self.searched_max,
                 "mc_se": math.nan}]

    def to_frame(self) -> "pd.DataFrame":
        return _frame(self.rows())

    def summary(self) -> str:
        return sample_size_line(self)


@dataclass(frozen=True)
class RunResult:
    """Everything ``simtrial run`` computes for one scenario.

    Attributes
    ----------
    design : DesignModel
    point : PointResult
        At ``design.n_per_arm`` (with per-trial arrays).
    curve : tuple of PointResult
        Every simulated control-arm size, sorted by N (a sums kernel simulates every N from
        3 up to the largest needed; the full kernel the design N, ``design.n_grid`` and the
        sample-size search).
    grid : tuple of int
        The N of the ``power_curve`` table (``design.n_grid``, or about 16 roughly geometric
        points, plus the design N and the sample sizes).
    sample_sizes : tuple of SampleSize
    """

    design: DesignModel
    point: PointResult
    curve: tuple[PointResult, ...] = field(repr=False)
    grid: tuple[int, ...]
    sample_sizes: tuple[SampleSize, ...]
    seed: int
    n_trials: int
    timings: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def kernel(self) -> str:
        return self.point.kernel

    @property
    def scenario(self):
        return self.design.scenario

    def at(self, n: int) -> PointResult:
        """The simulated point at control-arm size ``n``."""
        for p in self.curve:
            if p.n_per_arm == n:
                return p
        raise KeyError(f"N = {n} per arm was not simulated in this run")

    def to_frame(self) -> "pd.DataFrame":
        """One tidy table (:data:`TIDY_COLUMNS`): ``table`` = design, bayes (the ``[bayes]``
        rows of the design point, :mod:`simtrial.oc.bayes`), power_curve or sample_size."""
        rows = [{"table": r["hypothesis"] if r["hypothesis"] in ("bayes", "adaptive")
                 else "design", **r}
                for r in self.point.rows()]
        for n in self.grid:
            rows.extend({"table": "power_curve", **r} for r in self.at(n).rows()
                        if r["metric"] in _CURVE_METRICS)
        for s in self.sample_sizes:
            rows.extend({"table": "sample_size", **r} for r in s.rows())
        rows.extend({"table": "safety", **r} for r in self.point.safety)
        return _frame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.design.scenario.name, "seed": self.seed,
                "n_trials": self.n_trials, "kernel": self.kernel,
                "design": self.point.to_dict(),
                "curve": [{"n_per_arm": p.n_per_arm, "power": p.power, "mc_se": p.mc_se}
                          for p in self.curve],
                "sample_sizes": [s.to_dict() for s in self.sample_sizes],
                "timings": dict(self.timings)}

    def summary(self) -> str:
        return run_summary(self)

    def __repr__(self) -> str:
        ss = ", ".join(f"{s.target_power:.0%} {s.target}: N = {s.n_per_arm}"
                       for s in self.sample_sizes)
        return (f"RunResult({self.design.scenario.name!r}, n_per_arm={self.point.n_per_arm}, "
                f"power={self.point.power:.4f} (MC SE {self.point.mc_se:.4f}), "
                f"{len(self.curve)} N simulated, {ss or 'no sample-size targets'}, "
                f"kernel={self.kernel!r})")

    def _repr_html_(self) -> str:
        return _html_table(self.to_frame(), repr(self))


_CURVE_METRICS = {"power", "success", "analytic_power", "assurance", "analytic_assurance",
                  "any_success", "all_success", "disjunctive_power", "conjunctive_power",
                  "fwer", "expected_patients", "duration_days", "mean_duration_days",
                  "mean_estimate"}


def duration_months(tr: dict[str, np.ndarray]) -> np.ndarray:
    """Per-trial conduct duration in months."""
    return tr["conduct_duration"] / MONTH_DAYS
