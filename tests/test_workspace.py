"""Runs' Evidently snapshots land in a local Evidently UI workspace, one project per model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftlib.monitoring import workspace
from driftlib.config import parse_params
from driftlib.drift.evidently_io import evidently_report, load_snapshot, save_snapshot
from driftlib.core.errors import InputError

FEATURES = {"numeric": ["a", "b"], "categorical": ["c"]}


def make_params(root: Path, ws: str | None = "evidently", name: str = "m1"):
    return parse_params({"name": name, "root": str(root), "reference": {"path": "ref.csv"},
                         "columns": {"timestamp": "ts"}, "features": FEATURES,
                         "monitoring": {"evidently_workspace": ws}}, str(root / "params.yaml"))


@pytest.fixture(scope="module")
def snapshot():
    rng = np.random.default_rng(0)

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame({"a": rng.normal(shift, 1, 300), "b": rng.normal(0, 1, 300),
                             "c": rng.choice(["x", "y", "z"], 300)})

    return evidently_report(frame(0), frame(1.5), FEATURES["numeric"], FEATURES["categorical"])


def run_dir(root: Path, run_date: str, snapshot) -> Path:
    out = root / "outputs" / run_date
    save_snapshot(snapshot, out / workspace.SNAPSHOT_FILE)
    return out


def test_two_runs_give_two_snapshots_in_the_models_project(tmp_path, snapshot):
    params = make_params(tmp_path)
    for run_date in ("2013-05-01", "2013-05-02"):
        update = workspace.add_run(params, run_dir(tmp_path, run_date, snapshot),
                                   {"run_date": run_date, "status": "success"})
        assert update.added, update.reason
    listed = workspace.list_snapshots(params)
    assert [s["run_date"] for s in listed] == ["2013-05-01", "2013-05-02"]
    assert [s["timestamp"][:10] for s in listed] == ["2013-05-01", "2013-05-02"]  # dated by run, not wall clock

    from evidently.ui.workspace import Workspace

    ws = Workspace(str(tmp_path / "evidently"))
    (project,) = ws.list_projects()
    assert project.name == "m1"
    assert len(ws.list_runs(project.id)) == 2
    board = ws.get_dashboard(project.id)
    panels = {p.title: p for p in board.panels}
    drift_tab, perf_tab = board.tabs
    assert drift_tab.panels + perf_tab.panels == [p.id for p in board.panels]  # each panel shown once
    share = panels["Share of drifted features"].values[0]
    assert share.metric.endswith("DriftedColumnsCount") and share.metric_labels == {"value_type": "share"}
    assert {v.metric_labels["column"] for v in panels["Drift score per feature"].values} == {"a", "b", "c"}
    # the UI's own storage finds a point per run for every panel series
    for title, panel in panels.items():
        if panel.id not in drift_tab.panels:
            continue  # these runs have no notebook 03 result
        for v in panel.values:
            series = ui_series(tmp_path / "evidently", project.id, v)
            assert len(series) == 1 and len(series[0].values) == 2, (title, v.metric_labels)
            assert all(x is not None for x in series[0].values)


def ui_series(path: Path, project_id, panel_metric):
    import asyncio

    from evidently.ui.service.base import SeriesFilter
    from evidently.ui.service.storage.local.base import InMemoryDataStorage

    storage = InMemoryDataStorage(str(path))
    query = SeriesFilter(tags=panel_metric.tags, metadata=panel_metric.metadata, metric=panel_metric.metric,
                         metric_labels=panel_metric.metric_labels)
    return asyncio.run(storage.get_data_series(project_id, [query], None, None)).series


def test_rerunning_a_date_replaces_its_snapshot(tmp_path, snapshot):
    params = make_params(tmp_path)
    out = run_dir(tmp_path, "2013-05-01", snapshot)
    first = workspace.add_run(params, out, {"run_date": "2013-05-01"})
    again = workspace.add_run(params, out, {"run_date": "2013-05-01"})
    assert again.replaced == first.snapshot_id
    assert [s["id"] for s in workspace.list_snapshots(params)] == [again.snapshot_id]


def test_one_project_per_model(tmp_path, snapshot):
    out = run_dir(tmp_path, "2013-05-01", snapshot)
    for name in ("m1", "m2", "m1"):
        workspace.add_run(make_params(tmp_path, name=name), out, {"run_date": "2013-05-01"})
    from evidently.ui.workspace import Workspace

    assert sorted(p.name for p in Workspace(str(tmp_path / "evidently")).list_projects()) == ["m1", "m2"]


def test_missing_snapshot_or_disabled_workspace_skip_quietly(tmp_path):
    update = workspace.add_run(make_params(tmp_path), tmp_path / "outputs" / "2013-05-01", {"run_date": "2013-05-01"})
    assert not update.added and workspace.SNAPSHOT_FILE in update.reason
    assert "skipped" in update._repr_html_() and update.to_dict()["added"] is False
    assert not (tmp_path / "evidently").exists()
    update = workspace.add_run(make_params(tmp_path, ws=None), tmp_path, {"run_date": "2013-05-01"})
    assert not update.added and "evidently_workspace" in update.reason


def test_a_file_that_is_not_a_snapshot_is_an_input_error(tmp_path):
    bad = tmp_path / "outputs" / "2013-05-01" / workspace.SNAPSHOT_FILE
    bad.parent.mkdir(parents=True)
    bad.write_text('{"metrics": [], "tests": []}')  # Snapshot.save_json's summary, not a snapshot
    with pytest.raises(InputError, match=workspace.SNAPSHOT_FILE):
        load_snapshot(bad)


def concept_summary(run_date: str, realized: float, verdict: str, degraded: bool) -> dict:
    return {"run_date": run_date, "status": "success", "notebooks": [{"name": "03_concept_drift", "result": {
        "verdict": verdict, "degraded": degraded, "metric": "roc_auc", "degraded_basis": "run window (realized)",
        "current": {"realized": {"roc_auc": {"value": realized, "lower": realized - 0.02, "upper": realized + 0.02}},
                    "estimated": {"roc_auc": {"value": 0.7, "lower": 0.68, "upper": 0.72}}},
        "reference": {"roc_auc": {"value": 0.75}}, "label_coverage": {"coverage": 0.8}}}]}


def test_dashboard_shows_realized_and_estimated_performance_and_the_concept_verdict(tmp_path, snapshot):
    params = make_params(tmp_path)
    runs = [("2013-05-01", 0.74, "stable", False), ("2013-05-02", 0.62, "concept drift", True)]
    for run_date, realized, verdict, degraded in runs:
        update = workspace.add_run(params, run_dir(tmp_path, run_date, snapshot),
                                   concept_summary(run_date, realized, verdict, degraded))
        assert update.added, update.reason
    again = workspace.add_run(params, run_dir(tmp_path, "2013-05-02", snapshot),
                              concept_summary("2013-05-02", 0.62, "concept drift", True))
    assert again.replaced  # a re-run replaces both of its snapshots
    from evidently.ui.workspace import Workspace

    ws = Workspace(str(tmp_path / "evidently"))
    (project,) = ws.list_projects()
    assert len(ws.list_runs(project.id)) == 4  # drift + performance per date
    board = ws.get_dashboard(project.id)
    panels = {p.title: p for p in board.panels}
    perf = panels["Realized and estimated roc_auc against the reference"]
    got = {v.metric_labels["column"]: ui_series(tmp_path / "evidently", project.id, v)[0].values for v in perf.values}
    assert got["realized"] == pytest.approx([0.74, 0.62]) and got["estimated"] == pytest.approx([0.7, 0.7])
    assert got["reference"] == pytest.approx([0.75, 0.75]) and got["realized_lower"] == pytest.approx([0.72, 0.60])
    concept = panels["Concept verdict per run (1 = concept drift)"].values[0]
    assert ui_series(tmp_path / "evidently", project.id, concept)[0].values == pytest.approx([0.0, 1.0])
    degraded = panels["Performance degraded (latest run: 1 = yes)"].values[0]
    assert ui_series(tmp_path / "evidently", project.id, degraded)[0].values == pytest.approx([0.0, 1.0])
