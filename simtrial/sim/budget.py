"""Resource budget: memory and time of a simulation, estimated before it runs.

Every simulation goes through :func:`simtrial.sim.driver.simulate`, which calls :func:`check`
with the resolved design, the control-arm sizes and the number of trials before drawing a single
patient. A request whose estimate exceeds the budget is refused with a one-line error that says
what it would need and how to change it, instead of a MemoryError after half a minute or a run
that never ends.

Budgets (documented defaults, overridable):

- **memory**: ``SIMTRIAL_MEMORY_GB`` if set, else 80% of what this machine has available
  (``MemAvailable``, capped by the process's address-space limit if one is set);
- **time**: ``SIMTRIAL_TIME_BUDGET_S`` if set (``0`` = no limit), else 24 hours, measured from
  :func:`start` (each CLI command calls it), so a sample-size search stops with an error, not
  a silently longer run, when its next step would go past it.

The estimates are linear cost models calibrated on this project's benchmark machine
(``benchmarks/budget.py`` prints the estimate beside the measured time and peak memory of the
shipped scenarios): bytes per patient-trial of a chunk of :data:`~simtrial._rng.CHUNK_TRIALS`
trials, and microseconds per patient-trial by kernel and analysis. They are deliberately on
the high side; refusing is the only thing they decide, so the numbers a run gives never depend
on them.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from .._rng import CHUNK_TRIALS
from ..errors import SimtrialError
from ..model.design import group_sizes
from . import suffstat

__all__ = ["Estimate", "estimate", "check", "start", "memory_budget", "time_budget"]

BASE_BYTES = 400e6
"""The interpreter, numpy, scipy, pandas and the model (measured ~310 MB)."""

BYTES_PER_PATIENT_TRIAL = {"prefix": 100.0, "suffstat": 30.0, "full": 170.0}
"""Peak bytes per patient of a chunk (prefix: measured 49-80; suffstat: its screened baselines,
none where they are drawn exactly (:func:`~simtrial.sim.suffstat.exact_baselines`); full:
88-159 per visit, so the full kernel's figure is multiplied by the number of visits)."""

BYTES_PER_SIZE_TRIAL = 250.0
"""Peak bytes per (size, trial) of a chunk of the sufficient-statistics kernel: five arrays of
five sums by size (both arms' base sums, the analysed sums and the assurance sums)."""

US_PER_PATIENT_TRIAL = {"prefix": 0.5, "suffstat": 0.5, "suffstat_exact": 0.02, "ancova": 5.0,
                        "mmrm": 5.5, "mi": 15.0}
"""Microseconds per patient-trial (measured 0.34 prefix; suffstat 0.3-0.4, nearly all of it
screening, and 0.006-0.06 with exact baselines; 2.2-3.5 full ANCOVA and MMRM)."""

US_PER_SIZE_TRIAL = 10.0
"""Microseconds per (size, trial) of a sums kernel's dense curve, which analyses every N up
to the largest (measured 8 over 99,998 sizes)."""

US_PER_CONDUCT_PATIENT = 100.0
"""Microseconds per randomised patient of one conduct replicate (SimPy; measured 75)."""

US_PER_CONDUCT_CANDIDATE = 10.0
"""Microseconds per screen failure of one conduct replicate (measured 6)."""

US_PER_CONDUCT_SITE = 200.0
"""Microseconds per site of one conduct replicate (measured 150)."""

_T0 = time.monotonic()


def start() -> None:
    """Start the time budget's clock (each CLI command calls this once)."""
    global _T0
    _T0 = time.monotonic()


def _available_bytes() -> float:
    avail = math.inf
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as fh:
                used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            avail = min(avail, soft - used)
    except (ImportError, OSError, ValueError):
        pass
    return avail


def memory_budget() -> float:
    """Bytes a simulation may use (see the module docstring)."""
    env = os.environ.get("SIMTRIAL_MEMORY_GB", "").strip()
    if env:
        try:
            gb = float(env)
        except ValueError:
            raise SimtrialError(f"usage error: SIMTRIAL_MEMORY_GB = {env[:40]!r} must be a number "
                                "of gigabytes (e.g. 8)") from None
        if not gb > 0 or not math.isfinite(gb):
            raise SimtrialError(f"usage error: SIMTRIAL_MEMORY_GB = {env[:40]!r} must be > 0")
        return gb * 1e9
    return 0.8 * _available_bytes()


def time_budget() -> float:
    """Seconds a command may simulate for (``inf``: no limit)."""
    env = os.environ.get("SIMTRIAL_TIME_BUDGET_S", "").strip()
    if not env:
        return 24 * 3600.0
    try:
        s = float(env)
    except ValueError:
        raise SimtrialError(f"usage error: SIMTRIAL_TIME_BUDGET_S = {env[:40]!r} must be a number "
                            "of seconds (0 = no limit)") from None
    if s < 0 or math.isnan(s):
        raise SimtrialError(f"usage error: SIMTRIAL_TIME_BUDGET_S = {env[:40]!r} must be >= 0")
    return math.inf if s == 0 else s


@dataclass(frozen=True)
class Estimate:
    """Peak memory (bytes) and time (seconds) of one :func:`~simtrial.sim.driver.simulate`."""

    bytes: float
    seconds: float
    patients: int

    def describe(self) -> str:
        return f"about {_gb(self.bytes)} of memory and {_duration(self.seconds)}"


def _gb(b: float) -> str:
    return f"{b / 1e9:.3g} GB" if b < 1e15 else f"{b:.2g} bytes"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.3g} days"


US_PER_MMRM_FIT = 500.0
"""Microseconds of one MMRM fit with 3 visits and 2 coefficients per visit (measured 310); a fit
costs about (parameters x coefficients)^2, so 16 visits cost 15,000 times as much."""


