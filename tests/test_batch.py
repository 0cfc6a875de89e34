"""Batch runs and sweeps (simtrial.sweep, simtrial.batch, `simtrial batch`).

What is proved here:
- sweep expansion: exact design-point ids, order and values (hand-written), and every error
  message (pinned);
- determinism: the batch tables are byte-identical on 1 and 2 local processes and on a Dask
  LocalCluster started by the test, and each point equals a plain `simtrial run` of its scenario
  (an independent code path as the oracle);
- resume: a batch killed part way (SIGKILL of the process) and rerun with --resume gives the same
  files as an uninterrupted run, keeps the finished points untouched, and leaves no staging or
  temporary files; a simulated crash mid-commit is repaired the same way;
- failure isolation: a failing design point is recorded with its one-line error, the others
  finish, and the CLI exits with code 3;
- CLI errors: one line on stderr, exit code 2, no traceback, no output folder.
"""

from __future__ import annotations

import copy
import filecmp
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simtrial.batch import (LOCK, MANIFEST, PARQUET, POINTS, RESULTS, STAGING, collect_points,
                            point_finished, run_batch)
from simtrial.cli import main
from simtrial.errors import ScenarioError, SimtrialError
from simtrial.oc.run import run
from simtrial.sweep import expand, load_points

N_TRIALS = 300

BASE = {
    "name": "sw", "seed": 11, "n_trials": N_TRIALS,
    "population": {"preset": "t1d"},
    "endpoint": {"outcome": "hba1c", "visit_months": 12},
    "effect": {"source": "fixed", "md": -0.5},
    "design": {"n_per_arm": 20, "target_power": [0.8], "max_n_per_arm": 200},
}

SWEEP_TOML = """\
name = "sw"
seed = 11
n_trials = {n_trials}

[population]
preset = ["t1d", "t2d"]

[endpoint]
outcome = "hba1c"
visit_months = 12

[effect]
source = "fixed"
md = -0.5

[design]
n_per_arm = 20
target_power = [0.8]
max_n_per_arm = 200

[sweep]
"design.n_per_arm" = {ns}
"""

PLAIN_TOML = """\
name = "plain"
seed = 5
n_trials = 300

[population]
preset = "t2d"

[endpoint]
outcome = "hba1c"
visit_months = 6

[effect]
source = "fixed"
md = -0.4

[design]
n_per_arm = 30
target_power = [0.8]
max_n_per_arm = 200
"""


def data(**changes) -> dict:
    d = copy.deepcopy(BASE)
    for k, v in changes.items():
        node = d
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return d


def files(tmp_path: Path, ns=(10, 20)) -> list[Path]:
    a = tmp_path / "sw.toml"
    a.write_text(SWEEP_TOML.format(n_trials=N_TRIALS, ns=list(ns)))
    b = tmp_path / "plain.toml"
    b.write_text(PLAIN_TOML)
    return [a, b]


def leftovers(out: Path) -> list[str]:
    """Staging folders, temporary files and lock files anywhere under ``out``."""
    bad = []
    for p in out.rglob("*"):
        if p.name in (STAGING, LOCK) or p.name.endswith(".tmp") or p.name.startswith("."):
            bad.append(str(p.relative_to(out)))
    return bad


# ---------------------------------------------------------------------------------------------
# sweep expansion
# ---------------------------------------------------------------------------------------------

def test_inline_and_table_sweeps_expand_to_the_grid_in_order():
    d = data(**{"population.preset": ["t1d", "t2d"]})
    d["sweep"] = {"design": {"n_per_arm": [20, 40, 80]}}      # TOML: design.n_per_arm = [...]
    pts = expand(d)
    assert [p.id for p in pts] == [
        "sw/preset=t1d,n_per_arm=20", "sw/preset=t1d,n_per_arm=40", "sw/preset=t1d,n_per_arm=80",
        "sw/preset=t2d,n_per_arm=20", "sw/preset=t2d,n_per_arm=40", "sw/preset=t2d,n_per_arm=80"]
    assert [p.folder for p in pts] == [p.id for p in pts]
    assert [(p.scenario.population.preset, p.scenario.design.n_per_arm) for p in pts] == [
        ("t1d", 20), ("t1d", 40), ("t1d", 80), ("t2d", 20), ("t2d", 40), ("t2d", 80)]
    assert pts[4].values == (("population.preset", "t2d"), ("design.n_per_arm", 40))
    assert pts[4].value_text() == {"population.preset": "t2d", "design.n_per_arm": "40"}
    # common random numbers: every point keeps the scenario's seed
    assert {p.scenario.seed for p in pts} == {11}
    assert {p.scenario.name for p in pts} == {"sw"}
    assert len({p.scenario.hash() for p in pts}) == 6


