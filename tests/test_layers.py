"""The package's dependency graph is one-way: each layer imports only the layers below it, no
import cycle exists, and no private name crosses a module boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "simtrial"

# rank of each layer (a module may import modules of its own rank or lower)
LAYERS = [
    (0, ("errors", "_rng", "_procs", "_memo", "_progress")),
    (1, ("stats",)),
    (2, ("model.presets", "model.outcomes", "model.effects", "model.population",
         "model.evidence", "model.evidence_rows")),
    (3, ("spec", "scenario", "sweep")),
    (4, ("model.stratum", "model.design", "model")),
    (5, ("sim",)),
    (6, ("oc",)),
    (7, ("io",)),
    (8, ("present",)),
    (9, ("cli", "batch", "__main__", "", "app")),
]
HEAVY_OPTIONAL = {"matplotlib", "tqdm", "dask", "distributed", "pyarrow", "playwright",
                  "simpy"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _rank(mod: str) -> int:
    best, rank = -1, None
    for r, prefixes in LAYERS:
        for pre in prefixes:
            if (pre == "" and mod == "") or (pre and (mod == pre or mod.startswith(pre + "."))):
                if len(pre) > best:
                    best, rank = len(pre), r
    assert rank is not None, f"module simtrial.{mod} is in no layer of tests/test_layers.py"
    return rank


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute in-package module names (relative to simtrial) an ImportFrom refers to."""
    if node.level == 0:
        if not (node.module or "").startswith("simtrial"):
            return []
        base = node.module.split(".")[1:]
    else:
        here = mod.split(".") if mod else []
        if not is_pkg:
            here = here[:-1]
        base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
        base = base + (node.module.split(".") if node.module else [])
    name = ".".join(base)
    out = []
    for a in node.names:      # "from . import plots" names a module
        sub = f"{name}.{a.name}" if name else a.name
        out.append(sub if sub in MODULES else name)
    return out


def _edges():
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for target in _resolve(mod, is_pkg, node):
                    yield mod, target, node
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("simtrial."):
                        yield mod, a.name.split(".", 1)[1], node


def test_every_module_sits_in_a_layer():
    for mod in MODULES:
        _rank(mod)


def test_no_module_imports_a_layer_above_it():
    bad = []
    for mod, target, node in _edges():
        if target == "" or mod == "":      # the package itself re-exports the public API
            continue
        if _rank(target) > _rank(mod):
            bad.append(f"simtrial.{mod} (layer {_rank(mod)}) imports simtrial.{target} "
                       f"(layer {_rank(target)}) at line {node.lineno}")
    assert not bad, "\n".join(bad)


def test_import_graph_has_no_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, target, _ in _edges():
        if target in graph and target != mod and target != "" and mod != "":
            graph[mod].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cyc = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(f"simtrial.{x}" for x in cyc))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2
    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_private_name_is_imported_across_modules():
    bad = set()
    for mod, target, node in _edges():
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    bad.add(f"simtrial.{mod} imports {a.name} from simtrial.{target} "
                            f"(line {node.lineno})")
    bad = sorted(bad)
    assert not bad, "\n".join(bad)


def test_function_local_imports_are_only_for_heavy_optional_libraries():
    """An intra-package import inside a function hides the architecture; only heavy optional
    third-party libraries (and the CLI's lazy command modules, for start-up time) may be
    imported late."""
    bad = []
    for mod, path in MODULES.items():
        if mod in ("cli", "batch"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    bad.append(f"simtrial.{mod}:{node.lineno} imports "
                               f"{'.' * node.level}{node.module or ''} inside {fn.name}()")
    assert not bad, "\n".join(bad)
