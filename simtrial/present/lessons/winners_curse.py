"""Lesson 1, the winner's curse: among small trials that reach significance the estimate is
inflated."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...oc.closed_form import analytic_assurance
from ...oc.run import power
from ..html import Section
from .. import plots
from ._common import (LESSON_SEED, LessonResult, check_args, cite, design_of, evidence_row_of,
                      lesson_figure, make_scenario, mean_of, model_of, pm, rate_of,
                      significant_mean, unit_text)

__all__ = ["WinnersCurseResult", "winners_curse", "sections_winners_curse"]

# ---------------------------------------------------------------------------------------------
# 1. the winner's curse
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WinnersCurseResult(LessonResult):
    """Small trials at a fixed true effect, conditioned on a significant, favourable result.

    Arrays are over ``ns`` (control-arm sizes, MSC arm equal). ``power`` is the probability of a
    result significant in the direction of benefit (two-sided test; closed form
    ``analytic_power`` = one-sided power at alpha / 2). ``mean_significant`` is the mean
    estimate among trials significant in the direction of benefit (MC SE = conditional SD /
    sqrt(number of such trials)); ``closed_*`` come from :func:`significant_mean`;
    ``exaggeration = mean_significant / truth`` (Gelman & Carlin's type M error);
    ``overestimate_share`` is the share of significant trials whose estimate is further from 0
    than the truth; ``wrong_sign`` the share of all trials significant in the harmful direction
    (type S). ``hist_*`` are the histogram of all estimates and of the significant ones at
    ``small_n`` (fixed edges, outliers in the end bins).
    """

    seed: int
    n_trials: int
    scenario: str
    preset: str
    outcome: str
    unit: str
    visit_months: int
    alpha: float
    sides: int
    truth: float
    row: dict
    subgroup_row: dict
    sigma_resid: float
    small_n: int
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray
    analytic_power: np.ndarray
    n_significant: np.ndarray
    mean_significant: np.ndarray
    mean_significant_mc_se: np.ndarray
    closed_success: np.ndarray
    closed_mean_significant: np.ndarray
    mean_all: np.ndarray
    mean_all_mc_se: np.ndarray
    exaggeration: np.ndarray
    exaggeration_mc_se: np.ndarray
    overestimate_share: np.ndarray
    overestimate_share_mc_se: np.ndarray
    wrong_sign: np.ndarray
    wrong_sign_mc_se: np.ndarray
    hist_edges: np.ndarray
    hist_all: np.ndarray
    hist_significant: np.ndarray

    @property
    def i_small(self) -> int:
        return int(np.flatnonzero(self.ns == self.small_n)[0])

    @property
    def inflation(self) -> float:
        """How far the mean significant estimate at ``small_n`` lies beyond the truth, away from
        0 (natural units; positive = inflated): ``(mean_significant - truth) * sign(truth)``."""
        return float((self.mean_significant[self.i_small] - self.truth) * np.sign(self.truth))

    @property
    def inflation_mc_se(self) -> float:
        return float(self.mean_significant_mc_se[self.i_small])

    def headline(self) -> list[str]:
        i = self.i_small
        return [
            f"true MD {self.truth:+.2f}{unit_text(self.unit)}; {self.small_n} patients per arm: power "
            f"{pm(self.power[i], self.power_mc_se[i])}",
            "mean estimate among significant trials "
            f"{pm(self.mean_significant[i], self.mean_significant_mc_se[i], 3, self.unit, True)}"
            f" (closed form {self.closed_mean_significant[i]:+.3f})",
            f"inflation {pm(self.inflation, self.inflation_mc_se, 3, self.unit)}; "
            f"exaggeration ratio {pm(self.exaggeration[i], self.exaggeration_mc_se[i])}",
        ]


def winners_curse(seed: int = LESSON_SEED, n_trials: int = 20_000, *, small_n: int = 10,
                  ns: tuple[int, ...] = (5, 8, 10, 15, 20, 30, 50, 80)) -> WinnersCurseResult:
    """Compute the winner's-curse lesson.

    Scenario: T1D population preset, HbA1c change at 12 months, ANCOVA, true MD = the pooled
    12-month HbA1c MD of Kashbour 2025 (abstract, all diabetes). For each arm size in ``ns`` the
    engine simulates ``n_trials`` trials (:func:`simtrial.power` with per-trial arrays).

    Returns
    -------
    WinnersCurseResult
    """
    check_args(seed, n_trials)
    ns_arr = np.array(sorted(set(int(n) for n in ns) | {int(small_n)}))
    sc = make_scenario("lesson_winners_curse", "t1d", "hba1c", 12,
                   {"source": "evidence", "population": "all"}, seed=seed, n_trials=n_trials,
                   n_per_arm=int(small_n),
                   description="winner's curse: small T1D HbA1c trials at the pooled effect")
    model = model_of(sc)
    truth = model.endpoint_md
    sigma = model.analytic["sd_resid_ancova"]
    better = model.outcome_def.better
    cols: dict[str, list] = {k: [] for k in (
        "power", "power_mc_se", "analytic_power", "n_significant", "mean_significant",
        "mean_significant_mc_se", "closed_success", "closed_mean_significant", "mean_all",
        "mean_all_mc_se", "exaggeration", "exaggeration_mc_se", "overestimate_share",
        "overestimate_share_mc_se", "wrong_sign", "wrong_sign_mc_se")}
    hist = None
    for n in ns_arr:
        r = power(design_of(sc), int(n), n_trials=n_trials, seed=seed)
        est = r.trials["point_est"][:, 0]
        rej = r.trials["point_reject"][:, 0].astype(bool)
        succ = r.trials["point_success"][:, 0].astype(bool)
        k = int(succ.sum())
        pk, pk_se = rate_of(k, n_trials)
        m, mse = mean_of(est[succ])
        ma, mase = mean_of(est)
        over, over_se = rate_of(int(np.sum(np.abs(est[succ]) > abs(truth))), k)
        wrong, wrong_se = rate_of(int(np.sum(rej & ~succ)), n_trials)
        cp, cm = significant_mean(truth, sigma, int(n), sc.design.n_msc(int(n)),
                                  sc.design.alpha, sc.design.sides, better)
        n1 = sc.design.n_msc(int(n))
        for key, v in (("power", pk), ("power_mc_se", pk_se),
                       ("analytic_power", analytic_assurance(model, int(n), n1)),
                       ("n_significant", k),
                       ("mean_significant", m), ("mean_significant_mc_se", mse),
                       ("closed_success", cp), ("closed_mean_significant", cm),
                       ("mean_all", ma), ("mean_all_mc_se", mase),
                       ("exaggeration", m / truth), ("exaggeration_mc_se", mse / abs(truth)),
                       ("overestimate_share", over), ("overestimate_share_mc_se", over_se),
                       ("wrong_sign", wrong), ("wrong_sign_mc_se", wrong_se)):
            cols[key].append(v)
        if n == small_n:
            se_an = sigma * math.sqrt((1.0 / n + 1.0 / n1) * (1.0 + 1.0 / (n + n1 - 4)))
            edges = np.linspace(truth - 4.5 * se_an, truth + 4.5 * se_an, 46)
            clipped = np.clip(est, edges[0], edges[-1])
            hist = (edges, np.histogram(clipped, edges)[0], np.histogram(clipped[succ], edges)[0])
    arrays = {k: np.array(v) for k, v in cols.items()}
    return WinnersCurseResult(
        seed=seed, n_trials=n_trials, scenario=sc.name, preset="t1d", outcome="hba1c",
        unit=model.outcome_def.unit, visit_months=12, alpha=sc.design.alpha,
        sides=sc.design.sides, truth=truth, row=model.evidence_row,
        subgroup_row=evidence_row_of("hba1c", 12, "T1DM"), sigma_resid=sigma,
        small_n=int(small_n), ns=ns_arr, **arrays, hist_edges=hist[0], hist_all=hist[1],
        hist_significant=hist[2])


def sections_winners_curse(res: WinnersCurseResult):
    i = res.i_small
    row = res.row
    big = int(res.ns[-1])
    j = len(res.ns) - 1
    pct = 100.0 * res.inflation / abs(res.truth)
    intro = Section("The question", [
        "Most randomised trials of MSC therapy in diabetes are small: ten to twenty patients per "
        "arm. When such a trial reports a significant benefit, how far can we trust the size of "
        "the effect it reports? This lesson simulates many copies of one small trial in which "
        "the true effect is known, keeps the ones that reach significance (the ones most likely "
        "to be published and quoted), and compares their estimates with the truth.",
        f"Set-up: the T1D population preset, change in HbA1c at {res.visit_months} months "
        f"analysed by ANCOVA (two-sided alpha = {res.alpha:g}), and a true mean difference of "
        f"{res.truth:+.2f}{res.unit}, the pooled all-diabetes 12-month estimate of {cite(row)} "
        f"(the T1D subgroup estimate is {res.subgroup_row['md']:+.2f}{res.unit}, "
        f"{cite(res.subgroup_row)}). The residual SD of the ANCOVA is "
        f"{res.sigma_resid:.2f}{res.unit} (T1D preset). Each arm size was simulated "
        f"{res.n_trials:,} times with seed {res.seed}.",
    ])
    main = Section(f"A trial with {res.small_n} patients per arm", [
        f"With {res.small_n} patients per arm the trial is significant in the direction of "
        f"benefit in {100 * res.power[i]:.1f}% of replicates (simulated power "
        f"{pm(res.power[i], res.power_mc_se[i])}; closed form {res.analytic_power[i]:.3f}). "
        f"Over all replicates the estimate is unbiased: its mean is "
        f"{pm(res.mean_all[i], res.mean_all_mc_se[i], unit=res.unit, sign=True)} against the "
        f"true {res.truth:+.2f}{res.unit}.",
        f"Among the significant trials alone the mean estimate is "
        f"{pm(res.mean_significant[i], res.mean_significant_mc_se[i], unit=res.unit, sign=True)}"
        f": it exceeds the true effect by {res.inflation:.3f}{res.unit} (MC SE "
        f"{res.inflation_mc_se:.3f}), i.e. {pct:.0f}% too large (exaggeration ratio "
        f"{pm(res.exaggeration[i], res.exaggeration_mc_se[i])}). "
        f"{100 * res.overestimate_share[i]:.1f}% (MC SE {100 * res.overestimate_share_mc_se[i]:.1f}"
        f" points) of the significant trials overstate the effect. An independent closed-form "
        f"calculation (the estimate conditioned on a significant t statistic, integrating over "
        f"the estimated residual SD and the chance baseline imbalance) gives "
        f"{res.closed_mean_significant[i]:+.3f}{res.unit}.",
        "The reason is selection, not a flaw in any one trial: at this size only the replicates "
        "whose estimate happened to fall well beyond the truth clear the significance bar, so "
        "conditioning on significance keeps the lucky overestimates and discards the rest.",
    ])
    main.figures.append(lesson_figure("winners_curse_estimates", plots.plot_winners_curse_estimates,
                                res, f"Estimated MD in {res.n_trials:,} simulated trials with "
                                f"{res.small_n} patients per arm; significant ones highlighted."))
    by_n = Section("The curse lifts as power rises", [
        f"The inflation shrinks as trials grow. At {big} patients per arm the power is "
        f"{pm(res.power[j], res.power_mc_se[j], 4)} and the mean significant estimate, "
        f"{pm(res.mean_significant[j], res.mean_significant_mc_se[j], 4, res.unit, True)}, "
        f"differs from the truth by {res.mean_significant[j] - res.truth:+.4f}{res.unit}. The "
        "rule of thumb: when power is low, a significant estimate is mostly noise that happened "
        "to be large.",
        f"Wrong-sign significance (a significant result favouring control, type S error): "
        f"{int(round(res.wrong_sign[i] * res.n_trials))} of {res.n_trials:,} trials at "
        f"{res.small_n} per arm ({100 * res.wrong_sign[i]:.2f}%, MC SE "
        f"{100 * res.wrong_sign_mc_se[i]:.2f} points).",
        "What to do with this: discount effect sizes from small positive trials (and pooled "
        "estimates built from them) when planning the next trial; size the next trial for a "
        "smaller effect, or average power over the uncertainty (see the assurance-vs-power "
        "lesson).",
    ])
    by_n.figures.append(lesson_figure("winners_curse_by_n", plots.plot_winners_curse_by_n, res,
                                "Mean estimate among significant trials against arm size, with "
                                "95% Monte Carlo bands, the closed form and the truth."))
    import pandas as pd
    tab = pd.DataFrame({
        "N per arm": res.ns.astype(int), "power": np.round(res.power, 4),
        "power MC SE": np.round(res.power_mc_se, 4),
        "mean significant estimate": np.round(res.mean_significant, 4),
        "MC SE": np.round(res.mean_significant_mc_se, 4),
        "closed form": np.round(res.closed_mean_significant, 4),
        "exaggeration ratio": np.round(res.exaggeration, 3)})
    tab.attrs["caption"] = f"Truth {res.truth:+.2f}{res.unit}; {res.n_trials:,} trials per N."
    by_n.tables.append(tab)
    return [intro, main, by_n]
