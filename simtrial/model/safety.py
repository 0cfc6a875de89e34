"""The safety.csv rows of ``[[safety]]`` tables with ``prior = "evidence"``: checked against what
the prior needs and resolved to counts (the spec layer cannot read the evidence tables).

:func:`safety_evidence` is called by :func:`simtrial.model.design.build_design` (so
``simtrial validate`` reports a bad row) and by :mod:`simtrial.oc.safety` (the numbers).
"""

from __future__ import annotations

from typing import Any

from ..errors import ScenarioError, fmt_value
from .evidence import load_safety

__all__ = ["safety_evidence"]

_COUNTS = ("events_msc", "n_msc", "events_control", "n_control", "follow_up_months")


def _err(path: str, value: Any, text: str, example: str) -> ScenarioError:
    return ScenarioError(f"scenario error: {path} = {fmt_value(value)} {text} (e.g. {example})")


def _count(v: Any) -> int | None:
    """An Int64 cell as int (None where empty: pd.NA or None)."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def safety_evidence(sc) -> tuple[dict[str, int | None] | None, ...]:
    """Per ``[[safety]]`` table: None (``prior = "fixed"``) or the row's counts
    ``events_msc, n_msc, events_control, n_control, follow_up_months`` (None where empty).

    Raises
    ------
    ScenarioError
        One line naming ``safety[i].evidence`` (or ``rate_control``): an id that is not in
        safety.csv, a row without MSC counts, no control arm and no ``rate_control``, no
        follow-up for ``per = "patient_year"``.
    """
    tables = getattr(sc, "safety", ())
    if not any(s.prior == "evidence" for s in tables):
        return tuple(None for _ in tables)
    tab = load_safety()
    recs = {}
    for rec in tab.to_dict("records"):
        recs[rec["id"]] = {k: _count(rec[k]) for k in _COUNTS}
    counted = [i for i, r in recs.items() if r["n_msc"] is not None]
    ex = 'evidence = "k25seed_sae_all"'
    out = []
    for i, s in enumerate(tables):
        if s.prior != "evidence":
            out.append(None)
            continue
        path = f"safety[{i}]"
        r = recs.get(s.evidence)
        if r is None:
            raise _err(f"{path}.evidence", s.evidence, "is not a safety.csv id; one of "
                       + ", ".join(counted), ex)
        if r["n_msc"] is None:
            raise _err(f"{path}.evidence", s.evidence, "has no MSC-arm counts (the source "
                       "reports none); one of " + ", ".join(counted), ex)
        if s.rate_control is None and r["n_control"] is None:
            raise ScenarioError(f"scenario error: {path}.rate_control is required: evidence row "
                                f"{fmt_value(s.evidence)} has no control arm (e.g. "
                                "rate_control = 0.05)")
        if s.per == "patient_year" and r["follow_up_months"] is None:
            raise _err(f"{path}.evidence", s.evidence, 'gives no follow-up, so no patient-years '
                       'for per = "patient_year"; use per = "patient"', 'per = "patient"')
        out.append(r)
    return tuple(out)
