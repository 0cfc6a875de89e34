"""Shared builders for tests."""

from __future__ import annotations

import copy
import math

from simtrial.model.stratum import build_model
from simtrial.scenario import parse_scenario

BASE = {
    "name": "test", "seed": 12345, "n_trials": 2000,
    "population": {"preset": "t1d"},
    "endpoint": {"outcome": "hba1c", "visit_months": 12, "analysis": "ancova"},
    "effect": {"source": "fixed", "md": -0.5},
    "design": {"n_per_arm": 30},
}


def scenario(**changes):
    """BASE with dotted-key changes, e.g. scenario(**{"design.n_per_arm": 40})."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return parse_scenario(data)


def model(**changes):
    """Built model of :func:`scenario`."""
    return build_model(scenario(**changes))


def binom_tol(p: float, n: int, k: float = 3.0) -> float:
    """k Monte Carlo standard errors of a proportion p estimated from n trials."""
    return k * math.sqrt(max(p * (1 - p), 1e-12) / n)
