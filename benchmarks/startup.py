"""Start-up time of the command line (prints figures; not a pass/fail test).

Target (issue 14 item 4): ``simtrial power scenarios/t1d_hba1c_12m.toml --n-trials 1`` under
1 s whole-process, warm, on an idle machine. Prints the median (and range) of ``--repeat``
whole-process runs of that command and of ``simtrial validate`` on the same scenario, the
import time of ``simtrial.cli`` (the module the console script loads first) and the floor
(python with numpy and scipy.special), with the machine's load average, since a shared machine
inflates every figure. Wall time and the process's CPU time (user + system) are both shown: CPU
time is the steadier one on a loaded machine.

With ``PYTHONDONTWRITEBYTECODE=1`` in the environment every run compiles simtrial's sources
again (about 0.2 s); ``--bytecode DIR`` runs from compiled bytecode kept in ``DIR``
(``PYTHONPYCACHEPREFIX``), as an installed package does. ``--tree DIR`` measures another
checkout (e.g. an older commit, for a before/after figure).

Usage::

    python benchmarks/startup.py                  # 5 runs of each
    python benchmarks/startup.py --repeat 9 --scenario scenarios/t1d_hba1c_12m_gsd.toml
    python benchmarks/startup.py --bytecode /tmp/pyc --tree ../old-checkout
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV: dict[str, str] = {}
"""The children's environment (set by :func:`main`: the measured tree first on the path)."""
TREE = [ROOT]
"""The measured checkout (the children's working folder)."""


def _run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process (the measured tree first on the path)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=TREE[0], env=ENV, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _line(label: str, runs: list[tuple[float, float]]) -> str:
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    return (f"{label:<44} wall median {statistics.median(walls):6.3f} s "
            f"({min(walls):.3f}-{max(walls):.3f}), cpu median {statistics.median(cpus):6.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scenario", default="scenarios/t1d_hba1c_12m.toml")
    ap.add_argument("--tree", default=str(ROOT), help="checkout to measure (default: this one)")
    ap.add_argument("--bytecode", metavar="DIR", help="run from compiled bytecode kept in DIR")
    a = ap.parse_args()
    tree = Path(a.tree).resolve()
    TREE[0] = tree
    ENV.update(os.environ, PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ENV.pop("SIMTRIAL_CACHE_DIR", None)     # the default path: no calibration cache
    if a.bytecode:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = str(Path(a.bytecode).resolve())
    compiled = ("sources compiled each run" if ENV.get("PYTHONDONTWRITEBYTECODE")
                else "compiled bytecode")
    print(f"{tree}: python {sys.version.split()[0]}, {compiled}, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    _run(["-m", "simtrial", "validate", a.scenario])     # warm the file cache and .pyc files
    rows = [
        ("power --n-trials 1", ["-m", "simtrial", "power", a.scenario, "--n-trials", "1"]),
        ("validate", ["-m", "simtrial", "validate", a.scenario]),
        ("import simtrial.cli", ["-c", "import simtrial.cli"]),
        ("import numpy, scipy.special (floor)", ["-c", "import numpy, scipy.special"]),
        ("python -c pass", ["-c", "pass"]),
    ]
    results = {label: [] for label, _ in rows}
    for _ in range(a.repeat):      # interleaved, so a change in load hits every row alike
        for label, args in rows:
            results[label].append(_run(args))
    for label, _ in rows:
        print(_line(label, results[label]))
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
