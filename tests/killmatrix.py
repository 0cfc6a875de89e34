"""The kill matrix of issue 13: signal a 2-worker `simtrial run` / `simtrial batch` part way.

Each cell starts the command as ``python -m simtrial ...`` in a session of its own
(``start_new_session``), waits for a moment of the run (:data:`POINTS`: a time, the first pool
worker, the write phase, a committed design point), sends one signal to the simtrial process
only (not its group: the workers must go because their parent went), and records

- the exit code, the number of lines on stderr and the last one;
- the processes of the session still alive 5 s after the signal (read from ``/proc``: its
  session id is the simtrial process's pid; zombies do not count);
- the state of the output folder right after (run: ``complete`` with its manifest, ``absent``
  or ``no manifest``; batch: the status in ``batch_manifest.json``) and its staging folders;
- then runs the next command on the same folder and lists every ``.``-prefixed entry left in it
  (staging folders, temporary files, the batch lock).

Used by ``tests/test_signals.py`` (a few cells by default, all of them marked slow) and by
``benchmarks/signals.py`` (the table). Linux only (``/proc``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN_SCENARIO = "t1d_hba1c_12m_gsd"          # full kernel: one pool of 2 workers for ~2 s of 5 s
BATCH_SCENARIOS = ("t1d_hba1c_3m", "t2d_hba1c_3m", "t1d_hba1c_6m")

COMMANDS = {
    "run": ["run", f"scenarios/{RUN_SCENARIO}.toml", "--n-trials", "1000", "--workers", "2",
            "--quiet"],
    "batch": ["batch", *(f"scenarios/{s}.toml" for s in BATCH_SCENARIOS), "--n-trials", "500",
              "--workers", "2", "--quiet"],
}
#: the next command on the same folder: the same one (batch: resumed), or a cheap one that still
#: writes there (what the tests use)
NEXT = {"run": COMMANDS["run"], "batch": COMMANDS["batch"] + ["--resume"]}
CHEAP_NEXT = {"run": ["run", f"scenarios/{RUN_SCENARIO}.toml", "--n-trials", "200", "--workers",
                      "2", "--quiet"],
              "batch": ["batch", f"scenarios/{BATCH_SCENARIOS[0]}.toml", "--n-trials", "200",
                        "--quiet"]}

#: moments to signal at: (label, event, seconds after it). Events: "start" (the process
#: started), "workers" (first pool worker seen; a run keeps one pool for its whole search,
#: driver.pool_session), "pool2"/"pool3" (workers seen again after the previous pool ended),
#: "write" (run: a single process again for 0.1 s after the pools:
#: rendering), "point1".."point3" (that many point manifests written)
POINTS = {
    "run": [("imports", "start", 0.3), ("design", "start", 1.5), ("pool start", "workers", 0.0),
            ("pool +0.25 s", "workers", 0.25), ("pool", "workers", 0.5),
            ("pool +1 s", "workers", 1.0), ("pool +1.5 s", "workers", 1.5),
            ("write", "write", 0.0), ("write late", "write", 0.15), ("committed", "point1", 0.0)],
    "batch": [("imports", "start", 0.3), ("collect", "start", 1.5),
              ("workers start", "workers", 0.0), ("workers import", "workers", 1.0),
              ("points running", "workers", 2.0), ("1 committed", "point1", 0.0),
              ("1 committed +", "point1", 0.3), ("2 committed", "point2", 0.0),
              ("2 committed +", "point2", 0.3), ("3 committed", "point3", 0.0)],
}


@dataclass
class Cell:
    command: str
    signal: str
    point: str
    at_s: float = float("nan")          # seconds after start the signal was sent
    signalled: bool = False             # False: the command ended before the moment came
    rc: int | None = None
    stderr: str = ""                     # its last line
    stderr_lines: int = 0
    alive: list[str] = field(default_factory=list)     # 5 s after the signal
    state: str = ""                      # folder state right after
    staging: list[str] = field(default_factory=list)   # staging folders right after
    next_rc: int | None = None
    left: list[str] = field(default_factory=list)      # dot-entries after the next command


def session_processes(sid: int) -> list[str]:
    """``pid state command`` of every live (non-zombie) process in session ``sid``."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                stat = fh.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        found.append(f"{d} {fields[0]} {cmd[:90]}")
    return found