S_PER_DUNNETT_VALUE = 0.3
"""Seconds per Dunnett critical value (one per distinct residual df; measured 0.1-0.25)."""


def _dunnett_s(dm, ns, n_trials: int) -> float:
    """Critical values a Dunnett analysis computes: one per distinct df, and with dropout the
    df of a trial varies with its completers (about 2 sqrt(patients) distinct values)."""
    mult = dm.scenario.multiplicity
    if "dunnett" not in (mult.method, mult.within) or len(dm.arms) < 2:
        return 0.0
    total = 0.0
    for n in set(ns):
        p = int(group_sizes(dm, int(n)).sum())
        distinct = 2.0 * math.sqrt(p) + 1.0 if dm.scenario.dropout is not None else 1.0
        total += min(float(n_trials), distinct) * S_PER_DUNNETT_VALUE
    return total


def _fit_us(dm) -> float:
    """Microseconds of the model fits of one trial at one N (MMRM and MI, every look)."""
    v = len(dm.visits)
    q = 2 + len(dm.arms) - 1 + max(0, len(dm.strata) - 1)    # intercept, arms, baseline, strata
    scale = (v * (v + 1) / 2 * v * q / 36.0) ** 2
    looks = len(dm.boundaries.fractions) if getattr(dm, "boundaries", None) is not None else 1
    fits = sum(1 for h in dm.hypotheses if h.endpoint.analysis == "mmrm")
    fits += sum(h.endpoint.imputations for h in dm.hypotheses if h.endpoint.analysis == "mi")
    return US_PER_MMRM_FIT * scale * looks * fits


def estimate(dm, ns, n_trials: int, kernel: str, workers: int = 1) -> Estimate:
    """Cost of simulating ``n_trials`` trials of ``dm`` at control-arm sizes ``ns``."""
    n_max = max(int(n) for n in ns)
    patients = int(group_sizes(dm, n_max).sum())
    chunk = min(CHUNK_TRIALS, int(n_trials))
    v = len(dm.visits)
    sums = kernel in ("prefix", "suffstat")
    exact = kernel == "suffstat" and suffstat.exact_baselines(dm.models[0])
    per = 0.0 if exact else BYTES_PER_PATIENT_TRIAL[kernel] * (1 if sums else v)
    per += BYTES_PER_SIZE_TRIAL * len(set(ns)) / patients if kernel == "suffstat" else 0.0
    mem = BASE_BYTES + max(1, min(workers, -(-n_trials // CHUNK_TRIALS))) * chunk * patients * per
    per_size = 0.0
    if sums:
        us = US_PER_PATIENT_TRIAL["suffstat_exact" if exact else kernel]
        per_size = len(set(ns)) * float(n_trials) * US_PER_SIZE_TRIAL * 1e-6
    else:
        analyses = {h.endpoint.analysis for h in dm.hypotheses}
        us = max(US_PER_PATIENT_TRIAL.get(a, US_PER_PATIENT_TRIAL["ancova"]) for a in analyses)
        if "mi" in analyses:
            m = max(h.endpoint.imputations for h in dm.hypotheses)
            us *= max(1.0, m / 20.0)
        us *= max(1.0, v / 3.0)
    if sums:
        seconds = float(n_trials) * patients * us * 1e-6 + per_size
    else:    # one draw at the largest N, one analysis per N
        every = sum(int(group_sizes(dm, int(n)).sum()) for n in set(ns))
        seconds = (float(n_trials) * (every * us + len(set(ns)) * _fit_us(dm)) * 1e-6
                   + _dunnett_s(dm, ns, n_trials))
    seconds /= max(1, workers)
    conduct = getattr(dm.scenario, "conduct", None)
    if conduct is not None:
        reps = min(conduct.replicates, int(n_trials))
        sf = (conduct.screen_fail if conduct.screen_fail is not None
              else max(m.screen_fail_prob for m in dm.models))
        randomised = sum(int(group_sizes(dm, int(n)).sum()) for n in ns)
        failed = randomised * sf / max(1e-3, 1.0 - sf)
        seconds += reps * (randomised * US_PER_CONDUCT_PATIENT + failed * US_PER_CONDUCT_CANDIDATE
                           + len(ns) * conduct.sites * US_PER_CONDUCT_SITE) * 1e-6
    return Estimate(mem, seconds, patients)


def check(dm, ns, n_trials: int, kernel: str, workers: int = 1) -> Estimate:
    """Refuse (one-line :class:`~simtrial.errors.SimtrialError`) a simulation whose estimate
    exceeds the memory budget, or the time left of the time budget."""
    est = estimate(dm, ns, n_trials, kernel, workers)
    n_max = max(int(n) for n in ns)
    what = (f"{n_trials:,} trials at N = {n_max:,} per arm ({est.patients:,} patients per trial, "
            f"{kernel} kernel)")
    mem = memory_budget()
    if est.bytes > mem:
        raise SimtrialError(
            f"budget error: {what} need {_gb(est.bytes)} of memory, over the budget of "
            f"{_gb(mem)} (80% of available memory; set SIMTRIAL_MEMORY_GB to change it, or "
            f"lower the N{' or --workers' if workers > 1 else ''})")
    left = time_budget() - (time.monotonic() - _T0)
    if est.seconds > left:
        spent = time.monotonic() - _T0
        after = f" after {_duration(spent)}" if spent > 5 else ""
        raise SimtrialError(
            f"budget error: {what} would take about {_duration(est.seconds)}{after}, over the "
            f"time budget of {_duration(time_budget())} (set SIMTRIAL_TIME_BUDGET_S, 0 = no "
            "limit; or lower n_trials, the N or design.max_n_per_arm)")
    return est
