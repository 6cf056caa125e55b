"""The contracts between notebooks, runner, index and monitoring, in one place.

The notebook table, the vocabularies (notebook status, concept verdict, retraining decision, model
health, exit codes) and the typed results notebooks 01-04 save. Producers build these objects;
consumers read their fields. Nobody guesses the shape of a dict. `to_dict()` keeps the keys of
`../shared/DESIGN.md` (summary.json `result`); keys a summary does not model travel in `extra`,
so a round trip never drops anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from driftlib.core.jsonio import to_jsonable

# -- the notebook table ------------------------------------------------------------------------------
REQUIRED_PARAMETERS = ("params_file", "run_date", "output_dir")


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of a run: its file stem, title, the notebooks it needs and the parameters it must declare."""

    name: str
    title: str
    depends: tuple[str, ...] = ()
    required: tuple[str, ...] = REQUIRED_PARAMETERS


NOTEBOOK_TABLE = (
    NotebookSpec("01_reference_capture", "Reference capture"),
    NotebookSpec("02_data_drift", "Data drift", ("01_reference_capture",)),
    NotebookSpec("03_concept_drift", "Concept drift", ("01_reference_capture",)),
    NotebookSpec("04_retraining", "Retraining", ("02_data_drift", "03_concept_drift")),
)
NOTEBOOKS = tuple(nb.name for nb in NOTEBOOK_TABLE)
REFERENCE_CAPTURE, DATA_DRIFT, CONCEPT_DRIFT, RETRAINING = NOTEBOOKS


def notebook_spec(name: str) -> NotebookSpec:
    """The table entry for a notebook, by full name or by its number ('02')."""
    for nb in NOTEBOOK_TABLE:
        if name in (nb.name, nb.name.split("_", 1)[0]):
            return nb
    raise KeyError(name)


# -- vocabularies -----------------------------------------------------------------------------------
NOTEBOOK_STATUSES = ("success", "failed", "skipped", "timeout")
RUN_STATUSES = ("success", "failed")
VERDICTS = ("stable", "data drift only", "concept drift", "both", "insufficient labels")
CONCEPT_VERDICTS = ("concept drift", "both")  # verdicts that mean P(y|x) changed
DECISIONS = ("promoted", "rejected", "skipped")
HEALTH = ("healthy", "data drift", "degraded", "concept drift", "insufficient data", "unknown")

# metric names by task: the gate's (retrain.metric) and the concept report's (concept.metric, …).
# Params are checked against these when they load; tests/test_contracts.py keeps them equal to the
# registries in models.gate and performance.metrics, so config needs neither (no import cycle).
GATE_METRICS = {"roc_auc": "classification", "average_precision": "classification", "log_loss": "classification",
                "brier": "classification", "accuracy": "classification", "f1": "classification",
                "rmse": "regression", "mae": "regression", "r2": "regression"}
REPORT_METRICS = {"accuracy": "classification", "f1": "classification", "roc_auc": "classification",
                  "brier": "classification", "ece": "classification", "log_loss": "classification",
                  "mae": "regression", "rmse": "regression"}

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
EXIT_DATA_DRIFT, EXIT_CONCEPT_DRIFT, EXIT_BOTH_DRIFT = 3, 4, 5


def drift_exit_code(data_drift: bool, concept_drift: bool) -> int:
    """`--fail-on-drift`: 3 data drift, 4 concept drift, 5 both, else 0."""
    return {(True, True): EXIT_BOTH_DRIFT, (True, False): EXIT_DATA_DRIFT,
            (False, True): EXIT_CONCEPT_DRIFT}.get((bool(data_drift), bool(concept_drift)), EXIT_OK)


# -- what the readers left out -------------------------------------------------------------------
SKIP_REASONS = ("torn", "unparsed", "quarantined")


@dataclass
class SkippedInput:
    """Input the readers could not use: torn log lines, table lines that do not parse, log records
    set aside (quarantined). Counted per reason for `summary.json` and a gauge, with one warning line
    per source: a run that left rows out says so instead of reporting on less data in silence."""

    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, reason: str, count: int, warning: str) -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        if count:
            self.counts[reason] = self.counts.get(reason, 0) + int(count)
            self.warnings.append(warning)

    def to_dict(self) -> dict[str, int]:
        return {reason: self.counts.get(reason, 0) for reason in SKIP_REASONS}


# -- typed results ----------------------------------------------------------------------------------
@dataclass
class Summary:
    """Base of the notebook results: `headline` first, `warnings` for degradations inside a notebook."""

    NOTEBOOK: ClassVar[str] = ""
    headline: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped_input: dict[str, int] = field(default_factory=dict)  # SkippedInput.to_dict(): rows left out
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return to_jsonable({"headline": self.headline, **self.extra, **out})

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        """The typed view of a saved result; None stays None (the notebook did not run or finish)."""
        if data is None:
            return None
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        kwargs = {k: _checked(known[k], v) for k, v in data.items() if k in known}
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in known})

    def _repr_html_(self) -> str:
        import html

        items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        return f"<p><b>{html.escape(self.headline)}</b></p>" + (f"<ul>{items}</ul>" if items else "")


