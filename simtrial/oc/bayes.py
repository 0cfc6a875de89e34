"""Operating characteristics of the ``[bayes]`` decision rule, from the kept per-trial arrays.

Each replicate trial at the design N is analysed by a conjugate normal / normal-mixture update
(:mod:`simtrial.stats.bayes`) of its estimate and SE (``target = "effect"``) or of its control
arm's adjusted mean (``target = "control"``, the MSC arm's mean with a flat prior), and the
Go / No-Go / consider rule is applied. The rows (``hypothesis = "bayes"``, ``table = "bayes"``)
give P(Go), P(No-Go), P(consider) with their MC SE under:

* the scenario's effect (as simulated);
* each ``bayes.oc_effects`` effect and the null (0): the type I error of the rule;
* the design prior (the scenario's effect distribution, one drawn effect per trial):
  the probability of success;
* with ``target = "control"``, each ``bayes.conflict_shifts`` drift of the true control arm away
  from the simulated one (prior-data conflict), under the null and the scenario's effect;

each beside the same rule with a flat prior (``p_go_flat``: the frequentist z rule) and the
difference (``go_inflation``, paired, its MC SE from the paired indicators).

**Exact shifts, not re-runs.** The sums kernels serve designs where a change of the true effect
or of the control mean is a location shift of an arm's outcomes (:func:`supported`: the
sufficient-statistics kernel's linear-normal model). A shift ``d`` of the MSC arm moves the
estimate and the MSC arm's mean by exactly ``d`` and leaves every SE and the other arm unchanged
(the ANCOVA slope and residuals use centred sums), so every condition is the same simulated
trials shifted: common random numbers, no extra simulation, and the same numbers as re-running
the engine at that fixed effect would give on the same patients (tests/test_bayes.py checks it).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SimtrialError
from ..model.design import DesignModel
from ..model.outcomes import OUTCOMES
from ..sim import suffstat
from ..model.priors import evidence_prior, study_values
from ..stats import bayes as B
from ..stats.mc import rate_se

__all__ = ["supported", "check", "BayesPrior", "prior_for", "rows", "analyse"]


def supported(dm: DesignModel) -> bool:
    """The design's outcomes are linear-normal given the baseline (the sufficient-statistics
    kernel's condition), so effect and control shifts are exact location shifts."""
    return suffstat.supports(dm)


def check(dm: DesignModel, kernel: str) -> None:
    """One-line SimtrialError if ``[bayes]`` cannot be computed for this design or kernel."""
    if dm.scenario.bayes is None:
        return
    if not supported(dm):
        raise SimtrialError(
            "scenario error: [bayes] needs a design the sufficient-statistics kernel serves (one "
            "stratum, one MSC arm, a continuous additive endpoint by ancova or ttest_change, no "
            "floor, heterogeneity, looks, conduct or dropout losses); remove [bayes] or simplify "
            "the design")
    if kernel not in ("suffstat", "prefix"):
        raise SimtrialError(f"kernel = \"{kernel}\" does not keep the per-arm sums [bayes] "
                            "needs; allowed with [bayes]: auto, suffstat, prefix")


# ---------------------------------------------------------------------------------------------
# the prior
# ---------------------------------------------------------------------------------------------

