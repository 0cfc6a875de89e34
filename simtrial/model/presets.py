"""Population and natural-history presets for T1D and T2D, with the source of every number.

Each number carries a flag: REPORTED (read from a paper, via ../shared/evidence/FACTS.md),
DERIVED (computed from reported numbers; formula given) or ASSUMED (chosen here; reasoning given).
Every value can be overridden from a scenario (``[population.<variable>]``,
``[population.criteria]``, ``[population.correlation]``, ``[outcome_model.<outcome>]``).

Baseline variables (Gaussian copula over these marginals, in this order):

========================  ==========  =======================================================
variable                  unit        meaning
========================  ==========  =======================================================
age                       years       age at randomisation
male                      0/1         sex (1 = male)
weight                    kg          body weight
duration                  years       diabetes duration
hba1c                     %           glycated haemoglobin
fbg                       mg/dL       fasting blood glucose
ppbg                      mg/dL       post-prandial blood glucose
fasting_cpeptide          ng/mL       fasting C-peptide (log-normal)
insulin_per_kg            IU/kg/day   daily insulin dose per kg; IU/day = this x weight
stimulated_cpeptide       ng/mL       stimulated (mixed-meal) C-peptide (log-normal)
homa_ir                   index       HOMA insulin resistance (log-normal)
homa_b                    %           HOMA beta-cell function (log-normal)
========================  ==========  =======================================================

Marginal families: ``normal(mean, sd)``; ``truncnorm(mean, sd, lower, upper)`` (mean and sd of
the parent normal before truncation); ``lognormal(mean, sd)`` (mean and sd on the natural scale;
log-scale parameters DERIVED as sigma^2 = log(1 + sd^2/mean^2), mu = log(mean) - sigma^2/2);
``bernoulli(p)``.

Outcome natural history (control arm) is given per visit (months 3, 6, 12) on the outcome's model
scale (log for C-peptide, natural otherwise): ``control_change`` (mean change from baseline),
``sd_change`` (SD of change from baseline) and ``rho`` (correlation of baseline with the value at
the visit). See :mod:`simtrial.outcomes` for how these become a trajectory model.
"""

from __future__ import annotations

import copy
from typing import Any

VISITS: tuple[int, ...] = (3, 6, 12)
"""Default post-baseline visits, months; also the anchor months of the natural-history arrays
(values at other months are interpolated, see :func:`simtrial.outcomes.at_months`)."""

VARIABLES: tuple[str, ...] = (
    "age", "male", "weight", "duration", "hba1c", "fbg", "ppbg", "fasting_cpeptide", "insulin_per_kg",
    "stimulated_cpeptide", "homa_ir", "homa_b",
)
DERIVED_VARIABLES: dict[str, str] = {"insulin_dose": "insulin_per_kg * weight (IU/day)"}
UNITS: dict[str, str] = {
    "age": "years", "male": "0/1", "weight": "kg", "duration": "years", "hba1c": "%",
    "fbg": "mg/dL", "ppbg": "mg/dL", "fasting_cpeptide": "ng/mL", "insulin_per_kg": "IU/kg/day",
    "insulin_dose": "IU/day", "stimulated_cpeptide": "ng/mL", "homa_ir": "index", "homa_b": "%",
}

PLAUSIBLE: dict[str, tuple[float, float]] = {
    "age": (0.0, 100.0), "weight": (2.0, 300.0), "duration": (0.0, 80.0), "hba1c": (3.0, 20.0),
    "fbg": (20.0, 1000.0), "ppbg": (20.0, 1500.0), "fasting_cpeptide": (0.0, 20.0),
    "insulin_per_kg": (0.0, 5.0), "stimulated_cpeptide": (0.0, 40.0), "homa_ir": (0.0, 100.0),
    "homa_b": (0.0, 5000.0),
}
"""Physiological range of each continuous baseline variable (ASSUMED: wider than any patient a
diabetes trial enrols). A population mean outside it, or an SD wider than it or narrower than
1e-4 of it, is refused: such a population is no one's, and its arithmetic overflows."""

_INF = float("inf")

