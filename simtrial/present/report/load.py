"""The run folder: read and check ``manifest.json`` and ``results.csv``, and the helpers that
read numbers back out of ``results.csv``.

A run folder is input like a scenario file: it may have been edited, truncated, copied from
elsewhere or made by hand, so every value the report reads is checked here, with the house's
one-line messages (file, field or line, value, rule), before anything is simulated or drawn.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd

from ... import __version__
from ...errors import SimtrialError
from ...model import evidence
from ...scenario import parse_scenario

__all__ = ["REPORT_FILE", "MAX_PATIENTS_SHOWN", "report_error", "from_json", "RunFolder",
           "load_run", "show", "RESULT_COLUMNS", "PROBABILITY_METRICS", "SAMPLE_SIZE_METRICS",
           "MAX_MANIFEST_BYTES", "MAX_RESULTS_BYTES", "MAX_JSON_DEPTH", "fmt", "sig_text",
           "design_value", "close_enough", "mismatch_error", "known_tables", "round_frame"]

REPORT_FILE = "report.html"
"""File name of the report in the run folder."""
MAX_PATIENTS_SHOWN = 30
"""Individual trajectories drawn per arm (the arm means use every patient)."""


# ---------------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------------

def report_error(msg: str) -> SimtrialError:
    return SimtrialError(f"report error: {msg}")


def from_json(obj: Any) -> Any:
    """Undo :func:`simtrial.outputs.to_jsonable` for infinities ("inf" -> inf)."""
    if isinstance(obj, dict):
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if obj == "inf":
        return math.inf
    if obj == "-inf":
        return -math.inf
    return obj


@dataclass(frozen=True)
class RunFolder:
    """A validated run folder.

    Attributes
    ----------
    path : Path
    manifest : dict
        ``manifest.json`` as written.
    results : pandas.DataFrame
        ``results.csv``.
    scenario : Scenario
        Rebuilt from the manifest; its hash equals ``manifest["scenario_hash"]``.
    """

    path: Path
    manifest: dict
    results: pd.DataFrame
    scenario: Any

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def n_trials(self) -> int:
        return int(self.manifest["n_trials"])


MAX_MANIFEST_BYTES = 16 * 2 ** 20
"""Largest ``manifest.json`` read (a run writes some 10 kB; the cap keeps a tampered or
mistaken file from filling memory)."""
MAX_RESULTS_BYTES = 64 * 2 ** 20
"""Largest ``results.csv`` read (a run writes some 10 kB, a long power curve a few MB)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in ``manifest.json`` (a run writes about 6)."""


def show(value: Any, limit: int = 60) -> str:
    """A value read from a run folder, for a message: one line whatever it holds.

    Strings are quoted and escaped as Python does (``repr``: control characters, line and
    paragraph separators become ``\\n``, ``\\x1b``, ``\\u2028`` ...), JSON's null, true and
    false are written as such, and anything longer than ``limit`` characters is cut with an
    ellipsis and its length.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10 ** 30:
        return f"<an integer with {len(str(abs(value)))} digits>"
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{repr(value[:limit])[:-1]}...' ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _label(text: str, limit: int = 40) -> str:
    """A table or metric name inside a message: escaped like :func:`show`, without quotes."""
    cut = repr(text[:limit])[1:-1]
    return cut + ("..." if len(text) > limit else "")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _list_of_str(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


_VERSION = re.compile(r"[0-9]+\.[0-9]+[0-9A-Za-z.+-]{0,60}")
_HASH = re.compile(r"[0-9a-f]{64}")

_MANIFEST_RULES: dict[str, tuple[Any, str]] = {
    "simtrial_version": (lambda v: isinstance(v, str) and _VERSION.fullmatch(v),
                         'must be a version string (e.g. "0.2.0")'),
    "evidence_version": (lambda v: isinstance(v, str) and 0 < len(v) <= 200,
                         'must be the evidence table version string (e.g. "kashbour2025-v1+...")'),
    "scenario_name": (lambda v: isinstance(v, str) and v != "",
                      "must be the scenario's name (a string)"),
    "scenario_file": (lambda v: v is None or isinstance(v, str),
                      "must be the path of the scenario file (a string) or null"),
    "scenario_hash": (lambda v: isinstance(v, str) and _HASH.fullmatch(v),
                      "must be 64 lowercase hexadecimal digits (the SHA-256 of the scenario)"),
    "scenario": (lambda v: isinstance(v, dict), "must be an object (the resolved scenario)"),
    "seed": (lambda v: _is_int(v) and 0 <= v <= 2 ** 63 - 1,
             "must be an integer in [0, 2^63 - 1] (the run's seed, e.g. 20261122)"),
    "n_trials": (lambda v: _is_int(v) and 1 <= v <= 100_000_000,
                 "must be an integer in [1, 100000000] (replicate trials per N)"),
    "rng": (lambda v: isinstance(v, str), "must be a string (the random streams)"),
    "created_utc": (lambda v: isinstance(v, str),
                    'must be a string (e.g. "2026-01-31T12:00:00+00:00")'),
    "command": (_list_of_str, 'must be an array of strings (e.g. ["simtrial", "run", "s.toml"])'),
    "platform": (lambda v: isinstance(v, dict), 'must be an object (e.g. {"python": "3.11.7"})'),
    "timings_s": (lambda v: isinstance(v, dict), 'must be an object (e.g. {"total": 1.5})'),
    "files": (_list_of_str, 'must be an array of file names (e.g. ["results.csv"])'),
}
"""What the report needs of ``manifest.json``: every key ``simtrial run`` writes that the report
reads or shows, with its rule (keys it does not read, such as ``model`` or ``design``, are shown
in the full manifest only and may hold anything)."""

_NEEDED = tuple(_MANIFEST_RULES)

RESULT_COLUMNS = ("table", "design_point", "n_per_arm", "hypothesis", "arm", "visit", "metric",
                  "estimate", "mc_se")
"""Columns of ``results.csv`` the report reads."""
_NUMERIC_COLUMNS = ("estimate", "mc_se", "n_per_arm", "q10", "q90")
PROBABILITY_METRICS = frozenset({
    "power", "power_ci_low", "power_ci_high", "power_unadjusted", "assurance",
    "assurance_ci_low", "assurance_ci_high", "analytic_power", "analytic_assurance", "success",
    "all_success", "any_success", "conjunctive_power", "disjunctive_power", "fwer",
    "exact_size", "not_fitted", "stop_efficacy", "stop_futility", "screen_fail",
    "insulin_independence", "responder_rate", "responder_fraction", "power_at_sample_size",
    "assurance_at_sample_size"})
"""Metrics of ``results.csv`` that are probabilities: estimate in [0, 1], MC SE at most 0.5
(the SD of a 0/1 outcome is at most 0.5, so the SE of its mean is too)."""
SAMPLE_SIZE_METRICS = frozenset({"sample_size", "analytic_sample_size", "searched_max"})
"""Metrics of the ``sample_size`` table that are patients per arm (whole numbers)."""
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?inf")
_TARGET = re.compile(r"target_(?:power|assurance)=([0-9.eE+-]+)")


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(obj: Any) -> int:
    """Deepest nesting of lists and dicts (iterative: a deep value cannot exhaust the stack)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (list, dict)):
            deepest = max(deepest, d)
            if d > MAX_JSON_DEPTH:
                return d
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def _run_file(folder: Path, name: str, limit: int, hint: str) -> bytes:
    """The bytes of a file of the run folder, refusing links, non-files and oversized files.

    A symbolic link is not followed: the report describes what is in the folder, and a link
    could point anywhere (the refusal is the same whether its target is inside or not, so the
    rule is simple to state).
    """
    p = folder / name
    if p.is_symlink():
        raise report_error(f"{str(p)!r} is a symbolic link (to {os.readlink(p)!r}); the report "
                           f"reads only files inside the run folder, not links {hint}")
    if not p.exists():
        what = ("is not a run folder: manifest.json is missing" if name == "manifest.json"
                else f"is not a complete run folder: {name} is missing")
        raise report_error(f"OUTPUT_DIR = {str(folder)!r} {what} {hint}")
    if not p.is_file():
        raise report_error(f"{str(p)!r} is not a file {hint}")
    try:
        size = p.stat().st_size
        if size > limit:
            raise report_error(f"{str(p)!r} is {size:,} bytes; at most {limit:,} are read (a run "
                               f"writes far less) {hint}")
        return p.read_bytes()
    except OSError as exc:
        raise report_error(f"{str(p)!r} cannot be read ({exc.strerror or exc})") from None


def _decode(data: bytes, p: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise report_error(f"{str(p)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}); re-run `simtrial run`") from None


def _read_manifest(folder: Path, hint: str) -> dict:
    mpath = folder / "manifest.json"
    text = _decode(_run_file(folder, "manifest.json", MAX_MANIFEST_BYTES, hint), mpath)
    try:
        man = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise report_error(f"{str(mpath)!r} has the key {show(exc.args[0])} twice; it was not "
                           "written by `simtrial run`") from None
    except RecursionError:
        raise report_error(f"{str(mpath)!r} is nested too deeply to be a manifest; re-run "
                           "`simtrial run`") from None
    except ValueError as exc:       # json.JSONDecodeError, NaN / Infinity
        raise report_error(f"{str(mpath)!r} is not valid JSON ({str(exc).splitlines()[0]}); re-run "
                           "`simtrial run`") from None
    if not isinstance(man, dict):
        raise report_error(f"{str(mpath)!r} must hold a JSON object, not "
                           f"{'null' if man is None else type(man).__name__}")
    if _depth(man) > MAX_JSON_DEPTH:
        raise report_error(f"{str(mpath)!r} nests arrays or objects more than {MAX_JSON_DEPTH} "
                           "deep; it was not written by `simtrial run`")
    missing = [k for k in _NEEDED if k not in man]
    if missing:
        raise report_error(f"{str(mpath)!r} lacks {', '.join(missing)}; it was not written by "
                           "`simtrial run`")
    for key, (ok, rule) in _MANIFEST_RULES.items():
        if not ok(man[key]):
            raise report_error(f"manifest.json {key} = {show(man[key])} {rule}; re-run "
                               "`simtrial run`")
    return man


def load_run(output_dir: str | Path) -> RunFolder:
    """Read and check a folder written by ``simtrial run``.

    Every value the report reads is checked here, before anything is simulated or drawn: a
    tampered or damaged folder gets one line naming the file, the field (and line), the value
    and what is allowed, never an internal error later on.

    Raises
    ------
    SimtrialError
        One line naming the folder and what is wrong: not a folder; no ``manifest.json`` or
        ``results.csv``, or one that is a symbolic link, not a file, too large, not UTF-8;
        a manifest that is not one JSON object (invalid JSON, NaN, a duplicate key, nested too
        deeply), lacks a key the report needs or holds a value of the wrong type or range
        (:data:`_MANIFEST_RULES`); a scenario that no longer validates, whose hash, name, seed
        or number of trials does not match (a tampered ``n_trials`` would otherwise make the
        re-simulation run for hours before it could disagree), or an evidence table version
        other than the installed one; a
        ``results.csv`` that does not parse, lacks a column of :data:`RESULT_COLUMNS`, has a
        duplicate column, a row of the wrong length, or a cell that breaks its rule (see
        :func:`_check_results`).
    """
    p = Path(output_dir)
    hint = "(give the folder `simtrial run` wrote, e.g. outputs/t1d_hba1c_12m)"
    if not p.is_dir():
        what = "does not exist" if not p.exists() else "is not a folder"
        raise report_error(f"OUTPUT_DIR = {str(p)!r} {what} {hint}")
    man = _read_manifest(p, hint)
    try:
        sc = parse_scenario(from_json(man["scenario"]), origin=man["scenario_file"])
    except SimtrialError as exc:
        raise report_error(f"manifest.json scenario no longer validates: {exc}") from None
    if sc.hash() != man["scenario_hash"]:
        raise report_error(f"manifest.json scenario_hash = {man['scenario_hash'][:12]!r}... does "
                           f"not match its scenario (hash {sc.hash()[:12]}...); the manifest was "
                           "edited or written by another version; re-run `simtrial run`")
    for key in ("seed", "n_trials"):    # `simtrial run` and `batch` write the scenario's own
        if man[key] != getattr(sc, key):
            raise report_error(f"manifest.json {key} = {show(man[key])} differs from its "
                               f"scenario's {key} = {getattr(sc, key)}; the manifest was edited; "
                               "re-run `simtrial run`")
    if man["scenario_name"] != sc.name:
        raise report_error(f"manifest.json scenario_name = {show(man['scenario_name'])} differs "
                           f"from the name of its scenario, {show(sc.name)}; re-run "
                           "`simtrial run`")
    ev = evidence.evidence_version()
    if man["evidence_version"] != ev:
        raise report_error(f"manifest.json evidence_version = {show(man['evidence_version'])} "
                           f"differs from the installed evidence table {ev!r}; re-run "
                           "`simtrial run` to report on it")
    rpath = p / "results.csv"
    text = _decode(_run_file(p, "results.csv", MAX_RESULTS_BYTES, hint), rpath)
    res = _check_results(text, rpath, sc.design.max_n_per_arm)
    return RunFolder(p, man, res, sc)


def _check_results(text: str, rpath: Path, max_n: int) -> pd.DataFrame:
    """Parse ``results.csv`` and check every cell the report reads; return it as a frame.

    The text is walked with :mod:`csv` first, so each message can name the file line: every
    row has the header's number of fields; ``table`` and ``metric`` are not empty; ``estimate``,
    ``mc_se``, ``n_per_arm`` (and ``q10``, ``q90`` when present) are empty (no value) or plain
    decimal numbers (``1_0``, ``0x10``, ``nan`` are not; ``inf`` only as an estimate, e.g. an
    efficacy bound where no alpha is spent); ``mc_se`` is finite and >= 0; ``n_per_arm`` is a
    whole number in [1, design.max_n_per_arm]; a probability metric
    (:data:`PROBABILITY_METRICS`) lies in [0, 1] with an MC SE <= 0.5; a ``sample_size`` row
    has a ``design_point`` ``target_<power|assurance>=<level>`` and, for
    :data:`SAMPLE_SIZE_METRICS`, a whole number of patients in [1, design.max_n_per_arm] and no
    MC SE. Only
    then is the text read by pandas (the frame the report has always used).
    """
    name = "results.csv"
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise report_error(f"{str(rpath)!r} is empty; it was not written by `simtrial run`")
        seen: dict[str, int] = {}
        for j, h in enumerate(header):
            if h in seen:
                raise report_error(f"{name} header: column {show(h)} appears twice; it was not "
                                   "written by `simtrial run`")
            seen[h] = j
        missing = [c for c in RESULT_COLUMNS if c not in seen]
        if missing:
            raise report_error(f"{str(rpath)!r} lacks the columns {missing}; it was not written by "
                               "`simtrial run`")
        numeric = [c for c in _NUMERIC_COLUMNS if c in seen]
        rows, end = 0, reader.line_num
        for rec in reader:
            line, end = end + 1, reader.line_num
            if not rec:
                continue
            if len(rec) != len(header):
                raise report_error(f"{name} line {line} has {len(rec)} fields but the header has "
                                   f"{len(header)}; the file is damaged or truncated")
            _check_row(rec, seen, numeric, f"{name} line {line}", max_n)
            rows += 1
    except csv.Error as exc:
        raise report_error(f"{name} line {reader.line_num} cannot be parsed as CSV "
                           f"({exc})") from None
    if rows == 0:
        raise report_error(f"{str(rpath)!r} has a header but no rows; it was not written by "
                           "`simtrial run`")
    try:
        res = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise report_error(f"{str(rpath)!r} cannot be read ({str(exc).splitlines()[0]})") from None
    if len(res) != rows:
        raise report_error(f"{str(rpath)!r} has {rows} rows but reads as {len(res)}; the file is "
                           "damaged")
    return res


def _check_row(rec: list[str], col: dict[str, int], numeric: list[str], where: str,
               max_n: int) -> None:
    """One row of results.csv (see :func:`_check_results`)."""
    table, metric = rec[col["table"]], rec[col["metric"]]
    for c, v, eg in (("table", table, "design"), ("metric", metric, "power")):
        if not v.strip():
            raise report_error(f"{where}: {c} is empty; it must name the {c} (e.g. {eg})")
    where = f"{where} ({_label(table)} {_label(metric)})"
    vals: dict[str, float | None] = {}
    for c in numeric:
        raw = rec[col[c]].strip()
        if raw == "":
            vals[c] = None
            continue
        if not _NUMBER.fullmatch(raw):
            raise report_error(f"{where}: {c} = {show(raw)} must be a number (e.g. 0.8) or empty")
        x = float(raw)
        if math.isinf(x) and "inf" not in raw:
            raise report_error(f"{where}: {c} = {show(raw)} is beyond the range of a "
                               "floating-point number")
        if math.isinf(x) and c != "estimate":
            raise report_error(f"{where}: {c} = {show(raw)} must be a finite number or empty")
        vals[c] = x
    mc = vals.get("mc_se")
    if mc is not None and mc < 0:
        raise report_error(f"{where}: mc_se = {show(rec[col['mc_se']])} must be >= 0 (a Monte "
                           "Carlo SE) or empty")
    n = vals.get("n_per_arm")
    if n is not None and not (n == int(n) and 1 <= n <= max_n):
        raise report_error(f"{where}: n_per_arm = {show(rec[col['n_per_arm']])} must be a whole "
                           f"number in [1, {max_n}] (design.max_n_per_arm) or empty")
    est = vals.get("estimate")
    if metric in PROBABILITY_METRICS:
        if est is not None and not 0.0 <= est <= 1.0:
            raise report_error(f"{where}: estimate = {show(rec[col['estimate']])} must be a "
                               "probability in [0, 1] or empty")
        if mc is not None and mc > 0.5:
            raise report_error(f"{where}: mc_se = {show(rec[col['mc_se']])} must be <= 0.5 (the MC "
                               "SE of a probability) or empty")
    if table == "sample_size":
        dp = rec[col["design_point"]]
        m = _TARGET.fullmatch(dp)
        if not (m and _NUMBER.fullmatch(m.group(1)) and 0.0 < float(m.group(1)) < 1.0):
            raise report_error(f"{where}: design_point = {show(dp)} must be "
                               "target_<power|assurance>=<level> (e.g. target_power=0.8)")
        if metric in SAMPLE_SIZE_METRICS and est is not None and not (
                math.isfinite(est) and est == int(est) and 1 <= est <= max_n):
            raise report_error(f"{where}: estimate = {show(rec[col['estimate']])} must be a whole "
                               f"number of patients in [1, {max_n}] (design.max_n_per_arm) or "
                               "empty")
        if metric in SAMPLE_SIZE_METRICS and mc is not None:
            raise report_error(f"{where}: mc_se = {show(rec[col['mc_se']])} must be empty (a "
                               "sample size found by the search has no Monte Carlo SE)")


def fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            return "" if math.isnan(float(x)) else ("inf" if x > 0 else "-inf")
        return f"{float(x):.{digits}g}"
    if isinstance(x, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in x)
    return str(x)



# ---------------------------------------------------------------------------------------------
# helpers on results.csv
# ---------------------------------------------------------------------------------------------

def sig_text(x: float, se: float | None = None) -> str:
    s = fmt(x)
    if se is not None and isinstance(se, float) and math.isfinite(se):
        s += f" (MC SE {fmt(se, 2)})"
    return s


def design_value(res: pd.DataFrame, metric: str, **where) -> tuple[float, float]:
    d = res[(res["table"] == "design") & (res["metric"] == metric)]
    for k, v in where.items():
        d = d[d[k].astype(str) == str(v)]
    if d.empty:
        return math.nan, math.nan
    r = d.iloc[0]
    return float(r["estimate"]), float(r["mc_se"]) if pd.notna(r["mc_se"]) else math.nan


def close_enough(a: float, b: float) -> bool:
    """Equal to the precision results.csv stores (10 significant digits)."""
    if math.isnan(a) and math.isnan(b):
        return True
    return abs(a - b) <= 1e-8 * max(1.0, abs(a), abs(b))


def mismatch_error(run: RunFolder, what: str, stored: float, again: float) -> SimtrialError:
    made = run.manifest.get("simtrial_version")
    why = (f"the run was made with simtrial {made}, this is {__version__}" if made != __version__
           else "results.csv or manifest.json was changed after the run")
    return report_error(f"results.csv {what} = {stored:.10g} but re-simulating the manifest's scenario "
                f"(seed {run.seed}, {run.n_trials} trials) gives {again:.10g}: {why}; re-run "
                "`simtrial run`")


def known_tables() -> set[str]:
    return {"design", "bayes", "adaptive", "power_curve", "sample_size"}


def round_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [float(f"{v:.4g}") if pd.notna(v) else v for v in out[c]]
    return out
