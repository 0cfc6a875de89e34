"""Assembling the report: the scenario in words, key results, the conduct and manifest
sections, and writing ``report.html`` with its figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
import pandas as pd

from ... import __version__
from .. import plots
from ...errors import SimtrialError
from ..html import Figure, Section, check_targets, write_document
from ...model.design import DesignModel, build_design, group_sizes
from ...model.outcomes import OUTCOMES
from ...oc.glance import headline, key_results, percent
from ...scenario import load_scenario
from ...stats.mc import Z975
from .load import (MAX_PATIENTS_SHOWN, REPORT_FILE, RunFolder, fmt, known_tables, load_run,
                   round_frame)
from .figures import (curve_data, dist_interval, evidence_forest, sampling_data,
                      trajectory_data)
from .assumptions import assumptions_table, evidence_rows_used

__all__ = ["build_report", "write_report"]

# ---------------------------------------------------------------------------------------------
# the scenario in words
# ---------------------------------------------------------------------------------------------

def _header_comment(run: RunFolder) -> str:
    """The leading comment of the scenario file, if the file still holds this scenario."""
    f = run.manifest.get("scenario_file")
    if not f:
        return ""
    try:        # a path the manifest names: it may be long, hold a NUL or be unreadable
        p = Path(f)
        if not p.is_file():
            return ""
        sc = load_scenario(p).replace(seed=run.scenario.seed, n_trials=run.scenario.n_trials)
        if sc.hash() != run.scenario.hash():
            return ""
        lines = []
        for line in p.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if not s.startswith("#"):
                break
            lines.append(s.lstrip("#").strip())
        return " ".join(x for x in lines if x)
    except (SimtrialError, OSError, ValueError):     # UnicodeDecodeError is a ValueError
        return ""


def _scenario_words(run: RunFolder, models, dm=None) -> list[str]:
    sc = run.scenario
    d = sc.design
    m0 = models[0]
    out = []
    if True:
        strata = ", ".join(f"{s.upper()} {f:.0%} ({m.screen_fail_prob:.1%} screen failures)"
                           for s, f, m in zip(dm.strata, dm.fractions, dm.models))
        pop = f"patients from {strata}" + (", randomisation stratified by diabetes type"
                                           if len(dm.strata) > 1 else "")
        sizes = group_sizes(dm, d.n_per_arm).sum(axis=0)
        arms = ("arms " + ", ".join(
            f"{nm} {int(k)}" + ("" if i == 0 else f" (effect x{a.effect_scale:g})")
            for i, (nm, k, a) in enumerate(zip(["control"] + [a.name for a in dm.arms], sizes,
                                               [None] + list(dm.arms))))
            + " patients at the design size")
    out.append(f"A randomised trial of MSC therapy in {pop}: {arms}.")
    eps = sc.all_endpoints
    for i, e in enumerate(eps):
        kind = "Primary" if i == 0 else "Secondary"
        if e.type == "responder":
            what = "responder (" + f" {'AND' if e.combine == 'all' else 'OR'} ".join(
                f"{o} {b.replace('_', ' ')} {fmt(x)}" for o, b, x in e.responder) + ")"
        else:
            od = OUTCOMES[e.outcome]
            what = f"change in {od.label} ({od.unit}) from baseline"
        nm = getattr(e, "name", "") or ""
        out.append(f"{kind} endpoint{'' if nm in ('', 'primary') else ' ' + repr(nm)}: "
                   f"{what} at {e.visit_months} months, analysed by {e.analysis}.")
    out.append(f"Tests are {d.sides}-sided at alpha {d.alpha:g}; target power "
               + ", ".join(f"{t:.0%}" for t in d.target_power) + ".")
    od = m0.outcome_def
    src = m0.md_source[od.name][m0.k_end]
    eff = (f"True effect (MSC minus control) on {od.label} at {sc.endpoint.visit_months} months: "
           f"{m0.endpoint_md:+.4g} {od.unit} ({src}")
    if m0.evidence_row:
        eff += f"; {m0.evidence_row.get('source')}"
    eff += ")."
    if len(dm.models) > 1:
        eff = "True effects per stratum: " + "; ".join(
            f"{s.upper()} {m.endpoint_md:+.4g} {od.unit} ({m.md_source[od.name][m.k_end]})"
            for s, m in zip(dm.strata, dm.models)) + "."
    out.append(eff)
    dist = m0.distribution
    if dist is not None and not dist.is_point:
        out.append(f"For assurance the true effect of the future trial is drawn from the {dist.kind} "
                   f"distribution ({dist.family}, mean {dist.expectation():+.4g}, SD "
                   f"{dist.sd():.4g} {od.unit}).")
    if sc.dropout is not None:
        dr = sc.dropout
        out.append(f"Dropout: {dr.mechanism.upper()}"
                   + (f", {dr.rate:.0%} by the last visit" if dr.rate is not None else "")
                   + (f", driven by {dr.outcome}" if dr.mechanism != "mcar" else "") + ".")
    if sc.multiplicity.method != "none":
        out.append(f"Multiplicity: {sc.multiplicity.method}"
                   + (f" (within {sc.multiplicity.within})"
                      if sc.multiplicity.method == "hierarchical" else "") + ".")
    if dm.boundaries is not None:
        out.append(f"Interim analyses: {dm.boundaries.summary()}.")
    out.append(f"Monte Carlo: {run.n_trials:,} replicate trials per N, seed {run.seed} "
               f"(scenario hash {run.manifest['scenario_hash'][:12]}).")
    return out



# ---------------------------------------------------------------------------------------------
# conduct (optional: present when the run has conduct results)
# ---------------------------------------------------------------------------------------------

def conduct_rows(res: pd.DataFrame) -> pd.Series:
    """Mask of the conduct rows of results.csv (hypothesis "conduct", or a conduct table)."""
    m = res["table"].astype(str).str.contains("conduct", case=False)
    if "hypothesis" in res.columns:
        m |= res["hypothesis"].astype(str) == "conduct"
    return m


def _conduct_section(run: RunFolder, design_result, plots) -> Section | None:
    """Conduct metrics from results.csv and the enrolment timeline of the design-N conduct
    replicates (re-simulated with the design, :func:`simtrial.plots.plot_conduct`)."""
    res = run.results
    rows = res[conduct_rows(res)]
    conduct = getattr(design_result, "conduct", None)
    if rows.empty and conduct is None:
        return None
    sec = Section("Trial conduct", paragraphs=[
        "Calendar of the trial from the discrete-event conduct model (sites, recruitment, "
        "screening, cell manufacturing, infusions, visits, withdrawal). Days from the first "
        "site's earliest opening; medians over the conduct replicates with 10-90% ranges, and "
        "the Monte Carlo SE of each median."])
    plot = getattr(plots, "plot_conduct", None)
    if conduct is not None and plot is not None:
        ax = plot(design_result)
        sec.figures.append(_fig("conduct_timeline", ax,
                                f"Enrolment and endpoint data against calendar time at the design "
                                f"size ({conduct.replicates} conduct replicates, seed {run.seed})."))
    if not rows.empty:
        cols = [c for c in ("visit", "metric", "estimate", "mc_se", "q10", "q90")
                if c in rows.columns]
        t = round_frame(rows[cols].rename(columns={"mc_se": "MC SE", "q10": "10%",
                                                    "q90": "90%"}))
        t.attrs["caption"] = "Conduct metrics at the design size (results.csv)."
        sec.tables.append(t)
    return sec


def _safety_section(run: RunFolder) -> Section | None:
    """The ``table = "safety"`` rows of results.csv ([[safety]]): events, bounds and posteriors
    per arm, harm monitoring, and the monitoring rule's operating characteristics."""
    res = run.results
    rows = res[res["table"].astype(str) == "safety"]
    if rows.empty:
        return None
    cols = [c for c in ("endpoint", "arm", "visit", "metric", "estimate", "mc_se")
            if c in rows.columns]
    oc = rows["metric"].astype(str).str.startswith("oc_")
    sec = Section("Safety events and harm monitoring", paragraphs=[
        "Safety events ([[safety]]) simulated per replicate trial at the design size, "
        "independently of the efficacy outcomes (no link between an adverse event and the "
        "endpoint is modelled). Counts are binomial per patient (or Poisson per patient-year); "
        "upper bounds are exact one-sided (Clopper-Pearson, Garwood) with the rule of three "
        "beside them; analytic_* rows are closed forms beside the simulated values. A trial "
        "stopped for harm loses its efficacy success: power_with_monitoring = P(success and not "
        "stopped), power_lost = P(success and stopped), from the same trials."])
    for mask, cap in ((~oc, "Safety events per arm, and harm monitoring at the true rates "
                       "(results.csv, table = safety)."),
                      (oc, "Operating characteristics of the harm-monitoring rule: the MSC arm's "
                       "true rate in the visit column, the control rate as given.")):
        if mask.any():
            t = round_frame(rows[mask][cols].rename(columns={"endpoint": "event",
                                                             "mc_se": "MC SE"}))
            t.attrs["caption"] = cap
            sec.tables.append(t)
    return sec


