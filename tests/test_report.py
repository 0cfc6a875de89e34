"""The HTML report: one command per shipped scenario, embedded figures, assumptions, errors, and a
real headless browser.

What is proven here:
- ``simtrial run FILE --n-trials N --out DIR --report`` (one command, a subprocess as a user runs
  it) writes ``report.html`` for every shipped scenario; every figure exists as a PNG that decodes
  to a non-blank image and an SVG that parses as XML with an ``<svg>`` root, and the document
  embeds exactly those PNGs;
- the document references nothing outside itself (all ``<img src>`` are ``data:`` URIs, every
  ``href`` is a ``#`` anchor, no script / link / frame / CSS ``url()``);
- the assumptions table lists every number of every evidence row the run used (oracle: the ids in
  the run's own manifest, values from the evidence table) with a source and a flag;
- a folder that is not a run folder, or whose files no longer match a re-simulation, is refused
  with one line and exit code 2, leaving no file behind;
- the same run folder gives byte-identical reports;
- in Chromium (headless, driven by playwright) the report renders with no console or page error,
  fetches nothing but the file itself, every embedded image decodes, and a screenshot is not
  blank. Without a browser the test skips locally and FAILS when ``CI`` is set.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simtrial.cli import main
from simtrial.errors import SimtrialError

ROOT = Path(__file__).resolve().parents[1]


def _shipped() -> list[Path]:
    """Scenario files of scenarios/ (sweep files are for `simtrial batch`, not `run`)."""
    from simtrial.scenario import load_scenario
    out = []
    for p in sorted((ROOT / "scenarios").glob("*.toml")):
        try:
            load_scenario(p)
        except SimtrialError:
            continue
        out.append(p)
    return out


SCENARIOS = _shipped()
N_TRIALS = "100"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FLAGS = {"reported", "derived", "assumed"}
SUBPROCESS_SCENARIO = "t1d_hba1c_12m"


# ---------------------------------------------------------------------------------------------
# one command per shipped scenario (run once per module, two processes at a time)
# ---------------------------------------------------------------------------------------------

def _run_in_process(path: str, out: str) -> tuple[str, int, str, str, float]:
    """`simtrial run PATH --n-trials N --out OUT --report --quiet` through the CLI entry point
    (in a worker process: the interpreter and imports are paid once per worker)."""
    import contextlib
    import io
    o, e = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        rc = main(["run", path, "--n-trials", N_TRIALS, "--out", out, "--report", "--quiet"])
    return Path(path).stem, rc, o.getvalue(), e.getvalue(), time.perf_counter() - t0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    done = {}
    # the console entry point once, as a user runs it
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "simtrial", "run",
                        str(ROOT / "scenarios" / f"{SUBPROCESS_SCENARIO}.toml"), "--n-trials",
                        N_TRIALS, "--out", str(out), "--report", "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    done[SUBPROCESS_SCENARIO] = (p.returncode, p.stdout, p.stderr, time.perf_counter() - t0)
    rest = [str(x) for x in SCENARIOS if x.stem != SUBPROCESS_SCENARIO]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
        for name, rc, so, se, secs in ex.map(_run_in_process, rest, [str(out)] * len(rest)):
            done[name] = (rc, so, se, secs)
    return out, done


def test_scenarios_are_shipped():
    assert len(SCENARIOS) >= 8


class _Doc(HTMLParser):
    """Tags, attributes, and the text of every table cell of an HTML document."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._style = False
        self.style = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "style":
            self._style = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "style":
            self._style = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._style:
            self.style += data


def _primary_outcome(folder: Path) -> str:
    man = json.loads((folder / "manifest.json").read_text())
    if "design" in man:
        return man["design"]["hypotheses"][0]["outcome"]
    return man["scenario"]["endpoint"]["outcome"]


def _parse(path: Path) -> _Doc:
    d = _Doc()
    d.feed(path.read_text(encoding="utf-8"))
    return d