def test_list_valued_keys_are_not_sweeps_but_lists_of_lists_are():
    one = expand(data(**{"design.target_power": [0.8, 0.9]}))
    assert [p.id for p in one] == ["sw"]
    assert one[0].scenario.design.target_power == (0.8, 0.9)
    assert one[0].values == ()
    pts = expand(data(**{"design.n_grid": [[10, 20], [40, 80]]}))
    assert [p.id for p in pts] == ["sw/n_grid=[10,20]", "sw/n_grid=[40,80]"]
    assert [p.folder for p in pts] == ["sw/n_grid=_10,20_", "sw/n_grid=_40,80_"]
    assert pts[1].scenario.design.n_grid == (40, 80)


def test_cases_are_linked_and_crossed_with_the_grid():
    d = data()
    d["sweep"] = {"design.n_per_arm": [20, 40],
                  "cases": [{"population": {"preset": "t1d"}, "effect.md": -0.9},
                            {"population.preset": "t2d", "effect.md": -0.3}]}
    pts = expand(d)
    assert [p.id for p in pts] == [
        "sw/n_per_arm=20,preset=t1d,md=-0.9", "sw/n_per_arm=20,preset=t2d,md=-0.3",
        "sw/n_per_arm=40,preset=t1d,md=-0.9", "sw/n_per_arm=40,preset=t2d,md=-0.3"]
    assert [(p.scenario.population.preset, p.scenario.effect.md) for p in pts] == [
        ("t1d", -0.9), ("t2d", -0.3), ("t1d", -0.9), ("t2d", -0.3)]


def test_shared_last_key_parts_use_the_full_dotted_key():
    d = data()
    d["sweep"] = {"population.age.sd": [8.0, 12.0], "population.hba1c.sd": [1.0],
                  "design.alpha": [0.05]}
    pts = expand(d)
    assert [p.id for p in pts] == ["sw/population.age.sd=8.0,population.hba1c.sd=1.0,alpha=0.05",
                                   "sw/population.age.sd=12.0,population.hba1c.sd=1.0,alpha=0.05"]
    assert pts[1].scenario.population.marginals["age"]["sd"] == 12.0


def test_a_scenario_without_sweep_is_one_point_named_after_it():
    (p,) = expand(data(), origin="some/where/sw.toml")
    assert (p.id, p.folder, p.values, p.source) == ("sw", "sw", (), "some/where/sw.toml")


def test_swept_seed_gives_independent_replicates():
    pts = expand(data(seed=[1, 2]))
    assert [p.id for p in pts] == ["sw/seed=1", "sw/seed=2"]
    assert [p.scenario.seed for p in pts] == [1, 2]


