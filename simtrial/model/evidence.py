"""Evidence table: the pooled mean differences the simulator is built from.

The table ships as ``simtrial/data/evidence.csv`` (:data:`EVIDENCE_FILE`), one row per
source x outcome x time point x population. Every number in it comes from
``shared/evidence/FACTS.md``; numbers the sources do not give are flagged ``ASSUMED`` and carry
their reasoning in ``note``, so a user can see and override them.

Columns
-------
=============== ==========================================================================
column          meaning
=============== ==========================================================================
id              stable snake-case id ``<source>_<outcome>_<time>_<population>[_<variant>]``;
                sources ``k25abs`` (Kashbour 2025 abstract), ``k25seed`` (Kashbour 2025 as
                told by the seed write-up 000), ``zhang25``, ``nada25``, ``plos21``,
                ``sun20``; time ``3m``/``6m``/``12m``, or ``pooled`` for an estimate
                pooled without a stated time point
source          short citation
source_detail   where in the source (abstract / seed 000 3-month results / ...)
outcome         ``hba1c`` (%), ``fbg`` (mg/dL), ``ppbg`` (mg/dL), ``fasting_cpeptide``
                (ng/mL), ``stimulated_cpeptide`` (ng/mL), ``insulin_dose`` (IU/day),
                ``homa_b`` (%), ``homa_ir`` (index)
unit            the outcome's unit (checked against the list above)
time_months     3, 6 or 12; empty for a pooled estimate without a stated time point
population      ``all``, ``T1DM`` or ``T2DM``
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
                see ``note``)
flag            ``REPORTED-PRIMARY`` (Kashbour abstract), ``REPORTED-SEED`` (Kashbour
                numbers in the seed write-up), ``REPORTED`` (another paper), ``ASSUMED``
                (md assumed or derived, or SE assumed)
default         ``true`` for the row a scenario gets when it asks for (outcome, time,
                population) without naming a row
note            reasoning for every assumed number, and caveats
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

Decisions
---------
- Abstract versus seed write-up: where both give the 12-month all-diabetes row and disagree
  (insulin -14.50 vs -16.60 IU/day; PPBG -11.32 vs -44.32 mg/dL) both rows ship and the abstract is
  the default (FACTS.md section 5); where they agree the abstract is still the default.
- Defaults: exactly one default per (outcome, time point, population) group that holds a Kashbour
  row. Other meta-analyses (Zhang 2025, Nada 2025, PLoS One 2021, Sun 2020) are never default and
  are picked by id; a group that holds only such rows (Zhang's 3-month T2DM insulin) has no
  default. Rows without a time point are never default and match any requested visit.
- Not shipped: Nada 2025's T1D insulin dose, -0.24 [-0.29, -0.18] U/kg/day, because its unit differs
  from the table's IU/day and converting needs body weights the source does not give; Zhang 2025's
  3-month HbA1c, reported only as not significant.

Reference
---------
Kashbour M, Abdelmalik A, Yassin MNA, et al. Mesenchymal stem cell-based therapy for type 1 & 2
diabetes mellitus patients: a systematic review and meta-analysis of randomized controlled trials.
Diabetol Metab Syndr 2025;17:189. doi:10.1186/s13098-025-01619-6
"""

from __future__ import annotations

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
import pandas as pd

from simtrial.errors import EvidenceError, fmt_value

__all__ = [
    "EVIDENCE_FILE",
    "EvidenceRow",
    "evidence_version",
    "load_evidence",
    "rows_for",
    "se_bound_from_p",
    "se_from_ci",
    "se_from_p",
    "select_row",
]

EVIDENCE_FILE = resources.files("simtrial") / "data" / "evidence.csv"
"""The shipped evidence table (an importlib.resources Traversable)."""

VERSION_PREFIX = "kashbour2025-v1+"

COLUMNS = (
    "id", "source", "source_detail", "outcome", "unit", "time_months", "population", "md",
    "ci_low", "ci_high", "p_value", "p_relation", "i2", "k", "n", "se", "se_method",
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
}
OUTCOMES = tuple(OUTCOME_UNITS)
POPULATIONS = ("all", "T1DM", "T2DM")
TIME_POINTS = (3, 6, 12)
P_RELATIONS = ("=", "<", "sig", "ns")
SE_METHODS = ("ci", "p", "bound", "assumed")
MD_STATUSES = ("reported", "derived", "assumed", "pooled")
FLAGS = ("REPORTED-PRIMARY", "REPORTED-SEED", "REPORTED", "ASSUMED", "DERIVED")
"""DERIVED: re-pooled by `simtrial meta` from user study rows (md_status = pooled)."""
KASHBOUR_FLAGS = frozenset({"REPORTED-PRIMARY", "REPORTED-SEED", "ASSUMED"})

