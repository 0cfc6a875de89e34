"""Lessons (simtrial.present.lessons, `simtrial lesson`): determinism, the claims each lesson's text makes,
independent closed forms, and the command line.

Statistical checks compare a simulated number with a closed form or with another simulation;
their tolerances are multiples of the Monte Carlo SE computed here. The claim checks run each
lesson once at its own defaults (module-scoped fixtures, about 30 s of CPU in all).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln, roots_genlaguerre

from simtrial.present import lessons as L
from simtrial.cli import main
from simtrial.errors import SimtrialError

SMALL = 600
"""Replicate trials for the determinism tests (the claims use each lesson's default)."""


def _text(lesson: str, res) -> str:
    """All paragraphs of a lesson as one string (figures are closed)."""
    import matplotlib.pyplot as plt
    sections = L.get_lesson(lesson).sections(res)
    for s in sections:
        for f in s.figures:
            plt.close(f.fig)
    return "\n".join(p for s in sections for p in s.paragraphs)


@pytest.fixture(scope="module")
def wc():
    return L.compute_lesson("winners-curse")


@pytest.fixture(scope="module")
def fading():
    return L.compute_lesson("fading-effects")


@pytest.fixture(scope="module")
def assurance():
    return L.compute_lesson("assurance-vs-power")


@pytest.fixture(scope="module")
def t1t2():
    return L.compute_lesson("t1d-vs-t2d")


@pytest.fixture(scope="module")
def het():
    return L.compute_lesson("heterogeneity")


# ---------------------------------------------------------------------------------------------
# determinism: same seed -> same numbers (and the same figures); another seed -> other numbers
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(L.LESSONS))
def test_same_seed_same_lesson_other_seed_other_numbers(name, tmp_path):
    a = L.run_lesson(name, tmp_path / "a", seed=11, n_trials=SMALL)
    b = L.run_lesson(name, tmp_path / "b", seed=11, n_trials=SMALL)
    ja = json.loads(a.paths["lesson.json"].read_text())
    jb = json.loads(b.paths["lesson.json"].read_text())
    assert ja["numbers"] == jb["numbers"]
    assert ja["headline"] == jb["headline"]
    assert (ja["seed"], ja["n_trials"]) == (11, SMALL)
    figs = sorted(k for k in a.paths if k.startswith("figures/") and k.endswith(".png"))
    assert figs and figs == sorted(k for k in b.paths if k.startswith("figures/")
                                   and k.endswith(".png"))
    for k in figs:   # the figures draw only numbers held in the result: identical pictures
        assert a.paths[k].read_bytes() == b.paths[k].read_bytes(), k
    assert (a.out_dir / "report.html").read_text() == (b.out_dir / "report.html").read_text()
    other = L.compute_lesson(name, seed=12, n_trials=SMALL).to_dict()
    assert other != ja["numbers"]


def test_result_json_round_trips_every_number(wc):
    d = wc.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["mean_significant"] == pytest.approx(list(wc.mean_significant))


# ---------------------------------------------------------------------------------------------
# winner's curse
# ---------------------------------------------------------------------------------------------

def _chi2_rule(df: float, m: int):
    """Gauss-Laguerre nodes and weights integrating f(W) against the chi-square(df) density."""
    x, w = roots_genlaguerre(m, df / 2 - 1)
    return 2 * x, np.exp(np.log(w) - gammaln(df / 2))


