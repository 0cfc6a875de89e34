"""Tests for simtrial.spec: rules that used to fail late (internal errors) are now one-line
scenario errors, the declarations drive serialisation, and the package imports nothing downstream.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from simtrial.errors import ScenarioError
from simtrial.scenario import load_scenario, parse_scenario
from tests.test_scenario import SHIPPED, minimal, mutate

E = re.escape
SPEC = Path(__file__).resolve().parents[1] / "simtrial" / "spec"


def test_at_most_eight_msc_arms():
    arms = [{"name": f"dose{i}", "ratio": 1.0} for i in range(9)]
    with pytest.raises(ScenarioError, match=E("scenario error: arms has 9 [[arms]] tables; at most "
                                              "8 MSC arms are supported (remove 1 of them)")):
        parse_scenario({**minimal(), "arms": arms})
    assert len(parse_scenario({**minimal(), "arms": arms[:8]}).arms) == 8


@pytest.mark.parametrize("analysis", ["mmrm", "mi"])
def test_mmrm_and_mi_model_at_most_16_visits(analysis):
    data = mutate("design.visits", list(range(1, 21)),
                  base=mutate("endpoint.analysis", analysis))
    with pytest.raises(ScenarioError, match=E(f'scenario error: endpoint.analysis = "{analysis}" '
                                              "models every scheduled visit: at most 16 (there "
                                              "are 20")):
        parse_scenario(data)
    parse_scenario(mutate("design.visits", list(range(1, 17)),
                          base=mutate("endpoint.analysis", analysis)))


def test_visits_element_error_names_the_element():
    with pytest.raises(ScenarioError, match=E("scenario error: design.visits[1] = 0.5 must be an "
                                              "integer (e.g. visits = [3, 6, 12])")):
        parse_scenario(mutate("design.visits", [3, 0.5]))


def test_integral_float_accepted_as_integer():
    sc = parse_scenario(mutate("design.n_per_arm", 40.0))
    assert sc.design.n_per_arm == 40 and isinstance(sc.design.n_per_arm, int)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_round_trip_through_to_dict(path):
    from simtrial.sweep import load_points
    points = load_points(path)
    sc = points[0].scenario if points[0].values else load_scenario(path)
    again = parse_scenario(sc.to_dict(), origin=sc.source_path)
    assert again == sc and again.hash() == sc.hash()


def test_spec_imports_nothing_downstream():
    allowed = {"errors", "presets", "outcomes", "spec"}
    for f in SPEC.glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                mod = (node.module or "").split(".")[0]
                if node.level == 1:
                    continue                      # simtrial.spec.<sibling>
                assert mod in allowed, f"{f.name} imports simtrial.{mod}"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("simtrial."):
                assert node.module.split(".")[1] in allowed, f"{f.name} imports {node.module}"
