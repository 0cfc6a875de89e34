"""Output files: atomic writes and the manifest.

Every file is written to a temporary name in its final folder and renamed into place, so a reader
never sees half a file and an interrupted run leaves no partial output.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from .. import __version__
from .._rng import CHUNK_TRIALS
from ..model.evidence import evidence_version
from ..sim.prefix import SCREEN_BLOCK

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["atomic_write", "atomic_write_text", "manifest", "to_jsonable"]


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
             files: list[str], command: list[str] | None = None, kernel: str | None = None
             ) -> dict[str, Any]:
    """Provenance record of a run: resolved scenario, seed, versions, timings, the resolved
    design (``design``) and its first stratum's model (``model``)."""
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
        "warnings": list(dm.warnings),
        "model": dm.models[0].to_dict(),
        "design": dm.to_dict(),
    })


def write_json(path: str | Path, data: Any) -> Path:
    """Atomic, pretty JSON."""
    return atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
