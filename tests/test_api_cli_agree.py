"""The Python API and the CLI are one path: for every shipped scenario they return the same
numbers (power at the design N), and sample size and run agree on plain and design scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import simtrial
from simtrial.cli import main
import simtrial.io.outputs
from simtrial.errors import ScenarioError
from simtrial.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "scenarios").glob("*.toml"))


def _single(path: Path) -> bool:
    try:
        load_scenario(path)
        return True
    except ScenarioError:          # a sweep file (several design points): simtrial batch
        return False


SINGLE = [p for p in SHIPPED if _single(p)]


def _cli_json(capsys, *argv) -> dict:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def _same(a, b):
    """Equal JSON data (NaN written as null by the CLI)."""
    return json.loads(json.dumps(simtrial.io.outputs.to_jsonable(a))) == b


def test_every_single_scenario_file_is_covered():
    assert len(SINGLE) >= 30 and len(SHIPPED) - len(SINGLE) <= 2


@pytest.mark.parametrize("path", SINGLE, ids=[p.stem for p in SINGLE])
def test_power_from_python_and_cli_is_the_same(path, capsys):
    api = simtrial.power(load_scenario(path), n_trials=150, seed=4242).to_dict()
    cli = _cli_json(capsys, "power", path, "--n-trials", "150", "--seed", "4242", "--json")
    assert _same(api, cli)


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["t1d_hba1c_12m", "t1d_hba1c_12m_gsd"])
def test_sample_size_from_python_and_cli_is_the_same(stem, capsys):
    path = ROOT / "scenarios" / f"{stem}.toml"
    api = simtrial.sample_size(load_scenario(path), 0.8, n_trials=300, seed=7).to_dict()
    cli = _cli_json(capsys, "sample-size", path, "--target-power", "0.8", "--n-trials", "300",
                    "--seed", "7", "--json")
    assert _same(api, cli)
    assert api["reached"] and api["n_per_arm"] >= 2


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["t1d_hba1c_12m_predictive", "t1d_three_arm_dose_12m"])
def test_run_from_python_and_cli_write_the_same_table(stem, tmp_path, capsys):
    import pandas as pd
    path = ROOT / "scenarios" / f"{stem}.toml"
    res = simtrial.run(load_scenario(path), n_trials=200, seed=11)
    capsys.readouterr()
    assert main(["run", str(path), "--n-trials", "200", "--seed", "11", "--out", str(tmp_path),
                 "--quiet"]) == 0
    on_disk = pd.read_csv(tmp_path / stem / "results.csv")
    mine = pd.read_csv(__import__("io").StringIO(res.to_frame().to_csv(index=False,
                                                                        float_format="%.10g")))
    pd.testing.assert_frame_equal(on_disk, mine)
