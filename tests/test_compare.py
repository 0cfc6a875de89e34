"""`simtrial compare`: each scenario's rows are its `simtrial power` / `simtrial run` numbers at
the same seed, the overlay plot draws one curve per scenario with words for titles and labels,
and bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matplotlib.backends.backend_agg import FigureCanvasAgg

import simtrial
from simtrial.cli import main
from simtrial.oc.compare import COLUMNS
from simtrial.present.compare import compare_figure

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [str(ROOT / "scenarios" / f"{n}.toml")
           for n in ("t1d_hba1c_12m", "t2d_hba1c_12m", "t1d_hba1c_6m")]
NAMES = ["t1d_hba1c_12m", "t2d_hba1c_12m", "t1d_hba1c_6m"]
TRIALS, SEED = "300", "7"


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """`simtrial compare` on three shipped scenarios: (stdout, folder)."""
    out = tmp_path_factory.mktemp("cmp") / "c"
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["compare", *SHIPPED, "--n-trials", TRIALS, "--seed", SEED, "--out", str(out)])
    assert rc == 0
    return buf.getvalue(), out


def test_compare_writes_the_table_the_plot_and_a_manifest(compared):
    _, out = compared
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.png",
                                                     "compare.svg", "manifest.json"]
    table = pd.read_csv(out / "compare.csv")
    assert tuple(table.columns) == COLUMNS
    assert list(dict.fromkeys(table["scenario"])) == NAMES
    assert set(table["quantity"]) == {"power"}          # point effects: no assurance
    man = json.loads((out / "manifest.json").read_text())
    assert [s["scenario_name"] for s in man["scenarios"]] == NAMES
    assert all(s["seed"] == int(SEED) and s["n_trials"] == int(TRIALS) for s in man["scenarios"])
    import hashlib
    for name in ("compare.csv", "compare.png", "compare.svg"):
        assert man["sha256"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("i", range(3))
def test_rows_equal_simtrial_power_at_the_same_n_and_seed(compared, capsys, i):
    """Every row is the power `simtrial power --n-per-arm N` gives (same seed and trials): at
    the design N, the smallest N, and one in between."""
    _, out = compared
    table = pd.read_csv(out / "compare.csv")
    rows = table[table["scenario"] == NAMES[i]].set_index("n_per_arm")
    design = int(rows.index[rows["design_n"]][0])
    ns = sorted({design, int(rows.index.min()), int(rows.index[len(rows) // 2])})
    for n in ns:
        rc, text, err = _cli(capsys, "power", SHIPPED[i], "--n-per-arm", n, "--n-trials",
                             TRIALS, "--seed", SEED, "--json")
        assert rc == 0, err
        ref = json.loads(text)
        row = rows.loc[n]
        assert row["estimate"] == pytest.approx(ref["power"], abs=1e-9)   # CSV: 10 digits
        assert row["mc_se"] == pytest.approx(ref["mc_se"], rel=1e-9)
        assert row["closed_form"] == pytest.approx(ref["analytic_power"], rel=1e-9)
        assert row["n_total"] == sum(ref["arm_sizes"])
        assert math.isnan(row["duration_months"])


def test_rows_equal_the_scenarios_own_run(compared, tmp_path, capsys):
    """A scenario's compare rows are its `simtrial run` power curve (same function, seed)."""
    _, out = compared
    table = pd.read_csv(out / "compare.csv")
    rc, _, err = _cli(capsys, "run", SHIPPED[2], "--n-trials", TRIALS, "--seed", SEED,
                      "--out", tmp_path / "r", "--quiet")
    assert rc == 0, err
    res = pd.read_csv(tmp_path / "r" / NAMES[2] / "results.csv")
    curve = res[(res["table"] == "power_curve") & (res["metric"] == "power")]
    mine = table[table["scenario"] == NAMES[2]].set_index("n_per_arm")["estimate"]
    assert len(curve) >= 5
    for n, est in zip(curve["n_per_arm"], curve["estimate"]):
        assert mine.loc[int(n)] == pytest.approx(est, abs=1e-9)
    ss = res[(res["table"] == "sample_size") & (res["metric"] == "sample_size")]
    assert list(ss["estimate"].astype(int)) == [
        s["n_per_arm"] for s in json.loads((out / "manifest.json").read_text())["sample_sizes"]
        if s["scenario"] == NAMES[2]]


def test_the_text_table_has_one_aligned_row_per_scenario(compared):
    text, out = compared
    lines = text.splitlines()
    head = lines[0]
    for col in ("scenario", "N at design", "power at design (+/- MC SE)", "N for 80% power",
                "N for 90% power"):
        assert col in head
    table = pd.read_csv(out / "compare.csv")
    man = json.loads((out / "manifest.json").read_text())
    for name in NAMES:
        row = next(ln for ln in lines[2:] if ln.startswith(name + " "))
        d = table[(table["scenario"] == name) & table["design_n"]].iloc[0]
        assert f"{d['estimate']:.4f} +/- {d['mc_se']:.4f}" in row
        n80 = next(s for s in man["sample_sizes"] if s["scenario"] == name
                   and s["target_power"] == 0.8)
        assert f"{n80['n_per_arm']} (closed form {n80['analytic_n_per_arm']})" in row
        # aligned: the power column ends at the same place in every row
        assert row.index(" +/- ") == lines[2].index(" +/- ")
    assert lines[-1].startswith("wrote ")