@pytest.mark.parametrize("scenario", [p.stem for p in SCENARIOS])
def test_one_command_writes_report_with_figures(runs, scenario):
    from PIL import Image
    out, done = runs
    rc, stdout, stderr, _ = done[scenario]
    assert rc == 0, stderr
    folder = out / scenario
    html = folder / "report.html"
    assert html.is_file() and str(html) in stdout
    doc = _parse(html)
    imgs = [a for t, a in doc.tags if t == "img"]
    pngs = sorted((folder / "figures").glob("*.png"))
    svgs = sorted((folder / "figures").glob("*.svg"))
    names = {p.stem for p in pngs}
    # the report's figures: evidence, power, trajectories, sampling distribution (at least)
    assert "power_assurance" in names and "sampling_distribution_1" in names
    assert any(n.startswith("trajectories_") for n in names)
    assert f"evidence_{_primary_outcome(folder)}" in names
    assert names == {p.stem for p in svgs}
    assert len(imgs) == len(pngs)
    embedded = set()
    for a in imgs:
        src = a["src"]
        assert src.startswith("data:image/png;base64,")
        embedded.add(base64.b64decode(src.split(",", 1)[1]))
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
        assert data in embedded, f"{p.name} is not the image embedded in the report"
        with Image.open(p) as im:
            w, h = im.size
            px = np.asarray(im.convert("L"), dtype=float)
        assert w >= 400 and h >= 250
        assert px.std() > 10.0, f"{p.name} looks blank"
    for s in svgs:
        assert s.stat().st_size > 1000
        root = ET.parse(s).getroot()
        assert root.tag.endswith("svg")
    # no staging folder left behind
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("scenario", [p.stem for p in SCENARIOS])
def test_report_references_only_embedded_data(runs, scenario):
    out, _ = runs
    path = out / scenario / "report.html"
    doc = _parse(path)
    for tag, attrs in doc.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed", "base"), tag
        for key in ("src", "href", "srcset", "poster", "action", "xlink:href"):
            if key in attrs:
                v = attrs[key] or ""
                ok = v.startswith("data:") if key != "href" else v.startswith("#")
                assert ok, f"<{tag} {key}={v[:60]!r}> refers outside the document"
    assert "url(" not in doc.style and "@import" not in doc.style
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//|file:)""", text, re.I)
    # every in-page link has its target
    ids = {a.get("id") for _, a in doc.tags if a.get("id")}
    for _, a in doc.tags:
        if a.get("href", "").startswith("#"):
            assert a["href"][1:] in ids


def _evidence_ids_used(manifest: dict) -> set[str]:
    """Evidence row ids behind the simulated outcomes, read from the run's manifest."""
    from simtrial.model.evidence import load_evidence
    ids = set(load_evidence()["id"])
    if "design" in manifest:
        outs = manifest["design"]["outcomes_simulated"]
        models = list(manifest["design"]["stratum_models"].values())
    else:
        outs = [manifest["scenario"]["endpoint"]["outcome"]]
        models = [manifest["model"]]
    return {s for m in models for o in outs for s in m["md_source"][o] if s in ids}