def _oracle_significant_mean(theta, sigma, n0, n1, alpha=0.05, m=60):
    """P(t < -c) and E[estimate | t < -c] for ANCOVA, written from the model directly and
    integrated by Gaussian quadrature over three chi-square variables (a different rule from
    the quantile midpoint grid of simtrial.present.lessons.significant_mean):
    est | v ~ N(theta, sigma^2 v), v = (1/n0 + 1/n1)(1 + A / B), A ~ chi2_1, B ~ chi2_{N-2}
    (baseline imbalance), residual variance sigma^2 W / df with W ~ chi2_df, df = N - 3,
    success iff est < -c sigma sqrt(v) sqrt(W / df)."""
    n = n0 + n1
    df = n - 3
    c = stats.t.isf(alpha / 2, df)
    inv = 1 / n0 + 1 / n1
    w_, ww = _chi2_rule(df, m)
    a_, wa = _chi2_rule(1, m)
    b_, wb = _chi2_rule(n - 2, m)
    q = (a_[:, None] / b_[None, :])[..., None]
    wt = (wa[:, None] * wb[None, :])[..., None] * ww
    sv = sigma * np.sqrt(inv * (1 + q))
    z = (-c * sv * np.sqrt(w_ / df) - theta) / sv          # standardised cut-off
    p = np.sum(wt * stats.norm.cdf(z))
    m1 = np.sum(wt * (theta * stats.norm.cdf(z) - sv * stats.norm.pdf(z)))  # E[est 1{est<cut}]
    return float(p), float(m1 / p)


def test_significant_mean_exact_cases():
    # no effect, t-test: P(t < -c) = alpha / 2 exactly, and the conditional mean is negative
    p, m = L.significant_mean(0.0, 1.0, 10, 10, 0.05, 2, "lower", "ttest_change")
    assert p == pytest.approx(0.025, abs=2e-5)
    assert m < 0
    # the benefit direction mirrors: "higher" with -theta gives the negated mean
    p1, m1 = L.significant_mean(-0.5, 0.8, 12, 12, 0.05, 2, "lower")
    p2, m2 = L.significant_mean(0.5, 0.8, 12, 12, 0.05, 2, "higher")
    assert p1 == pytest.approx(p2, rel=1e-12) and m1 == pytest.approx(-m2, rel=1e-12)
    # huge trials: no selection, the conditional mean is the truth
    p, m = L.significant_mean(-0.72, 0.79, 2000, 2000)
    assert p == pytest.approx(1.0, abs=1e-9) and m == pytest.approx(-0.72, rel=1e-6)


def test_significant_mean_matches_independent_quadrature():
    # double_programming: the lesson's quantile-grid rule against Gauss-Laguerre quadrature
    # (converged: 30, 60 and 100 nodes agree to 1e-10)
    for n in (5, 10, 30):
        p, m = L.significant_mean(-0.72, 0.79, n, n)
        po, mo = _oracle_significant_mean(-0.72, 0.79, n, n)
        assert p == pytest.approx(po, rel=1e-4)
        assert m == pytest.approx(mo, rel=1e-4)
    assert _oracle_significant_mean(-0.72, 0.79, 10, 10, m=30) == pytest.approx(
        _oracle_significant_mean(-0.72, 0.79, 10, 10, m=100), rel=1e-9)


def test_winners_curse_inflation_is_real_and_as_stated(wc):
    i = wc.i_small
    se = wc.mean_significant_mc_se[i]
    # the claim: significant small trials overstate the effect, far beyond Monte Carlo error
    assert wc.inflation > 3 * se
    assert wc.inflation == pytest.approx((wc.mean_significant[i] - wc.truth) * np.sign(wc.truth))
    # ... while the estimate over all trials is unbiased
    assert abs(wc.mean_all[i] - wc.truth) < 3 * wc.mean_all_mc_se[i]
    # the numbers the text states are the computed ones
    text = _text("winners-curse", wc)
    assert f"exceeds the true effect by {wc.inflation:.3f}%" in text
    assert f"{100 * wc.inflation / abs(wc.truth):.0f}% too large" in text
    assert f"{wc.mean_significant[i]:+.3f}% (MC SE {se:.3f})" in text
    assert f"{wc.small_n} patients per arm" in text


def test_winners_curse_agrees_with_closed_form_at_every_n(wc):
    n0 = int(wc.small_n)
    po, mo = _oracle_significant_mean(wc.truth, wc.sigma_resid, n0, n0)
    i = wc.i_small
    assert abs(wc.mean_significant[i] - mo) < 3 * wc.mean_significant_mc_se[i]
    assert abs(wc.power[i] - po) < 3 * wc.power_mc_se[i]
    # every arm size against the lesson's closed form (8 comparisons: 4 SE each)
    z_mean = (wc.mean_significant - wc.closed_mean_significant) / wc.mean_significant_mc_se
    assert np.all(np.abs(z_mean) < 4), z_mean
    ok = wc.power_mc_se > 0
    z_p = (wc.power - wc.closed_success)[ok] / wc.power_mc_se[ok]
    assert np.all(np.abs(z_p) < 4), z_p


