"""Plain-text summaries of results (what the CLI prints and ``summary()`` returns).

The headline sentence is :func:`simtrial.oc.glance.headline` (re-exported here under its old
name), shared with the HTML report and the app."""

from __future__ import annotations

import math

import numpy as np

from ..model.outcomes import OUTCOMES
from .glance import headline
from ..model.presets import ALIASES
from ..stats.mc import MONTH_DAYS, quantiles

__all__ = ["point_summary", "run_summary", "sample_size_line", "headline"]


def _get(p, metric: str, hypothesis: str | None = None, arm: str | None = None):
    for r in p.rows():
        if r["metric"] == metric and (hypothesis is None or r["hypothesis"] == hypothesis) \
                and (arm is None or r["arm"] == arm):
            return r["estimate"], r["mc_se"]
    return math.nan, math.nan


def point_summary(p) -> str:
    """Readable multi-line summary of a :class:`~simtrial.oc.results.PointResult`."""
    dm = p.design
    sc = dm.scenario
    lines = [f"scenario  {sc.name}" + (f": {sc.description}" if sc.description else "")]
    sf, sf_se = _get(p, "screen_fail")
    if len(dm.strata) > 1:
        strata = ", ".join(f"{s} {f:.0%} (screen fail {_get(p, f'screen_fail_{s}')[0]:.1%})"
                           for s, f in zip(dm.strata, dm.fractions))
        lines.append(f"population {strata}")
    else:
        name = dm.strata[0] + (f" (= {ALIASES[dm.strata[0]]})" if dm.strata[0] in ALIASES else "")
        lines.append(f"population {name}: screen failures {sf:.1%} (+/- {sf_se:.2%})")
    e0 = sc.endpoint
    if e0.type == "continuous":
        od = OUTCOMES[e0.outcome]
        m = dm.models[0]
        src = m.md_source[od.name][m.k_end]
        lines.append(f"endpoint  {od.label} ({od.unit}) change at {e0.visit_months} months, "
                     f"{e0.analysis}, alpha {sc.design.alpha:g} {sc.design.sides}-sided")
        lines.append(f"effect    true MD {float(m.md[od.name][m.k_end]):+.4g} {od.unit} "
                     f"(from {src})")
    names = ["control"] + [a.name for a in dm.arms]
    lines.append("design    " + ", ".join(f"{nm} {int(x)}" for nm, x in zip(names, p.arm_sizes))
                 + f" patients; {p.n_trials:,} trials, seed {p.seed} ({p.kernel} kernel)")
    if sc.dropout is not None and p.trials is not None and "observed" in p.trials:
        obs = p.trials["observed"][:, :, -1].sum(axis=0) / (p.arm_sizes * p.n_trials)
        lines.append(f"dropout   {sc.dropout.mechanism.upper()}: observed at month "
                     f"{dm.visits[-1]}: " + ", ".join(f"{nm} {o:.1%}" for nm, o in zip(names, obs)))
    has_a = p.stats[0].assurance is not None
    # the answer first (one sentence, simtrial.oc.glance.headline), then the detail
    lines.append(f"headline  {headline(p)}")
    lines.append(f"{'hypothesis':<28}{'truth':>9}{'mean est':>10}{'power':>8}{'MC SE':>8}"
                 f"{'closed form':>12}" + ("  assurance* (MC SE)" if has_a else ""))
    for h, st in zip(dm.hypotheses, p.stats):
        e = h.endpoint
        pw = st.reject / p.n_trials
        m, _, _ = st.mean_sd()
        cf, _ = _get(p, "analytic_power", h.label)
        desc = f"{h.label} ({e.analysis}, {e.visit_months}m)"
        line = (f"{desc:<28}{h.truth:>9.4g}{m:>10.4g}{pw:>8.4f}"
                f"{math.sqrt(pw * (1 - pw) / p.n_trials):>8.4f}"
                + (f"{cf:>12.4f}" if not math.isnan(cf) else f"{'-':>12}"))
        if st.assurance is not None:
            a = st.assurance / p.n_trials
            line += f"  {a:.4f} ({math.sqrt(a * (1 - a) / p.n_trials):.4f})"
        if st.not_fitted:
            line += (f"  ({st.not_fitted} fits failed: {st.not_fitted / p.n_trials:.2%} of "
                     "trials)")
        lines.append(line)
    if has_a:
        null = any(h.true_null for h in dm.hypotheses)
        lines.append("          * assurance = P(significant AND favouring MSC), averaged over the "
                     "effect distribution: one-sided, not power"
                     + (f" (if every drawn effect were 0 it would be about alpha/"
                        f"{sc.design.sides} = {sc.design.alpha / sc.design.sides:g}, beside "
                        f"{sc.design.sides}-sided power near alpha)" if null else ""))
    if (sc.dropout is not None or dm.boundaries is not None or sc.multiplicity.method != "none"
            or sc.conduct is not None) and any(
                not math.isnan(_get(p, "analytic_power", h.label)[0]) for h in dm.hypotheses):
        lines.append("          (closed form: complete-data t-test / ANCOVA without dropout, "
                     "multiplicity or interim looks, a reference)")
    for r in p.rows():
        if r["hypothesis"] == "family":
            lines.append(f"{r['metric']:<20}{r['estimate']:.4f} (MC SE {r['mc_se']:.4f})")
    for metric, label in (("trial_effect_mean", "trial effects"),):
        tm, _ = _get(p, metric)
        if not math.isnan(tm):
            sd, _ = _get(p, "trial_effect_sd")
            cl, _ = _get(p, "trial_effects_clipped")
            lines.append(f"{label}: drawn mean {tm:+.4g}, SD {sd:.4g}"
                         + (f"; {int(cl)} beyond the physical limit were set to it" if cl else ""))
    rf, rf_se = _get(p, "responder_fraction")
    if not math.isnan(rf):
        lines.append(f"responders {rf:.3f} of MSC patients (MC SE {rf_se:.4f})")
    i0, _ = _get(p, "insulin_independence", arm="control")
    if not math.isnan(i0):
        i1, _ = _get(p, "insulin_independence", arm=names[1])
        lines.append(f"insulin-free at {e0.visit_months} months: MSC {i1:.3f}, control {i0:.3f}")
    if dm.boundaries is not None and p.trials is not None:
        b = dm.boundaries
        look = p.trials["point_gsd_look"]
        why = p.trials["point_gsd_why"]
        for li, frac in enumerate(b.fractions):
            lines.append(f"look {li + 1}    fraction {frac:g}, z bound {b.z[li]:.3f}: stop for "
                         f"efficacy {np.mean((look == li) & (why == 1)):.4f}, futility "
                         f"{np.mean((look == li) & (why == 2)):.4f}")
        lines.append(f"expected  patients {np.mean(p.trials['point_gsd_n']):.1f} of "
                     f"{int(p.sizes.sum())}")
    if p.conduct is not None and p.trials is not None:
        lines.extend(_conduct_lines(p))
    lines.extend(_safety_lines(p))
    if sc.bayes is not None:
        lines.extend(_bayes_lines(p))
    if getattr(sc, "adaptive", None) is not None:
        lines.extend(_adaptive_lines(p))
    return "\n".join(lines)


