"""Tests for simtrial.model.evidence: the shipped table, its SE routes, selection and validation.

Reference values come from shared/evidence/FACTS.md (hand-computed SEs rounded as printed there);
scipy.stats.norm is the independent oracle for the normal quantiles (the module uses
statistics.NormalDist).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections import Counter

import pandas as pd
import pytest
from scipy.stats import norm

from simtrial.model import evidence as ev
from simtrial.errors import EvidenceError, SimtrialError


def _table() -> pd.DataFrame:
    return ev.load_evidence().set_index("id")


def _abs_tol(hand: float) -> float:
    """Half a unit in the last printed decimal of a FACTS.md hand value."""
    decimals = len(repr(hand).split(".")[1]) if "." in repr(hand) else 0
    return 0.5 * 10.0 ** -decimals


# --------------------------------------------------------------------------------------------
# FACTS.md section 1a: the five abstract rows, exact (external reference values)
# --------------------------------------------------------------------------------------------

# (outcome, md, ci_low, ci_high, p_value, p_relation, i2, SE hand value), FACTS.md table 1a
ABSTRACT_ROWS = [
    ("hba1c", -0.72, -1.11, -0.33, 0.0003, "=", 56, 0.199),
    ("insulin_dose", -14.50, -19.45, -9.55, 0.00001, "<", 0, 2.526),
    ("fasting_cpeptide", 0.24, 0.05, 0.43, 0.01, "=", 93, 0.097),
    ("ppbg", -11.32, -16.46, -6.17, 0.0001, "<", 17, 2.625),
    ("fbg", -6.22, -24.23, 11.79, 0.50, "=", 81, 9.189),
]


@pytest.mark.parametrize(("outcome", "md", "lo", "hi", "p", "rel", "i2", "se_hand"), ABSTRACT_ROWS)
def test_abstract_row_reproduces_facts_1a(outcome, md, lo, hi, p, rel, i2, se_hand):
    row = ev.select_row(outcome, 12, "all", row_id=f"k25abs_{outcome}_12m_all")
    assert (row.md, row.ci_low, row.ci_high, row.p_value, row.p_relation, row.i2) == (
        md, lo, hi, p, rel, i2)
    assert (row.flag, row.md_status, row.se_method, row.time_months, row.population) == (
        "REPORTED-PRIMARY", "reported", "ci", 12, "all")
    assert row.se == pytest.approx(se_hand, abs=_abs_tol(se_hand))
    # double programming: CI route recomputed here, not through the module
    assert row.se == pytest.approx((hi - lo) / 3.92, rel=1e-3)


def test_abstract_rows_are_the_only_primary_rows():
    table = _table()
    primary = set(table.index[table["flag"] == "REPORTED-PRIMARY"])
    assert primary == {f"k25abs_{r[0]}_12m_all" for r in ABSTRACT_ROWS}


# --------------------------------------------------------------------------------------------
# FACTS.md section 1b: SEs derived from P values (hand values from the table)
# --------------------------------------------------------------------------------------------

# (id, md, p, p_relation, se_method, SE hand value as printed in FACTS.md 1b)
SEED_DERIVED = [
    ("k25seed_hba1c_6m_t1dm", -0.72, 0.002, "=", "p", 0.233),
    ("k25seed_insulin_dose_6m_t1dm", -10.11, 0.03, "=", "p", 4.659),
    ("k25seed_insulin_dose_6m_t2dm", -15.71, 0.005, "=", "p", 5.597),
    ("k25seed_hba1c_12m_t1dm", -0.98, 0.0001, "<", "bound", 0.252),
    ("k25seed_fasting_cpeptide_12m_t1dm", 0.12, 0.02, "=", "p", 0.052),
    ("k25seed_insulin_dose_12m_t1dm", -11.58, 0.01, "=", "p", 4.496),
    ("k25seed_insulin_dose_12m_t2dm", -21.45, 0.0002, "=", "p", 5.768),
    ("k25seed_ppbg_12m_all", -44.32, 0.01, "=", "p", 17.21),
]


@pytest.mark.parametrize(("row_id", "md", "p", "rel", "method", "se_hand"), SEED_DERIVED)
def test_seed_se_derived_from_p_matches_facts_1b(row_id, md, p, rel, method, se_hand):
    row = _table().loc[row_id]
    assert (row["md"], row["p_value"], row["p_relation"], row["se_method"]) == (md, p, rel, method)
    assert row["flag"] == "REPORTED-SEED"
    assert row["se"] == pytest.approx(se_hand, abs=_abs_tol(se_hand))
    # independent oracle: scipy's normal quantile
    assert row["se"] == pytest.approx(abs(md) / norm.isf(p / 2), rel=5e-4)


def test_every_ci_p_bound_se_matches_scipy_oracle():
    """Double programming over the whole table, independent of the loader's own check."""
    for rid, row in _table().iterrows():
        if row["se_method"] == "ci":
            expected = (row["ci_high"] - row["ci_low"]) / 3.92
        elif row["se_method"] == "p":
            expected = abs(row["md"]) / norm.isf(row["p_value"] / 2)
        elif row["se_method"] == "bound":
            x = row["p_value"] if row["p_relation"] == "<" else 0.05
            expected = abs(row["md"]) / norm.isf(x / 2)
        else:
            continue
        assert row["se"] == pytest.approx(expected, rel=5e-4), rid