# ---------------------------------------------------------------------------------------------
# Type 1 diabetes
# ---------------------------------------------------------------------------------------------
_T1D: dict[str, Any] = {
    "label": "Type 1 diabetes, MSC trial population (children to adults, mostly short duration)",
    "variables": {
        "age": {"family": "truncnorm", "mean": 24.0, "sd": 10.0, "lower": 8.0, "upper": 65.0,
                "source": "REPORTED: T1D trial mean ages 10.27-36 y (Kashbour 2025); spread and "
                          "limits ASSUMED"},
        "male": {"family": "bernoulli", "p": 0.55, "source": "ASSUMED"},
        "weight": {"family": "truncnorm", "mean": 60.0, "sd": 14.0, "lower": 25.0, "upper": 130.0,
                   "source": "ASSUMED: adolescents and adults"},
        "duration": {"family": "lognormal", "mean": 4.0, "sd": 4.0,
                     "source": "ASSUMED from REPORTED: duration > 4 y except one new-onset (< 2 y) "
                               "trial (Kashbour 2025)"},
        "hba1c": {"family": "normal", "mean": 8.2, "sd": 1.0,
                  "source": "REPORTED: trial baseline means 6.5-9.9% (Kashbour 2025); T1D adult SD "
                            "0.8-1.1% (FACTS 4)"},
        "fbg": {"family": "normal", "mean": 160.0, "sd": 50.0,
                "source": "ASSUMED: below the ADAG mean glucose for HbA1c 8.2% "
                          "(28.7*8.2-46.7 = 189 mg/dL, DERIVED)"},
        "ppbg": {"family": "normal", "mean": 220.0, "sd": 60.0, "source": "ASSUMED"},
        "fasting_cpeptide": {"family": "lognormal", "mean": 0.35, "sd": 0.30,
                             "source": "ASSUMED from REPORTED: new-onset entry fasting > 0.12 "
                                       "nmol/L (0.36 ng/mL); long-standing T1D mostly very low"},
        "insulin_per_kg": {"family": "lognormal", "mean": 0.65, "sd": 0.20,
                           "source": "REPORTED: adult T1D 0.54-0.77 U/kg/day, honeymoon 0.2-0.6 "
                                     "(FACTS 4)"},
        "stimulated_cpeptide": {"family": "lognormal", "mean": 0.75, "sd": 0.60,
                                "source": "ASSUMED from REPORTED: new-onset entry stimulated >= "
                                          "0.2 nmol/L (0.6 ng/mL) (FACTS 4), about twice fasting"},
        "homa_ir": {"family": "lognormal", "mean": 1.5, "sd": 1.0,
                    "source": "ASSUMED (HOMA in insulin-treated T1D is rough; C-peptide based)"},
        "homa_b": {"family": "lognormal", "mean": 20.0, "sd": 15.0,
                   "source": "ASSUMED: low residual beta-cell function"},
    },
    "correlation": {
        ("age", "weight"): 0.5, ("age", "duration"): 0.3, ("age", "fasting_cpeptide"): 0.2,
        ("male", "weight"): 0.3, ("duration", "fasting_cpeptide"): -0.4,
        ("hba1c", "fbg"): 0.6, ("hba1c", "ppbg"): 0.6, ("fbg", "ppbg"): 0.5,
        ("hba1c", "fasting_cpeptide"): -0.2, ("hba1c", "insulin_per_kg"): 0.15,
        ("fasting_cpeptide", "insulin_per_kg"): -0.3,
        ("fbg", "homa_ir"): 0.4,
    },
    "correlation_source": "ASSUMED: signs from FACTS 4 (C-peptide falls with duration, faster in "
                          "the young (Hao 2016); more C-peptide, less insulin); glucose measures "
                          "correlate with HbA1c",
    "criteria": {"hba1c": (6.5, 12.0), "fasting_cpeptide": (0.1, _INF)},
    "criteria_source": "ASSUMED: residual beta-cell function (FACTS 4 entry criteria) and the "
                       "baseline HbA1c range of the pooled trials",
    "outcomes": {
        "hba1c": {"control_change": (0.0, 0.1, 0.2), "sd_change": (0.6, 0.7, 0.8),
                  "rho": (0.85, 0.78, 0.7),
                  "source": "sd_change 12 mo DERIVED (Lund 2008, ~0.8%); 3/6 mo ASSUMED; rho "
                            "ASSUMED (>= 0.6 needed for sd_change 0.8 with baseline SD 1.0); "
                            "control drift ASSUMED (end of partial remission)"},
        "fbg": {"control_change": (0.0, 0.0, 0.0), "sd_change": (50.0, 52.0, 55.0),
                "rho": (0.5, 0.45, 0.4),
                "source": "ASSUMED: stationary, sd_change = sd*sqrt(2(1-rho))"},
        "ppbg": {"control_change": (0.0, 0.0, 0.0), "sd_change": (60.0, 63.0, 66.0),
                 "rho": (0.5, 0.45, 0.4),
                 "source": "ASSUMED: stationary, sd_change = sd*sqrt(2(1-rho))"},
        "fasting_cpeptide": {"control_change": (-0.09, -0.18, -0.36),
                             "sd_change": (0.40, 0.45, 0.55), "rho": (0.85, 0.8, 0.7),
                             "source": "log scale. Decline ASSUMED 3%/month, between ~4%/month in "
                                       "antibody-positive youth (Dabelea 2012) and the plateau of "
                                       "long-standing T1D; SDs and rho ASSUMED"},
        "insulin_dose": {"control_change": (1.0, 2.0, 4.0), "sd_change": (5.5, 6.5, 7.0),
                         "rho": (0.95, 0.93, 0.9),
                         "source": "IU/day. Control rise ASSUMED (Hu 2013: control insulin rose); "
                                   "sd_change 12 mo DERIVED (Lund 2008, ~7 U/day); rho ASSUMED "
                                   "(>= 0.88 needed for sd_change 7 with baseline SD ~15)"},
        "stimulated_cpeptide": {"control_change": (-0.09, -0.18, -0.36),
                                "sd_change": (0.45, 0.5, 0.6), "rho": (0.85, 0.8, 0.7),
                                "source": "log scale; as fasting C-peptide (ASSUMED)"},
        "homa_ir": {"control_change": (0.0, 0.0, 0.0), "sd_change": (0.55, 0.6, 0.65),
                    "rho": (0.6, 0.55, 0.5), "source": "log scale; ASSUMED"},
        "homa_b": {"control_change": (-0.05, -0.1, -0.2), "sd_change": (0.55, 0.6, 0.65),
                   "rho": (0.7, 0.65, 0.6), "source": "log scale; ASSUMED decline with C-peptide"},
    },
}

