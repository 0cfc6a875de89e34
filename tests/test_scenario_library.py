"""The scenario library (scenarios/*.toml and scenarios/README.md).

Checks that every shipped scenario validates (as `simtrial validate` does: the model, or the
design for scenarios with arms, strata, endpoints, dropout or looks; every design point of a sweep
file), that scenarios/README.md lists exactly the files that exist, that every file states its
question, and that the library covers every (diabetes type, outcome, month) cell for which the
evidence table has a population-specific row, with the cells it does not cover listed in the
README. The expected cells are derived from the evidence table, not written down here, so a new
T1DM/T2DM row makes this test ask for a new scenario. A few library scenarios are also run with
few trials, against the closed form.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from simtrial.model.evidence import load_evidence
from simtrial.model.stratum import build_model
from simtrial.oc.run import power, run
from simtrial.scenario import load_scenario

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
README = SCENARIO_DIR / "README.md"
LIBRARY = sorted(SCENARIO_DIR.glob("*.toml"))

#: library file-name short names of the evidence outcomes that get a scenario per cell
SHORT = {"hba1c": "hba1c", "insulin_dose": "insulin", "fasting_cpeptide": "cpeptide",
         "fbg": "fbg", "ppbg": "ppbg"}
TYPES = {"T1DM": "t1d", "T2DM": "t2d"}
MONTHS = (3, 6, 12)
CELL_FILE = re.compile(r"^(t1d|t2d)_(hba1c|insulin|cpeptide|fbg|ppbg)_(3|6|12)m\.toml$")


def _scenarios(path: Path) -> list:
    """The scenario(s) of a file to build: one, or design points of a sweep file.

    Every point of a sweep is parsed and validated by ``load_points``; building a model takes
    ~0.5 s, so only points that bring a swept (key, value) not yet built are built (each value of
    each swept key is built at least once).
    """
    try:
        from simtrial.sweep import load_points
    except ImportError:          # a tree without sweeps: every file is a single scenario
        return [load_scenario(path)]
    seen: set = set()
    out = []
    for p in load_points(path):
        new = {(k, repr(v)) for k, v in p.values} - seen
        if new or not out:
            out.append(p.scenario)
            seen |= new
    return out


def _build(sc):
    """What `simtrial validate` builds: the resolved design."""
    from simtrial.model.design import build_design
    return build_design(sc)


@functools.lru_cache(maxsize=None)
def _built(path: Path) -> tuple:
    """(scenario, built model or design) for each scenario of a file to build; cached because a
    build takes ~0.5-1 s and several tests need the same models."""
    return tuple((sc, _build(sc)) for sc in _scenarios(path))


def _model(path: Path):
    """The stratum model of a single-scenario file that a sums kernel (sufficient-statistics
    or prefix-sum) serves."""
    from simtrial.sim.driver import SUM_KERNELS, kernel_for
    (sc, dm), = _built(path)
    assert kernel_for(dm) in SUM_KERNELS
    return sc, dm.models[0]


def _header(path: Path) -> list[str]:
    """The leading comment block (lines before the first non-comment, non-blank line)."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        out.append(line)
    return out


def _section(title: str) -> list[str]:
    """Lines of the README section ``## <title>`` (up to the next ``## ``)."""
    lines = README.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"## {title}"]
    assert len(starts) == 1, f"README.md needs exactly one '## {title}' section"
    body = []
    for line in lines[starts[0] + 1:]:
        if line.startswith("## "):
            break
        body.append(line)
    return body


def _table_rows(title: str) -> list[list[str]]:
    """Cells of the data rows of the first markdown table in a README section."""
    rows = [line for line in _section(title) if line.lstrip().startswith("|")]
    assert len(rows) >= 3, f"README section {title!r} has no table"
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    assert set("".join(cells[1])) <= set("-: "), f"README {title!r}: second row is not |---|"
    return cells[2:]


def _evidence_cells() -> set[tuple[str, str, int]]:
    """(type, short outcome, month) with at least one T1DM/T2DM row at that month."""
    ev = load_evidence()
    ev = ev[ev["population"].isin(TYPES) & ev["outcome"].isin(SHORT) & ev["time_months"].notna()]
    return {(TYPES[r.population], SHORT[r.outcome], int(r.time_months))
            for r in ev.itertuples()}


ALL_CELLS = {(t, o, m) for t in TYPES.values() for o in SHORT.values() for m in MONTHS}


def test_library_is_not_empty():
    assert len(LIBRARY) >= 20
    assert README.is_file()


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_scenario_validates(path):
    built_all = _built(path)
    assert built_all
    for sc, dm in built_all:
        for m in dm.models:
            assert 0.0 <= m.screen_fail_prob < 1.0
        if sc.endpoint.type == "continuous":
            assert all(math.isfinite(h.truth) and h.truth != 0.0 for h in dm.hypotheses
                       if h.endpoint.type == "continuous" and not h.true_null)


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_header_states_the_question(path):
    header = _header(path)
    questions = [line for line in header if line.startswith("# Question:")]
    assert len(questions) == 1, f"{path.name}: the leading comment block needs one '# Question:'"
    assert len(questions[0].split(":", 1)[1].strip()) >= 20, f"{path.name}: empty question"


