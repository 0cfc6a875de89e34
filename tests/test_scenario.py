"""Tests for simtrial.scenario (TOML -> frozen, validated Scenario) and the scenario checks that
need the resolved model (simtrial.model.stratum.build_model).

Project rule under test: bad input gets ONE line naming the key path, the value and what is
allowed ("scenario error: <key path> = <value> <rule> (e.g. <example>)"); unknown keys get a
"did you mean" hint.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from pathlib import Path

import pytest

from simtrial.errors import EvidenceError, ScenarioError, SimtrialError
from simtrial.model.stratum import build_model
from simtrial.scenario import Scenario, load_scenario, parse_scenario

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.toml"))

_DELETE = object()


def minimal() -> dict:
    """The smallest valid scenario: T1D, HbA1c at 12 months, fixed MD -0.5, 20 per arm."""
    return {
        "name": "minimal",
        "population": {"preset": "t1d"},
        "endpoint": {"outcome": "hba1c", "visit_months": 12},
        "effect": {"source": "fixed", "md": -0.5},
        "design": {"n_per_arm": 20},
    }


def mutate(path: str, value=_DELETE, base: dict | None = None) -> dict:
    """``minimal()`` with one dotted key set to ``value`` (or deleted)."""
    data = copy.deepcopy(minimal() if base is None else base)
    parts = path.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    if value is _DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return data


def one_line_error(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    assert msg.startswith("scenario error: ") or msg.startswith("evidence error: "), msg
    return msg


# --------------------------------------------------------------------------------------------
# one bad value at a time: key path, value, rule, allowed values / hint
# --------------------------------------------------------------------------------------------

E = re.escape

BAD = [
    # unknown keys, with a did-you-mean hint and the allowed keys
    ("unknown-top-level", mutate("n_trails", 100),
     E("scenario error: n_trails is not a known key (did you mean n_trials?); allowed here: "
       "name, description, seed, n_trials, population")),
    ("unknown-nested", mutate("design.n_per_am", 40),
     E("scenario error: design.n_per_am is not a known key (did you mean n_per_arm?); "
       "allowed here: n_per_arm, allocation_ratio, alpha, sides")),
    ("unknown-marginal-param", mutate("population.hba1c", {"mean": 8.0, "sdd": 1.0}),
     E("population.hba1c.sdd is not a known key (did you mean sd?); allowed here: family, mean, sd")),
    ("unknown-outcome-param", mutate("outcome_model.hba1c", {"sd_chang": [1.0, 1.0, 1.0]}),
     E("outcome_model.hba1c.sd_chang is not a known key (did you mean sd_change?)")),
    ("unknown-no-hint", mutate("zzzz", 1),
     E("scenario error: zzzz is not a known key; allowed here: name, description")),
    # wrong type
    ("n_per_arm-string", mutate("design.n_per_arm", "40"),
     E('scenario error: design.n_per_arm = "40" must be an integer (e.g. n_per_arm = 40)')),
    ("n_per_arm-bool", mutate("design.n_per_arm", True),
     E("design.n_per_arm = true must be an integer")),
    ("n_per_arm-fraction", mutate("design.n_per_arm", 20.5),
     E("design.n_per_arm = 20.5 must be an integer")),
    ("seed-float", mutate("seed", 1.5), E("seed = 1.5 must be an integer (e.g. seed = 20261122)")),
    ("alpha-string", mutate("design.alpha", "0.05"),
     E('design.alpha = "0.05" must be a number (e.g. alpha = 0.05)')),
    ("population-not-table", mutate("population", 5),
     E("scenario error: population = 5 must be a table")),
    ("description-not-string", mutate("description", 5), E("description = 5 must be a string")),
    # out of range
    ("n_per_arm-1", mutate("design.n_per_arm", 1), E("design.n_per_arm = 1 must be >= 2")),
    ("allocation_ratio-negative", mutate("design.allocation_ratio", -1),
     r"scenario error: design\.allocation_ratio = -1(\.0)? must be > 0 "
     r"\(e\.g\. allocation_ratio = 1\.0\)"),
    ("allocation_ratio-huge", mutate("design.allocation_ratio", 11),
     r"design\.allocation_ratio = 11(\.0)? must be <= 10"),
    ("alpha-0.7", mutate("design.alpha", 0.7),
     E("scenario error: design.alpha = 0.7 must be < 0.5 (e.g. alpha = 0.05)")),
    ("alpha-nan", mutate("design.alpha", math.nan), E("design.alpha = nan must be a number, not nan")),
    ("sides-3", mutate("design.sides", 3),
     E("scenario error: design.sides = 3 must be one of 2 | 1 (e.g. sides = 2)")),
    ("n_trials-0", mutate("n_trials", 0),
     E("scenario error: n_trials = 0 must be >= 1 (e.g. n_trials = 10000)")),
    ("seed-negative", mutate("seed", -1),
     E("scenario error: seed = -1 must be >= 0 (e.g. seed = 20261122)")),
    ("target_power-above-1", mutate("design.target_power", [0.8, 1.2]),
     E("design.target_power[1] = 1.2 must be < 1")),
    ("target_power-empty", mutate("design.target_power", []),
     E("design.target_power = [] must list at least one power")),
    ("max_n-below-n", mutate("design.max_n_per_arm", 10),
     E("design.max_n_per_arm = 10 must be >= design.n_per_arm = 20")),
    ("n_grid-1", mutate("design.n_grid", [1, 10]),
     E("scenario error: design.n_grid[0] = 1 must be >= 2 (e.g. n_grid = [10, 20, 40])")),
    ("msc-arm-of-1", mutate("design.allocation_ratio", 0.05),
     E("design.allocation_ratio = 0.05 gives an MSC arm of 1 patient at design.n_per_arm = 20; "
       "the MSC arm needs >= 2")),
    ("n_grid-msc-arm-of-1", mutate("design.n_grid", [5, 20],
                                   base=mutate("design.allocation_ratio", 0.1)),
     E("design.n_grid[0] = 5 gives an MSC arm of 1 patient at allocation_ratio = 0.1")),
    ("effect_cv-negative", mutate("outcome_model", {"heterogeneity": "normal", "effect_cv": -0.5}),
     E("outcome_model.effect_cv = -0.5 must be >= 0")),
    ("rho-1", mutate("outcome_model.rho", 1.0), E("outcome_model.rho = 1.0 must be < 1")),
    ("visit_correlation-negative", mutate("outcome_model.visit_correlation", -0.2),
     E("outcome_model.visit_correlation = -0.2 must be > 0")),
    ("marginal-mean-inf", mutate("population.hba1c", {"mean": math.inf}),
     E("scenario error: population.hba1c.mean = inf must be finite")),
    ("marginal-sd-0", mutate("population.hba1c", {"sd": 0.0}),
     E("population.hba1c.sd = 0.0 must be > 0")),
    ("marginal-param-unused", mutate("population.hba1c", {"p": 0.5}),
     E('population.hba1c.p = 0.5 is not used by family "normal"')),
    # bad choices, with the allowed values and a hint where one is close
    ("outcome-case", mutate("endpoint.outcome", "hba1C"),
     E('scenario error: endpoint.outcome = "hba1C" must be one of "hba1c" | "fbg" | "ppbg" | '
       '"fasting_cpeptide" | "insulin_dose" | "stimulated_cpeptide" | "homa_ir" | "homa_b"; '
       'did you mean "hba1c"?')),
    ("visit-25", mutate("endpoint.visit_months", 25),
     E("scenario error: endpoint.visit_months = 25 must be <= 24")),
    ("visit-0", mutate("endpoint.visit_months", 0),
     E("scenario error: endpoint.visit_months = 0 must be >= 1")),
    ("analysis-anova", mutate("endpoint.analysis", "anova"),
     E('scenario error: endpoint.analysis = "anova" must be one of "ancova" | "ttest_change" | "mmrm" | '
       '"mi"; '
       'did you mean "ancova"?')),
    ("preset-t3d", mutate("population.preset", "t3d"),
     E('population.preset = "t3d" must be one of "t1d_new_onset" | "t1d_established"')),
    ("source-Fixed", mutate("effect.source", "Fixed"),
     E('effect.source = "Fixed" must be one of "evidence" | "fixed"; did you mean "fixed"?')),
    ("effect-population", mutate("effect.population", "T3DM"),
     E('effect.population = "T3DM" must be one of "all" | "T1DM" | "T2DM"')),
    ("heterogeneity-choice", mutate("outcome_model.heterogeneity", "gamma"),
     E('outcome_model.heterogeneity = "gamma" must be one of "none" | "normal"')),
    ("family-choice", mutate("population.age", {"family": "gamma"}),
     E('population.age.family = "gamma" must be one of "normal" | "truncnorm" | "lognormal" | '
       '"bernoulli"')),
    ("missing-endpoint", mutate("endpoint"), E("scenario error: [endpoint] table is required")),
    ("missing-outcome", mutate("endpoint.outcome"),
     E("scenario error: endpoint.outcome is required (one of hba1c, fbg")),
    # effect: source / md / row combinations
    ("fixed-without-md", mutate("effect.md"),
     E('scenario error: effect.md is required when effect.source = "fixed" (e.g. md = -0.5)')),
    ("md-with-evidence", mutate("effect", {"source": "evidence", "md": -0.5}),
     E('scenario error: effect.md = -0.5 is only used with effect.source = "fixed"')),
    ("row-with-fixed", mutate("effect.row", "k25seed_hba1c_12m_t1dm"),
     E('scenario error: effect.row = "k25seed_hba1c_12m_t1dm" is only used with '
       'effect.source = "evidence"')),
    ("row-not-string", mutate("effect", {"source": "evidence", "row": 5}),
     E("effect.row = 5 must be an evidence row id")),
    ("md-inf", mutate("effect.md", math.inf), E("effect.md = inf must be finite")),
    # heterogeneity
    ("normal-without-cv", mutate("outcome_model.heterogeneity", "normal"),
     E('scenario error: outcome_model.effect_cv is required (> 0) when heterogeneity = "normal"')),
    ("cv-without-normal", mutate("outcome_model.effect_cv", 0.5),
     E('outcome_model.effect_cv = 0.5 is only used with heterogeneity = "normal"')),
    # criteria
    ("criteria-low-above-high", mutate("population.criteria", {"hba1c": [10.0, 7.0]}),
     E("scenario error: population.criteria.hba1c = [10.0, 7.0] must have low <= high")),
    ("criteria-unknown-variable", mutate("population.criteria", {"hba1cc": [7.0, 10.0]}),
     E("scenario error: population.criteria.hba1cc is not a known key (did you mean hba1c?); "
       "allowed here: age, male")),
    ("criteria-one-number", mutate("population.criteria", {"hba1c": [7.0]}),
     E("population.criteria.hba1c = [7.0] must be 2 numbers")),
    ("criteria-nan", mutate("population.criteria", {"hba1c": [math.nan, 9.0]}),
     E("population.criteria.hba1c[0] = nan must be a number, not nan")),
    # correlation
    ("correlation-one-variable", mutate("population.correlation", {"hba1c": 0.5}),
     E('scenario error: population.correlation."hba1c" must name two different variables as '
       '"a,b" from age, male')),
    ("correlation-same-variable", mutate("population.correlation", {"hba1c,hba1c": 0.5}),
     E('population.correlation."hba1c,hba1c" must name two different variables')),
    ("correlation-unknown-variable", mutate("population.correlation", {"hba1c,bmi": 0.5}),
     E('population.correlation."hba1c,bmi" must name two different variables')),
    ("correlation-1", mutate("population.correlation", {"hba1c,fbg": 1.0}),
     E('scenario error: population.correlation."hba1c,fbg" = 1.0 must be < 1')),
    ("correlation-minus-1.5", mutate("population.correlation", {"hba1c,fbg": -1.5}),
     E('scenario error: population.correlation."hba1c,fbg" = -1.5 must be > -1')),
    ("correlation-string", mutate("population.correlation", {"hba1c,fbg": "high"}),
     E('population.correlation."hba1c,fbg" = "high" must be a number')),
    # per-outcome arrays (months 3, 6, 12)
    ("per-outcome-too-short", mutate("outcome_model.hba1c", {"sd_change": [1.0, 2.0]}),
     E("scenario error: outcome_model.hba1c.sd_change = [1.0, 2.0] must be 3 numbers")),
    ("per-outcome-too-long", mutate("outcome_model.fbg", {"rho": [0.5, 0.5, 0.5, 0.5]}),
     E("scenario error: outcome_model.fbg.rho = [0.5, 0.5, 0.5, 0.5] must be 3 numbers")),
    ("per-outcome-scalar", mutate("outcome_model.ppbg", {"control_change": 0.0}),
     E("outcome_model.ppbg.control_change = 0.0 must be 3 numbers")),
    ("per-outcome-element", mutate("outcome_model.hba1c", {"rho": [0.5, 1.0, 0.5]}),
     E("outcome_model.hba1c.rho[1] = 1.0 must be < 1")),
    # name (it becomes a folder name)
    ("name-slash", mutate("name", "a/b"),
     E("scenario error: name = \"a/b\" must be 1-100 letters, digits, '_', '-' or '.', starting "
       "with a letter or digit")),
    ("name-dot", mutate("name", ".hidden"), E('name = ".hidden" must be 1-100 letters')),
    ("name-empty", mutate("name", ""), E('name = "" must be 1-100 letters')),
    ("name-missing", mutate("name"), E("scenario error: name is required")),
]


@pytest.mark.parametrize(("data", "pattern"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_value_is_one_line_with_key_path_value_and_rule(data, pattern):
    with pytest.raises(ScenarioError, match=pattern) as exc_info:
        parse_scenario(data)
    one_line_error(exc_info)


def test_case_ids_are_unique():
    ids = [c[0] for c in BAD]
    assert len(ids) == len(set(ids))


def test_not_a_table():
    with pytest.raises(ScenarioError, match="^scenario error: the scenario must be a TOML table$"):
        parse_scenario(["not", "a", "dict"])


def test_scenario_error_is_a_simtrial_error():
    assert issubclass(ScenarioError, SimtrialError)
    assert issubclass(EvidenceError, SimtrialError)


# --------------------------------------------------------------------------------------------
# valid scenarios: defaults, round trip, hash, replace, frozen
# --------------------------------------------------------------------------------------------

def rich() -> dict:
    """A valid scenario exercising every optional section."""
    return {
        "name": "rich.case-1",
        "description": "every optional key",
        "seed": 7,
        "n_trials": 123,
        "population": {
            "preset": "t1d",
            "age": {"family": "truncnorm", "mean": 25.0, "sd": 8.0, "lower": 12.0, "upper": 45.0},
            "hba1c": {"mean": 8.5},
            "criteria": {"hba1c": [7.0, math.inf], "fasting_cpeptide": "none", "age": {"min": 12}},
            "correlation": {"hba1c,fbg": 0.5, "age, duration": 0.3},
        },
        "endpoint": {"outcome": "fbg", "visit_months": 6, "analysis": "ttest_change"},
        "effect": {"source": "evidence", "population": "all", "row": "k25seed_fbg_6m_all"},
        "design": {"n_per_arm": 30, "allocation_ratio": 2.0, "alpha": 0.025, "sides": 1,
                   "target_power": 0.85, "max_n_per_arm": 500, "n_grid": [40, 10, 20, 20]},
        "outcome_model": {"heterogeneity": "normal", "effect_cv": 0.4, "visit_correlation": 0.5,
                          "rho": 0.6, "hba1c": {"control_change": [0.0, 0.1, 0.2],
                                                "sd_change": [0.6, 0.7, 0.8]}},
    }


def test_minimal_scenario_defaults():
    sc = parse_scenario(minimal())
    assert isinstance(sc, Scenario)
    assert (sc.name, sc.seed, sc.n_trials, sc.description) == ("minimal", 20261122, 10000, "")
    assert sc.population.preset == "t1d"
    assert sc.endpoint.analysis == "ancova"
    assert sc.effect.population == "T1DM"  # follows the preset
    assert sc.effect.md == -0.5 and sc.effect.row is None
    d = sc.design
    assert (d.n_per_arm, d.allocation_ratio, d.alpha, d.sides) == (20, 1.0, 0.05, 2)
    assert d.target_power == (0.8, 0.9) and d.max_n_per_arm == 2000 and d.n_grid is None
    assert sc.outcome_model.heterogeneity == "none" and sc.outcome_model.effect_cv == 0.0
    assert sc.source_path is None


def test_t2d_preset_defaults_effect_population():
    data = mutate("population.preset", "t2d")
    assert parse_scenario(data).effect.population == "T2DM"


def test_rich_scenario_normalises_values():
    sc = parse_scenario(rich())
    assert sc.design.n_grid == (10, 20, 40)           # sorted, deduplicated
    assert sc.design.target_power == (0.85,)          # scalar accepted as a one-element list
    assert sc.design.n_msc(30) == 60
    assert sc.population.criteria == {"hba1c": (7.0, math.inf), "fasting_cpeptide": None,
                                      "age": (12.0, math.inf)}
    assert sc.population.correlation == {("hba1c", "fbg"): 0.5, ("age", "duration"): 0.3}
    assert sc.outcome_model.per_outcome["hba1c"]["sd_change"] == (0.6, 0.7, 0.8)


@pytest.mark.parametrize("make", [minimal, rich], ids=["minimal", "rich"])
def test_round_trip_and_stable_hash(make):
    sc = parse_scenario(make())
    again = parse_scenario(sc.to_dict())
    assert again == sc
    assert again.to_dict() == sc.to_dict()
    h = sc.hash()
    assert re.fullmatch(r"[0-9a-f]{64}", h)
    assert again.hash() == h
    assert parse_scenario(make()).hash() == h        # a fresh parse of the same input
    assert sc.replace(seed=sc.seed + 1).hash() != h   # and the hash does see changes


def test_hash_ignores_source_path_and_key_order(tmp_path):
    a = parse_scenario(minimal())
    reordered = dict(reversed(list(minimal().items())))
    assert parse_scenario(reordered).hash() == a.hash()
    b = parse_scenario(minimal(), origin=str(tmp_path / "elsewhere.toml"))
    assert b.hash() == a.hash()


def test_replace_revalidates():
    sc = parse_scenario(minimal())
    with pytest.raises(ScenarioError, match=E("design.n_per_arm = 1 must be >= 2")):
        sc.replace(**{"design.n_per_arm": 1})
    with pytest.raises(ScenarioError, match=E("design.n_per_am is not a known key (did you mean "
                                              "n_per_arm?)")):
        sc.replace(**{"design.n_per_am": 50})
    with pytest.raises(ScenarioError, match=E("n_trials = 0 must be >= 1")):
        sc.replace(n_trials=0)


def test_replace_returns_new_scenario_and_keeps_original():
    sc = parse_scenario(minimal(), origin="somewhere/minimal.toml")
    new = sc.replace(**{"design.n_per_arm": 50, "seed": 3})
    assert new.design.n_per_arm == 50 and new.seed == 3
    assert sc.design.n_per_arm == 20 and sc.seed == 20261122
    assert new.source_path == sc.source_path
    assert new.effect == sc.effect and new.population == sc.population


def test_scenario_is_frozen():
    sc = parse_scenario(minimal())
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.design.n_per_arm = 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.effect.md = 0.0


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

MINIMAL_TOML = """\
[population]
preset = "t1d"
[endpoint]
outcome = "hba1c"
visit_months = 12
[effect]
source = "fixed"
md = -0.5
[design]
n_per_arm = 20
"""


def test_load_scenario_defaults_name_to_file_stem(tmp_path):
    p = tmp_path / "my_trial.toml"
    p.write_text(MINIMAL_TOML)
    sc = load_scenario(p)
    assert sc.name == "my_trial"
    assert sc.source_path == str(p)
    assert parse_scenario(sc.to_dict(), origin=sc.source_path) == sc


def test_load_scenario_malformed_toml(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text('name = "x"\n[design\nn_per_arm = 20\n')
    with pytest.raises(ScenarioError, match=r"^scenario error: broken\.toml is not valid TOML: ") as ei:
        load_scenario(p)
    one_line_error(ei)


def test_load_scenario_not_utf8(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match="^scenario error: ") as ei:
        load_scenario(p)
    one_line_error(ei)


def test_load_scenario_missing_file(tmp_path):
    p = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError, match=E(f"scenario error: file {str(p)!r} does not exist")):
        load_scenario(p)


def test_load_scenario_folder(tmp_path):
    with pytest.raises(ScenarioError, match=E(f"{str(tmp_path)!r} is a folder, not a scenario file")):
        load_scenario(tmp_path)


def test_load_scenario_reports_validation_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(MINIMAL_TOML.replace("n_per_arm = 20", 'n_per_arm = "40"'))
    with pytest.raises(ScenarioError, match=E('design.n_per_arm = "40" must be an integer')):
        load_scenario(p)


def test_shipped_scenarios_exist():
    assert len(SHIPPED) >= 4


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_loads_and_builds(path):
    from simtrial.sweep import load_points
    points = load_points(path)           # validates every design point of a sweep file
    # a sweep file (`simtrial batch`): build its first design point
    sc = points[0].scenario if points[0].values else load_scenario(path)
    assert sc.name == path.stem
    assert sc.description
    assert parse_scenario(sc.to_dict(), origin=sc.source_path) == sc
    model = build_model(sc)
    assert model.scenario is sc
    assert math.isfinite(model.endpoint_md) and model.endpoint_md != 0.0
    assert 0.0 <= model.screen_fail_prob < 1.0
    if sc.effect.source == "evidence":
        row = model.evidence_row
        assert row is not None
        assert row["outcome"] == sc.endpoint.outcome
        assert row["time_months"] == sc.endpoint.visit_months
        assert row["population"] == sc.effect.population
        assert row["md"] == pytest.approx(model.endpoint_md)


# --------------------------------------------------------------------------------------------
# checks that need the resolved model
# --------------------------------------------------------------------------------------------

def test_correlation_not_positive_definite():
    data = mutate("population.correlation",
                  {"hba1c,fbg": 0.99, "hba1c,ppbg": 0.99, "fbg,ppbg": -0.99})
    sc = parse_scenario(data)                       # each value alone is in (-1, 1)
    with pytest.raises(ScenarioError, match=r"^scenario error: population\.correlation .*"
                                            r"not positive definite") as ei:
        build_model(sc)
    msg = one_line_error(ei)
    assert '"hba1c,fbg" = 0.99' in msg and '"fbg,ppbg" = -0.99' in msg


def test_sd_change_too_small():
    sc = parse_scenario(mutate("outcome_model.sd_change", 0.1))
    with pytest.raises(ScenarioError, match=r"^scenario error: outcome_model\.sd_change = 0\.1 is "
                                            r"too small .*must be > ") as ei:
        build_model(sc)
    one_line_error(ei)


def test_per_visit_sd_change_too_small_names_the_visit():
    sc = parse_scenario(mutate("outcome_model.hba1c", {"sd_change": [0.01, 1.0, 1.0]}))
    with pytest.raises(ScenarioError, match=E("outcome_model.hba1c.sd_change at month 3 = 0.01 "
                                              "is too small")):
        build_model(sc)


def test_missing_evidence_row():
    data = mutate("effect", {"source": "evidence", "population": "T1DM"},
                  base=mutate("endpoint", {"outcome": "insulin_dose", "visit_months": 3}))
    sc = parse_scenario(data)
    with pytest.raises(EvidenceError, match=r"effect\.(population|row)") as ei:
        build_model(sc)
    msg = one_line_error(ei)
    assert '"insulin_dose"' in msg and "visit_months = 3" in msg and '"T1DM"' in msg


def test_unknown_evidence_row_id():
    sc = parse_scenario(mutate("effect", {"source": "evidence", "row": "k25seed_hba1c_12m_t1dn"}))
    with pytest.raises(EvidenceError, match=E('effect.row = "k25seed_hba1c_12m_t1dn" is not an '
                                              'evidence row id (did you mean '
                                              '"k25seed_hba1c_12m_t1dm"')) as ei:
        build_model(sc)
    one_line_error(ei)


def test_evidence_row_for_another_outcome():
    sc = parse_scenario(mutate("effect", {"source": "evidence", "row": "k25seed_fbg_12m_t1dm"}))
    with pytest.raises(EvidenceError, match=E('effect.row = "k25seed_fbg_12m_t1dm"')):
        build_model(sc)


def test_unattainable_effect():
    data = mutate("effect.md", -10.0, base=mutate("endpoint.outcome", "fasting_cpeptide"))
    with pytest.raises(ScenarioError, match=r"^scenario error: effect\.md = \S+ is not attainable "
                                            r"for fasting_cpeptide at month \d+: ") as ei:
        build_model(parse_scenario(data))
    one_line_error(ei)


def test_unattainable_effect_names_the_users_value():
    data = mutate("effect.md", -10.0, base=mutate("endpoint.outcome", "fasting_cpeptide"))
    with pytest.raises(ScenarioError, match=E("effect.md = -10")):
        build_model(parse_scenario(data))


def test_valid_overrides_build():
    model = build_model(parse_scenario(mutate("outcome_model", {"sd_change": 1.5, "rho": 0.6})))
    assert model.endpoint_md == pytest.approx(-0.5)


def test_choice_hint_is_case_insensitive():
    with pytest.raises(ScenarioError, match=E('effect.population = "t1dm" must be one of') + r".*did you mean \"T1DM\""):
        parse_scenario(mutate("effect.population", "t1dm"))


@pytest.mark.parametrize("key,value", [("outcome_model.sd_change", 1e300),
                                       ("outcome_model.hba1c", {"sd_change": [0.6, 0.7, 1e300]})])
def test_absurd_sd_change_is_refused_up_front(key, value):
    with pytest.raises(ScenarioError, match=r"must be <= 1e\+06"):
        parse_scenario(mutate(key, value))


def test_failed_render_leaves_no_partial_outputs(tmp_path, monkeypatch):
    """If the plot fails after results.csv was rendered, nothing reaches the disk: no file and
    no new (empty) output folder (issue 13: a folder is complete with its manifest or absent)."""
    import matplotlib.figure

    from simtrial import run
    from simtrial.present.files import write_run

    res = run(parse_scenario(mutate("n_trials", 200)))

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(RuntimeError):
        write_run(res, tmp_path / "o" / "x")
    assert not (tmp_path / "o").exists()
