"""Every run's Evidently snapshot in a local Evidently UI workspace (`make ui` serves it).

One project per monitored model (named after `params.name`), with a dashboard of two tabs: data drift
(share and number of drifted features, each feature's drift score over time) and performance & concept
(realized performance with its interval and the estimated one against the reference, label coverage,
the degraded flag and the concept verdict). Evidently computes none of the latter: notebook 03's numbers
travel as a one-row dataset whose `MeanValue` per column *is* the number, a built-in metric any
Evidently UI can read without driftlib installed.
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
MEAN_VALUE = "evidently:metric_v2:MeanValue"
PERFORMANCE_TAG = "driftlib-performance"
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


def dashboard_model(features: list[str], metric: str = "performance"):
    """Two tabs: data drift (share, count, per-feature scores) and performance & concept.

    Built whole and saved whole: Evidently 0.7's `add_panel(tab=...)` lists a panel twice in an
    existing tab.
    """
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel

    share = PanelMetric(legend="share", metric=DRIFT_COUNT, metric_labels={"value_type": "share"})
    count = PanelMetric(legend="drifted features", metric=DRIFT_COUNT, metric_labels={"value_type": "count"})
    drift = [counter_panel(title="Share of drifted features (latest run)", values=[share], size="half"),
             counter_panel(title="Drifted features (latest run)", values=[count], size="half"),
             line_plot_panel(title="Share of drifted features", values=[share], size="half"),
             bar_plot_panel(title="Drifted features", values=[count], size="half")]
    if features:
        scores = [PanelMetric(legend=f, metric=VALUE_DRIFT, metric_labels={"column": f}) for f in features]
        drift.append(line_plot_panel(title="Drift score per feature", values=scores,
                                     description="each feature's stat-test score"))

    def value(column: str, legend: str) -> PanelMetric:
        return PanelMetric(legend=legend, metric=MEAN_VALUE, metric_labels={"column": column})

    perf = [counter_panel(title="Performance degraded (latest run: 1 = yes)", values=[value("degraded", "degraded")],
                          size="half"),
            counter_panel(title="Concept drift (latest run: 1 = yes)", values=[value("concept_drift", "concept drift")],
                          size="half"),
            line_plot_panel(title=f"Realized and estimated {metric} against the reference",
                            values=[value("realized", "realized"), value("realized_lower", "realized lower"),
                                    value("realized_upper", "realized upper"), value("estimated", "estimated"),
                                    value("reference", "reference")],
                            description="notebook 03, run window: realized with its interval, estimated from "
                                        "confidence while labels lag"),
            bar_plot_panel(title="Concept verdict per run (1 = concept drift)",
                           values=[value("concept_drift", "concept drift")], size="half"),
            line_plot_panel(title="Label coverage", values=[value("label_coverage", "labelled share")], size="half")]
    tabs = [DashboardTabModel(title="Data drift", panels=[p.id for p in drift]),
            DashboardTabModel(title="Performance & concept", panels=[p.id for p in perf])]
    return DashboardModel(tabs=tabs, panels=drift + perf)


def performance_values(summary: dict) -> dict[str, float]:
    """Notebook 03's numbers for the dashboard (run-window evidence, as the verdict row shows them)."""
    from driftlib.core.contracts import CONCEPT_DRIFT, ConceptSummary
    from driftlib.monitoring import health

    result = next((nb.get("result") for nb in summary.get("notebooks") or []
                   if isinstance(nb, dict) and nb.get("name") == CONCEPT_DRIFT), None)
    c = ConceptSummary.from_dict(result) if isinstance(result, dict) and result else None
    if c is None or c.verdict is None:
        return {}
    real = health.evidence(c, "realized")[1] or {}
    est = health.evidence(c, "estimated")[1] or {}
    raw = {"realized": real.get("value"), "realized_lower": real.get("lower"), "realized_upper": real.get("upper"),
           "estimated": est.get("value"), "reference": c.reference_value(),
           "label_coverage": c.label_coverage.get("coverage"),
           "degraded": None if c.degraded is None else float(c.degraded), "concept_drift": float(c.concept_drift)}
    return {k: float(v) for k, v in raw.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")}


def performance_snapshot(summary: dict):
    """A snapshot whose `MeanValue(column=…)` are notebook 03's numbers; None without them."""
    values = performance_values(summary)
    if not values:
        return None
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue

    frame = pd.DataFrame([values])
    data = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=list(values)))
    return Report([MeanValue(column=k) for k in values]).run(data, None)


def project_for(ws, params: Params):
    """The model's project, created on first use (`add_run` saves its dashboard every time, so a project made
    by an older driftlib gains the newer panels)."""
    found = ws.search_project(params.name)
    if found:
        return found[0]
    return ws.create_project(params.name, description=f"driftlib runs of {params.name}")


def _run_time(summary: dict) -> datetime:
    """Snapshots are dated by the run date, not the wall clock: backfills plot in order."""
    run_date = str(summary.get("run_date") or "")
    try:
        return datetime.fromisoformat(run_date).replace(tzinfo=None)
    except ValueError:
        return datetime.now(timezone.utc).replace(tzinfo=None)


def _dated(snapshot, summary: dict, model: str, tag: str = "driftlib"):
    from evidently.core.report import Snapshot

    snap_model = snapshot.to_snapshot_model()
    snap_model.timestamp = _run_time(summary)
    snap_model.name = f"{model} {summary.get('run_date', '')}".strip()
    snap_model.tags = sorted({*snap_model.tags, "driftlib", tag})
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
    """Add the run's Evidently drift snapshot and its performance snapshot to the model's project
    (re-running a date replaces both); skip quietly when the run has neither."""
    ws_path = workspace_dir(params)
    if ws_path is None:
        return WorkspaceUpdate(False, "monitoring.evidently_workspace is not set")
    snapshot_file = Path(output_dir) / SNAPSHOT_FILE
    run_date = str(summary.get("run_date", ""))
    wanted = {}  # index key -> dated snapshot
    if snapshot_file.is_file():
        wanted[run_date] = _dated(load_snapshot(snapshot_file), summary, params.name)
    perf = performance_snapshot(summary)
    if perf is not None:
        wanted[f"{run_date}:performance"] = _dated(perf, summary, f"{params.name} performance", PERFORMANCE_TAG)
    if not wanted:
        return WorkspaceUpdate(False, f"no {SNAPSHOT_FILE} in {output_dir} and no notebook 03 result",
                               str(ws_path))
    metric = next((str(nb["result"].get("metric")) for nb in summary.get("notebooks") or []
                   if isinstance(nb, dict) and isinstance(nb.get("result"), dict) and nb["result"].get("metric")),
                  params.concept.metric or "performance")
    ws_path.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ws_path / ".driftlib.lock")):
        ws = _open(ws_path)
        project = project_for(ws, params)
        ws.save_dashboard(project.id, dashboard_model(params.features.all, metric))
        project_id = str(project.id)
        index_path, index = _index(ws_path, project_id)
        existing = {str(s) for s in ws.list_runs(project.id)}
        replaced, added = None, None
        for key, snap in wanted.items():
            old = index.get(key)
            if old and old in existing:
                ws.delete_run(project.id, old)
                replaced = replaced or old
            ref = ws.add_run(project.id, snap)
            index[key] = str(ref.id)
            added = added or str(ref.id)
        index_path.write_text(json.dumps(index, indent=1, sort_keys=True))
    return WorkspaceUpdate(True, workspace=str(ws_path), project_id=project_id, snapshot_id=added,
                           replaced=replaced)


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
