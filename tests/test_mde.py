"""Solving for any one quantity: the minimum detectable effect (`simtrial mde`,
`simtrial.mde`) against the closed form within its Monte Carlo error, its consistency with
`simtrial power`, and several targets per call on `sample-size` and `mde`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import simtrial
from simtrial.cli import main
from simtrial.oc.closed_form import analytic_power
from simtrial.oc.mde import XTOL_REL, effect_scenario
from simtrial.model.design import build_design

from .helpers import scenario

ROOT = Path(__file__).resolve().parents[1]
T1D = str(ROOT / "scenarios" / "t1d_hba1c_12m.toml")


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
@pytest.mark.parametrize("analysis", ["ttest_change", "ancova"])
def test_mde_matches_the_closed_form_within_its_mc_error(analysis):
    """Textbook case: fixed effect, HbA1c change at 12 months (additive, normal residual given
    the baseline, the model's residual SD known), 30 per arm, two-sided alpha 0.05, 80% power.
    The closed form inverts the t-test / ANCOVA power (for a z-test: (z_0.975 + z_0.8) sd
    sqrt(2/30)); the tolerance is 4 delta-method MC SE of the simulated MDE."""
    sc = scenario(**{"endpoint.analysis": analysis, "n_trials": 20000, "seed": 11})
    res = simtrial.mde(sc, 30, 0.8)
    assert res.reached and res.analytic_mde is not None and res.kernel == "suffstat"
    assert abs(res.mde - res.analytic_mde) <= 4 * res.mde_mc_se, res
    # the MC SE is the power's MC SE through the slope of the power curve: against the
    # closed-form slope at the answer (an independent derivative) within 25%
    dm = build_design(effect_scenario(sc, res.mde))
    h = 1e-4
    cf_slope = (analytic_power(dm.models[0], 30, 30, -(res.mde + h))
                - analytic_power(dm.models[0], 30, 30, -(res.mde - h))) / (2 * h)
    predicted = math.sqrt(0.8 * 0.2 / 20000) / cf_slope
    assert res.mde_mc_se == pytest.approx(predicted, rel=0.25)
    # the textbook z formula is close to the t-based closed form at 58 df
    from scipy.stats import norm
    sd = dm.models[0].analytic["sd_change" if analysis == "ttest_change" else "sd_resid_ancova"]
    z_mde = (norm.ppf(0.975) + norm.ppf(0.8)) * sd * math.sqrt(2 / 30)
    assert res.analytic_mde == pytest.approx(z_mde, rel=0.03)


def test_the_mde_is_where_simtrial_power_reaches_the_target():
    """`simtrial power` on the scenario with [effect] md = result.md gives result.power (the same
    code, seed and trials), and a slightly smaller effect falls short (power is monotone in
    the effect with common random numbers on this kernel)."""
    sc = scenario(**{"n_trials": 2000, "seed": 5})
    res = simtrial.mde(sc, 20, 0.8)
    assert res.md == -res.mde                       # HbA1c: lower is better
    at = simtrial.power(sc.replace(**{"effect.md": res.md}), 20)
    assert at.power == res.power >= 0.8
    assert at.mc_se == res.mc_se
    below = simtrial.power(sc.replace(**{"effect.md": res.md * (1 - 20 * XTOL_REL)}), 20)
    assert below.power < 0.8


def test_mde_falls_with_n_and_rises_with_the_target():
    sc = scenario(**{"n_trials": 1000, "seed": 2})
    r20 = simtrial.mde(sc, 20, [0.8, 0.9])
    r40 = simtrial.mde(sc, 40, 0.8)
    assert isinstance(r20, tuple) and len(r20) == 2
    assert r20[0].mde < r20[1].mde
    assert r40.mde < r20[0].mde
    # about 1 / sqrt(N): halving the variance of the difference
    assert r40.mde / r20[0].mde == pytest.approx(math.sqrt(0.5), rel=0.1)


def test_higher_is_better_outcome_gives_a_positive_md():
    sc = scenario(**{"endpoint.outcome": "fasting_cpeptide", "effect.md": 0.1,
                     "n_trials": 500, "seed": 3})
    res = simtrial.mde(sc, 40, 0.8)
    assert res.unit == "ng/mL" and res.md == res.mde > 0
    assert simtrial.power(effect_scenario(sc, res.mde), 40, n_trials=500, seed=3).power >= 0.8


def test_cli_mde_one_target_and_several(capsys):
    args = ["mde", T1D, "--n-per-arm", "15", "--n-trials", "500", "--seed", "4", "--json"]
    rc, out, err = _cli(capsys, *args, "--target-power", "0.8")
    assert rc == 0, err
    one = json.loads(out)
    assert isinstance(one, dict)
    for key in ("mde", "md", "mde_mc_se", "power", "mc_se", "slope", "analytic_mde",
                "target_power", "n_per_arm", "unit", "n_trials", "seed"):
        assert key in one
    assert one["n_per_arm"] == 15 and one["unit"] == "%" and one["power"] >= 0.8
    rc, out, err = _cli(capsys, *args, "--target-power", "0.8,0.9")
    assert rc == 0, err
    two = json.loads(out)
    assert [d["target_power"] for d in two] == [0.8, 0.9]
    skip = {"evaluations", "searched_max"}
    assert {k: v for k, v in two[0].items() if k not in skip} == \
        {k: v for k, v in one.items() if k not in skip}
    api = simtrial.mde(simtrial.load_scenario(T1D), 15, 0.8, n_trials=500, seed=4)
    assert api.to_dict()["mde"] == one["mde"]
    rc, out, err = _cli(capsys, *args[:-1], "--target-power", "0.8,0.9")
    lines = out.splitlines()
    assert len(lines) == 2 and all("minimum detectable effect" in ln and " % " in ln
                                   for ln in lines)
    assert f"{two[1]['mde']:.4g} %" in lines[1]


def _one_line(rc, out, err, *fragments):
    assert rc == 2 and out == "" and err.count("\n") == 1, (rc, out, err)
    for f in fragments:
        assert f in err, err


def test_cli_mde_refusals(capsys, tmp_path):
    responder = str(ROOT / "scenarios" / "mixed_composite_responder_12m.toml")
    _one_line(*_cli(capsys, "mde", responder, "--target-power", "0.8"),
              "needs a continuous primary endpoint")
    _one_line(*_cli(capsys, "mde", T1D, "--target-power", "0.01", "--n-trials", "300"),
              "target power 0.01 is reached with no effect at all")
    _one_line(*_cli(capsys, "mde", T1D, "--target-power", "0.8,,0.9"),
              "--target-power = '0.8,,0.9' must be comma-separated numbers")
    _one_line(*_cli(capsys, "mde", T1D, "--target-power", "0.8,1.2"),
              "--target-power = 1.2 must be in (0, 1)")
    _one_line(*_cli(capsys, "mde", T1D, "--target-power", "0.8", "--n-per-arm", "1"),
              "--n-per-arm = 1 must be >= 2")
    _one_line(*_cli(capsys, "mde", T1D), "--target-power", "required")


def test_sample_size_several_targets_one_answer_each(capsys):
    base = ["sample-size", T1D, "--n-trials", "500", "--seed", "9", "--json"]
    singles = []
    for t in ("0.8", "0.9"):
        rc, out, err = _cli(capsys, *base, "--target-power", t)
        assert rc == 0, err
        singles.append(json.loads(out))
    assert isinstance(singles[0], dict)
    assert set(singles[0]) == {"scenario", "hypothesis", "target", "target_power", "n_per_arm",
                               "arm_sizes", "n_msc", "power", "mc_se", "analytic_n_per_arm",
                               "reached", "searched_max", "n_trials", "seed"}
    rc, out, err = _cli(capsys, *base, "--target-power", "0.8,0.9")
    assert rc == 0, err
    both = json.loads(out)
    assert isinstance(both, list) and len(both) == 2
    for a, b in zip(both, singles):
        # one search up to the larger target's bound; each answer is the single search's
        assert {k: v for k, v in a.items() if k != "searched_max"} == \
            {k: v for k, v in b.items() if k != "searched_max"}
    rc, out, err = _cli(capsys, *base[:-1], "--target-power", "0.8,0.9")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("t1d_hba1c_12m: 80% power") and "90% power" in lines[1]
    sc = simtrial.load_scenario(T1D)
    api = simtrial.sample_size(sc, [0.8, 0.9], n_trials=500, seed=9)
    assert [s.n_per_arm for s in api] == [b["n_per_arm"] for b in both]
