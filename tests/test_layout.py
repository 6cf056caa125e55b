"""The package's shape is a contract too: saved models keep loading, and no import cycle creeps back."""
from __future__ import annotations

import ast
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

PKG = Path(__file__).resolve().parents[1] / "driftlib"
DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name", ["legacy_retrain_as_str.joblib", "legacy_estimators_as_str.joblib"])
def test_models_pickled_under_old_module_paths_still_load(name):
    """Pickles name functions by module path: moving `as_str` without a shim breaks every saved model."""
    model = joblib.load(DATA / name)
    out = model.transform(pd.DataFrame({"c": [1, "a", None]}))
    assert list(np.asarray(out).ravel()[:2]) == ["1", "a"]


def _module_imports(path: Path) -> set[str]:
    """Top-level (eager) driftlib imports of one module: lazy imports inside functions do not cycle."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("driftlib"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("driftlib"))
    return found


def _all_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("driftlib"):
            found.add(node.module)
    return found


def _name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycle_between_subpackages():
    """Subpackage graph (lazy imports included) is acyclic, apart from the CLI which imports everything."""
    graph: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        name = _name(path)
        pkg = name.split(".")[1] if "." in name else name
        deps = {m.split(".")[1] for m in _all_imports(path) if m.count(".") >= 1}
        graph.setdefault(pkg, set()).update(d for d in deps if d != pkg)
    graph.pop("cli", None)
    for deps in graph.values():
        deps.discard("cli")
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        if node in seen:
            return
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            visit(dep)
        stack.pop()
        seen.add(node)

    for node in sorted(graph):
        visit(node)


def test_data_layer_does_not_need_the_model_registry():
    for path in (PKG / "data").rglob("*.py"):
        assert not any(m.startswith("driftlib.models") for m in _all_imports(path)), path


def test_metric_catalogue_is_importable_where_the_design_contract_says():
    """DESIGN.md: 'one catalogue in driftlib.metrics' — the move into monitoring/ must not break it."""
    from driftlib import metrics
    from driftlib.monitoring import textfile

    assert metrics.CATALOGUE is textfile.CATALOGUE and "driftlib_dataset_drift" in metrics.CATALOGUE
    assert metrics.write_run_metrics is textfile.write_run_metrics
