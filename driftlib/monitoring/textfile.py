"""The metric catalogue, the per-run Prometheus textfile, and the collector the service exposes.

One catalogue (`CATALOGUE`) names every metric driftlib emits: the latest-run gauges written to
`<monitoring.textfile_dir>/driftlib_<model>.prom` (node_exporter textfile convention: gauges only,
no timestamps, atomic rename) and the service's own metrics. The alert rules, the Grafana dashboard
and `driftlib serve` all take their names from here, and tests check that they do.

A run's samples are derived from its `summary.json` alone, plus two things a failed run must not
erase: the last success time and the last promotion time (read back from the previous textfile or
the model registry), and the dataset-drift streak (recomputed from earlier `outputs/*/summary.json`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from driftlib.config import Params
from driftlib.core.contracts import (CONCEPT_DRIFT, DATA_DRIFT, DECISIONS, RETRAINING, SKIP_REASONS, VERDICTS,
                                     ConceptSummary, DataDriftSummary, RetrainSummary, Summary)

Kind = Literal["gauge", "counter", "histogram"]
Source = Literal["run", "service"]


@dataclass(frozen=True)
class MetricSpec:
    """One catalogue entry. `name` is the exposed name (counters end in `_total`)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    source: Source

    def exposed_names(self) -> set[str]:
        """Every sample name this metric produces in the text exposition format."""
        if self.kind == "counter":
            return {self.name, self.name[: -len("_total")] + "_created"}
        if self.kind == "histogram":
            return {self.name, *(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count", "_created"))}
        return {self.name}


def _run(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "gauge", help, ("model", *labels), "run")


_SPECS = [
    # -- data drift (notebook 02) ------------------------------------------------------------------
    _run("driftlib_feature_drift_score", "Drift score of a feature in the latest run (the stat test's "
         "statistic or p-value, see driftlib_feature_drift_threshold).", "feature"),
    _run("driftlib_feature_drift_threshold", "Threshold the feature's drift score is compared with.", "feature"),
    _run("driftlib_feature_drifted", "1 if the feature drifted in the latest run, else 0.", "feature"),
    _run("driftlib_feature_important", "1 for features listed in monitoring.important_features: their "
         "drift alone raises an alert.", "feature"),
    _run("driftlib_drifted_features", "Number of drifted features in the latest run."),
    _run("driftlib_drifted_features_ratio", "Share of drifted features in the latest run (0-1)."),
    _run("driftlib_dataset_drift", "1 if the latest run found dataset drift, else 0."),
    _run("driftlib_dataset_drift_consecutive_runs", "Consecutive runs, up to the latest, with dataset drift."),
    _run("driftlib_prediction_drift", "1 if a model output column (prediction, probability) drifted in the "
         "latest run, else 0.", "column"),
    _run("driftlib_prediction_drift_score", "Drift score of a model output column in the latest run.", "column"),
    _run("driftlib_rows_analysed", "Production rows analysed for data drift in the latest run."),
    _run("driftlib_features_untestable", "Features whose drift could not be tested in the latest run (missing, "
         "retyped, all-null, non-finite score): a dataset verdict with these is undetermined, never 'no drift'."),
    _run("driftlib_dataset_drift_undetermined", "1 if untestable features could tip the latest dataset verdict."),
    _run("driftlib_quality_findings", "Data quality findings of the latest run by severity.", "severity"),
    _run("driftlib_multivariate_drift", "1 if the multivariate detector (domain_classifier, reconstruction) "
         "flagged the latest window, else 0.", "detector"),
    _run("driftlib_multivariate_drift_score", "Multivariate drift score of the latest window: the domain "
         "classifier's AUC or the PCA reconstruction error.", "detector"),
    _run("driftlib_multivariate_drift_threshold", "Upper end of the multivariate detector's no-drift band "
         "(critical AUC, or reference chunks' mean + 3 std).", "detector"),
    _run("driftlib_drifted_slices", "Segments whose share of traffic changed significantly in the latest run."),
    # -- concept drift (notebook 03) ---------------------------------------------------------------
    _run("driftlib_label_coverage_ratio", "Share of analysed predictions whose true label had arrived."),
    _run("driftlib_performance", "Model performance in the latest window: realized (labels) or estimated "
         "(from confidence, while labels lag).", "metric", "kind"),
    _run("driftlib_performance_lower", "Lower bound of the performance interval in the latest window.",
         "metric", "kind"),
    _run("driftlib_performance_upper", "Upper bound of the performance interval in the latest window.",
         "metric", "kind"),
    _run("driftlib_performance_reference", "Model performance on the reference period.", "metric"),
    _run("driftlib_performance_degraded", "1 if notebook 03 judged performance degraded, else 0."),
    _run("driftlib_concept_drift", "1 if the latest verdict is 'concept drift' or 'both', else 0."),
    _run("driftlib_concept_verdict", "1 for the latest concept-drift verdict, 0 for the others.", "verdict"),
    _run("driftlib_estimated_regression_error", "Label-free (direct loss estimation) MAE/RMSE of the "
         "regression model in the latest window.", "metric"),
    _run("driftlib_estimated_regression_error_lower", "Lower bound of the estimated regression error.", "metric"),
    _run("driftlib_estimated_regression_error_upper", "Upper bound of the estimated regression error.", "metric"),
    _run("driftlib_estimated_regression_error_reliable", "0 when concept drift makes the estimated regression "
         "error unreliable, else 1."),
    _run("driftlib_degraded_slices", "Segments with a significant performance drop in the latest run."),
    # -- retraining and registry (notebook 04) -----------------------------------------------------
    _run("driftlib_retrain_decision", "1 for the latest retraining decision, 0 for the others.", "decision"),
    _run("driftlib_current_model_version", "Number of the current model version (v0007 -> 7)."),
    _run("driftlib_current_model_info", "1, labelled with the current model version.", "version"),
    _run("driftlib_last_promotion_timestamp_seconds", "Unix time of the last model promotion."),
    # -- the run itself ---------------------------------------------------------------------------
    _run("driftlib_notebook_success", "1 if the notebook succeeded in the latest run, else 0.", "notebook"),
    _run("driftlib_notebook_duration_seconds", "Wall-clock time of the notebook in the latest run.", "notebook"),
    _run("driftlib_input_records_skipped", "Input rows the notebook's readers left out in the latest run, by "
         "reason: torn log lines, table lines that do not parse, quarantined log records.", "notebook", "reason"),
    _run("driftlib_notebook_run_date_timestamp_seconds", "Run date (00:00 UTC as Unix time) whose results "
         "the notebook's series describe: the textfile is merged notebook by notebook, so after a partial run "
         "(--only) or a backfill each notebook keeps the newest run date it ran for.", "notebook"),
    _run("driftlib_run_success", "1 if every notebook of the latest run succeeded, else 0."),
    _run("driftlib_run_duration_seconds", "Wall-clock time of the latest run."),
    _run("driftlib_last_run_timestamp_seconds", "Unix time the latest run finished."),
    _run("driftlib_run_date_timestamp_seconds", "Run date of the latest run (00:00 UTC as Unix time): the day "
         "whose data it analysed, outputs/<date>/; differs from the finish time for backfills."),
    _run("driftlib_last_success_timestamp_seconds", "Unix time the last successful run finished."),
    # -- the service (driftlib serve) --------------------------------------------------------------
    MetricSpec("driftlib_http_requests_total", "counter", "HTTP requests served, by route template and "
               "status code.", ("method", "route", "status"), "service"),
    MetricSpec("driftlib_http_request_duration_seconds", "histogram", "HTTP request latency.",
               ("method", "route"), "service"),
    MetricSpec("driftlib_predictions_total", "counter", "Rows scored by the model.",
               ("model", "version"), "service"),
    MetricSpec("driftlib_log_records_written_total", "counter", "Inference/feedback log records written.",
               ("kind",), "service"),
    MetricSpec("driftlib_log_records_failed_total", "counter", "Inference/feedback log records that could "
               "not be written.", ("kind",), "service"),
    MetricSpec("driftlib_model_info", "gauge", "1, labelled with the model version the service is serving.",
               ("model", "version"), "service"),
    MetricSpec("driftlib_predicted_class_total", "counter", "Predictions by predicted class.",
               ("model", "class"), "service"),
    MetricSpec("driftlib_prediction_value", "histogram", "Predicted values of a regression model "
               "(fixed buckets: a bounded number of series whatever the predictions).", ("model",), "service"),
    MetricSpec("driftlib_unknown_categories_total", "counter", "Request values outside the reference "
               "categories, by feature.", ("model", "feature"), "service"),
    MetricSpec("driftlib_model_reloads_total", "counter", "Model (re)loads by result.", ("model", "result"),
               "service"),
    MetricSpec("driftlib_feedback_records_total", "counter", "Feedback records by result (accepted, "
               "unknown request id).", ("model", "result"), "service"),
]
CATALOGUE: dict[str, MetricSpec] = {s.name: s for s in _SPECS}
RUN_METRICS = tuple(s.name for s in _SPECS if s.source == "run")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# regression predictions: 0 and +-{1, 2.5, 5} x 10^k for k in -2..6 (57 buckets, any sign or scale)
_STEPS = sorted(m * 10.0 ** k for k in range(-2, 7) for m in (1, 2.5, 5))
PREDICTION_BUCKETS = tuple([-v for v in reversed(_STEPS)] + [0.0] + _STEPS)


def exposed_names() -> set[str]:
    """Every sample name any catalogued metric can expose (for checking queries and rules)."""
    return set().union(*(spec.exposed_names() for spec in _SPECS))


def service_metric(name: str, registry: CollectorRegistry | None = None, buckets: tuple | None = None):
    """Build the prometheus_client object for a catalogued service metric (names stay in one place)."""
    spec = CATALOGUE[name]
    kwargs: dict[str, Any] = {"labelnames": spec.labels}
    if registry is not None:
        kwargs["registry"] = registry
    if spec.kind == "counter":
        return Counter(spec.name, spec.help, **kwargs)
    if spec.kind == "histogram":
        return Histogram(spec.name, spec.help, buckets=buckets or LATENCY_BUCKETS, **kwargs)
    return Gauge(spec.name, spec.help, **kwargs)


# -- samples of one run ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _num(value: Any) -> float | None:
    """A finite float, or None for anything else (missing keys, None, NaN, strings)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()


def notebook_entry(summary: dict, notebook: str) -> dict:
    """The summary's entry for a notebook ('02_data_drift' or just '02'), or {}."""
    for nb in summary.get("notebooks") or []:
        name = str(nb.get("name", "")) if isinstance(nb, dict) else ""
        if name and (name == notebook or name.split("_", 1)[0] == notebook):
            return nb
    return {}


def notebook_result(summary: dict, notebook: str) -> dict:
    result = notebook_entry(summary, notebook).get("result")
    return result if isinstance(result, dict) else {}



class _Samples:
    """Collects samples for one model, dropping non-numeric values instead of crashing."""

    def __init__(self, model: str):
        self.model, self.items = model, []

    def add(self, name: str, value: Any, **labels: Any) -> None:
        if name not in CATALOGUE:
            raise KeyError(f"{name} is not in the metric catalogue")
        number = _num(value)
        if number is not None:
            self.items.append(Sample(name, {"model": self.model, **{k: str(v) for k, v in labels.items()}}, number))

    def state_set(self, name: str, label: str, states: Iterable[str], current: Any) -> None:
        if current is None:
            return
        for state in dict.fromkeys([*states, str(current)]):
            self.add(name, state == str(current), **{label: state})


def _drift_samples(out: _Samples, r: DataDriftSummary, important: set[str]) -> None:
    for col in r.column_rows():
        out.add("driftlib_feature_drift_score", col.score, feature=col.column)
        out.add("driftlib_feature_drift_threshold", col.threshold, feature=col.column)
        out.add("driftlib_feature_drifted", col.drifted, feature=col.column)
    for feature in sorted(important):
        out.add("driftlib_feature_important", 1, feature=feature)
    out.add("driftlib_drifted_features", len(r.drifted_columns) if r.dataset_drift is not None else None)
    out.add("driftlib_drifted_features_ratio", r.share_drifted)
    out.add("driftlib_dataset_drift", r.dataset_drift)
    for column, drift in r.outputs().items():
        out.add("driftlib_prediction_drift", drift.drifted, column=column)
        out.add("driftlib_prediction_drift_score", drift.score, column=column)
    out.add("driftlib_rows_analysed", r.n_rows)
    untestable = r.extra.get("untestable")
    if isinstance(untestable, list):
        out.add("driftlib_features_untestable", len(untestable))
        out.add("driftlib_dataset_drift_undetermined", r.extra.get("verdict") == "undetermined")
    mv = r.extra.get("multivariate")
    for name, d in ((mv or {}).get("detectors") or {}).items() if isinstance(mv, dict) else ():
        if isinstance(d, dict):
            out.add("driftlib_multivariate_drift", d.get("drifted"), detector=name)
            out.add("driftlib_multivariate_drift_score", d.get("score"), detector=name)
            out.add("driftlib_multivariate_drift_threshold", d.get("threshold_upper"), detector=name)
    segments = r.extra.get("drifted_slices")
    if isinstance(segments, dict):
        out.add("driftlib_drifted_slices", segments.get("n_significant"))
    quality = r.extra.get("quality")
    if isinstance(quality, dict):
        for severity in ("critical", "warning", "info"):
            out.add("driftlib_quality_findings", quality.get(severity), severity=severity)


def _concept_samples(out: _Samples, r: ConceptSummary, metric: str) -> None:
    out.add("driftlib_label_coverage_ratio", r.label_coverage.get("coverage"))
    r.metric = r.metric or metric
    for kind in ("realized", "estimated"):
        block = r.latest(kind)
        if block is not None:
            out.add("driftlib_performance", block["value"], metric=r.metric, kind=kind)
            out.add("driftlib_performance_lower", block.get("lower"), metric=r.metric, kind=kind)
            out.add("driftlib_performance_upper", block.get("upper"), metric=r.metric, kind=kind)
    out.add("driftlib_performance_reference", r.reference_value(), metric=r.metric)
    out.add("driftlib_performance_degraded", r.degraded)
    if r.verdict is not None:
        out.add("driftlib_concept_drift", r.concept_drift)
    out.state_set("driftlib_concept_verdict", "verdict", VERDICTS, r.verdict)
    slices = r.extra.get("degraded_slices")
    if isinstance(slices, dict):
        out.add("driftlib_degraded_slices", slices.get("n_significant"))
    dle = r.extra.get("estimated_regression_error")
    if isinstance(dle, dict):
        for m, e in (dle.get("estimated") or {}).items():
            if isinstance(e, dict):
                out.add("driftlib_estimated_regression_error", e.get("value"), metric=m)
                out.add("driftlib_estimated_regression_error_lower", e.get("lower"), metric=m)
                out.add("driftlib_estimated_regression_error_upper", e.get("upper"), metric=m)
        out.add("driftlib_estimated_regression_error_reliable", dle.get("reliable"))


def _version_number(version: str) -> float | None:
    match = re.fullmatch(r"v?(\d+)", version)
    return float(match.group(1)) if match else None


def _model_samples(out: _Samples, r: RetrainSummary, version: str | None, promoted_at: float | None) -> None:
    out.state_set("driftlib_retrain_decision", "decision", DECISIONS, r.decision)
    if version:
        out.add("driftlib_current_model_version", _version_number(version))
        out.add("driftlib_current_model_info", 1, version=version)
    out.add("driftlib_last_promotion_timestamp_seconds", promoted_at)


def _run_samples(out: _Samples, summary: dict, last_success: float | None, now: float) -> None:
    for nb in summary.get("notebooks") or []:
        if isinstance(nb, dict) and nb.get("name"):
            out.add("driftlib_notebook_success", nb.get("status") == "success", notebook=nb["name"])
            out.add("driftlib_notebook_duration_seconds", nb.get("duration_s"), notebook=nb["name"])
            for reason, count in Summary.from_dict(notebook_result(summary, nb["name"])).skipped_input.items():
                if reason in SKIP_REASONS:
                    out.add("driftlib_input_records_skipped", count, notebook=nb["name"], reason=reason)
            out.add("driftlib_notebook_run_date_timestamp_seconds", _epoch(summary.get("run_date")),
                    notebook=nb["name"])
    success = summary.get("status") == "success"
    finished = _epoch(summary.get("finished")) or now
    started = _epoch(summary.get("started"))
    out.add("driftlib_run_success", success)
    duration = summary.get("duration_s")
    out.add("driftlib_run_duration_seconds", duration if duration is not None else
            (finished - started if started else None))
    out.add("driftlib_last_run_timestamp_seconds", finished)
    out.add("driftlib_run_date_timestamp_seconds", _epoch(summary.get("run_date")))
    out.add("driftlib_last_success_timestamp_seconds", finished if success else last_success)


@dataclass(frozen=True)
class Carried:
    """What a run carries over from earlier runs (a failed run must not erase it). Version and promotion
    time come from the model registry when there is one (`from_registry`), else from the last textfile."""

    last_success: float | None = None
    last_promotion: float | None = None
    version: str | None = None
    drift_streak_before: int = 0
    from_registry: bool = False


def run_samples(params: Params, summary: dict, carried: Carried = Carried(), *,
                now: float | None = None) -> list[Sample]:
    """All latest-run samples for one summary.json (pure: no file access)."""
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    out = _Samples(params.name)
    drift = DataDriftSummary.from_dict(notebook_result(summary, DATA_DRIFT))
    _drift_samples(out, drift, set(params.monitoring.important_features))
    dataset_drift = drift.dataset_drift
    if dataset_drift is None:
        streak = carried.drift_streak_before or None  # no result: the streak neither grows nor breaks
    else:
        streak = carried.drift_streak_before + 1 if dataset_drift else 0
    out.add("driftlib_dataset_drift_consecutive_runs", streak)
    _concept_samples(out, ConceptSummary.from_dict(notebook_result(summary, CONCEPT_DRIFT)), params.concept.metric)
    retrain = RetrainSummary.from_dict(notebook_result(summary, RETRAINING))
    version, promoted = carried.version, carried.last_promotion
    if not carried.from_registry:
        version = retrain.current_version or version
        if retrain.decision == "promoted":
            promoted = _epoch(summary.get("finished")) or now
    _model_samples(out, retrain, str(version) if version else None, promoted)
    _run_samples(out, summary, carried.last_success, now)
    return out.items


# -- carried state ---------------------------------------------------------------------------------
def textfile_path(params: Params) -> Path:
    return params.path(params.monitoring.textfile_dir) / f"driftlib_{params.name}.prom"


def read_textfile(path: Path) -> dict[str, list[Sample]]:
    """Samples of a .prom file by metric name; {} when it is absent or unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    found: dict[str, list[Sample]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                found.setdefault(s.name, []).append(Sample(s.name, dict(s.labels), s.value))
    except ValueError:
        return {}
    return found


def _value(samples: dict[str, list[Sample]], name: str) -> float | None:
    return samples[name][0].value if samples.get(name) else None


def _registry_state(params: Params) -> tuple[str | None, float | None]:
    """Current version and last promotion time from the model registry (None, None without one)."""
    try:
        from driftlib.models.registry import Registry

        registry = Registry.from_params(params)
        version = registry.current_version()
        promotions = [r for r in registry.history() if r.get("action") == "promote"]
    except Exception:  # noqa: BLE001 - an unreadable registry must not stop the metrics: use the textfile
        return None, None
    return version, (_epoch(promotions[-1].get("time")) if version and promotions else None)


def _read_summary(path: Path) -> dict | None:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _drift_flag(summary_file: Path) -> bool | None:
    flag = notebook_result(_read_summary(summary_file) or {}, DATA_DRIFT).get("dataset_drift")
    return None if flag is None else bool(flag)


def dated_summaries(outputs_dir: Path) -> list[Path]:
    """`outputs/<YYYY-MM-DD>/summary.json` files, oldest run date first."""
    return sorted(p for p in outputs_dir.glob("*/summary.json") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.parent.name))


def drift_streak_before(outputs_dir: Path, run_date: str | None) -> int:
    """Consecutive runs with dataset drift just before `run_date`; runs without a result are skipped."""
    dated = [p for p in dated_summaries(outputs_dir) if run_date is None or p.parent.name < run_date]
    streak = 0
    for summary_file in reversed(dated):
        flag = _drift_flag(summary_file)
        if flag is False:
            break
        streak += bool(flag)
    return streak


def carried_state(params: Params, summary: dict) -> Carried:
    previous = read_textfile(textfile_path(params))
    last_success = _value(previous, "driftlib_last_success_timestamp_seconds")
    streak = drift_streak_before(params.outputs_dir, summary.get("run_date"))
    version, promoted = _registry_state(params)
    if version:
        return Carried(last_success, promoted, version, streak, from_registry=True)
    old_info = previous.get("driftlib_current_model_info") or []
    return Carried(last_success, _value(previous, "driftlib_last_promotion_timestamp_seconds"),
                   old_info[0].labels.get("version") if old_info else None, streak)


# -- exposition ------------------------------------------------------------------------------------
def families(samples: Iterable[Sample]) -> list[Metric]:
    """Group samples into gauge families with the catalogue's help text, in catalogue order."""
    by_name: dict[str, GaugeMetricFamily] = {}
    for s in samples:
        spec = CATALOGUE[s.name]
        family = by_name.setdefault(s.name, GaugeMetricFamily(s.name, spec.help, labels=list(spec.labels)))
        family.add_metric([s.labels.get(k, "") for k in spec.labels], s.value)
    return [by_name[name] for name in RUN_METRICS if name in by_name]


class _Static:
    def __init__(self, metric_families: list[Metric]):
        self._families = metric_families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def write_run_metrics(params: Params, summary: dict, *, clock: Callable[[], datetime] | None = None) -> Path:
    """Merge a run's gauges into `<textfile_dir>/driftlib_<model>.prom` (atomically); return the path.

    The file describes the newest run date per notebook: a partial run (`--only 02`) replaces only the
    series of the notebooks it ran, and a backfill of an older date replaces nothing newer (see
    `merge_samples`), so alerts on the other series neither vanish nor resolve."""
    now = (clock or (lambda: datetime.now(timezone.utc)))().timestamp()
    carried = carried_state(params, summary)
    samples = run_samples(params, summary, carried, now=now)
    path = textfile_path(params)
    samples = merge_samples(read_textfile(path), samples, summary, model_from_registry=carried.from_registry)
    path.parent.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    registry.register(_Static(families(samples)))
    write_to_textfile(str(path), registry)
    return path


#: which notebook's result each series comes from (the rest: the run itself, or current configuration)
NOTEBOOK_SERIES = {
    DATA_DRIFT: ("driftlib_feature_drift_score", "driftlib_feature_drift_threshold", "driftlib_feature_drifted",
                 "driftlib_drifted_features", "driftlib_drifted_features_ratio", "driftlib_dataset_drift",
                 "driftlib_dataset_drift_consecutive_runs", "driftlib_prediction_drift",
                 "driftlib_prediction_drift_score", "driftlib_rows_analysed"),
    CONCEPT_DRIFT: ("driftlib_label_coverage_ratio", "driftlib_performance", "driftlib_performance_lower",
                    "driftlib_performance_upper", "driftlib_performance_reference", "driftlib_performance_degraded",
                    "driftlib_concept_drift", "driftlib_concept_verdict"),
    RETRAINING: ("driftlib_retrain_decision",),
}
MODEL_STATE = ("driftlib_current_model_version", "driftlib_current_model_info",
               "driftlib_last_promotion_timestamp_seconds")
PER_NOTEBOOK = ("driftlib_notebook_success", "driftlib_notebook_duration_seconds", "driftlib_input_records_skipped",
                "driftlib_notebook_run_date_timestamp_seconds")
RUN_SERIES = ("driftlib_run_success", "driftlib_run_duration_seconds", "driftlib_last_run_timestamp_seconds",
              "driftlib_run_date_timestamp_seconds", "driftlib_last_success_timestamp_seconds")
_OWNER = {name: nb for nb, names in NOTEBOOK_SERIES.items() for name in names}
_RUN = "run"


def _owner(s: Sample, model_from_registry: bool) -> str | None:
    """The group a sample belongs to (a notebook name or 'run'); None: always the newest value."""
    if s.name in PER_NOTEBOOK:
        return s.labels.get("notebook") or None
    if s.name in MODEL_STATE:
        return None if model_from_registry else RETRAINING
    if s.name in RUN_SERIES:
        return _RUN
    return _OWNER.get(s.name)


def merge_samples(old: dict[str, list[Sample]], new: list[Sample], summary: dict, *,
                  model_from_registry: bool = False) -> list[Sample]:
    """The textfile after this run: per notebook, the series of the newest run date it ran for.

    A group (a notebook's series, or the run's own) is taken from this run when the run includes that
    notebook and its run date is not older than the date the file holds for it; otherwise the file's
    series stay. Model state read from the registry is always current; configuration-only series
    (important features) always come from this run."""
    run_date = _epoch(summary.get("run_date"))
    old_samples = [s for name in RUN_METRICS for s in old.get(name, [])]
    legacy = _value(old, "driftlib_run_date_timestamp_seconds")  # files written before the merge
    held = {s.labels.get("notebook"): s.value for s in old.get("driftlib_notebook_run_date_timestamp_seconds", [])}
    held[_RUN] = legacy
    ran = {str(nb.get("name")) for nb in summary.get("notebooks") or [] if isinstance(nb, dict) and nb.get("name")}
    ran.add(_RUN)

    def fresh(group: str) -> bool:
        date = held.get(group, legacy if old_samples else None)
        return group in ran and (date is None or run_date is None or run_date >= date)

    merged = [s for s in new if (g := _owner(s, model_from_registry)) is None or fresh(g)]
    kept = [s for s in old_samples
            if (g := _owner(s, model_from_registry)) is not None and not fresh(g) and s.labels.get("model")]
    if not fresh(_RUN):  # a backfill: the newest run's last success stays, unless this one is later
        merged = [s for s in merged if s.name != "driftlib_last_success_timestamp_seconds"]
    return sorted(kept + merged, key=lambda s: (RUN_METRICS.index(s.name), sorted(s.labels.items())))


# -- the service's view ----------------------------------------------------------------------------
def newest_summary(outputs_dir: Path) -> dict | None:
    return next(filter(None, map(_read_summary, reversed(dated_summaries(outputs_dir)))), None)


class RunCollector:
    """Latest-run gauges for the service's /metrics: the textfile if present, else the newest summary."""

    def __init__(self, params: Params):
        self.params = params

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(name, CATALOGUE[name].help) for name in RUN_METRICS]

    def collect(self) -> Iterator[Metric]:
        found = read_textfile(textfile_path(self.params))
        if found:
            samples = [s for name in RUN_METRICS for s in found.get(name, [])]
        else:
            summary = newest_summary(self.params.outputs_dir)
            samples = run_samples(self.params, summary) if summary else []
        yield from families(samples)


def register_run_collector(registry: CollectorRegistry, params: Params) -> RunCollector:
    """Expose the latest-run gauges on `registry` (the service calls this for its /metrics)."""
    collector = RunCollector(params)
    registry.register(collector)
    return collector
