"""The compare folder: ``compare.csv``, ``compare.png`` / ``compare.svg`` (an overlay of every
design's power and assurance) and ``manifest.json``, written atomically.

The plot functions take a :class:`~simtrial.oc.compare.Comparison` (its tidy table) and
``ax=None``, return the Axes and compute nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from .. import __version__
from ..io.outputs import check_target, commit_folder, manifest, to_jsonable
from ..oc.compare import endpoint_words
from ..stats.mc import Z975

__all__ = ["FILES", "plot_compare_n", "plot_power_table", "plot_compare_duration", "compare_figure",
           "render_compare", "write_compare", "check_compare_folder"]

FILES = {"table": "compare.csv", "png": "compare.png", "svg": "compare.svg",
         "manifest": "manifest.json"}
"""Files of a compare folder."""

_LOG_TICKS = (2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000,
              20000, 50000, 100000)


def _axes(ax):
    if ax is None:
        ax = Figure(figsize=(7.5, 4.8), dpi=120).add_subplot()
    return ax


def _curves(table, x: str):
    """Per scenario and quantity: (x, estimate, MC SE, design_n) sorted by x, rows with x."""
    out = {}
    for (name, q), g in table.groupby(["scenario", "quantity"], sort=False):
        g = g[np.isfinite(g[x].to_numpy(dtype=float))].sort_values(x)
        if len(g):
            out[name, q] = (g[x].to_numpy(dtype=float), g["estimate"].to_numpy(dtype=float),
                            g["mc_se"].to_numpy(dtype=float), g["design_n"].to_numpy(bool))
    return out


def _draw(ax, names, targets, table, x: str) -> None:
    """Each scenario's power (solid) and assurance (dashed) with 95% MC bands, the design N as
    a dot; one colour per scenario (the order of ``names``); ``targets``: (quantity, value)
    pairs drawn as dotted lines."""
    curves = _curves(table, x)
    for i, name in enumerate(names):
        for q, ls in (("power", "-"), ("assurance", "--")):
            if (name, q) not in curves:
                continue
            xs, est, se, design = curves[name, q]
            c = f"C{i % 10}"
            ax.fill_between(xs, np.clip(est - Z975 * se, 0, 1), np.clip(est + Z975 * se, 0, 1),
                            color=c, alpha=0.18, lw=0)
            ax.plot(xs, est, ls, color=c, lw=1.6, marker="o" if len(xs) <= 12 else None,
                    ms=3, label=name if q == "power" else f"{name} (assurance)")
            if design.any():
                ax.plot(xs[design], est[design], "o", color=c, ms=6, mec="k", mew=0.6,
                        zorder=5)
    for t in sorted({t for kind, t in targets if kind == "power"}):
        ax.axhline(t, color="0.45", lw=0.8, ls=":", label="target power")
    ax.set_ylim(0, 1.0)
    ax.grid(alpha=0.3)


def _ylabel(table) -> str:
    both = (table["quantity"] == "assurance").any()
    return ("power or assurance (dashed)" if both else "power") + \
        " (probability of a significant result)"


def _integer_ticks(ax, lo: float, hi: float) -> None:
    """Whole-number ticks: linear, or logarithmic at 2, 3, 5, 10, ... when the range is wide."""
    if hi > 8 * max(lo, 1.0) and hi >= 60:
        ax.set_xscale("log")
        ax.set_xlim(max(lo, 1.0) * 0.9, hi * 1.1)
        ax.xaxis.set_major_locator(FixedLocator([t for t in _LOG_TICKS if lo * 0.9 <= t <= hi * 1.1]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    else:
        ax.set_xlim(0, hi * 1.04)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_compare_n(cmp, ax=None):
    """Power (and assurance) of every design against the control-arm size, with 95% Monte
    Carlo bands; the design N of each scenario as a dot.

    Parameters
    ----------
    cmp : Comparison
        From :func:`simtrial.compare` (uses ``cmp.to_frame()``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    return plot_power_table(cmp.to_frame(), cmp.names, cmp.targets(), ax)


def plot_power_table(table, names, targets=(), ax=None):
    """:func:`plot_compare_n` from the table alone (columns ``scenario``, ``quantity``,
    ``n_per_arm``, ``estimate``, ``mc_se``, ``design_n`` of :data:`simtrial.oc.compare.COLUMNS`):
    what ``simtrial compare`` and the app's Compare tab draw."""
    ax = _axes(ax)
    _draw(ax, names, targets, table, "n_per_arm")
    ns = table["n_per_arm"].to_numpy(dtype=float)
    _integer_ticks(ax, ns.min(), ns.max())
    ax.set_xlabel("patients per arm (control arm; MSC arms = allocation ratio x control)")
    ax.set_ylabel(_ylabel(table))
    ax.set_title("Power against patients per arm", fontsize=10)
    return ax


def plot_compare_duration(cmp, ax=None):
    """Power (and assurance) of the designs with ``[conduct]`` against the mean total trial
    duration (first site opening to last visit, months) at each simulated N.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    table = cmp.to_frame()
    _draw(ax, cmp.names, cmp.targets(), table, "duration_months")
    d = table["duration_months"].to_numpy(dtype=float)
    d = d[np.isfinite(d)]
    if d.size:
        span = max(d.max() - d.min(), 1.0)
        ax.set_xlim(max(0.0, d.min() - 0.05 * span), d.max() + 0.05 * span)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("total trial duration (months, mean over simulated trials)")
    ax.set_ylabel(_ylabel(table))
    ax.set_title("Power against total trial duration (designs with a simulated conduct)",
                 fontsize=10)
    return ax


def compare_figure(cmp) -> Figure:
    """The overlay figure: power against N per arm, and against total duration when any
    scenario has ``[conduct]``; one legend below the panels (never over a curve)."""
    two = cmp.has_conduct
    fig = Figure(figsize=(12.0 if two else 7.5, 5.6), dpi=120, layout="constrained")
    axes = fig.subplots(1, 2 if two else 1, squeeze=False)[0]
    plot_compare_n(cmp, ax=axes[0])
    if two:
        plot_compare_duration(cmp, ax=axes[1])
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    words = dict(zip(cmp.names, (endpoint_words(r) for r in cmp.runs)))
    labels = [f"{lab}: {words[lab]}" if lab in words else lab for lab in labels]
    handles += [Patch(color="0.5", alpha=0.3, lw=0),
                Line2D([], [], ls="", marker="o", color="0.5", mec="k", mew=0.6, ms=6)]
    labels += ["95% Monte Carlo band", "design N of the scenario"]
    if "target power" in labels:
        targets = sorted({t for kind, t in cmp.targets() if kind == "power"})
        labels[labels.index("target power")] = ("target power "
                                                + ", ".join(f"{t:.0%}" for t in targets))
    fig.legend(handles, labels, loc="outside lower center", ncol=2 if len(labels) > 3 else 1,
               fontsize=8, frameon=False)
    trials = sorted({r.n_trials for r in cmp.runs})
    what = "power and assurance" if any(r.point.stats[0].assurance is not None
                                        for r in cmp.runs) else "power"
    fig.suptitle(f"Simulated {what} of {len(cmp.runs)} designs ("
                 + "/".join(f"{t:,}" for t in trials) + " trials per N)", fontsize=11)
    return fig


def _bytes(fig: Figure, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def render_compare(cmp, command: list[str] | None = None) -> dict[str, bytes]:
    """The files of a compare folder in memory: name -> bytes, ``manifest.json`` last (with the
    sha256 of every other file and each scenario's run manifest)."""
    t0 = time.perf_counter()
    out: dict[str, bytes] = {}
    out[FILES["table"]] = cmp.to_frame().to_csv(index=False, float_format="%.10g").encode()
    fig = compare_figure(cmp)
    out[FILES["png"]] = _bytes(fig, "png")
    out[FILES["svg"]] = _bytes(fig, "svg")
    timings = dict(cmp.timings)
    timings["write_outputs"] = time.perf_counter() - t0
    man = {"simtrial_version": __version__, "command": command, "files": list(FILES.values()),
           "sha256": {n: hashlib.sha256(b).hexdigest() for n, b in out.items()},
           "timings_s": timings,
           "scenarios": [manifest(r.design, seed=r.seed, n_trials=r.n_trials,
                                  timings=dict(r.timings), files=[], command=command,
                                  kernel=r.kernel) for r in cmp.runs],
           "sample_sizes": [s.to_dict() for r in cmp.runs for s in r.sample_sizes]}
    out[FILES["manifest"]] = (json.dumps(to_jsonable(man), indent=2) + "\n").encode()
    return out


def check_compare_folder(out_dir: str | Path) -> None:
    """Refuse (one line), before any simulation, a compare folder that is or holds a link where
    the files go, or a folder where a file goes."""
    check_target(out_dir, list(FILES.values()))


def write_compare(cmp, out_dir: str | Path, command: list[str] | None = None
                  ) -> dict[str, Path]:
    """Write a :class:`~simtrial.oc.compare.Comparison` into ``out_dir`` (rendered in memory,
    then committed: the folder is complete or has no manifest); key -> path."""
    out_dir = Path(out_dir)
    check_compare_folder(out_dir)
    commit_folder(out_dir, render_compare(cmp, command))
    return {k: out_dir / n for k, n in FILES.items()}