# ---------------------------------------------------------------------------------------------
# Type 2 diabetes
# ---------------------------------------------------------------------------------------------
_T2D: dict[str, Any] = {
    "label": "Type 2 diabetes on insulin, MSC trial population (middle-aged, long duration)",
    "variables": {
        "age": {"family": "truncnorm", "mean": 52.0, "sd": 9.0, "lower": 25.0, "upper": 80.0,
                "source": "REPORTED: T2D trial mean ages 42.8-58.7 y (Kashbour 2025); spread "
                          "ASSUMED"},
        "male": {"family": "bernoulli", "p": 0.55, "source": "ASSUMED"},
        "weight": {"family": "truncnorm", "mean": 66.0, "sd": 11.0, "lower": 35.0, "upper": 150.0,
                   "source": "DERIVED: 38.2 IU/day / 0.58 IU/kg = 65.9 kg (PLoS One 2012, "
                             "PMC3377710); sd ASSUMED"},
        "duration": {"family": "lognormal", "mean": 10.0, "sd": 5.0,
                     "source": "ASSUMED from REPORTED: duration > 4 y (Kashbour 2025)"},
        "hba1c": {"family": "normal", "mean": 8.7, "sd": 1.15,
                  "source": "REPORTED: T2D MSC trial means 8.3-9.0%, SD 1.0-1.3% (FACTS 4)"},
        "fbg": {"family": "normal", "mean": 175.0, "sd": 45.0, "source": "ASSUMED"},
        "ppbg": {"family": "normal", "mean": 250.0, "sd": 60.0, "source": "ASSUMED"},
        "fasting_cpeptide": {"family": "lognormal", "mean": 1.9, "sd": 0.7,
                             "source": "REPORTED: insulin-treated long-duration T2D fasting "
                                       "1.1-3.0 ng/mL (Sood 2017); sd ASSUMED"},
        "insulin_per_kg": {"family": "lognormal", "mean": 0.58, "sd": 0.22,
                           "source": "REPORTED: Chinese T2D basal-bolus 0.58 +/- 0.22 IU/kg "
                                     "(PLoS One 2012, PMC3377710)"},
        "stimulated_cpeptide": {"family": "lognormal", "mean": 3.2, "sd": 1.2,
                                "source": "REPORTED: insulin-treated long-duration T2D stimulated "
                                          "2.1-4.3 ng/mL (Sood 2017); sd ASSUMED"},
        "homa_ir": {"family": "lognormal", "mean": 4.0, "sd": 2.5, "source": "ASSUMED"},
        "homa_b": {"family": "lognormal", "mean": 40.0, "sd": 25.0, "source": "ASSUMED"},
    },
    "correlation": {
        ("age", "duration"): 0.4, ("male", "weight"): 0.3, ("weight", "fasting_cpeptide"): 0.2,
        ("duration", "fasting_cpeptide"): -0.3, ("hba1c", "fbg"): 0.6, ("hba1c", "ppbg"): 0.6,
        ("fbg", "ppbg"): 0.6, ("hba1c", "insulin_per_kg"): 0.2,
        ("fasting_cpeptide", "insulin_per_kg"): -0.2,
        ("fbg", "homa_ir"): 0.4,
    },
    "correlation_source": "ASSUMED: signs from FACTS 4 (beta-cell reserve falls with duration; "
                          "more C-peptide, less insulin)",
    "criteria": {"hba1c": (7.0, 12.0)},
    "criteria_source": "ASSUMED: insulin-treated T2D with HbA1c 7-12% (typical MSC trial entry)",
    "outcomes": {
        "hba1c": {"control_change": (-0.9, -0.7, -0.55), "sd_change": (0.7, 0.9, 1.1),
                  "rho": (0.8, 0.65, 0.5),
                  "source": "control drift REPORTED (T2D placebo about -1.0% at 9 wk, -0.5 to "
                            "-0.6% at 48 wk; Zang 2022/2023); sd_change 3 mo DERIVED (Skyler "
                            "2015, ~0.7%), 12 mo DERIVED (Zang 2022, ~1.1%), 6 mo ASSUMED; rho 12 "
                            "mo DERIVED (Zang 2022, ~0.5), 3/6 mo ASSUMED"},
        "fbg": {"control_change": (-10.0, -8.0, -6.0), "sd_change": (45.0, 47.0, 49.0),
                "rho": (0.5, 0.45, 0.4),
                "source": "ASSUMED: placebo/regression drift; sd_change = sd*sqrt(2(1-rho))"},
        "ppbg": {"control_change": (-15.0, -12.0, -10.0), "sd_change": (60.0, 63.0, 66.0),
                 "rho": (0.5, 0.45, 0.4),
                 "source": "ASSUMED: placebo/regression drift; sd_change = sd*sqrt(2(1-rho))"},
        "fasting_cpeptide": {"control_change": (0.0, -0.02, -0.05),
                             "sd_change": (0.25, 0.27, 0.30), "rho": (0.8, 0.75, 0.7),
                             "source": "log scale; slow decline in long-standing T2D ASSUMED"},
        "insulin_dose": {"control_change": (-0.10, -0.14, -0.17), "sd_change": (0.20, 0.24, 0.28),
                         "rho": (0.90, 0.87, 0.85),
                         "source": "log scale. REPORTED: Zang 2022 placebo insulin -15.6% at 48 "
                                   "weeks (log(0.844) = -0.17); T2D placebo -15% to -32% (FACTS "
                                   "4); 3/6 mo and SDs ASSUMED"},
        "stimulated_cpeptide": {"control_change": (0.0, -0.02, -0.05),
                                "sd_change": (0.25, 0.27, 0.30), "rho": (0.8, 0.75, 0.7),
                                "source": "log scale; as fasting C-peptide (ASSUMED)"},
        "homa_ir": {"control_change": (-0.05, -0.05, -0.05), "sd_change": (0.55, 0.6, 0.65),
                    "rho": (0.6, 0.55, 0.5), "source": "log scale; ASSUMED"},
        "homa_b": {"control_change": (0.0, -0.02, -0.05), "sd_change": (0.55, 0.6, 0.65),
                   "rho": (0.7, 0.65, 0.6), "source": "log scale; ASSUMED"},
    },
}

