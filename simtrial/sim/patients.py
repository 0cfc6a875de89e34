"""Patient-level trajectories of one simulated trial: every outcome at baseline and every visit.

This draws the *full* model (residuals correlated across visits and outcomes through the
Kronecker product of the two correlation matrices), whereas the power engine evaluates only the
endpoint outcome at the endpoint visit. The endpoint marginal is the same in both, which the tests
use as an independent check of the engine.
"""

from __future__ import annotations

import numpy as np

from ..model.outcomes import OUTCOMES, latent, to_model, to_natural
from ..model.population import draw_screened
from ..model.presets import VARIABLES

__all__ = ["simulate_patients", "residual_correlation", "residual_cholesky"]


def residual_correlation(model, outcomes: tuple[str, ...]) -> np.ndarray:
    """The (outcome x visit) residual correlation, outcome-major order: the Kronecker product
    of the outcome and visit correlation matrices."""
    names = tuple(OUTCOMES)
    idx = [names.index(o) for o in outcomes]
    return np.kron(model.outcome_corr[np.ix_(idx, idx)], model.visit_corr)


def residual_cholesky(model, outcomes: tuple[str, ...]) -> np.ndarray:
    """Cholesky factor of :func:`residual_correlation`."""
    return np.linalg.cholesky(residual_correlation(model, outcomes))


def simulate_patients(model, n_per_arm: int | None = None, *, rng: np.random.Generator | int | None = None,
                      outcomes: tuple[str, ...] | None = None) -> "pd.DataFrame":
    """Simulate one trial's patients and return their baseline and trajectories.

    Parameters
    ----------
    model : TrialModel
    n_per_arm : int, optional
        Control-arm size (default ``design.n_per_arm``); MSC arm ``round(ratio * n)``.
    rng : Generator or int, optional
        Normalised by ``np.random.default_rng``; default seeded from the scenario seed.
    outcomes : tuple of str, optional
        Outcomes to simulate (default all).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per patient x outcome x month (0 = baseline), columns
        ``patient, arm, outcome, month, value, change`` plus the patient's baseline variables
        (``age, male, weight, duration, hba1c_0, ..., insulin_dose_0``), the patient's individual
        effect multiplier (shared by every outcome; 0 in the control arm) and ``responder``.
        ``value`` is in natural units; ``change`` is value minus baseline.
    """
    sc = model.scenario
    n0 = sc.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    n1 = sc.design.n_msc(n0)
    rng = np.random.default_rng(sc.seed if rng is None else rng)
    outs = tuple(OUTCOMES) if outcomes is None else tuple(outcomes)
    base, _ = draw_screened(model.population, n0 + n1, rng=rng)
    arm = np.r_[np.zeros(n0, dtype=int), np.ones(n1, dtype=int)]
    v = len(model.visits)
    L = residual_cholesky(model, outs)
    eps = rng.standard_normal((n0 + n1, len(outs) * v)) @ L.T
    eta = rng.standard_normal(n0 + n1)
    u_slope = rng.standard_normal(n0 + n1)
    u_free = rng.random(n0 + n1)
    het = model.heterogeneity
    mult = het.multiplier(eta, base[het.modifier] if het.mode == "modifier" else None)
    rem = model.remission
    free = None
    if rem is not None and rem.active:
        q = np.where(arm[:, None] == 1, rem.prob(1, base["fasting_cpeptide"]),
                     rem.prob(0, base["fasting_cpeptide"]))
        if rem.responders_only and mult is not None:
            q = np.where((arm[:, None] == 1) & ~(mult[:, None] > 0), 0.0, q)
        free = u_free[:, None] < q
    import pandas as pd     # a table for people to read, not the simulation's path
    frames = []
    for j, name in enumerate(outs):
        od = OUTCOMES[name]
        vm = model.outcomes[name]
        y0 = base[od.baseline]
        dev = (None if vm.decline is None else
               vm.decline.deviation(model.visits, base["age"], base["duration"], u_slope))
        # one patient-level response shared by every outcome
        x = latent(vm, to_model(od, y0), eps[:, j * v:(j + 1) * v], arm, model.delta[name],
                   mult, dev)
        y = to_natural(od, x)
        if free is not None and od.zero_event:
            y = np.where(free, 0.0, y)
        vals = np.column_stack([y0, y])
        months = (0,) + tuple(model.visits)
        frames.append(pd.DataFrame({
            "patient": np.repeat(np.arange(n0 + n1), len(months)),
            "arm": np.repeat(np.where(arm == 1, "MSC", "control"), len(months)),
            "outcome": name, "month": np.tile(months, n0 + n1),
            "value": vals.ravel(), "change": (vals - y0[:, None]).ravel()}))
    df = pd.concat(frames, ignore_index=True)
    pid = df["patient"].to_numpy()
    for var in VARIABLES:
        key = var if var in ("age", "male", "weight", "duration", "insulin_per_kg") else f"{var}_0"
        df[key] = base[var][pid]
    m = np.ones(n0 + n1) if mult is None else mult
    df["effect_multiplier"] = np.where(arm == 1, m, 0.0)[pid]
    df["responder"] = (np.where(arm == 1, m, 0.0) > 0)[pid]
    df["insulin_dose_0"] = base["insulin_dose"][df["patient"].to_numpy()]
    return df
