"""Plots. Each function takes a result and ``ax=None``, returns the Axes, computes nothing and
never calls ``show()``."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_power_curve", "plot_evidence_forest",
           "plot_power_assurance", "plot_trajectories", "plot_sampling_distribution"]

from matplotlib.ticker import MaxNLocator

from ..oc.glance import design_title, hypothesis_short, outcome_label
from ..stats.mc import Z975


def _title(ax, text: str, fontsize: float = 9):
    """A title in words, wrapped so that it never runs off the figure."""
    ax.set_title(textwrap.fill(text, 95), fontsize=fontsize)


def _integer_n(ax):
    """Whole-patient ticks on the N axis (never 12.5 patients)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend_below(ax, n_entries: int, fontsize: float = 7.5):
    """The legend under the axes, where it covers no curve, in one or two columns."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1 if n_entries <= 3 else 2,
              fontsize=fontsize, frameon=False)


def _series(points, metric: str, label: str):
    """(N, estimate, MC SE) of one metric of one hypothesis over the points that have it
    (power, assurance and the closed-form power without building every row of every N, which
    would evaluate the closed-form assurance at each N of a dense curve)."""
    ns, est, se = [], [], []
    for p in points:
        if metric in p.CURVE_ROWS:
            row = p.curve_row(metric, label)
            if row is not None:
                ns.append(p.n_per_arm)
                est.append(row[0])
                se.append(row[1])
            continue
        for r in p.rows():
            if r["metric"] == metric and r["hypothesis"] == label:
                ns.append(p.n_per_arm)
                est.append(r["estimate"])
                se.append(r["mc_se"])
                break
    return np.array(ns), np.array(est, dtype=float), np.array(se, dtype=float)


def plot_power_curve(run, ax=None):
    """Simulated power of each hypothesis (after multiplicity / interim looks) against
    control-arm size with 95% Monte Carlo bands, the closed form where one exists, assurance
    when the effect has a distribution, family-wise power, the targets and the sample sizes.

    Parameters
    ----------
    run : RunResult
        From :func:`simtrial.run` (uses ``run.curve``, ``run.point``, ``run.sample_sizes``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    dm = run.design
    hyps = dm.hypotheses
    pts = run.curve
    dense = len(pts) > 30
    mk = "-" if dense else "o-"
    has_a = run.point.stats[0].assurance is not None
    for i, h in enumerate(hyps):
        n, p, se = _series(pts, "power", h.label)
        ax.fill_between(n, np.clip(p - Z975 * se, 0, 1), np.clip(p + Z975 * se, 0, 1),
                        color=f"C{i}", alpha=0.22, lw=0,
                        label="95% Monte Carlo band" if i == 0 else None)
        lab = (f"simulated power ({run.n_trials:,} trials per N)" if len(hyps) == 1 else
               hypothesis_short(dm, h) + (" [true null]" if h.true_null else ""))
        ax.plot(n, p, mk, color=f"C{i}", ms=3, lw=1.5, label=lab)
        n, cf, _ = _series(pts, "analytic_power", h.label)
        if n.size:
            ax.plot(n, cf, color="k" if len(hyps) == 1 else f"C{i}", lw=1.1, ls="--",
                    label="closed-form power" + ("" if dm.scenario.dropout is None and
                                                 dm.boundaries is None else " (complete data)"))
    if has_a:
        h0 = hyps[0]
        n, a, ase = _series(pts, "assurance", h0.label)
        ax.fill_between(n, np.clip(a - Z975 * ase, 0, 1), np.clip(a + Z975 * ase, 0, 1),
                        color="C2", alpha=0.22, lw=0)
        dist = dm.models[0].distribution
        ax.plot(n, a, mk, color="C2", ms=3, lw=1.5,
                label=f"assurance ({dist.kind}: mean {dist.expectation():+.3g}, SD {dist.sd():.3g})")
        grid = [run.at(g) for g in run.grid]
        n, ca, _ = _series(grid, "analytic_assurance", h0.label)
        if n.size:
            ax.plot(n, ca, "x", color="C2", ms=5, label="closed-form assurance")
    if len(hyps) > 1 and any(not h.true_null for h in hyps):
        n, p, _ = _series(pts, "conjunctive_power", "family")
        ax.plot(n, p, "k--", lw=1.2, label="all false nulls rejected (conjunctive)")
        n, p, _ = _series(pts, "disjunctive_power", "family")
        ax.plot(n, p, "k:", lw=1.2, label="any false null rejected (disjunctive)")
    for j, ss in enumerate(run.sample_sizes):
        ax.axhline(ss.target_power, color="0.6", lw=0.8, ls=":",
                   label="target" if j == 0 else None)
        if ss.n_per_arm is not None:
            tag = "power" if ss.target == "power" else "assurance"
            ax.axvline(ss.n_per_arm, color="C3", lw=0.8, ls=(0, (1, 1 + j)),
                       label=f"N for {ss.target_power:.0%} {tag}: {ss.n_per_arm} per arm")
    d = run.point
    ax.errorbar([d.n_per_arm], [d.power], yerr=[[Z975 * d.mc_se]], fmt="o", color="C1", ms=5,
                capsize=3, label=f"design N = {d.n_per_arm}: power {d.power:.3f} (95% MC "
                "interval)")
    top = max(p.n_per_arm for p in pts)
    ax.set_xlim(0, top * (1.0 if dense else 1.05))
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("patients in the control arm (MSC arms = ratio x control)")
    ax.set_ylabel("power / assurance" if has_a else
                  "power" + (" (after multiplicity / interim looks)" if len(hyps) > 1
                             or dm.boundaries is not None else ""))
    _title(ax, design_title(dm, "Power / assurance" if has_a else "Power"))
    ax.grid(alpha=0.3)
    _integer_n(ax)
    _legend_below(ax, len(ax.get_legend_handles_labels()[0]))
    return ax


# ---------------------------------------------------------------------------------------------
# report figures (data prepared by simtrial.report)
# ---------------------------------------------------------------------------------------------

def plot_evidence_forest(forest, ax=None):
    """Forest plot of evidence rows: MD with its 95% interval, used rows filled, the effect
    distribution(s) as diamonds.

    Parameters
    ----------
    forest : simtrial.report.EvidenceForest
        ``forest.rows`` (label, time, population, md, lo, hi, flag, used) and ``forest.extra``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    rows = forest.rows
    k = len(rows) + len(forest.extra)
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 1.2 + 0.32 * max(k, 2)), dpi=120)
    y = np.arange(k)[::-1]
    labels = []
    for yi, r in zip(y, rows.itertuples(index=False)):
        c = "C0" if r.used else "0.55"
        ax.plot([r.lo, r.hi], [yi, yi], color=c, lw=1.6 if r.used else 1.0)
        ax.plot([r.md], [yi], "s", ms=6, color=c, mfc=c if r.used else "white")
        labels.append(f"{r.label}  [{r.flag}]")
    for yi, (lab, mid, lo, hi) in zip(y[len(rows):], forest.extra):
        if hi > lo:
            ax.fill([lo, mid, hi, mid], [yi, yi + 0.3, yi, yi - 0.3], color="C2", alpha=0.7)
        else:                       # a fixed effect: one value
            ax.plot([mid], [yi], "D", ms=7, color="C3")
        labels.append(lab)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(-0.8, k - 0.2)
    ax.set_xlabel(f"mean difference, MSC - control ({forest.unit})")
    ax.set_title(f"Evidence: {forest.label}", fontsize=10)
    ax.plot([], [], "s", color="C0", label="used by this simulation")
    ax.plot([], [], "s", color="0.55", mfc="white", label="other rows (context)")
    ax.legend(loc="best", fontsize=7, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_power_assurance(curves, ax=None):
    """Simulated power / assurance against N with 95% Monte Carlo intervals, the closed-form
    curves, the targets, the sample sizes and the design N.

    Parameters
    ----------
    curves : simtrial.report.PowerCurves
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 6.0), dpi=120)     # legend below the axes
    palette = ("C0", "C4", "C5", "C6", "C8", "C9")   # C1-C3 mark design N, assurance, N found
    n_pow = n_fam = n_band = 0
    xmax = curves.design_n
    for s in curves.series:
        ls = "-"
        if s.kind == "power":
            c = palette[n_pow % len(palette)]
            n_pow += 1
        elif s.kind == "assurance":
            c = "C2"
        else:
            ls = (0, (1, 1.5)) if n_fam % 2 == 0 else (0, (6, 2, 1, 2))
            c = "k" if n_fam % 2 == 0 else "0.45"
            n_fam += 1
        lo = np.clip(s.estimate - Z975 * s.mc_se, 0, 1)
        hi = np.clip(s.estimate + Z975 * s.mc_se, 0, 1)
        if s.kind != "family":
            ax.fill_between(s.n, lo, hi, color=c, alpha=0.18, lw=0,
                            label=None if n_band else "95% Monte Carlo band")
            n_band += 1
            ax.errorbar(s.n, s.estimate, yerr=[s.estimate - lo, hi - s.estimate], fmt="o", ms=3,
                        color=c, capsize=2, lw=0.8)
        ax.plot(s.n, s.estimate, linestyle=ls, color=c, lw=1.4, label=s.label)
        if s.n.size:
            xmax = max(xmax, int(s.n.max()))
    n_cf = sum(kind == "power" for _, kind, _, _ in curves.analytic)
    k = 0
    for lab, kind, n, v in curves.analytic:
        # one closed form: black; several: each in its hypothesis's colour
        c = "C2" if kind != "power" else ("k" if n_cf == 1 else palette[k % len(palette)])
        k += kind == "power"
        ax.plot(n, v, "--", color=c, lw=1.1, label=lab)
    for j, t in enumerate(curves.targets):
        ax.axhline(t, color="0.6", lw=0.8, ls=":", label="target" if j == 0 else None)
    for j, (lab, t, n) in enumerate(curves.sample_sizes):
        # named in the legend (a text on the plot would cross the curves)
        ax.axvline(n, color="C3", lw=0.8, ls=(0, (1, 1 + j)))
        ax.plot([n], [t], "o", ms=5, mfc="none", color="C3",
                label=f"N for {t:.0%} {lab}: {n} per arm")
        xmax = max(xmax, n)
    ax.axvline(curves.design_n, color="C1", lw=1.0, ls="-.", label=f"design N = {curves.design_n}")
    ax.set_xlim(0, xmax * 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("patients in the control arm (MSC arms = ratio x control)")
    ax.set_ylabel(curves.ylabel)
    _title(ax, f"{curves.title}; {curves.n_trials:,} trials per N")
    ax.grid(alpha=0.3)
    _integer_n(ax)
    _legend_below(ax, len(ax.get_legend_handles_labels()[0]), fontsize=7)
    return ax


def plot_trajectories(traj, ax=None):
    """Individual patients' values at baseline and each visit (thin lines) and arm means with
    95% confidence intervals (thick), for one simulated trial.

    Parameters
    ----------
    traj : simtrial.report.Trajectories
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 4.8), dpi=120)
    m = np.asarray(traj.months, float)
    k = len(traj.arms)
    off = (np.arange(k) - (k - 1) / 2) * 0.18
    for i, arm in enumerate(traj.arms):
        c = "0.35" if i == 0 else ("C0" if k == 2 else f"C{i}")
        for row in arm.values:
            ax.plot(m, row, "-", color=c, lw=0.6, alpha=0.35)
        ax.errorbar(m + off[i], arm.mean, yerr=[arm.mean - arm.ci_low, arm.ci_high - arm.mean],
                    fmt="o-", color=c, lw=2.4, ms=5, capsize=3,
                    label=f"{arm.name} mean (n = {arm.n_patients})")
    ax.set_xticks(m)
    ax.set_xlabel("months since randomisation (0 = baseline)")
    ax.set_ylabel(f"{traj.label} ({traj.unit})")
    ax.set_title(traj.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, frameon=False)
    return ax


def plot_sampling_distribution(dist, ax=None):
    """Histogram of the per-trial estimated effect, split by whether the trial succeeded, with
    the true effect, the mean estimate and the mean among successful trials.

    Parameters
    ----------
    dist : simtrial.report.SamplingDistribution
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 4.6), dpi=120)
    e = dist.edges
    ax.stairs(dist.counts_ns + dist.counts_sig, e, fill=True, color="0.75",
              label="not significant")
    ax.stairs(dist.counts_sig, e, fill=True, color="C0", alpha=0.85,
              label=f"significant ({dist.share_sig:.1%})")
    if not np.isnan(dist.truth):
        ax.axvline(dist.truth, color="k", lw=1.6, label=f"true effect {dist.truth:+.3g}")
    ax.axvline(dist.mean, color="C1", lw=1.4, ls="--", label=f"mean estimate {dist.mean:+.3g}")
    if not np.isnan(dist.mean_sig):
        ax.axvline(dist.mean_sig, color="C3", lw=1.4, ls=":",
                   label=f"mean if significant {dist.mean_sig:+.3g}")
    ax.axvline(0.0, color="0.4", lw=0.8)
    ax.set_xlabel(f"estimated effect ({dist.unit})")
    ax.set_ylabel("replicate trials")
    ax.set_title(f"{dist.label}; N = {dist.n_per_arm}, {dist.n_trials:,} trials", fontsize=9)
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return ax


