"""Output files: atomic writes, whole output folders, and the manifest.

Every file is written to a temporary name in its final folder and renamed into place, so a reader
never sees half a file. A run folder is written by :func:`commit_folder`: a new folder appears
complete or not at all, and an existing one has a ``manifest.json`` exactly when the files beside
it are the ones that manifest describes (it is removed first and renamed in last). What a killed
process cannot clean up, its staging folder (``.<name>.staging.<host>.<pid>.XXXXXXXX`` beside the
output), is swept by the next write to the same folder once that pid is gone. Nothing is written
or deleted through a symbolic link (:func:`check_target`), so nothing lands outside the chosen
output folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from .. import __version__
from .._procs import pid_alive
from .._rng import CHUNK_TRIALS
from ..errors import SimtrialError
from ..model.evidence import evidence_version
from ..sim.prefix import SCREEN_BLOCK

_UMASK = os.umask(0)
os.umask(_UMASK)
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", platform.node())[:40] or "host"
_STAGED = re.compile(r"^(?P<host>[A-Za-z0-9-]*)\.(?P<pid>\d+)\.[A-Za-z0-9_]+$")
_LIVE: set[str] = set()         # staging folders this process is filling now

__all__ = ["atomic_write", "atomic_write_text", "commit_folder", "check_target", "staging_prefix",
           "sweep_staging", "manifest", "to_jsonable"]


def atomic_write(path: str | Path, writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp_path)`` then rename the temporary file to ``path`` (same folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (UTF-8)."""
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return atomic_write(path, w)


def staging_prefix(name: str) -> str:
    """Name prefix of this process's staging folders for output ``name``.

    Host and pid are in the name so that :func:`sweep_staging` removes only what a dead process
    left, never the staging of a run still writing (on this host or another one sharing the
    folder).
    """
    return f".{name}.staging.{_HOST}.{os.getpid()}."


def sweep_staging(folder: str | Path) -> list[Path]:
    """Remove the staging folders that killed processes left beside ``folder``; the removed.

    A staging folder is stale if it was made on this host by a process that no longer exists,
    or carries this process's own pid without being one it is filling now (a reused pid: in a
    container every run may be pid 1).
    """
    folder = Path(folder)
    head = f".{folder.name}.staging."
    try:
        entries = [e for e in os.scandir(folder.parent) if e.name.startswith(head)]
    except OSError:
        return []
    removed = []
    for e in entries:
        m = _STAGED.match(e.name[len(head):])
        if (m is None or m["host"] != _HOST or e.path in _LIVE
                or not e.is_dir(follow_symlinks=False)):
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or not pid_alive(pid):
            shutil.rmtree(e.path, ignore_errors=True)
            removed.append(Path(e.path))
    return removed


def check_target(folder: str | Path, files: Iterable[str] = (), dirs: Iterable[str] = (), *,
                 below: str | Path | None = None, prefix: str = "usage error",
                 hint: str = "remove it or choose another --out") -> None:
    """Refuse, before anything is written, an output folder that would be written through a link
    or cannot take the files.

    ``folder`` and every folder between ``below`` (exclusive; default: ``folder``'s parent, which
    the user chose) and it must be real folders, not symbolic links; so must the ``files`` and
    ``dirs`` in it that will be written or deleted; and none of ``files`` may be a folder (a
    ``manifest.json`` folder would take the results but not the manifest).

    Raises
    ------
    SimtrialError
        ``"<prefix>: '<path>' is a symbolic link; ..."`` and the like, one line.
    """
    folder = Path(folder)
    top = folder.parent if below is None else Path(below)
    try:
        parts = folder.relative_to(top).parts
    except ValueError:
        chain = [folder]
    else:
        chain = [top.joinpath(*parts[:i + 1]) for i in range(len(parts))]
    for p in chain:
        if p.is_symlink():
            raise SimtrialError(f"{prefix}: {str(p)!r} is a symbolic link; simtrial writes only "
                                f"inside its output folder, never through a link ({hint})")
        if p.exists() and not p.is_dir():
            raise SimtrialError(f"{prefix}: {str(p)!r} exists and is not a folder ({hint})")
    for name in [*files, *dirs]:
        p = folder / name
        if p.is_symlink():
            raise SimtrialError(f"{prefix}: {str(p)!r} is a symbolic link; simtrial does not "
                                f"write or delete through links ({hint})")
    for name in files:
        p = folder / name
        if p.is_dir():
            raise SimtrialError(f"{prefix}: {str(p)!r} is a folder where simtrial writes a file "
                                f"({hint})")


