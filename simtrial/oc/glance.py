"""Results read at a glance: one headline sentence and one labelled key-results table.

The CLI summary (:mod:`simtrial.oc.text`), the HTML report (:mod:`simtrial.present.report`) and
the browser app all call these two functions, so a number reads the same wherever it is shown:

* :func:`headline` — one sentence with N, the deciding probability with its Monte Carlo SE, the
  endpoint in words and the effect with its unit, in the form the scenario calls for (power,
  assurance, interim looks, adaptive re-estimation, Bayesian Go, safety monitoring, responder
  and multi-arm designs);
* :func:`key_results` — rows ``(label, value, mc_se, unit, note)`` in words: no metric
  identifier, every simulated probability with its MC SE, units on every effect.

Both read only a :class:`~simtrial.oc.results.PointResult` (or a ``RunResult``: its design
point), i.e. the same tidy rows as ``results.csv``; they compute no statistic of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..model.design import design_features
from ..model.outcomes import OUTCOMES

__all__ = ["headline", "key_results", "KeyResult", "percent", "endpoint_words", "effect_unit",
           "outcome_label", "arm_words", "analysis_words", "hypothesis_words",
           "hypothesis_short", "design_title"]

_ANALYSIS = {"ancova": "ANCOVA", "ttest_change": "t-test on the change", "mmrm": "MMRM",
             "mi": "multiple imputation", "chisq": "chi-square test",
             "fisher": "Fisher's exact test", "cmh": "Cochran-Mantel-Haenszel test",
             "logistic": "logistic regression"}
_BOUND = {"min": ">=", "max": "<=", "change_min": "change >=", "change_max": "change <=",
          "pct_change_min": "change >=", "pct_change_max": "change <="}
_DIST = {"pooled": "uncertainty of the pooled effect", "predictive": "predictive distribution "
         "of a new trial's effect", "custom": "scenario's distribution of the effect"}


@dataclass(frozen=True)
class KeyResult:
    """One row of the key-results table.

    Attributes
    ----------
    label : str
        What the number is, in words (no metric identifier).
    value : float
        The estimate (probabilities as proportions in [0, 1]).
    mc_se : float
        Its Monte Carlo SE; NaN for closed forms, inputs and SDs.
    unit : str
        ``"probability"``, ``"patients per arm"``, an outcome unit (``"%"``, ``"IU/day"``),
        ``"log ratio"``, ``"risk difference"`` or ``""``.
    note : str
        How to read it (empty where the label says it all).
    group : str
        The hypothesis the row belongs to, in words, when there are several (else empty).
    """

    label: str
    value: float
    mc_se: float
    unit: str
    note: str = ""
    group: str = ""

    @property
    def full_label(self) -> str:
        """``group: label`` (the label alone outside a group)."""
        return f"{self.group}: {self.label}" if self.group else self.label

    def text(self) -> str:
        """``value unit (MC SE se)``, probabilities as percentages."""
        if self.unit == "probability":
            v = percent(self.value)
            return v + ("" if math.isnan(self.mc_se) else f" (MC SE {self.mc_se:.3f})")
        unit = "" if self.unit in ("", "probability") else f" {self.unit}"
        v = f"{self.value:.4g}{unit}"
        return v + ("" if math.isnan(self.mc_se) else f" (MC SE {self.mc_se:.2g})")


# ---------------------------------------------------------------------------------------------
# words for identifiers
# ---------------------------------------------------------------------------------------------

def outcome_label(outcome: str, *, start: bool = False) -> str:
    """The outcome's label in running text: "daily insulin dose", "HbA1c" (acronyms kept)."""
    od = OUTCOMES.get(outcome)
    lab = od.label if od is not None else outcome.replace("_", " ")
    first = lab.split(" ")[0]
    if not start and len(first) > 1 and first[1:].isalpha() and first[1:].islower():
        lab = lab[0].lower() + lab[1:]
    return lab


def arm_words(name: str) -> str:
    """An arm name in words ("low_dose" -> "low dose"; "MSC" kept)."""
    return str(name).replace("_", " ")


def analysis_words(analysis: str) -> str:
    """The analysis in words ("ancova" -> "ANCOVA")."""
    return _ANALYSIS.get(analysis, analysis)