def _implied(corr: dict[tuple[str, str], float], new: str, via: str, r: float) -> None:
    """Add ``new`` as ``r * via + noise``: corr(new, v) = r * corr(via, v) for every v."""
    for (a, b), c in list(corr.items()):
        if via in (a, b):
            other = b if a == via else a
            if other != new:
                corr[(other, new)] = round(r * c, 4)
    corr[(via, new)] = r


for _p in (_T1D, _T2D):
    _implied(_p["correlation"], "stimulated_cpeptide", "fasting_cpeptide", 0.8)
    _implied(_p["correlation"], "homa_b", "fasting_cpeptide", 0.6)
    _p["correlation_source"] += ("; stimulated C-peptide and HOMA-B correlate with the other "
                                 "variables through fasting C-peptide (r = 0.8 and 0.6; ASSUMED)")


# Correlation of residuals across outcomes (model scale), shared by both presets.
OUTCOME_RESIDUAL_CORRELATION: dict[tuple[str, str], float] = {
    ("hba1c", "fbg"): 0.5, ("hba1c", "ppbg"): 0.5, ("fbg", "ppbg"): 0.5,
    ("hba1c", "fasting_cpeptide"): -0.2, ("fbg", "fasting_cpeptide"): -0.2,
    ("ppbg", "fasting_cpeptide"): -0.2, ("hba1c", "insulin_dose"): 0.1,
    ("fbg", "insulin_dose"): 0.1, ("ppbg", "insulin_dose"): 0.1,
    ("fasting_cpeptide", "insulin_dose"): -0.3,
    ("fasting_cpeptide", "stimulated_cpeptide"): 0.7, ("stimulated_cpeptide", "insulin_dose"): -0.3,
    ("fasting_cpeptide", "homa_b"): 0.6, ("stimulated_cpeptide", "homa_b"): 0.5,
    ("fbg", "homa_ir"): 0.4, ("fbg", "homa_b"): -0.3,
}
OUTCOME_RESIDUAL_CORRELATION_SOURCE = (
    "ASSUMED: glucose measures move together; endogenous secretion (C-peptide) replaces insulin "
    "and lowers glucose"
)
VISIT_CORRELATION = 0.6
VISIT_CORRELATION_SOURCE = (
    "ASSUMED: residual correlation between visits 6 months apart; corr = 0.6^(|s-t|/6)"
)

