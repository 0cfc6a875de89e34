"""Designs side by side: every scenario through :func:`~simtrial.oc.run.run`, one tidy table.

:func:`compare` runs each scenario exactly as ``simtrial run`` does (the same function, the
same seed and trials), so each scenario's rows are its ``simtrial run`` numbers, and the power
at each N equals ``simtrial power --n-per-arm N``'s. :class:`Comparison` holds the runs;
``to_frame()`` is the table of ``compare.csv`` (:data:`COLUMNS`), ``summary()`` the aligned
text table ``simtrial compare`` prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import SimtrialError
from ..model.outcomes import OUTCOMES
from ..stats.mc import MONTH_DAYS
from .results import RunResult, closed_form_assurance

__all__ = ["COLUMNS", "Comparison", "check_scenarios", "comparison", "endpoint_words"]

COLUMNS = ("scenario", "n_per_arm", "n_total", "quantity", "estimate", "mc_se", "closed_form",
           "duration_months", "duration_months_mc_se", "design_n", "n_trials", "seed", "kernel")
"""Columns of ``compare.csv``: one row per scenario x simulated control-arm size x quantity.

``n_per_arm`` control-arm size; ``n_total`` patients in all arms; ``quantity`` power (primary
hypothesis, after multiplicity and interim looks) or assurance (with an effect distribution);
``estimate``, ``mc_se`` the simulated value and its Monte Carlo SE; ``closed_form`` the
complete-data closed form (NaN where none exists); ``duration_months`` and its MC SE the mean
total trial duration, first site opening to last visit (``[conduct]`` only, else NaN);
``design_n`` True at the scenario's ``design.n_per_arm``."""

ANALYSIS_WORDS = {"ancova": "ANCOVA", "ttest_change": "t-test on change", "mmrm": "MMRM",
                  "mi": "multiple imputation", "chisq": "chi-square test",
                  "fisher": "Fisher's exact test", "cmh": "CMH test",
                  "logistic": "logistic regression"}


def endpoint_words(run: RunResult) -> str:
    """The primary endpoint in words: ``HbA1c at 12 months, ANCOVA, MD -0.98 %``."""
    sc = run.design.scenario
    e = sc.endpoint
    how = ANALYSIS_WORDS.get(e.analysis, e.analysis)
    if e.type != "continuous":
        return f"responder at {e.visit_months} months, {how}"
    od = OUTCOMES[e.outcome]
    md = run.design.models[0].endpoint_md
    return f"{od.label} at {e.visit_months} months, {how}, MD {md:+.3g} {od.unit}"


def check_scenarios(scenarios: list) -> None:
    """Refuse (one line) fewer than two scenarios or two with the same name."""
    if len(scenarios) < 2:
        raise SimtrialError(f"usage error: simtrial compare needs 2 or more scenarios, got "
                            f"{len(scenarios)} (e.g. simtrial compare A.toml B.toml)")
    seen: dict[str, Any] = {}
    for sc in scenarios:
        if sc.name in seen:
            where = [getattr(s, "source_path", None) or "?" for s in (seen[sc.name], sc)]
            raise SimtrialError(f"usage error: two scenarios are named {sc.name!r} ({where[0]}, "
                                f"{where[1]}); each compared scenario needs its own name")
        seen[sc.name] = sc


