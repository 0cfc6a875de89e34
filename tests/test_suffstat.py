"""The exact sufficient-statistics kernel (simtrial.sim.suffstat).

It draws each arm's sums from their exact distribution instead of patients, so it cannot agree
trial by trial with the patient kernels; it must agree in distribution. Every tolerance is from
the Monte Carlo SE of the quantity compared (4 SE for two-kernel differences, 3 SE against a
known value). At 20,000 trials 4 SE is about 2 points of power and 3% of the SD of the
estimate, and 0.2-0.4% of the mean SE (one degree of freedom too many in each block's
chi-square moves the mean SE of a 100-per-arm trial by 1.5%: that mutation fails test 1):

1. power, assurance, mean and SD of the estimate and the mean SE agree with the prefix kernel
   (forced) on a grid of designs: 30-3,000 per arm, ANCOVA and t-test on change, allocation 1
   and 2, one- and two-sided, point effect and effect distributions, screened and unscreened
   baselines;
2. the base sums themselves have their exact joint distribution at sizes using every block level;
3. type I error is alpha; 4. power equals the closed forms;
5. the numbers at N depend only on (seed, chunk, N): alone or in a grid, any workers, any chunk
   order, any ``n_trials``;
6. :func:`supports` refuses each feature that breaks linear normality.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from simtrial import simulate
from simtrial.cli import main
from simtrial.errors import SimtrialError
from simtrial.scenario import load_scenario
from simtrial.model.design import build_design
from simtrial.oc.run import power
from simtrial.sim import suffstat
from simtrial.sim.driver import kernel_for, simulate_prefix

from .helpers import binom_tol, scenario
from .test_kernels_agree import FULL_ONLY, LINEAR, SUPPORTED
from .test_statistics import NO_CRITERIA, oracle_ttest_power

PRED = {"effect.source": "evidence", "effect.md": None, "effect.population": "T1DM",
        "effect.distribution": "predictive"}


def _custom(md: float, sd: float) -> dict:
    return {"effect.md": None, "effect.distribution": "custom", "effect.family": "normal",
            "effect.mean": md, "effect.sd": sd}


def _md(n: int, ratio: float, z: float = 2.3, sd: float = 0.7) -> float:
    """An MD giving power around 0.5-0.8 at n per arm (so power is informative)."""
    return -z * sd * math.sqrt(1 / n + 1 / (ratio * n))


def _case(n, analysis="ancova", ratio=1.0, sides=2, dist=None, unscreened=False, **extra):
    ch = {"endpoint.analysis": analysis, "design.allocation_ratio": ratio, "design.sides": sides,
          "effect.md": round(_md(n, ratio), 4)}
    if dist == "custom":
        ch.update(_custom(ch.pop("effect.md"), 0.5 * abs(_md(n, ratio))))
    elif dist == "predictive":
        ch.update(PRED)
    if unscreened:
        ch.update(NO_CRITERIA)
    ch.update(extra)
    return n, ch


AGREE = {
    "n30_ancova_r1_2sided": _case(30),
    "n30_ttest_r2_1sided": _case(30, "ttest_change", 2.0, 1),
    "n30_ancova_modifier_slope0": _case(30, **{"outcome_model.heterogeneity": "modifier",
                                              "outcome_model.modifier": "fasting_cpeptide",
                                              "outcome_model.modifier_slope": 0.0}),
    "n100_ancova_r2_2sided_custom": _case(100, ratio=2.0, dist="custom"),
    "n12_ttest_r1_1sided_predictive": _case(12, "ttest_change", sides=1, dist="predictive"),
    "n100_ttest_r1_1sided_custom": _case(100, "ttest_change", sides=1, dist="custom"),
    "n100_ancova_unscreened": _case(100, unscreened=True),
    "n300_ancova_r1_1sided_unscreened": _case(300, sides=1, unscreened=True),
    "n300_ttest_r2_2sided_custom_unscreened": _case(300, "ttest_change", 2.0, dist="custom",
                                                    unscreened=True),
}
SLOW = {
    "n300_ancova_r1_1sided": _case(300, sides=1),
    "n3000_ancova_r1_2sided_custom": _case(3000, dist="custom"),
    "n3000_ttest_r2_1sided": _case(3000, "ttest_change", 2.0, 1),
    "n1100_ancova_r2_unscreened": _case(1100, ratio=2.0, unscreened=True),
}


def _moments(res):
    """(mean, SD, SE of the SD) of the per-trial estimates; the SD's SE is the asymptotic
    ``sd sqrt((kurtosis - 1) / (4 R))``."""
    x = res.estimates
    m, sd = float(x.mean()), float(x.std(ddof=1))
    kurt = float(np.mean((x - m) ** 4)) / sd ** 4
    return m, sd, sd * math.sqrt((kurt - 1.0) / (4 * x.size))


def _agree(n: int, changes: dict, n_trials: int, seed: int = 2718) -> None:
    dm = build_design(scenario(**changes))
    assert kernel_for(dm) == "suffstat"
    a = power(dm, n, n_trials=n_trials, seed=seed, kernel="suffstat")
    b = power(dm, n, n_trials=n_trials, seed=seed + 1, kernel="prefix")
    assert a.kernel == "suffstat" and b.kernel == "prefix"
    r = n_trials
    for what, pa, pb in (("power", a.power, b.power), ("assurance", a.assurance, b.assurance)):
        if math.isnan(pa) and math.isnan(pb):
            continue
        se = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / r)
        assert abs(pa - pb) <= 4 * se, (what, pa, pb, se)
    (ma, sa, ea), (mb, sb, eb) = _moments(a), _moments(b)
    assert abs(ma - mb) <= 4 * math.hypot(sa, sb) / math.sqrt(r), ("mean", ma, mb)
    assert abs(sa - sb) <= 4 * math.hypot(ea, eb), ("sd", sa, sb)
    # the mean SE: s / sigma has relative SD about 1 / sqrt(2 df), so a chi-square with the
    # wrong degrees of freedom in one block would show here long before it shows in power
    sea, seb = (x.stats[0].se_sum / r for x in (a, b))
    df = n + dm.scenario.design.n_msc(n) - 3
    assert abs(sea - seb) <= 4 * math.sqrt(2.0 / (2 * df * r)) * seb, ("mean se", sea, seb)


@pytest.mark.parametrize("name", sorted(AGREE))
def test_power_mean_and_sd_agree_with_the_prefix_kernel(name):
    n, changes = AGREE[name]
    _agree(n, changes, 20000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_power_mean_and_sd_agree_with_the_prefix_kernel_large(name):
    n, changes = SLOW[name]
    _agree(n, changes, 10000)


# ---------------------------------------------------------------------------------------------
# the base sums have their exact joint distribution, at every block level
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("unscreened", [True, False])
def test_block_sums_have_the_exact_joint_distribution(unscreened):
    """Given the baselines, ``Se / sqrt(n)`` and ``Sxe_c / sqrt(Sxx_c)`` are independent
    N(0, 1) and the rest of ``See`` is chi-square(n - 2); with unscreened normal baselines
    ``Sx`` is normal and ``Sxx_c / sd^2`` chi-square(n - 1). Sizes use patients only (31), one
    level (32, 100), two (1,055) and three (33,000, unscreened only)."""
    dm = build_design(scenario(**(NO_CRITERIA if unscreened else {})))
    m = dm.models[0]
    sizes = np.array([31, 32, 100, 1055] + ([33000] if unscreened else []))
    cols = []
    for chunk in range(3 if unscreened else 1):
        base, _, _ = suffstat._arm_base(m, 99, chunk, 0, sizes)
        cols.append(base)
    base = np.concatenate(cols, axis=1)            # (sizes, trials, 5)
    r = base.shape[1]
    for i, n in enumerate(sizes):
        sx, sxx, se, sxe, see = (base[i, :, j] for j in range(5))
        ssx = sxx - sx * sx / n
        u1 = se / math.sqrt(n)
        u2 = (sxe - sx * se / n) / np.sqrt(ssx)
        rest = see - u1 ** 2 - u2 ** 2
        for u in (u1, u2):
            assert stats.kstest(u, "norm").pvalue > 1e-3, n
        assert abs(np.corrcoef(u1, u2)[0, 1]) <= 4 / math.sqrt(r), n
        assert stats.kstest(rest, stats.chi2(n - 2).cdf).pvalue > 1e-3, n
        if unscreened:
            mg = m.population.marginals["hba1c"]
            mu = mg.mean - m.calibration["baseline_mean_natural"]
            assert stats.kstest((sx - n * mu) / (mg.sd * math.sqrt(n)), "norm").pvalue > 1e-3
            assert stats.kstest(ssx / mg.sd ** 2, stats.chi2(n - 1).cdf).pvalue > 1e-3, n


# ---------------------------------------------------------------------------------------------
# against known values: alpha and the closed forms
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("analysis", ["ancova", "ttest_change"])
@pytest.mark.parametrize("sides,n", [(2, 30), (1, 100)])
def test_type_one_error(analysis, sides, n):
    dm = build_design(scenario(**{"effect.md": 0.0, "endpoint.analysis": analysis,
                                  "design.sides": sides}))
    assert kernel_for(dm) == "suffstat"
    r = power(dm, n, n_trials=40000, seed=303 + n)
    assert abs(r.power - 0.05) <= binom_tol(0.05, r.n_trials), r.power
    assert abs(r.mean_estimate) <= 3 * r.mean_estimate_mc_se


@pytest.mark.parametrize("n,ratio,sides", [(40, 1.0, 2), (100, 2.0, 2), (300, 1.0, 1)])
def test_ttest_power_is_the_noncentral_t(n, ratio, sides):
    """Unscreened normal baselines, t-test on change: the change is exactly normal with SD
    ``sd_change``, so power is the textbook noncentral t."""
    s = 0.9
    md = round(_md(n, ratio, 2.0, s), 4)
    dm = build_design(scenario(**NO_CRITERIA, **{
        "effect.md": md, "outcome_model.sd_change": s, "endpoint.analysis": "ttest_change",
        "design.allocation_ratio": ratio, "design.sides": sides}))
    assert suffstat.exact_baselines(dm.models[0])
    r = power(dm, n, n_trials=40000, seed=31)
    n1 = dm.scenario.design.n_msc(n)
    expected = oracle_ttest_power(md, s, n, n1, sides=sides)
    assert abs(r.power - expected) <= binom_tol(expected, r.n_trials), (r.power, expected)
    sd_exp = s * math.sqrt(1 / n + 1 / n1)
    assert abs(r.sd_estimate - sd_exp) <= 3 * sd_exp / math.sqrt(2 * (r.n_trials - 1))


@pytest.mark.parametrize("n,criteria", [(64, False), (150, True)])
def test_ancova_power_matches_its_closed_form(n, criteria):
    ch = {} if criteria else dict(NO_CRITERIA)
    ch["effect.md"] = round(_md(n, 1.0, 2.2, 0.6), 4)
    r = power(build_design(scenario(**ch)), n, n_trials=40000, seed=41)
    assert r.kernel == "suffstat"
    assert abs(r.power - r.analytic_power) <= binom_tol(r.analytic_power, r.n_trials), \
        (r.power, r.analytic_power)


# ---------------------------------------------------------------------------------------------
# reproducibility: the numbers at N depend only on (seed, chunk, N)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [{}, NO_CRITERIA, PRED], ids=["screened", "unscreened",
                                                                  "assurance"])
def test_numbers_at_n_do_not_depend_on_the_grid_workers_or_chunk_order(changes):
    dm = build_design(scenario(**changes))
    assert kernel_for(dm) == "suffstat"
    kw = {"n_trials": 2300, "seed": 77}
    big = 1030 if changes is NO_CRITERIA else 97     # two block levels where baselines are free
    alone = simulate(dm, [70], keep=[70], **kw)[70]
    grid = simulate(dm, sorted({5, 31, 32, 64, 70, 97, big}), keep=[70], **kw)
    par = simulate(dm, [70, big], keep=[70], workers=2, **kw)
    rev = simulate(dm, [70, big], keep=[70], chunks=[2, 0, 1], **kw)
    longer = simulate(dm, [70], keep=[70], n_trials=3100, seed=77)[70]
    for other in (grid[70], par[70], rev[70]):
        assert other.kernel == "suffstat"
        np.testing.assert_array_equal(alone.estimates, other.estimates)
        for key in alone.trials:
            np.testing.assert_array_equal(alone.trials[key], other.trials[key], err_msg=key)
        assert alone.stats[0] == other.stats[0]
    np.testing.assert_array_equal(alone.estimates, longer.estimates[:2300])
    assert grid[big].stats[0] == par[big].stats[0] == rev[big].stats[0]


def test_common_random_numbers_within_a_block_and_in_the_effect():
    """Sizes inside one block share every patient but the last (estimates move little);
    the same draws under a larger additive effect shift every estimate by the change in MD."""
    def est(m, n, seed=8):
        return simulate_prefix(m, [n], n_trials=2000, seed=seed, keep=0, kernel="suffstat").kept

    m = build_design(scenario()).models[0]
    at40 = est(m, 40)
    near = np.corrcoef(at40, est(m, 41))[0, 1]
    assert near > 0.9 and abs(np.corrcoef(at40, est(m, 41, seed=9))[0, 1]) < 0.1, near
    m2 = build_design(scenario(**{"effect.md": -0.8})).models[0]
    np.testing.assert_allclose(est(m2, 40) - at40, -0.3, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# where it applies
# ---------------------------------------------------------------------------------------------

def _with_floor(dm):
    """``dm`` with a floor on the endpoint outcome (no shipped additive outcome has one)."""
    m = dm.models[0]
    vm = m.endpoint
    od = dataclasses.replace(vm.outcome, floor=4.0)
    m = dataclasses.replace(m, endpoint=dataclasses.replace(vm, outcome=od))
    return dataclasses.replace(dm, models=(m,))


DISQUALIFY = {
    **{k: v for k, v in SUPPORTED.items() if k not in LINEAR},   # log scale, events, decline,
    **FULL_ONLY,                                                 # responders; not even prefix
    "het_normal": {"outcome_model.heterogeneity": "normal", "outcome_model.effect_cv": 0.5},
    "het_modifier": {"outcome_model.heterogeneity": "modifier", "outcome_model.modifier": "hba1c",
                     "outcome_model.modifier_slope": 0.5},
    "floor": "floor",
}


@pytest.mark.parametrize("name", sorted(DISQUALIFY))
def test_supports_refuses_every_departure_from_linear_normality(name):
    ch = DISQUALIFY[name]
    dm = build_design(scenario()) if ch == "floor" else build_design(scenario(**ch))
    if ch == "floor":
        assert suffstat.supports(dm)
        dm = _with_floor(dm)
    assert not suffstat.supports(dm)
    assert kernel_for(dm) != "suffstat"
    with pytest.raises(SimtrialError, match='kernel = "suffstat" does not serve this design'):
        simulate(dm, [10], kernel="suffstat", n_trials=10)


def test_the_forced_kernels_still_give_todays_numbers():
    """Forcing prefix or full on a suffstat design runs them unchanged (identical trials)."""
    dm = build_design(scenario(n_trials=1300))
    assert kernel_for(dm) == "suffstat"
    fast = simulate(dm, [9, 20], kernel="prefix", keep=[9])
    full = simulate(dm, [9, 20], kernel="full")
    np.testing.assert_allclose(full[9].trials["point_est"], fast[9].trials["point_est"],
                               rtol=0, atol=1e-12)
    assert fast[9].kernel == "prefix" and full[9].kernel == "full"


def test_cli_kernel_flag(capsys):
    """``--kernel prefix`` on a suffstat design gives the prefix kernel's numbers (those of the
    patients ``simtrial simulate`` exports), ``full`` the same ones exactly; ``auto`` is the
    default; a kernel that does not serve the design is a one-line error, exit 2."""
    f = "scenarios/t1d_hba1c_12m.toml"

    def cli(*argv):
        rc = main(["power", f, "--n-trials", "1100", "--json", *argv])
        out, err = capsys.readouterr()
        return rc, (json.loads(out) if rc == 0 else None), err
    got = {k: cli("--kernel", k)[1] for k in ("auto", "suffstat", "prefix", "full")}
    assert got["auto"]["kernel"] == "suffstat" and got["auto"] == got["suffstat"]
    assert cli()[1] == got["auto"]
    assert got["prefix"]["kernel"] == "prefix" and got["full"]["kernel"] == "full"
    assert got["prefix"]["power"] == got["full"]["power"]
    dm = build_design(load_scenario(f))
    assert got["prefix"]["power"] == power(dm, n_trials=1100, kernel="prefix").power
    assert got["suffstat"]["power"] == power(dm, n_trials=1100).power
    rc = main(["power", "scenarios/t1d_three_arm_dose_12m.toml", "--kernel", "suffstat"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert 'kernel = "suffstat" does not serve this design; allowed here: auto, full' in err