# ---------------------------------------------------------------------------------------------
# Populations derived from the two above (issue 11; ../shared/evidence/REVIEW.md P1-P12)
# ---------------------------------------------------------------------------------------------

def _variant(base: dict[str, Any], label: str, variables: dict | None = None,
             criteria: dict | None = None, outcomes: dict | None = None, **extra) -> dict[str, Any]:
    """A preset from ``base`` with whole entries of ``variables`` / ``outcomes`` replaced."""
    out = copy.deepcopy(base)
    out["label"] = label
    out["variables"].update(copy.deepcopy(variables or {}))
    if criteria is not None:
        out["criteria"] = criteria
    for name, params in (outcomes or {}).items():
        out["outcomes"][name] = {**out["outcomes"][name], **params}
    out.update(extra)
    return out


_NO_REMISSION = {"msc": 0.0, "control": 0.0, "reserve_or": 1.0,
                 "source": "ASSUMED: no insulin independence reported for this population"}

# C-peptide natural history in T1D: each patient's log C-peptide falls at a constant annual rate
#   r_i = per_year * exp(age_coef * (age_i - age_ref) / 10) * (max(duration_i, 0.25) / dur_ref)
#         ** dur_power + sd * u_i,   u_i ~ N(0, 1)
# (exponential decline, per-patient random slope), continuing after month 12.
_T1D_DECLINE = {
    "per_year": -0.45, "age_ref": 20.0, "age_coef": -0.35, "dur_ref": 0.5, "dur_power": -0.7,
    "sd": 0.15,
    "source": "per_year DERIVED: stimulated C-peptide -0.29 nmol/L in year 1 from about 0.7 "
              "nmol/L in new-onset T1D (Greenbaum 2012, FACTS 4): log(0.41/0.70) = -0.53, "
              "rounded towards the ~4%/month of Dabelea 2012 (-0.45/year); dur_power DERIVED so "
              "that at about 6 years' duration the rate is Cai 2016's control -7.7%/year "
              "(-0.08/year: (6/0.5)^-0.7 x 0.45 = 0.08); age_coef ASSUMED: children decline about "
              "1.5-2x faster than adults (Hao 2016 direction, REVIEW P2; x1.7 at 10 vs 25 years); "
              "sd ASSUMED (between-patient spread of the annual rate)",
}
_T1D_DECLINE_STIM = {**_T1D_DECLINE, "source": "as fasting C-peptide (ASSUMED)"}

