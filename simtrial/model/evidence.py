"""Evidence table: the pooled mean differences the simulator is built from, and the safety counts.

The table ships as ``simtrial/data/evidence.csv`` (:data:`EVIDENCE_FILE`), one row per
source x outcome x time point x population x analysis. Every number in it comes from
``shared/evidence/FACTS.md``, the seed write-ups in ``shared/seeds/`` or
``shared/evidence/REVIEW.md``; numbers the sources do not give are flagged ``ASSUMED`` and carry
their reasoning in ``note``, so a user can see and override them. Safety counts (serious adverse
events, deaths, ketoacidosis, adverse reactions) are a separate table, ``simtrial/data/safety.csv``
(:func:`load_safety`), so they can never be picked as an efficacy MD.

Columns
-------
=============== ==========================================================================
column          meaning
=============== ==========================================================================
id              stable snake-case id ``<source>_<outcome>_<time>_<population>[_<variant>]``;
                sources ``k25abs`` (Kashbour 2025 abstract), ``k25seed`` (Kashbour 2025 as
                told by the seed write-up 000), ``zhang25``, ``nada25`` (abstract),
                ``nada25seed`` (Nada 2025 as told by seed 003), ``zang22`` (one RCT),
                ``plos21``, ``sun20``; time ``3m``/``6m``/``12m``, or ``pooled`` for an
                estimate pooled without a stated time point; variants ``exhu`` / ``exbhansali``
                (sensitivity analyses excluding a study)
source          short citation; the text up to its first year (``Kashbour 2025``, ``Nada 2025``)
                names the *study*, which groups an abstract row with its seed rows
source_detail   where in the source (abstract / seed 000 3-month results / ...)
outcome         simulated outcomes ``hba1c`` (%), ``fbg`` (mg/dL), ``ppbg`` (mg/dL),
                ``fasting_cpeptide`` (ng/mL), ``stimulated_cpeptide`` (ng/mL), ``insulin_dose``
                (IU/day), ``homa_b`` (%), ``homa_ir`` (index); evidence-only outcomes (not
                simulated; see *Units the engine does not simulate*) ``insulin_per_kg``
                (IU/kg/day) and ``insulin_dose_pct`` (% of baseline)
unit            the outcome's unit (checked against the list above)
time_months     3, 6 or 12; empty for a pooled estimate without a stated time point
population      ``all``, ``T1DM`` or ``T2DM``
analysis        ``primary`` (the source's main estimate for its population: an overall
                meta-analysis, a single-population meta-analysis such as Zhang 2025 (T2D) or
                Sun 2020 (T1D), or one trial); ``subgroup`` (a T1DM or T2DM subgroup of a
                meta-analysis of both types); ``sensitivity`` (a re-analysis excluding studies,
                e.g. T2DM excluding Hu: never default, picked by id)
md              mean difference, MSC arm minus control arm, in ``unit``
ci_low, ci_high 95% confidence interval of ``md`` (empty if not reported)
p_value         two-sided P value (empty if not reported as a number)
p_relation      ``=`` (exact P), ``<`` (P below ``p_value``), ``sig`` (reported only as
                significant: treated as P < 0.05), ``ns`` (reported only as not
                significant) or empty
i2              I² heterogeneity in percent, in [0, 100) (empty if not reported)
k, n            number of studies and of patients (empty if not reported)
se              standard error of ``md`` used by the simulator (always set, > 0)
se_method       how ``se`` was obtained (see below)
md_status       ``reported``; ``derived`` (|md| = z(1 - p/2) * se from a reported exact P
                and an assumed SE, the sign stated in ``note``); ``assumed`` (chosen here,
                see ``note``); ``pooled`` (re-pooled by ``simtrial meta``)
flag            ``REPORTED-PRIMARY`` (Kashbour abstract), ``REPORTED-SEED`` (numbers as told
                by a seed write-up: 000 for Kashbour, 003 for Nada), ``REPORTED`` (another
                paper), ``ASSUMED`` (md assumed or derived, or SE assumed), ``DERIVED``
                (re-pooled by ``simtrial meta``)
default         ``true`` for the row a scenario gets when it asks for (outcome, time,
                population) without naming a row (rule below)
note            reasoning for every assumed number, conflicts between sources, and caveats
=============== ==========================================================================

Standard-error routes (``se_method``)
-------------------------------------
- ``ci``: SE = (ci_high - ci_low) / 3.92, from a 95% CI (:func:`se_from_ci`).
- ``p``: SE = |md| / z(1 - P/2), from an exact two-sided P (:func:`se_from_p`).
- ``bound``: P reported as ``< x`` or only as significant (x = 0.05): SE = |md| / z(1 - x/2), the
  largest SE consistent with the report (:func:`se_bound_from_p`), so the row is conservative.
- ``assumed``: a number chosen here; the reasoning is in ``note``.

Here z(q) is the standard normal quantile. The loader recomputes every ``ci``, ``p`` and ``bound``
SE and every ``derived`` MD from the row's own numbers and refuses the table if a stored value is
more than 0.5% off, and it checks that every row's MD/SE agrees with what the source said about
significance (``sig``/``<``: z >= z(1 - x/2); ``ns``: z <= 1.96; ``=`` with a non-CI SE: the implied
P equals the reported one). Derived numbers are stored to 4 significant digits.

Default rule
------------
A *cell* is (outcome, time point, population). A row may be default only if it has a time point,
a simulated outcome, ``analysis`` ``primary`` or ``subgroup`` (never ``sensitivity``) and is not a
re-pooled row; a row from another source than Kashbour 2025 must moreover be ``REPORTED``.

- A cell holding a Kashbour primary or subgroup row has exactly one default, a Kashbour row.
- Any other cell has at most one default: a reported row of another paper where Kashbour reports
  the cell only as a sensitivity analysis (T2DM HbA1c at 6 and 12 months: Zhang 2025 -0.62 and
  -0.75, with the Kashbour ex-Hu rows as the sceptical alternative, REVIEW section 6), else none.
- A cell without a default is refused by :func:`select_row` with a one-line error that lists the
  rows it holds (T2DM FBG and fasting C-peptide at 6 months: only the ex-Hu sensitivity rows;
  T2DM insulin at 3 months: only Zhang 2025); simtrial never chooses silently. :func:`rows_for`
  (the effect profile over visits) skips such a time point.
- Abstract versus seed write-up: where both give the 12-month all-diabetes row and disagree
  (insulin -14.50 vs -16.60 IU/day; PPBG -11.32 vs -44.32 mg/dL) both rows ship and the abstract
  is the default (FACTS.md section 5); where they agree the abstract is still the default. Rows
  without a time point are never default and match any requested visit.

Consistency checks across rows
------------------------------
- Subgroup-overall coherence: within one study, outcome, time point and unit, a primary
  all-diabetes row must lie between its T1DM and T2DM subgroup rows (sensitivity rows excluded)
  when both subgroups exist, within :data:`COHERENCE_TOL` of the overall row's SE (random-effects
  weights and the one mixed trial can push a pooled estimate slightly outside); a subgroup's k
  never exceeds the overall row's k; a T1DM/T2DM row of a study that has a primary all-diabetes
  row at the cell must be ``subgroup``.
- Number of studies: a Kashbour row's ``k`` must not exceed the seed's k for that outcome and
  time (:data:`simtrial.model.effects.SEED_K`; for a subgroup also the number of trials of that
  type, and one less than the overall k when the other type has a row at the cell). The same cap
  limits the k a predictive distribution uses (:func:`k_for`).

Units the engine does not simulate
----------------------------------
``insulin_per_kg`` (IU/kg/day; Nada 2025) and ``insulin_dose_pct`` (% of baseline; Zang 2022) are
insulin-dose effects on another scale. They are never default, and :func:`select_row` refuses them
for ``insulin_dose`` unless given the population's baseline means, when it converts them with
:func:`convert_row`: IU/kg/day x the mean weight (kg), or % of baseline x the mean baseline dose /
100 (IU/day). The engine's evidence lookup does not pass those means yet, so a scenario that
wants such a row sets ``effect.md`` to the converted number (e.g. Zang -12.16% x 38.6 IU/day / 100
= -4.7 IU/day for the t2d preset).

Not shipped: Zhang 2025's 3-month HbA1c, reported only as not significant; the seed's 3-month
T2DM insulin effect (P <= 0.005, no MD; REVIEW M7).

Reference
---------
Kashbour M, Abdelmalik A, Yassin MNA, et al. Mesenchymal stem cell-based therapy for type 1 & 2
diabetes mellitus patients: a systematic review and meta-analysis of randomized controlled trials.
Diabetol Metab Syndr 2025;17:189. doi:10.1186/s13098-025-01619-6
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import hashlib
import io
import math
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from statistics import NormalDist

import numpy as np

from simtrial.errors import EvidenceError, fmt_value

from .effects import k_cap, seed_time_point

__all__ = [
    "ANALYSES",
    "CONVERSIONS",
    "ENGINE_OUTCOMES",
    "EVIDENCE_FILE",
    "EvidenceRow",
    "RENAMED_IDS",
    "SAFETY_FILE",
    "convert_row",
    "evidence_version",
    "events_upper_bound",
    "k_for",
    "load_evidence",
    "load_safety",
    "row_by_id",
    "rows_for",
    "se_bound_from_p",
    "se_from_ci",
    "se_from_p",
    "select_row",
]

EVIDENCE_FILE = resources.files("simtrial") / "data" / "evidence.csv"
"""The shipped evidence table (an importlib.resources Traversable)."""
SAFETY_FILE = resources.files("simtrial") / "data" / "safety.csv"
"""The shipped safety-count table (see :func:`load_safety`)."""

VERSION_PREFIX = "kashbour2025-v1+"

COLUMNS = (
    "id", "source", "source_detail", "outcome", "unit", "time_months", "population", "analysis",
    "md", "ci_low", "ci_high", "p_value", "p_relation", "i2", "k", "n", "se", "se_method",
    "md_status", "flag", "default", "note",
)
OUTCOME_UNITS: Mapping[str, str] = {
    "hba1c": "%",
    "fbg": "mg/dL",
    "ppbg": "mg/dL",
    "fasting_cpeptide": "ng/mL",
    "stimulated_cpeptide": "ng/mL",
    "insulin_dose": "IU/day",
    "homa_b": "%",
    "homa_ir": "index",
    "insulin_per_kg": "IU/kg/day",
    "insulin_dose_pct": "% of baseline",
}
CONVERSIONS: Mapping[str, tuple[str, str, float]] = {
    "insulin_per_kg": ("insulin_dose", "weight", 1.0),
    "insulin_dose_pct": ("insulin_dose", "insulin_dose", 0.01),
}
"""Evidence-only outcome -> (simulated outcome, population variable whose mean converts it,
factor): md in the simulated unit = md x factor x mean of the variable (:func:`convert_row`)."""
OUTCOMES = tuple(OUTCOME_UNITS)
ENGINE_OUTCOMES = tuple(o for o in OUTCOMES if o not in CONVERSIONS)
"""Outcomes the engine simulates; only they have default rows."""
POPULATIONS = ("all", "T1DM", "T2DM")
SUBGROUPS = ("T1DM", "T2DM")
ANALYSES = ("primary", "subgroup", "sensitivity")
DEFAULT_ANALYSES = ("primary", "subgroup")
TIME_POINTS = (3, 6, 12)
P_RELATIONS = ("=", "<", "sig", "ns")
SE_METHODS = ("ci", "p", "bound", "assumed")
MD_STATUSES = ("reported", "derived", "assumed", "pooled")
FLAGS = ("REPORTED-PRIMARY", "REPORTED-SEED", "REPORTED", "ASSUMED", "DERIVED")
"""DERIVED: re-pooled by `simtrial meta` from user study rows (md_status = pooled)."""
RENAMED_IDS: Mapping[str, str] = {
    "k25seed_hba1c_6m_t2dm": "k25seed_hba1c_6m_t2dm_exhu",
    "k25seed_hba1c_12m_t2dm": "k25seed_hba1c_12m_t2dm_exhu",
    "k25seed_fbg_6m_t2dm": "k25seed_fbg_6m_t2dm_exhu",
    "k25seed_fasting_cpeptide_6m_t2dm": "k25seed_fasting_cpeptide_6m_t2dm_exhu",
}
"""Ids of earlier table versions: the T2DM-excluding-Hu sensitivity analyses (REVIEW M4)."""

CI_DIVISOR = 3.92  # 2 * 1.96: width of a 95% normal CI in SEs, as the source papers round it
SIG_LEVEL = 0.05  # what "significant" means when no P is given
RTOL = 0.005  # relative tolerance between a stored SE/MD and its recomputation
COHERENCE_TOL = 0.25
"""How far (in SEs of the overall row) a pooled estimate may lie outside its subgroups' range."""