def effect_unit(e) -> str:
    """Unit of the estimated effect of endpoint ``e``."""
    if e.type == "responder":
        return "risk difference"
    if e.scale == "log":
        return "log ratio"
    od = OUTCOMES.get(e.outcome)
    return od.unit if od is not None else ""


def _criterion(c) -> str:
    o, bound, v = c
    od = OUTCOMES.get(o)
    unit = "%" if bound.startswith("pct_") else (od.unit if od is not None else "")
    return f"{outcome_label(o)} {_BOUND.get(bound, bound)} {v:g} {unit}".rstrip()


def endpoint_words(e) -> str:
    """The endpoint in words: "12-month HbA1c change", "12-month responder endpoint (HbA1c
    <= 7 % and daily insulin dose change <= -50 %)"."""
    if e.type == "responder":
        join = " and " if e.combine == "all" else " or "
        return (f"{e.visit_months}-month responder endpoint ("
                + join.join(_criterion(c) for c in e.responder) + ")")
    scale = " (ratio of means)" if e.scale == "log" else ""
    return f"{e.visit_months}-month {outcome_label(e.outcome)} change{scale}"


def hypothesis_words(dm, h) -> str:
    """A hypothesis in words, for tables with more than one."""
    e = h.endpoint
    arm = f"{arm_words(h.arm_name)} vs control, " if len(dm.arms) > 1 else ""
    return f"{arm}{endpoint_words(e)} ({analysis_words(e.analysis)})"


def hypothesis_short(dm, h) -> str:
    """A hypothesis in a few words, for legends: "low dose vs control", "HbA1c at 12 months
    (MMRM)", "HbA1c <= 7 % and daily insulin dose change <= -50 % at 12 months"."""
    e = h.endpoint
    if len(dm.arms) > 1 and len({x.endpoint_index for x in dm.hypotheses}) == 1:
        return f"{arm_words(h.arm_name)} vs control"
    if e.type == "responder":
        join = " and " if e.combine == "all" else " or "
        what = join.join(_criterion(c) for c in e.responder)
    else:
        what = outcome_label(e.outcome, start=True)
    arm = f", {arm_words(h.arm_name)}" if len(dm.arms) > 1 else ""
    return f"{what} at {e.visit_months} months ({analysis_words(e.analysis)}){arm}"


def _effect(h) -> str:
    if math.isnan(h.truth):
        return ""
    unit = effect_unit(h.endpoint)
    return f" of {h.truth:+.3g} {unit}"


def percent(x: float) -> str:
    """A probability as a percentage: one decimal, more below 0.1% (never "0.0%" for 3e-5)."""
    if 0 < abs(x) < 0.001:
        return f"{x * 100:.2g}%"
    return f"{x:.1%}"


def _pct(x: float, se: float, word: str = "") -> str:
    return f"{percent(x)}{' ' + word if word else ''} (MC SE {se:.3f})"


# ---------------------------------------------------------------------------------------------
# reading the rows
# ---------------------------------------------------------------------------------------------

def _point(p):
    return getattr(p, "point", p)


def _find(rows, metric, hypothesis=None, arm=None):
    for r in rows:
        if r["metric"] == metric and (hypothesis is None or r["hypothesis"] == hypothesis) \
                and (arm is None or r["arm"] == arm):
            return float(r["estimate"]), float(r["mc_se"])
    return math.nan, math.nan


def _conditions(rows, hypothesis: str) -> dict[str, dict[str, dict]]:
    """Rows of ``hypothesis`` (bayes, adaptive) by condition: ``{condition: {metric: row}}``."""
    by: dict[str, dict[str, dict]] = {}
    for r in rows:
        if r["hypothesis"] == hypothesis:
            cond = str(r["design_point"]).split(" ", 1)
            by.setdefault(cond[1] if len(cond) > 1 else "", {})[r["metric"]] = r
    return by


def _est(m: dict, key: str) -> tuple[float, float]:
    r = m.get(key)
    if r is None:
        return math.nan, math.nan
    se = r.get("mc_se", math.nan)
    return float(r["estimate"]), (math.nan if se is None else float(se))


# ---------------------------------------------------------------------------------------------
# the headline
# ---------------------------------------------------------------------------------------------