CI_DIVISOR = 3.92  # 2 * 1.96: width of a 95% normal CI in SEs, as the source papers round it
SIG_LEVEL = 0.05  # what "significant" means when no P is given
RTOL = 0.005  # relative tolerance between a stored SE/MD and its recomputation

_STR_COLUMNS = ("id", "source", "source_detail", "outcome", "unit", "population", "p_relation",
                "se_method", "md_status", "flag", "note")
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
    """Turn a DataFrame cell into a plain Python value, missing -> None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _row_from_record(record: Mapping[str, object]) -> EvidenceRow:
    """Build an EvidenceRow from one DataFrame record."""
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


def load_evidence(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
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
        allowed set, se missing or <= 0, i2 outside [0, 100), not exactly one default per group,
        a stored SE or derived MD that does not match its formula within 0.5%, ...).
    """
    return _load(_cache_key(path)).frame.copy()


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """A validated table and its rows by id."""

    frame: pd.DataFrame
    rows: Mapping[str, EvidenceRow]


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
    if key is None:
        data, name = EVIDENCE_FILE.read_bytes(), "evidence.csv"
    else:
        try:
            data = Path(key[0]).read_bytes()
        except OSError as exc:
            raise _unreadable(key[0], exc) from None
        name = Path(key[0]).name
    frame = _parse(data, name)
    _validate(frame, name)
    rows = {rec["id"]: _row_from_record(rec) for rec in frame.to_dict("records")}
    return _Loaded(frame=frame, rows=rows)


def _parse(data: bytes, name: str) -> pd.DataFrame:
    """Parse CSV bytes into the fixed dtypes, raising EvidenceError on malformed cells."""
    try:
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False,
                          encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"{name} cannot be parsed as CSV ({first})") from None
    if tuple(raw.columns) != COLUMNS:
        raise _fail(f"{name} columns = {fmt_value(list(raw.columns))} must be exactly "
                    f"{', '.join(COLUMNS)} in that order")

    def where(i: int) -> str:
        rid = raw.at[i, "id"]
        return f"{name} line {i + 2} (id = {fmt_value(rid)})"

    out: dict[str, object] = {}
    for col in _STR_COLUMNS:
        out[col] = raw[col].astype(object)
    for col in _FLOAT_COLUMNS:
        values = []
        for i, text in enumerate(raw[col]):
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
        out[col] = pd.Series(values, dtype="float64")
    for col in _INT_COLUMNS:
        values = []
        for i, text in enumerate(raw[col]):
            if text == "":
                values.append(pd.NA)
            elif _INT_RE.match(text):
                values.append(int(text))
            else:
                raise _fail(f"{where(i)}: {col} = {fmt_value(text)} must be an integer or empty")
        out[col] = pd.Series(values, dtype="Int64")
    flags = []
    for i, text in enumerate(raw["default"]):
        if text not in ("true", "false"):
            raise _fail(f"{where(i)}: default = {fmt_value(text)} must be true or false")
        flags.append(text == "true")
    out["default"] = pd.Series(flags, dtype="bool")
    return pd.DataFrame({col: out[col] for col in COLUMNS})


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


def _validate(frame: pd.DataFrame, name: str) -> None:
    """Check every row and the default rule; raise EvidenceError on the first problem."""
    seen: dict[str, int] = {}
    rows = [_row_from_record(rec) for rec in frame.to_dict("records")]
    for i, row in enumerate(rows):
        where = f"{name} line {i + 2} (id = {fmt_value(row.id)})"
        if not _ID_RE.match(row.id):
            raise _fail(f"{where}: id must be snake_case letters/digits "
                        "(e.g. id = \"k25abs_hba1c_12m_all\")")
        if row.id in seen:
            raise _fail(f"{where}: id = {fmt_value(row.id)} duplicates line {seen[row.id]}; "
                        "ids must be unique")
        seen[row.id] = i + 2
        _validate_row(row, where)

    groups: dict[tuple[str, int, str], list[EvidenceRow]] = {}
    for row in rows:
        if row.time_months is not None:
            groups.setdefault((row.outcome, row.time_months, row.population), []).append(row)
    for (outcome, time, population), members in groups.items():
        if not any(r.flag in KASHBOUR_FLAGS for r in members):
            continue
        defaults = [r.id for r in members if r.default]
        if len(defaults) != 1:
            raise _fail(f"{name}: group outcome = {fmt_value(outcome)}, time_months = {time}, "
                        f"population = {fmt_value(population)} has {len(defaults)} default rows "
                        f"{fmt_value(defaults)}; must have exactly 1")


