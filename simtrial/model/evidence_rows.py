"""New evidence rows from a meta-analysis (``simtrial meta --row-id``): the identifying fields
are checked against the evidence table's rules, and the row is written in its CSV format with
provenance (COMPUTED by simtrial meta)."""

from __future__ import annotations

import csv
import io
import math
import re

from ..errors import fmt_value
from ..stats.meta import CI_DIVISOR, METHOD_LABELS, MetaResult, meta_error as _fail
from .evidence import COLUMNS, OUTCOME_UNITS, OUTCOMES, POPULATIONS, TIME_POINTS

__all__ = ["check_row_request", "evidence_row", "evidence_row_csv"]

_ID_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


# --------------------------------------------------------------------------------------------
# Evidence row
# --------------------------------------------------------------------------------------------

def check_row_request(id: str, outcome: str, time_months: int | None, population: str,
                      names: dict[str, str] | None = None) -> None:
    """Validate the identifying fields of an evidence row against simtrial.evidence's rules.

    Parameters
    ----------
    id, outcome, time_months, population
        As in :func:`evidence_row`.
    names : dict, optional
        Display names of the fields in messages (e.g. ``{"id": "--id"}`` for the CLI).

    Raises
    ------
    MetaError
        An id that is not snake_case, an unknown outcome or population, or a time point other
        than 3, 6, 12 or ``None``.
    """
    nm = {"id": "id", "outcome": "outcome", "time_months": "time_months",
          "population": "population", **(names or {})}
    if not isinstance(id, str) or not _ID_RE.match(id):
        raise _fail(f"{nm['id']} = {fmt_value(id)} must be snake_case letters/digits "
                    "(e.g. user_hba1c_12m_all)")
    if outcome not in OUTCOMES:
        raise _fail(f"{nm['outcome']} = {fmt_value(outcome)} must be one of "
                    f"{', '.join(OUTCOMES)}")
    if population not in POPULATIONS:
        raise _fail(f"{nm['population']} = {fmt_value(population)} must be one of "
                    f"{', '.join(POPULATIONS)}")
    if time_months is not None and (isinstance(time_months, bool)
                                    or time_months not in TIME_POINTS):
        raise _fail(f"{nm['time_months']} = {fmt_value(time_months)} must be one of "
                    f"{', '.join(map(str, TIME_POINTS))} (or none for a pooled estimate without "
                    "a time point)")


def _g(x: float, digits: int = 6) -> str:
    """Format a number for the CSV with ``digits`` significant digits."""
    return format(float(x), f".{digits}g")