def _selection_headline(p, adaptive: dict) -> str:
    """The treatment-selection design: P(at least one arm succeeds), the arm most often chosen,
    the expected patients in all and the family-wise error."""
    dm = p.design
    cfg = dm.scenario.adaptive
    m, nul = adaptive["effect"], adaptive.get("null", {})
    h0 = dm.hypotheses[0]
    pw, se = _est(m, "power")
    n1, _ = _est(m, "n1")
    en, en_se = _est(m, "expected_n_total")
    sel = [(_est(m, f"p_selected_{a.name}"), a) for a in dm.arms]
    (ps, ps_se), best = max(sel, key=lambda x: x[0][0])
    when = (f"{cfg.select_visit_months}-month " if cfg.select_visit_months else "")
    out = (f"Choosing among {len(dm.arms)} MSC arms ({cfg.selection}) on the {when}results of "
           f"the first {n1:.0f} per arm gives {_pct(pw, se, 'power')} that a chosen arm succeeds "
           f"on the {endpoint_words(h0.endpoint)}, with {en:.1f} patients expected in all (MC "
           f"SE {en_se:.2f}); {arm_words(best.name)} is chosen in {_pct(ps, ps_se)}")
    if "type_i_error" in nul:
        t1, t1_se = _est(nul, "type_i_error")
        out += f"; family-wise error {t1:.2%} (MC SE {t1_se:.3f})"
    return out


def headline(p) -> str:
    """One sentence answering the scenario's question, with units and MC SE.

    Parameters
    ----------
    p : PointResult or RunResult
        A run's design point (a ``RunResult`` is read at its design point).

    Returns
    -------
    str
        E.g. ``"N = 20 per arm gives 96.2% power (MC SE 0.004) for the 12-month HbA1c change of
        -0.98 %"``; with an effect distribution ``"...; assurance 81.1% (MC SE 0.009) over the
        predictive distribution of a new trial's effect"``; interim looks, an adaptive design,
        a Bayesian rule, safety monitoring, a responder endpoint or several MSC arms each
        change or extend the sentence with their own deciding number. Every probability is a
        row of ``results.csv`` and is printed with its Monte Carlo SE.
    """
    p = _point(p)
    dm = p.design
    sc = dm.scenario
    rows = p.rows()
    h0 = dm.hypotheses[0]
    e0 = h0.endpoint
    adaptive = _conditions(rows, "adaptive") if getattr(sc, "adaptive", None) else {}
    if "effect" in adaptive and sc.adaptive.selection is not None:
        return _selection_headline(p, adaptive) + _safety_clause(p)
    if "effect" in adaptive:
        m = adaptive["effect"]
        nul = adaptive.get("null", {})
        pw, se = _est(m, "power")
        en, en_se = _est(m, "expected_n_per_arm")
        n1, _ = _est(m, "n1")
        cap, _ = _est(m, "max_n_per_arm")
        rule = sc.adaptive.rule.replace("_", "-")
        out = (f"The {rule} design (interim at {n1:.0f}, planned {p.n_per_arm}, at most "
               f"{cap:.0f} per arm) gives {_pct(pw, se, 'power')} for the {endpoint_words(e0)}"
               f"{_effect(h0)}, with {en:.1f} patients per arm expected (MC SE {en_se:.2f})")
        if "type_i_error" in nul:
            t1, t1_se = _est(nul, "type_i_error")
            out += f"; type I error {t1:.2%} (MC SE {t1_se:.3f})"
        return out + _safety_clause(p)
    if len(dm.arms) > 1:
        hs = [h for h in dm.hypotheses if h.endpoint_index == h0.endpoint_index]
        parts = [f"{_pct(st.reject / p.n_trials, _se(st.reject, p.n_trials), 'power')} for "
                 f"{arm_words(h.arm_name)}"
                 + ("" if math.isnan(h.truth) else f" ({h.truth:+.3g} {effect_unit(e0)})")
                 for h in hs for st in (p.stats[h.index],)]
        out = (f"N = {p.n_per_arm} per arm gives " + " and ".join(parts)
               + f" vs control on the {endpoint_words(e0)}")
        fam = _find(rows, "disjunctive_power", "family")
        if not math.isnan(fam[0]):
            out += f"; at least one arm succeeds with {_pct(*fam)}"
        return out + _safety_clause(p)
    bayes = _conditions(rows, "bayes") if sc.bayes is not None else {}
    go = next((m for c, m in bayes.items() if c.endswith("(scenario)")), None)
    if go is not None and "p_go" in go:
        g, g_se = _est(go, "p_go")
        out = (f"N = {p.n_per_arm} per arm gives P(Go) {_pct(g, g_se)} for the "
               f"{endpoint_words(e0)}{_effect(h0)}")
        zero = next((m for c, m in bayes.items() if c.split(" ")[-1] == "effect=0"
                     and not c.startswith("control_shift")), None)
        if zero is not None and "p_go" in zero:
            out += f" and {_pct(*_est(zero, 'p_go'))} if the effect is 0"
        cfg = sc.bayes
        who = "control arm" if cfg.target == "control" else "effect"
        prior = " ".join("MAP" if w == "map" else w for w in cfg.prior.split("_"))
        out += (f" ({prior} prior on the {who}); frequentist power "
                f"{_pct(p.power, p.mc_se)}")
        return out + _safety_clause(p)
    what = endpoint_words(e0)
    out = f"N = {p.n_per_arm} per arm gives {_pct(p.power, p.mc_se, 'power')} for the {what}"
    out += _effect(h0)
    if e0.type == "responder":
        names = ["control"] + [a.name for a in dm.arms]
        r1 = _find(rows, "responder_rate", h0.label, names[1])
        r0 = _find(rows, "responder_rate", h0.label, "control")
        if not math.isnan(r1[0]) and not math.isnan(r0[0]):
            out += f": responders {r1[0]:.1%} with MSC vs {r0[0]:.1%} with control"
    if dm.boundaries is not None:
        k = len(dm.boundaries.fractions)
        ep, ep_se = _find(rows, "expected_patients")
        out += f", with {k} looks"
        if not math.isnan(ep):
            out += (f" ({ep:.1f} of {int(p.sizes.sum())} patients expected, MC SE "
                    f"{ep_se:.2f})")
    if not math.isnan(p.assurance):
        dist = dm.models[0].distribution
        over = _DIST.get(getattr(dist, "kind", ""), "effect distribution")
        out += f"; assurance {_pct(p.assurance, p.assurance_mc_se)} over the {over}"
    return out + _safety_clause(p)


