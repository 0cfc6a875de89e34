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
        "insulin_dose": {"control_change": (-4.0, -5.0, -6.0), "sd_change": (8.0, 10.0, 12.0),
                         "rho": (0.9, 0.85, 0.8),
                         "source": "IU/day. Control change REPORTED (T2D placebo insulin -15% to "
                                   "-32%; Zang 2022 -15.6%), lower end used; SDs and rho ASSUMED"},
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

PRESETS: dict[str, dict[str, Any]] = {"t1d": _T1D, "t2d": _T2D}
PRESET_POPULATION: dict[str, str] = {"t1d": "T1DM", "t2d": "T2DM"}
"""Evidence population matching each preset (the default for ``effect.population``)."""


def get_preset(name: str) -> dict[str, Any]:
    """Return a deep copy of preset ``name`` (``"t1d"`` or ``"t2d"``), safe to modify."""
    return copy.deepcopy(PRESETS[name])
