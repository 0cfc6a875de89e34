"""Evidence-table fixes of issue 11, item 5 (shared/evidence/REVIEW.md M1-M5, O1, the k fallback).

Sensitivity rows are never default; the T2DM HbA1c cells default to the reported Zhang 2025
rows; cells without a default are refused with the rows to choose from; Nada 2025 (seed 003),
Zang 2022 and the safety counts ship; subgroup rows are coherent with their overall row; the k of
a predictive distribution never exceeds the seed's k. scipy is the independent oracle for the
normal quantiles and the exact binomial bound.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import beta, norm

import simtrial
from simtrial.errors import EvidenceError
from simtrial.model import evidence as ev
from simtrial.model.effects import KASHBOUR_TRIALS, SEED_K, k_cap

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"

EXHU = {  # new id: (md, the seed's ex-Hu P)
    "k25seed_hba1c_12m_t2dm_exhu": (-0.1754, 0.50),
    "k25seed_hba1c_6m_t2dm_exhu": (-0.124, 0.62),
    "k25seed_fbg_6m_t2dm_exhu": (-13.11, 0.19),
    "k25seed_fasting_cpeptide_6m_t2dm_exhu": (0.138, 0.25),
}
CELLS = [(o, t, p) for o in ev.ENGINE_OUTCOMES for t in ev.TIME_POINTS for p in ev.POPULATIONS]


def _rows() -> dict[str, ev.EvidenceRow]:
    return {rid: ev.row_by_id(rid) for rid in ev.load_evidence()["id"]}


def _default_or_none(outcome, time, population):
    try:
        return ev.select_row(outcome, time, population)
    except EvidenceError:
        return None


# --------------------------------------------------------------------------------------------
# Sensitivity analyses (REVIEW M4)
# --------------------------------------------------------------------------------------------

def test_default_row_of_every_cell_is_never_a_sensitivity_analysis():
    defaults = [r for c in CELLS if (r := _default_or_none(*c)) is not None]
    assert len(defaults) > 40                      # the loop really visits the table
    assert [r.id for r in defaults if r.analysis == "sensitivity"] == []
    for outcome in ev.ENGINE_OUTCOMES:
        for population in ev.POPULATIONS:
            try:
                profile = ev.rows_for(outcome, population)
            except EvidenceError:
                continue
            assert all(r.analysis != "sensitivity" for r in profile.values())


def test_ex_hu_rows_are_sensitivity_rows_with_their_seed_numbers():
    for rid, (md, p) in EXHU.items():
        row = ev.row_by_id(rid)
        assert (row.analysis, row.default, row.population, row.md, row.p_value) == (
            "sensitivity", False, "T2DM", md, p), rid
        assert "excluding Hu" in row.source_detail and "SENSITIVITY" in row.note
    sens = set(ev.load_evidence().query("analysis == 'sensitivity'")["id"])
    assert sens == set(EXHU) | {"k25seed_fbg_12m_t2dm_exbhansali"}


@pytest.mark.parametrize("old", sorted(ev.RENAMED_IDS))
def test_old_ex_hu_ids_name_their_new_id(old):
    new = ev.RENAMED_IDS[old]
    outcome = ev.row_by_id(new).outcome
    with pytest.raises(EvidenceError, match=re.escape(
            f'effect.row = "{old}" was renamed "{new}": it is the T2DM subgroup excluding Hu, a '
            f'sensitivity analysis')) as info:
        ev.select_row(outcome, ev.row_by_id(new).time_months, "T2DM", row_id=old)
    assert "\n" not in str(info.value)
    # the renamed row is still selectable by its new id
    assert ev.select_row(outcome, ev.row_by_id(new).time_months, "T2DM", row_id=new).id == new


@pytest.mark.parametrize(("time", "md", "exhu"), [(12, -0.75, "k25seed_hba1c_12m_t2dm_exhu"),
                                                  (6, -0.62, "k25seed_hba1c_6m_t2dm_exhu")])
def test_t2dm_hba1c_defaults_to_the_reported_zhang_row(time, md, exhu):
    row = ev.select_row("hba1c", time, "T2DM")
    assert (row.id, row.md, row.flag, row.analysis) == (
        f"zhang25_hba1c_{time}m_t2dm", md, "REPORTED", "primary")
    assert exhu in row.note                       # the sceptical alternative is named
    assert ev.rows_for("hba1c", "T2DM")[time].id == row.id


@pytest.mark.parametrize(("outcome", "exhu"), [("fbg", "k25seed_fbg_6m_t2dm_exhu"), (
    "fasting_cpeptide", "k25seed_fasting_cpeptide_6m_t2dm_exhu")])
def test_cell_without_default_is_refused_with_the_rows_to_choose_from(outcome, exhu):
    msg = (f'evidence error: no default evidence row for outcome = "{outcome}", visit_months = 6, '
           f'population = "T2DM" (only non-default rows: "{exhu}" (sensitivity)); set effect.row '
           f"to one of them or pick another effect.population; available for {outcome}: "
           "3 mo (all), 6 mo (all, T1DM), 12 mo (all, T1DM, T2DM)")
    with pytest.raises(EvidenceError, match=f"^{re.escape(msg)}$"):
        ev.select_row(outcome, 6, "T2DM")
    assert 6 not in ev.rows_for(outcome, "T2DM")
    assert ev.select_row(outcome, 6, "T2DM", row_id=exhu).id == exhu


# --------------------------------------------------------------------------------------------
# Loader: tampered copies
# --------------------------------------------------------------------------------------------

def _shipped(path=ev.EVIDENCE_FILE) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"))))


def _write(tmp_path, rows, columns=ev.COLUMNS, name="evidence.csv") -> Path:
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _tampered(tmp_path, changes: dict[str, dict[str, str]], loader=ev.load_evidence,
              source=ev.EVIDENCE_FILE, columns=ev.COLUMNS):
    rows = _shipped(source)
    for row in rows:
        row.update(changes.get(row["id"], {}))
    return loader(_write(tmp_path, rows, columns, Path(str(source)).name))


def _refused(tmp_path, changes, match, **kw):
    with pytest.raises(EvidenceError, match=match) as info:
        _tampered(tmp_path, changes, **kw)
    assert str(info.value).startswith("evidence error: ") and "\n" not in str(info.value)


def test_untampered_copy_loads(tmp_path):
    assert len(_tampered(tmp_path, {})) == len(ev.load_evidence())
    assert len(_tampered(tmp_path, {}, loader=ev.load_safety, source=ev.SAFETY_FILE,
                         columns=ev.SAFETY_COLUMNS)) == len(ev.load_safety())


@pytest.mark.parametrize("rid", ["k25seed_hba1c_12m_t2dm_exhu", "k25seed_fbg_12m_t2dm_exbhansali"])
def test_loader_rejects_a_sensitivity_row_marked_default(tmp_path, rid):
    _refused(tmp_path, {rid: {"default": "true"}},
             rf'^evidence error: evidence\.csv line \d+ \(id = "{rid}"\): default = true but '
             r'analysis = "sensitivity"; a default row must be primary or subgroup')


def test_loader_rejects_the_old_incoherent_t2dm_cpeptide(tmp_path):
    # the shipped value before REVIEW M5: +0.10, below both the pooled +0.24 and T1DM +0.12
    _refused(tmp_path, {"k25seed_fasting_cpeptide_12m_t2dm": {"md": "0.10", "se": "0.15"}},
             r'id = "k25abs_fasting_cpeptide_12m_all"\): md = 0\.24 must lie between its '
             r'subgroups "k25seed_fasting_cpeptide_12m_t2dm" \(0\.1\) and '
             r'"k25seed_fasting_cpeptide_12m_t1dm" \(0\.12\) within 0\.25 se = 0\.0242')


def test_loader_rejects_a_pooled_insulin_outside_its_subgroups(tmp_path):
    se = 10.0 / norm.isf(0.0001)                   # keeps the P = 0.0002 row self-consistent
    _refused(tmp_path, {"k25seed_insulin_dose_12m_t2dm": {"md": "-10.0", "se": f"{se:.4g}"}},
             r'id = "k25abs_insulin_dose_12m_all"\): md = -14\.5 must lie between its subgroups')


def test_loader_rejects_a_subgroup_row_marked_primary(tmp_path):
    _refused(tmp_path, {"k25seed_hba1c_12m_t1dm": {"analysis": "primary"}},
             r'id = "k25seed_hba1c_12m_t1dm"\): analysis = "primary" must be "subgroup" for a '
             r'T1DM row of a study whose all-diabetes row "k25abs_hba1c_12m_all"')


def test_loader_rejects_an_all_diabetes_subgroup(tmp_path):
    _refused(tmp_path, {"k25abs_hba1c_12m_all": {"analysis": "subgroup"}},
             r'analysis = "subgroup" needs population T1DM or T2DM \(got "all"\)')


@pytest.mark.parametrize(("rid", "k", "match"), [
    ("k25seed_hba1c_12m_t1dm", "12", r'k = 12 must be <= 11, the k of the overall row'),
    ("k25abs_hba1c_12m_all", "12", r'k = 12 must be <= 11 \(seed k = 11 for hba1c at 12 months'),
    ("k25seed_ppbg_3m_t2dm", "4", r'k = 4 must be <= 3 \(seed k = 3 for ppbg at 3 months'),
])
def test_loader_rejects_k_above_the_seed_or_overall_k(tmp_path, rid, k, match):
    _refused(tmp_path, {rid: {"k": k}}, match)


def test_loader_rejects_a_default_that_is_not_reported_or_not_simulated(tmp_path):
    _refused(tmp_path, {"zhang25_hba1c_12m_t2dm": {"default": "false"},
                        "zang22_insulin_dose_pct_12m_t2dm": {"default": "true"}},
             r'default = true but outcome = "insulin_dose_pct" is not simulated')
    _refused(tmp_path, {"zhang25_insulin_dose_3m_t2dm": {"default": "true", "se_method": "assumed",
                                                          "flag": "ASSUMED", "note": "x"}},
             r'default = true but flag = "ASSUMED"; a default row from another source than '
             r'Kashbour 2025 must be REPORTED')


# --------------------------------------------------------------------------------------------
# Subgroup-overall coherence of the shipped table (re-implemented here)
# --------------------------------------------------------------------------------------------

def test_shipped_overall_rows_lie_between_their_subgroups():
    rows = [r for r in _rows().values() if r.source.startswith("Kashbour")
            and r.analysis != "sensitivity"]
    checked = 0
    for o in (r for r in rows if r.population == "all"):
        subs = [r.md for r in rows if (r.outcome, r.time_months) == (o.outcome, o.time_months)
                and r.population != "all"]
        pops = {r.population for r in rows if (r.outcome, r.time_months) == (
            o.outcome, o.time_months) and r.population != "all"}
        if pops == {"T1DM", "T2DM"}:
            assert min(subs) - 0.25 * o.se <= o.md <= max(subs) + 0.25 * o.se, o.id
            checked += 1
    assert checked >= 9


def test_t2dm_cpeptide_12m_is_coherent_and_still_not_significant():
    row = ev.row_by_id("k25seed_fasting_cpeptide_12m_t2dm")
    assert row.md >= 0.24 and row.default and row.flag == "ASSUMED"
    assert abs(row.md) / row.se <= norm.isf(0.025)            # the seed's "no difference"
    assert "显著升高" in row.note and "無差異" in row.note     # the seed conflict is recorded


# --------------------------------------------------------------------------------------------
# k of the predictive distribution
# --------------------------------------------------------------------------------------------

def _seed_k(outcome, time):
    t = min(ev.TIME_POINTS, key=lambda m: (abs(m - time), -m))
    return SEED_K[(outcome, t)][0]


def test_seed_k_table_covers_every_simulated_cell_and_cites_its_source():
    assert set(SEED_K) == {(o, t) for o in ev.ENGINE_OUTCOMES for t in ev.TIME_POINTS}
    # the numbers seed 000 states (REVIEW section 2)
    stated = {("ppbg", 6): 3, ("ppbg", 12): 3, ("stimulated_cpeptide", 3): 2,
              ("stimulated_cpeptide", 12): 3, ("homa_b", 12): 3, ("homa_ir", 12): 4,
              ("insulin_dose", 6): 6, ("insulin_dose", 12): 7, ("fbg", 6): 7, ("fbg", 12): 9,
              ("hba1c", 6): 9, ("hba1c", 12): 11, ("fasting_cpeptide", 6): 8,
              ("fasting_cpeptide", 12): 10}
    for cell, k in stated.items():
        assert SEED_K[cell][0] == k and SEED_K[cell][1].startswith("REPORTED-SEED"), cell
    for cell in set(SEED_K) - set(stated):
        assert SEED_K[cell][1].startswith("ASSUMED"), cell


def test_k_used_never_exceeds_the_seed_k_for_any_row_or_cell():
    """Every row as the endpoint row (untimed rows at each visit) and every cell without a row."""
    cases = []
    for row in _rows().values():
        outcome = ev.CONVERSIONS.get(row.outcome, (row.outcome,))[0]
        for t in ([row.time_months] if row.time_months else ev.TIME_POINTS):
            cases.append((row, row.population, outcome, t))
    cases += [(None, p, o, t) for o, t, p in CELLS]
    assert len(cases) > 150
    for row, pop, outcome, t in cases:
        k, src = ev.k_for(row, pop, outcome, t, tau2_given=True)
        label = (row.id if row else None, outcome, t)
        assert 1 <= k <= _seed_k(outcome, t), label
        if pop != "all":
            assert k <= KASHBOUR_TRIALS[pop], label
            # a subgroup's k never exceeds the k of its overall cell
            assert k <= ev.k_for(None, "all", outcome, t, tau2_given=True)[0], label
        if row is not None and row.k is not None:
            assert k <= row.k, label
        assert src


@pytest.mark.parametrize(("args", "k", "src"), [
    (("k25seed_hba1c_12m_t1dm", "T1DM", "hba1c", 12), 7, "ASSUMED 7: the row gives no k"),
    (("k25abs_hba1c_12m_all", "all", "hba1c", 12), 11, "evidence row (k = 11)"),
    (("k25abs_ppbg_12m_all", "all", "ppbg", 12), 3, "ASSUMED 3: the row gives no k"),
    (("zhang25_hba1c_12m_t2dm", "T2DM", "hba1c", 12), 7, "at most 7 T2DM trials"),
    ((None, "T2DM", "insulin_dose", 12), 6, "ASSUMED 6: no evidence row"),
    ((None, "all", "hba1c", 9), 11, "seed k = 11 for hba1c at 12 months"),
])
def test_k_for_hand_values(args, k, src):
    got, where = ev.k_for(*args)
    assert got == k and src in where


def test_k_for_refuses_a_t_predictive_with_k_below_3():
    # T2DM 12-month PPBG: 3 studies in all, the T1DM subgroup holds one, so k <= 2 (REVIEW 2)
    with pytest.raises(EvidenceError, match=re.escape(
            'evidence error: effect.predictive_dist = "t" needs k >= 3 studies (df = k - 2), but '
            'k = 2 for ppbg at 12 months, population T2DM')) as info:
        ev.k_for("k25seed_ppbg_12m_t2dm", "T2DM", "ppbg", 12, predictive_dist="t")
    assert "\n" not in str(info.value)
    with pytest.raises(EvidenceError, match=r'"t" needs k >= 3 studies .* but k = 2 '):
        ev.k_for("k25seed_ppbg_12m_t2dm", "T2DM", "ppbg", 12, predictive_dist="t", scenario_k=2)


def test_k_for_normal_predictive_with_k_below_3_needs_an_explicit_assumption():
    with pytest.raises(EvidenceError, match=r"^evidence error: k = 1 < 3 studies for hba1c at 12 "
                                            r"months, population T2DM .*set effect\.k or "
                                            r"effect\.tau2 explicitly"):
        ev.k_for("zang22_hba1c_12m_t2dm", "T2DM", "hba1c", 12)
    k, src = ev.k_for("zang22_hba1c_12m_t2dm", "T2DM", "hba1c", 12, scenario_k=2)
    assert k == 2 and "WARNING: k < 3" in src
    assert ev.k_for("zang22_hba1c_12m_t2dm", "T2DM", "hba1c", 12, tau2_given=True)[0] == 1


def test_scenario_k_is_used_as_given_and_flagged_above_the_cap():
    k, src = ev.k_for("k25abs_ppbg_12m_all", "all", "ppbg", 12, scenario_k=10)
    assert k == 10 and "above the cap 3" in src


@pytest.mark.parametrize(("changes", "k"), [
    ({"population.preset": "t2d", "endpoint.outcome": "insulin_dose", "effect.population": "T2DM",
      "effect.i2": 30.0}, 6),                      # min(7 - 1, 7): the T1DM subgroup holds one
    ({"effect.population": "T1DM"}, 7),            # HbA1c 12 months: min(11 - 1, 7)
])
def test_engine_predictive_uses_the_capped_k(changes, k):
    from .helpers import model
    m = model(**{"effect.source": "evidence", "effect.md": None,
                 "effect.distribution": "predictive", **changes})
    prov = m.distribution.provenance["k"]
    assert prov.startswith(f"ASSUMED {k}: the row gives no k")


def test_k_cap_subgroup_rule():
    assert k_cap("ppbg", 12, "T2DM", other_subgroup=True)[0] == 2
    assert k_cap("ppbg", 12, "T2DM", other_subgroup=False)[0] == 3
    assert k_cap("hba1c", 12, "T1DM", other_subgroup=True)[0] == 7
    with pytest.raises(EvidenceError, match='outcome = "sae" has no seed k'):
        k_cap("sae", 12, "all")


# --------------------------------------------------------------------------------------------
# Nada 2025 (seed 003) and Zang 2022
# --------------------------------------------------------------------------------------------

def test_nada_seed_numbers_ship_as_t2dm_rows_never_default():
    rows = _rows()
    hba1c = rows["nada25seed_hba1c_pooled_t2dm"]
    assert (hba1c.md, hba1c.population, hba1c.flag, hba1c.ci_low, hba1c.i2, hba1c.default) == (
        -0.97, "T2DM", "REPORTED-SEED", None, 0.0, False)
    assert hba1c.se == pytest.approx(0.97 / norm.isf(0.025), rel=5e-4)   # "significant" bound
    cpep = rows["nada25seed_fasting_cpeptide_pooled_t2dm"]
    assert (cpep.md, cpep.p_relation, cpep.flag) == (0.0, "ns", "ASSUMED")
    assert "CONFLICT" in cpep.note and "nada25_fasting_cpeptide_pooled_all" in cpep.note
    assert "CONFLICT" in rows["nada25_fasting_cpeptide_pooled_all"].note
    ins = rows["nada25seed_insulin_per_kg_pooled_t2dm"]
    assert (ins.md, ins.unit, ins.outcome) == (-0.17, "IU/kg/day", "insulin_per_kg")
    assert "CONFLICT" in ins.note and "nada25_insulin_per_kg_pooled_t1dm" in ins.note
    t1d = rows["nada25_insulin_per_kg_pooled_t1dm"]
    assert (t1d.md, t1d.ci_low, t1d.ci_high) == (-0.24, -0.29, -0.18)
    assert not any(r.default for r in rows.values() if r.source.startswith("Nada"))


def test_zang_rows_ship_with_their_values():
    hba1c = ev.row_by_id("zang22_hba1c_12m_t2dm")
    assert (hba1c.md, hba1c.p_value, hba1c.k, hba1c.n, hba1c.default) == (
        -0.68, 0.0081, 1, 91, False)
    assert hba1c.md == pytest.approx(-1.31 - (-0.63))
    assert hba1c.se == pytest.approx(0.68 / norm.isf(0.0081 / 2), rel=5e-4)
    assert hba1c.se == pytest.approx(0.257, abs=5e-4)                  # REVIEW section 6
    assert "20% vs 4.55%" in hba1c.note and "insulin-free" in hba1c.note
    ins = ev.row_by_id("zang22_insulin_dose_pct_12m_t2dm")
    assert (ins.md, ins.unit, ins.flag, ins.default) == (-12.16, "% of baseline", "ASSUMED", False)
    assert ins.md == pytest.approx(-(27.78 - 15.62))
    assert ins.se == pytest.approx(25 * math.sqrt(1 / 45 + 1 / 46), rel=5e-4)


def test_other_unit_rows_are_refused_unless_converted():
    rid = "zang22_insulin_dose_pct_12m_t2dm"
    with pytest.raises(EvidenceError, match=re.escape(
            f'effect.row = "{rid}" is in % of baseline, not IU/day, and the engine does not '
            "convert it: set effect.md = md x the mean baseline insulin_dose x 0.01")):
        ev.select_row("insulin_dose", 12, "T2DM", row_id=rid)
    row = ev.select_row("insulin_dose", 12, "T2DM", row_id=rid,
                        baseline_means={"insulin_dose": 38.6})
    assert (row.outcome, row.unit) == ("insulin_dose", "IU/day")
    assert row.md == pytest.approx(-12.16 * 0.386) and row.se == pytest.approx(5.242 * 0.386)
    assert "CONVERTED from % of baseline" in row.note
    per_kg = ev.convert_row(ev.row_by_id("nada25_insulin_per_kg_pooled_t1dm"), {"weight": 60.0})
    assert (per_kg.md, per_kg.ci_low, per_kg.ci_high) == pytest.approx((-14.4, -17.4, -10.8))
    with pytest.raises(EvidenceError, match=r'baseline_means\["weight"\] = "" must be a number'):
        ev.convert_row(ev.row_by_id("nada25_insulin_per_kg_pooled_t1dm"), {})
    # a simulated outcome's row is returned unchanged
    hba1c = ev.row_by_id("zang22_hba1c_12m_t2dm")
    assert ev.convert_row(hba1c, {}) is hba1c


# --------------------------------------------------------------------------------------------
# Safety counts (REVIEW O1)
# --------------------------------------------------------------------------------------------

SAFETY = {  # id: (event, events_msc, n_msc, events_control, n_control)
    "k25seed_sae_all": ("sae", 0, 279, 0, 228),
    "k25seed_death_all": ("death", 0, 279, 0, 228),
    "hu13_dka_t1dm": ("dka", 0, 15, 3, 14),
    "hu13_adverse_reaction_t1dm": ("adverse_reaction", 0, 15, 0, 14),
    "cai16_adverse_reaction_t1dm": ("adverse_reaction", 0, 21, None, None),
    "aringazina25_adverse_reaction_t2dm": ("adverse_reaction", None, None, None, None),
    "matsuoka25_sae_t2dm": ("sae", 0, 61, None, None),
    "huang25_sae_t2dm": ("sae", 0, 1, None, None),
}


def test_safety_rows_load_with_their_counts():
    table = ev.load_safety().set_index("id")
    assert tuple(table.reset_index().columns) == ev.SAFETY_COLUMNS
    assert set(table.index) == set(SAFETY)
    for rid, want in SAFETY.items():
        r = table.loc[rid]
        got = (r["event"],) + tuple(None if pd.isna(r[c]) else int(r[c]) for c in (
            "events_msc", "n_msc", "events_control", "n_control"))
        assert got == want, rid
        assert r["flag"] in ev.SAFETY_FLAGS and r["note"].strip(), rid
    assert "不良反应大多为短期轻微反应" in table.loc["aringazina25_adverse_reaction_t2dm", "note"]
    assert "rule of three" in table.loc["k25seed_sae_all", "note"]


def test_safety_rows_can_never_be_efficacy_rows():
    safety_ids = set(ev.load_safety()["id"])
    assert safety_ids.isdisjoint(ev.load_evidence()["id"])
    assert set(ev.SAFETY_EVENTS).isdisjoint(ev.OUTCOMES)
    for rid in safety_ids:
        with pytest.raises(EvidenceError, match="is not an evidence row id"):
            ev.select_row("hba1c", 12, "all", row_id=rid)


def test_events_upper_bound_against_scipy_and_the_rule_of_three():
    assert ev.events_upper_bound(0, 279) == pytest.approx(1 - 0.05 ** (1 / 279), rel=1e-9)
    assert ev.events_upper_bound(0, 279) == pytest.approx(3 / 279, rel=0.01)
    assert ev.events_upper_bound(3, 14) == pytest.approx(beta.ppf(0.95, 4, 11), rel=1e-12)
    assert ev.events_upper_bound(0, 279, 0.975) > ev.events_upper_bound(0, 279)
    assert ev.events_upper_bound(5, 5) == 1.0
    for bad in ((4, 3), (-1, 10), (0, 0), (0.5, 10)):
        with pytest.raises(EvidenceError, match="must be integers with 0 <= events <= n"):
            ev.events_upper_bound(*bad)


@pytest.mark.parametrize(("rid", "changes", "match"), [
    ("hu13_dka_t1dm", {"events_control": "15"}, r"events_control = 15 must be <= n_control = 14"),
    ("matsuoka25_sae_t2dm", {"events_control": "0", "n_control": "20"},
     r'n_control = 20 must be empty for design = "uncontrolled"'),
    ("hu13_dka_t1dm", {"event": "ketoacidosis"}, r'event = "ketoacidosis" must be one of'),
    ("hu13_dka_t1dm", {"n_msc": ""}, r'events_msc = 0, n_msc = "" must be both set or both empty'),
    ("hu13_dka_t1dm", {"id": "k25abs_hba1c_12m_all"},
     r'id = "k25abs_hba1c_12m_all" is an evidence \(efficacy\) row id'),
    ("hu13_dka_t1dm", {"events_msc": "-1"}, r"events_msc = \"-1\" must be an integer >= 0"),
    ("aringazina25_adverse_reaction_t2dm", {"note": ""}, r'note = "" must say what the source'),
])
def test_safety_loader_rejects_tampered_rows(tmp_path, rid, changes, match):
    _refused(tmp_path, {rid: changes}, match, loader=ev.load_safety, source=ev.SAFETY_FILE,
             columns=ev.SAFETY_COLUMNS)


# --------------------------------------------------------------------------------------------
# Every shipped scenario still loads and builds
# --------------------------------------------------------------------------------------------

def _scenarios(path: Path):
    from simtrial.sweep import load_points
    if "[sweep" in path.read_text(encoding="utf-8"):
        return [p.scenario for p in load_points(path)]
    return [simtrial.load_scenario(path)]


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.toml"))
                         + sorted((SCENARIO_DIR / "calibration").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_shipped_scenario_loads_and_builds(path):
    scenarios = _scenarios(path)
    assert scenarios
    for sc in scenarios:
        design = simtrial.build_design(sc)
        for m in design.models:
            row = m.evidence_row
            assert row is None or row["analysis"] != "sensitivity" or sc.effect.row == row["id"]
