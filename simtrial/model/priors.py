"""The data behind a ``[bayes]`` prior: historical studies (inline rows or a file) and a pooled
evidence row, read when the design is built so a bad file or row id fails before anything is
simulated or written (the spec layer reads no files)."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ScenarioError, SimtrialError, fmt_value
from ..spec.bayes import BayesConfig
from ..stats.meta import read_studies
from .effects import tau2_from_i2
from .evidence import row_by_id

__all__ = ["study_values", "evidence_prior", "check"]


def study_values(cfg: BayesConfig, origin: str | None) -> tuple[list[float], list[float],
                                                                list[str]]:
    """``(y, se, labels)`` of the MAP studies: the inline rows, or the file (relative to the
    scenario's folder) read by :func:`simtrial.stats.meta.read_studies`."""
    if cfg.studies:
        return ([r.y for r in cfg.studies], [r.se for r in cfg.studies],
                [r.study for r in cfg.studies])
    path = Path(cfg.studies_file)
    if not path.is_absolute() and origin:
        path = Path(origin).parent / path
    try:
        y, v, table = read_studies(path)
    except SimtrialError as exc:
        raise ScenarioError(f"scenario error: bayes.studies_file = {fmt_value(cfg.studies_file)}: "
                            + str(exc).removeprefix("meta error: ")) from None
    return [float(a) for a in y], [math.sqrt(float(b)) for b in v], list(table["study"])


def evidence_prior(cfg: BayesConfig) -> tuple[float, float, float]:
    """``(md, se, tau2)`` of the ``evidence`` row; tau^2 DERIVED from I^2, k and SE
    (:func:`simtrial.model.effects.tau2_from_i2`)."""
    try:
        row = row_by_id(cfg.evidence)
    except SimtrialError as exc:
        msg = str(exc).split(" is not an evidence row id", 1)
        tail = msg[1] if len(msg) > 1 else ""
        raise ScenarioError(f"scenario error: bayes.evidence = {fmt_value(cfg.evidence)} is not an "
                            f"evidence row id{tail}") from None
    missing = [n for n, v in (("I^2", row.i2), ("k", row.k)) if v is None]
    if missing:
        raise ScenarioError(f"scenario error: bayes.evidence = {fmt_value(cfg.evidence)} has no "
                            f"{' or '.join(missing)}, so tau^2 = I^2 k SE^2 cannot be derived; "
                            "use [[bayes.studies]] instead")
    return float(row.md), float(row.se), tau2_from_i2(row.i2, row.k, row.se)


def check(sc) -> None:
    """Read the scenario's ``[bayes]`` studies file or evidence row (one-line ScenarioError)."""
    cfg = sc.bayes
    if cfg is None:
        return
    if cfg.studies_file is not None:
        study_values(cfg, sc.source_path)
    if cfg.evidence is not None:
        evidence_prior(cfg)