def _safety_lines(p) -> list[str]:
    """One line per [[safety]] event: P(>= 1 event) per arm with the closed form, and the harm
    monitoring's P(stop) and power lost."""
    rows = p.safety
    out = []
    for name in dict.fromkeys(r["endpoint"] for r in rows):
        ev = [r for r in rows if r["endpoint"] == name]

        def get(metric, arm=None):
            for r in ev:
                if r["metric"] == metric and (arm is None or r["arm"] == arm):
                    return r["estimate"], r["mc_se"]
            return math.nan, math.nan
        arms = list(dict.fromkeys(r["arm"] for r in ev if r["metric"] == "p_any_event"))
        parts = []
        for a in arms:
            pa, se = get("p_any_event", a)
            cf, _ = get("analytic_p_any_event", a)
            parts.append(f"{a} {pa:.3f} (MC SE {se:.3f}; closed form {cf:.3f})")
        line = f"safety    {name}: P(>= 1 event) " + ", ".join(parts)
        st, st_se = get("p_stop_harm")
        if not math.isnan(st):
            lost, lost_se = get("power_lost")
            line += f"; P(stop for harm) {st:.4f} (MC SE {st_se:.4f})"
            if not math.isnan(lost):
                line += f", power lost {lost:.4f} (MC SE {lost_se:.4f})"
        out.append(line)
    return out