@pytest.mark.parametrize("sweep, match", [
    ({"design.n_per_arm": 20}, r"^scenario error: sweep\.design\.n_per_arm = 20 must be a list of "
                               r"the values to sweep "
                               r"\(e\.g\. \"design\.n_per_arm\" = \[20, \.\.\.\]\)$"),
    ({"design.n_per_arm": []}, r"^scenario error: sweep\.design\.n_per_arm = \[\] must list at "
                               r"least one value"),
    ({"design.n_per_arm": [20, 40, 20]}, r"^scenario error: sweep\.design\.n_per_arm = "
                                         r"\[20, 40, 20\] lists 20 twice; each value makes one "
                                         r"design point$"),
    ({"name": ["a", "b"]}, r"^scenario error: sweep\.name cannot be swept"),
    ({"design.n_per_am": [20, 40]}, r"^scenario error: design point sw/n_per_am=20: "
                                    r"design\.n_per_am is not a known key \(did you mean "
                                    r"n_per_arm\?\)"),
    ({"design.n_per_arm": [20, 1]}, r"^scenario error: design point sw/n_per_arm=1: "
                                    r"design\.n_per_arm = 1 must be >= 2"),
    ({"cases": []}, r"^scenario error: sweep\.cases = \[\] must be a list of tables"),
    ({"cases": [{}]}, r"^scenario error: sweep\.cases\[0\] is empty"),
    ({"cases": [{"effect.md": -1.0}, {"effect.md": -1.0}]},
     r"^scenario error: sweep\.cases\[1\] repeats sweep\.cases\[0\]"),
    ({"effect.md": [-1.0], "cases": [{"effect.md": -0.5}]},
     r"^scenario error: sweep\.cases\[0\]\.effect\.md is also a swept key"),
    ({"design": [1, 2]}, r"^scenario error: design point sw/design=1: design = 1 must be a "
                         r"table"),
    ({"population.preset.x": ["a"]}, r"^scenario error: sweep\.population\.preset\.x cannot be "
                                     r"set: population\.preset is = \"t1d\", not a table"),
])
def test_sweep_errors_are_one_line_and_name_the_key(sweep, match):
    d = data()
    d["sweep"] = sweep
    with pytest.raises(ScenarioError, match=match) as exc:
        expand(d)
    assert "\n" not in str(exc.value)


def test_sweep_errors_swept_twice_and_through_arrays_and_too_many_points():
    d = data(**{"design.n_per_arm": [20, 40]})
    d["sweep"] = {"design.n_per_arm": [10]}
    with pytest.raises(ScenarioError, match=r"^scenario error: design\.n_per_arm is swept inline "
                                            r"and in \[sweep\]; give its values once$"):
        expand(d)
    d = data(arms=[{"name": "low", "ratio": 1.0}, {"name": "high", "ratio": 1.0}])
    d["sweep"] = {"arms.ratio": [1.0, 2.0]}
    with pytest.raises(ScenarioError, match=r"^scenario error: sweep\.arms\.ratio cannot be set: "
                                            r"arms is a list of tables, not a table; sweep the "
                                            r"whole arms"):
        expand(d)
    d = data()
    d["sweep"] = {"effect.md": [-x / 1000 for x in range(1, 1001)],
                  "design.n_per_arm": list(range(2, 203))}
    with pytest.raises(ScenarioError, match=r"^scenario error: the sweep gives 201,000 design "
                                            r"points; at most 100,000 per file"):
        expand(d)
    d = data()
    d["sweep"] = 3
    with pytest.raises(ScenarioError, match=r"^scenario error: sweep = 3 must be a table of "
                                            r"dotted key = \[values\]"):
        expand(d)


def test_file_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(SWEEP_TOML.format(n_trials=N_TRIALS, ns=[20, 0]))
    with pytest.raises(ScenarioError, match=r"^scenario error: bad\.toml: design point "
                                            r"sw/preset=t1d,n_per_arm=0: design\.n_per_arm = 0 "
                                            r"must be >= 2"):
        load_points(p)