def test_derived_md_reproduces_p_with_assumed_se_and_favours_msc():
    lower_is_better = {"hba1c", "fbg", "ppbg", "insulin_dose", "homa_ir"}
    derived = _table().query("md_status == 'derived'")
    assert len(derived) == 13
    for rid, row in derived.iterrows():
        assert row["se_method"] == "assumed" and row["flag"] == "ASSUMED", rid
        abs_md = norm.isf(row["p_value"] / 2) * row["se"]
        assert abs(row["md"]) == pytest.approx(abs_md, rel=5e-4), rid
        favouring = "negative" if row["outcome"] in lower_is_better else "positive"
        assert (row["md"] < 0) == (favouring == "negative"), rid
        assert f"sign favouring MSC ({favouring})" in row["note"], rid


# (id, md, se) from the brief's assumptions, spot checks of the derived/assumed numbers
ASSUMED_SPOT = [
    ("k25seed_hba1c_3m_all", -0.40, 0.19),
    ("k25seed_hba1c_3m_t1dm", -0.5073, 0.28),  # -z(0.965) * 0.28
    ("k25seed_hba1c_3m_t2dm", -0.3259, 0.26),  # -z(0.895) * 0.26
    ("k25seed_ppbg_3m_t2dm", -40.0, 20.41),  # 40 / 1.96
    ("k25seed_stimulated_cpeptide_3m_all", 0.40, 0.1719),  # 0.40 / z(0.99)
    ("k25seed_homa_ir_3m_all", -0.80, 0.2696),  # 0.80 / z(0.9985)
    ("k25seed_insulin_dose_3m_all", -12.0, 4.0),
    ("k25seed_stimulated_cpeptide_12m_all", 0.05, 0.20),
]


@pytest.mark.parametrize(("row_id", "md", "se"), ASSUMED_SPOT)
def test_assumed_numbers_are_the_documented_ones(row_id, md, se):
    row = _table().loc[row_id]
    assert row["flag"] == "ASSUMED"
    assert row["md"] == pytest.approx(md, rel=1e-3)
    assert row["se"] == pytest.approx(se, rel=1e-3)


def test_every_assumed_row_has_a_note():
    table = _table()
    assumed = table[table["flag"] == "ASSUMED"]
    assert len(assumed) > 0
    empty = [rid for rid, note in assumed["note"].items() if not note.strip()]
    assert empty == []
    # and every assumed number is flagged
    has_assumption = (table["md_status"] != "reported") | (table["se_method"] == "assumed")
    assert (has_assumption == (table["flag"] == "ASSUMED")).all()


# --------------------------------------------------------------------------------------------
# FACTS.md section 2: other meta-analyses, default only where Kashbour has a sensitivity row only
# --------------------------------------------------------------------------------------------

