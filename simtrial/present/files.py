"""The run folder: ``results.csv``, ``power_curve.png``, ``manifest.json`` (and
``conduct.png`` with ``[conduct]``), written atomically for every scenario alike."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

from ..io.outputs import check_target, commit_folder, manifest, to_jsonable
from .plots import plot_conduct, plot_power_curve

__all__ = ["write_run", "render_run", "commit_run", "check_run_folder", "previous_files",
           "FILES"]

FILES = {"results": "results.csv", "power_curve": "power_curve.png",
         "manifest": "manifest.json"}
"""Files of every run folder (``conduct.png`` is added with ``[conduct]``)."""

STALE = ("report.html", "conduct.png")
"""Files an earlier run (or report) may have left that no longer describe new results."""
STALE_DIRS = ("figures",)


def previous_files(out_dir: str | Path) -> list[str]:
    """The files the manifest of an earlier run in ``out_dir`` lists as simtrial's own (plain
    names in the folder itself; nothing when there is no readable manifest). A re-run removes
    those it does not write again, and never touches a file no manifest names."""
    m = Path(out_dir) / FILES["manifest"]
    try:
        if m.is_symlink() or not m.is_file() or m.stat().st_size > 50_000_000:
            return []
        names = json.loads(m.read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and n and n not in (".", "..")
            and "/" not in n and "\\" not in n and "\0" not in n and not n.startswith(".")
            and n != FILES["manifest"]]


def _stale(out_dir) -> list[str]:
    return list(dict.fromkeys([*STALE, *previous_files(out_dir)]))


def _names(res) -> dict[str, str]:
    names = dict(FILES)
    if res.point.conduct is not None:
        names["conduct"] = "conduct.png"
    return names


def render_run(res, command: list[str] | None = None) -> dict[str, bytes]:
    """The files of a run folder for :class:`~simtrial.oc.results.RunResult` ``res``, in memory:
    file name -> bytes, ``manifest.json`` last (with the sha256 of every other file)."""
    from matplotlib.figure import Figure

    t0 = time.perf_counter()
    names = _names(res)
    out: dict[str, bytes] = {}
    text = res.to_frame().to_csv(index=False, float_format="%.10g")
    out[names["results"]] = text.encode("utf-8")
    for key, plot in (("power_curve", plot_power_curve), ("conduct", plot_conduct)):
        if key not in names:
            continue
        fig = Figure(figsize=(7.5, 5.6), dpi=120)      # room for the legend below the axes
        plot(res, ax=fig.add_subplot())
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out[names[key]] = buf.getvalue()
    timings = dict(res.timings)
    timings["write_outputs"] = time.perf_counter() - t0
    man = manifest(res.design, seed=res.seed, n_trials=res.n_trials, timings=timings,
                   files=list(names.values()), command=command, kernel=res.kernel,
                   sha256={n: hashlib.sha256(b).hexdigest() for n, b in out.items()})
    if res.point.conduct is not None:
        man["conduct"] = res.point.conduct.to_dict()
    out[names["manifest"]] = (json.dumps(to_jsonable(man), indent=2) + "\n").encode("utf-8")
    return out


def check_run_folder(out_dir: str | Path, *, below: str | Path | None = None,
                     prefix: str = "usage error") -> None:
    """Refuse (one-line SimtrialError) a run folder that is, or holds where a run writes or
    deletes, a symbolic link, or a folder where a run writes a file; before any simulation.
    ``below``: the folder the user chose (default ``out_dir``'s parent), which may be a link."""
    check_target(out_dir, list(FILES.values()) + _stale(out_dir), STALE_DIRS, below=below,
                 prefix=prefix)


def commit_run(out_dir: str | Path, files: dict[str, bytes], *, stage_dir: str | Path | None = None,
               prefix: str = "usage error") -> Path:
    """Write rendered run files into ``out_dir`` (:func:`~simtrial.io.outputs.commit_folder`):
    a new folder appears complete or not at all, an existing one gets its manifest last, and a
    ``report.html``, ``figures/`` or ``conduct.png`` of an earlier run, and every file the
    earlier run's manifest lists that this run does not write (:func:`previous_files`), is
    removed, since it no longer describes these results. Other files are left alone."""
    return commit_folder(out_dir, files, stale=_stale(out_dir), stale_dirs=STALE_DIRS,
                         stage_dir=stage_dir, prefix=prefix)


def write_run(res, out_dir: str | Path, command: list[str] | None = None) -> dict[str, Path]:
    """Write a :class:`~simtrial.oc.results.RunResult` into ``out_dir``; name -> path.

    Every file is rendered in memory first (:func:`render_run`), then the folder is committed
    (:func:`commit_run`), so a failure while rendering or a kill at any moment leaves either the
    complete new folder, the old folder or a folder without a manifest; never a partial file, a
    file written through a symbolic link or, after the next run, a staging folder.
    """
    out_dir = Path(out_dir)
    check_run_folder(out_dir)
    files = render_run(res, command)
    commit_run(out_dir, files)
    return {key: out_dir / name for key, name in _names(res).items()}