_BAYES_OC = ("p_go", "p_nogo", "p_consider", "p_go_flat", "go_inflation")
_BAYES_PRIOR = ("prior_mean", "prior_sd", "prior_ess_elir", "prior_ess_moment", "map_mean",
                "map_sd", "map_ess_elir", "map_ess_moment", "map_components",
                "map_approx_max_cdf_error", "map_tau_posterior_mean", "sigma_unit",
                "simulated_control_change")


def _bayes_section(run: RunFolder, sc) -> Section | None:
    """The ``[bayes]`` rows of results.csv (table "bayes", :mod:`simtrial.oc.bayes`): the prior
    and P(Go) / P(No-Go) / P(consider) with MC SE under each condition."""
    res = run.results
    b = res[res["table"].astype(str) == "bayes"]
    if b.empty:
        return None
    cfg = sc.bayes
    prior = b[b["design_point"].astype(str).str.endswith(" prior")
              & b["metric"].isin(_BAYES_PRIOR)]
    pt = round_frame(prior[["metric", "estimate"]].reset_index(drop=True))
    pt.attrs["caption"] = ("The prior (not simulated). ESS in patients (target = control) or "
                           "patients per arm (target = effect): ELIR (expected "
                           "local-information ratio, Neuenschwander et al. 2020) and the moment "
                           "method "
                           "(sigma_unit^2 / prior variance); map_approx_max_cdf_error is the "
                           "largest CDF difference between the MAP quadrature mixture and the "
                           "mixture used.")
    ot = _in_words(round_frame(pd.DataFrame(_by_condition(b, _BAYES_OC))))
    ot.attrs["caption"] = ("Operating characteristics of the rule at the design size. "
                           "P(Go), flat prior: the same rule with a flat prior (the frequentist "
                           "z rule with the trial's SE); P(Go) minus flat prior: paired over "
                           "the same trials. design_prior: each trial's true effect drawn from the "
                           "scenario's effect distribution (probability of success); "
                           "control_shift: the true control arm moved away from the simulated "
                           "one (prior-data conflict).")
    better = "<" if OUTCOMES[sc.endpoint.outcome].better == "lower" else ">"
    what = "control-arm mean change" if cfg.target == "control" else "treatment effect"
    return Section("Bayesian decision rule", paragraphs=[
        f"Prior {cfg.prior} on the {what}; "
        f"Go if P(effect {better} 0 | data) > {cfg.go_prob:g} and the posterior median "
        f"{better} {cfg.go_value:g}; else No-Go if P(effect {better} {cfg.nogo_threshold:g} | "
        f"data) < {cfg.nogo_prob:g}; else consider. Each replicate trial's posterior is a "
        "conjugate normal-mixture update of its estimate (or its control arm's adjusted mean), "
        "and every condition is the same simulated trials shifted exactly (simtrial.oc.bayes)."],
        tables=[pt, ot])


