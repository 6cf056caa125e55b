"""The params model: one validated object per monitored model, loaded from `params/*.yaml`.

Everything downstream receives a `Params`; nothing reads YAML or environment on its own. Relative
paths are resolved against `root` (itself relative to the params file), so a run behaves the same
from any working directory, in a papermill kernel or under cron.
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from driftlib.core.errors import ConfigError

from driftlib.core.contracts import NOTEBOOKS  # noqa: E402,F401  (the table lives in core.contracts)


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid")


class TableSource(Strict):
    """A table on disk: a CSV/Parquet/JSONL file or a glob of them, optionally cut to [start, end)."""

    path: str = Field(description="file or glob (csv, parquet, jsonl)")
    start: str | None = Field(None, description="inclusive ISO date/time on the timestamp column")
    end: str | None = Field(None, description="exclusive ISO date/time on the timestamp column")


class Columns(Strict):
    timestamp: str = Field(description="event time column (UTC)")
    target: str | None = Field(None, description="true label column (absent until labels arrive)")
    prediction: str = "prediction"
    probability: str | None = "probability"
    id: str | None = Field(None, description="unique record id, if the data has one")
    label_timestamp: str | None = Field(None, description="when each label arrived (table sources)")
    positive_label: str | int | float | bool | None = Field(
        None, description="target value counted as the positive class (1); inferred for pairs such as "
        "0/1, false/true, no/yes; with more than two classes: that class one-vs-rest")


class Features(Strict):
    """Feature lists; both empty means infer from the reference dtypes."""

    numeric: list[str] = []
    categorical: list[str] = []

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class Production(Strict):
    """Where production traffic comes from: the service's inference log, or a plain table."""

    source: Literal["log", "table"] = "log"
    path: str | None = Field(None, description="table file/glob when source is 'table'")

    @model_validator(mode="after")
    def _table_needs_path(self) -> "Production":
        if self.source == "table" and not self.path:
            raise ValueError("production.path is required when production.source is 'table'")
        return self


class LogConfig(Strict):
    sink: str = Field("jsonl", description="log sink name (see driftlib.inference_log.sink)")
    dir: str = "logs"
    fsync: bool = Field(False, description="fsync every log write (survives power loss, not only "
                        "a crashed server; much slower)")


class ColumnTest(Strict):
    method: str | None = None
    threshold: float | None = None


class ErrorControl(Strict):
    """Opt-in error control shown beside the default verdict (driftlib.drift.error_control)."""

    fdr: bool = Field(False, description="Benjamini-Hochberg across features: dataset drift is a "
                      "false alarm at most fdr_level of the runs where nothing changed")
    fdr_level: float = Field(0.05, gt=0, lt=1)
    fdr_method: Literal["bh", "by"] = Field("bh", description="bh, or by (Benjamini-Yekutieli: any dependence)")
    null_draws: int = Field(200, ge=19, description="bootstrap draws of the null of distance tests' scores")
    k_of_n: list[int] | None = Field(None, description="[k, n]: dataset drift only when k of the last n "
                                     "runs drifted; [N, N] with N = monitoring.drift_consecutive_runs "
                                     "is the Prometheus alert's rule")
    seed: int = 0

    @model_validator(mode="after")
    def _k_le_n(self) -> "ErrorControl":
        if self.k_of_n is not None and not (len(self.k_of_n) == 2 and 1 <= self.k_of_n[0] <= self.k_of_n[1]):
            raise ValueError(f"k_of_n must be [k, n] with 1 <= k <= n, got {self.k_of_n}")
        return self


class SparkConfig(Strict):
    """Where `engine: spark` runs: a master URL (local[2], spark://host:7077, yarn, k8s://...) and options."""

    master: str = "local[2]"
    app_name: str = "driftlib"
    options: dict[str, str] = Field({}, description="Spark settings, e.g. spark.executor.memory: 4g")


