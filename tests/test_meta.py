"""Tests for simtrial.stats.meta (pooling, input files, evidence rows) and ``simtrial meta``.

Reference values
----------------
BCG vaccine data (Colditz et al. 1994; metafor ``dat.bcg``), log risk ratios computed here from the
2x2 counts in ``tests/data/bcg.csv``. Published outputs used (all from R's metafor):

[R1] metafor reference manual, ``rma.uni`` examples (pkgdown page
     https://wviechtb.github.io/metafor/reference/rma.uni.html, metafor 4.7-4; the same REML output
     is printed on the ``dat.bcg`` page and in Viechtbauer 2010, J Stat Softw 36(3), section 3):
     ``rma(yi, vi, data=dat, method="REML")``: tau^2 0.3132, tau 0.5597, I^2 92.22%, H^2 12.86,
     Q(df = 12) = 152.2330, estimate -0.7145, se 0.1798, zval -3.9744, ci -1.0669 -0.3622;
     ``rma(yi, vi, data=dat, method="FE")``: I^2 92.12%, H^2 12.69, Q(df = 12) = 152.2330,
     estimate -0.4303, se 0.0405, zval -10.6247, ci -0.5097 -0.3509;
     ``rma(yi, vi, data=dat, subset=(alloc=="systematic"))`` (k = 4, REML): tau^2 0.4003,
     tau 0.6327, I^2 86.42%, H^2 7.36, Q(df = 3) = 16.5919, p 0.0009, estimate -0.4242, se 0.3597,
     zval -1.1792, pval 0.2383, ci -1.1293 0.2809; ``res.a$QE`` (alternate) 5.562514,
     ``res.r$QE`` (random) 110.2133.
[R2] metafor reference manual, ``predict.rma`` / ``dat.bcg`` examples
     (https://wviechtb.github.io/metafor/reference/predict.rma.html):
     ``predict(rma(yi, vi, data=dat), transf=exp)``: pred 0.4894, ci 0.3441 0.6962,
     pi 0.1546 1.5490 (metafor's PI for a z-test model uses the normal quantile: pi_dist="z").
[R3] metafor test suite, tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r (github.com/
     wviechtb/metafor; values checked there against Stata's metan):
     DL: estimate -0.7141, ci -1.0644 -0.3638, zval -3.9952, tau^2 0.3088, I^2 92.1173;
     exp scale pred 0.4896, ci 0.3449 0.6950. FE: estimate -0.4303, ci -0.5097 -0.3509,
     zval -10.6247, Q 152.2330; exp scale 0.6503, 0.6007 0.7040.
[R4] metafor test suite, tests/testthat/test_misc_rma_uni.r: ``method="DLIT"`` (iterated
     DerSimonian-Laird) tau^2 = 0.3181. The DLIT fixed point solves generalised Q = k - 1, i.e. it
     IS the Paule-Mandel estimate (DerSimonian & Kacker 2007, Contemp Clin Trials 28:105-114), so
     this is an indirect published check of PM.
[R5] metafor reference manual, ``dat.bcg`` page: the escalc table of yi and vi (4 decimals).

[R6] metafor 3.8-1 (Debian r-cran-metafor 3.8-1-1, R 4.2.2), computed once for this file with
     ``dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)``,
     ``res <- rma(yi, vi, data=dat, method=M, test=T)`` and ``p <- predict(res)``
     (``sprintf("%.10f")`` of ``p$pred, p$se, p$ci.lb, p$ci.ub, p$pi.lb, p$pi.ub``) and
     ``predict(res, pi.type="riley")`` (``pi.lb, pi.ub``); see METAFOR_381 below. metafor's
     default PI uses the critical value of the CI: the normal quantile for ``test="z"``, t with
     k - 1 df for ``test="knha"`` (predict.rma: ``crit <- qt(level/2, df=ddf,
     lower.tail=FALSE)``, ``ddf = k - p``; ``pi.lb <- pred - crit * sqrt(vpred + tau2)``,
     ``vpred`` the HKSJ-scaled variance); ``pi.type="riley"`` uses t with k - 2 df (simtrial's
     default).

Not found published (searched the metafor manual, test suite, vignette and metafor-project.org):
the PM estimate/SE/CI themselves and any HKSJ (``test="knha"``) output for dat.bcg (HKSJ now
computed in [R6]). These are checked against independent re-implementations written below
(bisection on the PM equation; direct numerical maximisation of the REML log-likelihood; HKSJ from
its definition) to 1e-6.

Printed numbers have 4 decimals (I^2 and H^2: 2), so "to 1e-4" means |ours - printed| <= 1e-4
(and <= 0.005 for the 2-decimal I^2/H^2 lines).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from simtrial.cli import _COMMANDS, main
from simtrial.errors import SimtrialError
from simtrial.model.evidence import COLUMNS, EVIDENCE_FILE, load_evidence
from simtrial.model.evidence_rows import evidence_row, evidence_row_csv
from simtrial.stats.meta import MetaError, MetaResult, pool, read_studies

DATA = Path(__file__).parent / "data"
BCG_FILE = DATA / "bcg.csv"
P4 = 1e-4    # printed with 4 decimals
P2 = 5e-3    # printed with 2 decimals (I^2 %, H^2)
IND = 1e-6   # independent re-implementation


# --------------------------------------------------------------------------------------------
# BCG data
# --------------------------------------------------------------------------------------------

def _bcg():
    """yi = log RR, vi as in escalc(measure="RR"), and the allocation labels."""
    with open(BCG_FILE, encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    tp, tn, cp, cn = (np.array([float(r[c]) for r in rows]) for c in ("tpos", "tneg", "cpos", "cneg"))
    yi = np.log((tp / (tp + tn)) / (cp / (cp + cn)))
    vi = 1 / tp - 1 / (tp + tn) + 1 / cp - 1 / (cp + cn)
    return yi, vi, [r["alloc"] for r in rows]


YI, VI, ALLOC = _bcg()


def test_bcg_data_match_metafor_escalc():
    # [R5] escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    yi = [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694,
          -1.3713, -0.3394, 0.4459, -0.0173]
    vi = [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124,
          0.5325, 0.0714]
    assert len(YI) == 13
    np.testing.assert_allclose(YI, yi, atol=5.1e-5)
    np.testing.assert_allclose(VI, vi, atol=5.1e-5)


def test_reml_matches_published_metafor():
    r = pool(YI, VI, method="reml")  # [R1]
    assert r.k == 13 and r.q_df == 12
    assert r.estimate == pytest.approx(-0.7145, abs=P4)
    assert r.se == pytest.approx(0.1798, abs=P4)
    assert r.z_or_t == pytest.approx(-3.9744, abs=P4)
    assert r.ci_low == pytest.approx(-1.0669, abs=P4)
    assert r.ci_high == pytest.approx(-0.3622, abs=P4)
    assert r.tau2 == pytest.approx(0.3132, abs=P4)
    assert r.tau == pytest.approx(0.5597, abs=P4)
    assert r.q == pytest.approx(152.2330, abs=P4)
    assert r.i2 == pytest.approx(92.22, abs=P2)
    assert r.h2 == pytest.approx(12.86, abs=P2)
    assert r.p_value < 1e-4 and r.q_p < 1e-4
    assert not r.hksj and r.level == 0.95


def test_reml_prediction_interval_matches_published_metafor():
    r = pool(YI, VI, method="reml", pi_dist="z")  # [R2], printed on the risk-ratio scale
    assert math.exp(r.estimate) == pytest.approx(0.4894, abs=P4)
    assert math.exp(r.ci_low) == pytest.approx(0.3441, abs=P4)
    assert math.exp(r.ci_high) == pytest.approx(0.6962, abs=P4)
    assert math.exp(r.pi_low) == pytest.approx(0.1546, abs=P4)
    assert math.exp(r.pi_high) == pytest.approx(1.5490, abs=P4)
    assert r.pi_dist == "z" and r.pi_note == ""
    # default t_{k-2} interval (Higgins et al. 2009): same centre, wider by t_11 / z
    t = pool(YI, VI, method="reml")
    assert t.pi_dist == "t"
    ratio = (t.pi_high - t.estimate) / (r.pi_high - r.estimate)
    assert ratio == pytest.approx(stats.t.ppf(0.975, 11) / stats.norm.ppf(0.975), rel=1e-12)


# [R6]: (method, hksj, subset) -> pred, se, ci.lb, ci.ub, pi.lb, pi.ub (predict default), and
# pi.lb, pi.ub of predict(res, pi.type="riley") (None: not computed)
METAFOR_381 = [
    ("reml", False, None, (-0.7145323484, 0.1797815318, -1.0668976757, -0.3621670210,
                           -1.8666923466, 0.4376276499), (-2.0083760507, 0.5793113540)),
    ("reml", True, None, (-0.7145323484, 0.1807917455, -1.1084437230, -0.3206209737,
                          -1.9960169670, 0.5669522703), (-2.0090577845, 0.5799930878)),
    ("dl", False, None, (-0.7141172221, 0.1787420895, -1.0644452801, -0.3637891641,
                         -1.8581537527, 0.4299193086), (-1.9988384958, 0.5706040516)),
    ("dl", True, None, (-0.7141172221, 0.1806966283, -1.1078213542, -0.3204130900,
                        -1.9872069634, 0.5589725193), (-2.0001623518, 0.5719279077)),
    ("reml", True, "systematic", (-0.4242073430, 0.3642184793, -1.5833130968, 0.7348984109,
                                  -2.7476141573, 1.8991994714), None),
]


@pytest.mark.parametrize("method,hksj,subset,default,riley", METAFOR_381,
                         ids=[f"{m}-{'knha' if h else 'z'}-{s or 'all'}"
                              for m, h, s, _, _ in METAFOR_381])
def test_prediction_interval_matches_metafor_predict(method, hksj, subset, default, riley):
    idx = [i for i, a in enumerate(ALLOC) if subset is None or a == subset]
    y, v = YI[idx], VI[idx]
    # pi_dist="ci": the CI's critical value, z or (HKSJ) t with k - 1 df, as metafor's predict()
    r = pool(y, v, method=method, hksj=hksj, pi_dist="ci")
    got = (r.estimate, r.se, r.ci_low, r.ci_high, r.pi_low, r.pi_high)
    np.testing.assert_allclose(got, default, atol=1e-6)
    assert r.pi_dist == "ci" and r.pi_note == ""
    assert r.pi_df == (len(idx) - 1 if hksj else None)
    # pi_dist="z" is the normal quantile whatever the test: metafor's interval only without HKSJ
    z = pool(y, v, method=method, hksj=hksj, pi_dist="z")
    assert z.pi_df is None
    if hksj:
        assert z.pi_high - z.estimate < r.pi_high - r.estimate - 0.05
    else:
        assert (z.pi_low, z.pi_high) == (r.pi_low, r.pi_high)
    # the default t with k - 2 df is metafor's pi.type="riley"
    if riley is not None:
        t = pool(y, v, method=method, hksj=hksj)
        assert t.pi_df == len(idx) - 2
        np.testing.assert_allclose((t.pi_low, t.pi_high), riley, atol=1e-6)


def test_prediction_interval_ci_summary_says_which_quantile():
    r = pool(YI, VI, hksj=True, pi_dist="ci")
    assert "(t, 12 df, the CI's critical value as in metafor's predict)" in r.summary()
    r = pool(YI, VI, pi_dist="ci")
    assert "(z, the CI's critical value as in metafor's predict)" in r.summary()
    fe = pool(YI, VI, method="fe", hksj=True, pi_dist="ci")
    assert (fe.pi_low, fe.pi_high, fe.pi_dist, fe.pi_df) == (fe.ci_low, fe.ci_high, "ci", 12)


def test_reml_subgroup_k4_matches_published_metafor():
    idx = [i for i, a in enumerate(ALLOC) if a == "systematic"]
    r = pool(YI[idx], VI[idx], method="reml")  # [R1] res.s
    assert r.k == 4
    assert r.tau2 == pytest.approx(0.4003, abs=P4)
    assert r.tau == pytest.approx(0.6327, abs=P4)
    assert r.i2 == pytest.approx(86.42, abs=P2)
    assert r.h2 == pytest.approx(7.36, abs=P2)
    assert r.q == pytest.approx(16.5919, abs=P4)
    assert r.q_p == pytest.approx(0.0009, abs=P4)
    assert r.estimate == pytest.approx(-0.4242, abs=P4)
    assert r.se == pytest.approx(0.3597, abs=P4)
    assert r.z_or_t == pytest.approx(-1.1792, abs=P4)
    assert r.p_value == pytest.approx(0.2383, abs=P4)
    assert r.ci_low == pytest.approx(-1.1293, abs=P4)
    assert r.ci_high == pytest.approx(0.2809, abs=P4)
    for group, q in (("alternate", 5.562514), ("random", 110.2133)):  # [R1] res.a$QE, res.r$QE
        idx = [i for i, a in enumerate(ALLOC) if a == group]
        assert pool(YI[idx], VI[idx]).q == pytest.approx(q, abs=P4)


def test_fixed_effect_matches_published_metafor():
    r = pool(YI, VI, method="fe")  # [R1], [R3]
    assert r.estimate == pytest.approx(-0.4303, abs=P4)
    assert r.se == pytest.approx(0.0405, abs=P4)
    assert r.z_or_t == pytest.approx(-10.6247, abs=P4)
    assert r.ci_low == pytest.approx(-0.5097, abs=P4)
    assert r.ci_high == pytest.approx(-0.3509, abs=P4)
    assert r.q == pytest.approx(152.2330, abs=P4)
    assert r.i2 == pytest.approx(92.12, abs=P2)
    assert r.h2 == pytest.approx(12.69, abs=P2)
    assert r.tau2 == 0.0 and r.tau == 0.0
    assert (math.exp(r.estimate), math.exp(r.ci_low), math.exp(r.ci_high)) == pytest.approx(
        (0.6503, 0.6007, 0.7040), abs=P4)
    # fixed effect: the prediction interval is the confidence interval
    assert (r.pi_low, r.pi_high, r.pi_dist) == (r.ci_low, r.ci_high, "ci")


def test_dersimonian_laird_matches_published_metafor():
    r = pool(YI, VI, method="dl")  # [R3]
    assert r.estimate == pytest.approx(-0.7141, abs=P4)
    assert r.ci_low == pytest.approx(-1.0644, abs=P4)
    assert r.ci_high == pytest.approx(-0.3638, abs=P4)
    assert r.z_or_t == pytest.approx(-3.9952, abs=P4)
    assert r.tau2 == pytest.approx(0.3088, abs=P4)
    assert r.i2 == pytest.approx(92.1173, abs=P4)
    assert r.q == pytest.approx(152.2330, abs=P4)  # Q does not depend on the estimator [R1]
    assert (math.exp(r.estimate), math.exp(r.ci_low), math.exp(r.ci_high)) == pytest.approx(
        (0.4896, 0.3449, 0.6950), abs=P4)
    # SE is not printed in [R3]; it follows from the published z: se = estimate / z
    assert r.se == pytest.approx(-0.7141 / -3.9952, abs=P4)
    # independent: DL formula written out
    w = 1 / VI
    mu_fe = (w * YI).sum() / w.sum()
    q = (w * (YI - mu_fe) ** 2).sum()
    tau2 = max(0.0, (q - 12) / (w.sum() - (w ** 2).sum() / w.sum()))
    ws = 1 / (VI + tau2)
    assert r.tau2 == pytest.approx(tau2, abs=1e-12)
    assert r.estimate == pytest.approx((ws * YI).sum() / ws.sum(), abs=1e-12)
    assert r.se == pytest.approx(ws.sum() ** -0.5, abs=1e-12)


# --------------------------------------------------------------------------------------------
# Independent re-implementations (PM, REML, HKSJ): no published values found
# --------------------------------------------------------------------------------------------

def _gen_q(y, v, t2):
    w = [1.0 / (vv + t2) for vv in v]
    mu = sum(wi * yi for wi, yi in zip(w, y)) / sum(w)
    return sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, y))


def _indep_pm(y, v):
    """Paule-Mandel by plain bisection on Q(t2) = k - 1 (Q decreasing in t2)."""
    k = len(y)
    if _gen_q(y, v, 0.0) <= k - 1:
        return 0.0
    lo, hi = 0.0, 1.0
    while _gen_q(y, v, hi) > k - 1:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _gen_q(y, v, mid) > k - 1 else (lo, mid)
    return (lo + hi) / 2


def _indep_dlit(y, v, iters=10_000):
    """Iterated DerSimonian-Laird (metafor method="DLIT"): moment estimator with weights
    1/(v + previous tau2), from tau2 = 0, until it stops moving."""
    t2 = 0.0
    for _ in range(iters):
        a = [1.0 / (vv + t2) for vv in v]
        sa, sa2 = sum(a), sum(ai ** 2 for ai in a)
        mu = sum(ai * yi for ai, yi in zip(a, y)) / sa
        qa = sum(ai * (yi - mu) ** 2 for ai, yi in zip(a, y))
        num = qa - (sum(ai * vv for ai, vv in zip(a, v)) - sum(ai ** 2 * vv for ai, vv in zip(a, v)) / sa)
        new = max(0.0, num / (sa - sa2 / sa))
        if abs(new - t2) < 1e-15:
            return new
        t2 = new
    return t2


def _indep_reml(y, v):
    """REML tau2 by direct numerical maximisation of the restricted log-likelihood."""
    y, v = np.asarray(y), np.asarray(v)

    def negll(t2):
        w = 1 / (v + t2)
        mu = (w * y).sum() / w.sum()
        return 0.5 * (np.log(v + t2).sum() + np.log(w.sum()) + (w * (y - mu) ** 2).sum())

    grid = np.linspace(0, 5, 5001)
    t0 = grid[np.argmin([negll(t) for t in grid])]
    res = optimize.minimize_scalar(negll, bounds=(max(0.0, t0 - 0.01), t0 + 0.01), method="bounded",
                                   options={"xatol": 1e-13})
    return 0.0 if negll(0.0) <= res.fun else res.x


def _indep_re(y, v, t2, hksj=False, level=0.95):
    y, v = np.asarray(y), np.asarray(v)
    k = len(y)
    w = 1 / (v + t2)
    mu = (w * y).sum() / w.sum()
    se = w.sum() ** -0.5
    if hksj:
        se *= math.sqrt((w * (y - mu) ** 2).sum() / (k - 1))
        crit = stats.t.ppf(0.5 + level / 2, k - 1)
    else:
        crit = stats.norm.ppf(0.5 + level / 2)
    return mu, se, mu - crit * se, mu + crit * se


def test_paule_mandel_against_independent_and_dlit():
    r = pool(YI, VI, method="pm")
    t2 = _indep_pm(list(YI), list(VI))
    assert r.tau2 == pytest.approx(t2, abs=IND)
    # [R4]: the published DLIT value 0.3181 is the same fixed point
    dlit = _indep_dlit(list(YI), list(VI))
    assert r.tau2 == pytest.approx(dlit, abs=IND)
    assert r.tau2 == pytest.approx(0.3181, abs=P4)
    mu, se, lo, hi = _indep_re(YI, VI, t2)
    assert (r.estimate, r.se, r.ci_low, r.ci_high) == pytest.approx((mu, se, lo, hi), abs=IND)
    assert _gen_q(list(YI), list(VI), r.tau2) == pytest.approx(12, abs=1e-8)
    assert r.q == pytest.approx(152.2330, abs=P4)


def test_reml_against_independent_maximisation():
    r = pool(YI, VI, method="reml")
    assert r.tau2 == pytest.approx(_indep_reml(YI, VI), abs=IND)
    idx = [i for i, a in enumerate(ALLOC) if a == "systematic"]
    assert pool(YI[idx], VI[idx]).tau2 == pytest.approx(_indep_reml(YI[idx], VI[idx]), abs=IND)


def test_reml_takes_the_global_maximum_not_the_boundary():
    # the REML score is negative at tau2 = 0 (a local maximum on the boundary), but the restricted
    # likelihood is higher at an interior maximum near 0.23: REML must return the latter
    y = [-0.582, -0.716, 0.418, 1.064, -0.53, -0.595]
    v = [0.01, 1.7332, 0.185, 0.3873, 0.0121, 0.5449]
    ya, va = np.array(y), np.array(v)

    def score(t2):
        w = 1 / (va + t2)
        mu = (w * ya).sum() / w.sum()
        return (w ** 2 * (ya - mu) ** 2).sum() - (w.sum() - (w ** 2).sum() / w.sum())

    assert score(0.0) < 0
    r = pool(y, v, method="reml")
    assert r.tau2 == pytest.approx(_indep_reml(y, v), abs=IND)
    assert r.tau2 > 0.2


def test_hksj_against_independent_computation():
    r = pool(YI, VI, method="reml", hksj=True)
    t2 = _indep_reml(YI, VI)
    mu, se, lo, hi = _indep_re(YI, VI, t2, hksj=True)
    assert r.hksj and r.df == 12
    assert (r.estimate, r.se, r.ci_low, r.ci_high) == pytest.approx((mu, se, lo, hi), abs=IND)
    assert r.z_or_t == pytest.approx(mu / se, abs=IND)
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(mu / se), 12), abs=IND)
    # default PI: t with k - 2 df around the HKSJ SE
    half = stats.t.ppf(0.975, 11) * math.sqrt(t2 + se ** 2)
    assert (r.pi_low, r.pi_high) == pytest.approx((mu - half, mu + half), abs=IND)
    # tau2, Q, I2 are unchanged by HKSJ and still equal the published REML values [R1]
    assert r.tau2 == pytest.approx(0.3132, abs=P4)
    assert r.i2 == pytest.approx(92.22, abs=P2)
    # no truncation: the variance factor here is ~1.011, so the SE is only slightly larger
    assert r.se > pool(YI, VI).se
    # HKSJ with DL and PM too
    for m, t2m in (("dl", pool(YI, VI, method="dl").tau2), ("pm", _indep_pm(list(YI), list(VI)))):
        rm = pool(YI, VI, method=m, hksj=True)
        assert (rm.estimate, rm.se, rm.ci_low, rm.ci_high) == pytest.approx(
            _indep_re(YI, VI, t2m, hksj=True), abs=IND)


def test_hksj_variance_factor_below_one_is_not_truncated():
    y, v = [0.0, 0.1, -0.1, 0.05], [1.0, 1.0, 1.0, 1.0]
    r = pool(y, v, method="dl", hksj=True)
    plain = pool(y, v, method="dl")
    assert r.tau2 == 0.0
    assert r.se < plain.se  # metafor test="knha" does not truncate at 1
    assert r.se == pytest.approx(plain.se * math.sqrt(plain.q / 3), rel=1e-12)


# --------------------------------------------------------------------------------------------
# Hand-computed small cases
# --------------------------------------------------------------------------------------------

def test_k2_by_hand():
    # yi = 1, 3; vi = 1, 1: FE mean 2, SE sqrt(1/2), Q = 1 + 1 = 2 on 1 df
    fe = pool([1.0, 3.0], [1.0, 1.0], method="fe")
    assert fe.estimate == pytest.approx(2.0, abs=1e-12)
    assert fe.se == pytest.approx(math.sqrt(0.5), abs=1e-12)
    assert fe.q == pytest.approx(2.0, abs=1e-12)
    assert fe.i2 == pytest.approx(50.0, abs=1e-10)          # 100 (Q - 1) / Q
    assert fe.h2 == pytest.approx(2.0, abs=1e-12)           # Q / (k - 1)
    z = stats.norm.ppf(0.975)
    assert (fe.ci_low, fe.ci_high) == pytest.approx((2 - z * math.sqrt(0.5), 2 + z * math.sqrt(0.5)))
    # DL: c = 2 - 2/2 = 1, tau2 = (2 - 1) / 1 = 1, RE weights 1/2 -> SE = 1
    dl = pool([1.0, 3.0], [1.0, 1.0], method="dl")
    assert dl.tau2 == pytest.approx(1.0, abs=1e-12)
    assert dl.estimate == pytest.approx(2.0, abs=1e-12)
    assert dl.se == pytest.approx(1.0, abs=1e-12)
    assert dl.i2 == pytest.approx(50.0, abs=1e-10)          # s2 = 1*2/(4-2) = 1; 100 * 1/(1+1)
    assert dl.h2 == pytest.approx(2.0, abs=1e-12)
    assert dl.q_p == pytest.approx(stats.chi2.sf(2.0, 1), abs=1e-12)


def test_k3_by_hand():
    y, v = [0.0, 1.0, 5.0], [1.0, 1.0, 2.0]
    # FE: w = 1, 1, 1/2; sum w = 5/2; sum w y = 7/2 -> mean 7/5; Q = 1.96 + 0.16 + 0.5*12.96 = 8.6
    fe = pool(y, v, method="fe")
    assert fe.estimate == pytest.approx(1.4, abs=1e-12)
    assert fe.se == pytest.approx(math.sqrt(2 / 5), abs=1e-12)
    assert fe.q == pytest.approx(8.6, abs=1e-12)
    assert fe.i2 == pytest.approx(100 * 6.6 / 8.6, abs=1e-10)
    # DL: c = 5/2 - (9/4)/(5/2) = 1.6; tau2 = (8.6 - 2)/1.6 = 4.125
    dl = pool(y, v, method="dl")
    assert dl.tau2 == pytest.approx(4.125, abs=1e-12)
    # RE weights 8/41, 8/41, 8/49: sum 1112/2009, sum w y 2032/2009
    assert dl.estimate == pytest.approx(2032 / 1112, abs=1e-12)
    assert dl.se == pytest.approx(math.sqrt(2009 / 1112), abs=1e-12)
    # s2 = 2 * 2.5 / (6.25 - 2.25) = 1.25; I2 = 100 * 4.125 / 5.375 (= 100 (Q - 2)/Q for DL)
    assert dl.i2 == pytest.approx(100 * 4.125 / 5.375, abs=1e-10)
    assert dl.i2 == pytest.approx(fe.i2, abs=1e-10)
    assert dl.h2 == pytest.approx(5.375 / 1.25, abs=1e-12)
    # PI with t on k - 2 = 1 df
    half = stats.t.ppf(0.975, 1) * math.sqrt(4.125 + 2009 / 1112)
    assert (dl.pi_low, dl.pi_high) == pytest.approx((2032 / 1112 - half, 2032 / 1112 + half), abs=1e-10)
    assert dl.pi_dist == "t" and dl.pi_note == ""


@pytest.mark.parametrize("method", ["dl", "reml", "pm"])
def test_tau2_zero_when_q_below_df(method):
    y, v = [0.0, 0.1, -0.1], [1.0, 1.0, 1.0]
    r = pool(y, v, method=method)
    assert r.q == pytest.approx(0.02, abs=1e-12) and r.q < r.q_df
    assert r.tau2 == 0.0 and r.tau == 0.0
    assert r.i2 == 0.0 and r.h2 == pytest.approx(1.0)
    fe = pool(y, v, method="fe")
    assert (r.estimate, r.se) == pytest.approx((fe.estimate, fe.se), abs=1e-12)
    assert fe.i2 == 0.0 and fe.h2 == pytest.approx(0.01)


def test_prediction_interval_falls_back_to_z_for_k2():
    r = pool([1.0, 3.0], [1.0, 1.0], method="dl", pi_dist="t")
    assert r.pi_dist == "z"
    assert "k = 2" in r.pi_note and "\n" not in r.pi_note
    half = stats.norm.ppf(0.975) * math.sqrt(1.0 + 1.0)
    assert (r.pi_low, r.pi_high) == pytest.approx((2 - half, 2 + half), abs=1e-12)
    assert "k = 2" in r.summary()
    z = pool([1.0, 3.0], [1.0, 1.0], method="dl", pi_dist="z")
    assert z.pi_note == "" and (z.pi_low, z.pi_high) == (r.pi_low, r.pi_high)


def test_level_changes_intervals():
    r90 = pool(YI, VI, level=0.90, pi_dist="z")
    z = stats.norm.ppf(0.95)
    assert r90.ci_high - r90.estimate == pytest.approx(z * r90.se, rel=1e-12)
    assert r90.level == 0.90


def test_result_dict_and_frame():
    r = pool(YI, VI)
    assert isinstance(r, MetaResult)
    d = r.to_dict()
    for key in ("method", "estimate", "se", "ci_low", "ci_high", "z_or_t", "p_value", "tau2", "tau",
                "i2", "h2", "q", "q_df", "q_p", "pi_low", "pi_high", "k", "hksj", "level",
                "pi_dist", "pi_note"):
        assert key in d
    assert json.loads(json.dumps(d)) == d
    f = r.to_frame()
    assert f.shape == (1, len(d)) and f.loc[0, "estimate"] == r.estimate
    with pytest.raises(Exception):
        r.estimate = 0.0  # frozen


@pytest.mark.parametrize("yi, vi, method, msg", [
    ([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, -0.1], "reml", "vi[3] = -0.1 must be a finite number > 0"),
    ([1.0, 2.0], [1.0, 0.0], "reml", "vi[1] = 0.0 must be"),
    ([1.0, float("nan")], [1.0, 1.0], "reml", "yi[1] = nan must be a finite number"),
    ([1.0, 2.0], [1.0, float("inf")], "reml", "vi[1] = inf"),
    ([1.0], [1.0], "reml", "k = 1 studies; pooling needs at least 2"),
    ([1.0, 2.0], [1.0], "reml", "same length"),
    ([1.0, 2.0], [1.0, 1.0], "bayes", "method = \"bayes\" must be one of fe, dl, reml, pm"),
    (["a", "b"], [1.0, 1.0], "reml", "yi = "),
])
def test_pool_rejects_bad_input(yi, vi, method, msg):
    with pytest.raises(MetaError) as exc:
        pool(yi, vi, method=method)
    text = str(exc.value)
    assert text.startswith("meta error: ") and msg in text and "\n" not in text
    assert isinstance(exc.value, SimtrialError)


def test_pool_rejects_bad_options():
    for kwargs, msg in (({"level": 1.5}, "level = 1.5"), ({"level": 0}, "level = 0"),
                        ({"pi_dist": "f"}, "pi_dist"), ({"hksj": "yes"}, "hksj")):
        with pytest.raises(MetaError, match=msg):
            pool(YI, VI, **kwargs)


# --------------------------------------------------------------------------------------------
# read_studies
# --------------------------------------------------------------------------------------------

ARMS = [  # study, mean1 (MSC), sd1, n1, mean2 (control), sd2, n2 -- invented example numbers
    ("A", -1.10, 0.90, 20, -0.20, 1.00, 21),
    ("B", -0.50, 1.20, 35, -0.30, 1.10, 33),
    ("C", -1.60, 0.80, 12, -0.10, 0.95, 12),
    ("D", -0.70, 1.00, 50, -0.45, 1.05, 48),
    ("E", -0.20, 1.30, 18, -0.25, 1.20, 17),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _formats(tmp_path: Path) -> dict[str, Path]:
    md = [m1 - m2 for _, m1, _, _, m2, _, _ in ARMS]
    vi = [s1 ** 2 / n1 + s2 ** 2 / n2 for _, _, s1, n1, _, s2, n2 in ARMS]
    se = [math.sqrt(x) for x in vi]
    names = [a[0] for a in ARMS]
    out = {}
    out["yi_vi"] = _write(tmp_path / "yv.csv", "yi,vi\n" + "".join(
        f"{y!r},{v!r}\n" for y, v in zip(md, vi)))
    out["md_se"] = _write(tmp_path / "ms.csv", "Study,MD,Se,comment\n" + "".join(
        f"{n},{y!r},{s!r},x\n" for n, y, s in zip(names, md, se)))
    out["md_ci"] = _write(tmp_path / "ci.csv", "# CIs as md +- 1.96 se\nstudy,md,CI_LOW,ci_high\n"
                          + "".join(f"{n},{y!r},{y - 1.96 * s!r},{y + 1.96 * s!r}\n"
                                    for n, y, s in zip(names, md, se)))
    out["arms"] = _write(tmp_path / "arms.csv", "study,mean1,sd1,n1,mean2,sd2,n2\n" + "".join(
        ",".join(map(str, a)) + "\n" for a in ARMS))
    return out


@pytest.mark.parametrize("method", ["fe", "dl", "reml", "pm"])
@pytest.mark.parametrize("hksj", [False, True])
def test_every_input_format_gives_the_same_pool(tmp_path, method, hksj):
    files = _formats(tmp_path)
    results = {}
    for name, path in files.items():
        yi, vi, table = read_studies(path)
        assert len(yi) == len(vi) == len(table) == 5
        results[name] = pool(yi, vi, method=method, hksj=hksj)
    ref = results["arms"]
    assert ref.tau2 > 0 or method == "fe"
    for name, r in results.items():
        for field in ("estimate", "se", "tau2", "i2", "q", "ci_low", "ci_high", "pi_low", "pi_high"):
            assert getattr(r, field) == pytest.approx(getattr(ref, field), rel=1e-9, abs=1e-12), \
                (name, field)


def test_read_studies_table(tmp_path):
    files = _formats(tmp_path)
    yi, vi, t = read_studies(files["arms"])
    assert t.attrs["format"] == "mean1, sd1, n1, mean2, sd2, n2"
    assert list(t["study"]) == ["A", "B", "C", "D", "E"]
    assert list(t["n"]) == [41, 68, 24, 98, 35]
    assert yi[0] == pytest.approx(-0.9) and vi[0] == pytest.approx(0.81 / 20 + 1.0 / 21)
    _, _, t2 = read_studies(files["yi_vi"])
    assert t2.attrs["format"] == "yi, vi"
    assert t2["n"].isna().all() and list(t2["study"])[0] == "study 1"
    _, _, t3 = read_studies(files["md_ci"])
    assert t3.attrs["format"] == "md, ci_low, ci_high"
    assert list(t3["line"]) == [3, 4, 5, 6, 7]  # comment and header lines counted


@pytest.mark.parametrize("text, parts", [
    ("study,yi,vi\nA,0.1,0.2\nB,0.3,-0.1\n", ["line 3", "study \"B\"", "vi = -0.1 must be > 0"]),
    ("md,se\n0.1,0.2\n0.3,-0.05\n", ["line 3", "se = -0.05 must be > 0"]),
    ("md,se\n0.1,abc\n0.3,0.1\n", ["line 2", "se = \"abc\" must be a finite number"]),
    ("md,se\n0.1,\n0.3,0.1\n", ["line 2", "se is empty"]),
    ("md,se\n0.1,nan\n0.3,0.1\n", ["line 2", "se = \"nan\""]),
    ("md,ci_low,ci_high\n0.1,0.3,-0.2\n0.2,0.1,0.3\n", ["line 2", "ci_high = -0.2 must be > ci_low = 0.3"]),
    ("md,ci_low,ci_high\n0.9,0.1,0.3\n0.2,0.1,0.3\n", ["line 2", "md = 0.9 must lie in"]),
    ("mean1,sd1,n1,mean2,sd2,n2\n1,1,10.5,0,1,10\n1,1,10,0,1,10\n",
     ["line 2", "n1 = 10.5 must be an integer >= 2"]),
    ("mean1,sd1,n1,mean2,sd2,n2\n1,1,10,0,-1,10\n1,1,10,0,1,10\n", ["line 2", "sd2 = -1 must be > 0"]),
    ("effect,variance\n0.1,0.2\n0.2,0.3\n",
     ["columns (effect, variance) match none",
      "yi, vi; md, se; md, ci_low, ci_high; mean1, sd1, n1, mean2, sd2, n2"]),
    ("md,sd\n0.1,0.2\n", ["match none of the accepted column sets"]),
    ("yi,vi,YI\n1,1,1\n", ["appears twice"]),
    ("yi,vi\n", ["no study rows"]),
    ("", ["is empty"]),
])
def test_read_studies_errors_are_one_line(tmp_path, text, parts):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(MetaError) as exc:
        read_studies(path)
    msg = str(exc.value)
    assert msg.startswith("meta error: ") and "\n" not in msg
    for p in parts:
        assert p in msg, msg


def test_read_studies_missing_file(tmp_path):
    with pytest.raises(MetaError, match="cannot be read"):
        read_studies(tmp_path / "nope.csv")


def test_single_study_file_cannot_be_pooled(tmp_path):
    yi, vi, _ = read_studies(_write(tmp_path / "one.csv", "md,se\n0.1,0.2\n"))
    with pytest.raises(MetaError, match="k = 1 studies"):
        pool(yi, vi)


# --------------------------------------------------------------------------------------------
# Evidence rows
# --------------------------------------------------------------------------------------------

def _combined(tmp_path: Path, *row_files: Path) -> Path:
    """Shipped evidence CSV plus the data line of each row file."""
    text = EVIDENCE_FILE.read_text(encoding="utf-8")
    for f in row_files:
        lines = f.read_text(encoding="utf-8").splitlines()
        assert lines[0] == ",".join(COLUMNS) and len(lines) == 2
        text += lines[1] + "\n"
    return _write(tmp_path / "combined.csv", text)


@pytest.mark.parametrize("kwargs", [
    {"method": "reml"}, {"method": "fe"}, {"method": "dl"}, {"method": "pm"},
    {"method": "reml", "hksj": True}, {"method": "dl", "level": 0.9},
])
def test_evidence_row_passes_the_loader(tmp_path, kwargs):
    files = _formats(tmp_path)
    yi, vi, table = read_studies(files["arms"])
    r = pool(yi, vi, **kwargs)
    row = evidence_row(r, id="user_hba1c_12m_all", outcome="hba1c", time_months=12,
                       population="all", source="test pool", note="unit test",
                       n=int(table["n"].sum()))
    assert list(row) == list(COLUMNS)
    assert row["flag"] == "DERIVED" and row["md_status"] == "pooled" and row["default"] == "false" and row["se_method"] == "ci"
    assert row["note"].startswith("COMPUTED by simtrial meta (not a published figure)")
    out = _write(tmp_path / "row.csv", evidence_row_csv(row))
    frame = load_evidence(_combined(tmp_path, out))
    got = frame.set_index("id").loc["user_hba1c_12m_all"]
    assert got["md"] == pytest.approx(r.estimate, rel=1e-5)
    assert got["se"] == pytest.approx(r.se, rel=1e-5)
    assert got["k"] == 5 and got["n"] == 266 and got["unit"] == "%"
    assert not got["default"]
    assert (got["ci_high"] - got["ci_low"]) / 3.92 == pytest.approx(r.se, rel=0.005)
    if kwargs.get("hksj") or kwargs.get("level", 0.95) != 0.95:
        # the method's own CI is in the note; the row's CI is md +- 1.96 se
        assert got["ci_low"] == pytest.approx(r.estimate - 1.96 * r.se, rel=1e-5)
        assert f"[{r.ci_low:.5g}, {r.ci_high:.5g}]" in row["note"]
    else:
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((r.ci_low, r.ci_high), rel=1e-5)


def test_evidence_row_small_p_and_bcg(tmp_path):
    r = pool(YI, VI)  # P < 0.0001
    row = evidence_row(r, id="bcg_logrr_pooled", outcome="hba1c", time_months=None,
                       population="all", source="BCG (unit test)", note="")
    assert (row["p_relation"], row["p_value"], row["time_months"]) == ("<", "0.0001", "")
    out = _write(tmp_path / "r.csv", evidence_row_csv(row))
    load_evidence(_combined(tmp_path, out))


@pytest.mark.parametrize("kwargs, msg", [
    ({"id": "Bad Id"}, "id = \"Bad Id\" must be snake_case"),
    ({"outcome": "a1c"}, "outcome = \"a1c\" must be one of"),
    ({"population": "T3DM"}, "population = \"T3DM\" must be one of"),
    ({"time_months": 9}, "time_months = 9 must be one of 3, 6, 12"),
    ({"source": " "}, "source = \"\" must name"),
])
def test_evidence_row_rejects_bad_fields(kwargs, msg):
    args = {"id": "user_x", "outcome": "hba1c", "time_months": 12, "population": "all",
            "source": "s", "note": ""}
    args.update(kwargs)
    with pytest.raises(MetaError) as exc:
        evidence_row(pool(YI, VI), **args)
    assert msg in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_registered():
    assert "meta" in _COMMANDS


def test_cli_json(capsys, tmp_path):
    files = _formats(tmp_path)
    code, out, err = _run(capsys, ["meta", str(files["md_se"]), "--json"])
    assert code == 0 and err == ""
    d = json.loads(out)
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "pi_low", "pi_high", "k",
                "method", "p_value", "tau", "h2", "q_df", "q_p", "hksj", "level", "z_or_t",
                "pi_note", "studies", "format"):
        assert key in d, key
    ref = pool(*read_studies(files["md_se"])[:2])
    assert d["method"] == "reml" and d["k"] == 5 and d["estimate"] == pytest.approx(ref.estimate)
    assert [s["study"] for s in d["studies"]] == ["A", "B", "C", "D", "E"]


def test_cli_options_and_text(capsys, tmp_path):
    files = _formats(tmp_path)
    code, out, err = _run(capsys, ["meta", str(files["arms"]), "--method", "pm", "--hksj",
                                   "--level", "0.9", "--pi-dist", "z"])
    assert code == 0 and err == ""
    r = pool(*read_studies(files["arms"])[:2], method="pm", hksj=True, level=0.9, pi_dist="z")
    assert "k = 5 studies" in out and "Paule-Mandel" in out and "t(4) (HKSJ)" in out
    assert f"{r.estimate:+.4g}" in out and "90% CI" in out and "prediction interval" in out


def test_cli_pi_dist_ci_matches_metafor_knha_and_help_says_what_z_does(capsys, tmp_path):
    rows = "".join(f"{float(y)!r},{float(v)!r}\n" for y, v in zip(YI, VI))
    path = _write(tmp_path / "bcg_yv.csv", "yi,vi\n" + rows)
    code, out, _ = _run(capsys, ["meta", str(path), "--json", "--hksj", "--pi-dist", "ci"])
    d = json.loads(out)
    assert code == 0 and d["pi_dist"] == "ci"
    assert (d["pi_low"], d["pi_high"]) == pytest.approx((-1.9960169670, 0.5669522703), abs=1e-6)
    with pytest.raises(SystemExit):
        main(["meta", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "as metafor prints" not in text
    assert "ci: the CI's critical value (z, or t with k-1 df with --hksj) as metafor's predict()" \
        in text
    assert "z: the normal quantile, also with --hksj" in text


def test_cli_bcg_published_reml(capsys, tmp_path):
    rows = "".join(f"{float(y)!r},{float(v)!r}\n" for y, v in zip(YI, VI))
    path = _write(tmp_path / "bcg_yv.csv", "yi,vi\n" + rows)
    code, out, _ = _run(capsys, ["meta", str(path), "--json", "--pi-dist", "z"])
    d = json.loads(out)
    assert code == 0
    assert (d["estimate"], d["se"], d["tau2"], d["ci_low"], d["ci_high"]) == pytest.approx(
        (-0.7145, 0.1798, 0.3132, -1.0669, -0.3622), abs=P4)  # [R1]


def test_cli_write_row_loads_with_evidence_loader(capsys, tmp_path):
    files = _formats(tmp_path)
    out_csv = tmp_path / "rows" / "my_row.csv"
    code, out, err = _run(capsys, ["meta", str(files["arms"]), "--write-row", str(out_csv),
                                   "--id", "user_hba1c_6m_t2dm", "--outcome", "hba1c",
                                   "--time-months", "6", "--population", "T2DM", "--hksj",
                                   "--note", "re-pool, with commas, for a test"])
    assert code == 0 and err == ""
    assert "wrote" in out and str(out_csv) in out
    frame = load_evidence(_combined(tmp_path, out_csv))
    got = frame.set_index("id").loc["user_hba1c_6m_t2dm"]
    assert got["population"] == "T2DM" and got["time_months"] == 6 and got["n"] == 266
    assert "re-pool, with commas, for a test" in got["note"] and "t, 4 df" in got["note"]
    assert got["source"] == "user re-pool of arms.csv"
    # --json with --write-row still prints valid JSON
    out2 = tmp_path / "row2.csv"
    code, out, _ = _run(capsys, ["meta", str(files["md_se"]), "--json", "--write-row", str(out2),
                                 "--id", "user_fbg_none", "--outcome", "fbg", "--time-months",
                                 "none", "--population", "all", "--source", "my pool"])
    assert code == 0 and json.loads(out)["wrote"] == str(out2)
    frame = load_evidence(_combined(tmp_path, out_csv, out2))
    assert frame.set_index("id").loc["user_fbg_none", "unit"] == "mg/dL"


@pytest.mark.parametrize("make, extra, expect", [
    ("md,se\n0.1,0.2\n0.3,-0.05\n", [], "meta error: bad.csv line 3: se = -0.05 must be > 0"),
    ("md,se\n0.1,0.2\n", [], "meta error: k = 1 studies"),
    ("a,b\n1,2\n", [], "match none of the accepted column sets"),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--method", "bayes"], "usage error: "),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--level", "1.5"], "--level = 1.5 must be in (0, 1)"),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--write-row", "OUT"], "--write-row needs --id, --outcome"),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--id", "x"], "--id is only used with --write-row"),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--write-row", "OUT", "--id", "x", "--outcome", "a1c",
                                   "--time-months", "12", "--population", "all"],
     "meta error: --outcome = \"a1c\" must be one of"),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--write-row", "OUT", "--id", "x", "--outcome", "hba1c",
                                   "--time-months", "24", "--population", "all"],
     "--time-months = 24 must be one of 3, 6, 12"),
    ("md,se\n0.1,0.2\n0.3,0.1\n", ["--write-row", "OUT", "--id", "x", "--outcome", "hba1c",
                                   "--time-months", "soon", "--population", "all"],
     "--time-months = 'soon' must be 3, 6, 12 or none"),
])
def test_cli_bad_input_exit_2_one_line(capsys, tmp_path, make, extra, expect):
    path = _write(tmp_path / "bad.csv", make)
    out_file = tmp_path / "OUT.csv"
    argv = ["meta", str(path)] + [str(out_file) if a == "OUT" else a for a in extra]
    code, out, err = _run(capsys, argv)
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert expect in err, err
    assert not out_file.exists()


def test_cli_missing_file_exit_2(capsys, tmp_path):
    code, out, err = _run(capsys, ["meta", str(tmp_path / "missing.csv")])
    assert code == 2 and out == "" and err.count("\n") == 1 and "cannot be read" in err
