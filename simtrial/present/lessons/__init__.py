"""Lessons: short, deterministic teaching demonstrations built on the real engine.

Each lesson is a *compute* function (``seed, n_trials -> frozen result``) that builds scenarios in
code, validates them with :func:`~simtrial.scenario.parse_scenario` and runs the same engine as
``simtrial run`` (:mod:`simtrial.oc.run`, :mod:`simtrial.sim.driver`); a
*sections* function that writes plain paragraphs from the computed numbers (every simulated
number with its Monte Carlo SE; evidence numbers name their source) and draws the figures with
:mod:`simtrial.present.plots`; and an entry in :data:`LESSONS`. :func:`run_lesson` writes the lesson as a
report (:func:`simtrial.present.html.write_document`) plus ``lesson.json``, the numbers behind every
figure and sentence.

=================== ===========================================================================
name                what it shows
=================== ===========================================================================
winners-curse       among small trials that reach significance the estimate is inflated
fading-effects      3-month stimulated C-peptide / HOMA-IR gains gone by 12 months
assurance-vs-power  80% power at the pooled estimate is less than 80% probability of success
t1d-vs-t2d          12-month HbA1c needs far more patients in T2D; insulin dose needs few
heterogeneity       what I^2 = 93% for fasting C-peptide means for a new trial
=================== ===========================================================================

Same seed, same numbers: every engine call takes the lesson's seed (chunked random streams, see
:mod:`simtrial._rng`), and the closed forms are deterministic quadratures. One module per lesson
(``winners_curse``, ``fading``, ``assurance``, ``t1d_t2d``, ``heterogeneity``), their shared
helpers in ``_common``, the registry and runner here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ... import __version__
from ...errors import SimtrialError
from ...io.outputs import atomic_write_text
from ...model import evidence as ev
from ..html import Section, write_document
from ._common import LESSON_SEED, MIN_TRIALS, check_args, significant_mean
from .winners_curse import WinnersCurseResult, sections_winners_curse, winners_curse
from .fading import FadeOutcome, FadingResult, fading_effects, sections_fading
from .assurance import AssuranceResult, assurance_vs_power, sections_assurance
from .t1d_t2d import SampleSizeDesign, T1DvsT2DResult, sections_t1d_t2d, t1d_vs_t2d
from .heterogeneity import (HetVariant, HeterogeneityResult, heterogeneity,
                            sections_heterogeneity)

__all__ = ["LESSONS", "LESSON_SEED", "Lesson", "LessonRun", "get_lesson", "compute_lesson",
           "run_lesson", "MIN_TRIALS", "significant_mean", "winners_curse", "fading_effects",
           "assurance_vs_power", "t1d_vs_t2d", "heterogeneity", "WinnersCurseResult",
           "FadingResult", "FadeOutcome", "AssuranceResult", "T1DvsT2DResult",
           "SampleSizeDesign", "HeterogeneityResult", "HetVariant"]

# ---------------------------------------------------------------------------------------------
# registry and runner
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lesson:
    """A registered lesson: ``compute(seed, n_trials)`` -> result; ``sections(result)`` ->
    report sections."""

    name: str
    title: str
    summary: str
    compute: Callable[..., Any]
    sections: Callable[[Any], list]
    default_n_trials: int


LESSONS: dict[str, Lesson] = {les.name: les for les in (
    Lesson("winners-curse", "The winner's curse",
           "among small trials that reach significance, the estimated effect is inflated",
           winners_curse, sections_winners_curse, 20_000),
    Lesson("fading-effects", "Effects that fade",
           "3-month stimulated C-peptide and HOMA-IR gains are gone by 12 months: what a "
           "3-month endpoint would conclude", fading_effects, sections_fading, 10_000),
    Lesson("assurance-vs-power", "Assurance versus power",
           "80% power at the pooled estimate is a lower probability of success under the "
           "predictive distribution", assurance_vs_power, sections_assurance, 20_000),
    Lesson("t1d-vs-t2d", "T1D versus T2D",
           "a 12-month HbA1c trial needs far more patients in T2D than in T1D; insulin dose "
           "needs few", t1d_vs_t2d, sections_t1d_t2d, 20_000),
    Lesson("heterogeneity", "Heterogeneity",
           "what I² = 93% for fasting C-peptide means for a new trial", heterogeneity,
           sections_heterogeneity, 10_000),
)}


def get_lesson(name: str) -> Lesson:
    """The registered lesson ``name``; one-line :class:`SimtrialError` listing the valid names
    otherwise."""
    les = LESSONS.get(name)
    if les is None:
        import difflib
        hint = difflib.get_close_matches(str(name), list(LESSONS), n=1, cutoff=0.5)
        did = f" (did you mean {hint[0]}?)" if hint else ""
        raise SimtrialError(f"lesson error: {name!r} is not a lesson{did}; valid: "
                            f"{', '.join(LESSONS)} (or all)")
    return les


def compute_lesson(name: str, *, seed: int | None = None, n_trials: int | None = None):
    """Run a lesson's computation (no files): its frozen result."""
    les = get_lesson(name)
    seed = LESSON_SEED if seed is None else seed
    n_trials = les.default_n_trials if n_trials is None else n_trials
    check_args(seed, n_trials)
    return les.compute(seed, n_trials)