@dataclass(frozen=True)
class Comparison:
    """Several designs' :class:`~simtrial.oc.results.RunResult`, in the order given."""

    runs: tuple[RunResult, ...]
    timings: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return [r.design.scenario.name for r in self.runs]

    @property
    def has_conduct(self) -> bool:
        """Any scenario has ``[conduct]`` (a duration per N)."""
        return any(r.point.conduct is not None for r in self.runs)

    def rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`to_frame` (:data:`COLUMNS`), scenario by scenario, N ascending."""
        out = []
        for r in self.runs:
            dm = r.design
            h0 = dm.hypotheses[0]
            label = h0.label
            for p in r.curve:
                n0, n1 = int(p.arm_sizes[0]), int(p.arm_sizes[h0.arm])
                dur = dur_se = math.nan
                if p.conduct is not None:
                    d, s = p.metric("mean_duration_days", "conduct")
                    dur, dur_se = d / MONTH_DAYS, s / MONTH_DAYS
                common = {"scenario": dm.scenario.name, "n_per_arm": p.n_per_arm,
                          "n_total": int(p.arm_sizes.sum())}
                tail = {"duration_months": dur, "duration_months_mc_se": dur_se,
                        "design_n": p.n_per_arm == r.point.n_per_arm, "n_trials": p.n_trials,
                        "seed": p.seed, "kernel": p.kernel}
                est, se = p.curve_row("power", label)
                cf = p.curve_row("analytic_power", label)
                out.append({**common, "quantity": "power", "estimate": est, "mc_se": se,
                            "closed_form": math.nan if cf is None else cf[0], **tail})
                a = p.curve_row("assurance", label)
                if a is not None:
                    out.append({**common, "quantity": "assurance", "estimate": a[0],
                                "mc_se": a[1],
                                "closed_form": closed_form_assurance(dm, h0, n0, n1), **tail})
        return out

    def to_frame(self) -> "pd.DataFrame":
        """The tidy table of ``compare.csv`` (:data:`COLUMNS`)."""
        import pandas as pd
        return pd.DataFrame(self.rows(), columns=list(COLUMNS))

    def targets(self) -> list[tuple[str, float]]:
        """Every (quantity, target) solved for by some scenario, in first-seen order."""
        seen: list[tuple[str, float]] = []
        for r in self.runs:
            for s in r.sample_sizes:
                if (s.target, s.target_power) not in seen:
                    seen.append((s.target, s.target_power))
        return seen

    def table(self) -> list[list[str]]:
        """The text table: header, then one row per scenario."""
        targets = self.targets()
        head = ["scenario", "N at design", "power at design (+/- MC SE)"]
        conduct = self.has_conduct
        if conduct:
            head.append("duration (months)")
        head += [f"N for {t:.0%} {kind}" for kind, t in targets]
        rows = [head]
        for r in self.runs:
            p = r.point
            row = [r.design.scenario.name, str(p.n_per_arm),
                   f"{p.power:.4f} +/- {p.mc_se:.4f}"]
            if conduct:
                if p.conduct is not None:
                    d, s = p.metric("mean_duration_days", "conduct")
                    row.append(f"{d / MONTH_DAYS:.1f} +/- {s / MONTH_DAYS:.1f}")
                else:
                    row.append("-")
            by = {(s.target, s.target_power): s for s in r.sample_sizes}
            for key in targets:
                s = by.get(key)
                if s is None:
                    row.append("-")
                    continue
                n = str(s.n_per_arm) if s.reached else f">{s.searched_max}"
                cf = f" (closed form {s.analytic_n_per_arm})" if s.analytic_n_per_arm else ""
                row.append(n + cf)
            rows.append(row)
        return rows

    def summary(self) -> str:
        """Aligned text table (scenario, N at design, power +/- MC SE, N for each target),
        then one line per scenario saying what it is."""
        rows = self.table()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for r in self.runs:
            lines.append(f"{r.design.scenario.name}: {endpoint_words(r)}; {r.n_trials:,} trials "
                         f"per N, seed {r.seed} ({r.kernel} kernel)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Comparison({', '.join(repr(n) for n in self.names)})"


def comparison(runs: Iterable[RunResult], t0: float | None = None) -> Comparison:
    """A :class:`Comparison` of finished runs (``t0``: when they started, for the timings)."""
    runs = tuple(runs)
    timings = {r.design.scenario.name: float(r.timings.get("total", math.nan)) for r in runs}
    if t0 is not None:
        timings["total"] = time.perf_counter() - t0
    return Comparison(runs, timings)
