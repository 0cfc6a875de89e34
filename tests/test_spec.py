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
    """simtrial.spec may import only simtrial.errors, the name tables (presets, outcomes) and
    the array-level constants of simtrial.stats (tests/test_layers.py checks every layer)."""
    allowed = {"errors", "presets", "outcomes", "model.presets", "model.outcomes", "stats.mc"}
    for f in SPEC.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                continue                                  # simtrial.spec.<sibling>
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                assert node.module in allowed, f"{f.name} imports simtrial.{node.module}"
            names = [node.module] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
            for n in names:
                if n and n.startswith("simtrial."):
                    assert n[len("simtrial."):] in allowed, f"{f.name} imports {n}"


# --------------------------------------------------------------------------------------------
# `simtrial schema` and the generated key reference
# --------------------------------------------------------------------------------------------

def _schema(capsys) -> dict:
    import json

    from simtrial.cli import main
    assert main(["schema"]) == 0
    return json.loads(capsys.readouterr().out)       # valid JSON (no NaN/Infinity)


def test_schema_is_json_and_lists_every_section(capsys):
    from simtrial.scenario import TOP_KEYS
    s = _schema(capsys)
    assert set(s["properties"]) == set(TOP_KEYS)
    assert s["required"] == ["population", "endpoint", "effect", "design"]
    assert s["additionalProperties"] is False
    design = s["$defs"]["DesignConfig"]["properties"]
    assert design["alpha"]["minimum"] == 1e-6 and design["alpha"]["exclusiveMaximum"] == 0.5
    assert design["sides"]["enum"] == [2, 1]
    assert "hba1c" in s["$defs"]["PopulationConfig"]["properties"]
    assert "looks" in s["$defs"]["SequentialConfig"]["properties"]


def test_schema_out_file(tmp_path, capsys):
    import json

    from simtrial.cli import main
    out = tmp_path / "scenario.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert json.loads(out.read_text()) == _schema(capsys)


def _shipped_tables():
    """Every shipped scenario file as written, and every design point of a sweep file."""
    import tomllib

    from simtrial.sweep import load_points
    for path in SHIPPED:
        data = tomllib.loads(path.read_text())
        points = load_points(path)
        if points[0].values:                       # a sweep file: its design points
            for p in points:
                yield f"{path.stem}:{p.id}", p.scenario.to_dict()
        else:
            yield path.stem, data
            yield f"{path.stem}:to_dict", points[0].scenario.to_dict()


def test_every_shipped_scenario_validates_against_the_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    s = _schema(capsys)
    jsonschema.Draft202012Validator.check_schema(s)
    v = jsonschema.Draft202012Validator(s)
    for name, data in _shipped_tables():
        errors = [f"{list(e.path)}: {e.message}" for e in v.iter_errors(data)]
        assert not errors, (name, errors[:3])
    bad = {**minimal(), "design": {"n_per_am": 20}}
    assert list(v.iter_errors(bad))                 # and it does reject an unknown key


def test_key_reference_is_generated_from_the_declarations():
    from simtrial.spec.docs import DOC_PATH, key_reference
    assert DOC_PATH.read_text(encoding="utf-8") == key_reference(), (
        "docs/scenario-keys.md is out of date: run python -m simtrial.spec.docs")


def test_key_reference_lists_every_key():
    from simtrial.spec.docs import key_reference
    from simtrial.scenario import DesignConfig, EffectConfig, EndpointConfig
    text = key_reference()
    for prefix, cls in (("design", DesignConfig), ("effect", EffectConfig),
                        ("endpoint", EndpointConfig)):
        for k in cls.__pydantic_fields__:
            assert f"`{prefix}.{k}`" in text
    assert "`conduct.manufacturing.batch_capacity`" in text and "`sequential.looks`" in text


def test_building_a_section_in_python_does_not_validate():
    """Downstream code builds sections from validated values (trial.group_sizes:
    ``sc.design.__class__(n, ratio).n_msc(n)``, with numpy integers and sizes that the TOML
    rules would refuse), as with the plain frozen dataclasses before."""
    import dataclasses

    import numpy as np

    from simtrial.scenario import ArmConfig, DesignConfig
    d = DesignConfig(np.int64(2), 0.5)
    assert d.n_msc(2) == 1 and d.max_n_per_arm == 2000 and d.target_power == (0.8, 0.9)
    sc = parse_scenario(minimal())
    assert dataclasses.replace(sc.design, n_per_arm=np.int64(3)).n_per_arm == 3
    assert sc.msc_arms == (ArmConfig("MSC", 1.0, 1.0),)
    with pytest.raises(TypeError, match="missing required argument 'n_per_arm'"):
        DesignConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.alpha = 0.1
