"""Stakeholder HTML and the index page."""
from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from driftlib.workbench import report


def _summary(folder, run_date, status, headline):
    (folder / run_date).mkdir(parents=True)
    (folder / run_date / "summary.json").write_text(json.dumps({
        "run_date": run_date, "status": status, "model": "m", "duration_s": 12.0,
        "notebooks": [{"name": "02_data_drift", "status": status, "html": "02_data_drift.html",
                       "result": {"headline": headline}}]}))


def test_index_lists_runs_newest_first_and_escapes(tmp_path):
    _summary(tmp_path, "2024-01-01", "success", "old run")
    _summary(tmp_path, "2024-03-01", "failed", "<script>alert(1)</script>")
    (tmp_path / "2024-02-01").mkdir()
    (tmp_path / "2024-02-01" / "summary.json").write_text("{ torn")
    html = report.write_index(tmp_path).read_text()
    assert html.index("2024-03-01") < html.index("2024-01-01")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="2024-01-01/02_data_drift.html"' in html


def test_render_hides_code_parameters_and_stderr(tmp_path):
    nb = new_notebook(cells=[
        new_markdown_cell("# Title"),
        new_code_cell("secret_param = 1", metadata={"tags": ["parameters"]}),
        new_code_cell("injected = 2", metadata={"tags": ["injected-parameters"]}),
        new_code_cell("print('visible output')", outputs=[
            new_output("stream", name="stdout", text="visible output\n"),
            new_output("stream", name="stderr", text="noisy warning\n")]),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    html = report.render_notebook(path, tmp_path / "nb.html", title="T",
                                  banner={"run_date": "2024-01-01", "status": "success",
                                          "headline": "All good", "parameters": {"run_date": "2024-01-01"}}
                                  ).read_text()
    assert "visible output" in html and "All good" in html
    assert "secret_param" not in html and "injected = 2" not in html and "noisy warning" not in html
    assert "print(" not in html
    assert "cdnjs" not in html and "require.min.js" not in html
