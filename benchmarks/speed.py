"""Issue 14's speed table: simtrial beside rpact on this machine (prints figures; not a test).

Every row is a whole process (``python -m simtrial ...`` against ``Rscript -e ...``), timed
alternately, median of ``--repeats`` runs each, so both see the same machine load; rows without
an R anchor compare simtrial with itself (the ratio is the figure). With R and rpact installed
the rpact column is measured; otherwise the figure recorded on 2026-12-01 (rpact 3.3.4, R 4.x,
the 2-core development machine) is printed with that date.

Usage::

    python benchmarks/speed.py               # every row, 3 alternating repeats (~10 min)
    python benchmarks/speed.py --repeats 5 --rows power100,power30,obf3
    python benchmarks/speed.py --no-r        # recorded rpact figures only
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"

# rpact figures recorded on 2026-12-01 (whole process, Rscript, median of 5, idle 2-core machine)
RECORDED = {"power100": 1.8, "power30": 1.7, "obf3": 3.0, "startup": 0.96}
RECORDED_DATE = "2026-12-01"

R_FIXED = ("suppressMessages(library(rpact)); d <- getDesignGroupSequential(kMax = 1, alpha = "
           "0.025, sided = 1); s <- getSimulationMeans(d, groups = 2, alternative = 0.98, "
           "stDev = 1.2, plannedSubjects = {n2}, maxNumberOfIterations = {it}, seed = 1); "
           "cat(s$overallReject)")
R_OBF = ("suppressMessages(library(rpact)); d <- getDesignGroupSequential(kMax = 3, alpha = "
         "0.025, sided = 1, typeOfDesign = 'OF'); s <- getSimulationMeans(d, groups = 2, "
         "alternative = 0.98, stDev = 1.2, plannedSubjects = c(60, 120, 180), "
         "maxNumberOfIterations = 100000, seed = 1); cat(s$overallReject)")
R_START = "suppressMessages(library(rpact))"

BASE_TOML = """
name = "{name}"
seed = 1
n_trials = 1000
[population]
preset = "t1d"
[endpoint]
outcome = "hba1c"
visit_months = 12
analysis = "{analysis}"
[effect]
source = "evidence"
population = "T1DM"
"""
OBF3_TOML = BASE_TOML.format(name="bench_obf3", analysis="ancova") + """
[sequential]
fractions = [0.3333333333333333, 0.6666666666666666, 1.0]
spending = "obf"
[design]
n_per_arm = 90
alpha = 0.025
sides = 1
"""
MMRM_TOML = BASE_TOML.replace("{name}", "bench_mmrm") + """
[dropout]
rate = {rate}
mechanism = "mar"
strength = 0.5
[design]
n_per_arm = 100
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one whole process."""
    t = time.perf_counter()
    if Path("/usr/bin/time").exists():
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
        rss = float(p.stderr.strip().splitlines()[-1]) / 1024 if p.returncode == 0 else float("nan")
    else:
        p = subprocess.run(cmd, capture_output=True, text=True)
        rss = float("nan")
    el = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return el, rss


def median_alternating(cmds: list[list[str] | None], repeats: int) -> list[tuple[float, float]]:
    """Median wall time (and max RSS) of each command, run alternately ``repeats`` times."""
    runs: list[list[tuple[float, float]]] = [[] for _ in cmds]
    for _ in range(repeats):
        for i, c in enumerate(cmds):
            if c is not None:
                runs[i].append(timed(c))
    return [(statistics.median(t for t, _ in r), max(m for _, m in r)) if r else (float("nan"),) * 2
            for r in runs]


def have_rpact() -> bool:
    if shutil.which("Rscript") is None:
        return False
    return subprocess.run(["Rscript", "-e", R_START], capture_output=True).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", default="power100,power30,obf3,n3000,startup,search,million,mmrm")
    ap.add_argument("--no-r", action="store_true", help="print the recorded rpact figures")
    args = ap.parse_args()
    rows = args.rows.split(",")
    use_r = not args.no_r and have_rpact()
    py = [sys.executable, "-m", "simtrial"]
    t1d = str(SCEN / "t1d_hba1c_12m.toml")
    env_note = "measured now" if use_r else f"recorded {RECORDED_DATE}"
    print(f"simtrial vs rpact, whole process, median of {args.repeats} alternating runs "
          f"({os.cpu_count()} cores); rpact column {env_note}")
    print(f"{'job':<48} {'simtrial':>10} {'anchor':>22} {'ratio':>8}")

    def line(job, ours, anchor, anchor_label, extra=""):
        ratio = f"{ours / anchor:>7.2f}x" if anchor == anchor and anchor else f"{'-':>8}"
        print(f"{job:<48} {ours:>9.2f}s {anchor_label:>22} {ratio} {extra}".rstrip())

    def vs_r(job, ours_cmd, r_code, key):
        r_cmd = ["Rscript", "-e", r_code] if use_r else None
        (ours, _), (theirs, _) = median_alternating([ours_cmd, r_cmd], args.repeats)
        if not use_r:
            theirs = RECORDED[key]
        line(job, ours, theirs, f"rpact {theirs:.2f}s")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "power100" in rows:
            vs_r("power at one N, 100 per arm, 100k trials, ANCOVA",
                 py + ["power", t1d, "--n-per-arm", "100", "--n-trials", "100000"],
                 R_FIXED.format(n2=200, it=100000), "power100")
        if "power30" in rows:
            vs_r("same, 30 per arm",
                 py + ["power", t1d, "--n-per-arm", "30", "--n-trials", "100000"],
                 R_FIXED.format(n2=60, it=100000), "power30")
        if "obf3" in rows:
            f = tmp / "obf3.toml"
            f.write_text(OBF3_TOML)
            vs_r("3-look OBF, 90 per arm, 100k trials",
                 py + ["power", str(f), "--n-trials", "100000"], R_OBF, "obf3")
        if "n3000" in rows:
            (big, _), (small, _) = median_alternating(
                [py + ["power", t1d, "--n-per-arm", "3000", "--n-trials", "20000"],
                 py + ["power", t1d, "--n-per-arm", "30", "--n-trials", "20000"]], args.repeats)
            line("3,000 per arm, 20k trials (plain)", big, small, f"30/arm {small:.2f}s",
                 "(target <= 2x)")
        if "startup" in rows:
            vs_r("start-up: power --n-trials 1", py + ["power", t1d, "--n-trials", "1"], R_START,
                 "startup")
        if "search" in rows:
            gsd = str(SCEN / "t1d_hba1c_12m_gsd.toml")
            (search, _), (one, _) = median_alternating(
                [py + ["sample-size", gsd, "--n-trials", "6400", "--target-power", "0.8"],
                 py + ["power", gsd, "--n-trials", "6400"]], args.repeats)
            line("sample size on the GSD scenario, 6,400 trials", search, one,
                 f"one power {one:.2f}s", "(target <= 1.5x)")
        if "million" in rows:
            (el, rss), = median_alternating(
                [py + ["power", t1d, "--n-per-arm", "100", "--n-trials", "1000000"]], 1)
            line("1M trials, 100 per arm", el, float("nan"), "-", f"peak {rss:,.0f} MB")
        if "mmrm" in rows:
            plain = tmp / "plain.toml"
            mm = tmp / "mmrm.toml"
            plain.write_text(MMRM_TOML.format(analysis="ancova", rate=0.0))
            mm.write_text(MMRM_TOML.format(analysis="mmrm", rate=0.2))
            us_plain = engine_us(plain, "prefix", args.repeats)
            us_mmrm = engine_us(mm, None, args.repeats)
            print(f"{'MMRM, 3 visits, 100 per arm, 20% MAR':<48} {us_mmrm:>8.0f}us "
                  f"{f'prefix {us_plain:.0f}us':>22} {us_mmrm / us_plain:>7.2f}x "
                  "(engine time per trial; target <= 3x)")

def engine_us(toml: Path, kernel: str | None, repeats: int, n_trials: int = 4000) -> float:
    """Median engine time per trial (microseconds) of ``simulate`` at the scenario's N, in a
    fresh process (one warm-up chunk first)."""
    code = (
        "import sys, time, statistics; import simtrial; "
        "from simtrial.model.design import build_design; from simtrial.sim.driver import simulate; "
        f"sc = simtrial.load_scenario({str(toml)!r}); dm = build_design(sc); "
        f"n = sc.design.n_per_arm; k = {kernel!r}; simulate(dm, [n], n_trials=1000, kernel=k); "
        f"ts = [simulate(dm, [n], n_trials={n_trials}, seed=r + 1, kernel=k).elapsed_s "
        f"for r in range({repeats})]; print(statistics.median(ts) / {n_trials} * 1e6)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return float(p.stdout.strip().splitlines()[-1])


    return 0


if __name__ == "__main__":
    sys.exit(main())