class DriftConfig(Strict):
    drift_share: float = Field(0.5, gt=0, le=1)
    min_rows: int = Field(100, ge=1, description="windows with fewer rows are 'insufficient data'")
    window: str = Field("1D", description="pandas offset (1D, 7D, ...) or a row count")
    columns: dict[str, ColumnTest] = {}
    evidently_sample: int = Field(20000, ge=100, description="rows per side for Evidently's HTML")
    evidently_max_columns: int = Field(300, ge=1, description="wider tables skip Evidently's HTML (it "
                                       "grows to tens of MB); the full drift table is always in 02_drift_table.csv")
    importance: Literal["permutation", "none"] = Field("permutation", description="how features are weighted "
                                                      "in the ranking: permutation importance, or drift strength only")
    importance_max_features: int = Field(30, ge=1, description="permutation importance for at most this many "
                                         "features (the most drifted): its cost grows with every column")
    missing_share_tolerance: float = Field(0.05, ge=0, le=1, description="report a change of a "
                                           "column's missing-value share at least this large")
    out_of_range_tolerance: float = Field(0.01, ge=0, le=1, description="report values outside the "
                                          "reference range / unseen categories above this share")
    error_control: ErrorControl = ErrorControl()
    multivariate: bool = Field(True, description="also run the multivariate detectors (domain classifier, "
                               "PCA reconstruction) and the drifted-segment search on the run window")
    multivariate_max_features: int = Field(100, ge=2, description="wider tables give the multivariate checks "
                                           "their most drifted features only (their cost grows with every column)")
    detectable_shift: float | None = Field(0.5, gt=0, description="report features whose run window could not "
                                           "have detected a shift this large (numeric: reference std; categorical: "
                                           "total-variation distance); null: skip")
    engine: Literal["auto", "exact", "duckdb", "spark"] = Field(
        "auto", description="auto: exact in memory when the data fits memory_budget_mb, DuckDB out of core otherwise")
    memory_budget_mb: int = Field(2048, ge=64, description="memory the exact engine may use (engine: auto)")
    spark: SparkConfig = SparkConfig()


class CalibrationConfig(Strict):
    """`driftlib calibrate`: measured false-alarm and detection rates (driftlib.calibration)."""

    budget_s: float = Field(120, gt=0, description="wall-clock budget; stops early, says so")
    seed: int = 0
    target_false_alarm: float = Field(0.05, gt=0, lt=1, description="per-column rate a suggestion must meet")
    n_windows: int = Field(40, ge=5, description="pseudo-windows per size")
    sizes: list[int] = Field([], description="rows per pseudo-window; empty = drift.min_rows and the "
                             "reference rows per drift.window")
    methods: list[str] = Field([], description="stat tests compared; empty = all registered")
    thresholds: dict[str, list[float]] = Field({}, description="method -> thresholds tried")
    strengths: dict[str, list[float]] = Field({}, description="shift -> strengths injected")
    shifts: list[Literal["location", "scale", "category_mix", "missing_share"]] = [
        "location", "scale", "category_mix", "missing_share"]
    power: float = Field(0.5, gt=0, lt=1, description="detection probability of a 'detectable' shift")
    out: str | None = Field(None, description="report folder; default <run.outputs>/calibration")


class ConceptConfig(Strict):
    window: str = Field("7D", description="timeline windows: a fixed span ending at the run date (7D), a "
                        "calendar offset (W-MON, MS: finished weeks/months keep their bounds, so daily runs "
                        "reuse them from the cache) or a row count")
    min_labels: int = Field(200, ge=10)
    metric: str | None = Field(None, description="default follows the task: roc_auc (classification), mae (regression)")
    n_bootstrap: int = Field(200, ge=20)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    metrics: list[str] | None = Field(None, description="metrics reported; None = all for the task")
    tolerance: float = Field(0.0, ge=0, description="degraded only if the interval is this far below the reference")
    degradation_metrics: list[str] | None = Field(
        None, description="metrics whose intervals decide 'degraded'; None = metric, plus brier for probabilities")
    alpha: float = Field(0.01, gt=0, lt=0.5, description="false-alarm level of the concept and data checks")
    tests: list[str] = Field(["calibration", "features"], description="concept tests (Bonferroni-combined)")
    learner: str = Field("hgb", description="model of P(y|x) in the concept test (see driftlib.concept.shift)")
    reference_ratio: float = Field(2.0, gt=0, description="reference rows per labelled window row in the test")
    max_features: int = Field(50, ge=1, description="wide tables: the concept test models P(y|x) on this many "
                              "features, those most associated with the target on the reference")
    test_windows: bool = Field(True, description="also run the concept test on every timeline window")
    n_jobs: int = Field(2, ge=1, description="processes for the timeline windows not reused from the cache "
                        "(at most the CPUs; 1 = this process only); results do not depend on it")
    history_days: int | None = Field(365, ge=1, description="the timeline and change detectors look back this "
                                     "far before the run date (null: all history); bounds a run's cost as the log grows")
    calibration: str = Field("isotonic", description="isotonic | sigmoid, fitted on the reference")
    detectors: list[str] = ["adwin", "page_hinkley", "ddm"]
    min_agreement: int = Field(2, ge=1, description="detectors that must agree on a change point")
    onset_tolerance: str = Field("7D", description="how close in time agreeing detections must be")
    slice_metric: str = "accuracy"
    min_slice_rows: int = Field(50, ge=5)
    n_slices: int = Field(10, ge=1)
    seed: int = 0