def _by_condition(p, hypothesis: str) -> dict[str, dict[str, dict]]:
    """Rows of ``hypothesis`` grouped by condition (the part of ``design_point`` after the
    size), in order: ``{condition: {metric: row}}``."""
    by: dict[str, dict[str, dict]] = {}
    for r in p.rows():
        if r["hypothesis"] == hypothesis:
            by.setdefault(r["design_point"].split(" ", 1)[1], {})[r["metric"]] = r
    return by


def _bayes_lines(p) -> list[str]:
    """P(Go) (MC SE) of the [bayes] rule under each condition, and the prior's ESS."""
    by = _by_condition(p, "bayes")
    if not by:
        return []
    cfg = p.design.scenario.bayes
    prior = {k: r["estimate"] for k, r in by.pop("prior", {}).items()}
    ess = (f", ESS {prior['prior_ess_elir']:.1f} (ELIR) / {prior['prior_ess_moment']:.1f} "
           "(moment)" if "prior_ess_elir" in prior else "")
    out = [f"bayes     {cfg.prior} prior on the {cfg.target}{ess}; P(Go) / P(No-Go) (MC SE), "
           "flat-prior P(Go):"]
    for cond, m in by.items():
        g, n, f = ((m[k]["estimate"], m[k]["mc_se"]) for k in ("p_go", "p_nogo", "p_go_flat"))
        out.append(f"          {cond:<34} {g[0]:.4f} ({g[1]:.4f}) / {n[0]:.4f} ({n[1]:.4f}), "
                   f"flat {f[0]:.4f}")
    return out


def _adaptive_lines(p) -> list[str]:
    """The [adaptive] design under the scenario effect and the null (MC SE in brackets)."""
    by = _by_condition(p, "adaptive")
    if not by:
        return []
    cfg = p.design.scenario.adaptive
    e = by["effect"]
    if cfg.selection is not None:
        return _selection_lines(p, by)
    out = [f"adaptive  {cfg.rule}, interim at n1 = {e['n1']['estimate']:.0f} per arm, "
           f"{cfg.test} test (critical value {e['critical_value']['estimate']:.3f}), futility "
           f"{cfg.futility}; cap {e['max_n_per_arm']['estimate']:.0f} per arm"]
    for cond, m in by.items():
        head = "power" if cond == "effect" else "type_i_error"
        en = m["expected_n_per_arm"]
        out.append(
            f"          {cond:<6} {head} {m[head]['estimate']:.4f} ({m[head]['mc_se']:.4f}), "
            f"unweighted {m['p_reject_unweighted']['estimate']:.4f} "
            f"({m['p_reject_unweighted']['mc_se']:.4f}); E[N] {en['estimate']:.1f} "
            f"({en['mc_se']:.2f}) per arm, 10-90% {en['q10']:.0f}-{en['q90']:.0f}; P(increase) "
            f"{m['p_increase']['estimate']:.3f}, P(futility) {m['p_futility']['estimate']:.3f}; "
            f"bias {m['bias_naive']['estimate']:+.4f} ({m['bias_naive']['mc_se']:.4f})")
        out.extend(_calendar_line(m))
    return out


def _calendar_line(m: dict) -> list[str]:
    """[adaptive] with [conduct]: the interim's month and the duration (MC SE) of one
    condition (nothing without a calendar)."""
    if "interim_month" not in m:
        return []
    im, d, pl = m["interim_month"], m["duration_months"], m["pipeline_at_interim"]
    return [f"                 interim month {im['estimate']:.1f} ({im['mc_se']:.1f}; 10-90% "
            f"{im['q10']:.1f}-{im['q90']:.1f}) with {pl['estimate']:.1f} patients in the "
            f"pipeline; duration {d['estimate']:.1f} ({d['mc_se']:.2f}) months (10-90% "
            f"{d['q10']:.1f}-{d['q90']:.1f})"]


