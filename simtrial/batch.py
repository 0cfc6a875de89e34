"""Batch runs: many scenarios and sweeps through one executor, one tidy table.

``run_batch(points, out_dir, ...)`` runs every design point (:mod:`simtrial.sweep`) as one task:
:func:`simtrial.oc.run.run` with one process, then :func:`simtrial.present.files.render_run` in
memory. The task returns the files' bytes and the batch process alone writes to ``out_dir``, so a
cluster needs no shared file system and a killed batch never leaves half a file.
Tasks go to any :class:`concurrent.futures.Executor`: in-process for one worker, a local process
pool (spawned processes) for several, or Dask distributed (``Client(address).get_executor()``) for
a cluster: the same code path whatever runs the tasks.

Output folder::

    OUT/batch_results.csv        every design point's results.csv rows, with id and sweep columns
    OUT/batch_results.parquet    the same table, typed (only if pyarrow is installed)
    OUT/batch_points.csv         one row per design point: folder, hash, seed, status, error
    OUT/batch_manifest.json      inputs, versions, executor, per-point status and timings
    OUT/<name>/                  a scenario without a sweep (as `simtrial run` writes it)
    OUT/<name>/<key=value,...>/  a swept design point: results.csv, power_curve.png, manifest.json

The tables are sorted by input file (as given; a folder's ``*.toml`` sorted by name), then sweep
order, and carry no timing or host columns, so they are byte-identical for any number of workers,
any executor, and for a resumed run. Numbers are reproducible because each point uses its
scenario's seed (:mod:`simtrial.sweep`) and ``run`` does not depend on how trials are chunked
across processes.

Reliability: every file is written to a temporary name and renamed into place; a point's
``manifest.json`` is renamed last, so a point folder with a manifest is complete, and it records
the sha256 of every other file. With ``resume=True`` a point is skipped if its manifest matches
(scenario hash, seed, number of trials, simtrial and evidence versions) and every file it lists
has the recorded hash; the rest are computed, and stale temporary files of a killed run are
removed. A point that fails is recorded (status and one-line error in ``batch_points.csv``) and
the others go on. Anything else that stops the batch (a folder that cannot be written, Ctrl-C,
SIGTERM) stops the worker processes and leaves ``batch_manifest.json`` at status ``failed`` or
``interrupted``, never ``running``; only a SIGKILL can leave ``running``, and the next batch in
the folder reports that run as interrupted. Worker processes die with the batch process, however
it dies (:mod:`simtrial._procs`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ._procs import Terminated, init_worker, sigterm_deferred, stop_pool
from .errors import SimtrialError
from .sweep import DesignPoint, load_points

__all__ = ["BatchResult", "PointOutcome", "collect_points", "run_batch", "run_point",
           "local_executor", "dask_executor", "point_finished", "EXIT_POINT_FAILED",
           "RESULTS", "PARQUET", "POINTS", "MANIFEST", "STAGING", "LOCK", "RESERVED"]

RESULTS = "batch_results.csv"
PARQUET = "batch_results.parquet"
POINTS = "batch_points.csv"
MANIFEST = "batch_manifest.json"
STAGING = ".simtrial-staging"
LOCK = ".simtrial-batch.lock"
#: exit code of `simtrial batch` when some design points failed (the others are written)
EXIT_POINT_FAILED = 3
#: manifest fields that must match for `--resume` to keep a finished point
MATCH_KEYS = ("scenario_hash", "seed", "n_trials", "simtrial_version", "evidence_version")
#: names the batch itself uses in its folder: no scenario may take one for its output folder
RESERVED = (RESULTS, PARQUET, POINTS, MANIFEST, STAGING, LOCK)
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|inproc|ucx|ws|wss)://)?"
                      r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?/?$")


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------

def collect_points(paths: Sequence[str | Path], *, n_trials: int | None = None,
                   seed: int | None = None) -> tuple[DesignPoint, ...]:
    """Expand scenario files and folders into the batch's design points.

    Parameters
    ----------
    paths : sequence of path
        Scenario/sweep files, or folders (every ``*.toml`` inside, sorted by name). A file given
        twice is used once.
    n_trials, seed : int, optional
        Override every point's (an error if the key is itself swept).

    Returns
    -------
    tuple of DesignPoint
        Files in the order given, each file's points in sweep order.

    Raises
    ------
    SimtrialError
        Missing path, folder without scenarios, invalid file or design point, two files with the
        same scenario name (it names the output folder).
    """
    if not paths:
        raise SimtrialError("usage error: simtrial batch needs at least one scenario file or "
                            "folder (e.g. simtrial batch scenarios/)")
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(x for x in p.glob("*.toml") if x.is_file())
            if not found:
                raise SimtrialError(f"usage error: folder {str(p)!r} has no *.toml scenario files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise SimtrialError(f"usage error: {str(p)!r} does not exist (give scenario files or "
                                "folders, e.g. scenarios/)")
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    points: list[DesignPoint] = []
    owner: dict[str, str] = {}
    for f in unique:
        pts = load_points(f)
        name = pts[0].scenario.name
        if name in owner:
            raise SimtrialError(f"batch error: scenario name {name!r} is used by {owner[name]} and "
                                f"{f}; names must be unique in a batch (they name the output "
                                "folders)")
        owner[name] = str(f)
        changes: dict[str, int] = {}
        for key, value, opt in (("seed", seed, "--seed"), ("n_trials", n_trials, "--n-trials")):
            if value is None:
                continue
            if any(k == key for p in pts for k, _ in p.values):
                raise SimtrialError(f"usage error: {opt} = {value} would override {key}, which "
                                    f"{f} sweeps; drop {opt} or the sweep of {key}")
            changes[key] = value
        if changes:
            pts = tuple(DesignPoint(p.id, p.folder, p.scenario.replace(**changes), p.values,
                                    p.source) for p in pts)
        points.extend(pts)
    return tuple(points)


# ---------------------------------------------------------------------------------------------
# the task
# ---------------------------------------------------------------------------------------------

def run_point(point: DesignPoint, command: list[str] | None = None) -> dict[str, Any]:
    """Run one design point and render its files in memory.

    This is the unit of work sent to an executor; it never raises for a failing point, and it
    writes nothing to disk (a worker killed mid-task leaves nothing behind).

    Returns
    -------
    dict
        ``ok`` (bool), ``files`` (file name -> bytes, manifest.json last) or ``error`` (one line),
        ``seconds`` (wall time of the task).
    """
    from .oc.run import run
    from .present.files import render_run

    t0 = time.perf_counter()
    try:
        res = run(point.scenario, workers=1, progress=False)
        files = render_run(res, command=command)
        man = json.loads(files.pop("manifest.json").decode("utf-8"))
        man["batch_point"] = {"id": point.id, "folder": point.folder,
                              "sweep": point.value_text()}
        files["manifest.json"] = (json.dumps(man, indent=2) + "\n").encode()
        return {"ok": True, "files": files, "seconds": time.perf_counter() - t0}
    except SimtrialError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"ok": False, "error": msg, "seconds": time.perf_counter() - t0}
    except Exception as exc:     # an internal bug in one point must not stop the others
        text = " ".join(str(exc).split()) or "no message"
        return {"ok": False, "error": f"internal error: {type(exc).__name__}: {text}",
                "seconds": time.perf_counter() - t0}


def _versions() -> tuple[str, str]:
    """(simtrial version, evidence version) of this process."""
    from . import __version__
    from .model.evidence import evidence_version
    return __version__, evidence_version()


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------

def local_executor(workers: int) -> cf.Executor | None:
    """``None`` (run in this process) for one worker, else a pool of ``workers`` spawned
    processes (spawn: no state inherited from a multi-threaded parent, same on every OS) that
    die with this process (:func:`simtrial._procs.init_worker`)."""
    import multiprocessing as mp
    if workers <= 1:
        return None
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                  initializer=init_worker, initargs=(os.getpid(),))


@contextlib.contextmanager
def dask_executor(address: str, *, timeout: float = 10.0) -> Iterator[cf.Executor]:
    """Connect to a Dask distributed scheduler and yield a ``concurrent.futures`` executor.

    The workers must have simtrial (same version and evidence table) installed; this is checked.

    Raises
    ------
    SimtrialError
        Malformed address, dask.distributed not installed, no scheduler reachable within
        ``timeout`` seconds, or workers with another simtrial.
    """
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise SimtrialError(f"usage error: --scheduler = {address!r} must be a Dask scheduler "
                            "address [tcp://]host[:port] (e.g. tcp://10.0.0.5:8786)")
    try:
        from distributed import Client
    except ImportError:
        raise SimtrialError("usage error: --scheduler needs dask.distributed; install it with "
                            "pip install 'simtrial[cluster]'") from None
    try:
        client = Client(address.strip(), timeout=timeout, set_as_default=False)
    except Exception as exc:
        why = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise SimtrialError(f"usage error: --scheduler = {address!r}: no Dask scheduler reachable "
                            f"within {timeout:g} s ({why}); start one with: dask scheduler"
                            ) from None
    try:
        mine = _versions()
        try:
            theirs = client.run(_versions)
        except Exception as exc:
            raise SimtrialError(f"batch error: Dask workers at {address} cannot run simtrial "
                                f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); "
                                "install simtrial on every worker") from None
        for worker, v in sorted(theirs.items()):
            if tuple(v) != mine:
                raise SimtrialError(f"batch error: Dask worker {worker} has simtrial {v[0]} / "
                                    f"evidence {v[1]}, this process {mine[0]} / {mine[1]}; "
                                    "install the same simtrial on every worker")
        yield client.get_executor(pure=False)
    finally:
        client.close()


def _execute(todo: Sequence[DesignPoint], executor: cf.Executor | None,
             command: list[str] | None) -> Iterator[tuple[DesignPoint, dict[str, Any]]]:
    """Yield (point, task result) as tasks finish."""
    if executor is None:
        for p in todo:
            yield p, run_point(p, command)
        return
    with sigterm_deferred():            # submit() spawns the local workers
        futures = {executor.submit(run_point, p, command): p for p in todo}
    try:
        for fut in cf.as_completed(futures):
            p = futures[fut]
            try:
                r = fut.result()
            except Exception as exc:     # the worker died (not the point's own error)
                text = " ".join(str(exc).split())[:200] or "no message"
                r = {"ok": False, "error": f"worker error: {type(exc).__name__}: {text}",
                     "seconds": float("nan")}
            yield p, r
    finally:
        for fut in futures:
            fut.cancel()


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PointOutcome:
    """What happened to one design point in this batch run."""

    id: str
    folder: str
    status: str                  # "ok" | "failed"
    error: str = ""
    resumed: bool = False        # finished by an earlier run (manifest matched)
    seconds: float = float("nan")


@dataclass(frozen=True)
class BatchResult:
    """A finished batch.

    Attributes
    ----------
    out_dir : Path
    points : tuple of DesignPoint
        In table order.
    outcomes : tuple of PointOutcome
        Same order.
    table : pandas.DataFrame
        ``batch_results.csv`` as written (all columns text): ``point``, one column per swept key
        (dotted name, e.g. ``design.n_per_arm``), then the columns of each point's results.csv
        (``table, scenario, design_point, endpoint, ..., metric, estimate, mc_se``).
    files : dict
        Name -> path of the batch files written.
    timings : dict
        Seconds.
    executor : str
    previous : str
        One line if the folder's manifest said an earlier batch was still ``running`` (it was
        killed): that run was interrupted.
    """

    out_dir: Path
    points: tuple[DesignPoint, ...]
    outcomes: tuple[PointOutcome, ...]
    table: Any
    files: dict[str, Path]
    timings: dict[str, float] = field(default_factory=dict)
    executor: str = "serial"
    previous: str = ""           # what became of an earlier batch in the folder, if it was cut off

    @property
    def n_failed(self) -> int:
        return sum(o.status != "ok" for o in self.outcomes)

    @property
    def n_resumed(self) -> int:
        return sum(o.resumed for o in self.outcomes)

    def summary(self, max_points: int = 40, failures_only: bool = False) -> str:
        """Readable summary: counts, then one line per point (power at the design N and its
        MC SE, or the error), at most ``max_points`` lines (only failed points if
        ``failures_only``)."""
        n = len(self.points)
        lines = [f"batch     {n} design point{'s' * (n != 1)}: {n - self.n_failed} ok "
                 f"({self.n_resumed} resumed), {self.n_failed} failed; executor {self.executor}; "
                 f"{self.timings.get('total', float('nan')):.1f} s"]
        if self.previous:
            lines.append(f"  note: {self.previous}")
        headline: dict[str, list[str]] = {}
        t = self.table
        if len(t):
            d = t[(t["table"] == "design") & t["metric"].isin(["power", "assurance"])]
            for (pid, metric), g in d.groupby(["point", "metric"], sort=False):
                headline.setdefault(pid, []).append(
                    f"{metric} {float(g['estimate'].iloc[0]):.4f} "
                    f"(MC SE {float(g['mc_se'].iloc[0]):.4f})")
        width = min(max((len(p.id) for p in self.points), default=0), 70)
        shown = [(p, o) for p, o in zip(self.points, self.outcomes)
                 if o.status != "ok" or not failures_only]
        for i, (p, o) in enumerate(shown):
            if i == max_points:
                lines.append(f"  ... {len(shown) - max_points} more in {POINTS}")
                break
            if o.status == "ok":
                shown_m = headline.get(p.id, ["ok"])
                if p.scenario.effect.distribution == "point":   # assurance = power there
                    shown_m = [m for m in shown_m if not m.startswith("assurance")] or ["ok"]
                lines.append(f"  {p.id:<{width}}  {', '.join(shown_m)}")
            else:
                lines.append(f"  {p.id:<{width}}  FAILED: {o.error}")
        return "\n".join(lines)


def point_finished(out_dir: str | Path, point: DesignPoint,
                   versions: tuple[str, str] | None = None) -> bool:
    """True if ``out_dir/point.folder`` holds a complete result of exactly this design point:
    its manifest matches on :data:`MATCH_KEYS` and every other file it lists has the sha256 the
    manifest records (a truncated or edited file, or a manifest without hashes, is redone)."""
    folder = Path(out_dir) / point.folder
    try:
        man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    sim_v, ev_v = versions or _versions()
    want = {"scenario_hash": point.scenario.hash(), "seed": point.scenario.seed,
            "n_trials": point.scenario.n_trials, "simtrial_version": sim_v,
            "evidence_version": ev_v}
    if not isinstance(man, dict) or any(man.get(k) != v for k, v in want.items()):
        return False
    files, sums = man.get("files"), man.get("sha256")
    if not isinstance(files, list) or not isinstance(sums, dict):
        return False
    for f in files:
        if f == "manifest.json":
            continue
        try:
            digest = hashlib.sha256((folder / str(f)).read_bytes()).hexdigest()
        except (OSError, TypeError):
            return False
        if sums.get(f) != digest:
            return False
    return True


def _commit(out: Path, point: DesignPoint, files: dict[str, bytes]) -> None:
    """Write a point's files into its folder, as `simtrial run` does
    (:func:`simtrial.present.files.commit_run`: manifest.json last), staged in ``out``."""
    from .present.files import commit_run
    commit_run(out / point.folder, files, stage_dir=out / STAGING, prefix="batch error")


def _clean_stale(out: Path) -> None:
    """Remove what a killed batch may have left: the staging folder and temporary files."""
    shutil.rmtree(out / STAGING, ignore_errors=True)
    for name in (RESULTS, PARQUET, POINTS, MANIFEST):
        for tmp in out.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _sweep_columns(points: Sequence[DesignPoint]) -> list[str]:
    return list(dict.fromkeys(k for p in points for k, _ in p.values))


def _assemble(out: Path, points: Sequence[DesignPoint], outcomes: Sequence[PointOutcome]):
    """The batch table from the points' results.csv files on disk (text, as written)."""
    import pandas as pd
    cols = _sweep_columns(points)
    frames = []
    for p, o in zip(points, outcomes):
        if o.status != "ok":
            continue
        df = pd.read_csv(out / p.folder / "results.csv", dtype=str, keep_default_na=False)
        vt = p.value_text()
        front = pd.DataFrame({"point": [p.id] * len(df),
                              **{c: [vt.get(c, "")] * len(df) for c in cols}})
        frames.append(pd.concat([front, df], axis=1))
    if not frames:
        return pd.DataFrame(columns=["point"] + cols)
    table = pd.concat(frames, ignore_index=True, sort=False)
    return table.fillna("")


