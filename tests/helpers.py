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


def changed(base: dict, **changes) -> dict:
    """A deep copy of ``base`` with dotted-key changes (``None`` removes the key)."""
    data = copy.deepcopy(base)
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return data


def scenario(**changes):
    """BASE with dotted-key changes, e.g. scenario(**{"design.n_per_arm": 40})."""
    return parse_scenario(changed(BASE, **changes))


def model(**changes):
    """Built model of :func:`scenario`."""
    return build_model(scenario(**changes))


def binom_tol(p: float, n: int, k: float = 3.0) -> float:
    """k Monte Carlo standard errors of a proportion p estimated from n trials."""
    return k * math.sqrt(max(p * (1 - p), 1e-12) / n)


def run_refused(tmp_path, capsys, shipped, edit: tuple[str, str], message: str) -> None:
    """``simtrial run`` on the shipped file ``shipped`` with ``edit = (old, new)`` applied
    exits 2 with exactly the one line ``message`` on stderr, nothing on stdout, and no output
    folder."""
    from simtrial.cli import main
    old, new = edit
    text = open(shipped).read()
    assert old in text, old
    p = tmp_path / "s.toml"
    p.write_text(text.replace(old, new))
    rc = main(["run", str(p), "--out", str(tmp_path / "o"), "--n-trials", "200"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [message]
    assert not (tmp_path / "o").exists()


def assert_scenario_error(build, message: str) -> None:
    """``build()`` raises a one-line ScenarioError ("scenario error: ...") containing
    ``message``."""
    import pytest
    from simtrial.errors import ScenarioError
    with pytest.raises(ScenarioError) as e:
        build()
    text = str(e.value)
    assert text.startswith("scenario error: ") and "\n" not in text
    assert message in text, text


def assert_same_arrays(ref: dict, got: dict, atol: float) -> None:
    """Every per-trial array of ``ref`` equals ``got``'s: booleans and integers (decisions,
    sizes) exactly, floats within ``atol``."""
    import numpy as np
    for k, x in ref.items():
        y = got[k]
        if x.dtype.kind in "bi":
            assert np.array_equal(x, y), k
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=k)
