"""Figures of the app that no report has: the overlay of pinned designs' power curves."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ..stats.mc import Z975

__all__ = ["plot_compare", "png_data_uri"]


def plot_compare(designs, ax=None):
    """Simulated power against N per arm of each pinned design, with 95% Monte Carlo bands and
    the closed form (dashed) where one exists; each design's own N marked.

    Parameters
    ----------
    designs : list of dict
        Pinned designs (``label``, ``n``, ``curve``: dicts with ``n``, ``power``, ``mc_se``,
        ``analytic``), as :mod:`simtrial.app.server` keeps them.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        ax = Figure(figsize=(7.5, 4.6), dpi=100).add_subplot()
    for i, d in enumerate(designs):
        c = f"C{i}"
        pts = sorted(d["curve"], key=lambda r: r["n"])
        n = np.array([r["n"] for r in pts], dtype=float)
        p = np.array([r["power"] for r in pts], dtype=float)
        se = np.array([r["mc_se"] for r in pts], dtype=float)
        ax.fill_between(n, np.clip(p - Z975 * se, 0, 1), np.clip(p + Z975 * se, 0, 1),
                        color=c, alpha=0.2, lw=0)
        ax.plot(n, p, "o-" if len(n) <= 30 else "-", color=c, ms=3, lw=1.5,
                label=f"{d['label']} ({d['n_trials']:,} trials per N)")
        cf = [(r["n"], r["analytic"]) for r in pts if r["analytic"] is not None]
        if cf:
            ax.plot(*zip(*cf), color=c, lw=1.0, ls="--")
        ax.plot([d["n"]], [d["power"]], marker="D", color=c, ms=7, mec="k")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())     # 3, 10, 30: not 3 x 10^0
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("N per arm (control)")
    ax.set_ylabel("power (primary hypothesis)")
    ax.grid(alpha=0.3)
    ax.set_title("Pinned designs: simulated power, 95% MC bands; closed form dashed; "
                 "diamond = design N", fontsize=9)
    if designs:
        ax.legend(fontsize=8, loc="lower right")
    return ax


def png_data_uri(ax) -> str:
    """The figure of ``ax`` as a PNG ``data:`` URI."""
    fig = ax.figure
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