_T1D_NEW_ONSET = _variant(
    _T1D, "Type 1 diabetes, new onset (about 100 days to 2 years from diagnosis), adolescents and "
    "adults, residual beta-cell function",
    variables={
        "age": {"family": "truncnorm", "mean": 21.0, "sd": 7.0, "lower": 12.0, "upper": 45.0,
                "source": "REPORTED: new-onset MSC trials enrol adolescents and young adults "
                          "(Carlsson 2015 18-40 y; Hu 2013; Kashbour 2025 T1D means 10.3-36 y); "
                          "spread ASSUMED"},
        "weight": {"family": "truncnorm", "mean": 62.0, "sd": 12.0, "lower": 35.0, "upper": 130.0,
                   "source": "ASSUMED: adolescents and young adults"},
        "duration": {"family": "truncnorm", "mean": 0.5, "sd": 0.5, "lower": 0.08, "upper": 2.0,
                     "source": "REPORTED: within about 100 days (Carlsson 2015: 3 weeks; "
                               "TrialNet 100 days) to 2 years of diagnosis (Kashbour 2025 "
                               "new-onset trial < 2 y); shape ASSUMED"},
        "hba1c": {"family": "normal", "mean": 8.0, "sd": 1.0,
                  "source": "REPORTED: T1D trial baseline means 6.5-9.9%, T1D SD 0.8-1.1% "
                            "(Kashbour 2025, FACTS 4); mean ASSUMED a little below the T1D "
                            "preset (weeks to months after starting insulin)"},
        "fasting_cpeptide": {"family": "lognormal", "mean": 0.55, "sd": 0.35,
                             "source": "ASSUMED from REPORTED: new-onset entry fasting > 0.12 "
                                       "nmol/L (0.36 ng/mL) or stimulated >= 0.2 nmol/L "
                                       "(FACTS 4)"},
        "stimulated_cpeptide": {"family": "lognormal", "mean": 1.6, "sd": 0.9,
                                "source": "ASSUMED from REPORTED: new-onset entry stimulated >= "
                                          "0.2 nmol/L (0.60 ng/mL); mean about 0.5 nmol/L at "
                                          "entry in TrialNet-type trials (MEMORY, REVIEW P1)"},
        "insulin_per_kg": {"family": "lognormal", "mean": 0.42, "sd": 0.18,
                           "source": "REPORTED: honeymoon 0.2-0.6 U/kg/day (FACTS 4)"},
    },
    criteria={"hba1c": (6.0, 12.0), "stimulated_cpeptide": (0.60, _INF)},
    criteria_source="REPORTED: new-onset entry stimulated C-peptide >= 0.2 nmol/L = 0.60 ng/mL "
                    "(FACTS 4); HbA1c range ASSUMED",
    outcomes={
        "hba1c": {"control_change": (-0.4, -0.2, 0.2),
                  "source": "ASSUMED (REVIEW P7): an early fall after insulin start, then a rise "
                            "as partial remission ends; sd_change and rho as the T1D preset"},
        "fasting_cpeptide": {"decline": _T1D_DECLINE},
        "stimulated_cpeptide": {"decline": _T1D_DECLINE_STIM},
        "insulin_dose": {"control_change": (0.10, 0.20, 0.35), "sd_change": (0.13, 0.14, 0.15),
                         "rho": (0.97, 0.96, 0.95),
                         "source": "log scale. REPORTED (Hu 2013, seed 002): 14/14 controls rose "
                                   ">= 15% and 7/14 about 50% by month 24; mean log change "
                                   "ASSUMED (x1.42 at 12 months, honeymoon end, REVIEW P5); SD "
                                   "ASSUMED so that about 90% rise >= 15%; rho ASSUMED"},
    },
    remission={"msc": 0.20, "control": 0.0, "reserve_or": 2.0,
               "source": "msc REPORTED: 3/15 insulin-free with WJ-MSC (Hu 2013, seed 002; Lu "
                         "2021 3/27); control REPORTED: 0/14 (Hu 2013); reserve_or ASSUMED: "
                         "remission rises with baseline fasting C-peptide (seed 002), odds x2 "
                         "per SD of log C-peptide"},
)

