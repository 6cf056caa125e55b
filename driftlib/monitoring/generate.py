"""Render the files under `monitoring/` from the metric catalogue and a params file.

Alert thresholds live in `params.monitoring` (and `params.concept.metric` decides whether a lower or a
higher score is worse), so the rule file is generated, not hand-edited; tests check the committed
files are what this module renders for `params/demo.yaml`. Every run alert is annotated with the run
date (read from `driftlib_run_date_timestamp_seconds` when the alert is evaluated) and a link to that
run's report under `monitoring.report_base_url`. Regenerate with

    python -m driftlib.monitoring --params params/demo.yaml --out monitoring
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

from driftlib.config import Params, load_params
from driftlib.core.contracts import NOTEBOOKS
from driftlib.core.errors import ConfigError

DATASOURCE_UID = "driftlib-prometheus"
DASHBOARD_UID = "driftlib-drift"
LOWER_IS_BETTER = {"mae", "mse", "rmse", "log_loss", "brier", "brier_score", "mape"}
RULES_FILE = "prometheus/alerts.yml"
DASHBOARD_FILE = "grafana/dashboards/driftlib.json"


# -- alert rules -----------------------------------------------------------------------------------
def _rule(name: str, expr: str, summary: str, description: str, *, for_: str = "0m",
          severity: str = "warning", links: dict[str, str] | None = None) -> dict[str, Any]:
    return {"alert": name, "expr": textwrap.dedent(expr).strip(), "for": for_,
            "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": " ".join(description.split()), **(links or {})}}


def _run_links(params: Params, report: str | None, notebook: str | None = None) -> dict[str, str]:
    """Annotations `run_date` (YYYY-MM-DD of the latest run, '' while there is none) and `report_url`
    (`<base>/<run date>/<report>`, or the run index `<base>/index.html` without a run date or report).
    With a `notebook`, the run date its series describe (a partial run of a newer date has no such report)."""
    base = params.monitoring.report_base_url.rstrip("/")
    latest = f'max(driftlib_run_date_timestamp_seconds{{model="{params.name}"}})'
    if notebook:
        latest = (f'max(driftlib_notebook_run_date_timestamp_seconds{{model="{params.name}", notebook="{notebook}"}})'
                  f' or {latest}')
    run_date = f'query `{latest}`'
    day = '(. | first | value | toTime).Format "2006-01-02"'
    index = f"{base}/index.html"
    url = f"{{{{ with {run_date} }}}}{base}/{{{{ {day} }}}}/{report}{{{{ else }}}}{index}{{{{ end }}}}"
    return {"run_date": f"{{{{ with {run_date} }}}}{{{{ {day} }}}}{{{{ end }}}}",
            "report_url": url if report else index}


def _duration(seconds: float) -> str:
    """A Prometheus duration ('26h', '1h30m'): rule files reject fractional units."""
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v) or "0s"


def _performance_drop(m: str, metric: str, drop: float) -> str:
    """Drop of the latest window below the reference: realized, or estimated while no labels exist."""
    ref = f'max by (model, metric) (driftlib_performance_reference{{model="{m}"}})'

    def perf(kind: str) -> str:
        return f'max by (model, metric, kind) (driftlib_performance{{model="{m}", kind="{kind}"}})'

    def delta(kind: str, indent: str) -> str:
        if metric.lower() in LOWER_IS_BETTER:
            left, op, right = perf(kind), "- on (model, metric) group_left", ref
        else:
            left, op, right = ref, "- on (model, metric) group_right", perf(kind)
        return f"{indent}{left}\n{indent}{op}\n{indent}{right}"

    realized = f'max by (model, metric) (driftlib_performance{{model="{m}", kind="realized"}})'
    return (f"(\n{delta('realized', '  ')}\n) > {drop:g}\n"
            f"or\n"
            f"(\n  (\n{delta('estimated', '    ')}\n  )\n  unless on (model, metric) {realized}\n) > {drop:g}")


def alert_rules(params: Params) -> dict[str, Any]:
    """The Prometheus rule file for one model, thresholds taken from `params.monitoring`."""
    mon, m = params.monitoring, params.name
    stale_s = int(round(mon.expected_interval_hours * 3600))
    job = mon.service_job
    drift_report, concept_report = (_run_links(params, f"{nb}.html", nb) for nb in NOTEBOOKS[1:3])
    run_report = _run_links(params, "index.html")
    rules = [
        _rule("DriftlibDatasetDriftPersistent",
              f'max by (model) (driftlib_dataset_drift_consecutive_runs{{model="{m}"}})'
              f' >= {mon.drift_consecutive_runs}',
              "Dataset drift in {{ $value }} consecutive runs of {{ $labels.model }}",
              f"The share of drifted features reached drift.drift_share ({params.drift.drift_share:g}) in at "
              f"least monitoring.drift_consecutive_runs ({mon.drift_consecutive_runs}) runs in a row. "
              "Open the latest 02_data_drift report.", links=drift_report),
        _rule("DriftlibImportantFeatureDrift",
              f'max by (model, feature) (driftlib_feature_drifted{{model="{m}"}} == 1\n'
              f'  and on (model, feature) driftlib_feature_important{{model="{m}"}} == 1)',
              "Important feature {{ $labels.feature }} of {{ $labels.model }} drifted",
              "A feature listed in monitoring.important_features drifted in the latest run.", links=drift_report),
        _rule("DriftlibMultivariateDrift",
              f'max by (model, detector) (driftlib_multivariate_drift{{model="{m}"}}) == 1',
              "Multivariate drift ({{ $labels.detector }}) in the latest run of {{ $labels.model }}",
              "A multivariate detector (domain classifier: reference and production rows tell apart beyond "
              "its no-change null; or PCA reconstruction error outside the reference's band) flagged the run "
              "window: how features go together changed, even if no single column did.", links=drift_report),
        _rule("DriftlibDriftUntestable",
              f'max by (model) (driftlib_features_untestable{{model="{m}"}}) > 0',
              "{{ $value }} feature(s) of {{ $labels.model }} could not be tested for drift",
              "Columns were missing, retyped, all-null or gave no finite score in the latest run: their drift "
              "is unknown and the dataset verdict may be undetermined. Open the data quality section of "
              "02_data_drift.", links=drift_report),
        _rule("DriftlibInputRecordsSkipped",
              f'max by (model, notebook, reason) (driftlib_input_records_skipped{{model="{m}"}}) > 0',
              "{{ $value }} input row(s) of {{ $labels.model }} left out by {{ $labels.notebook }} "
              "({{ $labels.reason }})",
              "The latest run's readers left rows out: torn log lines, table lines that do not parse, or log "
              "records quarantined as unreadable (bad timestamps, type clashes, hand edits). The verdicts "
              "describe the rest; the run's warnings in summary.json name the first file and line.",
              links=_run_links(params, None)),
        _rule("DriftlibPerformanceDrop", _performance_drop(m, params.concept.metric, mon.performance_drop),
              '{{ $labels.kind }} {{ $labels.metric }} of {{ $labels.model }} dropped by {{ printf "%.3f" $value }}',
              f"The latest window's performance is more than monitoring.performance_drop "
              f"({mon.performance_drop:g}) worse than on the reference period: realized when labels "
              "exist, estimated while they lag. Open the latest 03_concept_drift report.", links=concept_report),
        _rule("DriftlibConceptDrift",
              f'max by (model) (driftlib_concept_drift{{model="{m}"}}) == 1',
              "Concept drift in the latest run of {{ $labels.model }}",
              "Notebook 03 found that the relation between features and label changed "
              "(verdict 'concept drift' or 'both').", links=concept_report),
        _rule("DriftlibPipelineFailed",
              f'min by (model) (driftlib_run_success{{model="{m}"}}) == 0',
              "The latest driftlib run of {{ $labels.model }} failed",
              "At least one notebook failed, timed out or was skipped; see driftlib_notebook_success "
              "and outputs/<date>/index.html.", severity="critical", links=run_report),
        _rule("DriftlibPipelineStale",
              f'time() - max by (model) (driftlib_last_success_timestamp_seconds{{model="{m}"}}) > {stale_s}',
              "No successful driftlib run of {{ $labels.model }} for {{ $value | humanizeDuration }}",
              f"No run succeeded within monitoring.expected_interval_hours ({mon.expected_interval_hours:g} h).",
              severity="critical", links=run_report),
        _rule("DriftlibRunMetricsMissing",
              f'absent(driftlib_last_run_timestamp_seconds{{model="{m}"}})',
              "No driftlib run metrics for {{ $labels.model }}",
              "Neither the textfile collector nor the service exposes run metrics for this model: "
              "check monitoring.textfile_dir and the scrape configuration.", for_=_duration(stale_s),
              links=_run_links(params, None)),
        _rule("DriftlibServiceDown", f'up{{job="{job}"}} == 0',
              "driftlib service {{ $labels.instance }} is down",
              f"Prometheus cannot scrape the job '{job}' (monitoring.service_job).",
              for_="2m", severity="critical"),
        _rule("DriftlibServiceErrorRate",
              f'sum by (job, instance) (rate(driftlib_http_requests_total{{job="{job}", status=~"5.."}}[5m]))\n'
              f'  / sum by (job, instance) (rate(driftlib_http_requests_total{{job="{job}"}}[5m]))\n'
              f'  > {mon.max_error_ratio:g}',
              "{{ $value | humanizePercentage }} of requests to {{ $labels.instance }} fail",
              f"More than monitoring.max_error_ratio ({mon.max_error_ratio:g}) of the service's requests "
              "answered 5xx over 5 minutes.", for_="5m", severity="critical"),
    ]
    return {"groups": [{"name": f"driftlib-{m}", "rules": rules}]}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_rules(params: Params, source: str = "params/demo.yaml") -> str:
    header = (f"# Generated from {source} by `python -m driftlib.monitoring --params {source} --out monitoring`.\n"
              "# Do not edit: change the params (monitoring.*) and regenerate.\n")
    return header + yaml.dump(alert_rules(params), Dumper=_Dumper, sort_keys=False, width=120)


# -- Grafana dashboard -----------------------------------------------------------------------------
_DS = {"type": "prometheus", "uid": DATASOURCE_UID}


def _target(expr: str, legend: str = "", *, ref: str = "A", instant: bool = False) -> dict[str, Any]:
    target = {"datasource": _DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        target.update(instant=True, range=False, format="table")
    return target


def _panel(kind: str, title: str, targets: list[dict], pos: tuple[int, int, int, int], *, unit: str = "none",
           description: str = "", mappings: list | None = None, options: dict | None = None,
           thresholds: list | None = None, extra: dict | None = None) -> dict[str, Any]:
    x, y, w, h = pos
    steps = thresholds or [{"color": "green", "value": None}]
    panel = {"type": kind, "title": title, "description": description, "datasource": _DS,
             "gridPos": {"x": x, "y": y, "w": w, "h": h},
             "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                          "thresholds": {"mode": "absolute", "steps": steps}},
                             "overrides": []},
             "options": options or {}, "targets": targets}
    panel.update(extra or {})
    return panel


def _row(title: str, y: int) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            "panels": []}


def _flag(one: str, zero: str, good: int = 1) -> list[dict]:
    """Value mapping of a 0/1 gauge: a text per value, green for the good one and red for the other."""
    text = {0: zero, 1: one}
    return [{"type": "value", "options": {str(v): {"text": text[v], "color": "green" if v == good else "red"}
                                          for v in (0, 1)}}]


M = '{model=~"$model"}'
J = '{job=~"$job"}'


def _run_panels(y: int) -> list[dict]:
    return [
        _row("Runs", y),
        _panel("stat", "Latest run", [_target(f"min by (model) (driftlib_run_success{M})", "{{model}}")],
               (0, y + 1, 4, 4), mappings=_flag("success", "failed")),
        _panel("stat", "Since last success",
               [_target(f"time() - max by (model) (driftlib_last_success_timestamp_seconds{M})", "{{model}}")],
               (4, y + 1, 5, 4), unit="s"),
        _panel("stat", "Current model version",
               [_target(f"max by (model, version) (driftlib_current_model_info{M})", "{{version}}")],
               (9, y + 1, 5, 4), options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}}),
        _panel("stat", "Last promotion",
               [_target(f"max by (model) (driftlib_last_promotion_timestamp_seconds{M}) * 1000", "{{model}}")],
               (14, y + 1, 5, 4), unit="dateTimeFromNow"),
        _panel("stat", "Run duration", [_target(f"max by (model) (driftlib_run_duration_seconds{M})", "{{model}}")],
               (19, y + 1, 5, 4), unit="s"),
        _panel("status-history", "Notebook status per run",
               [_target(f"min by (notebook) (driftlib_notebook_success{M})", "{{notebook}}")],
               (0, y + 5, 12, 7), mappings=_flag("success", "failed")),
        _panel("timeseries", "Notebook duration",
               [_target(f"max by (notebook) (driftlib_notebook_duration_seconds{M})", "{{notebook}}")],
               (12, y + 5, 12, 7), unit="s"),
    ]


def _drift_panels(y: int) -> list[dict]:
    table_targets = [
        _target(f"max by (feature) (driftlib_feature_drift_score{M})", "", ref="A", instant=True),
        _target(f"max by (feature) (driftlib_feature_drift_threshold{M})", "", ref="B", instant=True),
        _target(f"max by (feature) (driftlib_feature_drifted{M})", "", ref="C", instant=True),
    ]
    table_tx = [{"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": {"Time": True},
                                               "renameByName": {"Value #A": "score", "Value #B": "threshold",
                                                                "Value #C": "drifted"}}}]
    return [
        _row("Data drift", y),
        _panel("timeseries", "Share of drifted features",
               [_target(f"max by (model) (driftlib_drifted_features_ratio{M})", "{{model}}")],
               (0, y + 1, 12, 7), unit="percentunit"),
        _panel("stat", "Dataset drift (latest run)",
               [_target(f"max by (model) (driftlib_dataset_drift{M})", "{{model}}")],
               (12, y + 1, 4, 7), mappings=_flag("drift", "no drift", good=0)),
        _panel("stat", "Consecutive runs with drift",
               [_target(f"max by (model) (driftlib_dataset_drift_consecutive_runs{M})", "{{model}}")],
               (16, y + 1, 4, 7)),
        _panel("stat", "Rows analysed", [_target(f"max by (model) (driftlib_rows_analysed{M})", "{{model}}")],
               (20, y + 1, 4, 7), unit="short"),
        _panel("status-history", "Drifted features over time (heatmap)",
               [_target(f"max by (feature) (driftlib_feature_drifted{M})", "{{feature}}")],
               (0, y + 8, 24, 9), mappings=_flag("drift", "ok", good=0),
               description="One row per feature, one cell per scrape: red where the feature drifted."),
        _panel("timeseries", "Drift score per feature",
               [_target(f"max by (feature) (driftlib_feature_drift_score{M})", "{{feature}}")],
               (0, y + 17, 12, 8), description="Each feature's stat-test score (see the table for its threshold)."),
        _panel("table", "Features in the latest run", table_targets, (12, y + 17, 12, 8),
               extra={"transformations": table_tx}),
        _panel("timeseries", "Prediction drift score",
               [_target(f"max by (column) (driftlib_prediction_drift_score{M})", "{{column}}")],
               (0, y + 25, 12, 6)),
        _panel("timeseries", "Multivariate drift score vs its no-drift band", [
            _target(f"max by (detector) (driftlib_multivariate_drift_score{M})", "{{detector}}", ref="A"),
            _target(f"max by (detector) (driftlib_multivariate_drift_threshold{M})", "{{detector}} threshold",
                    ref="B")], (12, y + 25, 12, 6),
               description="Domain classifier AUC and PCA reconstruction error of the run window; above its "
                           "threshold the features changed together (DriftlibMultivariateDrift)."),
    ]


def _performance_panels(y: int) -> list[dict]:
    return [
        _row("Performance and concept drift", y),
        _panel("timeseries", "Performance: realized vs estimated", [
            _target(f"max by (kind, metric) (driftlib_performance{M})", "{{kind}} {{metric}}", ref="A"),
            _target(f"max by (kind, metric) (driftlib_performance_lower{M})", "{{kind}} lower", ref="B"),
            _target(f"max by (kind, metric) (driftlib_performance_upper{M})", "{{kind}} upper", ref="C"),
            _target(f"max by (metric) (driftlib_performance_reference{M})", "reference {{metric}}", ref="D"),
        ], (0, y + 1, 16, 8)),
        _panel("stat", "Label coverage", [_target(f"max by (model) (driftlib_label_coverage_ratio{M})", "{{model}}")],
               (16, y + 1, 4, 8), unit="percentunit"),
        _panel("stat", "Concept-drift verdict",
               [_target(f"max by (verdict) (driftlib_concept_verdict{M}) == 1", "{{verdict}}")],
               (20, y + 1, 4, 8), options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}}),
        _panel("timeseries", "Degraded and drifted slices", [
            _target(f"max by (model) (driftlib_degraded_slices{M})", "degraded {{model}}", ref="A"),
            _target(f"max by (model) (driftlib_drifted_slices{M})", "drifted {{model}}", ref="B"),
        ], (0, y + 9, 8, 8), unit="short",
               description="Searched segments (single values and pairs) significant after the false-discovery-rate "
                           "correction: degraded = performance dropped against the same slice of the reference "
                           "(notebook 03), drifted = share of traffic moved (notebook 02). The reports name them."),
        _panel("timeseries", "Regression error: estimated (DLE) vs realized", [
            _target(f"max by (metric) (driftlib_estimated_regression_error{M})", "estimated {{metric}}", ref="A"),
            _target(f"max by (metric) (driftlib_estimated_regression_error_lower{M})", "estimated {{metric}} lower",
                    ref="B"),
            _target(f"max by (metric) (driftlib_estimated_regression_error_upper{M})", "estimated {{metric}} upper",
                    ref="C"),
            _target('max by (metric) (driftlib_performance{model=~"$model", kind="realized", metric=~"mae|rmse"})',
                    "realized {{metric}}", ref="D"),
        ], (8, y + 9, 12, 8),
               description="Label-free MAE/RMSE of a regression model (direct loss estimation) with its interval, "
                           "beside the realized error once labels arrived. Empty for classifiers."),
        _panel("stat", "Regression error estimate",
               [_target(f"min by (model) (driftlib_estimated_regression_error_reliable{M})", "{{model}}")],
               (20, y + 9, 4, 8), mappings=_flag("reliable", "unreliable"),
               description="Unreliable when notebook 03 found concept drift: the estimate assumes the reference's "
                           "error structure still holds, so it cannot see a change of P(y|x)."),
    ]


def _service_panels(y: int) -> list[dict]:
    bucket = f"sum by (le) (rate(driftlib_http_request_duration_seconds_bucket{J}[$__rate_interval]))"
    return [
        _row("Service", y),
        _panel("stat", "Service up", [_target(f"min by (instance) (up{J})", "{{instance}}")],
               (0, y + 1, 4, 7), mappings=_flag("up", "down")),
        _panel("stat", "Serving model version",
               [_target("max by (model, version) (driftlib_model_info)", "{{version}}")],
               (4, y + 1, 4, 7), options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}}),
        _panel("timeseries", "Requests per second by status",
               [_target(f"sum by (status) (rate(driftlib_http_requests_total{J}[$__rate_interval]))", "{{status}}")],
               (8, y + 1, 8, 7), unit="reqps"),
        _panel("timeseries", "Latency", [
            _target(f"histogram_quantile(0.5, {bucket})", "p50", ref="A"),
            _target(f"histogram_quantile(0.95, {bucket})", "p95", ref="B"),
            _target(f"histogram_quantile(0.99, {bucket})", "p99", ref="C"),
        ], (16, y + 1, 8, 7), unit="s"),
        _panel("timeseries", "Predictions per second",
               [_target("sum by (model, version) (rate(driftlib_predictions_total[$__rate_interval]))",
                        "{{model}} {{version}}")], (0, y + 8, 12, 7), unit="short"),
        _panel("timeseries", "Inference log records per second", [
            _target(f"sum by (kind) (rate(driftlib_log_records_written_total{J}[$__rate_interval]))",
                    "written {{kind}}", ref="A"),
            _target(f"sum by (kind) (rate(driftlib_log_records_failed_total{J}[$__rate_interval]))",
                    "failed {{kind}}", ref="B"),
        ], (12, y + 8, 12, 7), unit="short"),
    ]


def _variables() -> list[dict]:
    def query(name: str, label: str, metric: str) -> dict:
        return {"name": name, "label": label, "type": "query", "datasource": _DS,
                "query": {"query": f"label_values({metric}, {name})", "refId": f"{name}-var"},
                "definition": f"label_values({metric}, {name})", "refresh": 2, "includeAll": True,
                "multi": True, "current": {"text": "All", "value": "$__all"}, "sort": 1}

    return [query("model", "Model", "driftlib_run_success"),
            query("job", "Service job", "driftlib_http_requests_total")]


def grafana_dashboard() -> dict[str, Any]:
    """The dashboard JSON model (schema 39, Grafana 10/11): runs, drift, performance, service."""
    panels = [*_run_panels(0), *_drift_panels(12), *_performance_panels(44), *_service_panels(62)]
    for i, panel in enumerate(panels, 1):
        panel["id"] = i
    return {"uid": DASHBOARD_UID, "title": "driftlib — model drift", "tags": ["driftlib", "drift"],
            "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": False, "refresh": "1m",
            "time": {"from": "now-30d", "to": "now"}, "graphTooltip": 1,
            "templating": {"list": _variables()}, "annotations": {"list": []}, "links": [], "panels": panels}


def render_dashboard() -> str:
    return json.dumps(grafana_dashboard(), indent=2, ensure_ascii=False) + "\n"


def panel_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every query in the dashboard."""
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def expected_files(params: Params, source: str) -> dict[str, str]:
    return {RULES_FILE: render_rules(params, source), DASHBOARD_FILE: render_dashboard()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftlib.monitoring", description=__doc__.split("\n")[0])
    parser.add_argument("--params", required=True, help="params YAML whose monitoring thresholds to use")
    parser.add_argument("--out", default="monitoring", help="the monitoring folder to write into")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, check_files=False)
    except ConfigError as err:
        print(f"driftlib: error: {err}", file=sys.stderr)
        return err.exit_code
    for rel, text in expected_files(params, args.params).items():
        path = Path(args.out) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