@pytest.fixture(scope="module")
def comparison():
    scs = [simtrial.load_scenario(p) for p in SHIPPED]
    return simtrial.compare(scs, n_trials=int(TRIALS), seed=int(SEED))


def test_plot_has_one_curve_per_scenario_and_words_not_identifiers(comparison):
    fig = compare_figure(comparison)
    FigureCanvasAgg(fig)
    axes = fig.get_axes()
    assert len(axes) == 1                       # no [conduct]: no duration panel
    ax = axes[0]
    labelled = [ln for ln in ax.get_lines() if ln.get_label() in NAMES]
    assert [ln.get_label() for ln in labelled] == NAMES
    for ln, name in zip(labelled, NAMES):       # the curve is the table's power
        rows = comparison.to_frame().query("scenario == @name")
        assert np.allclose(ln.get_xdata(), rows["n_per_arm"])
        assert np.allclose(ln.get_ydata(), rows["estimate"])
    assert len(ax.collections) == 3             # one MC band per scenario
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum(t.startswith(tuple(n + ":" for n in NAMES)) for t in legend) == 3
    assert "HbA1c at 12 months, ANCOVA, MD -0.98 %" in " ".join(legend)
    assert "95% Monte Carlo band" in legend
    for text in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), fig._suptitle.get_text()):
        assert "_" not in text and len(text.split()) >= 3, text
    assert "patients per arm" in ax.get_xlabel()
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    # the legend sits below the axes, not over a curve
    renderer = fig.canvas.get_renderer()
    assert (fig.legends[0].get_window_extent(renderer).y1
            <= ax.get_tightbbox(renderer).y0 + 1)


@pytest.mark.slow
def test_conduct_adds_a_duration_panel(tmp_path):
    scs = [simtrial.load_scenario(ROOT / "scenarios" / "conduct_t1d_hba1c_12m.toml"),
           simtrial.load_scenario(SHIPPED[0])]
    cmp = simtrial.compare(scs, n_trials=200, seed=3)
    table = cmp.to_frame()
    c = table[table["scenario"] == "conduct_t1d_hba1c_12m"].sort_values("n_per_arm")
    assert np.all(np.isfinite(c["duration_months"])) and np.all(c["duration_months_mc_se"] > 0)
    assert np.all(np.diff(c["duration_months"]) > 0)     # more patients take longer
    assert table[table["scenario"] == NAMES[0]]["duration_months"].isna().all()
    point = cmp.runs[0].point
    d, _ = point.metric("mean_duration_days", "conduct")
    assert c[c["design_n"]]["duration_months"].iloc[0] == pytest.approx(d / (365.25 / 12))
    fig = compare_figure(cmp)
    ax_n, ax_d = fig.get_axes()
    assert "duration" in ax_d.get_xlabel() and "months" in ax_d.get_xlabel()
    (line,) = [ln for ln in ax_d.get_lines() if ln.get_label() == "conduct_t1d_hba1c_12m"]
    assert np.allclose(line.get_xdata(), c["duration_months"])
    assert not [ln for ln in ax_d.get_lines() if ln.get_label() == NAMES[0]]


def _refused(capsys, tmp_path, argv, *fragments):
    out = tmp_path / "o"
    rc, text, err = _cli(capsys, "compare", *argv, "--n-trials", "50", "--out", out)
    assert rc == 2 and text == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err
    assert not out.exists()


def test_one_scenario_is_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, [SHIPPED[0]], "needs 2 or more scenarios, got 1")


def test_duplicate_names_are_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, [SHIPPED[0], SHIPPED[1], SHIPPED[0]],
             "two scenarios are named 't1d_hba1c_12m'")


def test_missing_file_is_refused(capsys, tmp_path):
    _refused(capsys, tmp_path, [SHIPPED[0], tmp_path / "nope.toml"], "nope.toml",
             "does not exist")


def test_invalid_scenario_is_refused(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(SHIPPED[1]).read_text().replace('name = "t2d_hba1c_12m"',
                                                        'name = "bad"')
                   .replace("n_per_arm = 45", "n_per_arm = 45\nallocation_ratio = -1"))
    _refused(capsys, tmp_path, [SHIPPED[0], bad], "design.allocation_ratio = -1")


def test_out_that_is_a_file_is_refused(capsys, tmp_path):
    f = tmp_path / "o"
    f.write_text("x")
    rc, text, err = _cli(capsys, "compare", SHIPPED[0], SHIPPED[2], "--n-trials", "50",
                         "--out", f)
    assert rc == 2 and text == "" and err.count("\n") == 1
    assert "is not a folder" in err and f.read_text() == "x"