_T1D_ESTABLISHED = _variant(
    _T1D, "Type 1 diabetes, established (duration > 2 years), little residual C-peptide",
    variables={
        "age": {"family": "truncnorm", "mean": 26.0, "sd": 10.0, "lower": 12.0, "upper": 65.0,
                "source": "REPORTED: T1D trial mean ages 10.3-36 y (Kashbour 2025); spread "
                          "ASSUMED"},
        "duration": {"family": "lognormal", "mean": 8.0, "sd": 5.0,
                     "source": "REPORTED: duration > 4 y in most Kashbour 2025 trials (seed "
                               "000); Cai 2016 2-16 y; shape ASSUMED"},
        "fasting_cpeptide": {"family": "lognormal", "mean": 0.08, "sd": 0.10,
                             "source": "REPORTED: long-standing T1D mostly very low (FACTS 4); "
                                       "SEARCH duration >= 5 y: 10.7% >= 0.23 ng/mL (REVIEW P1)"},
        "stimulated_cpeptide": {"family": "lognormal", "mean": 0.12, "sd": 0.15,
                                "source": "DERIVED: Cai 2016 OGTT AUC 6.6 pmol/mL/180 min = "
                                          "mean 0.11 ng/mL (REVIEW section 3)"},
        "insulin_per_kg": {"family": "lognormal", "mean": 0.70, "sd": 0.20,
                           "source": "REPORTED: adult T1D 0.54-0.77 U/kg/day (FACTS 4)"},
    },
    criteria={"hba1c": (6.5, 12.0), "stimulated_cpeptide": (0.01, _INF)},
    criteria_source="ASSUMED: detectable stimulated C-peptide (>= 0.01 ng/mL) and the baseline "
                    "HbA1c range of the pooled trials",
    outcomes={
        "hba1c": {"control_change": (0.0, 0.05, 0.1),
                  "source": "REPORTED: Cai 2016 controls HbA1c +1.2% relative (about +0.1) at "
                            "12 months; sd_change DERIVED (Lund 2008, ~0.8%); rho ASSUMED"},
        "fasting_cpeptide": {"decline": _T1D_DECLINE, "sd_change": (0.5, 0.55, 0.6),
                             "rho": (0.9, 0.88, 0.85),
                             "source": "log scale; decline as new-onset T1D at this duration; "
                                       "SDs and rho ASSUMED (low, noisy C-peptide)"},
        "stimulated_cpeptide": {"decline": _T1D_DECLINE_STIM, "sd_change": (0.5, 0.55, 0.6),
                                "rho": (0.9, 0.88, 0.85),
                                "source": "log scale; as fasting C-peptide (ASSUMED)"},
        "insulin_dose": {"control_change": (0.0, 0.0, 0.01), "sd_change": (0.12, 0.15, 0.18),
                         "rho": (0.96, 0.94, 0.92),
                         "source": "log scale. REPORTED: Cai 2016 control insulin unchanged "
                                   "(REVIEW P5); sd_change 12 mo DERIVED (Lund 2008 ~7 U/day on "
                                   "~40 U/day = 0.18 log); rho ASSUMED"},
    },
    remission=_NO_REMISSION,
)

_T1D_PAEDIATRIC = _variant(
    _T1D_NEW_ONSET, "Type 1 diabetes in children and adolescents (8-17 years), new onset",
    variables={
        "age": {"family": "truncnorm", "mean": 12.5, "sd": 3.0, "lower": 8.0, "upper": 17.99,
                "source": "REPORTED: paediatric MSC trial ages 8-17 (Izadi 2022; Cai 2016 "
                          "2-16 y); spread ASSUMED"},
        "weight": {"family": "truncnorm", "mean": 44.0, "sd": 13.0, "lower": 20.0, "upper": 110.0,
                   "source": "DERIVED (weight for age): CDC 50th centile about 26 kg at 8 y and "
                             "62 kg at 17 y (MEMORY); with age corr 0.8 the mean weight rises "
                             "about 3.5 kg per year of age"},
        "insulin_per_kg": {"family": "lognormal", "mean": 0.60, "sd": 0.25,
                           "source": "REPORTED: paediatric new-onset about 1.1 IU/kg after the "
                                     "honeymoon (FACTS, REVIEW P6); 0.6 during it ASSUMED"},
    },
    outcomes={"insulin_dose": {"control_change": (0.12, 0.25, 0.42), "rho": (0.975, 0.968, 0.96),
                               "source": "log scale. ASSUMED: faster honeymoon end in children "
                                         "(REVIEW P5-P6), direction REPORTED (Hu 2013); rho "
                                         "ASSUMED (the wider paediatric dose spread needs it "
                                         "for the same SD of change)"}},
    remission={**_T1D_NEW_ONSET["remission"],
               "msc": 0.15, "source": "ASSUMED: below the 3/15 adult new-onset figure (Hu 2013) "
                                      "because C-peptide falls faster in children"},
)
_T1D_PAEDIATRIC["correlation"] = {**_T1D_PAEDIATRIC["correlation"], ("age", "weight"): 0.8,
                                  ("male", "weight"): 0.15}
