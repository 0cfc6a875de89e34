"""First reproducers of issue 13 (no accepted input crashes): each was an internal error before
and is now a clean one-line error (exit 2) or a valid model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import simtrial
from simtrial.cli import main
from simtrial.errors import ScenarioError, fmt_value

from .helpers import scenario

HUGE = int("9" * 401)


@pytest.mark.parametrize("key, path", [("design.alpha", "design.alpha"),
                                       ("design.allocation_ratio", "design.allocation_ratio"),
                                       ("effect.md", "effect.md")])
def test_a_401_digit_integer_is_a_clean_error_not_an_overflow(key, path):
    with pytest.raises(ScenarioError) as exc:
        scenario(**{key: HUGE})
    msg = str(exc.value)
    assert "\n" not in msg and path in msg and "an integer with 401 digits" in msg
    assert len(msg) < 300


def test_cli_huge_integer_exits_2_with_one_line(tmp_path, capsys):
    text = (tmp_path / "s.toml")
    text.write_text(f'name = "h"\n[population]\npreset = "t1d"\n[design]\nn_per_arm = 20\n'
                    f'alpha = {HUGE}\n[effect]\nsource = "fixed"\nmd = -0.5\n[endpoint]\n'
                    'outcome = "hba1c"\nvisit_months = 12\n')
    assert main(["validate", str(text)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "design.alpha" in err and "Traceback" not in err


def test_long_arrays_and_huge_values_are_abbreviated_in_messages():
    assert fmt_value(HUGE) == "<an integer with 401 digits>"
    assert fmt_value(list(range(100))).endswith("... (100 items)]")


@pytest.mark.parametrize("s", [1e-300, 1e-12, 1e9])
def test_extreme_sceptical_sd_builds(s):
    m = simtrial.build_design(scenario(**{
        "effect.source": "evidence", "effect.md": None, "effect.population": "T1DM",
        "effect.distribution": "pooled", "effect.sceptical_sd": s})).models[0]
    d = m.distribution
    assert math.isfinite(d.mean) and math.isfinite(d.scale) and d.scale >= 0
    if s < 1e-6:     # a prior of (almost) certainly no effect
        assert abs(d.mean) < 1e-9 and d.scale < 1e-9
    else:            # an uninformative prior leaves the pooled effect
        assert d.mean == pytest.approx(m.endpoint_md) and d.scale == pytest.approx(0.2519, rel=1e-3)


# ---------------------------------------------------------------------------------------------
# issue 13, the rest of the reproducers: each was a crash, a hang or silent nonsense before
# ---------------------------------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "scenarios"


def _cli(tmp_path, capsys, text: str | bytes, *args, command="validate"):
    f = tmp_path / "case.toml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc = main([command, str(f), *args])
    err = capsys.readouterr().err
    return rc, err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[:500]
    return lines[0]


def _shipped(name: str, old: str, new: str) -> str:
    text = (SHIPPED / name).read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("depth", [500, 2000, 5000])
@pytest.mark.parametrize("form", ["array", "table"])
def test_deep_nesting_is_a_clean_error_not_a_recursion_error(tmp_path, capsys, depth, form):
    base = (SHIPPED / "t1d_hba1c_12m.toml").read_text()
    extra = (f"\nfoo = {'[' * depth}1{']' * depth}\n" if form == "array"
             else "\n[" + ".".join(["a"] * depth) + "]\nx = 1\n")
    rc, err = _cli(tmp_path, capsys, base + extra)
    line = _one_line(err)
    assert rc == 2 and "levels deep" in line and len(line) < 300


def test_deep_nesting_in_a_sweep_file_is_the_same_clean_error(tmp_path, capsys):
    base = (SHIPPED / "sweep_t1d_t2d_hba1c_n.toml").read_text()
    rc, err = _cli(tmp_path, capsys, base + "\nfoo = " + "[" * 3000 + "]" * 3000 + "\n")
    assert rc == 2 and "levels deep" in _one_line(err)


def test_an_oversized_file_is_refused_before_parsing(tmp_path, capsys):
    base = (SHIPPED / "t1d_hba1c_12m.toml").read_text()
    rc, err = _cli(tmp_path, capsys, base + "\n# " + "z" * 3_000_000 + "\n")
    assert rc == 2 and "at most 1 MiB" in _one_line(err)


def test_a_huge_sweep_is_counted_not_expanded(tmp_path, capsys, monkeypatch):
    import simtrial.sweep as sw

    def no_expand(*a, **k):
        raise AssertionError("validate expanded the sweep")
    monkeypatch.setattr(sw, "expand", no_expand)
    text = _shipped("t1d_hba1c_12m.toml", "seed = 20261122",
                    "seed = [" + ", ".join(map(str, range(10_000))) + "]")
    rc, err = _cli(tmp_path, capsys, text)
    assert rc == 2 and "is a sweep of 10,000 design points" in _one_line(err)


@pytest.mark.parametrize("key", ["effect.md", "outcome_model.control_change",
                                 "outcome_model.sd_change"])
@pytest.mark.parametrize("value", [1e308, -1e308, 1e20])
def test_astronomical_effects_and_natural_history_are_refused(key, value):
    if key == "outcome_model.sd_change":     # the schema stops it at 1e6 already
        value = abs(value) if abs(value) < 1e6 else 5e5
    with pytest.raises(ScenarioError, match="is not plausible for HbA1c: must be within 10 "
                                            "baseline SDs") as exc:
        simtrial.build_design(scenario(**{key: value}))
    assert key in str(exc.value)


def test_a_fixed_effect_for_another_outcome_is_bounded_too():
    with pytest.raises(ScenarioError, match=r"effect\.outcomes\.fbg = 100000 is not plausible"):
        simtrial.build_design(scenario(**{"effect.outcomes": {"fbg": 1e5}}))


def test_effect_distribution_scale_is_bounded():
    with pytest.raises(ScenarioError, match="effect distribution scale"):
        simtrial.build_design(scenario(**{"effect.distribution": "pooled", "effect.se": 1e9}))


def test_realistic_values_stay_accepted():
    for md in (-3.0, 3.0, -0.01):
        simtrial.build_design(scenario(**{"effect.md": md}))


@pytest.mark.parametrize("key, value, rule", [
    ("design.alpha", 1e-12, "must be >= 1e-06"),
    ("conduct.rate_per_site_month", 1e-300, "must be >= 0.01"),
    ("conduct.screen_fail", 0.999999, "must be <= 0.99"),
    ("conduct.withdrawal_per_month", 10, "must be <= 1"),
])
def test_values_outside_the_meaningful_range_are_refused(key, value, rule):
    conduct = {"sites": 5, "rate_per_site_month": 1.0}
    with pytest.raises(ScenarioError) as exc:
        scenario(**({"conduct": conduct} if key.startswith("conduct") else {}), **{key: value})
    assert key in str(exc.value) and rule in str(exc.value)


def test_dunnett_critical_values_are_fast_and_finite_at_tiny_alpha():
    from simtrial.stats.multiplicity import dunnett_corr, dunnett_critical
    corr = dunnett_corr(30, [30, 30, 30])
    for df in (math.inf, 20.0, 300.0):
        c = dunnett_critical(corr, df, 1e-12, 2)
        assert math.isfinite(c) and c > 7


def test_dunnett_bracket_widening_is_bounded(monkeypatch):
    from simtrial.errors import SimtrialError
    from simtrial.stats import multiplicity as mu
    mu._critical_cached.cache_clear()
    monkeypatch.setattr(mu, "_box_prob", lambda c, corr, df, sides: 0.5)   # never reaches alpha
    with pytest.raises(SimtrialError, match="below the precision"):
        mu.dunnett_critical(mu.dunnett_corr(30, [30, 30]), math.inf, 1e-3, 2)
    mu._critical_cached.cache_clear()


def test_memory_budget_refuses_before_drawing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIMTRIAL_MEMORY_GB", "4")
    text = _shipped("t1d_hba1c_12m.toml", "n_per_arm = ", "n_per_arm = 100000 #")
    f = tmp_path / "big.toml"
    f.write_text(text)
    rc = main(["run", str(f), "--out", str(tmp_path / "out"), "--quiet"])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and line.startswith("budget error: ") and "SIMTRIAL_MEMORY_GB" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_time_budget_stops_a_long_request(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIMTRIAL_TIME_BUDGET_S", "30")
    text = _shipped("conduct_t1d_hba1c_12m.toml", "sites = 10", "sites = 10000")
    rc, err = _cli(tmp_path, capsys, text, "--n-per-arm", "10", "--n-trials", "200",
                   command="power")
    line = _one_line(err)
    assert rc == 2 and line.startswith("budget error: ") and "over the time budget of 30 s" in line


@pytest.mark.parametrize("env, value", [("SIMTRIAL_MEMORY_GB", "lots"), ("SIMTRIAL_MEMORY_GB", "-1"),
                                        ("SIMTRIAL_TIME_BUDGET_S", "soon")])
def test_bad_budget_settings_are_usage_errors(tmp_path, capsys, monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    rc, err = _cli(tmp_path, capsys, (SHIPPED / "t1d_hba1c_12m.toml").read_text(),
                   "--n-trials", "10", command="power")
    assert rc == 2 and env in _one_line(err)


def test_budget_estimates_scale_with_the_request():
    from simtrial.sim import budget
    dm = simtrial.build_design(scenario())
    small = budget.estimate(dm, [30], 1000, "prefix")
    assert budget.estimate(dm, [3000], 1000, "prefix").bytes > 50 * (small.bytes - budget.BASE_BYTES)
    assert budget.estimate(dm, [30], 10_000, "full").seconds == pytest.approx(
        10 * budget.estimate(dm, [30], 1000, "full").seconds)


@pytest.mark.parametrize("value, shown", [('"a\\nb"', r"a\nb"), ('"x\\u001b[31m"', r"\x1b[31m"),
                                          ('"' + "k" * 100_000 + '"', " ... ")])
def test_messages_stay_one_line_whatever_the_value(tmp_path, capsys, value, shown):
    text = _shipped("t1d_hba1c_12m.toml", "seed = 20261122", f"seed = {value}")
    rc, err = _cli(tmp_path, capsys, text)
    line = _one_line(err)
    assert rc == 2 and shown in line and len(line) <= 400 and "\x1b" not in line


def test_a_megabyte_key_is_cut(tmp_path, capsys):
    text = (SHIPPED / "t1d_hba1c_12m.toml").read_text() + "\n" + "k" * 1_000_000 + " = 1\n"
    rc, err = _cli(tmp_path, capsys, text)
    assert rc == 2 and len(_one_line(err)) <= 400


def test_python_warnings_never_reach_stderr(capsys):
    import warnings
    from simtrial import cli

    def noisy(args):
        warnings.warn("overflow encountered", RuntimeWarning)
        return 0
    assert cli._quietly(noisy, None) == 0
    assert capsys.readouterr().err == ""


def test_non_finite_statistics_never_reach_results(monkeypatch):
    import dataclasses
    from simtrial.errors import SimtrialError
    from simtrial.oc import build
    from simtrial.sim import driver
    dm = simtrial.build_design(scenario(n_trials=50))
    sim = driver.simulate(dm, [20], n_trials=50)
    so = sim.prefix
    bad = dataclasses.replace(sim, prefix=dataclasses.replace(
        so, sum_est=so.sum_est * float("nan")))
    with pytest.raises(SimtrialError, match="are not finite"):
        build.points(dm, bad)
    assert build.points(dm, sim)[20].stats[0].est_n == 50


@pytest.mark.parametrize("var, params, rule", [
    ("age", {"mean": 1e9, "sd": 1.0}, r"population\.age\.mean = 1e\+09 is not plausible"),
    ("fbg", {"mean": 160.0, "sd": 1e-300}, r"population\.fbg\.sd = 1e-300 is not plausible"),
    ("weight", {"mean": 60.0, "sd": 1e6}, r"population\.weight\.sd = 1e\+06 is not plausible"),
])
def test_baseline_distributions_must_describe_people(var, params, rule):
    # the fbg case was a ZeroDivisionError, the age case a population of billion-year-olds
    with pytest.raises(ScenarioError, match=rule):
        simtrial.build_design(scenario(**{f"population.{var}": params}))


def test_validate_of_a_huge_responder_design_draws_no_huge_chunk(tmp_path, capsys):
    """Fuzz case 1837 (seed 2026): a calibration scenario with a responder endpoint and
    n_per_arm = 100000 (there with 24 visits) made validate allocate a (100000, 1000, 48) array
    and then 10^10 exact-size tables. The control responder rate now comes from at most 100 patients per
    trial and the exact size is enumerated only up to 300 per arm."""
    src = Path(__file__).resolve().parents[1] / "scenarios" / "calibration" / "zang2022_t2d.toml"
    text = src.read_text()
    assert "n_per_arm" in text and "responder" in text
    f = tmp_path / "big.toml"
    f.write_text(text.replace("n_per_arm = ", "n_per_arm = 100000 #", 1))
    assert main(["validate", str(f)]) == 0
    out = capsys.readouterr().out
    assert "not enumerated at N = 100000/97800" in out