@pytest.mark.parametrize("scenario", [p.stem for p in SCENARIOS])
def test_assumptions_table_lists_every_evidence_number(runs, scenario):
    from simtrial.model.evidence import load_evidence
    out, _ = runs
    folder = out / scenario
    man = json.loads((folder / "manifest.json").read_text())
    used = _evidence_ids_used(man)
    doc = _parse(folder / "report.html")
    table = next(t for t in doc.tables if t and t[0] == ["quantity", "value", "flag", "source"])
    body = table[1:]
    assert len(body) > 20
    for q, v, flag, src in body:
        assert flag in FLAGS, (q, flag)
        assert src, f"{q} has no source"
    rows = {q: (v, flag, src) for q, v, flag, src in body}
    ep = man["scenario"]["endpoint"]
    if not used:                           # an effect fixed by the scenario is an assumption
        o = _primary_outcome(folder)
        md = [x for q, x in rows.items()
              if q.endswith(f"MD used for {o} at {ep['visit_months']} mo")]
        assert md and all(x[1] == "assumed" for x in md)
    ev = load_evidence().set_index("id")
    for rid in used:
        r = ev.loc[rid]
        mine = {q.split(": ", 2)[-1]: x for q, x in rows.items() if q.startswith(f"{rid}: ")}
        md = next(x for k, x in mine.items() if k.startswith("MD"))
        assert float(md[0]) == pytest.approx(float(r["md"]), rel=1e-3)
        assert md[1] == r["md_status"]
        se = mine["SE"]
        assert float(se[0]) == pytest.approx(float(r["se"]), rel=1e-3)
        assert se[1] == ("assumed" if r["se_method"] == "assumed" else "derived")
        if pd.notna(r["ci_low"]):
            assert mine["95% CI"][1] == "reported"
        if pd.notna(r["i2"]):
            assert float(mine["I² (%)"][0]) == pytest.approx(float(r["i2"]))
        if pd.notna(r["k"]):
            assert int(mine["k studies"][0]) == int(r["k"])
        if r["md_status"] == "reported":
            assert r["source"] in md[2]


def test_report_is_reproducible(runs):
    out, _ = runs
    folder = out / "t1d_hba1c_12m"
    before = (folder / "report.html").read_bytes()
    svg = (folder / "figures" / "power_assurance.svg").read_bytes()
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").read_bytes() == before
    assert (folder / "figures" / "power_assurance.svg").read_bytes() == svg


def test_report_timings(runs):
    """Each one-command run + report finishes in reasonable time (generous: shared CI cores)."""
    _, done = runs
    for name, (*_, secs) in done.items():
        assert secs < 120, (name, secs)


# ---------------------------------------------------------------------------------------------
# errors: one line, exit code 2, nothing written
# ---------------------------------------------------------------------------------------------

def _copy_run(runs, tmp_path, name="t1d_hba1c_12m") -> Path:
    out, _ = runs
    dst = tmp_path / name
    dst.mkdir()
    for f in ("manifest.json", "results.csv"):
        shutil.copy(out / name / f, dst / f)
    return dst


def _one_line_error(capsys, argv, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(match, err), err
    return err


def test_not_a_run_folder(tmp_path, capsys):
    _one_line_error(capsys, ["report", str(tmp_path / "nope")],
                    r"^report error: OUTPUT_DIR = '.*nope' does not exist")
    f = tmp_path / "file.txt"
    f.write_text("x")
    _one_line_error(capsys, ["report", str(f)], r"OUTPUT_DIR = .* is not a folder")
    _one_line_error(capsys, ["report", str(tmp_path)],
                    r"is not a run folder: manifest.json is missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize("damage, match", [
    ("json", r"manifest.json' is not valid JSON"),
    ("keys", r"lacks .*scenario_hash"),
    ("scenario", r"scenario_hash = .* does not match its scenario"),
    ("evidence", r"evidence_version = 'old' differs from the installed evidence table"),
    ("results", r"results.csv design power = 0.5 but re-simulating the manifest's scenario"),
    ("no_results", r"results.csv is missing"),
])
def test_damaged_run_folder_is_refused(runs, tmp_path, capsys, damage, match):
    d = _copy_run(runs, tmp_path)
    man = json.loads((d / "manifest.json").read_text())
    if damage == "json":
        (d / "manifest.json").write_text("{")
    elif damage == "keys":
        del man["scenario_hash"]
        (d / "manifest.json").write_text(json.dumps(man))
    elif damage == "scenario":
        man["scenario"]["design"]["n_per_arm"] += 1
        (d / "manifest.json").write_text(json.dumps(man))
    elif damage == "evidence":
        man["evidence_version"] = "old"
        (d / "manifest.json").write_text(json.dumps(man))
    elif damage == "results":
        lines = (d / "results.csv").read_text().splitlines()
        head = lines[0].split(",")
        i = next(k for k, x in enumerate(lines) if ",power," in x and x.startswith("design"))
        cells = lines[i].split(",")
        cells[head.index("estimate")] = "0.5"
        lines[i] = ",".join(cells)
        (d / "results.csv").write_text("\n".join(lines) + "\n")
    elif damage == "no_results":
        (d / "results.csv").unlink()
    before = sorted(p.name for p in d.iterdir())
    _one_line_error(capsys, ["report", str(d)], match)
    assert sorted(p.name for p in d.iterdir()) == before      # nothing new, no staging folder