@dataclass(frozen=True)
class LessonRun:
    """What :func:`run_lesson` computed and wrote."""

    lesson: Lesson
    result: Any
    out_dir: Path
    paths: dict[str, Path]
    timings: dict[str, float]

    @property
    def report(self) -> Path:
        return self.paths["report.html"]


def run_lesson(name: str, out_dir, *, seed: int | None = None,
               n_trials: int | None = None) -> LessonRun:
    """Compute a lesson and write it to ``out_dir/<name>/``: ``report.html`` (self-contained),
    ``figures/<name>.png|svg`` and ``lesson.json`` (the numbers behind the figures and text,
    with seed, versions and timings).

    Parameters
    ----------
    name : str
        A key of :data:`LESSONS`.
    out_dir : path-like
        Root folder; the lesson goes to ``out_dir/<name>``.
    seed : int, optional
        Default :data:`LESSON_SEED`.
    n_trials : int, optional
        Replicate trials per design point (default: the lesson's).

    Returns
    -------
    LessonRun
    """
    les = get_lesson(name)
    seed = LESSON_SEED if seed is None else seed
    n_trials = les.default_n_trials if n_trials is None else n_trials
    check_args(seed, n_trials)
    t0 = time.perf_counter()
    res = les.compute(seed, n_trials)
    t1 = time.perf_counter()
    sections = les.sections(res)
    sections.append(Section("Reproduce", [
        f"simtrial lesson {les.name} --seed {seed}" + (
            "" if n_trials == les.default_n_trials else f" (n_trials = {n_trials})")
        + f"; simtrial {__version__}, evidence {ev.evidence_version()}. The numbers behind "
          "every figure and sentence are in lesson.json beside this file.",
    ]))
    folder = Path(out_dir) / les.name
    paths = write_document(folder, les.title, sections, subtitle=f"simtrial lesson: {les.summary}")
    t2 = time.perf_counter()
    timings = {"compute_s": round(t1 - t0, 3), "report_s": round(t2 - t1, 3)}
    doc = {"lesson": les.name, "title": les.title, "summary": les.summary, "seed": seed,
           "n_trials": n_trials, "simtrial_version": __version__,
           "evidence_version": ev.evidence_version(), "headline": res.headline(),
           "numbers": res.to_dict(), "files": sorted(paths), "timings": timings}
    paths["lesson.json"] = atomic_write_text(folder / "lesson.json",
                                             json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return LessonRun(les, res, folder, paths, timings)
