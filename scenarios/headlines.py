"""Regenerate the headline answers of the shipped scenarios (``scenarios/headlines.csv``).

    python scenarios/headlines.py [--workers 2] [--only PATTERN] [--compare OLD.csv]

Runs every shipped scenario (``scenarios/*.toml`` except sweeps, and ``scenarios/calibration/``)
through ``simtrial.run`` with the file's own ``n_trials`` and seed, and writes one row per file:
the power (and assurance) at ``design.n_per_arm`` with its Monte Carlo SE, the sample sizes for
the file's ``design.target_power`` with their closed forms, the screen-failure rate, the kernel
and the run time. ``--compare OLD.csv`` prints the cells whose N or power moved by more than 20%
as a Markdown table (old and new side by side), the form used in ``scenarios/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import simtrial  # noqa: E402

COLUMNS = ("file", "population", "endpoint", "visit", "md", "n_design", "power", "power_mc_se",
           "assurance", "assurance_mc_se", "n80", "n80_closed", "n90", "n90_closed",
           "screen_fail", "kernel", "n_trials", "seconds")


def files(only: str | None = None) -> list[Path]:
    out = [p for p in sorted(HERE.glob("*.toml")) if not p.name.startswith("sweep_")]
    out += sorted((HERE / "calibration").glob("*.toml"))
    if only:
        out = [p for p in out if fnmatch.fnmatch(p.name, only)]
    return out


def _fmt(x: float, nd: int = 4) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}g}"


def headline_row(path: Path, workers: int = 1) -> dict[str, str]:
    sc = simtrial.load_scenario(path)
    t0 = time.perf_counter()
    dm = simtrial.build_design(sc)
    res = simtrial.run(dm, workers=workers)
    p = res.point
    sizes = {round(s.target_power, 2): s for s in res.sample_sizes if s.target == "power"}
    m = dm.models[0]
    row = {"file": str(path.relative_to(HERE)), "population": ",".join(dm.strata),
           "endpoint": sc.endpoint.outcome if sc.endpoint.type == "continuous" else "responder",
           "visit": str(sc.endpoint.visit_months), "md": _fmt(m.endpoint_md),
           "n_design": str(p.n_per_arm), "power": _fmt(p.power), "power_mc_se": _fmt(p.mc_se, 2),
           "assurance": _fmt(p.assurance), "assurance_mc_se": _fmt(p.assurance_mc_se, 2),
           "screen_fail": _fmt(p.screen_fail, 3), "kernel": res.kernel,
           "n_trials": str(res.n_trials), "seconds": f"{time.perf_counter() - t0:.1f}"}
    for q in (0.8, 0.9):
        s = sizes.get(q)
        key = f"n{int(q * 100)}"
        row[key] = "" if s is None else (str(s.n_per_arm) if s.n_per_arm is not None
                                         else f">{s.searched_max}")
        row[key + "_closed"] = "" if s is None or s.analytic_n_per_arm is None else str(
            s.analytic_n_per_arm)
    return row


def _num(v: str) -> float:
    try:
        return float(v.lstrip(">"))
    except (AttributeError, ValueError):
        return math.nan


def moved(old: dict[str, dict], new: dict[str, dict], rel: float = 0.2) -> list[str]:
    """Markdown rows for cells whose N80, N90 or power moved by more than ``rel``."""
    lines = ["| File | old N80 / N90 / power | new N80 / N90 / power |", "|---|---|---|"]
    for f, r in new.items():
        o = old.get(f)
        if o is None:
            continue
        big = False
        for k in ("n80", "n90", "power"):
            a, b = _num(o.get(k, "")), _num(r.get(k, ""))
            if math.isfinite(a) and math.isfinite(b) and a > 0 and abs(b - a) / a > rel:
                big = True
        if big:
            lines.append(f"| `{f}` | {o['n80']} / {o['n90']} / {o['power']} | "
                         f"{r['n80']} / {r['n90']} / {r['power']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only", help="glob on the file name, e.g. 't2d_*'")
    ap.add_argument("--out", default=str(HERE / "headlines.csv"))
    ap.add_argument("--compare", help="an older headlines.csv to compare with")
    a = ap.parse_args(argv)
    rows = []
    for path in files(a.only):
        r = headline_row(path, a.workers)
        rows.append(r)
        print(f"{r['file']}: N80 {r['n80']} ({r['n80_closed']}), N90 {r['n90']} "
              f"({r['n90_closed']}), power {r['power']} (SE {r['power_mc_se']}) at N = "
              f"{r['n_design']} [{r['kernel']}, {r['seconds']} s]", flush=True)
    out = Path(a.out)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(out)
    print(f"wrote {out}")
    if a.compare:
        with open(a.compare, newline="") as fh:
            old = {r["file"]: r for r in csv.DictReader(fh)}
        print("\n".join(moved(old, {r["file"]: r for r in rows})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