def _by_condition(rows: pd.DataFrame, metrics, quantiles_of: str | None = None,
                  quantile_label: str = "") -> list[dict]:
    """One dict per condition (the part of ``design_point`` after its first space, in order)
    with each metric of ``metrics`` and its MC SE (where there is one), and the q10 / q90 of
    the metric ``quantiles_of``."""
    out = []
    for dp, g in rows.groupby(rows["design_point"].astype(str), sort=False):
        g = g[g["metric"].isin(metrics)]
        if g.empty:
            continue
        r = {"condition": dp.split(" ", 1)[1]}
        for _, x in g.iterrows():
            r[x["metric"]] = x["estimate"]
            if not pd.isna(x["mc_se"]):
                r[x["metric"] + " MC SE"] = x["mc_se"]
            if x["metric"] == quantiles_of and "q10" in x and not pd.isna(x["q10"]):
                r[f"{quantile_label} q10"], r[f"{quantile_label} q90"] = x["q10"], x["q90"]
        out.append(r)
    return out


_METRIC_WORDS = {
    "power": "power", "type_i_error": "type I error", "p_reject_unweighted": "naive pooled test",
    "expected_n_per_arm": "expected N per arm", "expected_n_total": "expected N, all arms",
    "max_n_observed": "largest N per arm", "p_increase": "P(N increased)",
    "p_decrease": "P(N decreased)", "p_futility": "P(futility stop)",
    "p_efficacy": "P(early efficacy stop)", "bias_naive": "bias of the naive estimate",
    "p_go": "P(Go)", "p_nogo": "P(No-Go)", "p_consider": "P(consider)",
    "p_go_flat": "P(Go), flat prior", "go_inflation": "P(Go) minus flat prior"}