def _checked(f, value: Any) -> Any:
    """A saved value of the field's container type, else the field's default: a hand-edited or
    truncated summary.json degrades to "unknown" for that field instead of breaking every consumer."""
    default = f.default_factory() if callable(f.default_factory) else f.default
    if isinstance(default, (list, dict)):
        if not isinstance(value, type(default)):
            return default
        if isinstance(value, list) and f.name in _ROWS_OF_DICTS:
            return [v for v in value if isinstance(v, dict)]
    return value


_ROWS_OF_DICTS = {"columns", "windows"}


@dataclass
class ColumnDrift:
    """One feature's test in a data-drift result (the `driftlib drift --json` row, plus status)."""

    column: str
    method: str | None = None
    score: float | None = None
    threshold: float | None = None
    drifted: bool | None = None
    status: str = "ok"


@dataclass
class OutputDrift:
    """Drift of one model output column (prediction or probability)."""

    drifted: bool | None = None
    score: float | None = None
    method: str | None = None
    threshold: float | None = None
    status: str = "ok"


@dataclass
class ReferenceSummary(Summary):
    """Notebook 01's result: which reference every later report is compared with, and whether it changed.

    Saved with the keys notebook 01 has always written, in that order; `skipped_input` only when set
    (the reference is read whole, so there is nothing to count)."""

    NOTEBOOK: ClassVar[str] = REFERENCE_CAPTURE
    n_rows: int | None = None
    start: Any = None  # first and last reference timestamp (ISO strings once saved)
    end: Any = None
    fingerprint: str | None = None
    changed: bool | None = None  # fingerprint differs from the last capture
    model_version: str | None = None
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    positive_rate: float | None = None
    baseline: dict[str, Any] = field(default_factory=dict)  # concept.baseline.Baseline.info()

    def to_dict(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("headline", "warnings", "skipped_input", "extra")}
        tail = {"warnings": self.warnings, **({"skipped_input": self.skipped_input} if self.skipped_input else {})}
        return to_jsonable({"headline": self.headline, **self.extra, **own, **tail})


@dataclass
class DataDriftSummary(Summary):
    """Notebook 02's result."""

    NOTEBOOK: ClassVar[str] = DATA_DRIFT
    dataset_drift: bool | None = None
    share_drifted: float | None = None
    drifted_columns: list[str] = field(default_factory=list)
    prediction_drift: dict[str, dict] = field(default_factory=dict)
    columns: list[dict] = field(default_factory=list)
    n_rows: int | None = None

    def column_rows(self) -> list[ColumnDrift]:
        names = {f.name for f in fields(ColumnDrift)}
        return [ColumnDrift(**{k: v for k, v in c.items() if k in names}) for c in self.columns
                if c.get("column") is not None]

    def outputs(self) -> dict[str, OutputDrift]:
        names = {f.name for f in fields(OutputDrift)}
        return {col: OutputDrift(**{k: v for k, v in d.items() if k in names})
                for col, d in self.prediction_drift.items() if isinstance(d, dict)}


@dataclass
class ConceptSummary(Summary):
    """Notebook 03's result (the `ConceptReport` as saved, plus the serving model)."""

    NOTEBOOK: ClassVar[str] = CONCEPT_DRIFT
    verdict: str | None = None
    degraded: bool | None = None
    onset: str | None = None
    metric: str | None = None
    reference: dict[str, Any] = field(default_factory=dict)
    windows: list[dict] = field(default_factory=list)
    label_coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def concept_drift(self) -> bool:
        return self.verdict in CONCEPT_VERDICTS

    def latest(self, kind: str) -> dict | None:
        """{value, lower, upper} of `metric` in the newest window that has a `kind` (realized/estimated) value."""
        for window in reversed(self.windows):
            block = ((window.get(kind) or {}).get(self.metric or "")) or {}
            if block.get("value") is not None:
                return block
        return None

    def reference_value(self) -> float | None:
        block = self.reference.get(self.metric or "")
        return block.get("value") if isinstance(block, dict) else None


@dataclass
class RetrainSummary(Summary):
    """Notebook 04's result."""

    NOTEBOOK: ClassVar[str] = RETRAINING
    decision: str | None = None
    reasons: list[str] = field(default_factory=list)
    champion: str | None = None
    challenger: str | None = None
    current_version: str | None = None
    metric: str | None = None
    triggers: list[str] = field(default_factory=list)
    forced: bool = False


SUMMARIES: dict[str, type[Summary]] = {s.NOTEBOOK: s for s in (ReferenceSummary, DataDriftSummary,
                                                                  ConceptSummary, RetrainSummary)}


def typed_result(name: str, data: dict[str, Any] | None) -> Summary | None:
    """A notebook's saved result as its typed summary."""
    return SUMMARIES.get(notebook_spec(name).name, Summary).from_dict(data)
