"""Patient-level export: the simulated patients of replicate trials as one tidy table.

:func:`export_patients` returns, for replicate trials ``0 .. R-1`` of a design, one row per
patient and month (baseline, then every visit), drawn by :func:`~simtrial.sim.full.draw_patients`
from the same random streams as a run: trial ``r`` is index ``r % CHUNK_TRIALS`` of chunk
``r // CHUNK_TRIALS``, so re-analysing a trial of the table reproduces the engine's estimate for
that trial (``tests/test_export.py`` re-fits trials with statsmodels). ``simtrial simulate``
writes the table as CSV or Parquet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._rng import CHUNK_TRIALS, chunk_count
from ..errors import SimtrialError
from ..model.design import DesignModel, group_sizes
from .conduct import conduct_design, link_chunk
from .driver import valid_n
from .full import draw_patients

__all__ = ["MAX_ROWS", "MAX_PATIENTS", "ID_COLUMNS", "export_rows", "export_patients"]

MAX_ROWS = 5_000_000
"""Largest table :func:`export_patients` builds (trials x patients x (visits + 1) rows): with one
outcome about 170 MB in memory, 250 MB of CSV and 40 MB of Parquet."""

MAX_PATIENTS = 5_000
"""Largest trial (patients over all arms): the patients are drawn for a whole chunk of
CHUNK_TRIALS trials at a time, whatever the number of trials exported."""

ID_COLUMNS = ("trial", "patient", "stratum", "arm", "month")
"""The leading columns; the simulated outcomes and the state columns follow."""


def export_rows(dm: DesignModel, n_trials: int, n: int | None = None, *,
                names: dict[str, str] | None = None) -> int:
    """Validate an export request and return its number of rows.

    Raises :class:`~simtrial.errors.SimtrialError` (one line naming the argument, its value and
    what is allowed) if ``n_trials < 1``, if control-arm size ``n`` (default the design N) leaves
    an arm with fewer than 2 patients or a stratum group empty, if a trial has more than
    :data:`MAX_PATIENTS` patients, or if the table would exceed :data:`MAX_ROWS` rows.
    ``names`` renames the arguments in the message (the CLI passes its option names).
    """
    names = {"n_trials": "n_trials", "n": "n", **(names or {})}
    nt, nn = names["n_trials"], names["n"]
    sc = dm.scenario
    n = sc.design.n_per_arm if n is None else int(n)
    if int(n_trials) < 1:
        raise SimtrialError(f"usage error: {nt} = {n_trials} must be >= 1 (e.g. {nt} 1)")
    if not valid_n(dm, n):
        sizes = group_sizes(dm, max(n, 0)).sum(axis=0)
        raise SimtrialError(f"usage error: {nn} = {n} gives arms of "
                            + ", ".join(str(int(x)) for x in sizes)
                            + " patients; every arm needs >= 2 and every stratum >= 1 (e.g. "
                              f"{nn} {sc.design.n_per_arm})")
    patients = int(group_sizes(dm, n).sum())
    if patients > MAX_PATIENTS:
        raise SimtrialError(f"usage error: {nn} = {n} gives {patients:,} patients per trial; "
                            f"the export allows at most {MAX_PATIENTS:,}")
    months = len(dm.visits) + 1
    rows = int(n_trials) * patients * months
    if rows > MAX_ROWS:
        raise SimtrialError(f"usage error: {nt} = {n_trials} gives {rows:,} rows ({n_trials:,} "
                            f"trials x {patients:,} patients x {months} months); the export allows "
                            f"at most {MAX_ROWS:,} rows (e.g. {nt} "
                            f"{max(1, MAX_ROWS // (patients * months))})")
    return rows


def export_patients(dm: DesignModel, n_trials: int, n: int | None = None,
                    seed: int | None = None) -> pd.DataFrame:
    """The simulated patients of replicate trials ``0 .. n_trials - 1`` as a long table.

    Parameters
    ----------
    dm : DesignModel
        A resolved design (:func:`simtrial.model.design.build_design`).
    n_trials : int
        Replicate trials, >= 1; at most :data:`MAX_ROWS` rows in all (:func:`export_rows`).
    n : int, optional
        Control-arm size (default ``design.n_per_arm``); MSC arm ``a`` has
        ``round(ratio_a n)`` patients, split over the strata as the engine splits them.
    seed : int, optional
        Default the scenario's seed.

    Returns
    -------
    pandas.DataFrame
        One row per trial, patient and month, ordered so; ``n_trials x P x (visits + 1)`` rows:

        ``trial`` (int, 0-based: the engine's trial index), ``patient`` (int, 0-based within the
        trial; the engine's order: by stratum, then arm, then enrolment), ``stratum``
        (category: the stratum's preset, e.g. ``t1d``), ``arm`` (category: ``control`` or the
        MSC arm's name), ``month`` (0 = baseline, then each visit of ``dm.visits``), one float
        column per simulated outcome of ``dm.outcomes`` (natural units; NaN where the visit is
        not observed), ``observed`` (bool: the visit is observed; baseline always),
        ``responder`` (nullable bool: the patient responds to MSC, with
        ``heterogeneity = "responders"`` in an MSC arm; NA in the control arm and in every other
        heterogeneity mode), ``effect_multiplier`` (float: the patient's multiplier of the arm's
        effect on the primary outcome, 1 without heterogeneity, 0 for a non-responder; NaN in
        the control arm), ``insulin_free`` (nullable bool: the insulin dose is 0 at that month;
        NA where not observed or where insulin dose is not simulated).

    Notes
    -----
    The patients are exactly those :func:`simtrial.sim.full.run_chunk` analyses at control-arm
    size ``n`` with the point effect: the first stratum's control and MSC arms share the
    prefix kernel's streams, and a patient is the same whatever ``n_trials`` (with
    ``[conduct]``, trial ``r`` takes conduct replicate ``r mod min(replicates, n_trials)`` and
    its withdrawals, as a run of ``n_trials`` trials does). A continuous endpoint's ANCOVA is the
    least-squares fit, over the patients observed at the endpoint month, of
    ``y - y0 = b0 + sum_a b_a 1{arm = a} + c y0 (+ stratum terms)``; ``b_a`` is the engine's
    estimate for arm ``a`` (on log values with ``scale = "log"``). Effects with a distribution
    (assurance) are exported at the point effect.
    """
    sc = dm.scenario
    n = sc.design.n_per_arm if n is None else int(n)
    seed = sc.seed if seed is None else int(seed)
    n_trials = int(n_trials)
    rows = export_rows(dm, n_trials, n)
    months = np.array((0,) + tuple(dm.visits), dtype=np.int16)
    M = months.size
    P = int(group_sizes(dm, n).sum())
    insulin = "insulin_dose" in dm.outcomes
    out = {o: np.empty(rows) for o in dm.outcomes}
    observed = np.empty(rows, dtype=bool)
    responder = np.zeros(rows, dtype=bool)
    no_responder = np.ones(rows, dtype=bool)
    multiplier = np.empty(rows)
    free = np.zeros(rows, dtype=bool)
    no_free = np.ones(rows, dtype=bool)
    conducts = None
    if sc.conduct is not None:      # the engine's calendar withdrawals (sim.driver.simulate)
        conducts = conduct_design(dm, n, seed=seed,
                                  replicates=min(sc.conduct.replicates, n_trials))
    resp_mode = np.array([m.heterogeneity.mode == "responders" for m in dm.models])
    for c in range(chunk_count(n_trials)):
        t = min(CHUNK_TRIALS, n_trials - c * CHUNK_TRIALS)
        data = draw_patients(dm, seed, n, chunk=c)
        obs = data.obs[:t]
        if conducts is not None:
            obs = obs & link_chunk(conducts, c, CHUNK_TRIALS).observed[:t]
        seen = np.concatenate([np.ones((t, P, 1), dtype=bool), obs], axis=2)
        sl = slice(c * CHUNK_TRIALS * P * M, (c * CHUNK_TRIALS + t) * P * M)
        observed[sl] = seen.ravel()
        values = {o: np.concatenate([data.base[o][:t, :, None], data.vals[o][:t]], axis=2)
                  for o in dm.outcomes}
        for o, v in values.items():
            out[o][sl] = np.where(seen, v, np.nan).ravel()
        msc = data.arm > 0
        per_patient = np.broadcast_to(msc & resp_mode[data.stratum], (t, P))
        responder[sl] = _per_row(data.mult[:t] > 0, M)
        no_responder[sl] = _per_row(~per_patient, M)
        multiplier[sl] = _per_row(np.where(msc, data.mult[:t], np.nan), M)
        if insulin:
            zero = getattr(data, "insulin_free", None)
            zero = values["insulin_dose"][:, :, 1:] == 0.0 if zero is None else zero[:t]
            free[sl] = np.concatenate([data.base["insulin_dose"][:t, :, None] == 0.0, zero],
                                      axis=2).ravel()
            no_free[sl] = ~seen.ravel()
    frame = {
        "trial": np.repeat(np.arange(n_trials, dtype=np.int32), P * M),
        "patient": np.tile(np.repeat(np.arange(P, dtype=np.int32), M), n_trials),
        "stratum": pd.Categorical.from_codes(np.tile(np.repeat(data.stratum, M), n_trials),
                                             categories=list(dm.strata)),
        "arm": pd.Categorical.from_codes(np.tile(np.repeat(data.arm, M), n_trials),
                                         categories=["control"] + [a.name for a in dm.arms]),
        "month": np.tile(months, n_trials * P),
    }
    frame.update(out)
    frame["observed"] = observed
    frame["responder"] = pd.arrays.BooleanArray(responder, no_responder)
    frame["effect_multiplier"] = multiplier
    frame["insulin_free"] = pd.arrays.BooleanArray(free, no_free)
    return pd.DataFrame(frame, copy=False)


def _per_row(x: np.ndarray, months: int) -> np.ndarray:
    """A per-patient array (trials, P) repeated over the months, flattened in row order."""
    return np.repeat(x[..., None], months, axis=2).ravel()