class ModelConfig(Strict):
    registry: str = "models"
    estimator: str = Field("hist_gradient_boosting", description="see driftlib.models.training.ESTIMATORS")
    params: dict[str, Any] = {}
    train: TableSource | None = Field(None, description="initial training data (models train)")


class RetrainConfig(Strict):
    strategy: Literal["all", "sliding", "weighted"] = "sliding"
    window_days: int = Field(60, ge=1)
    half_life_days: float = Field(30, gt=0)
    holdout_days: int = Field(14, ge=1)
    metric: str | None = Field(None, description="gate metric; default follows the task: roc_auc "
                               "(classification), mae (regression)")
    min_improvement: float = Field(0.005, ge=0)
    slice_columns: list[str] = []
    slice_tolerance: float | None = Field(None, ge=0, description="a slice may get this much worse under the "
                                          "challenger; null: 0.02 for bounded metrics (AUC, accuracy, ...), "
                                          "5% of the champion's holdout value for error metrics (mae, rmse)")
    min_slice_rows: int = Field(200, ge=1)
    force: bool = False
    n_bootstrap: int = Field(500, ge=50, description="paired bootstrap resamples of the holdout")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of the metric-difference CI")
    min_train_rows: int = Field(1000, ge=10, description="fewer labelled training rows: skipped")
    min_holdout_rows: int = Field(500, ge=10, description="fewer labelled holdout rows: skipped")
    seed: int = Field(0, description="random state for the bootstrap")
    fit_threads: int = Field(1, ge=1, description="OpenMP/BLAS threads while training and scoring")


class ServiceConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(5_000_000, ge=1024)
    max_batch: int = Field(10_000, ge=1)
    reload_interval_s: float = Field(0.5, gt=0, description="how often the service checks the "
                                     "registry's CURRENT pointer for a new model")
    model_threads: int = Field(1, ge=1, description="OpenMP/BLAS threads per scoring call; 1 "
                               "keeps latency steady on a shared machine")
    max_category_chars: int = Field(1000, ge=1, le=1_000_000, description="longest categorical value "
                                    "accepted (longer: 422); bounds every logged record's size")
    timestamp_window_days: float | None = Field(None, gt=0, description="if set, client-sent "
                                                "timestamps must lie within this many days of the server "
                                                "clock (422 otherwise); off by default because replays, "
                                                "such as the demo's 2013 traffic, send past event times")
    body_timeout_s: float = Field(10.0, gt=0, description="a request body not received in full within "
                                  "this time is refused with 408 (slow or stalled clients)")
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="idle keep-alive connections are closed "
                                        "after this time (uvicorn timeout_keep_alive)")
    header_timeout_s: float = Field(10.0, gt=0, description="a connection whose request line and headers "
                                    "have not arrived this long after it opened (or after its last "
                                    "response) is closed: slow clients cannot hold connections forever")


class MonitoringConfig(Strict):
    textfile_dir: str = "outputs/metrics"
    evidently_workspace: str | None = "outputs/evidently"
    expected_interval_hours: float = Field(26, gt=0)
    performance_drop: float = Field(0.05, ge=0)
    drift_consecutive_runs: int = Field(3, ge=1, description="alert after this many runs in a row with dataset drift")
    important_features: list[str] = Field([], description="features whose drift alone raises an alert")
    max_error_ratio: float = Field(0.05, gt=0, le=1, description="alert when this share of requests fails (5xx)")
    service_job: str = Field("driftlib", description="Prometheus job name scraping `driftlib serve`")
    report_base_url: str = Field("http://127.0.0.1:8080", pattern=r"^(https?|file)://",
                                 description="URL serving run.outputs: alerts link <base>/<run date>/<report>.html")


class RunConfig(Strict):
    outputs: str = "outputs"
    notebooks: str | None = Field(None, description="folder holding the four notebooks (default: the ones shipped in the package)")
    state_dir: str = Field("state", description="captured reference, locks")
    cache: bool = Field(True, description="reuse finished windows' results between runs (state_dir/cache): "
                        "keyed by the window's rows, labels and the fitted state, so a change recomputes")
    lookback_days: int = Field(28, ge=1, description="production window before the run date")
    cell_timeout_s: int = Field(600, ge=1)
    notebook_timeout_s: int = Field(900, ge=1)