def _se(count: int, n: int) -> float:
    x = count / n
    return math.sqrt(x * (1 - x) / n)


def _safety_clause(p) -> str:
    """"; P(stop for harm) 1.6% (MC SE 0.003)" for the first monitored [[safety]] event."""
    for r in p.safety:
        if r["metric"] == "p_stop_harm":
            return (f"; P(stop for harm, {arm_words(r['endpoint'])}) "
                    f"{_pct(float(r['estimate']), float(r['mc_se']))}")
    return ""


# ---------------------------------------------------------------------------------------------
# the key-results table
# ---------------------------------------------------------------------------------------------

def key_results(p) -> list[KeyResult]:
    """The key numbers at the design size, in words, with units and MC SE.

    Parameters
    ----------
    p : PointResult or RunResult

    Returns
    -------
    list of KeyResult
        In order: per hypothesis (named in words when there are several) power, assurance,
        closed forms, mean and SD of the estimated effect, true effect, bias, responder rates,
        insulin independence, failed fits; then the family of hypotheses, interim looks, the
        drawn effects (and how many were clipped at a physical limit), screening, dropout, the
        adaptive design, the Bayesian rule and safety monitoring. Probabilities are
        proportions with unit ``"probability"``.
    """
    p = _point(p)
    dm = p.design
    sc = dm.scenario
    rows = p.rows()
    out: list[KeyResult] = []
    several = len(dm.hypotheses) > 1
    names = ["control"] + [a.name for a in dm.arms]
    for h, st in zip(dm.hypotheses, p.stats):
        group = hypothesis_words(dm, h) if several else ""
        unit = effect_unit(h.endpoint)

        def add(label, v, se=math.nan, u="probability", note=""):
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                out.append(KeyResult(label, float(v), float(se), u, note, group))

        def get(metric, arm=None):
            return _find(rows, metric, h.label, arm)
        pw, pw_se = get("power")
        adj = "" if not several and dm.boundaries is None else " (after multiplicity / looks)"
        add("power" + adj, pw, pw_se, note=f"{sc.design.sides}-sided alpha "
            f"{sc.design.alpha:g}, {p.n_trials:,} trials")
        suc, suc_se = get("success")
        if not math.isnan(suc) and abs(suc - pw) > 1e-12:
            add("significant in the direction of benefit", suc, suc_se)
        a, a_se = get("assurance")
        add("assurance", a, a_se, note="P(significant and favouring MSC), averaged over the "
            "effect distribution")
        add("closed-form power", get("analytic_power")[0],
            note="complete-data formula, no Monte Carlo error")
        add("closed-form assurance", get("analytic_assurance")[0],
            note="complete-data formula, no Monte Carlo error")
        m, m_se = get("mean_estimate")
        add("mean estimated effect (MSC minus control)", m, m_se, unit)
        add("SD of the estimated effect over trials", get("sd_estimate")[0], math.nan, unit)
        add("true effect", get("true_effect")[0], math.nan, unit, "scenario input")
        b, b_se = get("bias")
        add("bias of the estimate", b, b_se, unit, "mean estimate minus the true effect")
        for arm in names:
            r, r_se = get("responder_rate", arm)
            add(f"responder rate, {arm_words(arm)}", r, r_se)
        add("exact type I error of the responder test", get("exact_size")[0],
            note="at this N, computed exactly")
        nf, nf_se = get("not_fitted")
        if nf:
            add("trials whose model fit failed", nf, nf_se, note="counted as not significant")
    ii = [(arm, _find(rows, "insulin_independence", arm=arm)) for arm in names]
    for arm, (v, se) in ii:
        if not math.isnan(v):
            out.append(KeyResult(f"insulin-free at {sc.endpoint.visit_months} months, "
                                 f"{arm_words(arm)}", v, se, "probability",
                                 "daily dose reached the physical limit 0"))
    for metric, label in (("disjunctive_power", "at least one false null rejected"),
                          ("conjunctive_power", "every false null rejected"),
                          ("fwer", "family-wise error rate")):
        v, se = _find(rows, metric, "family")
        if not math.isnan(v):
            out.append(KeyResult(label, v, se, "probability"))
    if dm.boundaries is not None:
        for li, frac in enumerate(dm.boundaries.fractions):
            for metric, what in (("stop_efficacy", "efficacy"), ("stop_futility", "futility")):
                for r in rows:
                    if r["metric"] == metric and str(r["visit"]).startswith(f"look {li + 1} "):
                        out.append(KeyResult(f"stop for {what} at look {li + 1} (information "
                                             f"{frac:g})", float(r["estimate"]),
                                             float(r["mc_se"]), "probability"))
        ep, ep_se = _find(rows, "expected_patients")
        if not math.isnan(ep):
            out.append(KeyResult("expected patients", ep, ep_se, "patients",
                                 f"of {int(p.sizes.sum())} at the final analysis"))
    tm, tm_se = _find(rows, "trial_effect_mean")
    if not math.isnan(tm):
        u = effect_unit(sc.endpoint)
        out.append(KeyResult("mean of the drawn true effects", tm, tm_se, u,
                             "one true effect per trial, from the effect distribution"))
        out.append(KeyResult("SD of the drawn true effects", _find(rows, "trial_effect_sd")[0],
                             math.nan, u))
        cl = p.theta_clipped
        share = cl / p.n_trials
        out.append(KeyResult("drawn effects clipped at the physical limit", share,
                             _se(cl, p.n_trials), "probability",
                             f"{cl:,} of {p.n_trials:,} draws lay beyond the largest attainable "
                             "effect and were set to it" if cl else "none beyond the limit"))
    rf, rf_se = _find(rows, "responder_fraction")
    if not math.isnan(rf):
        out.append(KeyResult("MSC patients who respond", rf, rf_se, "probability",
                             "responder-mixture heterogeneity"))
    for r in rows:
        if r["metric"] == "screen_fail" and r["hypothesis"] in ("", None):
            out.append(KeyResult("screen failures", float(r["estimate"]), float(r["mc_se"]),
                                 "probability", "share of screened candidates failing the "
                                 "inclusion criteria"))
        elif str(r["metric"]).startswith("screen_fail_"):
            s = str(r["metric"])[len("screen_fail_"):]
            out.append(KeyResult(f"screen failures, {s.upper()}", float(r["estimate"]),
                                 float(r["mc_se"]), "probability"))
        elif (r["metric"] == "observed_fraction"
              and str(r["visit"]) == str(sc.endpoint.visit_months)):
            out.append(KeyResult(f"observed at month {r['visit']}, {arm_words(r['arm'])}",
                                 float(r["estimate"]), float(r["mc_se"]), "probability",
                                 "dropout"))
    out.extend(_adaptive_rows(rows, sc))
    out.extend(_bayes_rows(rows, sc))
    out.extend(_safety_rows(p))
    return out