def _validate_row(row: EvidenceRow, where: str) -> None:
    """Check one row's value sets, ranges and formulas."""
    _check_fields(row, where)
    _check_formulas(row, where)
    _check_significance(row, where)
    _check_flags(row, where)


def _check_fields(row: EvidenceRow, where: str) -> None:
    """Check value sets, ranges, the P value and the CI of one row."""
    for field, allowed in (("outcome", OUTCOMES), ("population", POPULATIONS),
                           ("se_method", SE_METHODS), ("md_status", MD_STATUSES), ("flag", FLAGS)):
        value = getattr(row, field)
        if value not in allowed:
            raise _fail(f"{where}: {field} = {fmt_value(value)} {_allowed(value, allowed)}")
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
    if row.default and row.time_months is None:
        raise _fail(f"{where}: default = true needs a time_months (pooled rows without a time "
                    "point are picked by id)")
    if row.default and row.flag not in KASHBOUR_FLAGS:
        raise _fail(f"{where}: default = true but flag = {fmt_value(row.flag)}; only Kashbour rows "
                    "(REPORTED-PRIMARY, REPORTED-SEED, ASSUMED) may be default")


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
               row_id: str | None = None) -> EvidenceRow:
    """Pick the evidence row for an outcome at a visit in a population.

    Parameters
    ----------
    outcome : str
        One of ``hba1c``, ``fbg``, ``ppbg``, ``fasting_cpeptide``, ``stimulated_cpeptide``,
        ``insulin_dose``, ``homa_b``, ``homa_ir``.
    time_months : int
        Visit time in months (the table has 3, 6 and 12).
    population : str
        ``all``, ``T1DM`` or ``T2DM``.
    row_id : str, optional
        A row id (scenario key ``effect.row``) to use instead of the default. Its outcome must be
        ``outcome`` and, if the row has a time point, it must be ``time_months``; its population
        is not checked, so a scenario may deliberately apply e.g. an all-diabetes row to T2DM.

    Returns
    -------
    EvidenceRow
        The named row, else the default row of (outcome, time_months, population).

    Raises
    ------
    EvidenceError
        Unknown outcome or population; unknown ``row_id`` (close ids suggested); a row for another
        outcome or time; no default row for the request (the message lists where the outcome has
        rows, or the non-default rows of the group).

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
        return _named_row(rows, outcome, int(time_months), population, row_id)
    key = (outcome, int(time_months), population)
    group = [r for r in rows.values() if (r.outcome, r.time_months, r.population) == key]
    for row in group:
        if row.default:
            return row
    request = (f"outcome = {fmt_value(outcome)}, visit_months = {int(time_months)}, "
               f"population = {fmt_value(population)}")
    available = f"available for {outcome}: {_availability(rows, outcome)}"
    if group:
        ids = ", ".join(fmt_value(r.id) for r in group)
        raise _fail(f"no default evidence row for {request} (only non-default rows: {ids}); "
                    f"set effect.row to one of them or pick another effect.population; {available}")
    if not any(r.outcome == outcome and r.time_months == time_months for r in rows.values()):
        times = sorted({r.time_months for r in rows.values()
                        if r.outcome == outcome and r.time_months is not None})
        raise _fail(f"no evidence row for {request}; {available}; pick a visit at "
                    f"{', '.join(map(str, times))} months or set effect.row")
    raise _fail(f"no evidence row for {request}; {available}; "
                "pick another effect.population or set effect.row")


def _named_row(rows: Mapping[str, EvidenceRow], outcome: str, time_months: int, population: str,
               row_id: str) -> EvidenceRow:
    """Resolve an explicit row id against the request."""
    row = rows.get(row_id)
    if row is None:
        close = difflib.get_close_matches(str(row_id), list(rows), n=3, cutoff=0.6)
        if close:
            hint = "did you mean " + ", ".join(fmt_value(c) for c in close) + "?"
        else:
            hint = f"ids look like {fmt_value(next(iter(rows)))}"
        raise _fail(f"effect.row = {fmt_value(row_id)} is not an evidence row id ({hint})")
    same = [r for r in rows.values() if r.outcome == outcome and r.time_months == time_months]
    example = next((r.id for r in same if r.default and r.population == population),
                   next((r.id for r in same), None))
    eg = f" (e.g. effect.row = {fmt_value(example)})" if example else ""
    what = f"effect.row = {fmt_value(row_id)}"
    if row.outcome != outcome:
        raise _fail(f"{what} is a row for outcome {fmt_value(row.outcome)}, not the requested "
                    f"outcome {fmt_value(outcome)}; pick a {outcome} row{eg}")
    if row.time_months is not None and row.time_months != time_months:
        raise _fail(f"{what} is a {row.time_months}-month row, not the requested "
                    f"visit_months = {time_months}; pick a row at {time_months} months{eg}")
    return row


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