OTHER_ROWS = [
    ("zhang25_insulin_dose_3m_t2dm", 3, "T2DM", -15.58, -18.26, -12.89),
    ("zhang25_insulin_dose_6m_t2dm", 6, "T2DM", -16.77, -30.09, -3.46),
    ("zhang25_insulin_dose_12m_t2dm", 12, "T2DM", -26.90, -29.59, -24.20),
    ("zhang25_hba1c_6m_t2dm", 6, "T2DM", -0.62, -1.15, -0.09),
    ("zhang25_hba1c_12m_t2dm", 12, "T2DM", -0.75, -1.40, -0.11),
    ("nada25_hba1c_pooled_all", None, "all", -1.06, -1.27, -0.85),
    ("nada25_fasting_cpeptide_pooled_all", None, "all", 0.35, 0.15, 0.56),
    ("plos21_hba1c_pooled_all", None, "all", -0.87, -1.53, -0.22),
    ("plos21_fasting_cpeptide_pooled_all", None, "all", -0.07, -0.30, 0.16),
    ("sun20_hba1c_pooled_t1dm", None, "T1DM", -1.20, -1.91, -0.49),
    ("sun20_fasting_cpeptide_pooled_t1dm", None, "T1DM", 0.25, 0.04, 0.45),
]


# the T2DM HbA1c cells whose only Kashbour rows are the ex-Hu sensitivity analyses (REVIEW M4)
ZHANG_DEFAULTS = {"zhang25_hba1c_6m_t2dm", "zhang25_hba1c_12m_t2dm"}


def test_other_meta_analyses_reported_with_ci():
    table = _table()
    for rid, time, pop, md, lo, hi in OTHER_ROWS:
        row = table.loc[rid]
        got_time = None if pd.isna(row["time_months"]) else int(row["time_months"])
        assert (got_time, row["population"], row["md"], row["ci_low"], row["ci_high"]) == (
            time, pop, md, lo, hi), rid
        got = (row["flag"], row["se_method"], bool(row["default"]))
        assert got == ("REPORTED", "ci", rid in ZHANG_DEFAULTS), rid
    reported = set(table.index[table["flag"] == "REPORTED"])
    assert reported == {r[0] for r in OTHER_ROWS} | {"zang22_hba1c_12m_t2dm",
                                                     "nada25_insulin_per_kg_pooled_t1dm"}


def test_nada_insulin_is_an_evidence_only_outcome():
    table = _table()
    assert all(ev.OUTCOME_UNITS[o] == u for o, u in zip(table["outcome"], table["unit"]))
    nada = table["source"].str.startswith("Nada")
    assert not (nada & (table["outcome"] == "insulin_dose")).any()
    assert set(table.loc[nada & table["outcome"].str.startswith("insulin"), "unit"]) == {
        "IU/kg/day"}
    assert "insulin_per_kg" not in ev.ENGINE_OUTCOMES and "IU/kg/day" in ev.__doc__


def test_pooled_rows_without_time_match_any_visit():
    row = ev.select_row("hba1c", 6, "T1DM", row_id="sun20_hba1c_pooled_t1dm")
    assert (row.time_months, row.md) == (None, -1.20)
    assert ev.select_row("hba1c", 12, "all", row_id="nada25_hba1c_pooled_all").md == -1.06


# --------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------

def test_one_default_per_group_with_a_kashbour_primary_or_subgroup_row():
    table = ev.load_evidence()
    kashbour = table["source"].str.startswith("Kashbour")
    eligible = kashbour & (table["analysis"] != "sensitivity")
    timed = table[table["time_months"].notna()]
    for key, group in timed.groupby(["outcome", "time_months", "population"]):
        defaults = group[group["default"]]
        if eligible[group.index].any():
            assert len(defaults) == 1 and kashbour[defaults.index].all(), key
        else:
            assert len(defaults) <= 1, key
    assert not table.loc[table["time_months"].isna(), "default"].any()
    # a default from another source is a reported estimate, and only where Kashbour has none
    assert set(table.loc[~kashbour & table["default"], "id"]) == ZHANG_DEFAULTS


