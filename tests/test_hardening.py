"""First reproducers of issue 13 (no accepted input crashes): each was an internal error before
and is now a clean one-line error (exit 2) or a valid model."""

from __future__ import annotations

import math

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
