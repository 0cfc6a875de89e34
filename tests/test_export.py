"""The patient-level export (simtrial.sim.export, ``simtrial simulate``).

Independent test: statsmodels OLS, fitted to one trial of the exported table (in memory and read
back from the CSV the CLI writes), gives the engine's own estimate for that trial to 1e-10, in
the first and second chunk, with dropout (complete-case ANCOVA), three arms and two strata. The
engine's per-arm counts of observed visits, responders and zero insulin doses agree with the
table. The CLI writes CSV and Parquet with trials x patients x (visits + 1) rows, refuses bad
input with one line and exit code 2 leaving no file, and is reproducible from the seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from simtrial import simulate
from simtrial._rng import CHUNK_TRIALS
from simtrial.errors import SimtrialError
from simtrial.model.design import build_design, group_sizes
from simtrial.scenario import load_scenario
from simtrial.sim.driver import kernel_for
from simtrial.sim.export import MAX_ROWS, export_patients, export_rows

from .helpers import scenario
from .test_cli import assert_one_line_error, run_cli

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def design(name: str):
    return build_design(load_scenario(SCENARIOS / f"{name}.toml"))


def engine_trials(dm, n_trials: int, *, kernel: str | None = None) -> dict[str, np.ndarray]:
    """Per-trial arrays of the engine at the design N (its public API), from a patient kernel:
    where the driver would choose the sufficient-statistics kernel, which draws each arm's sums
    rather than patients (other numbers, the same distribution), the prefix kernel, which
    analyses the exported patients."""
    n = dm.scenario.design.n_per_arm
    if kernel is None and kernel_for(dm) == "suffstat":
        kernel = "prefix"
    return simulate(dm, [n], n_trials=n_trials, keep=[n], kernel=kernel)[n].trials


def ols_estimates(table: pd.DataFrame, dm, trial: int) -> dict[str, float]:
    """statsmodels OLS of change at the endpoint on arm + baseline (+ stratum), patients observed
    at the endpoint month of one trial: the arm coefficients by arm name."""
    e = dm.scenario.endpoint
    one = table[table["trial"] == trial]
    base = one[one["month"] == 0].set_index("patient")
    end = one[(one["month"] == e.visit_months) & one["observed"]].set_index("patient")
    wide = pd.DataFrame({"arm": end["arm"].astype(str), "stratum": end["stratum"].astype(str),
                         "baseline": base.loc[end.index, e.outcome],
                         "change": end[e.outcome] - base.loc[end.index, e.outcome]})
    formula = "change ~ C(arm, Treatment(reference='control')) + baseline"
    if len(dm.strata) > 1:
        formula += " + C(stratum)"
    fit = smf.ols(formula, data=wide).fit()
    return {a.name: float(fit.params[f"C(arm, Treatment(reference='control'))[T.{a.name}]"])
            for a in dm.arms}


def assert_refit_matches(table, dm, est: np.ndarray, trial: int) -> None:
    """The re-fit of ``trial`` equals the engine's estimate of every arm, and not the one of
    the next trial (so the comparison can tell trials apart)."""
    refit = ols_estimates(table, dm, trial)
    for h in dm.hypotheses:
        arm = dm.arms[h.arm - 1].name
        assert refit[arm] == pytest.approx(est[trial, h.index], abs=1e-10), (arm, trial)
        assert abs(refit[arm] - est[trial + 1, h.index]) > 1e-6


# --------------------------------------------------------------------------------------------
# independent re-fit (statsmodels) = the engine's per-trial estimate
# --------------------------------------------------------------------------------------------

CASES = {
    # plain two-arm ANCOVA (the prefix kernel; suffstat by default), first and second chunk
    "t1d_hba1c_12m": (lambda: design("t1d_hba1c_12m"), [0, 7, CHUNK_TRIALS + 100]),
    # three arms, 10% MCAR dropout, complete-case ANCOVA, Dunnett (full kernel)
    "t1d_three_arm_dose_12m": (lambda: design("t1d_three_arm_dose_12m"),
                               [3, CHUNK_TRIALS + 3]),
    # two strata (stratum term in the model), unequal allocation, MAR dropout on HbA1c
    "stratified_mar": (lambda: build_design(scenario(**{
        "population.strata": {"t1d": 0.4, "t2d": 0.6}, "design.allocation_ratio": 2.0,
        "dropout": {"rate": 0.25, "mechanism": "mar", "strength": 1.0}})), [5, 1050]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_independent_ols_refit_gives_the_engines_estimate(name):
    make, trials = CASES[name]
    dm = make()
    R = max(trials) + 2
    table = export_patients(dm, R)
    est = engine_trials(dm, R)["point_est"]
    for trial in trials:
        assert_refit_matches(table, dm, est, trial)
    if dm.scenario.dropout is not None:    # complete case: some patients were dropped
        assert not table.loc[table["month"] == dm.scenario.endpoint.visit_months,
                             "observed"].all()


def test_refit_of_the_csv_the_cli_writes(tmp_path, capsys):
    dm = design("t1d_three_arm_dose_12m")
    out = tmp_path / "class.csv"
    rc, _, err = run_cli(capsys, "simulate", SCENARIOS / "t1d_three_arm_dose_12m.toml",
                         "--n-trials", 6, "--out", out)
    assert rc == 0, err
    est = engine_trials(dm, 6)["point_est"]
    table = pd.read_csv(out)
    for trial in (0, 4):
        assert_refit_matches(table, dm, est, trial)


# --------------------------------------------------------------------------------------------
# the state columns against the engine's own counts
# --------------------------------------------------------------------------------------------

def per_trial_counts(table, dm, column: str, month: int) -> np.ndarray:
    """(trials, arms + 1) number of rows at ``month`` where ``column`` is true."""
    rows = table[table["month"] == month]
    arms = ["control"] + [a.name for a in dm.arms]
    got = rows[column].fillna(False).astype(bool).groupby(
        [rows["trial"], rows["arm"]], observed=False).sum().unstack("arm")
    return got[arms].to_numpy()


@pytest.mark.parametrize("name", ["t1d_three_arm_dose_12m", "conduct_t1d_hba1c_12m"])
def test_observed_visits_match_the_engines_counts(name):
    """Dropout (and, with [conduct], calendar withdrawal) as the engine applies it: the engine's
    (trials, arms, visits) counts of observed visits."""
    dm = design(name)
    R = 4
    table = export_patients(dm, R)
    counts = engine_trials(dm, R, kernel="full")["observed"]        # (trials, arms + 1, V)
    for j, month in enumerate(dm.visits):
        np.testing.assert_array_equal(per_trial_counts(table, dm, "observed", month),
                                      counts[:, :, j])
    assert table.loc[table["month"] == 0, "observed"].all()
    values = table[dm.scenario.endpoint.outcome]
    assert values[~table["observed"]].isna().all() and values[table["observed"]].notna().all()


def test_responders_match_the_engines_counts():
    dm = build_design(scenario(**{"outcome_model.heterogeneity": "responders",
                                  "outcome_model.responder_fraction": 0.4}))
    table = export_patients(dm, 5)
    engine = engine_trials(dm, 5, kernel="full")["responders"]            # (trials,)
    base = table[table["month"] == 0]
    np.testing.assert_array_equal(base.groupby("trial")["responder"].sum().to_numpy(), engine)
    msc = base["arm"] != "control"
    assert base.loc[~msc, "responder"].isna().all() and base.loc[msc, "responder"].notna().all()
    mult = base.loc[msc, "effect_multiplier"]
    np.testing.assert_allclose(np.sort(mult.unique()), [0.0, 1 / 0.4])
    assert (base.loc[msc, "responder"].astype(bool) == (mult > 0)).all()


def test_no_responder_state_without_responder_heterogeneity():
    table = export_patients(design("t1d_hba1c_12m"), 1)
    assert table["responder"].isna().all()
    np.testing.assert_array_equal(table.loc[table["arm"] == "MSC", "effect_multiplier"], 1.0)
    assert table.loc[table["arm"] == "control", "effect_multiplier"].isna().all()
    assert table["insulin_free"].isna().all()           # insulin dose is not simulated


def test_insulin_free_matches_the_engines_zero_doses():
    """Insulin independence = a zero dose: the engine's (trials, arms) count of zero endpoint
    doses (no dropout, so every visit is observed)."""
    dm = design("t2d_insulin_12m")
    R = 30
    table = export_patients(dm, R)
    zeros = engine_trials(dm, R, kernel="full")["zeros"]
    end = dm.scenario.endpoint.visit_months
    np.testing.assert_array_equal(per_trial_counts(table, dm, "insulin_free", end), zeros)
    assert zeros.sum() > 0
    free = table["insulin_free"].astype(bool)
    assert (table.loc[free, "insulin_dose"] == 0).all()
    assert (table.loc[~free, "insulin_dose"] > 0).all()


# --------------------------------------------------------------------------------------------
# the table and the command line
# --------------------------------------------------------------------------------------------

def test_table_layout():
    dm = design("t1d_three_arm_dose_12m")
    table = export_patients(dm, 2, n=10)
    P = int(group_sizes(dm, 10).sum())
    assert len(table) == export_rows(dm, 2, 10) == 2 * P * (len(dm.visits) + 1)
    assert list(table.columns) == ["trial", "patient", "stratum", "arm", "month", "hba1c",
                                   "observed", "responder", "effect_multiplier", "insulin_free"]
    first = table.iloc[: len(dm.visits) + 1]
    assert first["month"].tolist() == [0, 3, 6, 12] and (first["patient"] == 0).all()
    assert table.groupby("arm", observed=True)["patient"].nunique().to_dict() == \
        {"control": 10, "low_dose": 10, "high_dose": 10}
    # a smaller trial is the first patients of each group of a larger one (common random numbers)
    big = export_patients(dm, 1, n=20)
    for arm in ("control", "high_dose"):
        a = table[(table["trial"] == 0) & (table["arm"] == arm)]["hba1c"].to_numpy()
        b = big[big["arm"] == arm]["hba1c"].to_numpy()[: a.size]
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_cli_writes_csv_and_parquet(tmp_path, capsys, ext):
    if ext == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"sub/patients{ext}"
    rc, stdout, err = run_cli(capsys, "simulate", SCENARIOS / "t1d_hba1c_12m.toml",
                              "--n-trials", 3, "--n", 12, "--seed", 7, "--out", out)
    assert rc == 0 and err == ""
    rows = 3 * (12 + 12) * 4                                     # trials x patients x months
    assert stdout == (f"wrote     {out}: {rows:,} rows = 3 trials x 24 patients x 4 months "
                      "(N = 12 per arm, seed 7)\n")
    table = (pd.read_csv(out, dtype={"responder": "boolean", "insulin_free": "boolean"})
             if ext == ".csv" else pd.read_parquet(out))
    assert len(table) == rows
    dm = design("t1d_hba1c_12m")
    expect = export_patients(dm, 3, n=12, seed=7)
    pd.testing.assert_frame_equal(table, expect, check_dtype=False, check_categorical=False)
    assert [p.name for p in out.parent.iterdir()] == [out.name]          # no temporary left


def test_cli_default_output_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, stdout, _ = run_cli(capsys, "simulate", SCENARIOS / "t1d_hba1c_12m.toml")
    out = Path("outputs") / "t1d_hba1c_12m" / "patients.csv"
    assert rc == 0 and stdout.startswith(f"wrote     {out}: 160 rows = 1 trial x 40 patients")
    assert len(pd.read_csv(out)) == 160


def test_same_seed_same_file_other_seed_other_file(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    files = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        for ext in (".csv", ".parquet"):
            out = tmp_path / f"{name}{ext}"
            rc, _, err = run_cli(capsys, "simulate", SCENARIOS / "t1d_three_arm_dose_12m.toml",
                                 "--n-trials", 2, "--seed", seed, "--out", out)
            assert rc == 0, err
            files[name, ext] = out.read_bytes()
    for ext in (".csv", ".parquet"):
        assert files["a", ext] == files["b", ext]
        assert files["a", ext] != files["c", ext]


BAD = {
    "extension": (["--out", "{tmp}/p.xlsx"], ["--out = ", "p.xlsx", "must end in .csv or .parquet"]),
    "no-extension": (["--out", "{tmp}/patients"], ["must end in .csv or .parquet"]),
    "zero-trials": (["--n-trials", "0", "--out", "{tmp}/p.csv"], ["--n-trials = 0 must be >= 1"]),
    "text-trials": (["--n-trials", "many", "--out", "{tmp}/p.csv"],
                    ["--n-trials = 'many' must be an integer >= 1"]),
    "too-many-rows": (["--n-trials", "40000", "--out", "{tmp}/p.csv"],
                      ["--n-trials = 40000 gives 6,400,000 rows (40,000 trials x 40 patients x 4 "
                       "months)", f"at most {MAX_ROWS:,} rows", "(e.g. --n-trials 31250)"]),
    "arm-of-one": (["--n", "1", "--out", "{tmp}/p.csv"],
                   ["--n = 1 gives arms of 1, 1 patients", "every arm needs >= 2"]),
    "huge-trial": (["--n", "3000", "--out", "{tmp}/p.csv"],
                   ["--n = 3000 gives 6,000 patients per trial", "at most 5,000"]),
    "negative-seed": (["--seed", "-1", "--out", "{tmp}/p.csv"], ["--seed = -1 must be >= 0"]),
    "out-is-a-folder": (["--out", "{tmp}/folder.csv"], ["folder.csv' is a folder"]),
    "below-a-file": (["--out", "{tmp}/blocker/p.csv"], ["blocker' exists and is not a folder"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "blocker").write_text("x")
    argv, fragments = BAD[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    rc, out, err = run_cli(capsys, "simulate", SCENARIOS / "t1d_hba1c_12m.toml",
                           *[a.format(tmp=tmp_path) for a in argv])
    assert_one_line_error(rc, out, err, *fragments)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_parquet_without_pyarrow_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)           # import pyarrow -> ImportError
    rc, out, err = run_cli(capsys, "simulate", SCENARIOS / "t1d_hba1c_12m.toml",
                           "--out", tmp_path / "p.parquet")
    assert_one_line_error(rc, out, err, "p.parquet' needs pyarrow", "or write .csv")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    def broken(self, path, **kw):
        Path(path).write_text("trial,patient\n0,")              # half a file, then the disk fills
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    rc, out, err = run_cli(capsys, "simulate", SCENARIOS / "t1d_hba1c_12m.toml",
                           "--out", tmp_path / "p.csv")
    assert_one_line_error(rc, out, err, "p.csv' cannot be written (No space left on device)")
    assert list(tmp_path.iterdir()) == []


def test_python_errors_name_the_argument():
    dm = design("t1d_hba1c_12m")
    with pytest.raises(SimtrialError, match=r"usage error: n_trials = 0 must be >= 1"):
        export_patients(dm, 0)
    with pytest.raises(SimtrialError, match=r"usage error: n = 1 gives arms of 1, 1 patients"):
        export_patients(dm, 1, n=1)