# ---------------------------------------------------------------------------------------------
# lessons (simtrial.lessons): each takes the lesson's result, draws only what it holds
# ---------------------------------------------------------------------------------------------

__all__ += ["plot_winners_curse_estimates", "plot_winners_curse_by_n", "plot_fading_power",
            "plot_fading_summary", "plot_assurance_curves", "plot_assurance_averaging",
            "plot_sample_sizes", "plot_t1d_t2d_power", "plot_heterogeneity_intervals",
            "plot_heterogeneity_assurance"]


def _lesson_ax(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    return ax


def _plain_log_ticks(ax):
    """Log-scale x axis labelled 3, 10, 30, 100, ... instead of powers of ten."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
    ax.xaxis.set_major_locator(FixedLocator([1, 3, 10, 30, 100, 300, 1000, 3000, 10000]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())


def _band(ax, x, p, se, color, label=None, lw=1.6, ls="-", clip=(0.0, 1.0)):
    """A line with its 95% Monte Carlo band."""
    lo, hi = p - Z975 * se, p + Z975 * se
    if clip is not None:
        lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
    ax.fill_between(x, lo, hi, color=color, alpha=0.22, lw=0)
    ax.plot(x, p, color=color, lw=lw, ls=ls, label=label)


def plot_winners_curse_estimates(res, ax=None):
    """Histogram of the estimated MD over all simulated trials at ``res.small_n`` per arm, the
    significant (favourable) ones stacked in colour, with the truth and the mean significant
    estimate.

    Parameters
    ----------
    res : simtrial.lessons.WinnersCurseResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    e = res.hist_edges
    w = np.diff(e)
    ax.bar(e[:-1], res.hist_all - res.hist_significant, width=w, align="edge", color="0.75",
           edgecolor="white", lw=0.3, label="not significant")
    ax.bar(e[:-1], res.hist_significant, bottom=res.hist_all - res.hist_significant, width=w,
           align="edge", color="C3", edgecolor="white", lw=0.3, label="significant benefit")
    i = res.i_small
    ax.axvline(res.truth, color="k", lw=1.4, label=f"true MD {res.truth:+.2f}")
    ax.axvline(res.mean_significant[i], color="C3", lw=1.4, ls="--",
               label=f"mean of significant {res.mean_significant[i]:+.2f}")
    ax.axvline(res.mean_all[i], color="0.35", lw=1.0, ls=":",
               label=f"mean of all {res.mean_all[i]:+.2f}")
    ax.set_xlabel(f"estimated MD ({outcome_label(res.outcome, start=True)}, {res.unit}; end bins hold the tails)")
    ax.set_ylabel("simulated trials")
    ax.set_title(f"{res.small_n} patients per arm, {res.n_trials:,} trials: power "
                 f"{res.power[i]:.2f}", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(alpha=0.25)
    return ax


def plot_winners_curse_by_n(res, ax=None):
    """Mean estimate among significant trials against arm size (95% Monte Carlo band), the
    closed form, the mean over all trials and the truth; power annotated at each point.

    Parameters
    ----------
    res : simtrial.lessons.WinnersCurseResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    n = res.ns
    _band(ax, n, res.mean_significant, res.mean_significant_mc_se, "C3",
          label="mean estimate, significant trials", clip=None)
    ax.plot(n, res.mean_significant, "o", color="C3", ms=4)
    ax.plot(n, res.closed_mean_significant, "x", color="k", ms=6, label="closed form")
    ax.plot(n, res.mean_all, color="0.45", lw=1.0, ls=":", label="mean estimate, all trials")
    ax.axhline(res.truth, color="k", lw=1.2, label=f"true MD {res.truth:+.2f}")
    for x, y, p in zip(n, res.mean_significant, res.power):
        ax.annotate(f"power {p:.2f}", (x, y), xytext=(3, 6), textcoords="offset points",
                    fontsize=7, color="C3")
    ax.set_xscale("log")
    ax.set_xticks(n)
    ax.set_xticklabels([str(int(x)) for x in n])
    ax.minorticks_off()
    ax.set_xlabel("patients per arm")
    ax.set_ylabel(f"estimated MD ({res.unit})")
    ax.set_title("the winner's curse shrinks as power grows", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.25)
    return ax


def plot_fading_power(res, ax=None, *, outcome=None):
    """Simulated power against N per arm at each visit for one outcome of the fading-effects
    lesson (95% Monte Carlo bands, closed form dashed), with the N sized at the first visit.

    Parameters
    ----------
    res : simtrial.lessons.FadingResult
    ax : matplotlib Axes, optional
    outcome : str, optional
        Which outcome (default the first).

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    o = next((x for x in res.outcomes if x.outcome == outcome), res.outcomes[0])
    for j, m in enumerate(o.months):
        _band(ax, o.ns, o.power[j], o.power_mc_se[j], f"C{j}",
              label=f"{m} months (true MD {o.md[j]:+.3g})")
        ax.plot(o.ns, o.analytic_power[j], color=f"C{j}", lw=0.9, ls="--",
                label="closed form (dashed)" if j == len(o.months) - 1 else None)
    ax.axhline(res.target, color="0.6", lw=0.8, ls=":")
    ax.axhline(res.alpha / 2, color="0.6", lw=0.8, ls=":")
    ax.axvline(o.n80, color="C3", lw=0.8, ls=":")
    ax.annotate(f"N = {o.n80}", (o.n80, res.target), xytext=(4, -12), textcoords="offset points",
                fontsize=8, color="C3")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, o.ns.max())
    ax.set_xlabel("patients per arm")
    _integer_n(ax)
    ax.set_ylabel("power (significant benefit)")
    ax.set_title(f"{o.label} ({o.unit}): power by visit, {res.n_trials:,} trials per N",
                 fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="center right")
    ax.grid(alpha=0.25)
    return ax


def plot_fading_summary(res, ax=None):
    """Per outcome of the fading-effects lesson: the evidence MD relative to its first-visit
    value (95% CI bars) and the power of the same trials at each visit (design engine).

    Parameters
    ----------
    res : simtrial.lessons.FadingResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    for k, o in enumerate(res.outcomes):
        m = np.asarray(o.months, dtype=float)
        ax.errorbar(m + 0.12 * (k - 0.5), o.md_relative, yerr=Z975 * o.md_relative_se, fmt="o-",
                    color=f"C{k}", capsize=3, ms=4, lw=1.2,
                    label=f"{o.label}: evidence MD / MD at {o.months[0]} months")
        ax.errorbar(m + 0.12 * (k - 0.5), o.design_success, yerr=Z975 * o.design_success_mc_se,
                    fmt="s--", color=f"C{k}", capsize=3, ms=4, lw=1.0, mfc="white",
                    label=f"{o.label}: power of the same trials (N = {o.n80})")
    ax.axhline(0, color="k", lw=0.6)
    ax.axhline(res.alpha / 2, color="0.6", lw=0.8, ls=":")
    ax.set_xticks(list(res.outcomes[0].months))
    ax.set_xlabel("months after treatment")
    ax.set_ylabel("relative effect / power")
    ax.set_title("an early gain that fades", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.grid(alpha=0.25)
    return ax


def plot_assurance_curves(res, ax=None):
    """Power at the pooled estimate and assurance (pooled, predictive) against N per arm, 95%
    Monte Carlo bands, closed forms as crosses, ceilings dotted, the 80%-power N marked.

    Parameters
    ----------
    res : simtrial.lessons.AssuranceResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    _band(ax, res.ns, res.power, res.power_mc_se, "C0", label="power at the pooled estimate")
    _band(ax, res.ns, res.assur_pool, res.assur_pool_mc_se, "C1",
          label="assurance, pooled distribution")
    _band(ax, res.ns, res.assur_pred, res.assur_pred_mc_se, "C2",
          label="assurance, predictive distribution")
    for y, c in ((res.power_closed, "C0"), (res.assur_pool_closed, "C1"),
                 (res.assur_pred_closed, "C2")):
        ax.plot(res.ns_closed, y, "x", color=c, ms=5)
    ax.axhline(res.ceiling_pred, color="C2", lw=0.9, ls=":",
               label=f"predictive ceiling {res.ceiling_pred:.3f}")
    ax.axhline(0.8, color="0.6", lw=0.8, ls=":")
    ax.axvline(res.n80, color="C3", lw=0.8, ls=":")
    ax.annotate(f"N = {res.n80}: power {res.power_n80:.2f}, assurance {res.assur_pred_n80:.2f}",
                (res.n80, res.assur_pred_n80), xytext=(6, -16), textcoords="offset points",
                fontsize=8, color="C3")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, res.ns.max())
    ax.set_xlabel("patients per arm")
    _integer_n(ax)
    ax.set_ylabel("probability of a significant benefit")
    ax.set_title(f"{outcome_label(res.outcome, start=True)} at {res.visit_months} months: power vs assurance "
                 f"({res.n_trials:,} trials per N)", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.25)
    return ax


