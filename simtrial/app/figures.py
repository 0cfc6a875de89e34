"""Figures of the app that no report has: the overlay of pinned designs' power curves."""

from __future__ import annotations

import base64
import io

import pandas as pd
from matplotlib.figure import Figure

from ..present.compare import plot_power_table

__all__ = ["plot_compare", "png_data_uri"]


def plot_compare(designs, ax=None):
    """Simulated power against N per arm of each pinned design with 95% Monte Carlo bands and
    each design's own N marked: the plot of ``simtrial compare``
    (:func:`simtrial.present.compare.plot_power_table`) on the pinned designs' curves.

    Parameters
    ----------
    designs : list of dict
        Pinned designs (``label``, ``n``, ``curve``: dicts with ``n``, ``power``, ``mc_se``),
        as :mod:`simtrial.app.server` keeps them.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        ax = Figure(figsize=(7.5, 5.2), dpi=100, layout="constrained").add_subplot()
    labels = [f"#{i + 1} {d['label']}" for i, d in enumerate(designs)]
    rows = [{"scenario": lab, "quantity": "power", "n_per_arm": r["n"],
             "estimate": r["power"], "mc_se": r["mc_se"], "design_n": r["n"] == d["n"]}
            for lab, d in zip(labels, designs) for r in d["curve"]]
    plot_power_table(pd.DataFrame(rows), labels, (), ax)
    if designs:
        ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
                         fontsize=8)
    return ax


def png_data_uri(ax) -> str:
    """The figure of ``ax`` as a PNG ``data:`` URI."""
    fig = ax.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
