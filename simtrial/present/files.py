"""The run folder: ``results.csv``, ``power_curve.png``, ``manifest.json`` (and
``conduct.png`` with ``[conduct]``), written atomically for every scenario alike."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from ..io.outputs import manifest, write_json
from .plots import plot_conduct, plot_power_curve

__all__ = ["write_run", "FILES"]

FILES = {"results": "results.csv", "power_curve": "power_curve.png",
         "manifest": "manifest.json"}
"""Files of every run folder (``conduct.png`` is added with ``[conduct]``)."""


def write_run(res, out_dir: str | Path, command: list[str] | None = None) -> dict[str, Path]:
    """Write a :class:`~simtrial.oc.results.RunResult` into ``out_dir``.

    Every file is rendered into a temporary folder beside ``out_dir`` first and only then
    renamed into place (same file system: each rename is atomic), so a failure while rendering
    leaves no new or partial file behind. A ``report.html`` (and ``figures/``) left by an
    earlier run is removed, since it no longer describes these results.
    """
    from matplotlib.figure import Figure


    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = dict(FILES)
    if res.point.conduct is not None:
        names["conduct"] = "conduct.png"
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        stage = Path(tmp)
        res.to_frame().to_csv(stage / names["results"], index=False, float_format="%.10g")
        for key, plot in (("power_curve", plot_power_curve), ("conduct", plot_conduct)):
            if key not in names:
                continue
            fig = Figure(figsize=(7.5, 4.8), dpi=120)
            plot(res, ax=fig.add_subplot())
            fig.tight_layout()
            fig.savefig(stage / names[key], format="png")
        timings = dict(res.timings)
        timings["write_outputs"] = time.perf_counter() - t0
        man = manifest(res.design, seed=res.seed, n_trials=res.n_trials, timings=timings,
                       files=list(names.values()), command=command, kernel=res.kernel)
        if res.point.conduct is not None:
            man["conduct"] = res.point.conduct.to_dict()
        write_json(stage / names["manifest"], man)
        paths = {}
        for key, name in names.items():
            os.replace(stage / name, out_dir / name)
            paths[key] = out_dir / name
    for stale in ("report.html", "conduct.png"):
        if stale not in names.values() and (out_dir / stale).is_file():
            (out_dir / stale).unlink()
    if (out_dir / "figures").is_dir():
        shutil.rmtree(out_dir / "figures")
    return paths