class BayesPrior:
    """The resolved prior of a design's ``[bayes]`` section.

    Attributes
    ----------
    mixture : Mixture or None
        The prior used in the analysis (None: flat).
    map : MapPrior or None
        The MAP quadrature result (from studies).
    map_error : float
        Largest CDF difference of the MAP's K-component approximation (NaN without one).
    sigma_unit : float
        SD of one unit of information: a patient (control) or one patient per arm
        (effect: sqrt(2) x the patient SD).
    lower_better : bool
    centre : float
        The simulated control arm's mean change at the endpoint (natural units): the engine's
        arm sums are of the change minus this.
    """

    def __init__(self, dm: DesignModel):
        sc = dm.scenario
        cfg = sc.bayes
        m = dm.models[0]
        self.cfg = cfg
        self.lower_better = OUTCOMES[sc.endpoint.outcome].better == "lower"
        sd = m.analytic["sd_change" if sc.endpoint.analysis == "ttest_change"
                        else "sd_resid_ancova"]
        patient = float(cfg.sigma_unit) if cfg.sigma_unit is not None else float(sd)
        self.sigma_unit = patient * (math.sqrt(2.0) if cfg.target == "effect" else 1.0)
        self.centre = float(m.endpoint.control_change[m.k_end])
        self.map = None
        self.map_error = math.nan
        self.map_components = 0
        self.studies = 0
        mix = None
        if cfg.prior == "normal":
            mix = B.Mixture.normal(cfg.prior_mean, cfg.prior_sd)
        elif cfg.prior in ("map", "robust_map"):
            if cfg.evidence is not None:
                md, se, tau2 = evidence_prior(cfg)
                mix = B.Mixture.normal(md, math.sqrt(se * se + tau2))
                self.map_components = 1
                self.map_error = 0.0
            else:
                y, se, _ = study_values(cfg, sc.source_path)
                self.studies = len(y)
                mu = (None if cfg.mu_prior_sd is None
                      else (cfg.mu_prior_mean, cfg.mu_prior_sd))
                self.map = B.map_prior(y, se, tau_prior_sd=cfg.tau_prior_sd, mu_prior=mu)
                mix, self.map_error = B.approximate(self.map.mixture)
                self.map_components = mix.k
            self.map_mixture = mix
            if cfg.prior == "robust_map":
                mix = B.robustify(mix, cfg.robust_weight, self.sigma_unit, cfg.robust_mean)
        self.mixture = mix

    def rows(self) -> list[tuple[str, float]]:
        """``(metric, value)`` of the prior (not simulated: no MC SE)."""
        out: list[tuple[str, float]] = []
        mix = self.mixture
        if mix is None:
            return [("prior_flat", 1.0)]
        out += [("prior_mean", mix.mean), ("prior_sd", mix.sd),
                ("prior_ess_elir", B.ess(mix, self.sigma_unit, "elir")),
                ("prior_ess_moment", B.ess(mix, self.sigma_unit, "moment")),
                ("sigma_unit", self.sigma_unit), ("prior_components", float(mix.k))]
        for i, c in enumerate(mix.components(), 1):
            out += [(f"prior_weight_{i}", c["weight"]), (f"prior_component_mean_{i}", c["mean"]),
                    (f"prior_component_sd_{i}", c["sd"])]
        if self.cfg.prior in ("map", "robust_map"):
            mm = self.map_mixture
            out += [("map_mean", mm.mean), ("map_sd", mm.sd),
                    ("map_ess_elir", B.ess(mm, self.sigma_unit, "elir")),
                    ("map_ess_moment", B.ess(mm, self.sigma_unit, "moment")),
                    ("map_components", float(self.map_components)),
                    ("map_approx_max_cdf_error", self.map_error)]
            if self.map is not None:
                out += [("map_studies", float(self.studies)),
                        ("map_tau_posterior_mean", self.map.tau_mean),
                        ("map_mu_posterior_sd", self.map.mu_sd),
                        ("map_exact_sd", self.map.mixture.sd)]
        if self.cfg.target == "control":
            out.append(("simulated_control_change", self.centre))
        return out


_PRIORS: dict[tuple[str, str | None], BayesPrior] = {}


def prior_for(dm: DesignModel) -> BayesPrior:
    """The design's resolved prior, computed once per scenario (hash and file; the MAP
    quadrature and its mixture approximation take about a second)."""
    key = (dm.scenario.hash(), dm.scenario.source_path)
    if key not in _PRIORS:
        if len(_PRIORS) >= 16:
            _PRIORS.clear()
        _PRIORS[key] = BayesPrior(dm)
    return _PRIORS[key]


# ---------------------------------------------------------------------------------------------
# per-trial analysis
# ---------------------------------------------------------------------------------------------

