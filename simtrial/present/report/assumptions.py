"""The assumptions table: every number the simulation rests on, with its value, flag
(reported / derived / assumed) and source."""

from __future__ import annotations

import math
import re
from typing import Any
import numpy as np
import pandas as pd

from ...model.evidence import load_evidence
from ...model.presets import (OUTCOME_RESIDUAL_CORRELATION_SOURCE, VISIT_CORRELATION_SOURCE,
                              get_preset)
from .load import fmt

__all__ = ["assumptions_table", "evidence_rows_used"]

# ---------------------------------------------------------------------------------------------
# assumptions
# ---------------------------------------------------------------------------------------------

_FLAG_WORDS = (("ASSUMED", "assumed"), ("DERIVED", "derived"), ("REPORTED", "reported"))


def _flag_of(text: str, default: str = "assumed") -> str:
    """Weakest flag a source text mentions (assumed < derived < reported)."""
    up = (text or "").upper()
    for word, flag in _FLAG_WORDS:
        if word in up:
            return flag
    return default


_FAMILY_PARAMS = {"normal": ("mean", "sd"), "lognormal": ("mean", "sd"),
                  "truncnorm": ("mean", "sd", "lower", "upper"), "bernoulli": ("p",)}


def _number_in(v: Any) -> Any:
    """The number a provenance entry states ("... = 0.1066", "ASSUMED 7 (...)", "row (0.25)")."""
    if not isinstance(v, str):
        return v
    for pat in (r"=\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$", r"^(?:ASSUMED|DERIVED|REPORTED)\s+"
                r"(-?\d+(?:\.\d+)?)\b", r"\((-?\d+(?:\.\d+)?)\)\s*$", r"^(-?\d+(?:\.\d+)?)$"):
        m = re.search(pat, v.strip())
        if m:
            return float(m.group(1))
    return ""


_SE_ROUTE = {"ci": ("derived", "SE = (CI high - CI low) / 3.92 from the reported 95% CI"),
             "p": ("derived", "SE = |MD| / z(1 - P/2) from the reported exact P"),
             "bound": ("derived", "SE = |MD| / z(1 - x/2): the largest SE consistent with the "
                                  "reported P < x (conservative)"),
             "assumed": ("assumed", "")}


def evidence_rows_used(models) -> dict[str, set[str]]:
    """Evidence row ids each outcome's MD comes from, over the stratum models."""
    ids = set(load_evidence()["id"])
    out: dict[str, set[str]] = {}
    for m in models:
        for o, srcs in m.md_source.items():
            for s in srcs:
                if s in ids:
                    out.setdefault(o, set()).add(s)
    return out