_STR_COLUMNS = ("id", "source", "source_detail", "outcome", "unit", "population", "analysis",
                "p_relation", "se_method", "md_status", "flag", "note")
_FLOAT_COLUMNS = ("md", "ci_low", "ci_high", "p_value", "i2", "se")
_INT_COLUMNS = ("time_months", "k", "n")
_ID_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_NORMAL = NormalDist()


# --------------------------------------------------------------------------------------------
# Standard-error helpers
# --------------------------------------------------------------------------------------------

def _fail(message: str) -> EvidenceError:
    """Build an EvidenceError with the house prefix."""
    return EvidenceError(f"evidence error: {message}")


def _real(name: str, value: object) -> float:
    """Coerce a user number to a finite float or raise EvidenceError."""
    problem = _fail(f"{name} = {fmt_value(value)} must be a finite number (e.g. {name} = 0.05)")
    if isinstance(value, bool):
        raise problem
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise problem from None
    if not math.isfinite(x):
        raise problem
    return x


def _z_two_sided(name: str, p: object) -> float:
    """Return z(1 - p/2) for a two-sided P value, validating 0 < p < 1."""
    x = _real(name, p)
    if not 0.0 < x < 1.0:
        raise _fail(f"{name} = {fmt_value(p)} must be in (0, 1) (e.g. {name} = 0.03)")
    return _NORMAL.inv_cdf(1.0 - x / 2.0)


def _nonzero_md(md: object) -> float:
    """Return |md|, refusing md = 0 (a P value carries no SE information then)."""
    x = _real("md", md)
    if x == 0.0:
        raise _fail("md = 0.0 gives no standard error from a P value; must be non-zero "
                    "(e.g. md = -0.72)")
    return abs(x)


def se_from_ci(lo: float, hi: float) -> float:
    """Standard error of a mean difference from its 95% confidence interval.

    Parameters
    ----------
    lo, hi : float
        Lower and upper 95% confidence limits, in the outcome's unit; ``hi > lo``.

    Returns
    -------
    float
        SE in the outcome's unit.

    Raises
    ------
    EvidenceError
        If a limit is not a finite number or ``hi <= lo``.

    Notes
    -----
    SE = (hi - lo) / 3.92, i.e. the CI is taken as md ± 1.96 SE (normal approximation, as in the
    inverse-variance meta-analyses the numbers come from).

    Examples
    --------
    Kashbour 2025 12-month HbA1c, -0.72 [-1.11, -0.33]:

    >>> round(se_from_ci(-1.11, -0.33), 4)
    0.199
    """
    lo_f, hi_f = _real("ci_low", lo), _real("ci_high", hi)
    if not hi_f > lo_f:
        raise _fail(f"ci_high = {fmt_value(hi)} must be > ci_low = {fmt_value(lo)} "
                    "(e.g. ci_low = -1.11, ci_high = -0.33)")
    return (hi_f - lo_f) / CI_DIVISOR


