"""Double programming: the prefix-sum kernel and the full patient kernel are two
implementations of the same model. On every design the prefix kernel supports they must give the
same per-trial estimates (to 1e-12) and identical decisions, and the driver must choose a sums
kernel for them (including no-op keys such as ``[dropout] rate = 0.0``): the exact
sufficient-statistics kernel where the endpoint is linear-normal given the baseline (the
additive HbA1c designs below; it agrees in distribution, tests/test_suffstat.py), the prefix
kernel otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from simtrial import simulate
from simtrial.model.design import build_design
from simtrial.errors import SimtrialError
from simtrial.sim import driver
from simtrial.sim.driver import kernel_for

from .helpers import scenario

LINEAR = {"hba1c_ancova", "hba1c_ttest_one_sided", "allocation_2_to_1", "predictive_assurance",
          "noop_dropout", "noop_dropout_mar_other_outcome", "one_named_arm", "true_null"}
"""The cases the driver gives the sufficient-statistics kernel (forced to prefix below)."""

# every axis the prefix kernel supports: outcome scale (additive, log-normal C-peptide with a
# patient-specific decline, log-normal insulin with and without independence events),
# analysis, sides, allocation, effect distributions (assurance), heterogeneity, a no-op
# dropout, one explicitly named arm, chunk boundaries and several N
SUPPORTED = {
    "hba1c_ancova": {},
    "hba1c_ttest_one_sided": {"endpoint.analysis": "ttest_change", "design.sides": 1},
    "allocation_2_to_1": {"design.allocation_ratio": 2.0},
    "cpeptide_lognormal": {"endpoint.outcome": "fasting_cpeptide", "effect.source": "evidence",
                           "effect.md": None, "effect.population": "all"},
    "insulin_log_t2d_no_remission": {"population.preset": "t2d", "endpoint.outcome": "insulin_dose",
                                     "effect.source": "evidence", "effect.md": None,
                                     "effect.population": "T2DM",
                                     "outcome_model.insulin_dose": {"remission_msc": 0.0}},
    "cpeptide_decline_paediatric": {"population.preset": "t1d_paediatric",
                                    "endpoint.outcome": "stimulated_cpeptide",
                                    "effect.md": 0.2, "endpoint.visit_months": 6},
    "insulin_independence_t1d": {"endpoint.outcome": "insulin_dose", "effect.source": "evidence",
                                 "effect.md": None, "effect.population": "T1DM"},
    "insulin_independence_responders": {"population.preset": "t2d",
                                        "endpoint.outcome": "insulin_dose",
                                        "effect.md": -8.0,
                                        "outcome_model.heterogeneity": "responders",
                                        "outcome_model.responder_fraction": 0.5},
    "predictive_assurance": {"effect.source": "evidence", "effect.md": None,
                             "effect.population": "T1DM", "effect.distribution": "predictive"},
    "responder_heterogeneity": {"outcome_model.heterogeneity": "responders",
                                "outcome_model.responder_fraction": 0.6},
    "noop_dropout": {"dropout": {"rate": 0.0}},
    "noop_dropout_mar_other_outcome": {"dropout": {"rate": 0.0, "mechanism": "mar",
                                                    "outcome": "insulin_dose", "strength": 1.0}},
    "one_named_arm": {"arms": [{"name": "MSC"}]},
    "true_null": {"effect.md": 0.0},
}


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_kernels_give_identical_trials_where_both_apply(name):
    sc = scenario(**{"n_trials": 1300, **SUPPORTED[name]})   # two chunks, the last one cut
    dm = build_design(sc)
    assert kernel_for(dm) == ("suffstat" if name in LINEAR else "prefix")
    ns = [9, 20]
    fast = simulate(dm, ns, kernel="prefix", keep=[9])
    full = simulate(dm, ns, kernel="full")
    kept_fast = fast[9].trials
    kept_full = full[9].trials
    np.testing.assert_allclose(kept_full["point_est"][:, 0], kept_fast["point_est"][:, 0],
                               rtol=0, atol=1e-12)
    for key in ("point_reject", "point_success"):
        np.testing.assert_array_equal(kept_full[key][:, 0].astype(bool),
                                      kept_fast[key][:, 0].astype(bool))
    if "assurance_success" in kept_fast:
        np.testing.assert_array_equal(kept_full["assurance_success"][:, 0].astype(bool),
                                      kept_fast["assurance_success"][:, 0].astype(bool))
        np.testing.assert_allclose(kept_full["theta"], kept_fast["theta"], rtol=0, atol=0)
    for n in ns:       # the same counts at every N: rejections, successes, screening
        a, b = fast[n].stats[0], full[n].stats[0]
        assert (a.reject, a.success, a.reject_raw, a.assurance) == \
               (b.reject, b.success, b.reject_raw, b.assurance)
        assert a.est_sum == pytest.approx(b.est_sum, rel=1e-12, abs=1e-9)
        assert fast[n].screen_fail == full[n].screen_fail
        for metric in ("insulin_independence", "responder_fraction"):
            x = [r["estimate"] for r in fast[n].rows() if r["metric"] == metric]
            y = [r["estimate"] for r in full[n].rows() if r["metric"] == metric]
            assert x == y, metric


FULL_ONLY = {
    "dropout": {"dropout": {"rate": 0.2}},
    "mmrm": {"endpoint.analysis": "mmrm"},
    "margin": {"endpoint.margin": 0.1},
    "log_scale_analysis": {"endpoint.scale": "log", "endpoint.outcome": "fasting_cpeptide",
                           "effect.md": None, "effect.source": "evidence",
                           "effect.population": "all"},
    "looks": {"sequential": {"fractions": [0.5, 1.0]}},
    "two_arms": {"arms": [{"name": "low", "effect_scale": 0.5}, {"name": "high"}]},
    "strata": {"population.strata": {"t1d": 0.5, "t2d": 0.5}},
}
"""Designs only the full patient kernel serves."""


@pytest.mark.parametrize("change", list(FULL_ONLY.values()), ids=list(FULL_ONLY))
def test_designs_the_prefix_kernel_cannot_serve_go_to_the_full_kernel(change):
    dm = build_design(scenario(**change))
    assert kernel_for(dm) == "full"
    for k in ("prefix", "suffstat"):      # the public API: a one-line error naming the kernel
        with pytest.raises(SimtrialError, match=f'kernel = "{k}" does not serve this design; '
                                                "allowed here: auto, full"):
            simulate(dm, [10], kernel=k, n_trials=10)
    # the driver below it refuses too
    with pytest.raises(ValueError, match="prefix-sum kernel does not support"):
        driver.simulate(dm, [10], kernel="prefix", n_trials=10)
    with pytest.raises(ValueError, match="sufficient-statistics kernel does not support"):
        driver.simulate(dm, [10], kernel="suffstat", n_trials=10)


def test_zero_dropout_changes_no_number():
    base = scenario(n_trials=1500)
    noop = scenario(n_trials=1500, dropout={"rate": 0.0})
    a = simulate(base, [12, 25], keep=[12])
    b = simulate(noop, [12, 25], keep=[12])
    for n in (12, 25):
        ra = {(r["metric"], r["arm"], r["visit"]): (r["estimate"], r["mc_se"])
              for r in a[n].rows()}
        rb = {(r["metric"], r["arm"], r["visit"]): (r["estimate"], r["mc_se"])
              for r in b[n].rows() if r["metric"] != "observed_fraction"}
        assert ra == rb
    np.testing.assert_array_equal(a[12].trials["point_est"], b[12].trials["point_est"])


def test_full_kernel_slices_are_the_trials_of_a_run_at_that_n():
    # drawing once at the largest N and analysing the first patients of each group is the same
    # as simulating that N alone (patient i of a group does not depend on the group size)
    sc = scenario(n_trials=1100, dropout={"rate": 0.2, "mechanism": "mar", "strength": 0.5},
                  **{"endpoint.analysis": "mmrm", "population.strata": {"t1d": 0.6, "t2d": 0.4}})
    together = simulate(sc, [7, 16, 30])
    for n in (7, 16, 30):
        alone = simulate(sc, [n])[n]
        for key, x in alone.trials.items():
            np.testing.assert_array_equal(together[n].trials[key], x, err_msg=key)
