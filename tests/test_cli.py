"""Tests for the ``simtrial`` command line (simtrial.cli.main, in-process, plus one subprocess).

Project rules under test: bad input -> exactly one line on stderr naming the key path / option
and the value, exit code 2, no traceback, no output files; good input -> the documented files and
JSON, reproducible from the seed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simtrial import __version__
from simtrial.cli import main
from simtrial.scenario import load_scenario, parse_scenario

N_TRIALS = "400"

GOOD_TOML = """\
name = "cli_t1d"
description = "CLI test scenario"
seed = 20261122
n_trials = 10000

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
target_power = [0.8]
"""


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def good(tmp_path) -> Path:
    return write(tmp_path, GOOD_TOML)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, out: str, err: str, *fragments: str) -> None:
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.endswith("\n") and len(err.splitlines()) == 1, repr(err)
    for f in fragments:
        assert f in err, (f, err)
    assert out == "", out


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

BAD_FILES = {
    "malformed-toml": ('name = "x"\n[design\nn_per_arm = 20\n',
                       ["scenario error: scenario.toml is not valid TOML"]),
    "unknown-key": (GOOD_TOML.replace("n_trials = 10000", "n_trails = 10000"),
                    ["n_trails is not a known key", "did you mean n_trials?"]),
    "unknown-nested-key": (GOOD_TOML.replace("n_per_arm = 20", "n_per_am = 20"),
                           ["design.n_per_am is not a known key", "did you mean n_per_arm?"]),
    "wrong-type": (GOOD_TOML.replace("n_per_arm = 20", 'n_per_arm = "40"'),
                   ['design.n_per_arm = "40" must be an integer']),
    "out-of-range": (GOOD_TOML.replace("[design]", "[design]\nalpha = 0.7"),
                     ["design.alpha = 0.7 must be < 0.5"]),
    "bad-choice": (GOOD_TOML.replace('outcome = "hba1c"', 'outcome = "hba1C"'),
                   ['endpoint.outcome = "hba1C" must be one of', 'did you mean "hba1c"?']),
    "missing-evidence-row": (
        GOOD_TOML.replace('outcome = "hba1c"', 'outcome = "insulin_dose"')
                 .replace("visit_months = 12", "visit_months = 3")
                 .replace('source = "fixed"\nmd = -0.5', 'source = "evidence"\npopulation = "T1DM"'),
        ["evidence error: no evidence row", '"insulin_dose"', "visit_months = 3", '"T1DM"',
         "effect.population"]),
    "not-positive-definite": (
        GOOD_TOML.replace('preset = "t1d"', 'preset = "t1d"\n[population.correlation]\n'
                          '"hba1c,fbg" = 0.99\n"hba1c,ppbg" = 0.99\n"fbg,ppbg" = -0.99'),
        ["population.correlation", "not positive definite"]),
    "msc-arm-of-1": (GOOD_TOML.replace("n_per_arm = 20", "n_per_arm = 10\nallocation_ratio = 0.1"),
                     ["design.allocation_ratio = 0.1 gives an MSC arm of 1"]),
}

COMMANDS = {
    "run": lambda sc, tmp: ["run", sc, "--n-trials", N_TRIALS, "--out", tmp / "o"],
    "power": lambda sc, tmp: ["power", sc, "--n-trials", N_TRIALS, "--json"],
    "sample-size": lambda sc, tmp: ["sample-size", sc, "--target-power", "0.8", "--json"],
    "validate": lambda sc, tmp: ["validate", sc],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_scenario_file(tmp_path, capsys, case, command):
    text, fragments = BAD_FILES[case]
    sc = write(tmp_path, text)
    rc, out, err = run_cli(capsys, *COMMANDS[command](sc, tmp_path))
    assert_one_line_error(rc, out, err, *fragments)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_nonexistent_scenario_file(tmp_path, capsys, command):
    missing = tmp_path / "missing.toml"
    rc, out, err = run_cli(capsys, *COMMANDS[command](missing, tmp_path))
    assert_one_line_error(rc, out, err, "scenario error: file", str(missing), "does not exist")
    assert not (tmp_path / "o").exists()


def test_scenario_path_is_a_folder(tmp_path, capsys):
    rc, out, err = run_cli(capsys, "validate", tmp_path)
    assert_one_line_error(rc, out, err, str(tmp_path), "is a folder")


BAD_OPTIONS = {
    "n-trials-0": (["run", "{sc}", "--n-trials", "0", "--out", "{out}"], ["--n-trials = 0", ">= 1"]),
    "n-trials-abc": (["run", "{sc}", "--n-trials", "abc", "--out", "{out}"],
                     ["--n-trials = 'abc'", "must be an integer"]),
    "n-trials-0-power": (["power", "{sc}", "--n-trials", "0"], ["--n-trials = 0"]),
    "seed-negative": (["run", "{sc}", "--seed", "-1", "--out", "{out}"], ["--seed = -1", ">= 0"]),
    "seed-abc": (["power", "{sc}", "--seed", "abc"], ["--seed = 'abc'"]),
    "workers-0": (["run", "{sc}", "--workers", "0", "--out", "{out}"], ["--workers = 0"]),
    "target-power-1.5": (["sample-size", "{sc}", "--target-power", "1.5"],
                         ["--target-power = 1.5", "(0, 1)"]),
    "target-power-abc": (["sample-size", "{sc}", "--target-power", "abc"], ["--target-power = 'abc'"]),
    "target-power-missing": (["sample-size", "{sc}"], ["--target-power", "required"]),
    "n-per-arm-1": (["power", "{sc}", "--n-per-arm", "1"], ["--n-per-arm = 1", ">= 2"]),
    "n-per-arm-huge": (["power", "{sc}", "--n-per-arm", "200000"], ["--n-per-arm = 200000"]),
    "unknown-option-run": (["run", "{sc}", "--bogus", "--out", "{out}"],
                           ["unrecognized arguments: --bogus"]),
    "unknown-option-power": (["power", "{sc}", "--n-per-arms", "40"],
                             ["unrecognized arguments: --n-per-arms"]),
    "option-of-other-command": (["run", "{sc}", "--target-power", "0.8", "--out", "{out}"],
                                ["unrecognized arguments: --target-power"]),
    "unknown-command": (["frobnicate", "{sc}"], ["invalid choice: 'frobnicate'"]),
    "missing-scenario": (["power"], ["SCENARIO.toml"]),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_option(good, tmp_path, capsys, case):
    argv, fragments = BAD_OPTIONS[case]
    argv = [a.format(sc=good, out=tmp_path / "o") for a in argv]
    rc, out, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, out, err, *fragments)
    assert err.startswith("usage error: ")
    assert not (tmp_path / "o").exists()


def test_n_per_arm_giving_msc_arm_of_one(tmp_path, capsys):
    sc = write(tmp_path, GOOD_TOML.replace("[design]", "[design]\nallocation_ratio = 0.5"))
    rc, out, err = run_cli(capsys, "power", sc, "--n-per-arm", "2", "--n-trials", N_TRIALS)
    assert_one_line_error(rc, out, err, "--n-per-arm = 2 gives an MSC arm of 1",
                          "design.allocation_ratio = 0.5")


def test_run_out_is_a_file(good, tmp_path, capsys):
    out_file = tmp_path / "o"
    out_file.write_text("not a folder")
    rc, out, err = run_cli(capsys, "run", good, "--n-trials", N_TRIALS, "--out", out_file)
    assert_one_line_error(rc, out, err, f"--out = {str(out_file)!r}", "is not a folder")
    assert out_file.read_text() == "not a folder"


def test_run_out_scenario_folder_is_a_file(good, tmp_path, capsys):
    root = tmp_path / "o"
    root.mkdir()
    (root / "cli_t1d").write_text("in the way")
    rc, out, err = run_cli(capsys, "run", good, "--n-trials", N_TRIALS, "--out", root)
    assert_one_line_error(rc, out, err, f"--out = {str(root)!r}", "cli_t1d", "is not a folder")
    assert sorted(p.name for p in root.iterdir()) == ["cli_t1d"]


def test_run_out_below_a_file(good, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = run_cli(capsys, "run", good, "--n-trials", N_TRIALS, "--out", blocker / "sub")
    assert_one_line_error(rc, out, err, "--out", str(blocker), "is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "scenario.toml"]


def test_no_command_prints_help_and_exits_2(capsys):
    rc, out, err = run_cli(capsys)
    assert rc == 2
    assert "usage: simtrial" in out and "Traceback" not in err


def test_subprocess_console_script_bad_input(tmp_path):
    """The installed entry points give the same one line and exit code 2."""
    sc = write(tmp_path, GOOD_TOML.replace("n_trials = 10000", "n_trails = 10000"))
    exe = shutil.which("simtrial") or str(Path(sys.executable).with_name("simtrial"))
    commands = [[sys.executable, "-m", "simtrial"]]
    if os.path.exists(exe):
        commands.insert(0, [exe])
    env = {k: v for k, v in os.environ.items() if k != "SIMTRIAL_DEBUG"}
    for cmd in commands:
        proc = subprocess.run(cmd + ["run", str(sc), "--out", str(tmp_path / "o")],
                              capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert proc.returncode == 2, (cmd, proc.stderr)
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr
        assert proc.stderr.splitlines() == [
            "scenario error: n_trails is not a known key (did you mean n_trials?); allowed here: "
            "name, description, seed, n_trials, population, endpoint, effect, design, outcome_model, "
            "arms, endpoints, dropout, multiplicity, sequential, conduct, safety, "
            "bayes, adaptive"]
        assert not (tmp_path / "o").exists()
        assert not (tmp_path / "outputs").exists()


# --------------------------------------------------------------------------------------------
# good input
# --------------------------------------------------------------------------------------------

TIDY_COLUMNS = ["table", "scenario", "design_point", "n_per_arm", "hypothesis", "endpoint", "arm",
                "visit", "metric", "estimate", "mc_se", "q10", "q90"]


def test_run_writes_outputs(good, tmp_path, capsys):
    root = tmp_path / "o"
    argv = ["run", str(good), "--n-trials", N_TRIALS, "--out", str(root), "--quiet"]
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    assert "Traceback" not in err
    folder = root / "cli_t1d"
    assert sorted(p.name for p in root.iterdir()) == ["cli_t1d"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "power_curve.png",
                                                        "results.csv"]
    assert not [p for p in root.rglob(".*")], "leftover temporary files"
    assert "scenario  cli_t1d" in out and "wrote" in out and "results.csv" in out

    with (folder / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert list(rows[0]) == TIDY_COLUMNS         # the one schema of every scenario
    assert {r["table"] for r in rows} == {"design", "power_curve", "sample_size"}
    assert {r["scenario"] for r in rows} == {"cli_t1d"}
    assert {(r["endpoint"], r["arm"], r["visit"]) for r in rows
            if r["hypothesis"] == "primary" and r["table"] != "sample_size"} == {
        ("primary", "MSC", "12")}
    design = {r["metric"]: r for r in rows if r["table"] == "design"}
    assert design["power"]["design_point"] == "n_per_arm=20"
    p = float(design["power"]["estimate"])
    assert 0.0 < p < 1.0
    assert float(design["power"]["mc_se"]) == pytest.approx(math.sqrt(p * (1 - p) / 400), rel=1e-8)
    assert float(design["true_effect"]["estimate"]) == pytest.approx(-0.5)
    assert any(r["metric"] == "sample_size" for r in rows if r["table"] == "sample_size")

    man = json.loads((folder / "manifest.json").read_text())
    for key in ("seed", "simtrial_version", "evidence_version", "scenario_hash", "timings_s",
                "scenario"):
        assert key in man, key
    assert man["seed"] == 20261122
    assert man["n_trials"] == 400
    assert man["simtrial_version"] == __version__
    assert isinstance(man["evidence_version"], str) and man["evidence_version"]
    assert man["scenario"]["n_trials"] == 400          # the --n-trials override is recorded
    expected = load_scenario(good).replace(n_trials=400)
    assert man["scenario"] == json.loads(json.dumps(expected.to_dict()))
    assert man["scenario_hash"] == expected.hash() == parse_scenario(man["scenario"]).hash()
    assert all(isinstance(v, (int, float)) and v >= 0 for v in man["timings_s"].values())
    assert "total" in man["timings_s"]
    assert man["command"] == ["simtrial"] + argv
    assert (folder / "power_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_twice_overwrites_cleanly(good, tmp_path, capsys):
    root = tmp_path / "o"
    for _ in range(2):
        rc, _, err = run_cli(capsys, "run", good, "--n-trials", "200", "--out", root, "--quiet")
        assert rc == 0, err
    assert sorted(p.name for p in (root / "cli_t1d").iterdir()) == [
        "manifest.json", "power_curve.png", "results.csv"]


POWER_KEYS = ("power", "mc_se", "ci_low", "ci_high", "n_per_arm", "n_trials", "mean_estimate",
              "sd_estimate", "analytic_power")


def power_json(capsys, *argv) -> dict:
    rc, out, err = run_cli(capsys, "power", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def test_power_json(good, capsys):
    res = power_json(capsys, good, "--n-trials", N_TRIALS, "--n-per-arm", "30")
    for key in POWER_KEYS:
        assert key in res, key
    assert res["n_per_arm"] == 30 and res["n_msc"] == 30 and res["n_trials"] == 400
    p = res["power"]
    assert 0.0 < p < 1.0
    assert res["ci_low"] <= p <= res["ci_high"]
    assert abs(res["mc_se"] - math.sqrt(p * (1 - p) / 400)) <= 1e-12
    assert round(p * 400) == pytest.approx(p * 400, abs=1e-9)   # a proportion of 400 trials
    assert res["true_effect"] == pytest.approx(-0.5)
    assert res["mean_estimate"] == pytest.approx(-0.5, abs=5 * res["sd_estimate"] / math.sqrt(400))
    assert res["sd_estimate"] > 0
    assert 0.0 < res["analytic_power"] < 1.0
    assert abs(p - res["analytic_power"]) < 5 * max(res["mc_se"], 0.01)
    assert res["seed"] == 20261122


def test_power_default_n_is_design_n(good, capsys):
    res = power_json(capsys, good, "--n-trials", N_TRIALS)
    assert res["n_per_arm"] == 20


def test_power_text(good, capsys):
    rc, out, err = run_cli(capsys, "power", good, "--n-trials", N_TRIALS)
    assert rc == 0, err
    assert "cli_t1d" in out and "power" in out and "closed form" in out


def test_power_same_seed_is_reproducible(good, capsys):
    a = power_json(capsys, good, "--n-trials", N_TRIALS)
    b = power_json(capsys, good, "--n-trials", N_TRIALS)
    timing = {"elapsed_s"}
    assert {k: v for k, v in a.items() if k not in timing} == \
           {k: v for k, v in b.items() if k not in timing}


def test_power_seed_changes_numbers(good, capsys):
    a = power_json(capsys, good, "--n-trials", N_TRIALS)
    b = power_json(capsys, good, "--n-trials", N_TRIALS, "--seed", "1")
    assert b["seed"] == 1 and a["seed"] == 20261122
    assert (a["power"], a["mean_estimate"], a["sd_estimate"]) != \
           (b["power"], b["mean_estimate"], b["sd_estimate"])
    assert a["analytic_power"] == b["analytic_power"]        # the closed form has no seed


def test_sample_size_json(good, capsys):
    rc, out, err = run_cli(capsys, "sample-size", good, "--target-power", "0.8", "--n-trials",
                           N_TRIALS, "--json")
    assert rc == 0, err
    res = json.loads(out)
    for key in ("n_per_arm", "power", "mc_se", "analytic_n_per_arm"):
        assert key in res, key
    assert res["reached"] is True and res["target_power"] == 0.8
    n, p = res["n_per_arm"], res["power"]
    assert isinstance(n, int) and 2 <= n <= res["searched_max"]
    assert p >= 0.8
    assert abs(res["mc_se"] - math.sqrt(p * (1 - p) / 400)) <= 1e-12
    assert isinstance(res["analytic_n_per_arm"], int)
    assert abs(n - res["analytic_n_per_arm"]) <= 0.3 * res["analytic_n_per_arm"]


def test_evidence_json(capsys):
    rc, out, err = run_cli(capsys, "evidence", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert isinstance(data["evidence_version"], str) and data["evidence_version"]
    rows = data["rows"]
    assert len(rows) > 10
    for row in rows:
        for key in ("id", "md", "se", "flag"):
            assert key in row, (key, row)
        assert isinstance(row["md"], (int, float)) and row["se"] > 0
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert "k25seed_hba1c_12m_t1dm" in ids


def test_evidence_text(capsys):
    rc, out, err = run_cli(capsys, "evidence")
    assert rc == 0, err
    assert out.startswith("evidence version ") and "k25seed_hba1c_12m_t1dm" in out


def test_validate(good, capsys):
    rc, out, err = run_cli(capsys, "validate", good)
    assert rc == 0, err
    assert out.splitlines()[0] == f"{good}: valid"
    assert load_scenario(good).hash()[:12] in out


def test_validate_json(good, capsys):
    rc, out, err = run_cli(capsys, "validate", good, "--json")
    assert rc == 0, err
    data = json.loads(out)
    sc = load_scenario(good)
    assert data["scenario_hash"] == sc.hash()
    assert data["scenario"]["name"] == "cli_t1d"
    assert data["model"]["endpoint"]["md"] == pytest.approx(-0.5)


def test_version(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.strip() == f"simtrial {__version__}"