def commit_folder(folder: str | Path, files: dict[str, bytes], *, stale: Iterable[str] = (),
                  stale_dirs: Iterable[str] = (), stage_dir: str | Path | None = None,
                  prefix: str = "usage error") -> Path:
    """Put ``files`` (name -> bytes) into ``folder``; ``manifest.json`` marks it complete.

    The files are written into a staging folder first (in ``stage_dir``, default beside
    ``folder``; named by :func:`staging_prefix`, stale ones are swept first). A new ``folder`` is
    that staging folder renamed into place, so it appears complete or not at all, even if the
    process is killed; the parent folders this call created are removed again if it fails. An
    existing ``folder`` loses its manifest first, then the ``stale`` files and ``stale_dirs`` (of
    an earlier run, no longer describing these results), gets the new files and, last, the new
    manifest: a kill in between leaves a folder without a manifest, which no reader takes for
    complete. Files of ``folder`` not named here are left alone.

    Raises
    ------
    SimtrialError
        A link or a folder in the way (:func:`check_target`), or an OSError (read-only folder,
        full disk): ``"<prefix>: cannot write '<path>': <reason>"``.
    """
    folder = Path(folder)
    stale, stale_dirs = list(stale), list(stale_dirs)
    check_target(folder, list(files) + stale, stale_dirs, prefix=prefix)
    order = [n for n in files if n != "manifest.json"] + [n for n in files if n == "manifest.json"]
    created = []
    p = folder.parent
    while not os.path.lexists(p) and p.parent != p:
        created.append(p)
        p = p.parent
    where = folder.parent
    stage = None
    try:
        where.mkdir(parents=True, exist_ok=True)
        base = Path(stage_dir) if stage_dir is not None else folder.parent
        if stage_dir is None:
            sweep_staging(folder)
        else:
            base.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=staging_prefix(folder.name), dir=base))
        _LIVE.add(str(stage))
        for name in order:
            where = folder / name
            with open(stage / name, "wb") as fh:
                fh.write(files[name])
        where = folder
        if not os.path.lexists(folder):
            os.chmod(stage, 0o777 & ~_UMASK)
            os.rename(stage, folder)
            return folder
        (folder / "manifest.json").unlink(missing_ok=True)
        for name in stale:
            where = folder / name
            if name not in files and where.is_file():
                where.unlink()
        for name in stale_dirs:
            where = folder / name
            if where.is_dir() and not where.is_symlink():
                shutil.rmtree(where)
        for name in order:
            where = folder / name
            os.replace(stage / name, where)
        return folder
    except BaseException as exc:
        _drop(stage)
        for d in created:               # deepest first; only if still empty
            try:
                d.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise SimtrialError(f"{prefix}: cannot write {str(where)!r}: "
                                f"{exc.strerror or exc}") from None
        raise
    finally:
        _drop(stage)


def _drop(stage: Path | None) -> None:
    """Remove a staging folder (gone already once renamed into place)."""
    if stage is not None:
        shutil.rmtree(stage, ignore_errors=True)
        _LIVE.discard(str(stage))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats to JSON-safe values."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, tuple) else ",".join(k): to_jsonable(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def manifest(dm, *, seed: int, n_trials: int, timings: dict[str, float],
             files: list[str], command: list[str] | None = None, kernel: str | None = None,
             sha256: dict[str, str] | None = None) -> dict[str, Any]:
    """Provenance record of a run: resolved scenario, seed, versions, timings, the resolved
    design (``design``) and its first stratum's model (``model``). ``sha256``: hex digest of
    each file but the manifest, so a reader (``batch --resume``) can tell a complete file from
    a truncated or edited one."""
    import scipy
    import pandas
    sc = dm.scenario
    return to_jsonable({
        "simtrial_version": __version__,
        "evidence_version": evidence_version(),
        "scenario_name": sc.name,
        "scenario_file": sc.source_path,
        "scenario_hash": sc.hash(),
        "scenario": sc.to_dict(),
        "seed": seed,
        "n_trials": n_trials,
        "chunk_trials": CHUNK_TRIALS,
        "screen_block": SCREEN_BLOCK,
        "rng": "numpy PCG64; chunk c, stream s: SeedSequence(seed, spawn_key=(c, s)) "
               "(simtrial._rng)",
        "kernel": kernel,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else sys.argv,
        "platform": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "pandas": pandas.__version__,
                     "machine": platform.machine()},
        "timings_s": timings,
        "files": files,
        **({"sha256": sha256} if sha256 is not None else {}),
        "warnings": list(dm.warnings),
        "model": dm.models[0].to_dict(),
        "design": dm.to_dict(),
    })


def write_json(path: str | Path, data: Any) -> Path:
    """Atomic, pretty JSON."""
    return atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
