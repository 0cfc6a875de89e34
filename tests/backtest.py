"""Seed-pinned back-tests: shipped scenarios run at a small number of trials.

``python -m tests.backtest`` regenerates ``tests/data/backtest/<scenario>.csv`` (run it from the
repository root, and say in the commit which numbers moved and why); ``python -m tests.backtest
--compare [case ...]`` first says how far they move, in MC SE units (:func:`compare`). ``tests/test_backtest.py``
re-runs every case and compares with the stored table: ids and counts exactly, floats to 1e-12
relative (a refactor that should not move numbers keeps them bit-for-bit up to summation order).

The stored table is the canonical long form :func:`canonical` of ``results.csv``: every id
column (as text) and ``estimate, mc_se``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "backtest"

CASES: dict[str, dict] = {
    # plain two-arm ANCOVA (the README quick start)
    "t1d_hba1c_12m": {"n_trials": 2000, "seed": 20261201},
    # insulin with a floor (insulin independence), plain
    "t2d_insulin_12m": {"n_trials": 2000, "seed": 20261202},
    # predictive effect distribution: assurance
    "t1d_hba1c_12m_predictive": {"n_trials": 2000, "seed": 20261203},
    # three arms, Dunnett
    "t1d_three_arm_dose_12m": {"n_trials": 1000, "seed": 20261204},
    # composite responder, strata
    "mixed_composite_responder_12m": {"n_trials": 1000, "seed": 20261205},
    # group-sequential
    "t1d_hba1c_12m_gsd": {"n_trials": 1000, "seed": 20261206},
    # trial conduct (simpy) linked to power
    "conduct_t1d_hba1c_12m": {"n_trials": 1000, "seed": 20261207},
    # safety events (evidence prior) and Bayesian harm monitoring at two looks
    "t2d_hba1c_12m_sae_monitoring": {"n_trials": 2000, "seed": 20261209},
    # Bayesian Go/No-Go with a robust MAP prior for the control arm ([bayes])
    "t1d_hba1c_12m_phase2_map": {"n_trials": 2000, "seed": 20261208},
    # promising-zone sample-size re-estimation with CP futility ([adaptive])
    "t2d_hba1c_12m_promising_zone": {"n_trials": 2000, "seed": 20261210},
}

KEY = ["table", "design_point", "n_per_arm", "hypothesis", "endpoint", "arm", "visit", "metric"]
COLUMNS = KEY + ["estimate", "mc_se"]


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The run's tidy table (``RunResult.to_frame()``) reduced to :data:`COLUMNS`: every id
    column as text, sorted, so that it compares row by row."""
    f = frame.copy()
    for col in KEY:
        v = f[col]
        if col == "n_per_arm":
            v = pd.to_numeric(v, errors="coerce").map(lambda x: "" if pd.isna(x) else str(int(x)))
        f[col] = v.map(lambda x: "" if x is None or (isinstance(x, float) and np.isnan(x))
                       else str(x))
    out = f[COLUMNS].copy()
    out["estimate"] = pd.to_numeric(out["estimate"], errors="coerce")
    out["mc_se"] = pd.to_numeric(out["mc_se"], errors="coerce")
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def compute(name: str) -> pd.DataFrame:
    """Run one back-test case through the public API and return its canonical table."""
    import simtrial

    case = CASES[name]
    sc = simtrial.load_scenario(ROOT / "scenarios" / f"{name}.toml")
    res = simtrial.run(sc, n_trials=case["n_trials"], seed=case["seed"])
    return canonical(res.to_frame())


def compare(name: str) -> dict:
    """How far the current code's numbers of case ``name`` are from the stored ones.

    Rows with an MC SE are compared in units of the SE of a difference of two independent runs,
    ``z = (now - stored) / sqrt(se_now^2 + se_stored^2)`` (a change of random numbers should
    leave |z| > 2 in about 5% of rows, though rows of one hypothesis move together, and a
    change of model none beyond chance); of the rows without one, the names of the metrics that
    moved are listed: closed forms (``analytic_power``) and design counts must not be there,
    random summaries without an SE (``sd_estimate``, ``mean_se``, CI limits) may.
    """
    stored = pd.read_csv(DATA / f"{name}.csv", keep_default_na=False, dtype=str)
    for col in ("estimate", "mc_se"):
        stored[col] = pd.to_numeric(stored[col].replace({"": None, "nan": None}))
    a = stored.set_index(KEY)
    b = compute(name).set_index(KEY)
    common = a.index.intersection(b.index)
    a, b2 = a.loc[common], b.loc[common]
    x, y = a["estimate"].to_numpy(float), b2["estimate"].to_numpy(float)
    sa, sb = a["mc_se"].to_numpy(float), b2["mc_se"].to_numpy(float)
    has_se = np.isfinite(sa) & np.isfinite(sb) & ((sa > 0) | (sb > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (y - x) / np.sqrt(sa * sa + sb * sb)
    z = z[has_se & np.isfinite(z)]
    fixed = ~has_se
    same = np.isclose(x[fixed], y[fixed], rtol=1e-12, atol=1e-14) | (np.isnan(x[fixed])
                                                                     & np.isnan(y[fixed]))
    return {"case": name, "rows": int(len(common)), "missing": int(len(stored) - len(common)),
            "new": int(len(b.index.difference(common))), "with_se": int(z.size),
            "abs_z_gt_2": int(np.sum(np.abs(z) > 2)), "abs_z_gt_3": int(np.sum(np.abs(z) > 3)),
            "max_abs_z": float(np.max(np.abs(z))) if z.size else 0.0,
            "fixed_rows_moved": int(np.sum(~same)),
            "fixed_moved_metrics": sorted({k[-1] for k in a.index[fixed][~same]})}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--compare"]:
        for name in argv[1:] or list(CASES):
            r = compare(name)
            print(f"{r['case']}: {r['rows']} rows ({r['missing']} gone, {r['new']} new); "
                  f"{r['with_se']} with MC SE: |z| > 2 in {r['abs_z_gt_2']}, > 3 in "
                  f"{r['abs_z_gt_3']}, max |z| {r['max_abs_z']:.2f}; rows without SE moved: "
                  f"{r['fixed_rows_moved']} ({', '.join(r['fixed_moved_metrics'])})")
        return 0
    names = argv or list(CASES)
    DATA.mkdir(parents=True, exist_ok=True)
    for name in names:
        tab = compute(name)
        tab.to_csv(DATA / f"{name}.csv", index=False, float_format="%.17g")
        print(f"{name}: {len(tab)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