def evidence_row(result: MetaResult, *, id: str, outcome: str, time_months: int | None,
                 population: str, source: str, note: str = "", n: int | None = None,
                 source_detail: str | None = None) -> dict[str, str]:
    """Turn a pooled result into a row in the evidence-table format.

    Parameters
    ----------
    result : MetaResult
        Output of :func:`pool` (effects must be MSC minus control in the outcome's unit).
    id : str
        Row id, snake_case (e.g. ``user_hba1c_12m_all``); must not clash with ids in the table
        the row is appended to.
    outcome : str
        One of the evidence table's outcomes (``hba1c``, ``fbg``, ...); sets ``unit``.
    time_months : int or None
        3, 6 or 12, or ``None`` for an estimate without a time point.
    population : str
        ``all``, ``T1DM`` or ``T2DM``.
    source : str
        Short citation of the data pooled (non-empty).
    note : str, optional
        Appended to the generated note.
    n : int, optional
        Total patients (known when the input had arm sizes).
    source_detail : str, optional
        Default: the method, e.g. ``"simtrial meta: REML re-pool of k = 13 studies"``.

    Returns
    -------
    dict of str to str
        The evidence columns (``simtrial.evidence.COLUMNS``, in order) as CSV cell strings.

    Raises
    ------
    MetaError
        Invalid id/outcome/population/time, an empty source, or a result the table cannot hold
        (SE = 0).

    Notes
    -----
    The evidence loader recomputes ``se`` as (ci_high - ci_low) / 3.92 and refuses a row more than
    0.5% off. A normal 95% CI passes; an HKSJ (t-based) CI or a CI at another level does not, so
    in those cases ``ci_low``/``ci_high`` are written as md ± 1.96 se and the method's own CI is
    given in ``note``. The P value is the method's own (t-based for HKSJ), with
    ``p_relation = "<"`` and 0.0001 below 0.0001.

    Flags: ``analysis = primary``, ``md_status = pooled``, ``se_method = ci``, ``flag = DERIVED``
    (computed here from the user's study rows, not a published figure), ``default = false``;
    ``note`` starts with
    "COMPUTED by simtrial meta (not a published figure)".
    """

    check_row_request(id, outcome, time_months, population)
    if not isinstance(source, str) or not source.strip():
        raise _fail('source = "" must name the data pooled (e.g. source = "my re-pool of '
                    'Kashbour 2025 studies")')
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise _fail(f"n = {fmt_value(n)} must be an integer >= 1 or None")
    r = result
    if not (math.isfinite(r.se) and r.se > 0.0 and math.isfinite(r.estimate)):
        raise _fail(f"se = {r.se!r} cannot be written; the evidence table needs a finite se > 0")
    for f in ("estimate", "ci_low", "ci_high", "p_value", "tau2", "i2", "q", "pi_low", "pi_high"):
        if not math.isfinite(getattr(r, f)):     # a row never holds nan or inf
            raise _fail(f"{f} = {getattr(r, f)!r} cannot be written; every number of an "
                        "evidence row must be finite")

    method = METHOD_LABELS[r.method] + (" + HKSJ" if r.hksj else "")
    normal95 = not r.hksj and abs(r.level - 0.95) < 1e-12
    if normal95:
        lo, hi = r.ci_low, r.ci_high
    else:
        lo, hi = r.estimate - CI_DIVISOR / 2 * r.se, r.estimate + CI_DIVISOR / 2 * r.se
    if r.p_value >= 1e-4:
        p_text = _g(r.p_value, 4)
        if float(p_text) >= 1.0:
            p_text, p_rel = "", "ns"
        else:
            p_rel = "="
    else:
        p_text, p_rel = "0.0001", "<"

    pct = f"{r.level * 100:g}%"
    parts = [f"COMPUTED by simtrial meta (not a published figure): {method} pool of k = {r.k}"]
    if r.method != "fe":
        parts.append(f"tau2 = {_g(r.tau2, 4)}")
    parts.append(f"Q({r.q_df}) = {_g(r.q, 5)}, I2 = {r.i2:.1f}%")
    if not normal95:
        test = f"t, {r.k - 1} df" if r.hksj else "z"
        parts.append(f"method's own {pct} CI [{_g(r.ci_low, 5)}, {_g(r.ci_high, 5)}] ({test}); "
                     "ci_low/ci_high here are md +- 1.96 se so the table's SE check holds")
    if r.hksj:
        parts.append(f"P from t with {r.k - 1} df")
    if r.method != "fe":
        how = {"t": f"t, {r.k - 2} df", "z": "z"}.get(r.pi_dist, r.pi_dist)
        parts.append(f"{pct} prediction interval [{_g(r.pi_low, 5)}, {_g(r.pi_high, 5)}] ({how})")
    if note and note.strip():
        parts.append(note.strip())
    i2 = min(max(r.i2, 0.0), 99.99)

    row = {
        "id": id,
        "source": source.strip(),
        "source_detail": source_detail or f"simtrial meta: {method} re-pool of k = {r.k} studies",
        "outcome": outcome,
        "unit": OUTCOME_UNITS[outcome],
        "time_months": "" if time_months is None else str(int(time_months)),
        "population": population,
        "analysis": "primary",
        "md": _g(r.estimate),
        "ci_low": _g(lo),
        "ci_high": _g(hi),
        "p_value": p_text,
        "p_relation": p_rel,
        "i2": f"{i2:.2f}",
        "k": str(r.k),
        "n": "" if n is None else str(int(n)),
        "se": _g(r.se),
        "se_method": "ci",
        "md_status": "pooled",
        "flag": "DERIVED",
        "default": "false",
        "note": "; ".join(parts),
    }
    return {c: row[c] for c in COLUMNS}


def evidence_row_csv(row: dict[str, str]) -> str:
    """Render an :func:`evidence_row` dict as CSV text: the header line and one data line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(row))
    writer.writerow(list(row.values()))
    return buf.getvalue()