def test_winners_curse_shrinks_with_power(wc):
    # metamorphic: larger trials, more power, less inflation
    assert np.all(np.diff(wc.power) > 0)
    assert np.all(np.diff(wc.closed_mean_significant * np.sign(wc.truth)) < 0)
    j = len(wc.ns) - 1
    assert abs(wc.mean_significant[j] - wc.truth) < 4 * wc.mean_significant_mc_se[j]
    assert wc.hist_all.sum() == wc.n_trials
    assert wc.hist_significant.sum() == wc.n_significant[wc.i_small]


# ---------------------------------------------------------------------------------------------
# fading effects
# ---------------------------------------------------------------------------------------------

def test_fading_effects_high_early_power_low_late_power(fading):
    assert [o.outcome for o in fading.outcomes] == ["stimulated_cpeptide", "homa_ir"]
    for o in fading.outcomes:
        # the true effects are the evidence rows at each visit, fading towards 0
        assert [r["md"] for r in o.rows] == pytest.approx(list(o.md))
        assert np.all(np.diff(np.abs(o.md)) < 0)
        s, se = o.design_success, o.design_success_mc_se
        # 3 months: the trial was sized for the target; 12 months: close to the null rate
        assert s[0] > fading.target - 4 * se[0]
        assert s[-1] + 3 * se[-1] < 0.1
        assert s[0] - s[-1] > 3 * math.hypot(se[0], se[-1])
        assert o.p_last_given_first + 3 * o.p_last_given_first_mc_se < 0.15
        # the design engine (same trials followed to 12 months) and the fast engine (one pass
        # per visit, other random streams) agree at the sized N
        i = int(np.flatnonzero(o.ns == o.n80)[0])
        for j in range(len(o.months)):
            tol = 4 * math.hypot(se[j], o.power_mc_se[j, i])
            assert abs(s[j] - o.power[j, i]) < tol, (o.outcome, o.months[j])
        # powering at 12 months instead: far larger trials (closed form)
        assert o.n80_last_analytic is None or o.n80_last_analytic > 20 * o.n80


def test_fading_effects_text_states_the_computed_numbers(fading):
    text = _text("fading-effects", fading)
    for o in fading.outcomes:
        s, se = o.design_success, o.design_success_mc_se
        assert f"needs {o.n80} patients per arm" in text
        for j, m in enumerate(o.months):
            assert f"{m} months in {100 * s[j]:.1f}% (MC SE {100 * se[j]:.1f})" in text
        assert f"only {100 * o.p_last_given_first:.1f}%" in text
    assert "ASSUMED" in text


# ---------------------------------------------------------------------------------------------
# assurance versus power
# ---------------------------------------------------------------------------------------------

def test_assurance_below_power_at_the_80_percent_design(assurance):
    a = assurance
    assert a.power_n80 >= 0.8
    assert a.gap > 3 * a.gap_mc_se
    # pooled uncertainty costs less than between-trial heterogeneity on top of it
    assert a.power_n80 - a.assur_pool_n80 > 3 * math.hypot(a.power_n80_mc_se,
                                                           a.assur_pool_n80_mc_se)
    assert a.assur_pool_n80 - a.assur_pred_n80 > 3 * math.hypot(a.assur_pool_n80_mc_se,
                                                                a.assur_pred_n80_mc_se)
    text = _text("assurance-vs-power", a)
    assert f"{a.gap:.3f} lower than the power" in text
    assert f"{a.assur_pred_n80:.3f} (MC SE {a.assur_pred_n80_mc_se:.3f})" in text