def se_from_p(md: float, p: float) -> float:
    """Standard error of a mean difference from its exact two-sided P value.

    Parameters
    ----------
    md : float
        Mean difference (MSC minus control), non-zero, in the outcome's unit.
    p : float
        Exact two-sided P value, 0 < p < 1.

    Returns
    -------
    float
        SE in the outcome's unit.

    Raises
    ------
    EvidenceError
        If ``p`` is not in (0, 1) or ``md`` is zero or not a finite number.

    Notes
    -----
    SE = |md| / z(1 - p/2), z the standard normal quantile (Wald test inverted). Reference:
    Altman DG, Bland JM. How to obtain the confidence interval from a P value. BMJ 2011;343:d2090.

    Examples
    --------
    Kashbour 2025 6-month insulin dose, T1DM: -10.11 IU/day, P = 0.03:

    >>> round(se_from_p(-10.11, 0.03), 3)
    4.659
    """
    return _nonzero_md(md) / _z_two_sided("p_value", p)


def se_bound_from_p(md: float, p_upper: float) -> float:
    """Largest standard error consistent with a P value reported only as ``P < p_upper``.

    Parameters
    ----------
    md : float
        Mean difference (MSC minus control), non-zero, in the outcome's unit.
    p_upper : float
        The bound on the two-sided P value, 0 < p_upper < 1 (0.05 for "significant").

    Returns
    -------
    float
        The SE upper bound, in the outcome's unit; using it understates the evidence.

    Raises
    ------
    EvidenceError
        If ``p_upper`` is not in (0, 1) or ``md`` is zero or not a finite number.

    Notes
    -----
    P < x means |md| / SE > z(1 - x/2), hence SE < |md| / z(1 - x/2); the bound is returned.

    Examples
    --------
    Kashbour 2025 12-month HbA1c, T1DM: -0.98 %, P < 0.0001:

    >>> round(se_bound_from_p(-0.98, 0.0001), 3)
    0.252
    """
    return _nonzero_md(md) / _z_two_sided("p_upper", p_upper)


def _abs_md_from_p(p: float, se: float) -> float:
    """|md| implied by an exact two-sided P and an SE: z(1 - p/2) * se."""
    return _z_two_sided("p_value", p) * se


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EvidenceRow:
    """One row of the evidence table, with typed fields.

    Fields are the table columns (see the module docstring). Values not reported are ``None``
    (never NaN): ``time_months``, ``ci_low``, ``ci_high``, ``p_value``, ``p_relation``, ``i2``,
    ``k`` and ``n`` may be ``None``; ``md`` and ``se`` are always set; ``note`` is ``""`` when
    empty.
    """

    id: str
    source: str
    source_detail: str
    outcome: str
    unit: str
    time_months: int | None
    population: str
    analysis: str
    md: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_relation: str | None
    i2: float | None
    k: int | None
    n: int | None
    se: float
    se_method: str
    md_status: str
    flag: str
    default: bool
    note: str

    def to_dict(self) -> dict[str, object]:
        """Return the row as a plain dict in column order (``None`` for missing values)."""
        return dataclasses.asdict(self)