def plot_assurance_averaging(res, ax=None):
    """Densities of the true MD (predictive and pooled, each scaled to a peak of 1),
    closed-form power at ``res.n80`` against the true MD, and the simulated success rate per
    slice of drawn effects (± 2 MC SE).

    Parameters
    ----------
    res : simtrial.lessons.AssuranceResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    ax.fill_between(res.theta_grid, 0, res.density_pred / res.density_pred.max(), color="C2",
                    alpha=0.18, lw=0, label="predictive density (peak scaled to 1)")
    ax.plot(res.theta_grid, res.density_pool / res.density_pool.max(), color="C1", lw=0.9,
            label="pooled density (peak scaled to 1)")
    ax.plot(res.theta_grid, res.power_theta, color="k", lw=1.4,
            label=f"power at N = {res.n80} given the true MD (closed form)")
    mid = 0.5 * (res.bin_edges[:-1] + res.bin_edges[1:])
    ax.errorbar(mid, res.bin_success, yerr=2 * res.bin_success_mc_se, fmt="o", color="C3", ms=4,
                capsize=2, label="simulated success rate per slice of drawn MDs")
    ax.axvline(res.md, color="C0", lw=1.0, ls="--", label=f"pooled estimate {res.md:+.2f}")
    ax.axvline(0, color="0.5", lw=0.7)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"true MD in the new trial ({res.unit})")
    ax.set_ylabel("probability of success / scaled density")
    ax.set_title("assurance = power averaged over the predictive distribution", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.grid(alpha=0.25)
    return ax


def plot_sample_sizes(res, ax=None):
    """N per arm for the target power by design (log scale): simulated bars with the Monte Carlo
    range as whiskers and the closed form as diamonds.

    Parameters
    ----------
    res : simtrial.lessons.T1DvsT2DResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    ds = res.designs
    y = np.arange(len(ds))[::-1]
    n = np.array([d.n80 for d in ds], dtype=float)
    lo = np.array([d.n80_range[0] if d.n80_range[0] is not None else np.nan for d in ds], float)
    hi = np.array([d.n80_range[1] if d.n80_range[1] is not None else np.nan for d in ds], float)
    colors = ["C0" if d.preset == "t1d" else "C1" for d in ds]
    ax.barh(y, n, color=colors, alpha=0.75, height=0.6)
    ax.errorbar(n, y, xerr=[n - lo, hi - n], fmt="none", ecolor="k", capsize=3, lw=1)
    ax.plot([d.n80_analytic for d in ds], y, "D", color="k", ms=4, mfc="white",
            label="closed form")
    for yy, d, h in zip(y, ds, hi):
        right = max(x for x in (d.n80, h, d.n80_analytic) if x is not None and x == x)
        ax.annotate(f"N = {d.n80}", (right, yy), xytext=(7, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{d.label}\n(MD {d.md:+.3g} {d.unit})" for d in ds], fontsize=8)
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_xlim(right=3 * np.nanmax(np.r_[n, hi]))
    ax.set_xlabel(f"patients per arm for {res.target:.0%} power at 12 months (log scale)")
    ax.set_title("blue: T1D, orange: T2D", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.25, axis="x")
    return ax


def plot_t1d_t2d_power(res, ax=None):
    """Simulated power against N per arm (log scale) for every design of the T1D-versus-T2D
    lesson, 95% Monte Carlo bands, target and sample sizes marked.

    Parameters
    ----------
    res : simtrial.lessons.T1DvsT2DResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    for k, d in enumerate(res.designs):
        _band(ax, d.ns, d.power, d.power_mc_se, f"C{k}", label=f"{d.label}: N = {d.n80}",
              ls="-" if d.outcome == "hba1c" else "--")
    ax.axhline(res.target, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("patients per arm (log scale)")
    ax.set_ylabel("power")
    ax.set_title(f"12-month trials, {res.n_trials:,} trials per N", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.25)
    return ax


def plot_heterogeneity_intervals(res, ax=None):
    """Predictive density of a new trial's true effect with the mass at or below 0 shaded, and
    the pooled 95% CI and the 95% prediction interval as bars.

    Parameters
    ----------
    res : simtrial.lessons.HeterogeneityResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    g, d = res.theta_grid, res.density
    ax.plot(g, d, color="C0", lw=1.5, label="predictive density of a new trial's true MD")
    below = g <= 0
    ax.fill_between(g[below], 0, d[below], color="C3", alpha=0.35, lw=0,
                    label=f"true MD <= 0: {res.p_le0:.2f} (simulated {res.p_le0_sim:.3f})")
    top = d.max()
    ax.errorbar([res.md], [1.15 * top], xerr=[[res.md - res.ci[0]], [res.ci[1] - res.md]],
                fmt="D", color="k", capsize=4, label=f"95% CI {res.ci[0]:+.2f} to {res.ci[1]:+.2f}")
    ax.errorbar([res.md], [1.3 * top], xerr=[[res.md - res.pi[0]], [res.pi[1] - res.md]],
                fmt="o", color="C0", capsize=4,
                label=f"95% prediction interval {res.pi[0]:+.2f} to {res.pi[1]:+.2f}")
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_ylim(0, 1.45 * top)
    ax.set_xlabel(f"true MD, {outcome_label(res.outcome, start=True)} at {res.visit_months} months ({res.unit})")
    ax.set_ylabel("density")
    ax.set_title(f"I² = {res.i2:g}%, k = {res.k}: tau = {res.tau:.3f} {res.unit}", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(alpha=0.25)
    return ax


def plot_heterogeneity_assurance(res, ax=None):
    """Power at the pooled estimate and assurance for each I² variant against N per arm (95%
    Monte Carlo bands, closed forms as crosses, ceilings dotted).

    Parameters
    ----------
    res : simtrial.lessons.HeterogeneityResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _lesson_ax(ax)
    _band(ax, res.ns, res.power, res.power_mc_se, "k", label="power at the pooled estimate",
          lw=1.2)
    for k, v in enumerate(res.variants):
        c = f"C{k}"
        _band(ax, res.ns, v.assurance, v.assurance_mc_se, c, label=f"assurance, {v.label}")
        ax.plot(v.ns_closed, v.assurance_closed, "x", color=c, ms=5)
        ax.axhline(v.ceiling, color=c, lw=0.8, ls=":")
    ax.axhline(0.8, color="0.6", lw=0.8, ls=":")
    ax.axvline(res.n80, color="C3", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, res.ns.max())
    ax.set_xlabel("patients per arm")
    _integer_n(ax)
    ax.set_ylabel("probability of a significant benefit")
    ax.set_title(f"{outcome_label(res.outcome, start=True)} at {res.visit_months} months, {res.n_trials:,} trials per N",
                 fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.25)
    return ax


__all__ += ["plot_conduct"]


def plot_conduct(result, ax=None):
    """Enrolment curve: patients randomised, and with the endpoint visit done, against calendar
    month, medians over the conduct replicates with 10-90% bands, and the looks' median days.

    Parameters
    ----------
    result : ConductResult, PointResult or RunResult
        From :func:`simtrial.sim.conduct.simulate_conduct`, or a result of a scenario with
        ``[conduct]`` (uses ``enrolment_curve()`` and ``rows()`` of its conduct result).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    c = result
    if hasattr(c, "point"):          # RunResult
        c = c.point
    c = getattr(c, "conduct", c) if not hasattr(c, "enrolment_curve") else c   # PointResult
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    cur = c.enrolment_curve()
    m = cur["month"]
    for name, color, label in (("randomised", "C0", "randomised"),
                               ("endpoint", "C2", "endpoint visit done (before dropout)")):
        ax.fill_between(m, cur[f"{name}_q10"], cur[f"{name}_q90"], color=color, alpha=0.25, lw=0)
        ax.plot(m, cur[f"{name}_median"], color=color, lw=1.6,
                label=f"{label} (median, 10-90% band)")
    final = len(c.fractions) == 1
    for j, r in enumerate(r for r in c.rows() if r["metric"] == "look_day"):
        # named in the legend: a text at the top would sit on the enrolment curve
        at = r["estimate"] / (365.25 / 12)
        ax.axvline(at, color="C3", lw=0.9, ls=(0, (1, 1 + j)),
                   label=(f"last patient's last visit = final analysis ({at:.1f} months, median)"
                          if final else f"{r['visit']} ({at:.1f} months, median)"))
    for r in c.rows():
        if r["metric"] == "last_randomisation_day":
            ax.axvline(r["estimate"] / (365.25 / 12), color="0.5", lw=0.8, ls="--",
                       label="last randomisation (median)")
    ax.axhline(c.n_patients, color="0.6", lw=0.8, ls=":", label=f"{c.n_patients} patients planned")
    ax.set_xlim(0, float(m.max()))
    ax.set_ylim(0, c.n_patients * 1.05)
    ax.set_xlabel("calendar month from day 0 (first site may open)")
    ax.set_ylabel("patients")
    _title(ax, f"Recruitment and follow-up: {c.config.sites} sites, {c.n_patients} patients, "
           f"{c.replicates} simulated conducts", fontsize=10)
    ax.grid(alpha=0.3)
    _legend_below(ax, len(ax.get_legend_handles_labels()[0]))
    return ax