def analyse(prior: BayesPrior, est: np.ndarray, arms: np.ndarray, d_effect=0.0,
            d_control=0.0) -> dict[str, np.ndarray]:
    """Decisions of every trial with its true effect moved by ``d_effect`` and its control arm
    by ``d_control`` (scalars or per-trial arrays): :func:`simtrial.stats.bayes.decide` on the
    posterior, plus ``flat`` (the decisions with a flat prior) and, for the control target,
    ``box_p`` (prior-data conflict of the control arm)."""
    cfg = prior.cfg
    rule = dict(go_prob=cfg.go_prob, go_value=cfg.go_value, nogo_threshold=cfg.nogo_threshold,
                nogo_prob=cfg.nogo_prob, lower_better=prior.lower_better)
    se = arms[:, 0]
    e = est + d_effect
    one = np.ones((e.size, 1))
    flat = B.decide(one, e[:, None], se[:, None], **rule)
    out: dict[str, np.ndarray] = {}
    mix = prior.mixture
    if mix is None:
        post = flat
    elif cfg.target == "effect":
        post = B.decide(*B.effect_posterior(mix, e, se), **rule)
    else:
        m0 = arms[:, 1] + prior.centre + d_control
        m1 = arms[:, 2] + prior.centre + d_control + d_effect
        v0, v1, c01 = arms[:, 3], arms[:, 4], arms[:, 5]
        post = B.decide(*B.control_posterior(mix, m0, m1, v0, v1, c01), **rule)
        out["box_p"] = B.box_p(mix.w, mix.m, mix.s, m0, np.sqrt(v0))
    out.update(post)
    out["flat"] = flat["decision"]
    return out


def _rate(x: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(x))
    return p, rate_se(p, x.size)


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = a.astype(float) - b.astype(float)
    return float(np.mean(d)), float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 \
        else math.nan


def _fmt(x: float) -> str:
    return f"{x:+.4g}" if x else "0"


def rows(dm: DesignModel, trials: dict[str, np.ndarray], n_per_arm: int) -> list[dict]:
    """Tidy rows (``hypothesis = "bayes"``) of the prior and of the rule's operating
    characteristics at one design point, from the kept arrays ``point_est``, ``arm_means``
    (and ``theta`` under an effect distribution)."""
    prior = prior_for(dm)
    sc = dm.scenario
    cfg = sc.bayes
    h0 = dm.hypotheses[0]
    e = h0.endpoint
    ids = {"hypothesis": "bayes", "endpoint": e.name, "arm": h0.arm_name,
           "visit": e.visit_months}
    out: list[dict] = []
    base = f"n_per_arm={n_per_arm}"
    out += [{**ids, "design_point": f"{base} prior", "metric": k, "estimate": v,
             "mc_se": math.nan} for k, v in prior.rows()]
    est = trials["point_est"][:, 0]
    arms = trials["arm_means"]
    md = float(h0.truth)

    def condition(label: str, truth, d_effect, d_control=0.0) -> None:
        r = analyse(prior, est, arms, d_effect, d_control)
        dp = f"{base} {label}"
        dec, flat = r["decision"], r["flat"]

        def add(metric, est_, se_=math.nan):
            out.append({**ids, "design_point": dp, "metric": metric, "estimate": est_,
                        "mc_se": se_})
        if np.ndim(truth) == 0:
            add("true_effect", float(truth))
        else:
            add("true_effect_mean", float(np.mean(truth)))
        add("p_go", *_rate(dec == B.GO))
        add("p_nogo", *_rate(dec == B.NOGO))
        add("p_consider", *_rate(dec == B.CONSIDER))
        add("p_go_flat", *_rate(flat == B.GO))
        add("p_nogo_flat", *_rate(flat == B.NOGO))
        add("go_inflation", *_paired(dec == B.GO, flat == B.GO))
        add("mean_posterior_median", *_mean(r["median"]))
        if "box_p" in r:
            add("p_conflict", *_rate(r["box_p"] < 0.05))
            add("mean_box_p", *_mean(r["box_p"]))

    effects = [md] + [x for x in dict.fromkeys((0.0,) + tuple(cfg.oc_effects)) if x != md]
    for x in effects:
        condition(f"effect={_fmt(x)}" + (" (scenario)" if x == md else ""), x, x - md)
    if "theta" in trials:
        th = trials["theta"]
        condition("design_prior", th, th - md)
    for c in cfg.conflict_shifts:
        for x in dict.fromkeys((0.0, md)):
            condition(f"control_shift={_fmt(c)} effect={_fmt(x)}", x, x - md, c)
    for r in out:       # never print or write nan: numbers beyond what the model computes
        if not math.isfinite(r["estimate"]):
            raise SimtrialError(f"run error: [bayes] {r['metric']} at {r['design_point']} is not "
                                f"finite ({r['estimate']}): the prior or the effects are beyond "
                                "what the model can compute (check the bayes values)")
    return out


def _mean(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), (float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1
                               else math.nan)