def test_expected_groups_have_defaults():
    # FACTS.md 1b: every outcome at 3, 6, 12 months for all diabetes
    for outcome in ev.ENGINE_OUTCOMES:
        if outcome == "ppbg":
            continue  # 3-month PPBG only for T2DM (1 study)
        assert set(ev.rows_for(outcome, "all")) == {3, 6, 12}, outcome
    assert set(ev.rows_for("ppbg", "all")) == {6, 12}
    assert set(ev.rows_for("ppbg", "T2DM")) == {3, 6, 12}
    assert set(ev.rows_for("hba1c", "T1DM")) == {3, 6, 12}
    # the 6-month T2DM cell holds only the ex-Hu sensitivity row: no default
    assert set(ev.rows_for("fasting_cpeptide", "T2DM")) == {12}
    assert set(ev.rows_for("fbg", "T2DM")) == {12}
    assert set(ev.rows_for("hba1c", "T2DM")) == {3, 6, 12}


@pytest.mark.parametrize(("outcome", "abstract_md", "seed_md"), [
    ("hba1c", -0.72, -0.72),
    ("insulin_dose", -14.50, -16.60),
    ("ppbg", -11.32, -44.32),
    ("fasting_cpeptide", 0.24, 0.24),
    ("fbg", -6.22, -6.22),
])
def test_abstract_is_default_where_seed_also_has_the_12_month_row(outcome, abstract_md, seed_md):
    default = ev.select_row(outcome, 12, "all")
    got = (default.id, default.md, default.default)
    assert got == (f"k25abs_{outcome}_12m_all", abstract_md, True)
    seed = ev.select_row(outcome, 12, "all", row_id=f"k25seed_{outcome}_12m_all")
    assert (seed.md, seed.flag, seed.default) == (seed_md, "REPORTED-SEED", False)


def test_both_12_month_insulin_rows_selectable_by_id():
    abstract = ev.select_row("insulin_dose", 12, "all", row_id="k25abs_insulin_dose_12m_all")
    seed = ev.select_row("insulin_dose", 12, "all", row_id="k25seed_insulin_dose_12m_all")
    assert (abstract.md, seed.md) == (-14.50, -16.60)


def test_rows_for_returns_default_rows_in_time_order():
    rows = ev.rows_for("insulin_dose", "T2DM")
    assert list(rows) == [6, 12]
    assert [r.md for r in rows.values()] == [-15.71, -21.45]
    assert all(r.default for r in rows.values())
    assert ev.rows_for("hba1c", "all")[12].id == "k25abs_hba1c_12m_all"


def test_select_row_ignores_population_of_an_explicit_row():
    # a scenario may deliberately apply the all-diabetes row to a T2DM trial
    assert ev.select_row("hba1c", 12, "T2DM", row_id="k25abs_hba1c_12m_all").population == "all"


# --------------------------------------------------------------------------------------------
# Selection errors (messages pinned)
# --------------------------------------------------------------------------------------------

def test_unknown_row_id_suggests_close_ids():
    with pytest.raises(EvidenceError, match=re.escape(
            'evidence error: effect.row = "k25abs_hba1c_12m" is not an evidence row id '
            '(did you mean "k25abs_hba1c_12m_all"')):
        ev.select_row("hba1c", 12, "all", row_id="k25abs_hba1c_12m")


def test_unknown_row_id_without_close_match():
    match = r'effect\.row = "xyz" is not an evidence row id \(ids look like'
    with pytest.raises(EvidenceError, match=match):
        ev.select_row("hba1c", 12, "all", row_id="xyz")


def test_missing_row_lists_what_is_available():
    msg = ('evidence error: no evidence row for outcome = "homa_b", visit_months = 3, '
           'population = "T1DM"; available for homa_b: 3 mo (all), 6 mo (all), 12 mo (all); '
           'pick another effect.population or set effect.row')
    with pytest.raises(EvidenceError, match=f"^{re.escape(msg)}$"):
        ev.select_row("homa_b", 3, "T1DM")


def test_missing_visit_lists_time_points():
    with pytest.raises(EvidenceError, match=re.escape(
            "available for hba1c: 3 mo (all, T1DM, T2DM), 6 mo (all, T1DM, T2DM), "
            "12 mo (all, T1DM, T2DM); pick a visit at 3, 6, 12 months or set effect.row")):
        ev.select_row("hba1c", 9, "all")


