"""``simtrial app``: the form, uploads, downloads and jobs (fast, no browser), and the whole app in
a real headless Chromium (playwright driving Debian's /usr/bin/chromium, as the report test
does; it skips locally without a browser and FAILS when ``CI`` is set).

The browser test starts the app on a free local port, changes N and the effect and checks that
power, MC SE and headline are exactly those of ``simtrial power`` for the same scenario and seed,
pins two designs and finds both in the comparison, moves a lesson's control and sees its text
and figure change, downloads the scenario TOML and runs it with the CLI to the same numbers and
the same results.csv, and sees invalid input refused with the validator's one-line message.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

import simtrial
from simtrial.app.form import (confine, default_scenario, field_of_error, form_values,
                               parse_upload, scenario_from_form, toml_text)
from simtrial.app.jobs import Cache, Job
from simtrial.app.work import LESSON_CONTROLS, design_job, lesson_kwargs
from simtrial.cli import main
from simtrial.errors import SimtrialError
from simtrial.io.outputs import to_jsonable
from simtrial.oc.text import headline
from simtrial.present.lessons import LESSON_SEED, LESSONS, winners_curse

from .test_report import CHROMIUM, CHROMIUM_ARGS, _browser_or_fail

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "scenarios" / "t1d_hba1c_12m.toml"
PY = sys.executable


def _shipped_scenarios():
    out = []
    for p in sorted((ROOT / "scenarios").glob("*.toml")):
        try:
            out.append(simtrial.load_scenario(p))
        except SimtrialError:       # the sweep file
            pass
    return out


# ---------------------------------------------------------------------------------------------
# the form (no browser)
# ---------------------------------------------------------------------------------------------

def test_embedded_default_is_the_shipped_scenario(tmp_path):
    assert (ROOT / "simtrial" / "app" / "t1d_hba1c_12m.toml").read_bytes() == SHIPPED.read_bytes()
    # an empty folder opens on the package's copy, the repository on its file: same scenario
    assert default_scenario(tmp_path).hash() == default_scenario(ROOT).hash() \
        == simtrial.load_scenario(SHIPPED).hash()


@pytest.mark.parametrize("sc", _shipped_scenarios(), ids=lambda s: s.name)
def test_untouched_form_is_the_loaded_scenario_and_toml_round_trips(sc):
    data = sc.to_dict()
    assert scenario_from_form(data, form_values(data)).hash() == sc.hash()
    assert simtrial.parse_scenario(tomllib.loads(toml_text(sc))).hash() == sc.hash()


def test_form_changes_go_through_the_scenario_validator():
    data = simtrial.load_scenario(SHIPPED).to_dict()
    v = form_values(data)
    sc = scenario_from_form(data, {**v, "n": 14, "source": "fixed", "md": -0.8, "dropout": 0.2,
                                   "looks": 2, "spending": "pocock", "targets": "0.7, 0.85",
                                   "n_trials": 2000, "seed": 7})
    assert sc.design.n_per_arm == 14 and sc.effect.source == "fixed" and sc.effect.md == -0.8
    assert sc.dropout.rate == 0.2 and sc.sequential.fractions == (0.5, 1.0)
    assert sc.sequential.spending == "pocock" and sc.design.target_power == (0.7, 0.85)
    assert (sc.n_trials, sc.seed) == (2000, 7)
    # back to no dropout / one look / evidence removes the sections and the fixed md
    again = scenario_from_form(sc.to_dict(), {**form_values(sc.to_dict()), "dropout": 0,
                                              "looks": 1, "source": "evidence"})
    assert again.dropout is None and again.sequential is None and again.effect.md is None
    for change, field, text in [
            ({"n": 1}, "n", "design.n_per_arm = 1 must be >= 2"),
            ({"allocation": -1}, "allocation", "design.allocation_ratio = -1"),
            ({"visit": 30}, "visit", "endpoint.visit_months = 30"),
            ({"dropout": 1.5}, "dropout", "dropout.rate = 1.5"),
            ({"targets": "eighty"}, "targets", "must be numbers in (0, 1)"),
            ({"n": None}, "n", "is empty")]:
        with pytest.raises(SimtrialError, match=re.escape(text)) as exc:
            scenario_from_form(data, {**v, **change})
        msg = str(exc.value)
        assert "\n" not in msg and field_of_error(msg) == field, msg


def test_uploads_are_parsed_in_memory_and_refused_with_one_line():
    good = SHIPPED.read_text()
    assert parse_upload(good, "mine.toml").hash() == simtrial.load_scenario(SHIPPED).hash()
    for text, name, size, expect in [
            ("name = [", "bad.toml", None, "bad.toml is not valid TOML"),
            (None, "big.toml", 5 * 2 ** 20, "big.toml is 5.0 MiB"),
            (good.replace("n_per_arm = 20", "n_per_arm = 0"), "zero.toml", None,
             "design.n_per_arm = 0 must be >= 2"),
            (good + "\nfoo = 1\n", "extra.toml", None, "foo is not a known key")]:
        with pytest.raises(SimtrialError, match=re.escape(expect)) as exc:
            parse_upload(text, name, size)
        assert "\n" not in str(exc.value)


def test_app_reads_nothing_outside_its_folder(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "elsewhere.toml"
    outside.write_text(SHIPPED.read_text())
    inside = tmp_path / "here"
    inside.mkdir()
    with pytest.raises(SimtrialError, match="outside the folder the app was started in"):
        confine("../elsewhere.toml", inside)
    monkeypatch.chdir(inside)
    for argv, text in [(["app", str(outside)], "outside the folder the app was started in"),
                       (["app", "--out", "/tmp/x"], "--out = '/tmp/x' is outside the folder"),
                       (["app", "missing.toml"], "does not exist"),
                       (["app", "--port", "70000"], "--port = 70000 must be in [1, 65535]")]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert text in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert list(inside.iterdir()) == []         # nothing written


def test_a_busy_port_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def test_lesson_controls_are_the_lessons_parameters():
    assert set(LESSON_CONTROLS) == set(LESSONS)
    assert lesson_kwargs("winners-curse", {"small_n": 20.0}) == {"small_n": 20}
    assert lesson_kwargs("heterogeneity", {"i2": 30}) == {"i2_values": (0.0, 30.0)}
    with pytest.raises(SimtrialError, match=r"must be in \[5, 80\]"):
        lesson_kwargs("winners-curse", {"small_n": 200})


# ---------------------------------------------------------------------------------------------
# jobs: the worker gives the API's numbers; cancel stops it; the cache keeps finished ones
# ---------------------------------------------------------------------------------------------

def _wait(job, timeout=120.0):
    t0 = time.perf_counter()
    while not job.snapshot()["finished"]:
        assert time.perf_counter() - t0 < timeout, job.snapshot()["stage"]
        time.sleep(0.05)
    return job.snapshot()


def test_worker_numbers_are_the_cli_numbers_and_cancel_stops_it():
    sc = simtrial.load_scenario(SHIPPED).replace(n_trials=2000, **{"design.n_per_arm": 14})
    job = Job(design_job, (sc.to_dict(),), "design:" + sc.hash())
    s = _wait(job)
    assert s["done"] and s["error"] is None, s["error"]
    p = simtrial.power(sc)
    # what `simtrial power --json` prints, character for character
    assert json.dumps(to_jsonable(s["results"]["point"]["dict"]), indent=2) == \
        json.dumps(to_jsonable(p.to_dict()), indent=2)
    assert s["results"]["point"]["headline"] == headline(p)
    r = simtrial.run(sc)
    assert [x["n_per_arm"] for x in s["results"]["run"]["sample_sizes"]] == \
        [x.n_per_arm for x in r.sample_sizes]
    cache = Cache(size=1)
    cache.put(s)
    assert cache.get(s["key"])["results"]["point"]["dict"]["power"] == p.power
    # a long job cancelled at once: the process is gone, the snapshot says so, nothing cached
    big = sc.replace(n_trials=1_000_000, **{"design.n_per_arm": 400})
    job = Job(design_job, (big.to_dict(),), "design:" + big.hash())
    time.sleep(0.5)
    job.cancel()
    s = _wait(job, 30)
    assert s["cancelled"] and not s["done"] and not job._proc.is_alive()
    cache.put(s)
    assert cache.get(s["key"]) is None


def test_worker_refuses_with_the_validators_line():
    data = simtrial.load_scenario(SHIPPED).to_dict()
    data["design"]["n_per_arm"] = 1
    s = _wait(Job(design_job, (data,), "bad"))
    assert s["error"] == "scenario error: design.n_per_arm = 1 must be >= 2 (e.g. n_per_arm = 40)"


# ---------------------------------------------------------------------------------------------
# the app in a real browser
# ---------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    env.pop("SIMTRIAL_DEBUG", None)
    return env


def _cli(*args, cwd) -> subprocess.CompletedProcess:
    r = subprocess.run([PY, "-m", "simtrial", *args], cwd=cwd, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def app_url(tmp_path):
    """The app started in an empty folder (so it opens on the package's copy of the shipped
    scenario) on a free port; stopped after the test."""
    _browser_or_fail()
    work = tmp_path / "work"
    work.mkdir()
    port = _free_port()
    proc = subprocess.Popen([PY, "-m", "simtrial", "app", "--port", str(port)], cwd=work,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        t0 = time.perf_counter()
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.perf_counter() - t0 < 60, "the app did not start listening"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/", work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _set(page, sel: str, value) -> None:
    page.fill(sel, str(value))
    page.press(sel, "Tab")


def _wait_design(page, n: int, md: str):
    """Until the results shown are finished and of N = ``n`` with true effect ``md``."""
    page.wait_for_function(
        """([n, md]) => {
            const b = document.querySelector('#power-block');
            const s = document.querySelector('#status-text');
            const c = document.querySelector('#power-curve');
            return b && s && c && b.dataset.n === String(n) && b.innerText.includes(md)
                && ['done', 'cached'].includes(s.dataset.state); }""",
        arg=[n, f"true effect {md}"], timeout=60_000)
    b = page.locator("#power-block")
    return (float(b.get_attribute("data-power")), float(b.get_attribute("data-mc-se")),
            page.inner_text("#headline"))


@pytest.mark.slow
def test_app_in_headless_chromium(app_url, tmp_path):
    from playwright.sync_api import sync_playwright
    url, work = app_url
    base = simtrial.load_scenario(SHIPPED)
    data = base.to_dict()
    data["effect"] = {"source": "fixed", "md": -0.8}
    data["n_trials"] = 2000
    errors, bad_requests = [], []
    t_start = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1400},
                                    accept_downloads=True)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("response", lambda r: bad_requests.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("favicon.ico") else None)
            page.goto(url)
            page.wait_for_selector("#power-block", timeout=60_000)
            assert "t1d_hba1c_12m" in page.title()

            # -- change N and the effect: the CLI's numbers -----------------------------------
            _set(page, "#n_trials", 2000)
            page.select_option("#source", "fixed")
            _set(page, "#md", -0.8)
            _set(page, "#n", 14)
            shown = _wait_design(page, 14, "-0.8")
            for n in (14, 20):
                scen = tmp_path / f"expected_{n}.toml"
                scen.write_text(tomli_w.dumps({**data, "design": {**data["design"],
                                                                  "n_per_arm": n}}))
                cli = json.loads(_cli("power", str(scen), "--n-per-arm", str(n), "--seed",
                                      str(base.seed), "--n-trials", "2000", "--json",
                                      cwd=tmp_path).stdout)
                if n == 14:
                    assert shown[:2] == (cli["power"], cli["mc_se"])
                    sc14 = simtrial.load_scenario(scen)
                    assert shown[2] == headline(simtrial.power(sc14))
                    assert f"{cli['power']:.1%} power" in shown[2]
                else:
                    cli20 = cli
            page.click("#pin")
            page.wait_for_selector("#pin-msg:has-text('pinned as #1')")

            # -- invalid input: the validator's line beside the field, results kept ----------
            _set(page, "#n", 1)
            page.wait_for_selector("#fe-n")
            assert page.inner_text("#fe-n") == ("scenario error: design.n_per_arm = 1 must be "
                                                ">= 2 (e.g. n_per_arm = 40)")
            assert page.locator("#power-block").get_attribute("data-n") == "14"
            _set(page, "#n", 20)
            shown20 = _wait_design(page, 20, "-0.8")
            assert shown20[:2] == (cli20["power"], cli20["mc_se"])
            assert page.locator("#fe-n").count() == 0
            page.click("#pin")
            page.wait_for_selector("#pin-msg:has-text('pinned as #2')")

            # -- a cached design comes back at once -------------------------------------------
            _set(page, "#n", 14)
            page.wait_for_selector("#status-text[data-state='cached']", timeout=10_000)
            assert float(page.locator("#power-block").get_attribute("data-power")) == shown[0]
            _set(page, "#n", 20)
            page.wait_for_selector("#status-text[data-state='cached']", timeout=10_000)

            # -- an upload that fails validation is refused with the one line ----------------
            bad = tmp_path / "bad.toml"
            bad.write_text(SHIPPED.read_text().replace("alpha = 0.05", "alpha = 2"))
            with page.expect_file_chooser() as fc:
                page.click("#upload-btn")
            fc.value.set_files(str(bad))
            page.wait_for_selector("#upload-msg")
            msg = page.inner_text("#upload-msg")
            assert msg.startswith("upload refused: scenario error: design.alpha = 2") \
                and "\n" not in msg
            assert page.input_value("#n") == "20"

            # -- downloads: the TOML runs with the CLI to the same numbers and results.csv ----
            got = {}
            for dl in ("dl_toml", "dl_csv", "dl_report"):
                with page.expect_download(timeout=120_000) as d:
                    page.click(f"#{dl}")
                path = tmp_path / d.value.suggested_filename
                d.value.save_as(path)
                got[dl] = path
            cli = json.loads(_cli("power", str(got["dl_toml"]), "--json", cwd=tmp_path).stdout)
            assert (cli["power"], cli["mc_se"], cli["n_per_arm"]) == (*shown20[:2], 20)
            _cli("run", str(got["dl_toml"]), "--out", str(tmp_path / "cli"), cwd=tmp_path)
            assert (tmp_path / "cli" / "t1d_hba1c_12m" / "results.csv").read_bytes() == \
                got["dl_csv"].read_bytes()
            report = got["dl_report"].read_text()
            assert report.startswith("<!DOCTYPE html>") and "t1d_hba1c_12m" in report
            assert (work / "outputs" / "app" / "t1d_hba1c_12m" / "report.html").is_file()

            # -- compare: both pinned designs in one table and one plot ------------------------
            page.click("a.nav-link:has-text('Compare')")
            page.wait_for_selector("#compare-plot[data-count='2']")
            rows = page.locator("#compare-table tbody tr")
            assert rows.count() == 2
            assert [(rows.nth(i).get_attribute("data-n"),
                     float(rows.nth(i).get_attribute("data-power"))) for i in range(2)] == \
                [("14", shown[0]), ("20", shown20[0])]
            assert f"{shown[0]:.4f} ({shown[1]:.4f})" in rows.nth(0).inner_text()

            # -- teach: the lesson's control moves its text and figure together ---------------
            page.click("a.nav-link:has-text('Teach')")
            _set(page, "#lesson_n_trials", 400)
            page.wait_for_function(
                "() => { const o = document.querySelector('#lesson-out');"
                " return o && o.dataset.key.includes(':400'); }", timeout=90_000)
            before = page.inner_text("#lesson-headline")
            fig_before = page.locator("img.lesson-figure").first.get_attribute("src")
            assert "10 patients per arm" in before
            page.evaluate("$('#lc_small_n').data('ionRangeSlider').update({from: 20})")
            page.wait_for_function(
                "() => { const h = document.querySelector('#lesson-headline');"
                " return h && h.innerText.includes('20 patients per arm'); }", timeout=90_000)
            assert page.locator("img.lesson-figure").first.get_attribute("src") != fig_before
            lesson = winners_curse(LESSON_SEED, 400, small_n=20)
            assert page.inner_text("#lesson-headline").splitlines() == lesson.headline()
        finally:
            browser.close()
    assert errors == [] and bad_requests == [], (errors, bad_requests)
    written = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    assert all(w.startswith("outputs/app/t1d_hba1c_12m/") for w in written), written
    assert time.perf_counter() - t_start < 180
