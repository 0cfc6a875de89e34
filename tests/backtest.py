"""Seed-pinned back-tests: shipped scenarios run at a small number of trials.

``python -m tests.backtest`` regenerates ``tests/data/backtest/<scenario>.csv`` (run it from the
repository root, and say in the commit which numbers moved and why). ``tests/test_backtest.py``
re-runs every case and compares with the stored table: ids and counts exactly, floats to 1e-12
relative (a refactor that should not move numbers keeps them bit-for-bit up to summation order).

The stored table is the canonical long form :func:`canonical`: one row per
``(table, n_per_arm, hypothesis, metric)`` with ``estimate`` and ``mc_se``, so it survives
changes of the output schema's other id columns.
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
}

KEY = ["table", "n_per_arm", "hypothesis", "metric"]
COLUMNS = KEY + ["estimate", "mc_se"]


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The run's tidy table reduced to ``table, n_per_arm, hypothesis, metric, estimate, mc_se``.

    Rows without a per-hypothesis id (plain runs) get ``hypothesis = "primary"``; rows that
    carry a visit or arm label fold it into the metric so that keys stay unique.
    """
    f = frame.copy()
    if "hypothesis" not in f:
        f["hypothesis"] = "primary"
    f["hypothesis"] = f["hypothesis"].fillna("").astype(str)
    if "n_per_arm" in f:
        n = f["n_per_arm"]
    else:
        n = f["design_point"]
    f["n_per_arm"] = pd.to_numeric(n, errors="coerce")
    metric = f["metric"].astype(str)
    for col in ("arm", "visit"):
        if col in f:
            lab = f[col].fillna("").astype(str)
            metric = np.where((lab != "") & (lab != "nan") & (f["hypothesis"] == ""),
                              metric + "@" + col + "=" + lab, metric)
            metric = np.where((lab != "") & (lab != "nan") & (f["hypothesis"] != "")
                              & pd.Series(metric).str.startswith(("stop_", "boundary_z",
                                                                  "responder_rate")).to_numpy(),
                              metric + "@" + col + "=" + lab, metric)
    f["metric"] = metric
    out = f[COLUMNS].copy()
    out["estimate"] = pd.to_numeric(out["estimate"], errors="coerce")
    out["mc_se"] = pd.to_numeric(out["mc_se"], errors="coerce")
    out = out.drop_duplicates(subset=KEY, keep="first")
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def compute(name: str) -> pd.DataFrame:
    """Run one back-test case through the public API and return its canonical table."""
    import simtrial
    from simtrial.runner import run

    case = CASES[name]
    sc = simtrial.load_scenario(ROOT / "scenarios" / f"{name}.toml")
    res = run(sc, n_trials=case["n_trials"], seed=case["seed"])
    return canonical(res.to_frame())


def main(argv: list[str]) -> int:
    names = argv or list(CASES)
    DATA.mkdir(parents=True, exist_ok=True)
    for name in names:
        tab = compute(name)
        tab.to_csv(DATA / f"{name}.csv", index=False, float_format="%.17g")
        print(f"{name}: {len(tab)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