def _points_table(points: Sequence[DesignPoint], outcomes: Sequence[PointOutcome]):
    import pandas as pd
    cols = _sweep_columns(points)
    rows = []
    for p, o in zip(points, outcomes):
        vt = p.value_text()
        rows.append({"point": p.id, "source": Path(p.source).as_posix() if p.source else "",
                     "scenario": p.scenario.name, "folder": p.folder,
                     **{c: vt.get(c, "") for c in cols},
                     "scenario_hash": p.scenario.hash(), "seed": str(p.scenario.seed),
                     "n_trials": str(p.scenario.n_trials), "status": o.status, "error": o.error})
    return pd.DataFrame(rows, columns=["point", "source", "scenario", "folder", *cols,
                                       "scenario_hash", "seed", "n_trials", "status", "error"])


def _csv_text(df) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def _write_parquet(path: Path, csv_text: str) -> bool:
    """Typed copy of the table as Parquet, if pyarrow is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    import pandas as pd
    from .io.outputs import atomic_write
    df = pd.read_csv(io.StringIO(csv_text))
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False, engine="pyarrow"))
    return True


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Refuse a second batch writing to the same folder (released by the OS if killed)."""
    path = out / LOCK
    with _writing(path):
        fh = open(path, "a+")
    try:
        try:
            import fcntl
        except ImportError:      # no advisory locks (Windows): run unguarded
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise SimtrialError(f"batch error: another simtrial batch is writing to "
                                    f"{str(out)!r}; wait for it or use another --out") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    finally:
        fh.close()


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing ``path`` (read-only folder, full disk) into one line."""
    try:
        yield
    except OSError as exc:
        raise SimtrialError(f"batch error: cannot write {str(path)!r}: "
                            f"{exc.strerror or exc}") from None


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SimtrialError(f"usage error: --out = {str(out)!r} exists and is not a folder")
    p = out
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise SimtrialError(f"usage error: --out = {str(out)!r}: {str(p)!r} exists and is not a "
                            "folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise SimtrialError(f"usage error: --out = {str(out)!r}: folder {str(p)!r} is not writable")


def _check_targets(out: Path, pts: Sequence[DesignPoint]) -> None:
    """Refuse, before anything runs, point names the batch uses itself and folders it would
    write through a link or into a non-folder (:func:`simtrial.io.outputs.check_target`)."""
    from .io.outputs import check_target
    from .present.files import check_run_folder
    reserved = {n.lower(): n for n in RESERVED}
    for p in pts:
        top = p.folder.split("/")[0]
        if top.lower() in reserved:
            where = f" in {Path(p.source).as_posix()}" if p.source else ""
            raise SimtrialError(f"batch error: scenario name {top!r}{where} is the name of the "
                                f"batch's own {reserved[top.lower()]}; rename the scenario")
    check_target(out, [RESULTS, PARQUET, POINTS, MANIFEST, LOCK], [STAGING], below=out,
                 prefix="batch error")
    for p in pts:
        check_run_folder(out / p.folder, below=out, prefix="batch error")


def _reason(exc: BaseException) -> str:
    """One line for the manifest of a batch that stopped on ``exc``."""
    if isinstance(exc, SimtrialError):
        return (str(exc).splitlines() or [type(exc).__name__])[0]
    text = " ".join(str(exc).split())[:200]
    return f"internal error: {type(exc).__name__}: {text}" if text else type(exc).__name__


def _interrupted_before(out: Path) -> dict[str, Any] | None:
    """The earlier batch whose manifest still says ``running``. This process holds the folder's
    lock, so the process that wrote it is gone: it was killed (SIGKILL, power loss)."""
    try:
        old = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or old.get("status") != "running":
        return None
    return {"status": "interrupted", "pid": old.get("pid"), "created_utc": old.get("created_utc")}


def _finish(out: Path, man: dict[str, Any], status: str, error: str) -> None:
    """Best effort: record how the batch ended. If even that cannot be written (a full disk),
    remove the ``running`` manifest rather than leave it claiming a live batch."""
    from .io.outputs import write_json
    man.update(status=status, error=error,
               ended_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    try:
        write_json(out / MANIFEST, man)
    except OSError:
        with contextlib.suppress(OSError):
            (out / MANIFEST).unlink(missing_ok=True)


def _file_sha256(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# the batch
# ---------------------------------------------------------------------------------------------

def run_batch(points: Sequence[DesignPoint] | Sequence[str | Path], out_dir: str | Path, *,
              workers: int = 1, executor: cf.Executor | None = None,
              scheduler: str | None = None, resume: bool = False, progress: bool = False,
              command: list[str] | None = None, scheduler_timeout: float = 10.0) -> BatchResult:
    """Run every design point and write the batch folder.

    Parameters
    ----------
    points : sequence of DesignPoint, or of scenario paths
        Paths are expanded with :func:`collect_points`.
    out_dir : path
        Batch folder (created).
    workers : int
        Local processes when neither ``executor`` nor ``scheduler`` is given (1 = in-process).
    executor : concurrent.futures.Executor, optional
        Any executor (not shut down here); tasks are :func:`run_point` calls.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``); see :func:`dask_executor`.
    resume : bool
        Keep finished points whose manifest matches (:func:`point_finished`).
    progress : bool
        Progress bar with ETA on stderr.
    command : list of str, optional
        Recorded in the manifests.

    Returns
    -------
    BatchResult
        ``n_failed`` > 0 if some points failed; their errors are in ``outcomes`` and
        ``batch_points.csv``.

    Notes
    -----
    The result files do not depend on ``workers``, ``executor`` or ``resume``: each point is
    computed by the same :func:`run_point` with its own seed, and the table is assembled from the
    points' files in input order.
    """
    t0 = time.perf_counter()
    if workers < 1:
        raise SimtrialError(f"usage error: --workers = {workers} must be >= 1")
    if executor is not None and scheduler is not None:
        raise SimtrialError("usage error: give an executor or a scheduler address, not both")
    pts = tuple(points)
    if not pts or not isinstance(pts[0], DesignPoint):
        pts = collect_points(pts)
    ids = [p.id for p in pts]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise SimtrialError(f"batch error: design point {dup!r} appears twice; names must be "
                            "unique in a batch")
    folders = [p.folder.lower() for p in pts]
    for i, f in enumerate(folders):
        clash = [j for j, g in enumerate(folders) if j != i and
                 (g == f or g.startswith(f + "/") or f.startswith(g + "/"))]
        if clash:
            other = pts[clash[0]].id
            raise SimtrialError(f"batch error: design points {pts[i].id!r} and {other!r} would "
                                "share an output folder; rename one scenario")
    out = Path(out_dir)
    _check_out(out)
    _check_targets(out, pts)
    with contextlib.ExitStack() as stack:
        owned = None
        if scheduler is not None:
            executor = stack.enter_context(dask_executor(scheduler, timeout=scheduler_timeout))
            kind = f"dask {scheduler}"
        elif executor is None:
            owned = executor = local_executor(workers)
            kind = "serial" if executor is None else f"local processes x{workers}"
        else:
            kind = type(executor).__name__
        try:
            res = _run(pts, out, executor, kind, resume, progress, command, t0)
        except BaseException:
            if owned is not None:       # the points still running are not wanted
                stop_pool(owned)
            raise
        if owned is not None:
            owned.shutdown(wait=True)
    return res


def _run(pts, out: Path, executor, kind: str, resume: bool, progress: bool, command, t0
         ) -> BatchResult:
    from tqdm import tqdm

    from .io.outputs import atomic_write_text, to_jsonable, write_json
    with _writing(out):
        out.mkdir(parents=True, exist_ok=True)
    versions = _versions()
    with _lock(out):
        previous = _interrupted_before(out)
        _clean_stale(out)
        man = {"simtrial_version": versions[0], "evidence_version": versions[1],
               "status": "running", "pid": os.getpid(),
               "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "command": command if command is not None else sys.argv,
               "executor": kind, "resume": resume,
               "inputs": [{"path": s, "sha256": _file_sha256(s)}
                          for s in dict.fromkeys(p.source for p in pts) if s],
               "n_points": len(pts)}
        if previous is not None:
            man["previous_run"] = previous
        try:
            for name in (RESULTS, PARQUET, POINTS):     # never leave a table of another batch
                with _writing(out / name):
                    (out / name).unlink(missing_ok=True)
            with _writing(out / MANIFEST):
                write_json(out / MANIFEST, man)
            outcomes: dict[str, PointOutcome] = {}
            todo = []
            for p in pts:
                if resume and point_finished(out, p, versions):
                    outcomes[p.id] = PointOutcome(p.id, p.folder, "ok", resumed=True)
                else:
                    todo.append(p)
            t1 = time.perf_counter()
            bar = tqdm(total=len(pts), initial=len(pts) - len(todo), desc="batch",
                       unit=" point", file=sys.stderr, disable=not progress, dynamic_ncols=True,
                       mininterval=0.5, smoothing=0.1)
            failed = 0
            try:
                for p, r in _execute(todo, executor, command):
                    if r["ok"]:
                        _commit(out, p, r["files"])
                        outcomes[p.id] = PointOutcome(p.id, p.folder, "ok", seconds=r["seconds"])
                    else:
                        failed += 1
                        outcomes[p.id] = PointOutcome(p.id, p.folder, "failed", r["error"],
                                                      seconds=r["seconds"])
                        bar.set_postfix_str(f"{failed} failed", refresh=False)
                    bar.update(1)
            finally:
                bar.close()
            t2 = time.perf_counter()
            ordered = tuple(outcomes[p.id] for p in pts)
            table = _assemble(out, pts, ordered)
            text = _csv_text(table)
            files = {}
            with _writing(out / RESULTS):
                files["results"] = atomic_write_text(out / RESULTS, text)
            with _writing(out / POINTS):
                files["points"] = atomic_write_text(out / POINTS,
                                                    _csv_text(_points_table(pts, ordered)))
            with _writing(out / PARQUET):
                if _write_parquet(out / PARQUET, text):
                    files["parquet"] = out / PARQUET
            t3 = time.perf_counter()
            timings = {"resume_check": t1 - t0, "run_points": t2 - t1, "write_tables": t3 - t2,
                       "total": time.perf_counter() - t0}
            man.update(status="complete" if not failed else "complete_with_failures",
                       n_ok=len(pts) - sum(o.status != "ok" for o in ordered),
                       n_failed=sum(o.status != "ok" for o in ordered),
                       n_resumed=sum(o.resumed for o in ordered),
                       timings_s=timings,
                       files=[RESULTS, POINTS] + ([PARQUET] if "parquet" in files else []),
                       points=[{"id": o.id, "folder": o.folder, "status": o.status,
                                "resumed": o.resumed, "seconds": o.seconds, "error": o.error}
                               for o in ordered])
            with _writing(out / MANIFEST):
                files["manifest"] = write_json(out / MANIFEST, to_jsonable(man))
        except (KeyboardInterrupt, Terminated):
            _finish(out, man, "interrupted", "")
            raise
        except OSError as exc:          # reading a point's files back, say
            msg = f"batch error: {str(exc.filename or out)!r}: {exc.strerror or exc}"
            _finish(out, man, "failed", msg)
            raise SimtrialError(msg) from None
        except BaseException as exc:
            _finish(out, man, "failed", _reason(exc))
            raise
        finally:
            shutil.rmtree(out / STAGING, ignore_errors=True)
    note = ""
    if previous is not None:
        who = f" (pid {previous['pid']})" if isinstance(previous.get("pid"), int) else ""
        note = (f"the batch started here at {previous.get('created_utc') or '?'}{who} was "
                "killed before it finished (its manifest said running); recorded as interrupted")
    return BatchResult(out, pts, ordered, table, files, timings, kind, note)
