"""Populations and natural history (issue 11 items 1-4): presets with provenance, patient-
specific C-peptide decline, insulin independence as an event, one shared response."""

from __future__ import annotations

import numpy as np
import pytest

import simtrial
from simtrial.errors import ScenarioError
from simtrial.model.outcomes import OUTCOMES
from simtrial.model.presets import ALIASES, PRESETS, VARIABLES
from simtrial.sim.full import draw_patients

from .helpers import scenario

FLAGS = ("REPORTED", "DERIVED", "ASSUMED")
NEW = ("t1d_new_onset", "t1d_established", "t1d_paediatric", "t2d_insulin", "t2d_non_insulin")


def test_presets_and_aliases():
    assert set(NEW) <= set(PRESETS)
    for alias, target in ALIASES.items():
        assert PRESETS[alias] is PRESETS[target]


@pytest.mark.parametrize("name", NEW)
def test_every_parameter_has_a_flagged_source(name):
    p = PRESETS[name]
    for var in VARIABLES:
        src = p["variables"][var]["source"]
        assert any(f in src for f in FLAGS) or "unused" in src, (var, src)
    for o, spec in p["outcomes"].items():
        assert any(f in spec["source"] for f in FLAGS), (o, spec["source"])
        if "decline" in spec:
            assert any(f in spec["decline"]["source"] for f in FLAGS)
    assert any(f in p["remission"]["source"] for f in FLAGS)
    assert any(f in p["criteria_source"] for f in FLAGS)


def _control(preset, outcome, months=(3, 6, 12, 24), n=40, **over):
    sc = scenario(**{"population.preset": preset, "endpoint.outcome": outcome,
                     "effect.md": {"hba1c": -0.5}.get(outcome, 0.1 if "cpeptide" in outcome else -5.0),
                     "design.visits": list(months), "endpoint.visit_months": months[-1], **over})
    dm = simtrial.build_design(sc)
    return dm, draw_patients(dm, 7, n)


def _geo_change(dm, d, outcome, arm=0):
    m = d.arm == arm
    return np.exp(np.mean(np.log(d.vals[outcome][:, m, :] / d.base[outcome][:, m, None]), axis=(0, 1))) - 1


def test_cpeptide_decline_depends_on_population_and_continues():
    est = _geo_change(*_control("t1d_established", "fasting_cpeptide"), "fasting_cpeptide")
    new = _geo_change(*_control("t1d_new_onset", "fasting_cpeptide"), "fasting_cpeptide")
    kid = _geo_change(*_control("t1d_paediatric", "fasting_cpeptide"), "fasting_cpeptide")
    # established T1D: Cai 2016 controls -7.7% a year (C-peptide AUC)
    assert -0.13 < est[2] < -0.03
    # new onset: about -35% a year (Greenbaum 2012: -0.29 nmol/L from ~0.7)
    assert -0.45 < new[2] < -0.25
    # children faster than adolescents and adults; decline continues into year 2
    assert kid[2] < new[2]
    for g in (est, new, kid):
        assert g[3] < g[2] < g[1] < g[0] < 0
        assert np.log1p(g[3]) == pytest.approx(2 * np.log1p(g[2]), rel=0.1)


def test_decline_is_faster_in_the_young_and_early():
    dm, d = _control("t1d_new_onset", "fasting_cpeptide", n=60)
    vm = dm.models[0].outcomes["fasting_cpeptide"]
    r = vm.decline.rate(np.array([10.0, 20.0, 35.0]), np.array([0.5, 0.5, 0.5]))
    assert r[0] < r[1] < r[2] < 0
    r = vm.decline.rate(np.array([20.0, 20.0]), np.array([0.5, 8.0]))
    assert r[0] < r[1] < 0