_T1D_PAEDIATRIC["correlation_source"] += ("; age-weight 0.8 DERIVED (weight for age; the "
                                          "largest that keeps the copula positive definite "
                                          "with sex-weight 0.15, ASSUMED for children)")

_T2D_INSULIN = _variant(
    _T2D, _T2D["label"],
    remission={"msc": 0.11, "control": 0.0, "reserve_or": 2.0,
               "source": "msc REPORTED: 5/45 insulin-free at 10-13 months (Zang 2022, seed 003); "
                         "control ASSUMED 0 (REVIEW P3: a placebo patient at HbA1c 8.9% does not "
                         "stop insulin); reserve_or ASSUMED (more beta-cell reserve, more "
                         "benefit: Zang 2023, Bhansali 2009)"},
)

_T2D_NON_INSULIN = _variant(
    _T2D, "Type 2 diabetes on metformin +/- oral agents, not on insulin (HbA1c and glucose "
    "endpoints only)",
    variables={
        "weight": {"family": "truncnorm", "mean": 88.0, "sd": 16.0, "lower": 45.0, "upper": 180.0,
                   "source": "REPORTED: Skyler 2015 (US) BMI 33.5 (about 95 kg, FACTS); Asian "
                             "trials lighter; mean ASSUMED between"},
        "duration": {"family": "lognormal", "mean": 7.0, "sd": 4.0,
                     "source": "ASSUMED: shorter than insulin-treated T2D"},
        "hba1c": {"family": "normal", "mean": 8.3, "sd": 1.0,
                  "source": "REPORTED: Skyler 2015 baseline 8.3 +/- 1.0 (FACTS 3)"},
        "fasting_cpeptide": {"family": "lognormal", "mean": 2.5, "sd": 0.9,
                             "source": "ASSUMED: more reserve than insulin-treated T2D (1.1-3.0 "
                                       "ng/mL, Sood 2017)"},
        "insulin_per_kg": {"family": "lognormal", "mean": 0.01, "sd": 0.001,
                           "source": "not on insulin: unused (insulin endpoints are refused)"},
    },
    criteria={"hba1c": (7.0, 10.5)},
    criteria_source="ASSUMED: metformin +/- oral agents, HbA1c 7-10.5% (Skyler 2015 type entry)",
    outcomes={
        "hba1c": {"control_change": (-0.2, -0.15, -0.1), "sd_change": (0.7, 0.8, 0.9),
                  "source": "REPORTED: Skyler 2015 placebo 0/16 reached < 7% (small placebo "
                            "response, FACTS, REVIEW P11); sd_change 3 mo DERIVED (Skyler, "
                            "~0.7%), later ASSUMED; magnitude of drift ASSUMED"},
        "fbg": {"control_change": (-4.0, -3.0, -2.0)},
        "ppbg": {"control_change": (-6.0, -5.0, -4.0)},
    },
    remission=_NO_REMISSION,
    endpoints=("hba1c", "fbg", "ppbg"),
)

PRESETS: dict[str, dict[str, Any]] = {
    "t1d_new_onset": _T1D_NEW_ONSET, "t1d_established": _T1D_ESTABLISHED,
    "t1d_paediatric": _T1D_PAEDIATRIC, "t2d_insulin": _T2D_INSULIN,
    "t2d_non_insulin": _T2D_NON_INSULIN,
}
ALIASES: dict[str, str] = {"t1d": "t1d_new_onset", "t2d": "t2d_insulin"}
"""Documented aliases: ``t1d`` is new-onset T1D (the C-peptide entry criteria of the pooled
trials), ``t2d`` insulin-treated T2D (the 0.1 preset)."""
PRESETS.update({a: PRESETS[p] for a, p in ALIASES.items()})
PRESET_POPULATION: dict[str, str] = {p: ("T1DM" if p.startswith("t1d") else "T2DM")
                                     for p in PRESETS}
"""Evidence population matching each preset (the default for ``effect.population``)."""


def get_preset(name: str) -> dict[str, Any]:
    """Return a deep copy of preset ``name`` (a key of :data:`PRESETS`; aliases resolved),
    safe to modify."""
    return copy.deepcopy(PRESETS[name])
