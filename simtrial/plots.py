"""Plots. Each function takes a result and ``ax=None``, returns the Axes, computes nothing and
never calls ``show()``."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_power_curve", "plot_design_power"]

Z975 = 1.959963984540054


def plot_power_curve(run, ax=None):
    """Simulated power (and assurance, when the effect has a distribution) against control-arm
    size with 95% Monte Carlo bands, the closed-form curves, the targets and the sample sizes.

    Parameters
    ----------
    run : RunResult
        From :func:`simtrial.runner.run` (uses ``run.dense``, ``run.sample_sizes``, ``run.design``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    c = run.dense
    n, p, se, an = c.n_per_arm, c.power, c.mc_se, c.analytic
    ax.fill_between(n, np.clip(p - Z975 * se, 0, 1), np.clip(p + Z975 * se, 0, 1), color="C0",
                    alpha=0.25, lw=0, label="95% Monte Carlo band")
    ax.plot(n, p, color="C0", lw=1.6, label=f"simulated power ({c.points[0].n_trials:,} trials per N)")
    ax.plot(n, an, color="k", lw=1.2, ls="--", label="closed-form power")
    if c.has_distribution:
        a, ase = c.assurance, c.assurance_mc_se
        ax.fill_between(n, np.clip(a - Z975 * ase, 0, 1), np.clip(a + Z975 * ase, 0, 1),
                        color="C2", alpha=0.25, lw=0)
        dist = run.model.distribution
        ax.plot(n, a, color="C2", lw=1.6,
                label=f"assurance ({dist.kind}: mean {dist.expectation():+.3g}, SD {dist.sd():.3g})")
        cp = run.curve
        ax.plot(cp.n_per_arm, [p.analytic_assurance for p in cp.points], "x", color="C2", ms=5,
                label="closed-form assurance")
    for ss in run.sample_sizes:
        ax.axhline(ss.target_power, color="0.6", lw=0.8, ls=":")
        if ss.n_per_arm is not None:
            ax.axvline(ss.n_per_arm, color="C3", lw=0.8, ls=":")
            tag = "" if ss.target == "power" else " (assurance)"
            ax.annotate(f"{ss.target_power:.0%}{tag}: N={ss.n_per_arm}", (ss.n_per_arm, ss.target_power),
                        xytext=(4, -12), textcoords="offset points", fontsize=8, color="C3")
    d = run.design
    ax.errorbar([d.n_per_arm], [d.power], yerr=[[Z975 * d.mc_se]], fmt="o", color="C1", ms=5,
                capsize=3, label=f"design N={d.n_per_arm}: {d.power:.3f}")
    ax.set_xlim(0, n.max())
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("patients per arm (control; MSC = ratio x control)")
    ax.set_ylabel("power / assurance" if c.has_distribution else "power")
    sc = run.model.scenario
    ax.set_title(f"{sc.name}: {sc.endpoint.outcome} at {sc.endpoint.visit_months} months, "
                 f"{sc.endpoint.analysis}, true MD {d.md:+.3g}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax


def plot_design_power(run, ax=None):
    """Power of each hypothesis (after multiplicity / interim looks) against control-arm size,
    with 95% Monte Carlo bands, family-wise success, targets and sample sizes.

    Parameters
    ----------
    run : DesignRun
        From :func:`simtrial.runner.run_design` (uses ``run.curve``, ``run.design``,
        ``run.sample_sizes``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    rows = [r.rows() for r in run.curve]
    ns = np.array([r.n_per_arm for r in run.curve])
    hyps = run.dm.hypotheses

    def series(metric, label):
        est = np.array([[x["estimate"] for x in rr if x["metric"] == metric and
                         x["hypothesis"] == label][0] for rr in rows])
        se = np.array([[x["mc_se"] for x in rr if x["metric"] == metric and
                        x["hypothesis"] == label][0] for rr in rows])
        return est, se

    for i, h in enumerate(hyps):
        p, se = series("power", h.label)
        ax.fill_between(ns, np.clip(p - Z975 * se, 0, 1), np.clip(p + Z975 * se, 0, 1),
                        color=f"C{i}", alpha=0.2, lw=0)
        ax.plot(ns, p, "o-", color=f"C{i}", ms=3, lw=1.4,
                label=f"{h.label}: {h.endpoint.outcome} {h.endpoint.visit_months}m "
                      f"({h.endpoint.analysis})" + (" [null]" if h.true_null else ""))
    if len(hyps) > 1 and any(not h.true_null for h in hyps):
        p, se = series("conjunctive_power", "family")
        ax.plot(ns, p, "k--", lw=1.2, label="all false nulls rejected (conjunctive)")
        p, se = series("disjunctive_power", "family")
        ax.plot(ns, p, "k:", lw=1.2, label="any false null rejected (disjunctive)")
    for s in run.sample_sizes:
        ax.axhline(s["target"], color="0.6", lw=0.8, ls=":")
        if s["n_per_arm"] is not None:
            ax.axvline(s["n_per_arm"], color="C3", lw=0.8, ls=":")
            ax.annotate(f"{s['target']:.0%}: N={s['n_per_arm']}", (s["n_per_arm"], s["target"]),
                        xytext=(4, -12), textcoords="offset points", fontsize=8, color="C3")
    ax.set_xlim(0, ns.max() * 1.05)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("patients in the control arm (MSC arms = ratio x control)")
    ax.set_ylabel("power (primary analysis, after multiplicity)")
    sc = run.dm.scenario
    extra = []
    if sc.dropout is not None:
        extra.append(f"{sc.dropout.mechanism.upper()} dropout")
    if sc.sequential is not None:
        extra.append(f"{len(sc.sequential.fractions)} looks ({sc.sequential.spending})")
    if sc.multiplicity.method != "none":
        extra.append(sc.multiplicity.method)
    ax.set_title(f"{sc.name}" + (f": {', '.join(extra)}" if extra else "")
                 + f"; {run.n_trials:,} trials per N", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    return ax