def test_collect_points_folders_duplicates_and_overrides(tmp_path):
    a, b = files(tmp_path)
    pts = collect_points([tmp_path])                       # folder: *.toml sorted by name
    assert [p.id for p in pts] == ["plain", "sw/preset=t1d,n_per_arm=10",
                                   "sw/preset=t1d,n_per_arm=20", "sw/preset=t2d,n_per_arm=10",
                                   "sw/preset=t2d,n_per_arm=20"]
    assert [p.id for p in collect_points([a, b, a])][-1] == "plain"     # a file given twice
    over = collect_points([a], n_trials=50, seed=3)
    assert {(p.scenario.n_trials, p.scenario.seed) for p in over} == {(50, 3)}
    c = tmp_path / "sub"
    c.mkdir()
    (c / "again.toml").write_text(PLAIN_TOML)
    with pytest.raises(SimtrialError, match=r"^batch error: scenario name 'plain' is used by "
                                            r".*plain\.toml and .*again\.toml; names must be "
                                            r"unique in a batch"):
        collect_points([b, c])
    with pytest.raises(SimtrialError, match=r"^usage error: '.*nope' does not exist"):
        collect_points([tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SimtrialError, match=r"^usage error: folder '.*empty' has no \*\.toml"):
        collect_points([empty])
    d = tmp_path / "seeds.toml"
    d.write_text(PLAIN_TOML.replace("seed = 5", "seed = [5, 6]"))
    with pytest.raises(SimtrialError, match=r"^usage error: --seed = 1 would override seed, which "
                                            r".*seeds\.toml sweeps"):
        collect_points([d], seed=1)


# ---------------------------------------------------------------------------------------------
# determinism across executors
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    root = tmp_path_factory.mktemp("serial")
    paths = files(root)
    res = run_batch(collect_points(paths), root / "out", workers=1)
    return root, paths, res


def test_serial_batch_writes_the_documented_files(serial):
    root, paths, res = serial
    out = root / "out"
    assert res.n_failed == 0
    table = pd.read_csv(out / RESULTS, dtype=str, keep_default_na=False)
    assert list(table.columns[:3]) == ["point", "population.preset", "design.n_per_arm"]
    assert list(dict.fromkeys(table["point"])) == [
        "sw/preset=t1d,n_per_arm=10", "sw/preset=t1d,n_per_arm=20", "sw/preset=t2d,n_per_arm=10",
        "sw/preset=t2d,n_per_arm=20", "plain"]
    assert set(table.loc[table["point"] == "plain", "design.n_per_arm"]) == {""}
    points = pd.read_csv(out / POINTS, dtype=str, keep_default_na=False)
    assert list(points["status"]) == ["ok"] * 5 and set(points["error"]) == {""}
    for p in res.points:
        folder = out / p.folder
        assert sorted(x.name for x in folder.iterdir()) == ["manifest.json", "power_curve.png",
                                                            "results.csv"]
        man = json.loads((folder / "manifest.json").read_text())
        assert man["scenario_hash"] == p.scenario.hash() and man["seed"] == p.scenario.seed
        assert man["batch_point"]["id"] == p.id
        assert point_finished(out, p)
    bm = json.loads((out / MANIFEST).read_text())
    assert (bm["status"], bm["n_points"], bm["n_ok"], bm["n_failed"]) == ("complete", 5, 5, 0)
    assert leftovers(out) == []
    # every simulated probability travels with its MC SE
    power = table[(table["table"] == "design") & (table["metric"] == "power")]
    assert len(power) == 5 and (power["mc_se"].astype(float) > 0).all()


def test_each_point_equals_a_plain_run_of_its_scenario(serial):
    """Oracle: `runner.run` of the point's scenario, outside the batch machinery."""
    root, paths, res = serial
    table = pd.read_csv(root / "out" / RESULTS, dtype=str, keep_default_na=False)
    for p in (res.points[1], res.points[4]):
        direct = run(p.scenario).to_frame()
        text = direct.to_csv(index=False, float_format="%.10g", lineterminator="\n")
        mine = table[table["point"] == p.id].drop(columns=["point", "population.preset",
                                                           "design.n_per_arm"])
        assert mine.to_csv(index=False, lineterminator="\n") == text


def _same_outputs(a: Path, b: Path, points) -> None:
    for name in (RESULTS, POINTS):
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    for p in points:
        assert filecmp.cmp(a / p.folder / "results.csv", b / p.folder / "results.csv",
                           shallow=False), p.id
    if (a / PARQUET).exists():
        pd.testing.assert_frame_equal(pd.read_parquet(a / PARQUET), pd.read_parquet(b / PARQUET))
        pd.testing.assert_frame_equal(pd.read_parquet(a / PARQUET),
                                      pd.read_csv(a / RESULTS), check_dtype=False)


def test_two_local_workers_give_byte_identical_tables(serial, tmp_path):
    root, paths, res = serial
    res2 = run_batch(collect_points(paths), tmp_path / "out", workers=2)
    assert res2.executor == "local processes x2" and res2.n_failed == 0
    _same_outputs(root / "out", tmp_path / "out", res.points)
    assert leftovers(tmp_path / "out") == []


def test_dask_local_cluster_gives_byte_identical_tables(serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, paths, res = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        res3 = run_batch(collect_points(paths), tmp_path / "out", scheduler=addr)
    assert res3.executor == f"dask {addr}" and res3.n_failed == 0
    _same_outputs(root / "out", tmp_path / "out", res.points)
    assert leftovers(tmp_path / "out") == []


def test_unreachable_scheduler_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    pts = collect_points(files(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(SimtrialError, match=r"^usage error: --scheduler = 'tcp://127\.0\.0\.1:9': "
                                            r"no Dask scheduler reachable within 1 s"):
        run_batch(pts, tmp_path / "out", scheduler="tcp://127.0.0.1:9", scheduler_timeout=1)
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# resume and failures
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_killed_batch_resumes_to_the_same_files(tmp_path):
    ns = [10, 12, 14, 16]      # 8 points
    sw = tmp_path / "sw.toml"
    sw.write_text(SWEEP_TOML.format(n_trials=300, ns=ns))
    pts = load_points(sw)
    assert run_batch(pts, tmp_path / "full").n_failed == 0       # uninterrupted
    cmd = [sys.executable, "-m", "simtrial", "batch", str(sw), "--workers", "1", "--quiet"]
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    done: list[Path] = []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = list(out.glob("sw/*/manifest.json"))
            if len(done) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the batch finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("sw/*/manifest.json")}
    assert 2 <= len(finished) < len(ns) * 2
    assert not (out / RESULTS).exists()                   # no table of an unfinished batch
    resumed = subprocess.run(cmd + ["--out", str(out), "--resume"], capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _same_outputs(tmp_path / "full", out, pts)
    assert {p: p.stat().st_mtime_ns for p in finished} == finished   # not recomputed
    bm = json.loads((out / MANIFEST).read_text())
    assert bm["n_resumed"] == len(finished) and bm["n_ok"] == len(pts)
    assert leftovers(out) == []


def test_resume_repairs_a_crash_mid_commit(serial, tmp_path):
    root, paths, res = serial
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)          # a finished batch (copying keeps mtimes)
    pts = res.points
    # what a crash can leave: staging files, half-renamed point, temp table, stale manifests
    (out / STAGING / "p1").mkdir(parents=True)
    (out / STAGING / "p1" / "results.csv").write_text("partial")
    (out / f".{RESULTS}.abc123.tmp").write_text("partial")
    (out / pts[0].folder / "manifest.json").unlink()                 # renamed data, no manifest
    man = json.loads((out / pts[2].folder / "manifest.json").read_text())
    man["seed"] = 999                                                # another design's result
    (out / pts[2].folder / "manifest.json").write_text(json.dumps(man))
    (out / pts[3].folder / "power_curve.png").unlink()               # a listed file is missing
    keep = {p.id: (out / p.folder / "manifest.json").stat().st_mtime_ns
            for p in (pts[1], pts[4])}
    assert [point_finished(out, p) for p in pts] == [False, True, False, False, True]
    r = run_batch(collect_points(paths), out, resume=True)
    assert [o.resumed for o in r.outcomes] == [False, True, False, False, True]
    assert keep == {p.id: (out / p.folder / "manifest.json").stat().st_mtime_ns
                    for p in (pts[1], pts[4])}
    _same_outputs(root / "out", out, pts)
    assert leftovers(out) == []


def test_without_resume_everything_is_recomputed(serial, tmp_path):
    root, paths, res = serial
    out = tmp_path / "out"
    plain = paths[1:]
    run_batch(collect_points(plain), out)
    before = (out / "plain" / "manifest.json").stat().st_mtime_ns
    r = run_batch(collect_points(plain), out)
    assert not any(o.resumed for o in r.outcomes)
    assert (out / "plain" / "manifest.json").stat().st_mtime_ns != before
    r = run_batch(collect_points(plain, n_trials=200), out, resume=True)   # manifest differs
    assert not any(o.resumed for o in r.outcomes)
    r = run_batch(collect_points(plain, n_trials=200), out, resume=True)
    assert all(o.resumed for o in r.outcomes)


def test_a_failing_point_is_recorded_and_the_others_finish(tmp_path, capsys):
    d = data()
    # sd_change 0.01 passes validation but is below sd*sqrt(1-rho^2): build_model fails
    d["sweep"] = {"outcome_model.sd_change": [1.1, 0.01, 1.3]}
    p = tmp_path / "fail.toml"
    p.write_text(_toml(d))
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        code = main(["batch", str(p), "--out", str(out), "--workers", workers,
                     "--n-trials", "200"])
        captured = capsys.readouterr()
        assert code == 3
        assert "FAILED: scenario error: outcome_model.sd_change = 0.01 is too small" in captured.out
        points = pd.read_csv(out / POINTS, dtype=str, keep_default_na=False)
        assert list(points["status"]) == ["ok", "failed", "ok"]
        assert points["error"][1].startswith("scenario error: outcome_model.sd_change = 0.01 is "
                                             "too small for baseline SD")
        table = pd.read_csv(out / RESULTS, dtype=str, keep_default_na=False)
        assert list(dict.fromkeys(table["point"])) == ["sw/sd_change=1.1", "sw/sd_change=1.3"]
        assert not (out / "sw" / "sd_change=0.01").exists()
        bm = json.loads((out / MANIFEST).read_text())
        assert (bm["status"], bm["n_failed"]) == ("complete_with_failures", 1)
    assert filecmp.cmp(tmp_path / "out1" / RESULTS, tmp_path / "out2" / RESULTS, shallow=False)


def _toml(d: dict) -> str:
    """Minimal TOML writer for the test dicts (tables, strings, numbers, lists)."""
    def val(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)
    lines = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f'"{kk}" = {val(vv)}' for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def test_progress_bar_and_lock(tmp_path, capsys):
    pts = collect_points(files(tmp_path)[1:])
    run_batch(pts, tmp_path / "out", progress=True)
    err = capsys.readouterr().err
    assert "batch" in err and "1/1" in err and "point" in err
    fcntl = pytest.importorskip("fcntl")
    with open(tmp_path / "out" / LOCK, "w") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SimtrialError, match=r"^batch error: another simtrial batch is "
                                                r"writing to '.*out'; wait for it or use "
                                                r"another --out$"):
            run_batch(pts, tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def test_cli_batch_runs_and_prints_a_summary(tmp_path, capsys):
    a, b = files(tmp_path)
    out = tmp_path / "o"
    assert main(["batch", str(a), str(b), "--out", str(out), "--n-trials", "200"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("batch     5 design points: 5 ok (0 resumed), "
                                           "0 failed; executor serial;")
    assert "sw/preset=t2d,n_per_arm=20" in text and "power " in text and "MC SE" in text
    assert f"wrote     {out / RESULTS}" in text
    assert set(pd.read_csv(out / POINTS)["n_trials"]) == {200}


@pytest.mark.parametrize("args, match", [
    (["batch", "{tmp}/nope.toml"], r"^usage error: '.*nope\.toml' does not exist"),
    (["batch", "{sw}", "--scheduler", "not an address"],
     r"^usage error: --scheduler = 'not an address' must be a Dask scheduler address "
     r"\[tcp://\]host\[:port\] \(e\.g\. tcp://10\.0\.0\.5:8786\)$"),
    (["batch", "{sw}", "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"],
     r"^usage error: --workers is not used with --scheduler"),
    (["batch", "{sw}", "--workers", "0"], r"^usage error: simtrial batch: argument --workers: "
                                          r"--workers = 0 must be >= 1"),
    (["batch", "{bad}"], r"^scenario error: bad\.toml: design point sw/preset=t1d,n_per_arm=1: "
                         r"design\.n_per_arm = 1 must be >= 2"),
    (["batch"], r"^usage error: simtrial batch: the following arguments are required: PATH"),
    (["run", "{sw}"], r"^scenario error: .*sw\.toml is a sweep of 4 design points; run it with: "
                      r"simtrial batch .*sw\.toml$"),
])
def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, args, match):
    a, _ = files(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(SWEEP_TOML.format(n_trials=N_TRIALS, ns=[10, 1]))
    argv = [x.format(tmp=tmp_path, sw=a, bad=bad) for x in args] + ["--out", str(tmp_path / "o")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(match, err.strip()), err
    assert not (tmp_path / "o").exists()


def test_shipped_sweep_scenario_expands():
    root = Path(__file__).resolve().parents[1]
    path = root / "scenarios" / "sweep_t1d_t2d_hba1c_n.toml"
    assert path.read_text().startswith("# Question:")
    pts = load_points(path)
    assert len(pts) == 16
    assert pts[0].id == "sweep_t1d_t2d_hba1c_n/preset=t1d,n_per_arm=10,distribution=point"
    assert {p.scenario.effect.population for p in pts} == {"T1DM", "T2DM"}
    assert {p.scenario.seed for p in pts} == {20261122}