_ARM_WORDS = (("p_selected_", "P({} selected)"), ("p_reject_", "P({} rejected)"),
              ("bias_selected_", "bias of {} when selected"))


def _in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names of a table of metrics in words ("p_futility MC SE" -> "P(futility stop)
    MC SE", "p_selected_low_dose" -> "P(low dose selected)")."""
    def word(col: str) -> str:
        head, tail = (col[:-6], " MC SE") if col.endswith(" MC SE") else (col, "")
        if head in _METRIC_WORDS:
            return _METRIC_WORDS[head] + tail
        for pre, form in _ARM_WORDS:
            if head.startswith(pre):
                return form.format(head[len(pre):].replace("_", " ")) + tail
        return col
    return frame.rename(columns=word)


_ADAPTIVE = ("power", "type_i_error", "p_reject_unweighted", "expected_n_per_arm",
             "max_n_observed", "p_increase", "p_decrease", "p_futility", "p_efficacy",
             "bias_naive")


def _adaptive_section(run: RunFolder, sc) -> Section | None:
    """The ``[adaptive]`` rows of results.csv (table "adaptive", :mod:`simtrial.oc.adaptive`):
    one row per condition (the scenario effect, the null) with MC SEs."""
    res = run.results
    a = res[res["table"].astype(str) == "adaptive"]
    if a.empty:
        return None
    cfg = sc.adaptive
    crit = a[a["metric"] == "critical_value"]["estimate"]
    n1 = a[a["metric"] == "n1"]["estimate"]
    if cfg.selection is not None:
        arms = [x.name for x in sc.arms]
        metrics = ("power", "type_i_error", "expected_n_total", "p_futility") + tuple(
            f"{m}_{x}" for x in arms for m in ("p_selected", "p_reject", "bias_selected"))
        t = _in_words(round_frame(pd.DataFrame(_by_condition(a, metrics))))
        t.attrs["caption"] = (
            "Operating characteristics of the treatment-selection design at the planned size, "
            "under the scenario effect and the global null (family-wise error), from the same "
            "simulated patients: power = P(at least one arm's hypothesis rejected); per arm "
            "P(selected at the interim), P(its hypothesis rejected by the closed test) and the "
            "bias of its naive final estimate in the trials that selected it (the winner's "
            "curse); expected_n_total over all arms.")
        when = (f" on the {cfg.select_visit_months}-month analysis"
                if cfg.select_visit_months else "")
        return Section("Adaptive design", paragraphs=[
            f"One interim at n1 = {int(n1.iloc[0])} per arm; selection {cfg.selection}{when}; "
            f"only the selected arms and control continue; closed testing over "
            f"{cfg.intersection} intersection tests, combined by the {cfg.test} test, critical "
            f"value {float(crit.iloc[0]):.4f} (simtrial.oc.adaptive)."], tables=[t])
    t = _in_words(round_frame(pd.DataFrame(_by_condition(
        a, _ADAPTIVE, quantiles_of="expected_n_per_arm", quantile_label="final N"))))
    t.attrs["caption"] = ("Operating characteristics of the adaptive design at the planned "
                          "size, under the scenario effect and the null (type I error), from "
                          "the same simulated patients. Naive pooled test: the conventional "
                          "test on every patient of the same trials (not level alpha); bias of "
                          "the naive estimate: its mean minus the truth; final N per control "
                          "arm.")
    return Section("Adaptive design", paragraphs=[
        f"One interim at n1 = {int(n1.iloc[0])} per arm; rule {cfg.rule}"
        + (f" (CP zone {list(cfg.cp_zone)})" if cfg.rule == "promising_zone" else "")
        + f"; futility {cfg.futility}; final {cfg.test} test, critical value "
        f"{float(crit.iloc[0]):.4f} (simtrial.oc.adaptive)."], tables=[t])


# ---------------------------------------------------------------------------------------------
# assembling the report
# ---------------------------------------------------------------------------------------------

def _fig(name: str, ax, caption: str) -> Figure:
    fig = ax.figure
    fig.tight_layout()
    return Figure(name, fig, caption)


def _manifest_section(run: RunFolder) -> Section:
    import html as _h
    man = run.manifest
    plat = man.get("platform", {}) or {}
    tim = man.get("timings_s", {}) or {}
    rows = [("scenario", man.get("scenario_name")), ("scenario file", man.get("scenario_file")),
            ("scenario hash", man.get("scenario_hash")), ("seed", man.get("seed")),
            ("replicate trials per N", man.get("n_trials")),
            ("simtrial version (run)", man.get("simtrial_version")),
            ("simtrial version (report)", __version__),
            ("evidence version", man.get("evidence_version")),
            ("random streams", man.get("rng")), ("created (UTC)", man.get("created_utc")),
            ("command", " ".join(map(str, man.get("command") or []))),
            ("platform", ", ".join(f"{k} {v}" for k, v in plat.items())),
            ("run time (s)", fmt(tim.get("total"))), ("files", ", ".join(man.get("files") or []))]
    t = pd.DataFrame([{"field": k, "value": "" if v is None else str(v)} for k, v in rows])
    t.attrs["caption"] = "Provenance of the run (manifest.json)."
    text = json.dumps(man, indent=2)
    return Section("Manifest", tables=[t], html=(
        "<details><summary>Full manifest.json</summary><pre>" + _h.escape(text)
        + "</pre></details>"))


def _key_results(dm, design_result) -> pd.DataFrame:
    """The key-results table (:func:`simtrial.oc.glance.key_results`): every number in words
    with its unit, simulated ones with their MC SE and 95% MC interval."""
    rows = key_results(design_result)
    grouped = any(k.group for k in rows)
    out = []
    for k in rows:
        se = k.mc_se
        iv = ""
        if math.isfinite(se) and se > 0:
            lo, hi = k.value - Z975 * se, k.value + Z975 * se
            if k.unit == "probability":
                lo, hi = max(lo, 0.0), min(hi, 1.0)
                iv = f"{percent(lo)} to {percent(hi)}"
            else:
                iv = f"{lo:.4g} to {hi:.4g}"
        r = {"hypothesis": k.group} if grouped else {}
        r.update({"result": k.label,
                  "estimate": percent(k.value) if k.unit == "probability" else f"{k.value:.4g}",
                  "MC SE": "" if not math.isfinite(se) else (
                      f"{se * 100:.2g} points" if k.unit == "probability" else f"{se:.2g}"),
                  "95% MC interval": iv,
                  "unit": k.unit, "note": k.note})
        out.append(r)
    t = pd.DataFrame(out)
    t.attrs["caption"] = (f"At the design size N = {dm.scenario.design.n_per_arm} per arm "
                          f"({design_result.n_trials:,} trials). Probabilities in %, their MC SE "
                          "in percentage points; closed-form numbers and inputs have no MC SE. "
                          "Every number is a row of results.csv.")
    return t


def _changed_numbers(run: RunFolder, design_result) -> list[str]:
    """Every assumption or limit that changed a number: the model's warnings, drawn effects
    clipped at a physical limit, failed fits, patients at a physical limit."""
    out = [f"Model warning: {w}" for w in run.manifest.get("warnings") or []]
    p = design_result
    cl = p.theta_clipped
    if not math.isnan(p.theta_mean):
        out.append(f"{percent(cl / p.n_trials)} of drawn effects clipped at the physical limit "
                   f"({cl:,} of {p.n_trials:,} trial effects lay beyond the largest attainable "
                   "effect and were set to it; assurance is computed with the clipped effects)."
                   if cl else "No drawn effect lay beyond the physical limit (none clipped).")
    for k in key_results(p):
        if k.label == "trials whose model fit failed":
            out.append(f"{k.group + ': ' if k.group else ''}{percent(k.value)} of trials had a "
                       "model fit that failed; they count as not significant.")
        elif k.label.startswith("insulin-free") and k.value > 0:
            out.append(f"{k.label}: {percent(k.value)} of patients reached the physical limit "
                       "of 0 IU/day (insulin independence), which caps their change.")
    return out


def build_report(output_dir: str | Path, *, prebuilt=None) -> list[Section]:
    """Sections of the report of a run folder (figures open until written or closed).

    Parameters
    ----------
    output_dir : str or path-like
        A folder written by ``simtrial run`` (``manifest.json`` + ``results.csv``).
    prebuilt : DesignModel, optional
        The model the run used (``simtrial run --report`` passes it), to skip rebuilding it;
        ignored unless its scenario hash equals the manifest's.

    Returns
    -------
    list of Section
        Answer (the headline and what changed a number); question and scenario; key
        results; assumptions; evidence; power and sample size;
        trajectories; sampling distribution; conduct (when present); other results; manifest.

    Raises
    ------
    SimtrialError
        See :func:`load_run`; also when a re-simulation does not reproduce ``results.csv``.
    """
    return _sections(load_run(output_dir), prebuilt)


def _sections(run: RunFolder, prebuilt) -> list[Section]:
    import matplotlib.pyplot as plt
    sc = run.scenario
    figs_made: list = []
    try:
        if prebuilt is not None and prebuilt.scenario.hash() != sc.hash():
            prebuilt = None
        return _build(run, sc, figs_made, plots, prebuilt)
    except BaseException:
        for f in figs_made:
            plt.close(f)
        raise


def _build(run, sc, figs_made, plots, prebuilt) -> list[Section]:
    dm = prebuilt if isinstance(prebuilt, DesignModel) else build_design(sc)
    models = list(dm.models)
    outcomes = tuple(dm.outcomes)
    model = models[0]

    def fig(name, ax, caption):
        figs_made.append(ax.figure)
        return _fig(name, ax, caption)

    sections: list[Section] = []
    samp, design_result = sampling_data(run, dm)
    sections.append(Section("Answer", paragraphs=[headline(design_result) + "."]
                            + _changed_numbers(run, design_result)))
    q = _header_comment(run)
    paras = []
    if q:
        paras.append(q if q.lower().startswith("question") else f"Question: {q}")
    if sc.description:
        paras.append(f"In short: {sc.description}.")
    paras += _scenario_words(run, models, dm)
    sections.append(Section("Question and scenario", paragraphs=paras))

    # key numbers, assumptions, evidence
    curves, ss_table = curve_data(run, dm)
    trajs = trajectory_data(run, dm)
    key = _key_results(dm, design_result)
    sections.append(Section("Key results", tables=[key, ss_table]))
    sections.append(Section("Assumptions", paragraphs=[
        "Where each number of the model comes from. Change any of them in the scenario file "
        "and re-run to see how much the answer depends on it."],
        tables=[assumptions_table(sc, models, outcomes, dm)]))

    used = evidence_rows_used(models)
    pops = {m.scenario.effect.population for m in models} | {"all"}
    ev_figs = []
    for o in outcomes:
        if not used.get(o) and o != sc.endpoint.outcome:
            continue
        extra = []
        if o == sc.endpoint.outcome:
            src = model.md_source[o][model.k_end]
            if not used.get(o):     # the scenario fixes the effect: show it against the evidence
                extra.append((f"effect assumed by the scenario ({src})", model.endpoint_md,
                              model.endpoint_md, model.endpoint_md))
            d = model.distribution
            iv = dist_interval(d)
            if iv is not None:
                extra.append((f"{d.kind} distribution of the true effect (95%)",
                              d.expectation(), iv[0], iv[1]))
        forest = evidence_forest(o, used.get(o, set()), pops, tuple(extra))
        ax = plots.plot_evidence_forest(forest)
        ev_figs.append(fig(f"evidence_{o}", ax,
                           f"Evidence rows for {forest.label} ({forest.unit}), MSC minus control, "
                           "with 95% intervals; filled = used by this simulation, open = other "
                           "rows of the table for context. Interval: reported CI where given, "
                           "else MD +/- 1.96 SE (SE route in the assumptions table)."))
    if ev_figs:
        sections.append(Section("Evidence used", figures=ev_figs))

    ax = plots.plot_power_assurance(curves)
    cap = ("Power against the control-arm size: points = simulated "
           f"({run.n_trials:,} trials each) with 95% Monte Carlo intervals and band; dashed = "
           "closed form; dotted lines = targets and the simulated sample sizes.")
    if not curves.analytic:
        cap += " No closed form exists for this design (strata, responders or multiplicity)."
    sections.append(Section("Power, assurance and sample size",
                            paragraphs=["The sample sizes are in the second table of Key results."],
                            figures=[fig("power_assurance", ax, cap)]))

    tfigs = []
    for tj in trajs:
        ax = plots.plot_trajectories(tj)
        tfigs.append(fig(f"trajectories_{tj.outcome}", ax,
                         tj.title + ". Thin lines: individual patients (at most "
                         f"{MAX_PATIENTS_SHOWN} per arm drawn); thick: arm means with 95% CIs "
                         "over the observed patients at months 0 (baseline), 3, 6 and 12."))
    sections.append(Section("Patient trajectories", figures=tfigs))

    sfigs = []
    for i, s in enumerate(samp):
        ax = plots.plot_sampling_distribution(s)
        truth = ("" if math.isnan(s.truth) else f"; truth {s.truth:+.4g}")
        sfigs.append(fig(f"sampling_distribution_{i + 1}", ax,
                         f"Sampling distribution of the estimated effect, {s.label}, over "
                         f"{s.n_trials:,} trials at N = {s.n_per_arm}: mean "
                         f"{s.mean:+.4g} (MC SE {s.mean_mc_se:.2g}), SD {s.sd:.4g}{truth}. "
                         f"Trials reaching significance ({s.share_sig:.1%}, MC SE "
                         f"{s.share_sig_mc_se:.2g}) have mean estimate {s.mean_sig:+.4g} (MC SE "
                         f"{s.mean_sig_mc_se:.2g}): the winner's curse."))
    sections.append(Section("Sampling distribution of the estimated effect", figures=sfigs))

    bs = _bayes_section(run, sc)
    if bs is not None:
        sections.append(bs)
    ad = _adaptive_section(run, sc) if getattr(sc, "adaptive", None) is not None else None
    if ad is not None:
        sections.append(ad)

    cs = _conduct_section(run, design_result, plots)
    if cs is not None:
        for f in cs.figures:
            figs_made.append(f.fig)
        sections.append(cs)

    ss = _safety_section(run)
    if ss is not None:
        sections.append(ss)

    other = run.results[~run.results["table"].astype(str).isin(known_tables() | {"safety"})]
    other = other[~conduct_rows(other)]
    if not other.empty:
        t = round_frame(other.dropna(axis=1, how="all"))
        t.attrs["caption"] = "Other tables in results.csv."
        sections.append(Section("Other results", tables=[t]))
    sections.append(_manifest_section(run))
    return sections


def write_report(output_dir: str | Path, *, filename: str = REPORT_FILE, prebuilt=None) -> Path:
    """Build the report of a run folder and write ``<output_dir>/report.html`` (atomic) plus
    ``figures/*.png`` and ``figures/*.svg``. ``prebuilt`` as in :func:`build_report`.

    A symbolic link (or a folder or file of the wrong kind) where ``report.html`` or
    ``figures/`` goes is refused before anything is simulated: writing through it would put
    files outside the run folder (:func:`simtrial.present.html.check_targets`).

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    run = load_run(output_dir)
    # refused before the re-simulation: a link or folder where report.html or figures/ goes
    check_targets(output_dir, filename)
    sections = _sections(run, prebuilt)
    man = run.manifest      # as checked by load_run (the file is not read a second time)
    # no clock time or absolute path: the same run folder gives the same document
    paths = write_document(output_dir, f"simtrial report: {man['scenario_name']}", sections,
                           filename=filename,
                           subtitle=f"{man['n_trials']:,} replicate trials per N, seed "
                                    f"{man['seed']}, scenario hash {man['scenario_hash'][:12]}; "
                                    f"run with simtrial {man['simtrial_version']}, report by "
                                    f"simtrial {__version__}")
    return paths[filename]