def test_assurance_matches_closed_forms(assurance):
    a = assurance
    i = int(np.flatnonzero(a.ns == a.n80)[0])
    assert abs(a.assur_pred_n80 - a.assur_pred_n80_closed) < 3 * a.assur_pred_n80_mc_se
    assert abs(a.assur_pool_n80 - a.assur_pool_n80_closed) < 3 * a.assur_pool_n80_mc_se
    assert a.assur_pred[i] == a.assur_pred_n80
    # the ceiling: P(true effect beneficial) = t_{k-2} cdf, recomputed from the evidence row
    row = a.row
    se = (row["ci_high"] - row["ci_low"]) / 3.92
    tau2 = row["i2"] / 100 * row["k"] * se ** 2
    ceil = stats.t.cdf(-row["md"] / math.sqrt(se ** 2 + tau2), row["k"] - 2)
    assert a.ceiling_pred == pytest.approx(ceil, rel=2e-3)   # row SE is stored to 4 digits
    assert abs(a.ceiling_pred_sim - a.ceiling_pred) < 3 * a.ceiling_pred_sim_mc_se
    # assurance = power averaged over the drawn effects: each slice follows the power curve
    z = (a.bin_success - a.bin_closed) / np.where(a.bin_success_mc_se > 0, a.bin_success_mc_se, 1)
    assert np.all(np.abs(z[a.bin_success_mc_se > 0]) < 4), z
    assert a.bin_count.sum() == pytest.approx(a.n_trials, rel=0.05)
    # assurance never exceeds its ceiling by more than Monte Carlo error
    assert np.all(a.assur_pred - 3 * a.assur_pred_mc_se < a.ceiling_pred)


# ---------------------------------------------------------------------------------------------
# T1D versus T2D
# ---------------------------------------------------------------------------------------------

def test_t2d_hba1c_needs_many_more_patients_than_t1d(t1t2):
    t1, t2 = t1t2.design("t1d_hba1c"), t1t2.design("t2d_hba1c")
    # robust to Monte Carlo error: compare the ends of the Monte Carlo ranges
    sceptical = t1t2.design("t2d_hba1c_exhu")
    assert t2.n80_range[0] / t1.n80_range[1] > 1.5          # Zhang 2025: -0.75 vs T1D -0.98
    assert sceptical.n80_range[0] / t1.n80_range[1] > 10    # Kashbour ex-Hu: -0.175
    assert t1t2.ratio_hba1c == pytest.approx(t2.n80 / t1.n80)
    for d in (t1, t2, sceptical):
        # additive outcome: the closed form is accurate; it lies in the simulated range
        assert d.n80_range[0] - 1 <= d.n80_analytic <= d.n80_range[1] + 1, d.key
        assert abs(d.n80_power - t1t2.target) < 0.05
    text = _text("t1d-vs-t2d", t1t2)
    assert f"{t1t2.ratio_hba1c:.0f} times as many" in text
    assert f"T2D needs {t2.n80}" in text


def test_insulin_dose_needs_fewer_t2d_patients_than_hba1c(t1t2):
    ti, t2 = t1t2.design("t2d_insulin"), t1t2.design("t2d_hba1c")
    assert ti.n80_range[1] < t2.n80_range[0]          # what the engine says, MC error included
    assert ti.std_effect > t2.std_effect
    text = _text("t1d-vs-t2d", t1t2)
    assert f"T2D needs {ti.n80} patients per arm" in text and "fewer than the" in text


# ---------------------------------------------------------------------------------------------
# heterogeneity
# ---------------------------------------------------------------------------------------------

def test_heterogeneity_prediction_interval_and_p_le0(het):
    # external reference values: Kashbour 2025 abstract, 12-month fasting C-peptide, all
    # diabetes: MD +0.24 ng/mL, 95% CI 0.05 to 0.43, I2 = 93%; k = 10 (seed write-up)
    md, lo, hi, i2, k = 0.24, 0.05, 0.43, 0.93, 10
    se = (hi - lo) / 3.92
    tau2 = i2 * k * se ** 2                         # tau^2 = I^2 k SE^2
    scale = math.sqrt(se ** 2 + tau2)
    q = stats.t.ppf(0.975, k - 2)
    assert het.pi == pytest.approx((md - q * scale, md + q * scale), rel=2e-3)
    assert het.p_le0 == pytest.approx(stats.t.cdf(-md / scale, k - 2), rel=2e-3)
    assert het.ci == pytest.approx((lo, hi))
    # "much wider": the prediction interval is several times the confidence interval
    assert het.width_ratio > 3
    assert het.pi[0] < 0 < het.ci[0]
    # the engine's drawn trial effects agree with the closed form
    assert abs(het.p_le0_sim - het.p_le0) < 3 * het.p_le0_sim_mc_se
    text = _text("heterogeneity", het)
    assert f"{het.width_ratio:.1f} times as wide" in text
    assert f"zero or harmful is {het.p_le0:.3f}" in text


