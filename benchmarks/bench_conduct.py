"""Conduct speed: replicate conducts of a multi-site trial on one core, per engine.

Target (issue 5): 1,000 replicate conducts of a 200-patient (100 per arm), 10-site trial in
under 30 s on one core, with every constraint switched on: sites opening over 6 months, Poisson
screening with screen failures, weekly GMP batches of limited size with a QC delay, 3 infusions
4 weeks apart each taking a chair then a 24-hour bed (2 + 2 per site), visit windows and
withdrawal. Also times the same trial with unlimited capacity (no resource requests).

Each configuration runs on the fast path (``engine="auto"``), on the lean event loop
(``"lean"``) and on SimPy (``"simpy"``, the reference, on the first ``--simpy-replicates``
replicates: a replicate does not depend on how many are run). It prints the time per conduct of
each, the fast path's speed-up over SimPy, how the fast path computed the replicates (all
arithmetic; some infusion units as events; all as events), and checks the engines agree on the
replicates they share.

    python benchmarks/bench_conduct.py [--replicates 1000] [--simpy-replicates 200]
                                       [--n-per-arm 100] [--sites 10] [--repeat 1]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
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


def _same(a, b, n: int) -> bool:
    """The first n replicates of two results agree in every array, to the byte."""
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) and x.shape and x.shape[0] == a.replicates:
            if x[:n].tobytes() != y[:n].tobytes():
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--simpy-replicates", type=int, default=200)
    ap.add_argument("--n-per-arm", type=int, default=100)
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="time each engine this many times "
                    "(alternating) and keep the fastest")
    a = ap.parse_args()
    sizes = [[a.n_per_arm, a.n_per_arm]]
    R, Rs = a.replicates, min(a.simpy_replicates, a.replicates)
    print(f"conduct: {R:,} replicates x {2 * a.n_per_arm} patients x {a.sites} sites, "
          f"3 infusions, visits 3/6/12 months, one core (SimPy on the first {Rs:,})")
    for limited in (True, False):
        cfg = _config(a.sites, limited)
        runs = {"auto": R, "lean": R, "simpy": Rs}
        best, res = {}, {}
        for _ in range(a.repeat):
            for engine, n in runs.items():
                t0 = time.perf_counter()
                res[engine] = simulate_conduct(cfg, sizes, fractions=(0.5, 1.0),
                                               screen_fail=0.136, replicates=n, seed=1,
                                               engine=engine)
                best[engine] = min(best.get(engine, np.inf), time.perf_counter() - t0)
        per = {e: best[e] / runs[e] * 1e3 for e in runs}           # ms per conduct
        tag = "limited capacity  " if limited else "unlimited capacity"
        fast = res["auto"]
        t2 = time.perf_counter()
        rows = fast.rows()
        t3 = time.perf_counter()
        print(f"  {tag} fast path {best['auto']:7.2f} s ({per['auto']:6.2f} ms/conduct), "
              f"lean events {per['lean']:6.2f} ms/conduct, SimPy {per['simpy']:6.2f} "
              f"ms/conduct: fast path {per['simpy'] / per['auto']:.1f}x SimPy "
              f"(lean {per['simpy'] / per['lean']:.1f}x); summarise {t3 - t2:5.2f} s, "
              f"{len(rows)} summary rows")
        p = fast.paths
        units = a.sites if cfg.infusion_unit == "site" else 1
        print(f"      replicates all arithmetic {p['arithmetic'] / R:.1%}, some units as "
              f"events {p['mixed'] / R:.1%} ({p['event_units'] / max(p['mixed'], 1):.1f} of "
              f"{units} units each), all as events {p['events'] / R:.1%}, SimPy "
              f"{p['simpy'] / R:.1%}")
        agree = _same(res["auto"], res["simpy"], Rs) and _same(res["lean"], res["simpy"], Rs)
        pr = fast.per_replicate()
        print(f"      engines identical on {Rs:,} replicates: {'yes' if agree else 'NO'}; "
              f"LPLV median {np.median(pr['lplv_day']) / MONTH_DAYS:.1f} months, last "
              f"randomisation {np.median(pr['last_randomisation_day']) / MONTH_DAYS:.1f} months, "
              f"dose wait {np.nanmedian(pr['dose_wait_days']):.1f} days")
        if limited:
            target, took = 30.0, per["auto"] * 1000 / 1e3
            print(f"  target < {target:g} s for 1,000 x 200 patients x 10 sites (fast path, "
                  f"scaled to 1,000): {took:.1f} s, {'MET' if took < target else 'MISSED'}")


if __name__ == "__main__":
    main()
