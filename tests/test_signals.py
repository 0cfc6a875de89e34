"""Signals and crashes leave nothing half-done (issue 13, part 3).

What is proved here:
- the kill matrix (:mod:`tests.killmatrix`): SIGTERM and SIGKILL of a 2-worker `simtrial run`
  and `simtrial batch` at 10 moments each (imports, each pool, the write phase, committed points;
  marked slow; three cells run by default): 5 s later no process of the command is alive, SIGTERM
  is one line 'terminated' and exit code 143, a new run folder is complete or absent, the batch
  manifest is never left "running" by SIGTERM, and the next command on the folder leaves no
  staging folder, temporary file or lock;
- pool workers die with their parent however it dies, through ``prctl`` and through the portable
  parent-watching thread;
- Ctrl-C while the engine is still being imported is one line 'interrupted', exit code 130;
- a run folder is complete with its manifest or absent; stale staging of dead processes is swept,
  a live process's staging is kept;
- nothing is written or deleted through a symbolic link, and a ``manifest.json`` folder is refused
  before anything is written (run and batch);
- batch: its own file names cannot name a scenario; write errors (full disk, read-only folder)
  are one line, exit code 2, and leave the manifest "failed"; an interrupted batch leaves it
  "interrupted", a killed one is reported by the next batch; ``--resume`` recomputes points whose
  files do not match the sha256 in their manifest.
Each test failed on the code before issue 13.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from simtrial.batch import MANIFEST, RESULTS, collect_points, point_finished, run_batch
from simtrial.cli import main
from simtrial.errors import SimtrialError

from tests import killmatrix as km

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="signals, /proc and process sessions: Linux")

SMALL = """\
name = "{name}"
seed = 5
n_trials = 200

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


def scenario(tmp_path: Path, name: str = "small") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(SMALL.format(name=name))
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# the kill matrix
# ---------------------------------------------------------------------------------------------

def check_cell(c: km.Cell) -> None:
    where = f"{c.command} {c.signal} at {c.point} ({c.at_s:.2f} s): {c}"
    assert c.alive == [], f"processes alive 5 s after {where}"
    if c.signal == "SIGKILL":
        assert c.rc == -signal.SIGKILL, where
    elif c.signal == "SIGTERM":
        # before the handler is installed (still importing) the default action ends it silently
        assert c.rc in (143, -signal.SIGTERM), where
        if c.rc == 143:
            assert c.stderr == "terminated" and c.stderr_lines == 1, where
    else:
        assert c.rc in (130, -signal.SIGINT), where
        if c.rc == 130:
            assert c.stderr == "interrupted" and c.stderr_lines == 1, where
    if c.command == "run":
        assert c.state in ("absent", "complete"), where      # never an empty or partial folder
    elif c.signal != "SIGKILL":
        assert c.state != "running", where
    assert c.next_rc == 0, where
    assert c.left == [], f"left after the next command: {where}"


FAST = [("run", signal.SIGKILL, km.POINTS["run"][2], None),
        ("run", signal.SIGTERM, ("write", "write", 0.0),
         ["run", f"scenarios/{km.RUN_SCENARIO}.toml", "--n-trials", "200", "--workers", "2",
          "--quiet"]),
        ("batch", signal.SIGTERM, km.POINTS["batch"][3], None)]


@pytest.mark.parametrize("command, sig, point, argv", FAST,
                         ids=[f"{c}-{s.name}-{p[0]}" for c, s, p, _ in FAST])
def test_kill_matrix_fast(command, sig, point, argv):
    c = km.run_cell(command, sig, point, argv=argv, next_argv=km.CHEAP_NEXT[command])
    assert c.signalled, f"the command ended before {point}: {c}"
    check_cell(c)
    if sig == signal.SIGTERM:
        assert c.rc == 143 and c.stderr == "terminated"


MATRIX = [(cmd, sig, pt) for cmd in ("run", "batch") for sig in (signal.SIGTERM, signal.SIGKILL)
          for pt in km.POINTS[cmd]]