def test_readme_table_lists_exactly_the_scenario_files():
    rows = _table_rows("Scenarios")
    named = []
    for cells in rows:
        assert len(cells) == 6, f"README row {cells[0]!r} needs 6 columns, has {len(cells)}"
        assert all(cells), f"README row {cells[0]!r} has an empty cell"
        m = re.fullmatch(r"`([\w.-]+\.toml)`", cells[0])
        assert m, f"README row first cell {cells[0]!r} is not a `file.toml`"
        named.append(m.group(1))
    assert len(named) == len(set(named)), "a file is listed twice in the README table"
    on_disk = {p.name for p in LIBRARY}
    assert set(named) - on_disk == set(), "README names files that do not exist"
    assert on_disk - set(named) == set(), "scenario files missing from the README table"


def test_library_covers_every_cell_with_population_specific_evidence():
    expected = _evidence_cells()
    # the seed evidence has type-specific rows at each visit; an empty set would mean the table
    # (or this derivation) broke, not that there is nothing to cover
    assert {m for _, _, m in expected} == set(MONTHS)
    assert {t for t, _, _ in expected} == set(TYPES.values())
    missing = sorted(c for c in expected
                     if not (SCENARIO_DIR / f"{c[0]}_{c[1]}_{c[2]}m.toml").is_file())
    assert missing == [], f"cells with T1DM/T2DM evidence but no scenario: {missing}"
    pops = {v: k for k, v in TYPES.items()}
    for t, o, m in sorted(expected):
        row = _model(SCENARIO_DIR / f"{t}_{o}_{m}m.toml")[1].evidence_row
        assert row is not None, f"{t}_{o}_{m}m uses no evidence row"
        assert (row["population"], SHORT[row["outcome"]], row["time_months"]) == (pops[t], o, m), \
            f"{t}_{o}_{m}m uses row {row['id']}, not a {pops[t]} {o} {m}-month row"


@pytest.mark.parametrize("path", [p for p in LIBRARY if CELL_FILE.match(p.name)],
                         ids=lambda p: p.stem)
def test_cell_file_matches_its_name_and_names_its_row(path):
    t, o, m = CELL_FILE.match(path.name).groups()
    sc, model = _model(path)
    assert sc.population.preset == t
    assert SHORT[sc.endpoint.outcome] == o
    assert sc.endpoint.visit_months == int(m)
    assert sc.effect.source == "evidence"
    row = model.evidence_row
    assert row["id"] in "\n".join(_header(path) + path.read_text().splitlines()), \
        f"{path.name} does not name its evidence row {row['id']}"


def test_cells_without_evidence_are_listed_and_have_none():
    listed = set()
    for cells in _table_rows("Cells without evidence"):
        t, o, m = cells[0].lower(), cells[1], int(cells[2])
        listed.add((t, o, m))
    covered = {(t, o, int(m)) for p in LIBRARY if (g := CELL_FILE.match(p.name))
               for t, o, m in [g.groups()]}
    assert listed & _evidence_cells() == set(), "a 'no evidence' cell has a T1DM/T2DM row"
    assert listed & covered == set(), "a 'no evidence' cell has a scenario file"
    assert listed | covered == ALL_CELLS, \
        f"cells neither covered nor listed: {sorted(ALL_CELLS - listed - covered)}"


# ---------------------------------------------------------------------------------------------
# smoke runs of library scenarios (few trials; tolerances are Monte Carlo based)
# ---------------------------------------------------------------------------------------------

def _binom_band(p: float, n: int) -> float:
    return 4.0 * math.sqrt(max(p * (1.0 - p), 0.01) / n) + 0.01


@pytest.mark.parametrize("stem, n_per_arm", [("t2d_insulin_3m", 8), ("t1d_fbg_6m", 40)])
def test_power_matches_closed_form(stem, n_per_arm):
    res = power(_model(SCENARIO_DIR / f"{stem}.toml")[1], n_per_arm, n_trials=600, seed=7)
    assert res.n_trials == 600
    assert abs(res.power - res.analytic_power) < _binom_band(res.analytic_power, 600)
    # the estimate is unbiased for the evidence MD
    assert abs(res.mean_estimate - res.md) < 4.0 * res.sd_estimate / math.sqrt(600)
    assert 0.3 < res.power < 0.99      # informative: neither trivially 1 nor near alpha


def test_tiny_effect_scenario_runs_at_alpha_and_does_not_reach_the_cap():
    sc = load_scenario(SCENARIO_DIR / "t2d_fbg_12m.toml")
    res = run(sc.replace(**{"design.n_grid": None}), n_trials=400, seed=11)
    assert abs(res.point.power - 0.05) < _binom_band(0.05, 400)
    assert all(not s.reached and s.analytic_n_per_arm is None for s in res.sample_sizes)


def test_run_sample_size_close_to_closed_form():
    res = run(_model(SCENARIO_DIR / "t1d_hba1c_6m.toml")[1], n_trials=500, seed=3)
    frame = pd.DataFrame([{"target": s.target_power, "n": s.n_per_arm, "an": s.analytic_n_per_arm}
                          for s in res.sample_sizes])
    assert list(frame["target"]) == [0.8, 0.9]
    assert frame["n"].notna().all()
    # 500 trials: the simulated N wobbles around the closed form by a few patients
    assert ((frame["n"] - frame["an"]).abs() <= 0.25 * frame["an"] + 2).all()
    assert frame["n"].iloc[0] < frame["n"].iloc[1]
