"""Lesson 5, heterogeneity: what I^2 = 93% for fasting C-peptide means for a new trial."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ...errors import SimtrialError
from ...oc.closed_form import analytic_assurance
from ...sim.driver import simulate_prefix as simulate
from ...stats.mc import Z975
from ..html import Section
from .. import plots
from ._common import (LESSON_SEED, LessonResult, check_args, cite, crossing_n, lesson_figure,
                      make_scenario, model_of, pm, rate_of, rates, read_n)

__all__ = ["HetVariant", "HeterogeneityResult", "heterogeneity", "sections_heterogeneity"]

# ---------------------------------------------------------------------------------------------
# 5. heterogeneity
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HetVariant(LessonResult):
    """Assurance over ``ns`` when the between-trial variance comes from ``i2``."""

    label: str
    i2: float
    tau2: float
    pred_scale: float
    assurance: np.ndarray
    assurance_mc_se: np.ndarray
    ns_closed: np.ndarray
    assurance_closed: np.ndarray
    ceiling: float
    assurance_n80: float
    assurance_n80_mc_se: float
    n80_assurance: int | None


@dataclass(frozen=True)
class HeterogeneityResult(LessonResult):
    """What I^2 = 93% means for a new trial of fasting C-peptide at 12 months.

    ``ci`` is the reported 95% CI of the pooled MD, ``pi`` the 95% prediction interval of a new
    trial's true effect (t with k - 2 df, scale ``sqrt(SE^2 + tau^2)``), ``p_le0`` the
    probability that a new trial's true effect is <= 0 (closed form, t; ``p_le0_normal`` the
    normal version) and ``p_le0_sim`` the share of the engine's drawn trial effects <= 0.
    """

    seed: int
    n_trials: int
    preset: str
    outcome: str
    unit: str
    visit_months: int
    alpha: float
    row: dict
    md: float
    se: float
    i2: float
    k: int
    tau2: float
    tau: float
    df: float
    pred_scale: float
    ci: tuple[float, float]
    pi: tuple[float, float]
    width_ratio: float
    true_range: tuple[float, float]
    p_le0: float
    p_le0_normal: float
    p_le0_sim: float
    p_le0_sim_mc_se: float
    theta_grid: np.ndarray
    density: np.ndarray
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray
    n80: int
    n80_power: float
    n80_mc_se: float
    n80_analytic: int | None
    variants: tuple[HetVariant, ...]

    def headline(self) -> list[str]:
        v = self.variants[-1]
        return [
            f"pooled MD {self.md:+.2f} {self.unit}, 95% CI {self.ci[0]:+.2f} to {self.ci[1]:+.2f};"
            f" I2 = {self.i2:g}% -> tau = {self.tau:.3f}; 95% prediction interval "
            f"{self.pi[0]:+.2f} to {self.pi[1]:+.2f} ({self.width_ratio:.1f}x wider)",
            f"P(new trial's true effect <= 0) = {self.p_le0:.3f} (closed form); simulated "
            f"{pm(self.p_le0_sim, self.p_le0_sim_mc_se)}",
            f"N = {self.n80} per arm for 80% power; assurance there "
            f"{pm(v.assurance_n80, v.assurance_n80_mc_se)}"
            f", ceiling {v.ceiling:.3f}",
        ]


def heterogeneity(seed: int = LESSON_SEED, n_trials: int = 10_000, *, n_max: int = 250,
                  i2_values: tuple[float, ...] = (0.0, 50.0)) -> HeterogeneityResult:
    """Compute the heterogeneity lesson.

    Evidence: Kashbour 2025 12-month fasting C-peptide, all diabetes (+0.24 ng/mL, I^2 = 93%,
    k = 10). A new trial in the T2D preset (ANCOVA on the natural scale): power at the pooled
    estimate, and assurance under the predictive distribution with the reported I^2 and, for
    comparison, with each of ``i2_values`` (same MD, SE and k). One engine pass per I^2 over
    every N from 3 to ``n_max``.

    Returns
    -------
    HeterogeneityResult
    """
    check_args(seed, n_trials)
    eff = {"source": "evidence", "population": "all", "distribution": "predictive",
           "predictive_dist": "t"}
    base = model_of(make_scenario("lesson_heterogeneity", "t2d", "fasting_cpeptide", 12, eff,
                                 seed=seed, n_trials=n_trials))
    row = base.evidence_row
    md, se, i2, k = base.endpoint_md, float(row["se"]), float(row["i2"]), int(row["k"])
    dist = base.distribution
    tau2 = dist.scale ** 2 - se * se
    df = dist.df
    tq = float(stats.t.ppf(0.975, df))
    ci = (float(row["ci_low"]), float(row["ci_high"]))
    pi = (md - tq * dist.scale, md + tq * dist.scale)
    ns = np.arange(3, int(n_max) + 1)
    ns_closed = np.unique(np.round(np.geomspace(3, n_max, 12)).astype(int))
    msc = base.scenario.design.n_msc
    point = model_of(make_scenario("lesson_heterogeneity_point", "t2d", "fasting_cpeptide", 12,
                                  {"source": "evidence", "population": "all"}, seed=seed,
                                  n_trials=n_trials))
    # power = P(significant benefit) at the pooled estimate (the engine's success count with a
    # point effect), the same event as assurance
    power_out = simulate(point, ns, n_trials=n_trials, seed=seed)
    variants = []
    for v_i2 in tuple(i2_values) + (None,):
        if v_i2 is None:
            model, label, vi2 = base, f"I² = {i2:g}% (reported)", i2
        else:
            model = model_of(make_scenario("lesson_heterogeneity", "t2d", "fasting_cpeptide", 12,
                                          {**eff, "i2": float(v_i2)}, seed=seed,
                                          n_trials=n_trials))
            label, vi2 = f"I² = {v_i2:g}% (hypothetical)", float(v_i2)
        out = simulate(model, ns, n_trials=n_trials, seed=seed)
        a, a_se = rates(out.rej_assur, n_trials)
        ac = np.array([analytic_assurance(model, int(n), msc(int(n))) for n in ns_closed])
        d = model.distribution
        sgn = -1.0 if model.outcome_def.better == "lower" else 1.0
        variants.append((label, vi2, d.scale ** 2 - se * se, d.scale, a, a_se, ac,
                         float(stats.t.cdf(sgn * d.mean / d.scale, d.df)), model, out))
    pw, pse = rates(power_out.rej_assur, n_trials)
    ss = read_n(point, power_out, 0.8, seed, int(n_max), kind="assurance")
    if ss.n_per_arm is None:
        raise SimtrialError(f"lesson error: n_max = {n_max} is too small to reach 80% power")
    n80 = ss.n_per_arm
    i80 = int(np.flatnonzero(ns == n80)[0])
    hv = tuple(HetVariant(label=lb, i2=vi2, tau2=t2, pred_scale=sc, assurance=a,
                          assurance_mc_se=ase, ns_closed=ns_closed, assurance_closed=ac,
                          ceiling=ceil, assurance_n80=float(a[i80]),
                          assurance_n80_mc_se=float(ase[i80]), n80_assurance=crossing_n(a, ns, 0.8))
               for lb, vi2, t2, sc, a, ase, ac, ceil, _, _ in variants)
    keep = simulate(base, [n80], n_trials=n_trials, seed=seed, keep=0)
    ple, ple_se = rate_of(int(np.sum(keep.kept_theta <= 0.0)), n_trials)
    lo_t, hi_t = dist.ppf_range(1e-3)
    grid = np.linspace(lo_t, hi_t, 241)
    tau = math.sqrt(tau2)
    return HeterogeneityResult(
        seed=seed, n_trials=n_trials, preset="t2d", outcome="fasting_cpeptide",
        unit=base.outcome_def.unit, visit_months=12, alpha=base.scenario.design.alpha, row=row,
        md=md, se=se, i2=i2, k=k, tau2=tau2, tau=tau, df=df, pred_scale=dist.scale, ci=ci,
        pi=pi, width_ratio=(pi[1] - pi[0]) / (ci[1] - ci[0]),
        true_range=(md - Z975 * tau, md + Z975 * tau),
        p_le0=float(stats.t.cdf(-md / dist.scale, df)),
        p_le0_normal=float(stats.norm.cdf(-md / dist.scale)), p_le0_sim=ple,
        p_le0_sim_mc_se=ple_se, theta_grid=grid,
        density=stats.t.pdf((grid - md) / dist.scale, df) / dist.scale, ns=ns, power=pw,
        power_mc_se=pse, n80=n80, n80_power=ss.power, n80_mc_se=ss.mc_se,
        n80_analytic=ss.analytic_n_per_arm, variants=hv)


def sections_heterogeneity(res: HeterogeneityResult):
    rep = res.variants[-1]
    row = res.row
    s1 = Section("What I² measures", [
        f"The pooled 12-month fasting C-peptide MD is {res.md:+.2f} {res.unit}, 95% CI "
        f"{res.ci[0]:+.2f} to {res.ci[1]:+.2f}, with I² = {res.i2:g}% across k = {res.k} trials "
        f"({cite(row)}).",
        f"I² is the share of the spread among the trials' results that is not sampling error: "
        f"at {res.i2:g}%, the trials genuinely disagree about the size of the effect. Converted "
        f"to a between-trial variance (tau² = I²·k·SE² = {res.tau2:.4f}, DERIVED; tau = "
        f"{res.tau:.3f} {res.unit}), the true effects of trials like these range over about "
        f"{res.true_range[0]:+.2f} to {res.true_range[1]:+.2f} {res.unit} (mean ± 1.96 tau). "
        + ("The typical trial-to-trial difference (tau) is larger than the mean effect itself."
         if res.tau > abs(res.md) else
         f"The typical trial-to-trial difference (tau) is {res.tau / abs(res.md):.0%} of the "
         "mean effect."),
        "The confidence interval describes the uncertainty of the *average* effect over trials "
        "like these. A new trial does not get the average: it gets its own effect, drawn from "
        "that wide spread.",
    ])
    s2 = Section("The prediction interval", [
        f"The 95% prediction interval for the true effect in a new trial (t with k - 2 = "
        f"{res.df:g} df, scale sqrt(SE² + tau²) = {res.pred_scale:.3f}; Higgins, Thompson and "
        f"Spiegelhalter 2009) is {res.pi[0]:+.2f} to {res.pi[1]:+.2f} {res.unit}, "
        f"{res.width_ratio:.1f} times as wide as the confidence interval and well across zero.",
        f"The probability that the new trial's true effect is zero or harmful is "
        f"{res.p_le0:.3f} (closed form; {res.p_le0_normal:.3f} with a normal instead of a t). The "
        f"engine, drawing one true effect per simulated trial, finds "
        f"{pm(res.p_le0_sim, res.p_le0_sim_mc_se)}.",
    ])
    s2.figures.append(lesson_figure("heterogeneity_intervals", plots.plot_heterogeneity_intervals, res,
                              "Predictive density of a new trial's true effect, the share at or "
                              "below zero shaded; pooled 95% CI and 95% prediction interval."))
    others = "; ".join(f"{v.label}: {pm(v.assurance_n80, v.assurance_n80_mc_se)}, ceiling "
                       f"{v.ceiling:.3f}" for v in res.variants[:-1])
    s3 = Section("Consequence for the next trial", [
        f"On the T2D population preset a new trial needs {res.n80} patients per arm for 80% "
        f"power at the pooled estimate (power there {pm(res.n80_power, res.n80_mc_se)}; closed "
        f"form {res.n80_analytic}). Under the predictive distribution its probability of "
        f"success is {pm(rep.assurance_n80, rep.assurance_n80_mc_se)}"
        + (", and no size rescues it" if rep.ceiling < 0.8 else "")
        + f": assurance cannot exceed the probability that the effect is beneficial, "
        f"{rep.ceiling:.3f}. 80% assurance "
        + (f"is reached at {rep.n80_assurance} per arm." if rep.n80_assurance is not None
           else f"is not reached by {int(res.ns[-1])} per arm."),
        f"With the same pooled MD and SE but less heterogeneity the picture changes: at "
        f"{res.n80} per arm, {others}.",
        "Practical reading: with I² this high, the question for the next trial is less 'how "
        "many patients' than 'which patients, which cells, which regimen': the between-trial "
        "differences (population, cell source, dose, single influential trials) are the signal "
        "to explain, "
        "for instance with effect modifiers or a stratified design.",
    ])
    s3.figures.append(lesson_figure("heterogeneity_assurance", plots.plot_heterogeneity_assurance, res,
                              "Power at the pooled estimate and assurance under the predictive "
                              "distribution for several I² against N per arm (95% Monte Carlo "
                              "bands; crosses: closed form; dotted: ceilings)."))
    return [s1, s2, s3]