def _adaptive_rows(rows, sc) -> list[KeyResult]:
    if getattr(sc, "adaptive", None) is None:
        return []
    out = []
    for cond, m in _conditions(rows, "adaptive").items():
        when = "with the scenario effect" if cond == "effect" else "with no effect"
        for key, label, unit in (
                ("power", "adaptive design: power", "probability"),
                ("type_i_error", "adaptive design: type I error", "probability"),
                ("expected_n_per_arm", "adaptive design: expected patients per arm",
                 "patients per arm"),
                ("p_increase", "adaptive design: sample size increased", "probability"),
                ("p_futility", "adaptive design: stopped for futility", "probability")):
            v, se = _est(m, key)
            if not math.isnan(v):
                out.append(KeyResult(f"{label} ({when})", v, se, unit))
    return out


def _bayes_rows(rows, sc) -> list[KeyResult]:
    if sc.bayes is None:
        return []
    out = []
    for cond, m in _conditions(rows, "bayes").items():
        if cond == "prior":
            v, _ = _est(m, "prior_ess_elir")
            if not math.isnan(v):
                out.append(KeyResult("prior effective sample size (ELIR)", v, math.nan,
                                     "patients", "not simulated"))
            continue
        words = (cond.replace("(scenario)", "(the scenario effect)")
                 .replace("design_prior", "effect drawn from the design prior")
                 .replace("control_shift=", "control arm shifted by ").replace("_", " "))
        for key, label in (("p_go", "P(Go)"), ("p_nogo", "P(No-Go)")):
            v, se = _est(m, key)
            if not math.isnan(v):
                out.append(KeyResult(f"Bayesian rule: {label}, {words}", v, se, "probability"))
    return out


