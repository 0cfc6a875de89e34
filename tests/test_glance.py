"""Outputs read at a glance (issue 17, item 4): the headline, the key-results table, figure
titles and ticks, one progress bar per command, and stale files of an earlier run.

What is proven here:
- the headline's numbers are the result's own (power, MC SE, effect with its unit), in the form
  of each scenario kind (plain, assurance, adaptive, Bayesian, safety, responder, multi-arm);
- the key-results table has a label in words and a unit on every row, and no metric identifier;
- the CLI summary puts the headline first among the results;
- figure titles hold no identifier, N ticks are whole numbers, no text is drawn over the
  curves and the legend sits below the axes;
- inside a command (a pool session) every simulation adds to one progress bar;
- a re-run into a folder removes the files the earlier manifest listed that it does not write
  (and an old report.html), and keeps every other file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import simtrial
from simtrial.cli import main
from simtrial.oc.glance import headline, key_results
from simtrial.present.plots import plot_power_curve
from simtrial.sim import driver

ROOT = Path(__file__).resolve().parents[1]
SC = ROOT / "scenarios"
IDENTIFIER = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")      # insulin_dose, low_dose, p_go ...


def _point(name: str, n_trials: int = 400):
    return simtrial.power(simtrial.load_scenario(SC / f"{name}.toml"), n_trials=n_trials)


def _row(p, metric, hypothesis=None):
    for r in p.rows():
        if r["metric"] == metric and (hypothesis is None or r["hypothesis"] == hypothesis):
            return r
    raise AssertionError(metric)


def test_headline_numbers_are_the_results():
    p = _point("t1d_insulin_12m")
    text = headline(p)
    assert text.startswith(f"N = {p.n_per_arm} per arm gives {p.power:.1%} power "
                           f"(MC SE {p.mc_se:.3f}) for the 12-month daily insulin dose change")
    assert f"{p.md:+.3g} IU/day" in text
    assert not IDENTIFIER.search(text)


def test_headline_of_an_assurance_scenario_names_the_assurance():
    p = _point("t1d_hba1c_12m_predictive")
    text = headline(p)
    assert f"assurance {p.assurance:.1%} (MC SE {p.assurance_mc_se:.3f})" in text
    assert "predictive distribution" in text and "-0.98 %" in text


def test_headline_of_a_multi_arm_scenario_names_every_arm():
    p = _point("t1d_three_arm_dose_12m", 200)
    text = headline(p)
    for h, st in zip(p.design.hypotheses, p.stats):
        assert f"{st.reject / p.n_trials:.1%} power" in text
        assert h.arm_name.replace("_", " ") in text
    d = _row(p, "disjunctive_power", "family")
    assert f"at least one arm succeeds with {d['estimate']:.1%}" in text
    assert not IDENTIFIER.search(text)


def test_headline_of_an_adaptive_scenario_gives_the_adaptive_power():
    p = _point("t2d_hba1c_12m_promising_zone")
    text = headline(p)
    pw = next(r for r in p.rows() if r["hypothesis"] == "adaptive" and r["metric"] == "power"
              and r["design_point"].endswith(" effect"))
    assert f"{pw['estimate']:.1%} power (MC SE {pw['mc_se']:.3f})" in text
    assert text.startswith("The promising-zone design")


def test_headline_of_a_bayes_scenario_gives_p_go():
    p = _point("t1d_hba1c_12m_phase2_map", 300)
    text = headline(p)
    go = next(r for r in p.rows() if r["hypothesis"] == "bayes" and r["metric"] == "p_go"
              and r["design_point"].endswith("(scenario)"))
    assert f"P(Go) {go['estimate']:.1%} (MC SE {go['mc_se']:.3f})" in text
    assert "robust MAP prior" in text


def test_headline_of_safety_and_responder_scenarios():
    p = _point("t2d_hba1c_12m_sae_monitoring")
    stop = next(r for r in p.safety if r["metric"] == "p_stop_harm")
    assert f"P(stop for harm, sae) {stop['estimate']:.1%}" in headline(p)
    p = _point("mixed_composite_responder_12m", 200)
    text = headline(p)
    assert "responder endpoint (HbA1c <= 7 %" in text
    rate = next(r for r in p.rows() if r["metric"] == "responder_rate" and r["arm"] == "MSC")
    assert f"responders {rate['estimate']:.1%} with MSC" in text


@pytest.mark.parametrize("name", ["t1d_hba1c_12m_predictive", "t1d_three_arm_dose_12m",
                                  "t2d_hba1c_12m_sae_monitoring", "t1d_hba1c_12m_gsd"])
def test_key_results_are_labelled_with_units(name):
    p = _point(name, 200)
    rows = key_results(p)
    assert rows
    for k in rows:
        assert k.label and not IDENTIFIER.search(k.full_label), k.full_label
        assert k.unit, k.label
        if k.unit == "probability":
            assert 0.0 <= k.value <= 1.0
    power = next(k for k in rows if k.label.startswith("power"))
    assert power.value == p.power and power.mc_se == pytest.approx(p.mc_se)
    effect = next(k for k in rows if k.label.startswith("mean estimated effect"))
    assert effect.unit == "%" and effect.value == pytest.approx(p.mean_estimate)


def test_key_results_show_clipped_effects():
    p = _point("t1d_hba1c_12m_predictive", 200)
    k = next(k for k in key_results(p) if "clipped" in k.label)
    assert k.value == p.theta_clipped / p.n_trials


def test_cli_summary_puts_the_headline_first(tmp_path, capsys):
    assert main(["run", str(SC / "t1d_hba1c_12m.toml"), "--n-trials", "200", "--out",
                 str(tmp_path), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(i for i, s in enumerate(lines) if s.startswith("design "))
    assert lines[i + 1].startswith("headline  N = 20 per arm gives ")
    assert sum(s.startswith("headline") for s in lines) == 1


def test_plot_titles_are_words_with_integer_n_ticks():
    res = simtrial.run(simtrial.load_scenario(SC / "t1d_insulin_12m.toml"), n_trials=200)
    fig = Figure(figsize=(7.5, 4.8), dpi=100)
    ax = plot_power_curve(res, ax=fig.add_subplot())
    fig.tight_layout()
    title = ax.get_title()
    assert "daily insulin dose" in title and "IU/day" in title and "ANCOVA" in title
    assert not IDENTIFIER.search(title) and "ancova" not in title
    ticks = ax.get_xticks()
    assert np.allclose(ticks, np.round(ticks))
    assert not ax.texts                       # no label drawn over a curve
    leg = ax.get_legend()
    fig.canvas.draw()
    lb = leg.get_window_extent()
    assert lb.y1 <= ax.get_window_extent().y0 + 1      # legend below the axes
    labels = [t.get_text() for t in leg.get_texts()]
    assert any(t.startswith("N for 80% power: ") for t in labels)
    assert any(t.startswith("design N = ") for t in labels)


def test_one_progress_bar_per_session(capsys):
    calls = []

    def fn(payload, c):
        calls.append(c)
        return c
    with driver.pool_session():
        driver.run_chunks(fn, None, 3000, lambda c: (c,), progress=True, label="N <= 10")
        bar = driver._SESSION["bar"]
        driver.run_chunks(fn, None, 2000, lambda c: (c,), progress=True, label="N <= 20")
        assert driver._SESSION["bar"] is bar
        assert bar.total == 5000 and bar.n == 5000
    assert "bar" not in driver._SESSION
    assert len(calls) == driver.chunk_count(3000) + driver.chunk_count(2000)


def test_rerun_removes_stale_files_of_the_earlier_manifest_only(tmp_path, capsys):
    args = ["run", str(SC / "t1d_hba1c_12m.toml"), "--n-trials", "200", "--out", str(tmp_path),
            "--quiet"]
    assert main(args + ["--report"]) == 0
    folder = tmp_path / "t1d_hba1c_12m"
    assert (folder / "report.html").is_file()
    man = json.loads((folder / "manifest.json").read_text())
    man["files"].append("old_table.csv")            # a file an earlier version wrote
    (folder / "manifest.json").write_text(json.dumps(man))
    (folder / "old_table.csv").write_text("stale\n")
    (folder / "notes.txt").write_text("mine\n")     # the user's own file
    capsys.readouterr()
    assert main(args) == 0
    assert not (folder / "report.html").exists()
    assert not (folder / "figures").exists()
    assert not (folder / "old_table.csv").exists()
    assert (folder / "notes.txt").read_text() == "mine\n"
    new = json.loads((folder / "manifest.json").read_text())
    assert sorted(new["files"]) == sorted(["results.csv", "power_curve.png", "manifest.json"])
    assert all((folder / f).is_file() for f in new["files"])


def test_a_manifest_cannot_name_a_file_outside_the_folder(tmp_path, capsys):
    args = ["run", str(SC / "t1d_hba1c_12m.toml"), "--n-trials", "200", "--out", str(tmp_path),
            "--quiet"]
    assert main(args) == 0
    folder = tmp_path / "t1d_hba1c_12m"
    outside = tmp_path / "keep.csv"
    outside.write_text("x\n")
    man = json.loads((folder / "manifest.json").read_text())
    man["files"] += ["../keep.csv", str(outside), ".hidden"]
    (folder / "manifest.json").write_text(json.dumps(man))
    assert main(args) == 0
    assert outside.read_text() == "x\n"
    assert not math.isnan(float(json.loads((folder / "manifest.json").read_text())["seed"]))
