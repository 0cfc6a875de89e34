"""The run folder: read and check ``manifest.json`` and ``results.csv``, and the helpers that
read numbers back out of ``results.csv``."""

from __future__ import annotations

import json
import math
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
           "load_run", "fmt", "sig_text", "design_value", "close_enough", "mismatch_error",
           "known_tables", "round_frame"]

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


_NEEDED = ("simtrial_version", "evidence_version", "scenario_hash", "scenario", "seed", "n_trials")


def load_run(output_dir: str | Path) -> RunFolder:
    """Read and check a folder written by ``simtrial run``.

    Raises
    ------
    SimtrialError
        One line naming the folder and what is wrong: not a folder, no or invalid
        ``manifest.json``, no or invalid ``results.csv``, a scenario that no longer validates,
        a scenario hash that does not match the scenario, or an evidence table version other
        than the installed one.
    """
    p = Path(output_dir)
    hint = "(give the folder `simtrial run` wrote, e.g. outputs/t1d_hba1c_12m)"
    if not p.is_dir():
        what = "does not exist" if not p.exists() else "is not a folder"
        raise report_error(f"OUTPUT_DIR = {str(p)!r} {what} {hint}")
    mpath = p / "manifest.json"
    if not mpath.is_file():
        raise report_error(f"OUTPUT_DIR = {str(p)!r} is not a run folder: manifest.json is missing {hint}")
    try:
        man = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise report_error(f"{str(mpath)!r} is not valid JSON ({str(exc).splitlines()[0]}); re-run "
                   "`simtrial run`") from None
    if not isinstance(man, dict):
        raise report_error(f"{str(mpath)!r} must hold a JSON object, not {type(man).__name__}")
    missing = [k for k in _NEEDED if k not in man]
    if missing:
        raise report_error(f"{str(mpath)!r} lacks {', '.join(missing)}; it was not written by "
                   "`simtrial run`")
    try:
        sc = parse_scenario(from_json(man["scenario"]), origin=man.get("scenario_file"))
    except SimtrialError as exc:
        raise report_error(f"manifest.json scenario no longer validates: {exc}") from None
    if sc.hash() != man["scenario_hash"]:
        raise report_error(f"manifest.json scenario_hash = {str(man['scenario_hash'])[:12]!r}... does not "
                   f"match its scenario (hash {sc.hash()[:12]}...); the manifest was edited or "
                   "written by another version; re-run `simtrial run`")
    ev = evidence.evidence_version()
    if man["evidence_version"] != ev:
        raise report_error(f"manifest.json evidence_version = {man['evidence_version']!r} differs from the "
                   f"installed evidence table {ev!r}; re-run `simtrial run` to report on it")
    rpath = p / "results.csv"
    if not rpath.is_file():
        raise report_error(f"OUTPUT_DIR = {str(p)!r} is not a complete run folder: results.csv is missing")
    try:
        res = pd.read_csv(rpath)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise report_error(f"{str(rpath)!r} cannot be read ({str(exc).splitlines()[0]})") from None
    need = {"table", "metric", "estimate", "mc_se", "design_point"}
    if not need <= set(res.columns) or res.empty:
        raise report_error(f"{str(rpath)!r} lacks the columns {sorted(need - set(res.columns))} or rows; "
                   "it was not written by `simtrial run`")
    return RunFolder(p, man, res, sc)



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
    return {"design", "power_curve", "sample_size"}


def round_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [float(f"{v:.4g}") if pd.notna(v) else v for v in out[c]]
    return out