class Params(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="model name; labels metrics")
    description: str = Field("", description="one sentence on what the model predicts, shown at the top of every report")
    root: str = Field(".", description="base for relative paths, relative to this file")
    task: Literal["classification", "regression"] = "classification"
    reference: TableSource
    production: Production = Production()
    columns: Columns
    features: Features = Features()
    log: LogConfig = LogConfig()
    model: ModelConfig = ModelConfig()
    drift: DriftConfig = DriftConfig()
    concept: ConceptConfig = ConceptConfig()
    retrain: RetrainConfig = RetrainConfig()
    service: ServiceConfig = ServiceConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    run: RunConfig = RunConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    source_file: str | None = Field(None, exclude=True, description="set by load_params")

    @model_validator(mode="after")
    def _metrics_follow_task(self) -> "Params":
        """Metric defaults follow `task`; a metric of the other task or a typo fails at load, not in a notebook."""
        from driftlib.core.contracts import GATE_METRICS, REPORT_METRICS as CONCEPT_METRICS

        default = "roc_auc" if self.task == "classification" else "mae"
        self.concept.metric = self.concept.metric or default
        self.retrain.metric = self.retrain.metric or default
        checks = [("retrain.metric", GATE_METRICS, [self.retrain.metric]),
                  ("concept.metric", CONCEPT_METRICS, [self.concept.metric]),
                  ("concept.metrics", CONCEPT_METRICS, self.concept.metrics or []),
                  ("concept.degradation_metrics", CONCEPT_METRICS, self.concept.degradation_metrics or [])]
        if self.task == "classification" or "slice_metric" in self.concept.model_fields_set:
            checks.append(("concept.slice_metric", CONCEPT_METRICS, [self.concept.slice_metric]))
        for name, registry, values in checks:
            for value in values:
                if registry.get(value) != self.task:
                    choose = ", ".join(k for k, task in registry.items() if task == self.task)
                    raise ValueError(f"field '{name}': '{value}' is not a {self.task} metric (task: "
                                     f"{self.task}; choose from {choose})")
        return self

    # -- paths -----------------------------------------------------------------------------------
    @property
    def root_dir(self) -> Path:
        base = Path(self.source_file).parent if self.source_file else Path.cwd()
        return (base / self.root).resolve()

    def path(self, value: str | Path) -> Path:
        """Resolve a configured path against `root`."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.root_dir / p)

    @property
    def outputs_dir(self) -> Path:
        return self.path(self.run.outputs)

    @property
    def state_dir(self) -> Path:
        return self.path(self.run.state_dir)

    @property
    def log_dir(self) -> Path:
        return self.path(self.log.dir)

    @property
    def registry_dir(self) -> Path:
        return self.path(self.model.registry)


def _field_name(loc: tuple) -> str:
    return ".".join(str(x) for x in loc if not str(x).startswith("function-"))


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    field = _field_name(e["loc"]) or "(top level)"
    if e["type"] == "extra_forbidden":
        return f"unknown key '{field}'"
    if e["type"] == "missing":
        return f"missing required key '{field}'"
    if e["type"] == "value_error" and not _field_name(e["loc"]) and str(e["msg"]).startswith("Value error, field '"):
        return str(e["msg"])[len("Value error, "):]  # a cross-field check that names its own field
    return f"field '{field}': {e['msg']}"


def parse_params(data: Any, source: str = "<params>") -> Params:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        params = Params.model_validate({**data, "source_file": source})
    except ValidationError as err:
        raise ConfigError(f"{source}: {_first_error(err)}") from None
    return params


def load_params(path: str | Path, *, check_files: bool = True) -> Params:
    """Load and validate a params file; raise ConfigError naming the file and field."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: params file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}") from None
    params = parse_params(data, str(p.resolve()))
    if check_files:
        check_inputs(params)
    return params


def _check_glob(params: Params, field: str, value: str) -> None:
    path = params.path(value)
    if not glob.glob(str(path)):
        raise ConfigError(f"{params.source_file}: field '{field}': no file matches {path}")


def check_inputs(params: Params) -> None:
    """Fail before any notebook runs when a configured input file does not exist."""
    _check_glob(params, "reference.path", params.reference.path)
    if params.production.source == "table":
        _check_glob(params, "production.path", params.production.path or "")
    if params.model.train is not None:
        _check_glob(params, "model.train.path", params.model.train.path)