def _manifests(out: Path, command: str) -> int:
    if command == "run":
        return int((out / RUN_SCENARIO / "manifest.json").is_file())
    return sum((out / s / "manifest.json").is_file() for s in BATCH_SCENARIOS)


def folder_state(out: Path, command: str) -> str:
    if command == "run":
        d = out / RUN_SCENARIO
        if not d.exists():
            return "absent"
        try:
            man = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            return "no manifest"
        return "complete" if all((d / f).is_file() for f in man["files"]) else "incomplete"
    try:
        man = json.loads((out / "batch_manifest.json").read_text())
    except OSError:
        return "absent"
    except ValueError:
        return "unreadable"
    return str(man.get("status"))


def dot_entries(out: Path, dirs_only: bool = False) -> list[str]:
    """``.``-prefixed entries anywhere under ``out`` (relative paths)."""
    if not out.exists():
        return []
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*")
                  if not dirs_only or p.is_dir())


def _simtrial(argv: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "simtrial", *argv, "--out", str(out)]


def _env() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("SIMTRIAL_DEBUG", None)
    return env


def run_cell(command: str, sig: signal.Signals, point: tuple[str, str, float], *,
             argv: list[str] | None = None, next_argv: list[str] | None = None,
             grace: float = 5.0, timeout: float = 120.0) -> Cell:
    """One cell of the matrix in a fresh temporary output folder (removed afterwards);
    ``argv`` / ``next_argv`` replace :data:`COMMANDS` / :data:`NEXT` (without ``--out``)."""
    label, event, after = point
    cell = Cell(command, sig.name, label)
    with tempfile.TemporaryDirectory(prefix="simtrial-kill-") as tmp:
        out = Path(tmp) / "out"
        err = Path(tmp) / "stderr.txt"
        with open(err, "w") as fh:
            proc = subprocess.Popen(_simtrial(argv or COMMANDS[command], out), cwd=ROOT, env=_env(),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=fh, start_new_session=True)
        sid = proc.pid
        try:
            t0 = time.monotonic()
            seen = solo = None           # when workers were first seen / the pools ended
            pool = 3 if command == "batch" else 2        # batch: + multiprocessing's tracker
            pools, current = 0, set()    # pools started (all-new worker pids), their pids
            fire = t0 + after if event == "start" else None
            while proc.poll() is None and time.monotonic() - t0 < timeout:
                now = time.monotonic()
                if fire is None:
                    live = session_processes(sid)
                    n = len(live)
                    workers = {int(x.split()[0]) for x in live} - {sid}
                    if workers and not workers & current:
                        pools += 1
                    current = workers | (current if workers & current else set())
                    if n >= pool:
                        seen = seen or now
                        solo = None
                    elif n == 1 and seen is not None:
                        solo = solo or now
                    if event == "workers" and seen is not None:
                        fire = seen + after
                    elif event.startswith("pool") and pools >= int(event[4:]):
                        fire = now + after
                    elif event == "write" and solo is not None and now - solo >= 0.1:
                        fire = now + after
                    elif event.startswith("point") and _manifests(out, command) >= int(event[5:]):
                        fire = now + after
                if fire is not None and now >= fire:
                    cell.at_s = now - t0
                    os.kill(proc.pid, sig)
                    cell.signalled = True
                    break
                time.sleep(0.005)
            t_sig = time.monotonic()
            try:
                cell.rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                cell.rc = None
            while session_processes(sid) and time.monotonic() - t_sig < grace:
                time.sleep(0.05)
            cell.alive = session_processes(sid)
        finally:
            if proc.poll() is None or session_processes(sid):
                kill_session(sid)
                proc.wait()
        lines = err.read_text(errors="replace").strip().splitlines()
        cell.stderr = lines[-1] if lines else ""
        cell.stderr_lines = len(lines)
        cell.state = folder_state(out, command)
        cell.staging = dot_entries(out, dirs_only=True)
        nxt = subprocess.run(_simtrial(next_argv or NEXT[command], out), cwd=ROOT, env=_env(),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=600)
        cell.next_rc = nxt.returncode
        cell.left = dot_entries(out)
    return cell


def kill_session(sid: int) -> None:
    """SIGKILL what is left of a cell's session (its process group), so no test leaks it."""
    try:
        os.killpg(sid, signal.SIGKILL)
    except OSError:
        pass