def test_group_with_only_non_default_rows_names_them():
    with pytest.raises(EvidenceError, match=re.escape(
            'no default evidence row for outcome = "insulin_dose", visit_months = 3, population = '
            '"T2DM" (only non-default rows: "zhang25_insulin_dose_3m_t2dm" (primary)); '
            'set effect.row')):
        ev.select_row("insulin_dose", 3, "T2DM")
    row = ev.select_row("insulin_dose", 3, "T2DM", row_id="zhang25_insulin_dose_3m_t2dm")
    assert row.md == -15.58


def test_row_for_another_outcome_is_refused():
    with pytest.raises(EvidenceError, match=re.escape(
            'effect.row = "k25abs_insulin_dose_12m_all" is a row for outcome "insulin_dose", '
            'not the requested outcome "hba1c"; pick a hba1c row '
            '(e.g. effect.row = "k25abs_hba1c_12m_all")')):
        ev.select_row("hba1c", 12, "all", row_id="k25abs_insulin_dose_12m_all")


def test_row_for_another_time_is_refused():
    with pytest.raises(EvidenceError, match=re.escape(
            'effect.row = "k25abs_hba1c_12m_all" is a 12-month row, not the requested '
            'visit_months = 6; pick a row at 6 months (e.g. effect.row = "k25seed_hba1c_6m_all")')):
        ev.select_row("hba1c", 6, "all", row_id="k25abs_hba1c_12m_all")


@pytest.mark.parametrize(("args", "match"), [
    (("hba1", 12, "all"),
     r'^evidence error: outcome = "hba1" must be one of hba1c, .* \(did you mean "hba1c"\?\)$'),
    (("hba1c", 12, "t2dm"),
     r'^evidence error: effect\.population = "t2dm" must be one of all, T1DM, T2DM '
     r'\(did you mean "T2DM"\?\)$'),
    (("hba1c", 12.0, "all"),
     r'^evidence error: visit_months = 12\.0 must be an integer number of months'),
])
def test_bad_request_is_refused(args, match):
    with pytest.raises(EvidenceError, match=match):
        ev.select_row(*args)


def test_rows_for_unknown_population_combination():
    with pytest.raises(EvidenceError, match=re.escape(
            'no evidence rows for outcome = "homa_ir", population = "T2DM"; available for homa_ir: '
            '3 mo (all), 6 mo (all), 12 mo (all); pick another effect.population')):
        ev.rows_for("homa_ir", "T2DM")


def test_evidence_error_is_a_simtrial_error_with_one_line():
    with pytest.raises(SimtrialError) as info:
        ev.select_row("homa_b", 3, "T1DM")
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# SE helpers (hand-computed values; scipy oracle)
# --------------------------------------------------------------------------------------------

def test_se_from_ci_hand_value():
    assert ev.se_from_ci(-1.11, -0.33) == pytest.approx(0.78 / 3.92, rel=1e-12)  # = 0.19898
    assert ev.se_from_ci(-19.45, -9.55) == pytest.approx(2.526, abs=5e-4)


@pytest.mark.parametrize(("md", "p"), [(-10.11, 0.03), (0.12, 0.02), (-21.45, 0.0002), (5.0, 0.9)])
def test_se_from_p_against_scipy(md, p):
    assert ev.se_from_p(md, p) == pytest.approx(abs(md) / norm.ppf(1 - p / 2), rel=1e-9)


def test_se_from_p_hand_value_at_p_0_05():
    # z(0.975) = 1.959964 -> SE = 1.959964 / 1.959964 = 1
    assert ev.se_from_p(1.959963984540054, 0.05) == pytest.approx(1.0, rel=1e-9)