def _selection_lines(p, by) -> list[str]:
    """[adaptive] treatment selection: P(any dose succeeds) or the family-wise error, each
    arm's selection and rejection probabilities and the naive estimate's bias in the trials
    that selected it."""
    cfg = p.design.scenario.adaptive
    e = by["effect"]
    when = (f" on the {cfg.select_visit_months}-month analysis" if cfg.select_visit_months
            else "")
    out = [f"adaptive  selection {cfg.selection}{when} at n1 = {e['n1']['estimate']:.0f} per "
           f"arm; closed {cfg.intersection} {cfg.test} test (critical value "
           f"{e['critical_value']['estimate']:.3f})"]
    arms = [a.name for a in p.design.arms]
    for cond, m in by.items():
        head = "power" if cond == "effect" else "type_i_error"
        label = "P(any arm succeeds)" if cond == "effect" else "family-wise error"
        en = m["expected_n_total"]
        out.append(f"          {cond:<6} {label} {m[head]['estimate']:.4f} "
                   f"({m[head]['mc_se']:.4f}); E[N total] {en['estimate']:.1f} "
                   f"({en['mc_se']:.2f}); P(no arm kept) {m['p_futility']['estimate']:.3f}")
        out.extend(_calendar_line(m))
        for a in arms:
            s_, r_ = m[f"p_selected_{a}"], m[f"p_reject_{a}"]
            b = m.get(f"bias_selected_{a}")
            bias = (f", bias when selected {b['estimate']:+.4f} ({b['mc_se']:.4f})" if b
                    else "")
            out.append(f"            {a:<14} selected {s_['estimate']:.4f} ({s_['mc_se']:.4f}), "
                       f"rejected {r_['estimate']:.4f} ({r_['mc_se']:.4f}){bias}")
    return out


def _conduct_lines(p) -> list[str]:
    c = p.conduct
    tr = p.trials
    lines = c.summary().splitlines()
    d = tr["conduct_duration"] / MONTH_DAYS
    m, a, b = quantiles(d)
    lines.append(f"duration  {m:.1f} months to the deciding analysis (10-90%: {a:.1f}-{b:.1f}; "
                 f"mean {np.mean(d):.1f})")
    if "conduct_look_day" in tr:
        ld = tr["conduct_look_day"] / MONTH_DAYS
        pat = tr["conduct_look_patients"]
        rnd = tr["conduct_look_randomised"]
        end = tr["conduct_look_endpoint"]
        for li, f in enumerate(c.fractions):
            m, a, b = quantiles(ld[:, li])
            lines.append(f"look {li + 1}    at {m:.1f} months (10-90%: {a:.1f}-{b:.1f}); of "
                         f"{c.n_patients}: randomised {np.median(rnd[:, li]):.0f}, with data "
                         f"{np.median(pat[:, li]):.0f}, with the endpoint "
                         f"{np.median(end[:, li]):.0f} (medians)")
    return lines


def sample_size_line(s) -> str:
    """One line for a :class:`~simtrial.oc.results.SampleSize`."""
    an = s.analytic_n_per_arm
    cf = f"; closed form N = {an}" if an is not None else ""
    what = f"{s.target_power:.0%} {s.target} ({s.hypothesis})"
    if not s.reached:
        return (f"{what}: not reached by N = {s.searched_max} per arm (simulated, "
                f"design.max_n_per_arm){cf}")
    sizes = " + ".join(str(x) for x in s.arm_sizes)
    return (f"{what}: N = {s.n_per_arm} per arm ({sizes} patients): simulated {s.power:.4f} "
            f"(MC SE {s.mc_se:.4f}, {s.n_trials:,} trials){cf}")


def run_summary(r) -> str:
    """Readable multi-line summary of a :class:`~simtrial.oc.results.RunResult`."""
    lines = [point_summary(r.point)]
    for s in r.sample_sizes:
        lines.append(sample_size_line(s))
    lines.append(f"time      {r.timings.get('total', float('nan')):.2f} s, "
                 f"{len(r.curve)} N simulated (up to {max(p.n_per_arm for p in r.curve)})")
    return "\n".join(lines)
