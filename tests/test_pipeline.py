"""The runner end to end through papermill, and its failure paths."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from typer.testing import CliRunner

from driftlib.cli import app
from driftlib.config import NOTEBOOKS, load_params
from driftlib.workbench.runner import RunLocked, run_pipeline, run_lock
from tests.conftest import train_model, write_params

PARAMS_CELL = ('params_file: str = ""  # params YAML\nrun_date: str = ""  # run date\n'
               'output_dir: str = ""  # output folder\n')


def _fake_notebook(path, body: str) -> None:
    nb = new_notebook(cells=[new_markdown_cell("# Fake"), new_code_cell(PARAMS_CELL), new_code_cell(body)])
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


SAVE = "from driftlib.workbench import results\nresults.save_result(output_dir, '{name}', {{'headline': 'fine'}})"


def _fake_project(tmp_path, failing: dict[str, str], **run) -> object:
    folder = tmp_path / "nbs"
    folder.mkdir()
    for name in NOTEBOOKS:
        _fake_notebook(folder / f"{name}.ipynb", failing.get(name, SAVE.format(name=name)))
    (tmp_path / "ref.csv").write_text("t,x,late\n2024-01-01,1,0\n")
    path = write_params(tmp_path, reference={"path": "ref.csv", "start": None, "end": None},
                        production={"source": "table", "path": "ref.csv"},
                        model={"train": None}, run={"notebooks": str(folder), **run})
    return load_params(path)


@pytest.mark.slow
def test_full_pipeline_on_demo_slice(slice_project):
    train_model(slice_project)
    result = CliRunner().invoke(app, ["run", "--params", str(slice_project), "--date", "2013-05-01"])
    assert result.exit_code == 0, result.output
    out = slice_project.parent / "outputs"
    summary = json.loads((out / "2013-05-01" / "summary.json").read_text())
    assert summary["status"] == "success" and summary["run_date"] == "2013-05-01"
    assert [nb["name"] for nb in summary["notebooks"]] == list(NOTEBOOKS)
    for nb in summary["notebooks"]:
        assert nb["status"] == "success" and nb["duration_s"] > 0 and nb["result"]["headline"]
        html = (out / "2013-05-01" / nb["html"]).read_text()
        assert not re.search(r'class="highlight hl-ipython', html), f"{nb['name']}: code in the report"
        assert not re.search(r"<script[^>]+src=[\"']https?://", html), "CDN script: not offline"
        assert nb["result"]["headline"].split(":")[0] in html
        assert "params_file" in html and "injected-parameters" not in html
    drift = summary["notebooks"][1]["result"]
    assert {"dataset_drift", "share_drifted", "drifted_columns"} <= drift.keys()
    assert summary["notebooks"][3]["result"]["decision"] in ("promoted", "rejected", "skipped")
    index = (out / "index.html").read_text()
    assert "2013-05-01" in index and "2013-05-01/02_data_drift.html" in index


def test_failing_notebook_skips_dependents_and_keeps_other_dates(tmp_path):
    params = _fake_project(tmp_path, {"02_data_drift": "raise ValueError('boom in drift')"})
    earlier = params.outputs_dir / "2024-01-01"
    earlier.mkdir(parents=True)
    (earlier / "summary.json").write_text(json.dumps({"run_date": "2024-01-01", "status": "success",
                                                      "notebooks": []}))
    run = run_pipeline(params, "2024-02-01")
    statuses = {nb.name: nb.status for nb in run.notebooks}
    assert statuses == {"01_reference_capture": "success", "02_data_drift": "failed",
                        "03_concept_drift": "success", "04_retraining": "skipped"}
    assert run.status == "failed" and run.exit_code == 1
    failed = run.notebooks[1]
    assert "boom in drift" in failed.error
    html = (params.outputs_dir / "2024-02-01" / failed.html).read_text()
    assert "boom in drift" in html
    assert json.loads((earlier / "summary.json").read_text())["status"] == "success"
    index = (params.outputs_dir / "index.html").read_text()
    assert "2024-01-01" in index and "2024-02-01" in index


def test_cli_exit_code_1_on_failed_run(tmp_path):
    params = _fake_project(tmp_path, {"01_reference_capture": "raise RuntimeError('no data')"})
    result = CliRunner().invoke(app, ["run", "--params", params.source_file, "--date", "2024-02-01", "-q"])
    assert result.exit_code == 1
    assert "skipped" in result.output and "no data" in result.output


def test_rerun_replaces_the_date_folder(tmp_path):
    params = _fake_project(tmp_path, {})
    run_pipeline(params, "2024-02-01")
    stale = params.outputs_dir / "2024-02-01" / "stale.txt"
    stale.write_text("left over")
    run = run_pipeline(params, "2024-02-01")
    assert run.status == "success" and not stale.exists()
    assert not [p for p in params.outputs_dir.iterdir() if p.name.startswith((".staging", ".old"))]


def test_only_reruns_one_notebook_and_keeps_the_others(tmp_path):
    params = _fake_project(tmp_path, {})
    first = run_pipeline(params, "2024-02-01")
    run = run_pipeline(params, "2024-02-01", only=["03_concept_drift"])
    assert [nb.name for nb in run.notebooks] == list(NOTEBOOKS)
    assert run.notebooks[0].duration_s == first.notebooks[0].duration_s
    assert (params.outputs_dir / "2024-02-01" / "01_reference_capture.html").is_file()


def test_wall_clock_limit_marks_timeout(tmp_path):
    params = _fake_project(tmp_path, {"01_reference_capture": "import time; time.sleep(60)"},
                           notebook_timeout_s=8)
    t0 = time.monotonic()
    run = run_pipeline(params, "2024-02-01")
    assert time.monotonic() - t0 < 40
    assert run.notebooks[0].status == "timeout" and run.status == "failed"


def test_cell_timeout_is_classified_as_timeout(tmp_path):
    params = _fake_project(tmp_path, {"01_reference_capture": "import time; time.sleep(60)"},
                           cell_timeout_s=2)
    run = run_pipeline(params, "2024-02-01", only=["01_reference_capture"])
    assert run.notebooks[0].status == "timeout"


def test_second_run_is_refused_while_locked_and_stale_lock_recovers(tmp_path):
    params = _fake_project(tmp_path, {})
    lock_file = run_lock(params).lock_file
    holder = subprocess.Popen([sys.executable, "-c", (
        "import filelock, sys, time; l = filelock.FileLock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(120)"), lock_file], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match="in progress"):
            run_pipeline(params, "2024-02-01")
    finally:
        holder.kill()  # SIGKILL: the lock holder dies without cleaning up
        holder.wait()
    assert run_pipeline(params, "2024-02-01").status == "success"


@pytest.mark.parametrize("drift, verdict, code", [
    (True, "stable", 3), (False, "concept drift", 4), (True, "both", 5), (False, "data drift only", 0)])
def test_fail_on_drift_exit_codes(tmp_path, drift, verdict, code):
    save = "from driftlib.workbench import results\nresults.save_result(output_dir, '{name}', {result!r})"
    params = _fake_project(tmp_path, {
        "02_data_drift": save.format(name="02_data_drift", result={"headline": "x", "dataset_drift": drift}),
        "03_concept_drift": save.format(name="03_concept_drift", result={"headline": "y", "verdict": verdict}),
    })
    args = ["run", "--params", params.source_file, "--date", "2024-02-01", "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert CliRunner().invoke(app, [*args, "--fail-on-drift"]).exit_code == code