def test_se_bound_from_p_is_the_p_route_at_the_bound():
    assert ev.se_bound_from_p(-0.98, 0.0001) == pytest.approx(0.98 / norm.isf(0.00005), rel=1e-9)
    assert ev.se_bound_from_p(-28.19, 0.05) == pytest.approx(14.38, abs=5e-3)
    # a smaller P bound gives a smaller SE bound (more evidence)
    assert ev.se_bound_from_p(1.0, 0.001) < ev.se_bound_from_p(1.0, 0.05)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ev.se_from_ci(0.4, 0.4), r"^evidence error: ci_high = 0\.4 must be > ci_low = 0\.4"),
    (lambda: ev.se_from_ci(1.0, -1.0), r"^evidence error: ci_high = -1\.0 must be > ci_low = 1\.0"),
    (lambda: ev.se_from_ci("a", 1.0), r'^evidence error: ci_low = "a" must be a finite number'),
    (lambda: ev.se_from_p(-1.0, 0.0), r"^evidence error: p_value = 0\.0 must be in \(0, 1\)"),
    (lambda: ev.se_from_p(-1.0, 1.0), r"^evidence error: p_value = 1\.0 must be in \(0, 1\)"),
    (lambda: ev.se_from_p(-1.0, 1.5), r"^evidence error: p_value = 1\.5 must be in \(0, 1\)"),
    (lambda: ev.se_from_p(-1.0, math.nan),
     r"^evidence error: p_value = nan must be a finite number"),
    (lambda: ev.se_from_p(0.0, 0.03),
     r"^evidence error: md = 0\.0 gives no standard error from a P value"),
    (lambda: ev.se_bound_from_p(1.0, 0.0), r"^evidence error: p_upper = 0\.0 must be in \(0, 1\)"),
    (lambda: ev.se_bound_from_p(0, 0.05), r"^evidence error: md = 0\.0 gives no standard error"),
    (lambda: ev.se_from_p(True, 0.05), r"^evidence error: md = true must be a finite number"),
])
def test_se_helpers_refuse_nonsense(call, match):
    with pytest.raises(EvidenceError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Loader: dtypes, caching, version, and validation of corrupted copies
# --------------------------------------------------------------------------------------------

def test_loaded_dtypes_and_columns():
    table = ev.load_evidence()
    assert tuple(table.columns) == ev.COLUMNS
    assert len(table) == 69
    assert table["id"].is_unique
    assert str(table["time_months"].dtype) == "Int64"
    assert str(table["k"].dtype) == "Int64" and str(table["n"].dtype) == "Int64"
    floats = ("md", "ci_low", "ci_high", "p_value", "i2", "se")
    assert all(table[c].dtype == "float64" for c in floats)
    assert table["default"].dtype == bool
    assert (table["se"] > 0).all()


def test_load_evidence_returns_a_copy():
    first = ev.load_evidence()
    first.loc[0, "md"] = 99.0
    assert ev.load_evidence().loc[0, "md"] == -0.72


def test_evidence_version_hashes_the_csv():
    digest = hashlib.sha256(ev.EVIDENCE_FILE.read_bytes()).hexdigest()[:12]
    assert ev.evidence_version() == "kashbour2025-v1+" + digest
    assert re.fullmatch(r"kashbour2025-v1\+[0-9a-f]{12}", ev.evidence_version())


def test_evidence_row_as_dict_and_frozen():
    row = ev.select_row("hba1c", 12, "all")
    d = row.to_dict()
    assert tuple(d) == ev.COLUMNS
    assert d["n"] is None and d["k"] == 11 and d["time_months"] == 12
    with pytest.raises(AttributeError):
        row.md = 0.0  # type: ignore[misc]


def _shipped_rows() -> list[dict[str, str]]:
    text = ev.EVIDENCE_FILE.read_bytes().decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _write(tmp_path, rows: list[dict[str, str]], columns=ev.COLUMNS):
    path = tmp_path / "evidence.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n",
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _set(row_id: str, **changes: str):
    def mutate(rows):
        for row in rows:
            if row["id"] == row_id:
                row.update(changes)
        return rows
    mutate.__name__ = row_id + "|" + ",".join(f"{k}={v}" for k, v in changes.items())
    return mutate


def _duplicate(rows):
    return [*rows, dict(rows[0])]


CORRUPTIONS = [
    (_duplicate,
     r'line 71 \(id = "k25abs_hba1c_12m_all"\): id = "k25abs_hba1c_12m_all" duplicates line 2'),
    (_set("k25abs_hba1c_12m_all", outcome="hba1c_pct"),
     r'line 2 \(id = "k25abs_hba1c_12m_all"\): outcome = "hba1c_pct" must be one of hba1c, '
     r'.* \(did you mean "hba1c"\?\)'),
    (_set("k25seed_hba1c_3m_t1dm", population="T3DM"),
     r'population = "T3DM" must be one of all, T1DM, T2DM'),
    (_set("k25seed_fbg_3m_all", se_method="guess"),
     r'se_method = "guess" must be one of ci, p, bound, assumed'),
    (_set("k25seed_fbg_3m_all", md_status="made_up"),
     r'md_status = "made_up" must be one of reported, derived, assumed'),
    (_set("zhang25_hba1c_6m_t2dm", flag="REPORTED-OTHER"),
     r'flag = "REPORTED-OTHER" must be one of'),
    (_set("k25abs_hba1c_12m_all", p_relation="<="),
     r'p_relation = "<=" must be one of =, <, sig, ns or empty'),
    (_set("k25seed_fbg_3m_all", se="0"), r'k25seed_fbg_3m_all"\): se = 0\.0 must be a number > 0'),
    (_set("k25seed_fbg_3m_all", se=""), r'k25seed_fbg_3m_all"\): se = "" must be a number > 0'),
    (_set("k25abs_fbg_12m_all", i2="100"), r'i2 = 100\.0 must be in \[0, 100\) percent'),
    (_set("k25abs_fbg_12m_all", i2="-1"), r'i2 = -1\.0 must be in \[0, 100\) percent'),
    (_set("k25seed_insulin_dose_12m_all", default="true"),
     r'group outcome = "insulin_dose", time_months = 12, population = "all" has 2 default rows'),
    (_set("k25abs_hba1c_12m_all", default="false"),
     r'group outcome = "hba1c", time_months = 12, population = "all" has 0 default rows'),
    (_set("zhang25_insulin_dose_12m_t2dm", default="true"),
     r'population = "T2DM" has 2 default rows \["k25seed_insulin_dose_12m_t2dm", '
     r'"zhang25_insulin_dose_12m_t2dm"\]; must have exactly 1'),
    (_set("k25seed_insulin_dose_12m_t2dm", default="false"),
     r'population = "T2DM" has 0 default rows \[\]; must have exactly 1 \(it holds the '
     r'Kashbour rows \["k25seed_insulin_dose_12m_t2dm"\]\)'),
    (_set("zang22_hba1c_12m_t2dm", default="true"),
     r'population = "T2DM" has 2 default rows \["zhang25_hba1c_12m_t2dm", '
     r'"zang22_hba1c_12m_t2dm"\]; must have at most 1'),
    (_set("nada25_hba1c_pooled_all", default="true"), r'default = true needs a time_months'),
    # the CSV cannot drift from its formulas
    (_set("k25abs_hba1c_12m_all", se="0.21"),
     r'k25abs_hba1c_12m_all"\): se = 0\.21 does not match \(ci_high - ci_low\) / 3\.92 = 0\.199'),
    (_set("k25abs_hba1c_12m_all", ci_low="-1.21"),
     r'se = 0\.199 does not match \(ci_high - ci_low\) / 3\.92 = 0\.2245'),
    (_set("k25seed_insulin_dose_6m_t1dm", md="-12.0"),
     r'se = 4\.659 does not match \|md\| / z\(1 - p_value/2\) = 5\.53'),
    (_set("k25seed_insulin_dose_6m_t1dm", p_value="0.02"),
     r'se = 4\.659 does not match \|md\| / z\(1 - p_value/2\)'),
    (_set("k25seed_insulin_dose_6m_all", se="7.0"),
     r'se = 7\.0 does not match \|md\| / z\(1 - 0\.05/2\) = 7\.464'),
    (_set("k25seed_hba1c_3m_t1dm", md="-0.60"),
     r'md = -0\.6 does not match ±z\(1 - p_value/2\) \* se = ±0\.5073 \(md_status = "derived"'),
    (_set("k25seed_fbg_3m_all", md="-30.0"),
     r'\|md\| / se = 3\.33 must be <= 1\.96 to agree with p_relation = "ns"'),
    (_set("k25seed_hba1c_3m_all", md="-0.20"),
     r'\|md\| / se = 1\.05 must be >= 1\.96 to agree with P < 0\.05'),
    (_set("k25seed_stimulated_cpeptide_3m_all", se_method="assumed", se="0.25"),
     r'\|md\| / se = 1\.6 must equal z\(1 - p_value/2\) = 2\.326 for p_value = 0\.02'),
    (_set("k25seed_fbg_3m_all", note=""),
     r'note = "" must give the reasoning for the assumed numbers'),
    (_set("k25seed_fbg_3m_all", flag="REPORTED-SEED"), r'flag = "REPORTED-SEED" must be ASSUMED'),
    (_set("k25abs_ppbg_12m_all", unit="mmol/L"),
     r'unit = "mmol/L" must be "mg/dL" for outcome ppbg'),
    (_set("k25abs_ppbg_12m_all", time_months="9"),
     r'time_months = 9 must be one of 3, 6, 12 or empty'),
    (_set("k25abs_ppbg_12m_all", md="about -11"),
     r'md = "about -11" must be a finite number or empty'),
    (_set("k25abs_ppbg_12m_all", default="yes"), r'default = "yes" must be true or false'),
    (_set("k25abs_ppbg_12m_all", k="3.5"), r'k = "3\.5" must be an integer or empty'),
    (_set("k25abs_ppbg_12m_all", ci_high=""),
     r'ci_low = -16\.46, ci_high = "" must be both set or both empty'),
    (_set("k25abs_ppbg_12m_all", md="-20"), r'md = -20\.0 must lie in \[ci_low, ci_high\]'),
    (_set("k25seed_ppbg_6m_all", p_value="0.01"),
     r'p_value = 0\.01 must be empty unless p_relation is = or <'),
    (_set("k25abs_hba1c_12m_all", id="K25 abs"), r'id must be snake_case'),
]


@pytest.mark.parametrize(("mutate", "match"), CORRUPTIONS, ids=[m.__name__ for m, _ in CORRUPTIONS])
def test_loader_refuses_corrupted_copy(tmp_path, mutate, match):
    path = _write(tmp_path, mutate(_shipped_rows()))
    with pytest.raises(EvidenceError, match=match) as info:
        ev.load_evidence(path)
    assert str(info.value).startswith("evidence error: ")
    assert "\n" not in str(info.value)


def test_loader_refuses_reordered_columns(tmp_path):
    columns = list(ev.COLUMNS)
    columns[0], columns[1] = columns[1], columns[0]
    path = _write(tmp_path, _shipped_rows(), columns=columns)
    match = r'evidence\.csv columns = \["source", "id", .*\] must be exactly id, source,'
    with pytest.raises(EvidenceError, match=match):
        ev.load_evidence(path)


def test_loader_refuses_missing_file(tmp_path):
    with pytest.raises(EvidenceError, match=r'evidence file = ".*nope\.csv" cannot be read'):
        ev.load_evidence(tmp_path / "nope.csv")


def test_unmodified_copy_loads_identically(tmp_path):
    path = tmp_path / "copy.csv"
    path.write_bytes(ev.EVIDENCE_FILE.read_bytes())
    pd.testing.assert_frame_equal(ev.load_evidence(path), ev.load_evidence())


def test_rounding_within_tolerance_is_accepted(tmp_path):
    # stored SEs are rounded to 4 significant digits; 0.1% off must still load
    path = _write(tmp_path, _set("k25abs_hba1c_12m_all", se="0.1992")(_shipped_rows()))
    assert ev.load_evidence(path).set_index("id").loc["k25abs_hba1c_12m_all", "se"] == 0.1992


def test_counts_by_flag():
    assert Counter(ev.load_evidence()["flag"]) == {
        "REPORTED-PRIMARY": 5, "REPORTED-SEED": 19, "ASSUMED": 32, "REPORTED": 13}
