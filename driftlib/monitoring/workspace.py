"""Every run's Evidently snapshot in a local Evidently UI workspace (`make ui` serves it).

One project per monitored model (named after `params.name`), created on first use with dashboard
panels for the share and number of drifted features and each feature's drift score over time.
Snapshots take the run date as their timestamp, so backfilled runs line up on the dashboard's time
axis; re-running a date replaces that date's snapshot instead of adding a second one.
"""
from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from driftlib.config import Params
from driftlib.drift.evidently_io import SNAPSHOT_FILE, load_snapshot

DRIFT_COUNT = "evidently:metric_v2:DriftedColumnsCount"
VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
INDEX_FILE = ".driftlib_runs.json"  # run date -> snapshot id, per project (beside Evidently's files)


@dataclass
class WorkspaceUpdate:
    """What `add_run` did: `added` is False with a `reason` when it skipped quietly."""

    added: bool
    reason: str = ""
    workspace: str | None = None
    project_id: str | None = None
    snapshot_id: str | None = None
    replaced: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:
        what = f"added snapshot {self.snapshot_id}" if self.added else f"skipped: {self.reason}"
        return f"<p>Evidently workspace {html.escape(str(self.workspace))}: {html.escape(what)}</p>"


def workspace_dir(params: Params) -> Path | None:
    value = params.monitoring.evidently_workspace
    return params.path(value) if value else None


def _open(path: Path):
    from evidently.ui.workspace import Workspace

    return Workspace(str(path))


def dashboard_model(features: list[str]):
    """Panels for drift share and drifted features over time, plus each feature's score.

    Built whole and saved once: Evidently 0.7's `add_panel(tab=...)` lists a panel twice in an
    existing tab.
    """
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel

    share = PanelMetric(legend="share", metric=DRIFT_COUNT, metric_labels={"value_type": "share"})
    count = PanelMetric(legend="drifted features", metric=DRIFT_COUNT, metric_labels={"value_type": "count"})
    panels = [counter_panel(title="Share of drifted features (latest run)", values=[share], size="half"),
              counter_panel(title="Drifted features (latest run)", values=[count], size="half"),
              line_plot_panel(title="Share of drifted features", values=[share], size="half"),
              bar_plot_panel(title="Drifted features", values=[count], size="half")]
    if features:
        scores = [PanelMetric(legend=f, metric=VALUE_DRIFT, metric_labels={"column": f}) for f in features]
        panels.append(line_plot_panel(title="Drift score per feature", values=scores,
                                      description="each feature's stat-test score"))
    tab = DashboardTabModel(title="Data drift", panels=[p.id for p in panels])
    return DashboardModel(tabs=[tab], panels=panels)


def project_for(ws, params: Params):
    """The model's project, created with its dashboard on first use."""
    found = ws.search_project(params.name)
    if found:
        return found[0]
    project = ws.create_project(params.name, description=f"driftlib runs of {params.name}")
    ws.save_dashboard(project.id, dashboard_model(params.features.all))
    return project


def _run_time(summary: dict) -> datetime:
    """Snapshots are dated by the run date, not the wall clock: backfills plot in order."""
    run_date = str(summary.get("run_date") or "")
    try:
        return datetime.fromisoformat(run_date).replace(tzinfo=None)
    except ValueError:
        return datetime.now(timezone.utc).replace(tzinfo=None)


def _dated(snapshot, summary: dict, model: str):
    from evidently.core.report import Snapshot

    snap_model = snapshot.to_snapshot_model()
    snap_model.timestamp = _run_time(summary)
    snap_model.name = f"{model} {summary.get('run_date', '')}".strip()
    snap_model.tags = sorted({*snap_model.tags, "driftlib"})
    snap_model.metadata = {**snap_model.metadata, "run_date": str(summary.get("run_date", "")),
                           "status": str(summary.get("status", ""))}
    return Snapshot.load_model(snap_model)


def _index(ws_path: Path, project_id: str) -> tuple[Path, dict[str, str]]:
    path = ws_path / project_id / INDEX_FILE
    try:
        return path, json.loads(path.read_text())
    except (OSError, ValueError):
        return path, {}


def add_run(params: Params, output_dir: Path, summary: dict) -> WorkspaceUpdate:
    """Add the run's Evidently snapshot to the model's project; skip quietly when there is none."""
    ws_path = workspace_dir(params)
    if ws_path is None:
        return WorkspaceUpdate(False, "monitoring.evidently_workspace is not set")
    snapshot_file = Path(output_dir) / SNAPSHOT_FILE
    if not snapshot_file.is_file():
        return WorkspaceUpdate(False, f"no {SNAPSHOT_FILE} in {output_dir}", str(ws_path))
    snapshot = _dated(load_snapshot(snapshot_file), summary, params.name)
    ws_path.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ws_path / ".driftlib.lock")):
        ws = _open(ws_path)
        project = project_for(ws, params)
        project_id = str(project.id)
        index_path, index = _index(ws_path, project_id)
        run_date = str(summary.get("run_date", ""))
        old = index.get(run_date)
        if old and old in {str(s) for s in ws.list_runs(project.id)}:
            ws.delete_run(project.id, old)
        else:
            old = None  # a new date, or deleted by hand: nothing to replace
        ref = ws.add_run(project.id, snapshot)
        index[run_date] = str(ref.id)
        index_path.write_text(json.dumps(index, indent=1, sort_keys=True))
    return WorkspaceUpdate(True, workspace=str(ws_path), project_id=project_id, snapshot_id=str(ref.id),
                           replaced=old)


def list_snapshots(params: Params) -> list[dict[str, Any]]:
    """The model's snapshots in the workspace: id, name, timestamp and run date, oldest first."""
    ws_path = workspace_dir(params)
    if ws_path is None or not ws_path.is_dir():
        return []
    ws = _open(ws_path)
    found = ws.search_project(params.name)
    if not found:
        return []
    rows = []
    for snapshot_id in ws.list_runs(found[0].id):
        snap = ws.get_run(found[0].id, snapshot_id)
        rows.append({"id": str(snapshot_id), "name": snap.name, "timestamp": snap.timestamp.isoformat(),
                     "run_date": snap.metadata.get("run_date")})
    return sorted(rows, key=lambda r: r["timestamp"])