def _cell(value: object) -> object:
    """A parsed cell as a plain Python value, missing (NaN or None) -> None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _row_from_record(record: Mapping[str, object]) -> EvidenceRow:
    """Build an EvidenceRow from one parsed record."""
    values = {name: _cell(record[name]) for name in COLUMNS}
    values["p_relation"] = values["p_relation"] or None
    values["note"] = values["note"] or ""
    return EvidenceRow(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------

def evidence_version() -> str:
    """Version string of the shipped evidence table, for manifests.

    Returns
    -------
    str
        ``"kashbour2025-v1+"`` followed by the first 12 hex digits of the SHA-256 of the CSV bytes,
        so any edit to the table changes the version.
    """
    return VERSION_PREFIX + hashlib.sha256(EVIDENCE_FILE.read_bytes()).hexdigest()[:12]


def load_evidence(path: str | os.PathLike[str] | None = None) -> "pd.DataFrame":
    """Read and validate the evidence table.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A CSV with the same columns; default the shipped :data:`EVIDENCE_FILE`.

    Returns
    -------
    pandas.DataFrame
        One row per evidence row, columns in the order of the module docstring, with dtypes:
        ``time_months``, ``k``, ``n``: ``Int64`` (``<NA>`` when empty); ``md``, ``ci_low``,
        ``ci_high``, ``p_value``, ``i2``, ``se``: ``float64`` (NaN when empty); ``default``:
        ``bool``; all others ``object`` (Python ``str``, ``""`` when empty). The parsed table is
        cached per file (and file modification time); a fresh copy is returned on each call.

    Raises
    ------
    EvidenceError
        With a one-line message naming the row, the field, the value and the rule, if the file is
        unreadable or any check in the module docstring fails (duplicate id, value outside its
        allowed set, se missing or <= 0, i2 outside [0, 100), a default that breaks the default
        rule (a sensitivity row marked default, ...), a stored SE or derived MD that does not
        match its formula within 0.5%, an overall row outside its subgroups, a k above the
        seed's k, ...).
    """
    return _evidence_frame(_load(_cache_key(path)).columns)


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """A validated table: its parsed columns (column -> values, missing = NaN / None) and its
    rows by id."""

    columns: Mapping[str, list]
    rows: Mapping[str, EvidenceRow]


def _evidence_frame(columns: Mapping[str, list]) -> "pd.DataFrame":
    """The parsed columns as the DataFrame :func:`load_evidence` documents (pandas is imported
    here only: the simulation reads the rows, and importing pandas takes 0.3-0.5 s)."""
    import pandas as pd
    dtypes = {**{c: object for c in _STR_COLUMNS}, **{c: "float64" for c in _FLOAT_COLUMNS},
              **{c: "Int64" for c in _INT_COLUMNS}, "default": "bool"}
    return pd.DataFrame({c: pd.Series([pd.NA if v is None and dtypes[c] == "Int64" else v
                                       for v in columns[c]], dtype=dtypes[c])
                         for c in COLUMNS})


def _cache_key(path: str | os.PathLike[str] | None) -> tuple[str, int, int] | None:
    """Cache key for a table file: None for the shipped file, else (path, mtime, size)."""
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise _unreadable(str(p), exc) from None
    return (str(p.resolve()), st.st_mtime_ns, st.st_size)


def _unreadable(path: str, exc: OSError) -> EvidenceError:
    """Error for a table file that cannot be read."""
    return _fail(f"evidence file = {fmt_value(path)} cannot be read ({exc.strerror})")


@functools.lru_cache(maxsize=16)
def _load(key: tuple[str, int, int] | None) -> _Loaded:
    """Read, parse and validate a table (cached by :func:`_cache_key`)."""
    raw, name = _read_csv(key, EVIDENCE_FILE, COLUMNS)
    columns = _parse(raw, name)
    records = [dict(zip(columns, values)) for values in zip(*columns.values())]
    rows = [_row_from_record(rec) for rec in records]
    _validate(rows, name)
    return _Loaded(columns=columns, rows={row.id: row for row in rows})


def _read_csv(key: tuple[str, int, int] | None, shipped, columns: tuple[str, ...]
              ) -> tuple[list[dict[str, str]], str]:
    """The records of a table file (column -> cell text), and its name; the header must be
    ``columns``. Blank lines are skipped; every other line must have one cell per column."""
    if key is None:
        data, name = shipped.read_bytes(), shipped.name
    else:
        try:
            data = Path(key[0]).read_bytes()
        except OSError as exc:
            raise _unreadable(key[0], exc) from None
        name = Path(key[0]).name
    try:
        lines = [(i, cells) for i, cells in
                 enumerate(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")), 1)
                 if cells]
    except (csv.Error, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"{name} cannot be parsed as CSV ({first})") from None
    if not lines:
        raise _fail(f"{name} cannot be parsed as CSV (No columns to parse from file)")
    header = lines[0][1]
    if tuple(header) != columns:
        raise _fail(f"{name} columns = {fmt_value(header)} must be exactly "
                    f"{', '.join(columns)} in that order")
    for line, cells in lines[1:]:
        if len(cells) != len(columns):
            raise _fail(f"{name} cannot be parsed as CSV (Expected {len(columns)} fields in "
                        f"line {line}, saw {len(cells)})")
    return [dict(zip(columns, cells)) for _, cells in lines[1:]], name


def _parse(raw: list[dict[str, str]], name: str) -> dict[str, list]:
    """Convert the string cells into the fixed types, column by column (floats, NaN when empty;
    integers, None when empty; booleans), raising EvidenceError on malformed cells."""

    def where(i: int) -> str:
        rid = raw[i]["id"]
        return f"{name} line {i + 2} (id = {fmt_value(rid)})"

    def column(col: str) -> list[str]:
        return [rec[col] for rec in raw]

    out: dict[str, list] = {}
    for col in _STR_COLUMNS:
        out[col] = column(col)
    for col in _FLOAT_COLUMNS:
        values = []
        for i, text in enumerate(column(col)):
            if text == "":
                values.append(math.nan)
                continue
            try:
                x = float(text)
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                raise _fail(f"{where(i)}: {col} = {fmt_value(text)} must be a finite number "
                            "or empty")
            values.append(x)
        out[col] = values
    for col in _INT_COLUMNS:
        values = []
        for i, text in enumerate(column(col)):
            if text == "":
                values.append(None)
            elif _INT_RE.match(text):
                values.append(int(text))
            else:
                raise _fail(f"{where(i)}: {col} = {fmt_value(text)} must be an integer or empty")
        out[col] = values
    flags = []
    for i, text in enumerate(column("default")):
        if text not in ("true", "false"):
            raise _fail(f"{where(i)}: default = {fmt_value(text)} must be true or false")
        flags.append(text == "true")
    out["default"] = flags
    return {col: out[col] for col in COLUMNS}


def _allowed(value: str, allowed: tuple[str, ...]) -> str:
    """Render an allowed set for a message, with a did-you-mean hint."""
    text = "must be one of " + ", ".join(allowed)
    lowered = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return text + (f" (did you mean {fmt_value(lowered[close[0]])}?)" if close else "")


def _show(value: object) -> str:
    """Render a cell for a message; an empty cell shows as ``""``."""
    return '""' if value is None else fmt_value(value)


def _close(stored: float, expected: float) -> bool:
    """True if a stored number matches its recomputation within RTOL."""
    return abs(stored - expected) <= RTOL * abs(expected)


def _validate(rows: list[EvidenceRow], name: str) -> None:
    """Check every row, the default rule and the cross-row checks; raise on the first problem."""
    seen: dict[str, int] = {}
    where: dict[str, str] = {}
    for i, row in enumerate(rows):
        at = f"{name} line {i + 2} (id = {fmt_value(row.id)})"
        if not _ID_RE.match(row.id):
            raise _fail(f"{at}: id must be snake_case letters/digits "
                        "(e.g. id = \"k25abs_hba1c_12m_all\")")
        if row.id in seen:
            raise _fail(f"{at}: id = {fmt_value(row.id)} duplicates line {seen[row.id]}; "
                        "ids must be unique")
        seen[row.id] = i + 2
        where[row.id] = at
        _validate_row(row, at)
    _check_defaults(rows, name)
    _check_coherence(rows, where)
    _check_k(rows, where)


def _is_kashbour(row: EvidenceRow) -> bool:
    """True for a Kashbour 2025 row (abstract or seed write-up)."""
    return _study(row.source) == "Kashbour 2025"


def _study(source: str) -> str:
    """The study a source names: its text up to the first year (``Kashbour 2025``)."""
    m = re.match(r"^(.*?\b(?:19|20)\d{2})\b", source)
    return m.group(1) if m else source


def _check_defaults(rows: list[EvidenceRow], name: str) -> None:
    """One Kashbour default per cell with a Kashbour primary/subgroup row; else at most one."""
    cells: dict[tuple[str, int, str], list[EvidenceRow]] = {}
    for row in rows:
        if row.time_months is not None:
            cells.setdefault((row.outcome, row.time_months, row.population), []).append(row)
    for (outcome, time, population), members in cells.items():
        cell = (f"{name}: group outcome = {fmt_value(outcome)}, time_months = {time}, "
                f"population = {fmt_value(population)}")
        defaults = [r.id for r in members if r.default]
        kashbour = [r.id for r in members if _is_kashbour(r) and r.md_status != "pooled"
                    and r.analysis in DEFAULT_ANALYSES]
        if kashbour and len(defaults) != 1:
            raise _fail(f"{cell} has {len(defaults)} default rows {fmt_value(defaults)}; must "
                        f"have exactly 1 (it holds the Kashbour rows {fmt_value(kashbour)})")
        if kashbour and defaults[0] not in kashbour:
            raise _fail(f"{cell} has default row {fmt_value(defaults[0])}; must be one of its "
                        f"Kashbour primary or subgroup rows {fmt_value(kashbour)}")
        if len(defaults) > 1:
            raise _fail(f"{cell} has {len(defaults)} default rows {fmt_value(defaults)}; must "
                        "have at most 1")


def _check_coherence(rows: list[EvidenceRow], where: Mapping[str, str]) -> None:
    """Within a study, cell and unit, an overall row lies between its T1DM and T2DM subgroups."""
    cells: dict[tuple[str, str, int | None, str], list[EvidenceRow]] = {}
    for row in rows:
        if row.md_status != "pooled" and row.analysis != "sensitivity":
            key = (_study(row.source), row.outcome, row.time_months, row.unit)
            cells.setdefault(key, []).append(row)
    for members in cells.values():
        overall = [r for r in members if r.population == "all" and r.analysis == "primary"]
        if not overall:
            continue
        subs = [r for r in members if r.population in SUBGROUPS]
        for r in subs:
            if r.analysis != "subgroup":
                raise _fail(f"{where[r.id]}: analysis = {fmt_value(r.analysis)} must be "
                            f"\"subgroup\" for a {r.population} row of a study whose all-diabetes "
                            f"row {fmt_value(overall[0].id)} is at the same outcome and time")
            for o in overall:
                if r.k is not None and o.k is not None and r.k > o.k:
                    raise _fail(f"{where[r.id]}: k = {r.k} must be <= {o.k}, the k of the "
                                f"overall row {fmt_value(o.id)} (a subgroup holds at most the "
                                "overall studies)")
        if {r.population for r in subs} != set(SUBGROUPS):
            continue
        lo = min(subs, key=lambda r: r.md)
        hi = max(subs, key=lambda r: r.md)
        for o in overall:
            tol = COHERENCE_TOL * o.se
            if not lo.md - tol <= o.md <= hi.md + tol:
                raise _fail(
                    f"{where[o.id]}: md = {o.md!r} must lie between its subgroups "
                    f"{fmt_value(lo.id)} ({lo.md!r}) and {fmt_value(hi.id)} ({hi.md!r}) within "
                    f"{COHERENCE_TOL:g} se = {tol:.3g}: a pooled estimate lies between its "
                    "subgroup estimates")


def _check_k(rows: list[EvidenceRow], where: Mapping[str, str]) -> None:
    """A Kashbour row's k is at most the seed's k for its outcome, time and population."""
    cells = _kashbour_cells(rows)
    for r in rows:
        if (r.k is None or r.time_months is None or r.outcome not in ENGINE_OUTCOMES
                or not _is_kashbour(r) or r.md_status == "pooled"):
            continue
        cap, why = _k_cap_in(cells, r.outcome, r.time_months, r.population)
        if r.k > cap:
            raise _fail(f"{where[r.id]}: k = {r.k} must be <= {cap} ({why})")


def _k_cap_in(cells: frozenset, outcome: str, time_months: int, population: str
              ) -> tuple[int, str]:
    """:func:`simtrial.model.effects.k_cap` with the other-subgroup test done on ``cells``."""
    other = any((outcome, time_months, p) in cells for p in SUBGROUPS if p != population)
    return k_cap(outcome, time_months, population,
                 other_subgroup=population != "all" and other)


def _kashbour_cells(rows) -> frozenset[tuple[str, int | None, str]]:
    """(outcome, time_months, population) of every Kashbour row (any analysis)."""
    return frozenset((r.outcome, r.time_months, r.population) for r in rows
                     if _is_kashbour(r) and r.md_status != "pooled")


def k_for(row: EvidenceRow | str | None, population: str, outcome: str, time_months: int,
          *, scenario_k: int | None = None, predictive_dist: str = "normal",
          tau2_given: bool = False) -> tuple[int, str]:
    """The k a predictive distribution uses, and where it came from (for the manifest).

    Parameters
    ----------
    row : EvidenceRow, str or None
        The evidence row behind the endpoint MD (or its id); ``None`` for a fixed scenario effect.
    population : str
        The scenario's ``effect.population`` (used when there is no row; else the row's own
        population sets the cap).
    outcome : str
        The endpoint outcome (simulated; a converted evidence-only row counts as it).
    time_months : int
        The endpoint visit (used when the row has no time point).
    scenario_k : int, optional
        ``effect.k``: an explicit assumption, used as given (the note says if it exceeds the cap).
    predictive_dist : {"normal", "t"}
        ``effect.predictive_dist``.
    tau2_given : bool
        Whether the scenario sets ``effect.tau2`` (then a normal predictive does not use k).

    Returns
    -------
    (int, str)
        k (>= 1) and its provenance: the row's k capped by :func:`k_cap`, or the cap itself
        (ASSUMED) when the row gives none (:data:`simtrial.model.effects.SEED_K`).

    Raises
    ------
    EvidenceError
        ``predictive_dist = "t"`` with k < 3 (df = k - 2 < 1); a normal predictive with a table k
        < 3 and neither ``effect.k`` nor ``effect.tau2`` set; an unknown row id.

    Examples
    --------
    T1DM 12-month HbA1c (the row gives no k): min(11 - 1, 7) = 7:

    >>> k_for("k25seed_hba1c_12m_t1dm", "T1DM", "hba1c", 12)[0]
    7
    """
    if isinstance(row, str):
        row = row_by_id(row)
    time = row.time_months if row is not None and row.time_months is not None else time_months
    pop = row.population if row is not None else population
    t = seed_time_point(int(time))
    cap, why = _k_cap_in(_kashbour_cells(_load(None).rows.values()), outcome, t, pop)
    if scenario_k:
        k = int(scenario_k)
        src = f"scenario effect.k = {k}" + (f" (above the cap {cap}: {why})" if k > cap else "")
    elif row is not None and row.k is not None:
        k = min(row.k, cap)
        src = (f"evidence row (k = {row.k})" if row.k <= cap
               else f"evidence row k = {row.k} capped at {cap} ({why})")
    else:
        k = cap
        what = "the row gives no k" if row is not None else "no evidence row"
        src = f"ASSUMED {k}: {what}; the cap ({why})"
    where = f"{outcome} at {t} months, population {pop}"
    if predictive_dist == "t" and k < 3:
        raise EvidenceError(
            f'evidence error: effect.predictive_dist = "t" needs k >= 3 studies (df = k - 2), '
            f"but k = {k} for {where} ({src}); use predictive_dist = \"normal\" with an explicit "
            'effect.k or effect.tau2, or distribution = "pooled"')
    if k < 3 and not tau2_given:
        if not scenario_k:
            raise EvidenceError(
                f"evidence error: k = {k} < 3 studies for {where} ({src}): a normal predictive "
                "would rest tau^2 on fewer than 3 studies; set effect.k or effect.tau2 explicitly "
                '(an assumption, recorded in the manifest), or use distribution = "pooled"')
        src += "; WARNING: k < 3, tau^2 from I^2 rests on fewer than 3 studies"
    return k, src


def _validate_row(row: EvidenceRow, where: str) -> None:
    """Check one row's value sets, ranges and formulas."""
    _check_fields(row, where)
    _check_formulas(row, where)
    _check_significance(row, where)
    _check_flags(row, where)