def assumptions_table(sc, models, outcomes: tuple[str, ...], dm=None) -> pd.DataFrame:
    """Every number the simulation rests on, with its value, flag and source.

    Columns: ``quantity, value, flag, source``. Covers the evidence rows behind the simulated
    outcomes (MD, SE and its route, I², k), the MD used at each visit, the effect distribution,
    the population (marginals, criteria, correlation), the natural history of each simulated
    outcome, and the scenario's own assumptions (dose scaling, dropout, heterogeneity).
    """
    ev = load_evidence().set_index("id")
    rows: list[dict[str, str]] = []
    scen = f"scenario {sc.source_path or sc.name}"

    def add(q, v, flag, src):
        rows.append({"quantity": q, "value": fmt(v), "flag": flag, "source": src})

    used = evidence_rows_used(models)
    for o in outcomes:
        for rid in sorted(used.get(o, ())):
            r = ev.loc[rid]
            where = f"{r['source']} ({r['source_detail']})"
            note = f"; note: {r['note']}" if isinstance(r["note"], str) and r["note"] else ""
            tm = "pooled" if pd.isna(r["time_months"]) else f"{int(r['time_months'])} mo"
            tag = f"{rid}: {o} {tm} {r['population']}"
            add(f"{tag}: MD ({r['unit']})", r["md"], str(r["md_status"]),
                where + (note if r["md_status"] != "reported" else ""))
            if pd.notna(r["ci_low"]):
                add(f"{tag}: 95% CI", [r["ci_low"], r["ci_high"]], "reported", where)
            if pd.notna(r["p_value"]):
                add(f"{tag}: P", f"{r['p_relation'] if r['p_relation'] != '=' else ''}"
                    f"{fmt(r['p_value'])}", "reported", where)
            flag, route = _SE_ROUTE.get(str(r["se_method"]), ("assumed", ""))
            add(f"{tag}: SE", r["se"], flag, route or ("ASSUMED" + note))
            if pd.notna(r["i2"]):
                add(f"{tag}: I² (%)", r["i2"], "reported", where)
            if pd.notna(r["k"]):
                add(f"{tag}: k studies", int(r["k"]), "reported", where)
    for si, m in enumerate(models):
        pre = f"[{m.population.preset}] " if len(models) > 1 else ""
        for o in outcomes:
            for month, md, src in zip(m.visits, m.md[o], m.md_source[o]):
                if src in ev.index:
                    flag = str(ev.loc[src, "md_status"])
                elif src.startswith("interpolated"):
                    # interpolating evidence derives a number; interpolating an assumed one not
                    flag = "derived" if any(x in ev.index for x in m.md_source[o]) else "assumed"
                else:
                    flag = "assumed"
                add(f"{pre}MD used for {o} at {month} mo", md, flag, src)
        if si == 0 and m.distribution is not None and not m.distribution.is_point:
            d = m.distribution
            add(f"effect distribution ({d.kind}, {d.family})",
                f"mean {fmt(d.expectation())}, SD {fmt(d.sd())}", "derived"
                if d.kind in ("pooled", "predictive") else "assumed",
                "true effect of a future trial, for assurance")
            for k, v in (d.provenance or {}).items():
                if k == "row":      # the row itself is listed above
                    continue
                flag = "assumed" if k == "discount" else _flag_of(str(v), "derived")
                add(f"effect distribution: {k}", _number_in(v), flag, str(v))
        pop = m.population
        for var, mg in pop.marginals.items():
            keys = _FAMILY_PARAMS.get(mg.family, ("mean", "sd", "lower", "upper", "p"))
            params = ", ".join(f"{k} {fmt(getattr(mg, k))}" for k in keys
                               if getattr(mg, k, None) is not None
                               and not (k in ("lower", "upper")
                                        and not math.isfinite(getattr(mg, k))))
            src = pop.sources.get(var, mg.source)
            flag = "assumed" if src.startswith("scenario override") else _flag_of(src)
            add(f"{pre}baseline {var} ({mg.family})", params, flag, src or "ASSUMED")
        preset = get_preset(pop.preset)
        for var, (lo, hi) in pop.criteria.items():
            over = var in sc.population.criteria
            add(f"{pre}inclusion criterion {var}", f"[{fmt(lo)}, {fmt(hi)}]", "assumed",
                scen if over else preset.get("criteria_source", "preset"))
        add(f"{pre}screen failure probability", m.screen_fail_prob, "derived",
            f"calibration sample of {m.calibration.get('screened', '')} candidates "
            f"(MC SE {fmt(m.screen_fail_mc_se)}): follows from the marginals and criteria")
        add(f"{pre}baseline correlation (Gaussian copula)",
            f"{int((np.abs(np.triu(pop.correlation, 1)) > 0).sum())} non-zero pairs", "assumed",
            pop.sources.get("correlation", "preset"))
        for o in outcomes:
            vm = m.outcomes[o]
            src = preset["outcomes"].get(o, {}).get("source", "preset")
            if o in sc.outcome_model.per_outcome or any(
                    getattr(sc.outcome_model, k) is not None
                    for k in ("sd_change", "rho", "control_change")):
                src = f"{scen} overrides the preset ({src})"
            for key in ("control_change", "sd_change", "rho"):
                add(f"{pre}{o} natural history: {key} at {fmt(list(vm.visits))} mo "
                    f"({vm.outcome.scale} scale)", list(getattr(vm, key)), _flag_of(src), src)
    add("residual correlation between visits", models[0].visit_corr[0, 1:].round(3).tolist(),
        "assumed", VISIT_CORRELATION_SOURCE if sc.outcome_model.visit_correlation is None
        else scen)
    if len(outcomes) > 1:
        add("residual correlation between outcomes", "preset matrix", "assumed",
            OUTCOME_RESIDUAL_CORRELATION_SOURCE)
    om = sc.outcome_model
    if om.heterogeneity != "none" or om.effect_cv:
        add("patient-level effect heterogeneity", f"{om.heterogeneity}, CV {fmt(om.effect_cv)}"
            + (f", responders {fmt(om.responder_fraction)}" if om.responder_fraction else ""),
            "assumed", scen)
    if dm is not None:
        for a in dm.arms:
            if a.effect_scale != 1.0:
                add(f"arm {a.name}: effect x MD", a.effect_scale, "assumed", scen)
        if sc.dropout is not None:
            d = sc.dropout
            add(f"dropout ({d.mechanism.upper()}, driven by {d.outcome or 'nothing'})",
                (f"cumulative {fmt(d.rate)}" if d.rate is not None else
                 f"per visit {fmt(list(d.per_visit or ()))}")
                + (f", strength {fmt(d.strength)}" if d.mechanism != "mcar" else ""),
                "assumed", scen)
    df = pd.DataFrame(rows, columns=["quantity", "value", "flag", "source"])
    df.attrs["caption"] = ("Every number the simulation rests on. Flag: reported = read from a "
                           "paper; derived = computed from reported numbers (route in the "
                           "source); assumed = chosen by the preset or the scenario. A source "
                           "that mixes flags gets the weakest one.")
    return df
