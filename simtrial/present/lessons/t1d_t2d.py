"""Lesson 4, T1D versus T2D: 12-month HbA1c needs more patients in T2D, by a factor that hangs
on which T2D estimate one believes; insulin dose needs few."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import SimtrialError
from ..html import Section
from .. import plots
from ._common import (LESSON_SEED, LessonResult, check_args, cite, lesson_figure, make_scenario,
                      model_of, n_range, p_text, pm, range_text, rates, search_n)

__all__ = ["SampleSizeDesign", "T1DvsT2DResult", "t1d_vs_t2d", "sections_t1d_t2d"]

# ---------------------------------------------------------------------------------------------
# 4. T1D versus T2D
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleSizeDesign(LessonResult):
    """N per arm for the target power of one design, with its power curve (common random
    numbers, every N from 3 to ``searched_max``)."""

    key: str
    label: str
    preset: str
    outcome: str
    unit: str
    population: str
    row: dict
    md: float
    sigma_resid: float
    std_effect: float
    n80: int | None
    n80_power: float
    n80_mc_se: float
    n80_analytic: int | None
    n80_range: tuple[int | None, int | None]
    searched_max: int
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray


@dataclass(frozen=True)
class T1DvsT2DResult(LessonResult):
    """Sample sizes of 12-month trials by diabetes type and endpoint.

    ``ratio_hba1c`` = N(T2D HbA1c) / N(T1D HbA1c), simulated, with the ratio of the Monte Carlo
    range ends (``ratio_hba1c_range``), of the closed-form Ns and the formula ratio
    ``(d_T1D / d_T2D)^2`` of standardised effects ``d = |MD| / sigma_resid``.
    """

    seed: int
    n_trials: int
    target: float
    alpha: float
    designs: tuple[SampleSizeDesign, ...]
    ratio_hba1c: float
    ratio_hba1c_range: tuple[float, float]
    ratio_hba1c_closed: float
    ratio_hba1c_formula: float
    ratio_t2d_hba1c_to_insulin: float

    def design(self, key: str) -> SampleSizeDesign:
        return next(d for d in self.designs if d.key == key)

    def headline(self) -> list[str]:
        out = [f"{d.label}: N = {d.n80} per arm (power there {pm(d.n80_power, d.n80_mc_se)}; "
               f"closed form {d.n80_analytic})" for d in self.designs]
        out.append(f"N(T2D HbA1c) / N(T1D HbA1c) = {self.ratio_hba1c:.1f}; "
                   f"N(T2D HbA1c) / N(T2D insulin dose) = {self.ratio_t2d_hba1c_to_insulin:.1f}")
        return out


_T1T2_DESIGNS = (
    ("t1d_hba1c", "T1D, HbA1c", "t1d", "hba1c", "T1DM", None),
    ("t2d_hba1c", "T2D, HbA1c", "t2d", "hba1c", "T2DM", None),
    ("t2d_hba1c_exhu", "T2D, HbA1c (Kashbour 2025 excluding Hu, sceptical)", "t2d", "hba1c",
     "T2DM", "k25seed_hba1c_12m_t2dm_exhu"),
    ("t1d_insulin", "T1D, insulin dose", "t1d", "insulin_dose", "T1DM", None),
    ("t2d_insulin", "T2D, insulin dose", "t2d", "insulin_dose", "T2DM", None),
)


def t1d_vs_t2d(seed: int = LESSON_SEED, n_trials: int = 20_000, *,
               target: float = 0.8) -> T1DvsT2DResult:
    """Compute the T1D-versus-T2D lesson: N per arm for ``target`` power at 12 months, for
    HbA1c and daily insulin dose in each diabetes type (the default rows: Kashbour 2025
    subgroups, and for T2D HbA1c the reported Zhang 2025 T2D meta-analysis), plus HbA1c in T2D
    at the Kashbour 2025 sensitivity analysis excluding Hu (the sceptical alternative). Each design is
    one sample-size search of the engine (:func:`simtrial.oc.run.grid_search`).

    Returns
    -------
    T1DvsT2DResult
    """
    check_args(seed, n_trials)
    designs = []
    for key, label, preset, outcome, pop, row_id in _T1T2_DESIGNS:
        eff = {"source": "evidence", "population": pop}
        if row_id:
            eff["row"] = row_id
        model = model_of(make_scenario(f"lesson_{key}", preset, outcome, 12, eff, seed=seed,
                                      n_trials=n_trials))
        ss, out, hi = search_n(model, target, n_trials, seed)
        pw, pse = rates(out.rejections, n_trials)
        sig = model.analytic["sd_resid_ancova"]
        designs.append(SampleSizeDesign(
            key=key, label=label, preset=preset, outcome=outcome, unit=model.outcome_def.unit,
            population=pop, row=model.evidence_row, md=model.endpoint_md, sigma_resid=sig,
            std_effect=abs(model.endpoint_md) / sig, n80=ss.n_per_arm, n80_power=ss.power,
            n80_mc_se=ss.mc_se, n80_analytic=ss.analytic_n_per_arm,
            n80_range=n_range(out.rejections, n_trials, out.n0, target), searched_max=hi,
            ns=out.n0, power=pw, power_mc_se=pse))
    d = {x.key: x for x in designs}
    t1, t2, ti = d["t1d_hba1c"], d["t2d_hba1c"], d["t2d_insulin"]
    if t1.n80 is None or t2.n80 is None or ti.n80 is None:
        raise SimtrialError("lesson error: a design did not reach the target power by "
                            "design.max_n_per_arm")
    lo = t2.n80_range[0] / t1.n80_range[1] if t2.n80_range[0] and t1.n80_range[1] else math.nan
    hi = t2.n80_range[1] / t1.n80_range[0] if t2.n80_range[1] and t1.n80_range[0] else math.nan
    return T1DvsT2DResult(
        seed=seed, n_trials=n_trials, target=target, alpha=0.05, designs=tuple(designs),
        ratio_hba1c=t2.n80 / t1.n80, ratio_hba1c_range=(lo, hi),
        ratio_hba1c_closed=t2.n80_analytic / t1.n80_analytic,
        ratio_hba1c_formula=(t1.std_effect / t2.std_effect) ** 2,
        ratio_t2d_hba1c_to_insulin=t2.n80 / ti.n80)


def sections_t1d_t2d(res: T1DvsT2DResult):
    import pandas as pd
    t1, t2 = res.design("t1d_hba1c"), res.design("t2d_hba1c")
    z, ti, i1 = res.design("t2d_hba1c_exhu"), res.design("t2d_insulin"), res.design("t1d_insulin")
    s1 = Section("The question", [
        "HbA1c at 12 months is the default primary endpoint of a diabetes trial. This lesson "
        f"sizes a two-arm 12-month MSC trial for {res.target:.0%} power (ANCOVA, two-sided "
        f"alpha = {res.alpha:g}) in each diabetes type, on HbA1c and on daily insulin dose, each "
        f"from one engine search over every N ({res.n_trials:,} trials per N, seed {res.seed}).",
        "Evidence: T1D HbA1c (Kashbour 2025 subgroup) "
        f"{t1.md:+.2f}% ({p_text(t1.row)}, {t1.row['flag']}); T2D HbA1c {t2.md:+.3g}% "
        f"({cite(t2.row)}, {t2.row['flag']}: Kashbour 2025 reports the T2D subgroup only "
        "excluding Hu et al., so the reported T2D meta-analysis is the default); T1D insulin "
        f"{i1.md:+.2f} IU/day ({p_text(i1.row)}, {i1.row['flag']}); T2D insulin {ti.md:+.2f} "
        f"IU/day ({p_text(ti.row)}, {ti.row['flag']}).",
    ])
    s2 = Section("HbA1c: T2D needs more patients", [
        f"T1D needs {t1.n80} patients per arm (power there {pm(t1.n80_power, t1.n80_mc_se)}; "
        f"closed form {t1.n80_analytic}); T2D needs {t2.n80} (power "
        f"{pm(t2.n80_power, t2.n80_mc_se)}; Monte Carlo range {range_text(t2.n80_range)}; "
        f"closed form {t2.n80_analytic}): {res.ratio_hba1c:.0f} times as "
        f"many (range {res.ratio_hba1c_range[0]:.0f}-{res.ratio_hba1c_range[1]:.0f} from Monte "
        f"Carlo error; closed-form ratio {res.ratio_hba1c_closed:.1f}).",
        "Why: the required N scales as (sigma / MD)². The standardised effect |MD| / sigma "
        f"(sigma = residual SD of the ANCOVA) is {t1.std_effect:.2f} in T1D "
        f"({abs(t1.md):.2f} / {t1.sigma_resid:.2f}) but {t2.std_effect:.3f} in T2D "
        f"({abs(t2.md):.3g} / {t2.sigma_resid:.2f}): a much smaller pooled effect, measured "
        "against a noisier outcome (T2D HbA1c moves more within patients over a year, and the "
        "placebo arm drifts). The squared ratio of standardised effects, "
        f"{res.ratio_hba1c_formula:.0f}, is the large-sample answer; the simulated ratio is "
        f"{'smaller' if res.ratio_hba1c < res.ratio_hba1c_formula else 'larger'} because a "
        f"{t1.n80}-per-arm trial also pays for estimating its SD (t rather than normal "
        "quantiles), which costs a small trial relatively more.",
        f"How much this hangs on the T2D estimate: Kashbour 2025 excluding Hu et al. found no "
        f"significant T2D effect ({p_text(z.row)}; MD {z.md:+.3g}% derived from that P value "
        f"with an assumed SE, {z.row['flag']}); at that effect T2D needs {z.n80} per arm "
        f"(power {pm(z.n80_power, z.n80_mc_se)}), {z.n80 / t1.n80:.0f} times T1D. The two "
        "sources disagree; a design should show both, and the winner's-curse lesson says which "
        "way to lean.",
    ])
    s2.figures.append(lesson_figure("t1d_t2d_sample_sizes", plots.plot_sample_sizes, res,
                              f"N per arm for {res.target:.0%} power at 12 months (bars: "
                              "simulated, whiskers: Monte Carlo range, diamonds: closed form)."))
    verdict = ("fewer" if ti.n80 < t2.n80 else "more")
    s3 = Section("Insulin dose as the T2D endpoint", [
        f"On daily insulin dose, T2D needs {ti.n80} patients per arm (power "
        f"{pm(ti.n80_power, ti.n80_mc_se)}; closed form {ti.n80_analytic}), {verdict} than the "
        f"{t2.n80} for HbA1c (ratio {res.ratio_t2d_hba1c_to_insulin:.0f}). The standardised "
        f"effect on insulin dose is {ti.std_effect:.2f} ({abs(ti.md):.2f} / "
        f"{ti.sigma_resid:.2f} IU/day): in insulin-treated T2D, clinicians titrate insulin to "
        "keep HbA1c on target, so a benefit shows up as less insulin rather than lower HbA1c. "
        f"T1D on insulin dose needs {i1.n80} per arm.",
        "Caveats: a small N is only as good as its effect estimate (here from few trials, and "
        "insulin dose depends on titration practice); dose cannot fall below 0, which "
        "the engine models (insulin independence is an event). Insulin dose as primary endpoint "
        "should come with a rule for titration and HbA1c as a safety co-endpoint.",
    ])
    s3.figures.append(lesson_figure("t1d_t2d_power", plots.plot_t1d_t2d_power, res,
                              "Simulated power against N per arm (log scale), 95% Monte Carlo "
                              "bands."))
    tab = pd.DataFrame({
        "design": [x.label for x in res.designs],
        "MD": [round(x.md, 4) for x in res.designs], "unit": [x.unit for x in res.designs],
        "evidence row": [x.row["id"] for x in res.designs],
        "flag": [x.row["flag"] for x in res.designs],
        "sigma (ANCOVA)": [round(x.sigma_resid, 3) for x in res.designs],
        "|MD|/sigma": [round(x.std_effect, 3) for x in res.designs],
        "N per arm": [x.n80 for x in res.designs],
        "power at N": [round(x.n80_power, 4) for x in res.designs],
        "MC SE": [round(x.n80_mc_se, 4) for x in res.designs],
        "MC range": [range_text(x.n80_range) for x in res.designs],
        "closed form N": [x.n80_analytic for x in res.designs]})
    tab.attrs["caption"] = f"12-month designs, {res.target:.0%} power."
    s3.tables.append(tab)
    return [s1, s2, s3]