def _safety_rows(p) -> list[KeyResult]:
    out = []
    for r in p.safety:
        ev = arm_words(r["endpoint"])
        if r["metric"] == "p_any_event":
            out.append(KeyResult(f"safety: P(at least one {ev} event), {arm_words(r['arm'])}",
                                 float(r["estimate"]), float(r["mc_se"]), "probability"))
        elif r["metric"] in ("p_stop_harm", "power_lost"):
            what = "P(stop for harm)" if r["metric"] == "p_stop_harm" else "power lost"
            out.append(KeyResult(f"safety monitoring of {ev}: {what}", float(r["estimate"]),
                                 float(r["mc_se"]), "probability"))
    return out


# ---------------------------------------------------------------------------------------------
# figure titles
# ---------------------------------------------------------------------------------------------

def design_title(dm, what: str = "Power") -> str:
    """Title of a design's power figures in words, with the effect's unit: "Power for the
    12-month HbA1c change (ANCOVA), true effect -0.98 %"; several hypotheses, dropout,
    interim looks and multiplicity are named in words (no identifier)."""
    sc = dm.scenario
    h0 = dm.hypotheses[0]
    e0 = h0.endpoint
    if len(dm.arms) > 1 and len({h.endpoint_index for h in dm.hypotheses}) == 1:
        eff = ", ".join(f"{arm_words(h.arm_name)} {h.truth:+.3g}" for h in dm.hypotheses
                        if not math.isnan(h.truth))
        out = (f"{what} vs control on the {endpoint_words(e0)} ({analysis_words(e0.analysis)})"
               + (f", true effects {eff} {effect_unit(e0)}" if eff else ""))
    elif len(dm.hypotheses) > 1:
        out = f"{what} of {len(dm.hypotheses)} hypotheses, primary: {endpoint_words(e0)}"
    else:
        out = (f"{what} for the {endpoint_words(e0)} ({analysis_words(e0.analysis)})"
               + _effect(h0).replace(" of ", ", true effect ", 1))
    extra = design_features(sc)
    return out + ("; " + ", ".join(extra) if extra else "")
