"""Contract of the committed notebooks: output-free, typed and documented parameters."""
from __future__ import annotations

import nbformat
import papermill as pm
import pytest

from driftlib.config import NOTEBOOKS
from driftlib.workbench.runner import REQUIRED_PARAMETERS
from tests.conftest import ROOT

PATHS = [ROOT / "driftlib" / "notebooks" / f"{name}.ipynb" for name in NOTEBOOKS]


@pytest.mark.parametrize("path", PATHS, ids=NOTEBOOKS)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", PATHS, ids=NOTEBOOKS)
def test_parameters_are_typed_and_documented(path):
    declared = pm.inspect_notebook(str(path))
    for name in REQUIRED_PARAMETERS:
        assert name in declared, f"{path.name} lacks parameter {name}"
    for name, spec in declared.items():
        assert spec["inferred_type_name"] not in ("None", "Unknown type"), f"{name} has no type"
        assert spec["help"].strip(), f"{name} has no help comment"


@pytest.mark.parametrize("path", PATHS, ids=NOTEBOOKS)
def test_parameters_cell_first_and_story_told(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 2
    assert any("save_result" in c.source for c in code), "the notebook must hand its result to the runner"