def _check_fields(row: EvidenceRow, where: str) -> None:
    """Check value sets, ranges, the P value and the CI of one row."""
    for field, allowed in (("outcome", OUTCOMES), ("population", POPULATIONS),
                           ("analysis", ANALYSES), ("se_method", SE_METHODS),
                           ("md_status", MD_STATUSES), ("flag", FLAGS)):
        value = getattr(row, field)
        if value not in allowed:
            raise _fail(f"{where}: {field} = {fmt_value(value)} {_allowed(value, allowed)}")
    if row.analysis == "subgroup" and row.population not in SUBGROUPS:
        raise _fail(f"{where}: analysis = \"subgroup\" needs population T1DM or T2DM "
                    f"(got {fmt_value(row.population)}); an all-diabetes row is primary or "
                    "sensitivity")
    if row.p_relation is not None and row.p_relation not in P_RELATIONS:
        raise _fail(f"{where}: p_relation = {fmt_value(row.p_relation)} must be one of "
                    f"{', '.join(P_RELATIONS)} or empty")
    if not row.source:
        raise _fail(f"{where}: source = \"\" must name the source "
                    "(e.g. source = \"Kashbour 2025\")")
    unit = OUTCOME_UNITS[row.outcome]
    if row.unit != unit:
        raise _fail(f"{where}: unit = {fmt_value(row.unit)} must be {fmt_value(unit)} "
                    f"for outcome {row.outcome}")
    if row.time_months is not None and row.time_months not in TIME_POINTS:
        raise _fail(f"{where}: time_months = {row.time_months} must be one of 3, 6, 12 or empty")
    for field in ("k", "n"):
        value = getattr(row, field)
        if value is not None and value < 1:
            raise _fail(f"{where}: {field} = {value} must be >= 1 or empty")
    if row.i2 is not None and not 0.0 <= row.i2 < 100.0:
        raise _fail(f"{where}: i2 = {row.i2!r} must be in [0, 100) percent or empty "
                    "(e.g. i2 = 56)")
    if row.md is None:
        raise _fail(f"{where}: md = \"\" must be a number (e.g. md = -0.72)")
    if row.se is None or not row.se > 0.0:
        raise _fail(f"{where}: se = {_show(row.se)} must be a number > 0 (e.g. se = 0.199)")

    # P value and its relation
    if row.p_relation in ("=", "<"):
        if row.p_value is None or not 0.0 < row.p_value < 1.0:
            raise _fail(f"{where}: p_value = {_show(row.p_value)} must be in (0, 1) when "
                        f"p_relation = {fmt_value(row.p_relation)}")
    elif row.p_value is not None:
        raise _fail(f"{where}: p_value = {row.p_value!r} must be empty unless p_relation "
                    "is = or <")

    # confidence interval
    if (row.ci_low is None) != (row.ci_high is None):
        raise _fail(f"{where}: ci_low = {_show(row.ci_low)}, "
                    f"ci_high = {_show(row.ci_high)} must be both set or both empty")
    if row.ci_low is not None and not row.ci_low < row.ci_high:  # type: ignore[operator]
        raise _fail(f"{where}: ci_high = {row.ci_high!r} must be > ci_low = {row.ci_low!r}")
    if row.ci_low is not None and not row.ci_low <= row.md <= row.ci_high:  # type: ignore[operator]
        raise _fail(f"{where}: md = {row.md!r} must lie in [ci_low, ci_high] = "
                    f"[{row.ci_low!r}, {row.ci_high!r}]")