def test_run_report_flag_needs_nothing_else(runs, tmp_path, capsys):
    """`simtrial report` on a copied run folder (results.csv + manifest.json only) works."""
    d = _copy_run(runs, tmp_path)
    assert main(["report", str(d)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (d / "report.html").is_file() and (d / "figures" / "power_assurance.png").is_file()


# ---------------------------------------------------------------------------------------------
# simtrial.present.html
# ---------------------------------------------------------------------------------------------

def _fig():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [0, 1, 0])
    return fig


def test_write_document_contract(tmp_path):
    import matplotlib.pyplot as plt
    import pandas as pd
    from simtrial.present.html import Figure, Section, write_document
    f1, f2 = _fig(), _fig()
    t = pd.DataFrame({"a": [1, 2], "b": ["<x>", None]})
    t.attrs["caption"] = "cap & more"
    paths = write_document(tmp_path / "doc", "T <1>", [
        Section("One", paragraphs=["a <b>bold</b> & c"], figures=[Figure("f1", f1, "first")],
                tables=[t]),
        Section("Two", figures=[Figure("f2", f2)], html="<p class='x'>trusted</p>"),
    ], filename="lesson.html", subtitle="sub")
    assert list(paths) == ["lesson.html", "figures/f1.png", "figures/f1.svg", "figures/f2.png",
                           "figures/f2.svg"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
    text = paths["lesson.html"].read_text()
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp; c" in text and "<b>bold" not in text
    assert "T &lt;1&gt;" in text and "cap &amp; more" in text and "&lt;x&gt;" in text
    assert "<p class='x'>trusted</p>" in text
    assert text.count("data:image/png;base64,") == 2
    assert not plt.fignum_exists(f1.number) and not plt.fignum_exists(f2.number)


@pytest.mark.parametrize("markup", ['<img src="https://example.org/a.png">',
                                    '<a href="other.html">x</a>', "<script>1</script>",
                                    '<div style="background: url(x.png)">', '<link rel="x">'])
def test_write_document_refuses_external_references(tmp_path, markup):
    from simtrial.present.html import Figure, Section, write_document
    f = _fig()
    with pytest.raises(SimtrialError, match=r"^html error: sections\[0\]\.html"):
        write_document(tmp_path, "t", [Section("s", figures=[Figure("f", f)], html=markup)])
    assert list(tmp_path.iterdir()) == []


def test_write_document_refuses_bad_names(tmp_path):
    from simtrial.present.html import Figure, Section, write_document
    with pytest.raises(SimtrialError, match=r"Figure.name = 'a b' must be"):
        write_document(tmp_path, "t", [Section("s", figures=[Figure("a b", _fig())])])
    with pytest.raises(SimtrialError, match=r"Figure.name = 'x' is used twice"):
        write_document(tmp_path, "t", [Section("s", figures=[Figure("x", _fig()),
                                                             Figure("x", _fig())])])
    with pytest.raises(SimtrialError, match=r"filename = '../r.html' must be a plain file name"):
        write_document(tmp_path, "t", [], filename="../r.html")
    assert list(tmp_path.iterdir()) == []


def test_write_document_is_atomic(tmp_path):
    """A figure that fails to render leaves no document, no figure file, no staging folder."""
    import matplotlib.artist
    from simtrial.present.html import Figure, Section, write_document

    class Broken(matplotlib.artist.Artist):
        def draw(self, renderer):
            raise RuntimeError("cannot draw")

    good, bad = _fig(), _fig()
    bad.axes[0].add_artist(Broken())
    (tmp_path / "report.html").write_text("old")
    with pytest.raises(RuntimeError, match="cannot draw"):
        write_document(tmp_path, "t", [Section("s", figures=[Figure("good", good),
                                                             Figure("bad", bad)])])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert (tmp_path / "report.html").read_text() == "old"


# ---------------------------------------------------------------------------------------------
# figure data and plots
# ---------------------------------------------------------------------------------------------

def test_sampling_distribution_bins_exact_cases():
    from simtrial.present.report import sampling_distribution
    # lattice estimates (risk differences of fixed arms): one bin per value
    est = np.array([0.0, 0.1, 0.1, 0.2, 0.2, 0.2, np.nan])
    sig = np.array([False, False, True, True, True, False, False])
    s = sampling_distribution(est, sig, label="x", unit="u", truth=0.15, n_per_arm=10)
    tot = s.counts_sig + s.counts_ns
    assert tot.sum() == 6 and s.counts_sig.sum() == 3
    assert sorted(tot[tot > 0].tolist()) == [1, 2, 3]
    assert s.mean == pytest.approx(0.8 / 6) and s.mean_sig == pytest.approx(0.5 / 3)
    assert s.share_sig == pytest.approx(0.5) and s.share_sig_mc_se == pytest.approx(
        (0.25 / 6) ** 0.5)
    # continuous estimates: the truth lies inside the binned range
    rng = np.random.default_rng(1)
    e = rng.normal(size=500)
    s = sampling_distribution(e, e > 1.0, label="x", unit="u", truth=5.0, n_per_arm=10)
    assert s.edges[0] <= e.min() and s.edges[-1] >= 5.0
    assert (s.counts_sig + s.counts_ns).sum() == 500


def test_plots_take_ax_and_return_it(runs):
    import matplotlib.pyplot as plt
    from simtrial.present import plots
    from simtrial.model.design import build_design
    from simtrial.present.report import curve_data, evidence_forest, load_run, trajectory_data
    out, _ = runs
    run = load_run(out / "t1d_hba1c_12m_predictive")
    dm = build_design(run.scenario)
    curves, _ = curve_data(run, dm)
    objs = [(plots.plot_power_assurance, curves),
            (plots.plot_trajectories, trajectory_data(run, dm)[0]),
            (plots.plot_evidence_forest, evidence_forest("hba1c", {"k25seed_hba1c_12m_t1dm"},
                                                         {"T1DM"}))]
    for fn, obj in objs:
        fig, ax = plt.subplots()
        assert fn(obj, ax=ax) is ax
        assert ax.has_data()
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# a real browser
# ---------------------------------------------------------------------------------------------

def _browser_or_fail():
    why = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        why = "python package playwright is not installed (pip install -e '.[test]')"
    if why is None and not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing (apt-get install -y --no-install-recommends chromium)"
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser check cannot run in CI: {why}")
        pytest.skip(why)


@pytest.mark.parametrize("scenario", ["t1d_hba1c_12m_predictive", "mixed_composite_responder_12m"])
def test_report_renders_in_headless_chromium(runs, tmp_path, scenario):
    _browser_or_fail()
    from PIL import Image
    from playwright.sync_api import sync_playwright
    out, _ = runs
    page_url = (out / scenario / "report.html").resolve().as_uri()
    errors, requests = [], []
    shot = tmp_path / "shot.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1400})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_url, wait_until="load")
            n_img = page.evaluate("document.images.length")
            decoded = page.evaluate(
                "Array.from(document.images).every(i => i.complete && i.naturalWidth > 100)")
            heading = page.inner_text("h1")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert n_img >= 4 and decoded
    assert scenario in heading
    with Image.open(shot) as im:
        px = np.asarray(im.convert("RGB"))
    grey = px.mean(axis=2)
    colours = np.unique(px.reshape(-1, 3), axis=0).shape[0]
    assert grey.std() > 15 and colours > 200, (grey.std(), colours)
