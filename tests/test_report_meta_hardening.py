"""Issue 13, part 5: report and meta inputs are validated like scenarios.

Each test below reproduces one finding of the issue and failed on the code before the fix:

- ``simtrial report``: a scenario description mentioning ``url(``, ``src=``, ``href=`` or
  ``@import`` was refused by the markup check (it scanned the already escaped manifest text),
  after ``run`` had written its files; it is now shown, escaped, in a report that loads nothing;
- tampered run folders gave ``internal error`` (exit 1) instead of one line with exit 2: a
  generator (:func:`tamper_cases`) deletes every manifest key, gives every key a value of every
  other JSON type, puts strings, negatives, nan, inf, huge numbers, ``1_0`` into the columns of
  ``results.csv``, truncates both files, writes invalid JSON, invalid UTF-8, a manifest that is a
  list, deep nesting, duplicate keys, sparse 100 MB files, links and folders in odd places; every
  case must end with exit code 0 or 2, one line on stderr for 2, no traceback, nothing written
  outside the folder and, for a refusal, nothing new inside it;
- a symlinked ``figures/`` (or ``report.html``) was followed and the figures written into its
  target, outside the run folder;
- ``simtrial meta``: extreme finite inputs (``se = 1e200``, ``vi = 5e-324``, ``vi = 1e308``,
  ``yi = 1e308``) gave nan results with exit 0, RuntimeWarnings, ``i2 = nan`` in the row written
  by ``--write-row``, or internal errors; ``1_0`` was read as 10; the message said
  ``flag REPORTED`` while the row said DERIVED; control characters in study names and long
  fields were echoed raw.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, NamedTuple
from unittest import mock

import pytest

from simtrial.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "t1d_hba1c_12m.toml"
N_TRIALS = "20"


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in this process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """One small run of a shipped scenario (manifest.json, results.csv, power_curve.png)."""
    root = tmp_path_factory.mktemp("runs")
    rc, _, err = _cli(["run", SCENARIO, "--n-trials", N_TRIALS, "--out", root, "--quiet"])
    assert rc == 0, err
    return root / "t1d_hba1c_12m"


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in ("manifest.json", "results.csv"):
        shutil.copy(src / f, dst / f)
    return dst


def _tree(p: Path) -> list[str]:
    return sorted(str(q.relative_to(p)) for q in p.rglob("*"))


# ---------------------------------------------------------------------------------------------
# report: markup in the description
# ---------------------------------------------------------------------------------------------

MARKUP = ('uses url(x.png), src="https://example.org/a.png", href=other.html, @import "x.css", '
          "<script>alert(1)</script> and a & b")


def test_description_with_markup_words_is_shown_escaped_not_refused(tmp_path):
    """Was: ``html error: sections[9].html ('Manifest') references ...`` after run wrote its
    files (rc 2). Now run --report succeeds and the description is text in a document that still
    loads nothing (CSP, no script, every src a data: URI, every href an anchor)."""
    text = SCENARIO.read_text(encoding="utf-8")
    text = re.sub(r'^description = ".*"$', "description = " + json.dumps(MARKUP), text, count=1,
                  flags=re.M)
    sc = tmp_path / "markup.toml"
    sc.write_text(text, encoding="utf-8")
    rc, out, err = _cli(["run", sc, "--n-trials", N_TRIALS, "--out", tmp_path / "o", "--quiet",
                         "--report"])
    assert rc == 0 and err == "", err
    doc = (tmp_path / "o" / "t1d_hba1c_12m" / "report.html").read_text(encoding="utf-8")
    assert "url(x.png)" in doc and "@import" in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc and "<script" not in doc
    assert all(v.startswith("data:") for v in re.findall(r'<img[^>]* src="([^"]*)"', doc))
    assert all(v.startswith("#") for v in re.findall(r'<a [^>]*href="([^"]*)"', doc))
    assert "default-src 'none'" in doc


@pytest.mark.parametrize("markup, ok", [
    ("<pre>url(x) src=y href=z @import &lt;script&gt;</pre>", True),
    ('<img src="&#104;ttps://example.org/a.png">', False),     # an entity hides nothing
    ('<p onclick="x()">x</p>', False),
    ("<style>p { background: url(x.png) }</style>", False),
    ('<a href="#sec-1">up</a><img src="data:image/png;base64,AAAA">', True),
])
def test_markup_check_reads_tags_not_text(tmp_path, markup, ok):
    from simtrial.errors import SimtrialError
    from simtrial.present.html import Section, write_document
    sections = [Section("s", html=markup)]
    if ok:
        write_document(tmp_path, "t", sections)
        assert (tmp_path / "report.html").is_file()
    else:
        with pytest.raises(SimtrialError, match=r"^html error: sections\[0\]\.html"):
            write_document(tmp_path, "t", sections)
        assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# report: links out of the run folder
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["figures", "report.html"])
def test_symlink_in_run_folder_is_refused_not_followed(run_folder, tmp_path, entry):
    """Was: figures/*.png and *.svg written into the link's target outside the folder (rc 0)."""
    d = _copy(run_folder, tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside if entry == "figures" else outside / "victim.html"
    if entry == "report.html":
        target.write_text("keep")
    (d / entry).symlink_to(target)
    before = _tree(d)
    rc, _, err = _cli(["report", d])
    assert rc == 2 and _one_line(err), err
    assert "symbolic link" in err and entry in err
    assert _tree(d) == before
    assert _tree(outside) == ([] if entry == "figures" else ["victim.html"])
    if entry == "report.html":
        assert target.read_text() == "keep"


def test_symlinked_manifest_is_not_read(run_folder, tmp_path):
    d = _copy(run_folder, tmp_path / "run")
    real = tmp_path / "elsewhere.json"
    (d / "manifest.json").rename(real)
    (d / "manifest.json").symlink_to(real)
    rc, _, err = _cli(["report", d])
    assert rc == 2 and _one_line(err) and "manifest.json' is a symbolic link" in err, err


# ---------------------------------------------------------------------------------------------
# report: the tamper generator
# ---------------------------------------------------------------------------------------------

class Tamper(NamedTuple):
    """One damaged run folder: ``apply(folder, outside)`` edits a copy of a good run folder
    (``outside`` is an empty folder beside it, a target for links); ``expect`` is the exit code
    the report must give (0 or 2), or None when either is acceptable."""

    name: str
    expect: int | None
    apply: Callable[[Path, Path], None]


REPORT_READS = ("simtrial_version", "evidence_version", "scenario_name", "scenario_file",
                "scenario_hash", "scenario", "seed", "n_trials", "rng", "created_utc", "command",
                "platform", "timings_s", "files")
"""Manifest keys the report reads or shows (a run always writes them)."""

JSON_SAMPLES = {"null": None, "bool": True, "int": 7, "float": 1.5, "str": "x", "list": ["x"],
                "object": {"x": 1}}


def _json_type(v) -> str:
    return {type(None): "null", bool: "bool", int: "int", float: "float", str: "str",
            list: "list", dict: "object"}[type(v)]


def _edit_manifest(change: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def apply(d: Path, _outside: Path) -> None:
        man = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        change(man)
        (d / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    return apply


def _write(name: str, data: bytes | str) -> Callable[[Path, Path], None]:
    def apply(d: Path, _outside: Path) -> None:
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return apply


def _edit_text(name: str, edit: Callable[[str], str]) -> Callable[[Path, Path], None]:
    def apply(d: Path, _outside: Path) -> None:
        p = d / name
        p.write_text(edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    return apply


def _edit_cell(metric: str, table: str, column: str, value: str) -> Callable[[str], str]:
    """Set one cell of results.csv: the first row of ``table`` with ``metric``."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        head = lines[0].split(",")
        ti, mi, ci = head.index("table"), head.index("metric"), head.index(column)
        for i, ln in enumerate(lines[1:], start=1):
            cells = ln.split(",")
            if len(cells) == len(head) and cells[ti] == table and cells[mi] == metric:
                cells[ci] = value
                lines[i] = ",".join(cells)
                return "\n".join(lines)
        raise AssertionError(f"no {table} {metric} row")
    return edit


def _drop_columns(*names: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        rows = [ln.split(",") for ln in text.rstrip("\n").split("\n")]
        keep = [j for j, h in enumerate(rows[0]) if h not in names]
        return "\n".join(",".join(r[j] for j in keep) for r in rows) + "\n"
    return edit


def _link(name: str, make_target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def apply(d: Path, outside: Path) -> None:
        target = make_target(d, outside)
        p = d / name
        if p.exists() or p.is_symlink():
            p.unlink()
        p.symlink_to(target)
    return apply


def _moved_outside(name: str) -> Callable[[Path, Path], Path]:
    def make(d: Path, outside: Path) -> Path:
        shutil.copy(d / name, outside / name)
        return outside / name
    return make


def _make_dir(name: str) -> Callable[[Path, Path], None]:
    def apply(d: Path, _outside: Path) -> None:
        p = d / name
        if p.is_file():
            p.unlink()
        p.mkdir(parents=True)
    return apply


def _sparse(name: str, size: int) -> Callable[[Path, Path], None]:
    def apply(d: Path, _outside: Path) -> None:
        with open(d / name, "wb") as fh:
            fh.truncate(size)
    return apply


def tamper_cases(man: dict, results: str) -> list[Tamper]:
    """Every damaged run folder the report is tested on, built from a good manifest (the dict)
    and results.csv (its text)."""
    cases: list[Tamper] = [Tamper("untouched", 0, lambda d, o: None)]
    add = cases.append
    mtext = json.dumps(man, indent=2)

    # manifest.json as a file
    for name, data in [("empty", b""), ("truncated", mtext[: len(mtext) // 2]), ("brace", "{"),
                       ("invalid_utf8", b'{"seed": "\xff\xfe"}'),
                       ("latin1", mtext.replace('"name"', '"n\xe4me"').encode("latin-1",
                                                                               "replace")),
                       ("list", json.dumps([man])), ("string", '"x"'), ("null", "null"),
                       ("number", "1"), ("nan", "NaN"), ("deep", "[" * 100_000 + "]" * 100_000),
                       ("duplicate_key", '{"seed": 1, ' + json.dumps(man)[1:]),
                       ("nan_seed", json.dumps(man).replace(f'"seed": {man["seed"]}',
                                                            '"seed": NaN', 1)),
                       ("binary", bytes(range(256)) * 4)]:
        add(Tamper(f"manifest_{name}", 2, _write("manifest.json", data)))
    add(Tamper("manifest_missing", 2, lambda d, o: (d / "manifest.json").unlink()))
    add(Tamper("manifest_is_folder", 2, _make_dir("manifest.json")))
    add(Tamper("manifest_symlink_out", 2, _link("manifest.json", _moved_outside("manifest.json"))))
    add(Tamper("manifest_dangling_symlink", 2, _link("manifest.json", lambda d, o: o / "none")))
    add(Tamper("manifest_sparse_100MB", 2, _sparse("manifest.json", 100 * 2 ** 20)))

    # every key: deleted, and every other JSON type
    unread = [k for k in man if k not in REPORT_READS]
    for key in REPORT_READS:
        add(Tamper(f"manifest_del_{key}", 2, _edit_manifest(lambda m, k=key: m.pop(k))))
        for tname, sample in JSON_SAMPLES.items():
            if tname == _json_type(man[key]) or (key == "scenario_file" and tname == "null"):
                continue
            add(Tamper(f"manifest_{key}_{tname}", 2,
                       _edit_manifest(lambda m, k=key, v=sample: m.__setitem__(k, v))))
    # numbers at and beyond their ranges
    for key in ("seed", "n_trials"):
        for label, v in [("negative", -1), ("zero", 0), ("huge", 10 ** 400), ("2^63", 2 ** 63),
                         ("1e308", 1e308), ("1e9", 10 ** 9)]:
            if key == "seed" and label == "zero":
                continue        # seed 0 is a valid seed (the results then differ: rc 2)
            add(Tamper(f"manifest_{key}_{label}", 2,
                       _edit_manifest(lambda m, k=key, x=v: m.__setitem__(k, x))))
    add(Tamper("manifest_seed_zero", 2, _edit_manifest(lambda m: m.__setitem__("seed", 0))))
    # strings the report compares or shows
    for key, v in [("scenario_hash", "0" * 64), ("scenario_hash", "X" * 64),
                   ("simtrial_version", "not a version"), ("evidence_version", "old"),
                   ("scenario_name", "other"), ("scenario_name", "a\nb\x1b[31m"),
                   ("scenario_name", "n" * 100_000), ("command", ["simtrial", 1]),
                   ("files", ["results.csv", None])]:
        add(Tamper(f"manifest_{key}_{str(v)[:12]!r}", 2,
                   _edit_manifest(lambda m, k=key, x=v: m.__setitem__(k, x))))
    # the scenario inside
    add(Tamper("manifest_scenario_empty", 2,
               _edit_manifest(lambda m: m.__setitem__("scenario", {}))))
    add(Tamper("manifest_scenario_edited", 2,
               _edit_manifest(lambda m: m["scenario"]["design"].__setitem__("n_per_arm", 21))))
    add(Tamper("manifest_scenario_n_string", 2,
               _edit_manifest(lambda m: m["scenario"]["design"].__setitem__("n_per_arm", "20"))))
    add(Tamper("manifest_scenario_deep", 2, _edit_manifest(
        lambda m: m["scenario"].__setitem__("x", json.loads("[" * 900 + "]" * 900)))))
    add(Tamper("manifest_unread_deep", 2, _edit_manifest(
        lambda m: m.__setitem__("model", json.loads("[" * 900 + "]" * 900)))))

    # results.csv as a file
    lines = results.split("\n")
    for name, data in [("empty", b""), ("header_only", lines[0] + "\n"),
                       ("truncated_mid_line", results[: len(results) // 2 + 7]),
                       ("invalid_utf8", results.replace("design", "d\udcffsign", 1)
                        .encode("utf-8", "surrogateescape")),
                       ("binary", bytes(range(256)) * 4), ("nul", results.replace(",", "\0", 3)),
                       ("extra_field", results.replace("\n", ",x\n", 2)),
                       ("unterminated_quote", results.replace("design", '"design', 1)),
                       ("huge_field", lines[0] + "\n" + "design," + "x" * 200_000 + "\n"),
                       ("one_column", "table\ndesign\n")]:
        add(Tamper(f"results_{name}", 2, _write("results.csv", data)))
    add(Tamper("results_missing", 2, lambda d, o: (d / "results.csv").unlink()))
    add(Tamper("results_is_folder", 2, _make_dir("results.csv")))
    add(Tamper("results_symlink_out", 2, _link("results.csv", _moved_outside("results.csv"))))
    add(Tamper("results_sparse_100MB", 2, _sparse("results.csv", 100 * 2 ** 20)))
    # columns
    head = lines[0].split(",")
    for col in ("table", "design_point", "n_per_arm", "hypothesis", "arm", "visit", "metric",
                "estimate", "mc_se"):
        add(Tamper(f"results_del_{col}", 2, _edit_text("results.csv", _drop_columns(col))))
    add(Tamper("results_duplicate_column", 2, _edit_text("results.csv", _dup_estimate)))
    # cells: every bad kind of value in each numeric column, in each kind of row
    bad = {"estimate": ["abc", "1_0", "0x10", "nan", "NaN", "-1", "2", "inf", "1e308", "1e400",
                        "\x1b[2J"],
           "mc_se": ["abc", "-1", "inf", "1e308", "nan", "1_0"],
           "n_per_arm": ["abc", "0", "-1", "2.5", "1e308", "inf", "1_0", "100001"]}
    rows = [("design", "power"), ("design", "power_ci_low"), ("power_curve", "power"),
            ("sample_size", "sample_size"), ("sample_size", "searched_max")]
    for column, values in bad.items():
        for table, metric in rows:
            for v in values:
                if column == "estimate" and v == "2" and table == "sample_size":
                    continue        # a valid sample size: in results_valid_edits below
                add(Tamper(f"results_{table}_{metric}_{column}_{v!r}", 2,
                           _edit_text("results.csv", _edit_cell(metric, table, column, v))))
    for column, v in [("table", ""), ("metric", ""), ("design_point", "x"),
                      ("design_point", "target_power=2"), ("design_point", "a=b=c")]:
        add(Tamper(f"results_sample_size_{column}_{v!r}", 2, _edit_text(
            "results.csv", _edit_cell("sample_size", "sample_size", column, v))))
    add(Tamper("results_design_rows_gone", 2, _edit_text(
        "results.csv", lambda t: "\n".join(ln for ln in t.split("\n")
                                           if not ln.startswith("design,")))))
    add(Tamper("results_table_numeric", 2, _edit_text(
        "results.csv", lambda t: "\n".join([t.split("\n")[0]] + [
            "1" + ln[ln.index(","):] if ln else ln for ln in t.split("\n")[1:]]))))

    # accepted edits, several per case (each full report takes a second or two; a case that
    # must give 0 fails if any one of its edits is refused or crashes, so grouping them loses
    # nothing but their interactions)
    def harmless_manifest(m: dict) -> None:
        m["created_utc"] = "yesterday\x07"
        m["scenario_file"] = None
        m.update({k: [None, 1e308, {"x": [True]}] for k in unread[::2]})
        for k in unread[1::2]:
            del m[k]

    def bom(name: str) -> Callable[[Path, Path], None]:
        return lambda d, o: (d / name).write_bytes(b"\xef\xbb\xbf" + (d / name).read_bytes())

    add(Tamper("manifest_del_unread", 0, _edit_manifest(lambda m: [m.pop(k) for k in unread])))
    add(Tamper("manifest_harmless_edits_and_bom", 0, _chain(_edit_manifest(harmless_manifest),
                                                           bom("manifest.json"))))
    add(Tamper("results_bom_crlf_blank_lines_unread_columns_gone", 0, _chain(
        _edit_text("results.csv", _drop_columns(*[c for c in ("scenario", "endpoint", "q10", "q90")
                                                  if c in head])),
        _edit_text("results.csv", lambda t: t.replace("\n", "\n\n", 5).replace("\n", "\r\n")),
        bom("results.csv"))))
    add(Tamper("results_valid_edits", 0, _chain(*[
        _edit_text("results.csv", _edit_cell(metric, table, "estimate", v))
        for table, metric, v in [("sample_size", "sample_size", "2"),
                                 ("sample_size", "searched_max", "2"),
                                 ("design", "power_ci_low", ""), ("power_curve", "power", "")]])))

    # where the report writes
    add(Tamper("figures_symlink_out", 2, _link("figures", lambda d, o: o)))
    add(Tamper("figures_dangling_symlink", 2, _link("figures", lambda d, o: o / "none")))
    add(Tamper("report_symlink_out", 2, _link("report.html", lambda d, o: o / "victim.html")))
    add(Tamper("figures_is_file", 2, _write("figures", "x")))
    add(Tamper("report_is_folder", 2, _make_dir("report.html")))
    add(Tamper("figure_file_is_folder", 2, _make_dir("figures/power_assurance.png")))
    return cases


def _chain(*edits: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    def apply(d: Path, outside: Path) -> None:
        for e in edits:
            e(d, outside)
    return apply


def _dup_estimate(text: str) -> str:
    """results.csv with its estimate column appended a second time."""
    rows = [ln.split(",") for ln in text.rstrip("\n").split("\n")]
    j = rows[0].index("estimate")
    return "\n".join(",".join(r + [r[j]]) for r in rows) + "\n"


def run_tamper_cases(good: Path, work: Path, cases: list[Tamper]) -> list[tuple[Tamper, int, str]]:
    """Apply each case to a fresh copy of ``good`` and run ``simtrial report`` on it in this
    process; return (case, exit code, stderr). Checks as it goes that a refusal leaves the folder
    as it was and that nothing is ever written outside it."""
    import simtrial.cli
    parser = simtrial.cli._build_parser()      # built once: 40 ms a case otherwise
    out = []
    with mock.patch.object(simtrial.cli, "_build_parser", lambda: parser):
        for i, case in enumerate(cases):
            d = _copy(good, work / f"c{i}" / "run")
            outside = work / f"c{i}" / "outside"
            outside.mkdir()
            case.apply(d, outside)
            before, outside_before = _tree(d), _tree(outside)
            rc, _, err = _cli(["report", d])
            out.append((case, rc, err))
            assert _tree(outside) == outside_before, case.name
            if rc != 0:
                assert _tree(d) == before, case.name
    return out


def test_tampered_run_folders_exit_0_or_2_with_one_line(run_folder, tmp_path):
    """Every tampered folder: exit 0 (a report) or 2 (one line naming the file and what is
    wrong), never 1 (internal error), never a traceback or a warning on stderr."""
    man = json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    cases = tamper_cases(man, (run_folder / "results.csv").read_text(encoding="utf-8"))
    assert len(cases) > 250 and sum(c.expect == 0 for c in cases) <= 6
    t0 = time.process_time()       # CPU time: the bound holds on a busy machine too
    results = run_tamper_cases(run_folder, tmp_path, cases)
    elapsed = time.process_time() - t0
    bad = []
    for case, rc, err in results:
        ok = (rc == 0 and err == "") or (rc == 2 and _one_line(err) and len(err) < 600
                                         and err.startswith(("report error:", "html error:")))
        if case.expect is not None and rc != case.expect:
            ok = False
        if not ok:
            bad.append(f"{case.name}: rc {rc}: {err[:300]!r}")
    assert not bad, "\n".join(bad)
    assert elapsed < 30, elapsed


@pytest.mark.parametrize("case, match", [
    ("manifest_del_scenario_name", r"manifest.json' lacks scenario_name"),
    ("manifest_seed_str", r"manifest.json seed = 'x' must be an integer in \[0, 2\^63 - 1\]"),
    ("manifest_platform_list", r"manifest.json platform = \['x'\] must be an object"),
    ("manifest_scenario_name_'a\\nb\\x1b[31m'", r"scenario_name = 'a\\nb\\x1b\[31m' differs"),
    ("results_power_curve_power_estimate_'-1'",
     r"results.csv line \d+ \(power_curve power\): estimate = '-1' must be a probability in "
     r"\[0, 1\]"),
    ("results_design_power_mc_se_'-1'", r"mc_se = '-1' must be >= 0"),
    ("results_sample_size_sample_size_estimate_'1e308'",
     r"estimate = '1e308' must be a whole number of patients in \[1, 2000\]"),
    ("results_design_power_estimate_'1_0'", r"estimate = '1_0' must be a number"),
    ("results_del_hypothesis", r"lacks the columns \['hypothesis'\]"),
    ("results_truncated_mid_line", r"results.csv line \d+ has \d+ fields but the header has 13"),
    ("figures_symlink_out", r"figures' \(the figures folder\) is a symbolic link"),
])
def test_tamper_messages_name_file_field_value_rule(run_folder, tmp_path, case, match):
    """A sample of the generator's cases: the one line names the file, field, value and rule."""
    man = json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    cases = {c.name: c for c in tamper_cases(man, (run_folder / "results.csv").read_text())}
    [(_, rc, err)] = run_tamper_cases(run_folder, tmp_path, [cases[case]])
    assert rc == 2 and _one_line(err), err
    assert re.search(match, err), err


# ---------------------------------------------------------------------------------------------
# meta: extreme finite inputs, numbers, messages
# ---------------------------------------------------------------------------------------------

def _meta(tmp_path: Path, text: str | bytes, *extra: str, name: str = "s.csv"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return _cli(["meta", p, *extra])


ROW_ARGS = ["--id", "user_hba1c_12m_all", "--outcome", "hba1c", "--time-months", "12",
            "--population", "all"]


@pytest.mark.parametrize("method", ["reml", "dl", "pm", "fe"])
@pytest.mark.parametrize("text, where", [
    ("md,se\n1,1e200\n2,1\n", "line 2: se = 1e+200"),
    ("yi,vi\n1,5e-324\n2,1\n", "line 2: vi = 4.94066e-324"),
    ("yi,vi\n1,1e308\n2,1\n", "line 2: vi = 1e+308"),
    ("yi,vi\n1e308,1\n2,1\n", "line 2: yi = 1e+308"),
    ("yi,vi\n1,1e-300\n2,1e-300\n", "line 2: vi = 1e-300"),
    ("yi,vi\n1,1e300\n2,1e300\n", "line 2: vi = 1e+300"),
    ("md,ci_low,ci_high\n1,-1e300,1e300\n2,1,3\n", "line 2: ci_low = -1e+300"),
    ("mean1,sd1,n1,mean2,sd2,n2\n1,1e200,10,0,1,10\n1,1,10,0,1,10\n", "line 2: sd1 = 1e+200"),
    ("mean1,sd1,n1,mean2,sd2,n2\n1,1,1e300,0,1,10\n1,1,10,0,1,10\n", "line 2: n1 = 1e+300"),
])
def test_meta_extreme_finite_inputs_are_one_line_errors(tmp_path, method, text, where):
    """Was: nan results with rc 0, numpy RuntimeWarnings, OverflowError or ZeroDivisionError."""
    rc, out, err = _meta(tmp_path, text, "--method", method, "--write-row", tmp_path / "r.csv",
                         *ROW_ARGS)
    assert rc == 2 and _one_line(err) and out == "", err
    assert err.startswith("meta error: s.csv ") and where in err, err
    assert "outside" in err or "must be" in err
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("yi, vi", [([1.0, 1e308], [1.0, 1.0]), ([1.0, 2.0], [5e-324, 1.0]),
                                    ([1.0, 2.0], [1e308, 1.0]), ([1.0, 2.0], [1e-300, 1e-300])])
def test_pool_refuses_extreme_finite_inputs(yi, vi):
    from simtrial.stats.meta import MetaError, pool
    with pytest.raises(MetaError, match=r"^meta error: (yi|vi)\[\d\] = .* outside"):
        pool(yi, vi)


@pytest.mark.parametrize("method", ["reml", "dl", "pm", "fe"])
@pytest.mark.parametrize("hksj", [False, True])
def test_meta_results_are_finite_at_the_edges_of_the_bounds(tmp_path, method, hksj):
    """At the documented bounds every result is finite and the written row holds no nan/inf
    (the bounds are where the computation stays meaningful, not a guess)."""
    from simtrial.stats.meta import EFFECT_MAX, VARIANCE_MAX, VARIANCE_MIN, pool
    import warnings
    grids = [([EFFECT_MAX, -EFFECT_MAX, 0.0], [VARIANCE_MIN, VARIANCE_MIN, VARIANCE_MAX]),
             ([EFFECT_MAX, -EFFECT_MAX], [VARIANCE_MAX, VARIANCE_MAX]),
             ([EFFECT_MAX, EFFECT_MAX * (1 - 1e-15)], [VARIANCE_MIN, VARIANCE_MIN]),
             ([1.0, 1.0, 1.0], [VARIANCE_MIN, VARIANCE_MAX, 1.0])]
    for yi, vi in grids:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = pool(yi, vi, method=method, hksj=hksj)
        d = r.to_dict()
        for k, v in d.items():
            if isinstance(v, float) and k != "z_or_t":
                assert math.isfinite(v), (yi, vi, k, v)
    text = "yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(*grids[0]))
    rc, out, err = _meta(tmp_path, text, "--method", method, *(["--hksj"] if hksj else []),
                         "--write-row", tmp_path / "r.csv", *ROW_ARGS)
    assert rc == 0 and err == "", err
    row = (tmp_path / "r.csv").read_text()
    assert not re.search(r"\b(nan|inf)\b", row, re.I), row


def test_meta_write_row_message_says_the_flag_the_row_has(tmp_path):
    """Was: 'flag REPORTED' printed while the row says DERIVED."""
    rc, out, err = _meta(tmp_path, "md,se\n-0.5,0.2\n-0.9,0.3\n-0.2,0.25\n", "--write-row",
                         tmp_path / "r.csv", *ROW_ARGS)
    assert rc == 0 and err == "", err
    head, line = (tmp_path / "r.csv").read_text().splitlines()
    flag = dict(zip(head.split(","), line.split(",")))["flag"]
    assert flag == "DERIVED"
    assert f"flag {flag}" in out and "REPORTED" not in out


@pytest.mark.parametrize("raw", ["1_0", "0x10", "١٢", "1e", "--1", "1,5"])
def test_meta_number_forms_python_accepts_are_not_numbers(tmp_path, raw):
    """Was: ``1_0`` read as 10 (Python's float() accepts underscores and other digits)."""
    cell = f'"{raw}"' if "," in raw else raw
    rc, _, err = _meta(tmp_path, f"yi,vi\n{cell},1\n2,1\n")
    assert rc == 2 and _one_line(err), err
    assert "line 2: yi = " in err and "must be a finite number" in err, err


def test_meta_control_characters_and_long_fields_are_escaped_and_cut(tmp_path):
    """Was: a study name with an escape sequence, a form feed or 100,000 characters went into
    the message raw (and a form feed split the row in two)."""
    rc, _, err = _meta(tmp_path, "study,yi,vi\n\"A\x1b[2J\x0cB\",x,1\nC,2,1\n")
    assert rc == 2 and _one_line(err), err
    assert 'line 2 (study "A\\x1b[2J\\x0cB"): yi = "x" must be a finite number' in err, err
    rc, _, err = _meta(tmp_path, "study,yi,vi\n" + "S" * 100_000 + ",1,-1\nC,2,1\n")
    assert rc == 2 and _one_line(err) and len(err) < 400, err[:500]
    assert "(100,000 characters)" in err
    rc, _, err = _meta(tmp_path, "study,yi,vi\nA,1,1\nB," + "9" * 100_000 + ",1\n")
    assert rc == 2 and _one_line(err) and len(err) < 400, err[:500]
    rc, _, err = _meta(tmp_path, "yi,vi\n1,abc\n2,1\n", name="n\x1bame.csv")
    assert rc == 2 and _one_line(err) and "n\\x1bame.csv line 2" in err and "\x1b" not in err
    rc, out, err = _meta(tmp_path, "yi,vi,x\x1b\n1,1,1\n2,1,1\n")     # other columns: ignored
    assert rc == 0 and err == "" and "k = 2 studies" in out, err


@pytest.mark.parametrize("text, part", [
    (b"", "is empty"),
    (b"yi,vi\n", "no study rows"),
    (b"# only a comment\n", "is empty"),
    (b"yi,se\n1,1\n", "match none of the accepted column sets"),
    (b"yi,vi,VI\n1,1,1\n2,1,1\n", 'column "VI" appears twice'),
    (b"\xff\xfeyi,vi\n", "is not UTF-8 text"),
    (b"yi,vi\n1,1\n", "k = 1 studies"),
    (b"yi,vi\n\"1,1\n2,1\n", "line 2"),
    (b"yi,vi\n1,1\x00\n2,1\n", 'line 2: vi = "1\\x00" must be a finite number'),
    (b"yi,vi\n1,1\n2," + b"1" * 200_000 + b"\n", "line 3"),
])
def test_meta_csv_problems_are_one_line(tmp_path, text, part):
    rc, out, err = _meta(tmp_path, text)
    assert rc == 2 and _one_line(err) and out == "" and len(err) < 400, err[:500]
    assert part in err, err


def test_meta_bom_is_accepted(tmp_path):
    rc, out, err = _meta(tmp_path, b"\xef\xbb\xbfyi,vi\n1,1\n2,1\n")
    assert rc == 0 and err == "" and "k = 2 studies" in out, err