def _check_formulas(row: EvidenceRow, where: str) -> None:
    """Recompute the SE (ci/p/bound routes) and a derived MD; they must match within RTOL."""
    if row.se_method in ("p", "bound") and row.md == 0.0:
        raise _fail(f"{where}: md = 0.0 gives no SE from a P value; "
                    "use se_method = \"assumed\"")
    expected: float | None = None
    if row.se_method == "ci":
        if row.ci_low is None:
            raise _fail(f"{where}: se_method = \"ci\" needs ci_low and ci_high")
        expected, formula = se_from_ci(row.ci_low, row.ci_high), "(ci_high - ci_low) / 3.92"
    elif row.se_method == "p":
        if row.p_relation != "=":
            raise _fail(f"{where}: se_method = \"p\" needs p_relation = \"=\" "
                        f"(got {_show(row.p_relation)})")
        expected = se_from_p(row.md, row.p_value)  # type: ignore[arg-type]
        formula = "|md| / z(1 - p_value/2)"
    elif row.se_method == "bound":
        if row.p_relation not in ("<", "sig"):
            raise _fail(f"{where}: se_method = \"bound\" needs p_relation = \"<\" or \"sig\" "
                        f"(got {_show(row.p_relation)})")
        x = row.p_value if row.p_relation == "<" else SIG_LEVEL
        expected = se_bound_from_p(row.md, x)  # type: ignore[arg-type]
        formula = f"|md| / z(1 - {x:g}/2)"
    if expected is not None and not _close(row.se, expected):
        raise _fail(f"{where}: se = {row.se!r} does not match {formula} = {expected:.4g} "
                    f"(se_method = {fmt_value(row.se_method)}, tolerance 0.5%)")

    # a derived MD: recompute |md| from P and the assumed SE
    if row.md_status == "derived":
        if row.se_method != "assumed" or row.p_relation != "=":
            raise _fail(f"{where}: md_status = \"derived\" needs se_method = \"assumed\" and "
                        f"p_relation = \"=\" (got {fmt_value(row.se_method)}, "
                        f"{_show(row.p_relation)})")
        abs_md = _abs_md_from_p(row.p_value, row.se)  # type: ignore[arg-type]
        if not _close(abs(row.md), abs_md):
            raise _fail(f"{where}: md = {row.md!r} does not match ±z(1 - p_value/2) * se = "
                        f"±{abs_md:.4g} (md_status = \"derived\", tolerance 0.5%)")



def _check_significance(row: EvidenceRow, where: str) -> None:
    """The row's |md| / se must agree with what the source said about significance."""
    z = abs(row.md) / row.se
    if row.p_relation in ("<", "sig"):
        x = row.p_value if row.p_relation == "<" else SIG_LEVEL
        z_needed = _NORMAL.inv_cdf(1.0 - x / 2.0)  # type: ignore[operator]
        if z < z_needed * (1.0 - RTOL):
            raise _fail(f"{where}: |md| / se = {z:.3g} must be >= {z_needed:.3g} to agree with "
                        f"P < {x:g} (p_relation = {fmt_value(row.p_relation)})")
    elif row.p_relation == "ns":
        z_max = _NORMAL.inv_cdf(1.0 - SIG_LEVEL / 2.0)
        if z > z_max * (1.0 + RTOL):
            raise _fail(f"{where}: |md| / se = {z:.3g} must be <= {z_max:.3g} to agree with "
                        "p_relation = \"ns\"")
    elif row.p_relation == "=" and row.se_method != "ci":
        # a CI and a P value are rounded separately in papers, so only non-CI SEs must match P
        z_p = _NORMAL.inv_cdf(1.0 - row.p_value / 2.0)  # type: ignore[operator]
        if not _close(z, z_p):
            raise _fail(f"{where}: |md| / se = {z:.4g} must equal z(1 - p_value/2) = {z_p:.4g} "
                        f"for p_value = {row.p_value:g} (tolerance 0.5%)")



def _check_flags(row: EvidenceRow, where: str) -> None:
    """Flag ASSUMED iff an assumption was made; assumptions need a note; default eligibility."""
    pooled = row.md_status == "pooled"
    if pooled != (row.flag == "DERIVED"):
        raise _fail(f"{where}: flag = {fmt_value(row.flag)} and md_status = "
                    f"{fmt_value(row.md_status)}: a re-pooled row has flag DERIVED and md_status "
                    "pooled, and only it")
    if pooled:
        if row.se_method != "ci":
            raise _fail(f"{where}: se_method = {fmt_value(row.se_method)} must be \"ci\" for a "
                        "re-pooled row")
        if not row.note.strip():
            raise _fail(f"{where}: note = \"\" must say how the row was pooled")
        if row.default:
            raise _fail(f"{where}: default = true but flag = \"DERIVED\"; pick it by id")
        return
    assumed = row.md_status != "reported" or row.se_method == "assumed"
    if assumed != (row.flag == "ASSUMED"):
        want = "ASSUMED" if assumed else "one of REPORTED-PRIMARY, REPORTED-SEED, REPORTED"
        raise _fail(f"{where}: flag = {fmt_value(row.flag)} must be {want} for md_status = "
                    f"{fmt_value(row.md_status)}, se_method = {fmt_value(row.se_method)}")
    if assumed and not row.note.strip():
        raise _fail(f"{where}: note = \"\" must give the reasoning for the assumed numbers")
    if not row.default:
        return
    if row.analysis not in DEFAULT_ANALYSES:
        raise _fail(f"{where}: default = true but analysis = {fmt_value(row.analysis)}; a default "
                    "row must be primary or subgroup (a sensitivity analysis is picked by id)")
    if row.time_months is None:
        raise _fail(f"{where}: default = true needs a time_months (pooled rows without a time "
                    "point are picked by id)")
    if row.outcome not in ENGINE_OUTCOMES:
        raise _fail(f"{where}: default = true but outcome = {fmt_value(row.outcome)} is not "
                    f"simulated; only {', '.join(ENGINE_OUTCOMES)} rows may be default")
    if not _is_kashbour(row) and row.flag != "REPORTED":
        raise _fail(f"{where}: default = true but flag = {fmt_value(row.flag)}; a default row "
                    "from another source than Kashbour 2025 must be REPORTED")


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------

def _check_request(outcome: str, population: str) -> None:
    """Validate a requested outcome and population."""
    if outcome not in OUTCOMES:
        raise _fail(f"outcome = {fmt_value(outcome)} {_allowed(str(outcome), OUTCOMES)}")
    if population not in POPULATIONS:
        raise _fail(f"effect.population = {fmt_value(population)} "
                    f"{_allowed(str(population), POPULATIONS)}")


def _check_time(time_months: int) -> None:
    """Validate a requested visit time."""
    if isinstance(time_months, bool) or not isinstance(time_months, (int, np.integer)):
        raise _fail(f"visit_months = {fmt_value(time_months)} must be an integer number of "
                    "months (e.g. visit_months = 12)")


def _availability(rows: Mapping[str, EvidenceRow], outcome: str) -> str:
    """Describe where an outcome has default rows: '3 mo (all, T1DM), 12 mo (all)'."""
    by_time: dict[int, list[str]] = {}
    for row in rows.values():
        if row.outcome == outcome and row.default:
            by_time.setdefault(row.time_months, []).append(row.population)  # type: ignore[arg-type]
    parts = []
    for time in sorted(by_time):
        pops = sorted(by_time[time], key=POPULATIONS.index)
        parts.append(f"{time} mo ({', '.join(pops)})")
    return ", ".join(parts) if parts else "none"