def test_insulin_independence_is_an_event_not_a_tail():
    dm, d = _control("t2d_insulin", "insulin_dose", months=(3, 6, 12), n=45,
                     **{"effect.source": "evidence", "effect.md": None,
                        "effect.population": "T2DM",
                        "endpoints": [{"name": "cp", "outcome": "fasting_cpeptide",
                                       "visit_months": 12}]})
    k = 2
    free_c = np.mean(d.vals["insulin_dose"][:, d.arm == 0, k] == 0)
    free_t = np.mean(d.vals["insulin_dose"][:, d.arm == 1, k] == 0)
    assert free_c == 0.0                                   # placebo: nobody stops insulin
    assert free_t == pytest.approx(0.111, abs=0.01)        # Zang 2022: 5/45
    assert np.array_equal(d.insulin_free, d.vals["insulin_dose"] == 0.0)
    # independence persists: free at 6 months -> free at 12 (the effect grows to 12)
    f = d.insulin_free[:, d.arm == 1]
    assert not np.any(f[..., 1] & ~f[..., 2])
    # more beta-cell reserve, more independence
    cp = d.base["fasting_cpeptide"][:, d.arm == 1]
    hi = cp > np.median(cp)
    assert np.mean(f[..., 2][hi]) > np.mean(f[..., 2][~hi])


def test_no_effect_means_no_independence():
    dm, d = _control("t2d_insulin", "insulin_dose", months=(3, 6, 12), n=30,
                     **{"effect.md": 0.0})
    assert dm.models[0].remission is None
    assert not np.any(d.vals["insulin_dose"] == 0.0)


def test_large_absolute_insulin_md_is_converted_and_warned():
    sc = scenario(**{"population.preset": "t2d", "endpoint.outcome": "insulin_dose",
                     "effect.source": "evidence", "effect.md": None, "effect.population": "T2DM"})
    dm = simtrial.build_design(sc)
    m = dm.models[0]
    assert "% of the mean baseline dose" in m.conversions["insulin_dose"]
    assert any("more than 30%" in w for w in dm.warnings)
    # an HbA1c design that does not simulate insulin does not warn about it
    assert not simtrial.build_design(scenario(**{"population.preset": "t2d"})).warnings


def test_shared_response_puts_every_effect_in_the_same_patients():
    sc = scenario(**{"population.preset": "t2d", "effect.md": -0.7,
                     "effect.outcomes": {"insulin_dose": -6.0},
                     "outcome_model.heterogeneity": "responders",
                     "outcome_model.responder_fraction": 0.3,
                     "endpoints": [{"name": "ins", "outcome": "insulin_dose", "visit_months": 12}]})
    dm = simtrial.build_design(sc)
    d = draw_patients(dm, 3, 40)
    m = d.arm == 1
    resp = d.mult[:, m] > 0
    dh = d.vals["hba1c"][:, m, -1] - d.base["hba1c"][:, m]
    di = np.log(np.maximum(d.vals["insulin_dose"][:, m, -1], 1e-9) / d.base["insulin_dose"][:, m])
    c = d.arm == 0
    dh0 = d.vals["hba1c"][:, c, -1] - d.base["hba1c"][:, c]
    # responders carry both effects; non-responders look like controls
    assert np.mean(dh[resp]) - np.mean(dh0) == pytest.approx(-0.7 / 0.3, rel=0.05)
    assert np.mean(dh[~resp]) == pytest.approx(np.mean(dh0), abs=0.03)
    assert np.mean(di[resp & (d.vals["insulin_dose"][:, m, -1] > 0)]) < np.mean(di[~resp]) - 0.1


def test_non_insulin_t2d_refuses_insulin_endpoints():
    with pytest.raises(ScenarioError, match='not available for population.preset = "t2d_non_insulin"'):
        simtrial.build_design(scenario(**{"population.preset": "t2d_non_insulin",
                                          "endpoint.outcome": "insulin_dose", "effect.md": -3.0}))
    dm = simtrial.build_design(scenario(**{"population.preset": "t2d_non_insulin"}))
    assert dm.models[0].population.marginals["hba1c"].mean == 8.3


def test_paediatric_weight_for_age():
    sc = scenario(**{"population.preset": "t1d_paediatric"})
    m = simtrial.build_design(sc).models[0]
    from simtrial.model.population import draw_screened
    base, _ = draw_screened(m.population, 20000, rng=np.random.default_rng(1))
    young = base["age"] < 10
    assert base["age"].min() >= 8 and base["age"].max() < 18
    assert 25 < np.mean(base["weight"][young]) < 38          # a 9-year-old weighs about 30 kg
    assert np.corrcoef(base["age"], base["weight"])[0, 1] > 0.7


def test_insulin_outcome_is_log_scale_with_an_event():
    od = OUTCOMES["insulin_dose"]
    assert od.scale == "log" and od.zero_event and od.floor is None