MATRIX += [(cmd, signal.SIGINT, km.POINTS[cmd][3]) for cmd in ("run", "batch")]


@pytest.mark.slow
@pytest.mark.parametrize("command, sig, point", MATRIX,
                         ids=[f"{c}-{s.name}-{p[0]}" for c, s, p in MATRIX])
def test_kill_matrix(command, sig, point):
    check_cell(km.run_cell(command, sig, point, next_argv=km.CHEAP_NEXT[command]))


# ---------------------------------------------------------------------------------------------
# workers die with their parent
# ---------------------------------------------------------------------------------------------

POOL_PARENT = """\
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import simtrial._procs as procs
if sys.argv[1] == "thread":                # no prctl: the parent-watching thread
    procs._arm_pdeathsig = lambda: False
ex = ProcessPoolExecutor(2, initializer=procs.init_worker, initargs=(os.getpid(),))
futs = [ex.submit(time.sleep, 120) for _ in range(2)]
time.sleep(1.0)
print(" ".join(str(p) for p in ex._processes), flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["prctl", "thread"])
def test_pool_workers_die_with_their_killed_parent(how):
    proc = subprocess.Popen([sys.executable, "-c", POOL_PARENT, how], cwd=km.ROOT,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(km.session_processes(proc.pid))
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while km.session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert km.session_processes(proc.pid) == []
    finally:
        km.kill_session(proc.pid)
        proc.wait()
        proc.stdout.close()


def test_sigterm_is_held_while_workers_fork_and_never_lost():
    from simtrial._procs import Terminated, sigterm_deferred, sigterm_raises
    reached = []
    with pytest.raises(Terminated):
        with sigterm_raises():
            with sigterm_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)
                reached.append("end of the deferred block")
            reached.append("after it")
    assert reached == ["end of the deferred block"]

    class Finalized:
        def __del__(self):          # the handler runs in here: Python drops its exception
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(100_000))
    hook = sys.unraisablehook
    t0 = time.monotonic()
    with pytest.raises(Terminated):
        with sigterm_raises():
            Finalized()
            time.sleep(5)           # the signal comes again and ends this
    assert time.monotonic() - t0 < 2
    t0 = time.monotonic()
    with pytest.raises(Terminated):
        with sigterm_raises():
            try:                    # as Cython's module start-up does: the exception is cleared
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except BaseException:
                pass
            time.sleep(5)           # the signal comes again and ends this
    assert time.monotonic() - t0 < 2
    assert sys.unraisablehook is hook
    assert signal.getsignal(signal.SIGTERM).__name__ == "_default_action"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_sigterm_after_the_block_still_ends_the_process():
    """Restoring SIG_DFL itself would make Python drop a SIGTERM that arrived just before."""
    code = ("import os, signal, time\n"
            "from simtrial._procs import sigterm_raises\n"
            "with sigterm_raises():\n    pass\n"
            "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)\nprint('survived')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=km.ROOT, capture_output=True, text=True,
                       timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (-signal.SIGTERM, "", "")


# ---------------------------------------------------------------------------------------------
# Ctrl-C while importing
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loaded", ["pydantic_core", "_multiarray_umath"])
def test_ctrl_c_while_importing_is_one_line(loaded):
    """SIGINT once pydantic or numpy is being loaded (0.1-0.3 s after the start): before issue
    13 this was inside ``import simtrial``, ahead of the CLI's handler, and printed a traceback.
    (Not at the first Cython module, scipy's or pandas': Cython's start-up swallows an exception
    raised there, so that Ctrl-C is lost and the command runs on.)"""
    proc = subprocess.Popen([sys.executable, "-m", "simtrial", "validate",
                             "scenarios/t1d_hba1c_12m.toml"], cwd=km.ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/maps") as fh:
                    if loaded in fh.read():
                        break
            except OSError:
                pass
            time.sleep(0.002)
        assert proc.poll() is None, "validate ended before the import"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and one_line(err) == "interrupted", err


# ---------------------------------------------------------------------------------------------
# the run folder: complete or absent, stale staging swept, no links followed
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def result():
    from simtrial import load_scenario, run
    with tempfile.TemporaryDirectory() as tmp:
        return run(load_scenario(scenario(Path(tmp), "x")))


def _fail_on(monkeypatch, op: str, err: int, when=lambda *a: True):
    real = getattr(os, op)

    def failing(*args, **kw):
        if when(*args):
            raise OSError(err, os.strerror(err))
        return real(*args, **kw)
    monkeypatch.setattr(os, op, failing)


def test_a_failed_commit_leaves_no_new_folder(result, tmp_path, monkeypatch):
    from simtrial.present.files import write_run
    _fail_on(monkeypatch, "rename", errno.ENOSPC)
    with pytest.raises(SimtrialError, match=r"^usage error: cannot write '.*/o/x': No space "
                                            r"left on device$"):
        write_run(result, tmp_path / "o" / "x")
    assert list(tmp_path.iterdir()) == []          # not even the parent it created


def test_an_interrupted_commit_never_leaves_a_manifest_of_other_files(result, tmp_path,
                                                                      monkeypatch):
    from simtrial.present.files import write_run
    folder = tmp_path / "x"
    write_run(result, folder)
    calls = []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 2:                         # the second file of three
            raise KeyboardInterrupt
        return real(src, dst)
    real = os.replace
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_run(result, folder)
    assert not (folder / "manifest.json").exists()   # the folder no longer claims completeness
    assert [p.name for p in tmp_path.iterdir()] == ["x"]          # staging removed


def test_stale_staging_of_dead_processes_is_swept_live_ones_kept(result, tmp_path):
    from simtrial.io.outputs import staging_prefix
    from simtrial.present.files import write_run
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = staging_prefix("x")                   # .x.staging.<host>.<this pid>.
        host = me.split(".")[3]
        names = {"dead": f".x.staging.{host}.{dead.pid}.abcd1234",
                 "live": f".x.staging.{host}.{live.pid}.abcd1234",
                 "other_host": f".x.staging.elsewhere.{dead.pid}.abcd1234",
                 "other_run": f".y.staging.{host}.{dead.pid}.abcd1234"}
        for n in names.values():
            (tmp_path / n).mkdir()
            (tmp_path / n / "results.csv").write_text("half")
        write_run(result, tmp_path / "x")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted(["x", names["live"], names["other_host"], names["other_run"]])
    finally:
        live.kill()
        live.wait()


def test_symlinked_run_folder_is_refused(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "o"
    root.mkdir()
    (root / "small").symlink_to(elsewhere)
    assert main(["run", str(scenario(tmp_path)), "--out", str(root), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"usage error: '{root / 'small'}' is a symbolic link;"), line
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name", ["figures", "report.html", "results.csv"])
def test_symlink_inside_the_run_folder_is_refused_before_simulating(tmp_path, capsys, name):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.png").write_text("mine")
    folder = tmp_path / "o" / "small"
    folder.mkdir(parents=True)
    (folder / name).symlink_to(target if name == "figures" else target / "keep.png")
    t0 = time.perf_counter()
    assert main(["run", str(scenario(tmp_path)), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"'{folder / name}' is a symbolic link" in line
    assert (target / "keep.png").read_text() == "mine"
    assert sorted(p.name for p in folder.iterdir()) == [name]       # nothing written
    assert time.perf_counter() - t0 < 5


def test_manifest_folder_is_refused_before_anything_is_written(tmp_path, capsys):
    folder = tmp_path / "o" / "small"
    (folder / "manifest.json").mkdir(parents=True)
    (folder / "results.csv").write_text("an earlier run")
    assert main(["run", str(scenario(tmp_path)), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line == (f"usage error: '{folder / 'manifest.json'}' is a folder where simtrial "
                    "writes a file (remove it or choose another --out)")
    assert (folder / "results.csv").read_text() == "an earlier run"


# ---------------------------------------------------------------------------------------------
# batch
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["batch_results.csv", "batch_points.csv", "Batch_Manifest.json"])
def test_batch_refuses_a_scenario_named_like_its_own_files(tmp_path, capsys, name):
    out = tmp_path / "out"
    assert main(["batch", str(scenario(tmp_path, name)), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"batch error: scenario name '{name}' in "), line
    assert line.endswith("; rename the scenario")
    assert not out.exists()


@pytest.mark.parametrize("link", ["point", "manifest"])
def test_batch_refuses_links_and_folders_in_the_way(tmp_path, capsys, link):
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if link == "point":
        (out / "small").symlink_to(elsewhere)
        want = f"batch error: '{out / 'small'}' is a symbolic link;"
    else:
        (out / "small" / "manifest.json").mkdir(parents=True)
        want = f"batch error: '{out / 'small' / 'manifest.json'}' is a folder where"
    assert main(["batch", str(scenario(tmp_path)), "--out", str(out), "--quiet"]) == 2
    assert one_line(capsys.readouterr().err).startswith(want)
    assert list(elsewhere.iterdir()) == [] and not (out / MANIFEST).exists()


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
def test_batch_write_error_is_one_line_and_the_manifest_says_failed(tmp_path, capsys,
                                                                     monkeypatch, err):
    """A full disk or a read-only point folder (simulated: the tests may run as root)."""
    out = tmp_path / "out"
    point = str(out / "small")
    into_point = lambda src, dst, *a: str(dst).startswith(point)    # noqa: E731
    _fail_on(monkeypatch, "replace", err, into_point)
    _fail_on(monkeypatch, "rename", err, into_point)
    assert main(["batch", str(scenario(tmp_path)), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"batch error: cannot write '{point}': {os.strerror(err)}", line
    man = json.loads((out / MANIFEST).read_text())
    assert man["status"] == "failed" and man["error"] == line
    assert km.dot_entries(out) == []


def test_interrupted_batch_manifest_says_interrupted(tmp_path, monkeypatch):
    import simtrial.batch as batch

    def interrupted(point, command=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(batch, "run_point", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch(collect_points([scenario(tmp_path)]), out)
    man = json.loads((out / MANIFEST).read_text())
    assert man["status"] == "interrupted" and man["pid"] == os.getpid()
    assert km.dot_entries(out) == []


def test_next_batch_reports_a_killed_one(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"status": "running", "pid": 999999,
                                            "created_utc": "2026-01-02T03:04:05+00:00"}))
    assert main(["batch", str(scenario(tmp_path)), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert ("  note: the batch started here at 2026-01-02T03:04:05+00:00 (pid 999999) was killed "
            "before it finished (its manifest said running); recorded as interrupted") in text
    man = json.loads((out / MANIFEST).read_text())
    assert man["status"] == "complete"
    assert man["previous_run"] == {"status": "interrupted", "pid": 999999,
                                   "created_utc": "2026-01-02T03:04:05+00:00"}


def test_resume_recomputes_a_point_whose_files_do_not_match_their_hashes(tmp_path):
    import hashlib
    paths = [scenario(tmp_path, "a"), scenario(tmp_path, "b")]
    out = tmp_path / "out"
    run_batch(collect_points(paths), out)
    pts = collect_points(paths)
    good = (out / "a" / "results.csv").read_bytes()
    (out / "a" / "results.csv").write_bytes(good[: len(good) // 2])        # truncated
    assert [point_finished(out, p) for p in pts] == [False, True]
    r = run_batch(pts, out, resume=True)
    assert [o.resumed for o in r.outcomes] == [False, True]
    assert (out / "a" / "results.csv").read_bytes() == good
    table = (out / RESULTS).read_text()
    assert table.count("\na,") == good.decode().count("\n") - 1
    man = json.loads((out / "a" / "manifest.json").read_text())
    assert set(man["sha256"]) == {"results.csv", "power_curve.png"}
    for f, digest in man["sha256"].items():
        assert hashlib.sha256((out / "a" / f).read_bytes()).hexdigest() == digest