def select_row(outcome: str, time_months: int, population: str,
               row_id: str | None = None, *,
               baseline_means: Mapping[str, float] | None = None) -> EvidenceRow:
    """Pick the evidence row for an outcome at a visit in a population.

    Parameters
    ----------
    outcome : str
        One of ``hba1c``, ``fbg``, ``ppbg``, ``fasting_cpeptide``, ``stimulated_cpeptide``,
        ``insulin_dose``, ``homa_b``, ``homa_ir`` (or an evidence-only outcome, by id).
    time_months : int
        Visit time in months (the table has 3, 6 and 12).
    population : str
        ``all``, ``T1DM`` or ``T2DM``.
    row_id : str, optional
        A row id (scenario key ``effect.row``) to use instead of the default. Its outcome must be
        ``outcome`` (or an evidence-only outcome that converts to it, see ``baseline_means``)
        and, if the row has a time point, it must be ``time_months``; its population and
        analysis are not checked, so a scenario may deliberately apply e.g. an all-diabetes row
        to T2DM or plan on a sensitivity analysis.
    baseline_means : mapping, optional
        Mean baseline values of the trial population by variable (``weight``, ``insulin_dose``).
        With it, a named ``insulin_per_kg`` or ``insulin_dose_pct`` row is converted to
        ``insulin_dose`` by :func:`convert_row`; without it such a row is refused.

    Returns
    -------
    EvidenceRow
        The named row, else the default row of (outcome, time_months, population).

    Raises
    ------
    EvidenceError
        Unknown outcome or population; unknown ``row_id`` (close ids suggested; a renamed id
        names its new id); a row for another outcome or time, or one that needs baseline means;
        no default row for the request (the message lists where the outcome has default rows,
        or the rows of the cell to choose from with their analysis).

    Examples
    --------
    >>> select_row("insulin_dose", 12, "all").md
    -14.5
    >>> select_row("insulin_dose", 12, "all", row_id="k25seed_insulin_dose_12m_all").md
    -16.6
    """
    _check_request(outcome, population)
    _check_time(time_months)
    rows = _load(None).rows
    if row_id is not None:
        return _named_row(rows, outcome, int(time_months), population, row_id, baseline_means)
    key = (outcome, int(time_months), population)
    group = [r for r in rows.values() if (r.outcome, r.time_months, r.population) == key]
    for row in group:
        if row.default:
            return row
    request = (f"outcome = {fmt_value(outcome)}, visit_months = {int(time_months)}, "
               f"population = {fmt_value(population)}")
    available = f"available for {outcome}: {_availability(rows, outcome)}"
    if group:
        ids = ", ".join(f"{fmt_value(r.id)} ({r.analysis})" for r in group)
        raise _fail(f"no default evidence row for {request} (only non-default rows: {ids}); "
                    f"set effect.row to one of them or pick another effect.population; {available}")
    if not any(r.outcome == outcome and r.time_months == time_months for r in rows.values()):
        times = sorted({r.time_months for r in rows.values()
                        if r.outcome == outcome and r.time_months is not None})
        raise _fail(f"no evidence row for {request}; {available}; pick a visit at "
                    f"{', '.join(map(str, times))} months or set effect.row")
    raise _fail(f"no evidence row for {request}; {available}; "
                "pick another effect.population or set effect.row")


