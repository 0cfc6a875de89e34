"""Conventions users check (issue 12 items 5-9): not_fitted as a rate with its count, scenarios
with only [[endpoints]], what rho means and what the ANCOVA sees, assurance labelled as
one-sided success, and the exact size of rare-responder tests."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import simtrial
from simtrial.cli import main
from simtrial.spec.scenario import parse_scenario
from simtrial.stats.exact import responder_test_size

from .helpers import scenario

BASE = {"name": "conv", "seed": 5, "n_trials": 400, "population": {"preset": "t1d"},
        "design": {"n_per_arm": 20}, "effect": {"source": "fixed", "md": -0.5}}


PLAIN = '''name = "plain"
[population]
preset = "t1d"
[design]
n_per_arm = 20
[effect]
source = "fixed"
md = -0.5
[endpoint]
outcome = "hba1c"
visit_months = 12
'''


def _write(tmp_path, text: str):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


# -- item 5 ------------------------------------------------------------------------------------

def test_not_fitted_is_a_rate_with_its_count(tmp_path, capsys):
    sc = scenario(**{"endpoint.analysis": "mmrm", "design.n_per_arm": 3,
                     "dropout": {"rate": 0.6, "mechanism": "mcar"}, "n_trials": 300})
    r = simtrial.power(sc, n_per_arm=3, n_trials=300)
    rate, se = r.metric("not_fitted", "primary")
    count, _ = r.metric("not_fitted_count", "primary")
    assert 0.0 <= rate <= 1.0 and count == round(count)
    assert rate == pytest.approx(count / 300)
    assert se == pytest.approx(math.sqrt(rate * (1 - rate) / 300))
    assert count > 0                    # 3 per arm with 60% dropout: some fits must fail
    d = r.to_dict()
    assert d["not_fitted"] == pytest.approx(rate) and "not_fitted_mc_se" in d


# -- item 6 ------------------------------------------------------------------------------------

def test_only_endpoints_list_makes_the_first_the_primary(tmp_path, capsys):
    data = {**BASE, "endpoints": [
        {"name": "hba1c12", "outcome": "hba1c", "visit_months": 12},
        {"name": "insulin12", "outcome": "insulin_dose", "visit_months": 12}]}
    sc = parse_scenario(data)
    assert sc.endpoint.name == "hba1c12" and [e.name for e in sc.endpoints] == ["insulin12"]
    assert [h.label for h in simtrial.build_design(sc).hypotheses] == ["hba1c12", "insulin12"]
    # same numbers as the [endpoint] + [[endpoints]] form
    alt = parse_scenario({**BASE, "endpoint": data["endpoints"][0],
                          "endpoints": data["endpoints"][1:]})
    assert alt.hash() == sc.hash()
    p = _write(tmp_path, PLAIN.replace("[endpoint]", '[[endpoints]]\nname = "main"'))
    assert main(["validate", str(p)]) == 0
    assert "hypothesis main:" in capsys.readouterr().out


def test_endpoint_accepts_name_and_names_are_unique():
    sc = parse_scenario({**BASE, "endpoint": {"name": "a1c", "outcome": "hba1c",
                                              "visit_months": 12}})
    assert sc.endpoint.name == "a1c"
    with pytest.raises(simtrial.errors.ScenarioError, match=r"endpoints\[0\]\.name = \"a1c\" must be unique"):
        parse_scenario({**BASE, "endpoint": {"name": "a1c", "outcome": "hba1c", "visit_months": 12},
                        "endpoints": [{"name": "a1c", "outcome": "fbg", "visit_months": 12}]})
    with pytest.raises(simtrial.errors.ScenarioError, match=r"\[endpoint\] table is required"):
        parse_scenario(BASE)


# -- item 7 ------------------------------------------------------------------------------------



def test_validate_shows_what_rho_means_and_the_ancova_r_squared(tmp_path, capsys):
    import tomllib
    from simtrial.sim.patients import simulate_patients
    p = _write(tmp_path, PLAIN)
    m = simtrial.build_design(parse_scenario(tomllib.loads(PLAIN))).models[0]
    assert main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "rho = corr(baseline, value at the visit)" in x)
    r2 = float(line.rsplit("R-squared of the change on the baseline ", 1)[1])
    # independent: regress the simulated control change on the baseline
    df = simulate_patients(m, 20_000, rng=3)
    c = df[(df.outcome == "hba1c") & (df.month == 12) & (df.arm == "control")]
    fit = stats.linregress(c["hba1c_0"], c["change"])
    assert r2 == pytest.approx(fit.rvalue ** 2, abs=0.02)
    rc = float(line.split("corr(baseline, change) ", 1)[1].split(")")[0])
    assert rc == pytest.approx(fit.rvalue, abs=0.02)


# -- item 8 ------------------------------------------------------------------------------------

def test_assurance_is_labelled_one_sided_success_not_power():
    sc = scenario(**{"effect.md": 0.0, "effect.distribution": "custom", "effect.family": "normal",
                     "effect.mean": 0.0, "effect.sd": 1e-6})
    r = simtrial.power(sc, n_per_arm=20, n_trials=4000)
    text = r.summary()
    assert "assurance*" in text and "one-sided, not power" in text
    assert "about alpha/2 = 0.025" in text
    assert abs(r.assurance - 0.025) < 4 * math.sqrt(0.025 * 0.975 / 4000)
    assert "not power" in r.to_dict()["assurance_definition"]


# -- item 9 ------------------------------------------------------------------------------------

def _independent_size(test, n0, n1, p, alpha=0.05):
    total = 0.0
    for x0 in range(n0 + 1):
        for x1 in range(n1 + 1):
            t = np.array([[x1, n1 - x1], [x0, n0 - x0]])
            if test == "fisher":
                pv = stats.fisher_exact(t)[1]
            else:
                if t.sum(axis=0).min() == 0:
                    pv = 1.0
                else:
                    pv = stats.chi2_contingency(t, correction=False)[1]
            if pv <= alpha:
                total += stats.binom.pmf(x0, n0, p) * stats.binom.pmf(x1, n1, p)
    return total


@pytest.mark.parametrize("test", ["chisq", "fisher"])
def test_exact_size_matches_an_independent_enumeration(test):
    for n0, n1, p in ((12, 12, 0.2), (15, 10, 0.09), (20, 25, 0.4)):
        assert responder_test_size(test, n0, n1, p) == pytest.approx(
            _independent_size(test, n0, n1, p), abs=1e-9)


def test_exact_size_of_rare_responders_and_the_engine_agree(tmp_path, capsys):
    # about 9% responders at 40 per arm (issue 12): chisq liberal, Fisher and logistic not
    assert responder_test_size("chisq", 40, 40, 0.09) == pytest.approx(0.059, abs=0.001)
    assert responder_test_size("fisher", 40, 40, 0.09) == pytest.approx(0.014, abs=0.001)
    assert responder_test_size("logistic", 40, 40, 0.09) < 0.01
    # the engine's simulated type I error of a null responder design equals the exact size
    # at the simulated control rate, within 3 MC SE
    sc = scenario(**{"endpoint": {"type": "responder", "visit_months": 12, "analysis": "chisq",
                                  "responder": [{"outcome": "hba1c", "max": 6.6}]},
                     "effect.md": 0.0, "n_trials": 6000, "design.n_per_arm": 40})
    r = simtrial.power(sc, n_per_arm=40, n_trials=6000)
    size, _ = r.metric("exact_size", "primary")
    rate, _ = r.metric("responder_rate", "primary")
    assert 0.02 < rate < 0.3
    assert abs(r.power - size) <= 3 * math.sqrt(size * (1 - size) / 6000) + 0.003
    p = _write(tmp_path, PLAIN.replace('''[endpoint]
outcome = "hba1c"''', '''[endpoint]
type = "responder"
analysis = "chisq"
responder = [{ outcome = "hba1c", max = 6.6 }]''').replace("md = -0.5", "md = 0.0"))
    assert main(["validate", str(p)]) == 0
    assert "exact size of 'primary' (chisq)" in capsys.readouterr().out