def test_heterogeneity_caps_assurance_below_80_percent(het):
    rep = het.variants[-1]
    assert rep.i2 == het.i2 == 93
    assert rep.ceiling < 0.8 and rep.n80_assurance is None
    # not reached at the largest N simulated, beyond Monte Carlo error
    assert rep.assurance[-1] + 3 * rep.assurance_mc_se[-1] < 0.8
    i = int(np.flatnonzero(het.ns == het.n80)[0])
    assert het.power[i] - rep.assurance_n80 > 3 * math.hypot(het.power_mc_se[i],
                                                             rep.assurance_n80_mc_se)
    # less heterogeneity, more assurance (same trials, same pooled MD and SE)
    zero = het.variants[0]
    assert zero.i2 == 0 and zero.ceiling > rep.ceiling
    assert zero.assurance_n80 - rep.assurance_n80 > 3 * math.hypot(zero.assurance_n80_mc_se,
                                                                   rep.assurance_n80_mc_se)


# ---------------------------------------------------------------------------------------------
# errors and the command line
# ---------------------------------------------------------------------------------------------

def test_unknown_lesson_and_bad_arguments_are_one_line_errors():
    with pytest.raises(SimtrialError, match=r"'winners_curse' is not a lesson \(did you mean "
                                            r"winners-curse\?\); valid: winners-curse, "):
        L.get_lesson("winners_curse")
    with pytest.raises(SimtrialError, match=r"n_trials = 10 must be an integer in \[200, "):
        L.compute_lesson("winners-curse", n_trials=10)
    with pytest.raises(SimtrialError, match=r"seed = -1 must be an integer >= 0"):
        L.compute_lesson("winners-curse", seed=-1)


def test_cli_lists_lessons(capsys):
    assert main(["lesson"]) == 0
    out = capsys.readouterr().out
    for name, les in L.LESSONS.items():
        assert f"{name}  " in out and les.summary in out


def test_cli_unknown_lesson_exit_2(capsys):
    assert main(["lesson", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid: winners-curse, fading-effects" in err
    assert main(["lesson", "winners-curse", "--n-trials", "5"]) == 2
    assert "must be >= 200" in capsys.readouterr().err
    assert main(["lesson", "--seed", "3"]) == 2


def test_cli_runs_a_lesson(tmp_path, capsys):
    assert main(["lesson", "winners-curse", "--out", str(tmp_path), "--seed", "5",
                 "--n-trials", str(SMALL)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "winners-curse"
    assert f"wrote     {folder / 'report.html'}" in out
    doc = json.loads((folder / "lesson.json").read_text())
    assert doc["seed"] == 5 and doc["n_trials"] == SMALL and doc["lesson"] == "winners-curse"
    for line in doc["headline"]:
        assert line in out
    html = (folder / "report.html").read_text()
    assert "The winner&#x27;s curse" in html and "data:image/png;base64," in html
    assert (folder / "figures" / "winners_curse_estimates.svg").exists()


def test_fading_effects_followed_to_6_months():
    """The visit-month control (the app's slider): followed to 6 months only, the same trials
    at 3 and 6 months, the text and the take-home about 6 months; other months refused."""
    res = L.fading_effects(n_trials=2000, follow_months=6)
    for o in res.outcomes:
        assert o.months == (3, 6) and len(o.design_success) == 2
        assert o.design_success[0] > o.design_success[1]
    text = _text("fading-effects", res)
    assert "would have shown at 6 months" in text and "nothing about 6 months" in text
    with pytest.raises(SimtrialError, match=r"^lesson error: follow_months = 9 must be one of "
                                            r"6, 12"):
        L.fading_effects(n_trials=2000, follow_months=9)
