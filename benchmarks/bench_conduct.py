"""Conduct speed: replicate SimPy conducts of a multi-site trial, on one core.

Target (issue 5): 1,000 replicate conducts of a 200-patient (100 per arm), 10-site trial in
under 30 s on one core, with every constraint switched on: sites opening over 6 months, Poisson
screening with screen failures, weekly GMP batches of limited size with a QC delay, 3 infusions
4 weeks apart each taking a chair then a 24-hour bed (2 + 2 per site), visit windows and
withdrawal. Also times the same trial with unlimited capacity (no resource requests).

    python benchmarks/bench_conduct.py [--replicates 1000] [--n-per-arm 100] [--sites 10]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simtrial.sim.conduct import MONTH_DAYS, parse_conduct, simulate_conduct  # noqa: E402


def _config(sites: int, limited: bool):
    c = {"sites": sites, "ramp_months": 6, "rate_per_site_month": 2.0, "screening_days": 14,
         "withdrawal_per_month": 0.005, "visit_window_days": 14,
         "regimen": {"infusions": 3, "interval_days": 28}}
    if limited:
        c.update({"chairs": 2, "beds": 2,
                  "manufacturing": {"batch_capacity": 8, "release_delay_days": 21,
                                    "doses_per_patient": 3}})
    return parse_conduct({"conduct": c}, (3, 6, 12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--n-per-arm", type=int, default=100)
    ap.add_argument("--sites", type=int, default=10)
    a = ap.parse_args()
    sizes = [[a.n_per_arm, a.n_per_arm]]
    print(f"conduct: {a.replicates:,} replicates x {2 * a.n_per_arm} patients x {a.sites} sites, "
          f"3 infusions, visits 3/6/12 months, one core")
    for limited in (True, False):
        cfg = _config(a.sites, limited)
        t0 = time.perf_counter()
        res = simulate_conduct(cfg, sizes, fractions=(0.5, 1.0), screen_fail=0.136,
                               replicates=a.replicates, seed=1)
        t1 = time.perf_counter()
        t2 = time.perf_counter()
        rows = res.rows()
        t3 = time.perf_counter()
        pr = res.per_replicate()
        tag = "limited capacity  " if limited else "unlimited capacity"
        print(f"  {tag} simulate {t1 - t0:7.2f} s ({a.replicates / (t1 - t0):,.0f} conducts/s), "
              f"summarise {t3 - t2:5.2f} s; {len(rows)} summary rows")
        print(f"      LPLV median {np.median(pr['lplv_day']) / MONTH_DAYS:.1f} months, last "
              f"randomisation {np.median(pr['last_randomisation_day']) / MONTH_DAYS:.1f} months, "
              f"dose wait {np.nanmedian(pr['dose_wait_days']):.1f} days")
        if limited:
            target = 30.0
            print(f"  target < {target:g} s for 1,000 x 200 patients x 10 sites: "
                  f"{'MET' if (t1 - t0) < target else 'MISSED'}")


if __name__ == "__main__":
    main()