def row_by_id(row_id: str) -> EvidenceRow:
    """The shipped row with id ``row_id``.

    Raises
    ------
    EvidenceError
        Unknown id: close ids are suggested, and an id of an earlier table version
        (:data:`RENAMED_IDS`) names its new id.
    """
    rows = _load(None).rows
    row = rows.get(row_id)
    if row is not None:
        return row
    what = f"effect.row = {fmt_value(row_id)}"
    if row_id in RENAMED_IDS:
        new = RENAMED_IDS[row_id]
        raise _fail(f"{what} was renamed {fmt_value(new)}: it is the T2DM subgroup excluding Hu, "
                    f"a sensitivity analysis, not the T2DM subgroup (REVIEW M4); set effect.row = "
                    f"{fmt_value(new)} to plan on it, or leave effect.row unset for the default")
    close = difflib.get_close_matches(str(row_id), list(rows), n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + ", ".join(fmt_value(c) for c in close) + "?"
    else:
        hint = f"ids look like {fmt_value(next(iter(rows)))}"
    raise _fail(f"{what} is not an evidence row id ({hint})")


def _named_row(rows: Mapping[str, EvidenceRow], outcome: str, time_months: int, population: str,
               row_id: str, baseline_means: Mapping[str, float] | None) -> EvidenceRow:
    """Resolve an explicit row id against the request."""
    row = row_by_id(row_id)
    same = [r for r in rows.values() if r.outcome == outcome and r.time_months == time_months]
    example = next((r.id for r in same if r.default and r.population == population),
                   next((r.id for r in same), None))
    eg = f" (e.g. effect.row = {fmt_value(example)})" if example else ""
    what = f"effect.row = {fmt_value(row_id)}"
    converts = CONVERSIONS.get(row.outcome, (None,))[0] == outcome
    if row.outcome != outcome and not converts:
        raise _fail(f"{what} is a row for outcome {fmt_value(row.outcome)}, not the requested "
                    f"outcome {fmt_value(outcome)}; pick a {outcome} row{eg}")
    if row.time_months is not None and row.time_months != time_months:
        raise _fail(f"{what} is a {row.time_months}-month row, not the requested "
                    f"visit_months = {time_months}; pick a row at {time_months} months{eg}")
    if not converts:
        return row
    if baseline_means is None:
        _, var, factor = CONVERSIONS[row.outcome]
        scale = f"x the mean baseline {var}" + (f" x {factor:g}" if factor != 1.0 else "")
        raise _fail(f"{what} is in {row.unit}, not {OUTCOME_UNITS[outcome]}, and the engine does "
                    f"not convert it: set effect.md = md {scale} (convert_row) or pick a "
                    f"{outcome} row{eg}")
    return convert_row(row, baseline_means)


def convert_row(row: EvidenceRow, baseline_means: Mapping[str, float]) -> EvidenceRow:
    """Express an evidence-only insulin row (IU/kg/day or % of baseline) in IU/day.

    Parameters
    ----------
    row : EvidenceRow
        A row of an outcome in :data:`CONVERSIONS` (a row of a simulated outcome is returned
        unchanged).
    baseline_means : mapping
        Mean baseline value of the trial population by variable: ``weight`` (kg) for
        ``insulin_per_kg``, ``insulin_dose`` (IU/day) for ``insulin_dose_pct``.

    Returns
    -------
    EvidenceRow
        The row with ``outcome``/``unit`` of the simulated outcome and ``md``, ``se`` and the CI
        multiplied by factor x mean (P, I², k unchanged: a change of scale), and the conversion
        appended to ``note``.

    Raises
    ------
    EvidenceError
        The mean needed is missing, not finite or not > 0.

    Notes
    -----
    A per-kg MD times the mean weight is the MD in IU/day if the per-kg effect does not depend on
    weight; a % of baseline MD times the mean baseline dose / 100 is the MD in IU/day if the
    proportional effect does not depend on the dose (both ASSUMED).

    Examples
    --------
    Zang 2022: insulin -12.16 percentage points of baseline, on a mean dose of 38.6 IU/day:

    >>> round(convert_row(row_by_id("zang22_insulin_dose_pct_12m_t2dm"),
    ...                   {"insulin_dose": 38.6}).md, 2)
    -4.69
    """
    if row.outcome not in CONVERSIONS:
        return row
    target, var, factor = CONVERSIONS[row.outcome]
    mean = baseline_means.get(var)
    if mean is None or isinstance(mean, bool) or not math.isfinite(float(mean)) or not mean > 0:
        raise _fail(f"baseline_means[{fmt_value(var)}] = {_show(mean)} must be a number > 0 to "
                    f"convert {fmt_value(row.id)} from {row.unit} to {OUTCOME_UNITS[target]}")
    f = factor * float(mean)
    scaled = {name: (None if getattr(row, name) is None else getattr(row, name) * f)
              for name in ("md", "se", "ci_low", "ci_high")}
    note = (f"{row.note}; CONVERTED from {row.unit}: md, se and CI x {f:.4g} "
            f"({factor:g} x mean baseline {var} {float(mean):.4g})")
    return dataclasses.replace(row, outcome=target, unit=OUTCOME_UNITS[target], note=note,
                               **scaled)


def rows_for(outcome: str, population: str) -> dict[int, EvidenceRow]:
    """Default rows of an outcome and population, by time point.

    Parameters
    ----------
    outcome : str
        One of the table's outcomes (see :func:`select_row`).
    population : str
        ``all``, ``T1DM`` or ``T2DM``.

    Returns
    -------
    dict of int to EvidenceRow
        ``{time_months: row}`` in increasing time, only the time points that have a default row
        (e.g. ``{3: ..., 6: ..., 12: ...}``); the input of an effect profile over visits.

    Raises
    ------
    EvidenceError
        Unknown outcome or population, or no default row at any time point.
    """
    _check_request(outcome, population)
    rows = _load(None).rows
    found = {r.time_months: r for r in rows.values()
             if r.default and r.outcome == outcome and r.population == population}
    if not found:
        raise _fail(f"no evidence rows for outcome = {fmt_value(outcome)}, population = "
                    f"{fmt_value(population)}; available for {outcome}: "
                    f"{_availability(rows, outcome)}; pick another effect.population")
    return {t: found[t] for t in sorted(found)}  # type: ignore[type-var]


# --------------------------------------------------------------------------------------------
# Safety counts (a separate table: never an efficacy MD)
# --------------------------------------------------------------------------------------------

SAFETY_COLUMNS = (
    "id", "source", "source_detail", "event", "population", "design", "follow_up_months",
    "events_msc", "n_msc", "events_control", "n_control", "count_unit", "flag", "note",
)
"""Columns of ``safety.csv``, in order (see :func:`load_safety`)."""
SAFETY_EVENTS = ("sae", "death", "dka", "adverse_reaction")
SAFETY_DESIGNS = ("rct_pooled", "rct", "review", "uncontrolled", "case_report")
SAFETY_FLAGS = ("REPORTED-SEED", "REPORTED", "ASSUMED")
COUNT_UNITS = ("patients", "episodes")
_SAFETY_INT_COLUMNS = ("follow_up_months", "events_msc", "n_msc", "events_control", "n_control")
assert not set(SAFETY_EVENTS) & set(OUTCOMES)


def load_safety(path: str | os.PathLike[str] | None = None) -> "pd.DataFrame":
    """Read and validate the safety-count table (``simtrial/data/safety.csv``).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A CSV with the columns :data:`SAFETY_COLUMNS`; default the shipped :data:`SAFETY_FILE`.

    Returns
    -------
    pandas.DataFrame
        One row per (source, event, population). Columns:

        ================= ======================================================================
        id                snake-case id ``<source>_<event>_<population>``, never an evidence id
        source            short citation (and the seed that tells it)
        source_detail     design, arms, regimen, follow-up as the source gives them
        event             ``sae`` (serious adverse events), ``death``, ``dka`` (diabetic
                          ketoacidosis), ``adverse_reaction`` (any treatment-related reaction;
                          infusion reactions such as fever or allergy fall here: no source in
                          the seeds counts them separately)
        population        ``all``, ``T1DM`` or ``T2DM``
        design            ``rct_pooled`` (meta-analysis of RCTs), ``rct``, ``review``
                          (systematic review including non-randomised studies),
                          ``uncontrolled``, ``case_report``; only ``rct*`` rows have a control arm
        follow_up_months  follow-up (``Int64``, empty if not stated)
        events_msc, n_msc patients (or episodes, ``count_unit``) with the event / patients, MSC
                          arm (``Int64``; both empty when the source gives no counts)
        events_control,   the same for the control arm
        n_control
        count_unit        ``patients`` (patients with >= 1 event) or ``episodes``
        flag              ``REPORTED-SEED`` (counts as told by a seed write-up), ``REPORTED``,
                          ``ASSUMED``
        note              the quoted passage, any DERIVED number (formula given) and conflicts
        ================= ======================================================================

    Raises
    ------
    EvidenceError
        One line naming the row, field, value and rule: bad column set, id not snake_case or
        duplicated or clashing with an evidence id, a value outside its set, a count that is not
        an integer >= 0, events > patients, only one of an arm's two counts, a control arm in an
        uncontrolled design, counts missing without a note.
    """
    return _load_safety(_cache_key(path)).copy()


@functools.lru_cache(maxsize=4)
def _load_safety(key: tuple[str, int, int] | None) -> "pd.DataFrame":
    """Read, parse and validate a safety table (cached like :func:`_load`)."""
    import pandas as pd     # a table for the report; not on the simulation's path
    raw, name = _read_csv(key, SAFETY_FILE, SAFETY_COLUMNS)
    efficacy_ids = set(_load(None).rows)
    seen: dict[str, int] = {}
    ints: dict[str, list[object]] = {c: [] for c in _SAFETY_INT_COLUMNS}
    for i, rec in enumerate(raw):
        where = f"{name} line {i + 2} (id = {fmt_value(rec['id'])})"
        _check_safety_row(rec, where, seen, efficacy_ids)
        seen[rec["id"]] = i + 2
        for col in _SAFETY_INT_COLUMNS:
            ints[col].append(pd.NA if rec[col] == "" else int(rec[col]))
    out = pd.DataFrame(raw, columns=list(SAFETY_COLUMNS), dtype=object)
    for col in _SAFETY_INT_COLUMNS:
        out[col] = pd.Series(ints[col], dtype="Int64")
    return out


def _check_safety_row(rec: Mapping[str, str], where: str, seen: Mapping[str, int],
                      efficacy_ids: set[str]) -> None:
    """Validate one safety record (strings as read)."""
    rid = rec["id"]
    if not _ID_RE.match(rid):
        raise _fail(f"{where}: id must be snake_case letters/digits "
                    "(e.g. id = \"k25seed_sae_all\")")
    if rid in seen:
        raise _fail(f"{where}: id = {fmt_value(rid)} duplicates line {seen[rid]}; ids must be "
                    "unique")
    if rid in efficacy_ids:
        raise _fail(f"{where}: id = {fmt_value(rid)} is an evidence (efficacy) row id; safety ids "
                    "must differ")
    for field, allowed in (("event", SAFETY_EVENTS), ("population", POPULATIONS),
                           ("design", SAFETY_DESIGNS), ("count_unit", COUNT_UNITS),
                           ("flag", SAFETY_FLAGS)):
        if rec[field] not in allowed:
            raise _fail(f"{where}: {field} = {fmt_value(rec[field])} "
                        f"{_allowed(rec[field], allowed)}")
    if not rec["source"].strip():
        raise _fail(f"{where}: source = \"\" must name the source (e.g. source = \"Hu 2013\")")
    for col in _SAFETY_INT_COLUMNS:
        text, low = rec[col], 0 if col.startswith("events") else 1
        if text != "" and not (_INT_RE.match(text) and int(text) >= low):
            raise _fail(f"{where}: {col} = {fmt_value(text)} must be an integer >= {low} or empty")
    for arm in ("msc", "control"):
        e, n = rec[f"events_{arm}"], rec[f"n_{arm}"]
        if (e == "") != (n == ""):
            raise _fail(f"{where}: events_{arm} = {e or _show(None)}, n_{arm} = "
                        f"{n or _show(None)} must be both set or both empty")
        if e != "" and int(e) > int(n):
            raise _fail(f"{where}: events_{arm} = {e} must be <= n_{arm} = {n}")
    if rec["design"] not in ("rct_pooled", "rct") and rec["n_control"] != "":
        raise _fail(f"{where}: n_control = {rec['n_control']} must be empty for design = "
                    f"{fmt_value(rec['design'])} (no control arm)")
    if (rec["n_msc"] == "" or rec["flag"] == "ASSUMED") and not rec["note"].strip():
        raise _fail(f"{where}: note = \"\" must say what the source reports when it gives no "
                    "counts, or why a number is assumed")


def events_upper_bound(events: int, n: int, level: float = 0.95) -> float:
    """Exact one-sided upper confidence bound for an event probability (Clopper-Pearson).

    Parameters
    ----------
    events, n : int
        Patients with the event and patients at risk, ``0 <= events <= n``, ``n >= 1``.
    level : float
        One-sided confidence level in (0, 1).

    Returns
    -------
    float
        The upper bound; for 0 events ``1 - (1 - level) ** (1 / n)``, close to the rule of three
        (3 / n at 95%).

    Examples
    --------
    No serious adverse event in the 279 MSC-treated patients of Kashbour 2025:

    >>> round(events_upper_bound(0, 279), 4)
    0.0107
    """
    if isinstance(events, bool) or isinstance(n, bool) or int(events) != events or int(n) != n \
            or not 0 <= events <= n or n < 1:
        raise _fail(f"events = {fmt_value(events)}, n = {fmt_value(n)} must be integers with "
                    "0 <= events <= n and n >= 1")
    lv = _real("level", level)
    if not 0.0 < lv < 1.0:
        raise _fail(f"level = {fmt_value(level)} must be in (0, 1) (e.g. level = 0.95)")
    if events == n:
        return 1.0
    from scipy.stats import beta     # 0.5 s to import: only here, for the safety report
    return float(beta.ppf(lv, events + 1, n - events))
