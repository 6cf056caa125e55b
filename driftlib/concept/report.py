"""The result of a concept drift investigation: one object for the notebook, the runner and the plots."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from driftlib.core.jsonio import to_jsonable


@dataclass
class ConceptReport:
    headline: str
    verdict: str
    degraded: bool | None
    degraded_basis: str
    onset: pd.Timestamp | None
    as_of: pd.Timestamp
    start: pd.Timestamp
    metric: str
    degradation_metrics: list[str]
    task: str
    reference: dict
    current: dict
    windows: list[dict]
    estimation_error: dict
    label_coverage: dict
    change_points: list[dict] = field(default_factory=list)
    detections: list[dict] = field(default_factory=list)
    last_change: pd.Timestamp | None = None
    slices: list[dict] = field(default_factory=list)
    calibration: dict = field(default_factory=dict)
    n_errors: int = 0
    confidence: float = 0.95
    findings: list[str] = field(default_factory=list)  # stated first: one class, overlap with training ...
    insufficient: str | None = None  # why the run window says nothing, and the setting that fixes it
    min_labels: int | None = None
    first_degraded: pd.Timestamp | None = None  # start of the current streak of degraded windows
    onset_basis: str = ""
    single_class: dict | None = None

    def to_dict(self) -> dict:
        """JSON-able; `headline` first, as the runner's index page expects."""
        return to_jsonable({
            "headline": self.headline, "verdict": self.verdict, "degraded": self.degraded,
            "degraded_basis": self.degraded_basis,
            "onset": None if self.onset is None else self.onset.date().isoformat(),
            "metric": self.metric, "degradation_metrics": self.degradation_metrics, "task": self.task,
            "window": {"start": self.start, "end": self.as_of},
            "label_coverage": self.label_coverage, "estimation_error": self.estimation_error,
            "current": self.current,
            "reference": {"n": self.reference["n"], "target_mean": self.reference["target_mean"],
                          **self.reference["metrics"]},
            "windows": [_compact(w) for w in self.windows],
            "change_points": self.change_points, "last_change": self.last_change,
            "detections": _by_detector(self.detections), "n_errors": self.n_errors, "slices": self.slices,
            "calibration": self.calibration, "confidence": self.confidence,
            "findings": self.findings, "insufficient": self.insufficient, "min_labels": self.min_labels,
            "first_degraded": None if self.first_degraded is None else self.first_degraded.date().isoformat(),
            "onset_basis": self.onset_basis, "single_class": self.single_class,
        })

    def windows_frame(self) -> pd.DataFrame:
        """One row per window: the main metric realized/estimated with bounds, coverage, verdict."""
        rows = []
        for w in self.windows:
            r = {"start": w["start"], "end": w["end"], "n": w["n"], "n_labelled": w["n_labelled"],
                 "coverage": w["coverage"], "lag_median_h": w["lag_median_hours"]}
            for kind in ("realized", "estimated"):
                v = (w.get(kind) or {}).get(self.metric) or {}
                r[kind] = v.get("value")
                r[f"{kind}_lower"] = v.get("lower")
                r[f"{kind}_upper"] = v.get("upper")
            r["degraded"] = w.get("degraded")
            r["target_mean"] = w["target"]["mean"]
            r["prediction_mean"] = w["prediction"]["mean"]
            r["verdict"] = w.get("verdict")
            rows.append(r)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        cur = self.current
        ref = self.reference["metrics"].get(self.metric, {})
        real = (cur.get("realized") or {}).get(self.metric)
        est = (cur.get("estimated") or {}).get(self.metric)
        said = VERDICT_TEXT.get(self.verdict)
        cells = [("Drift verdict (concept/data)", f"{self.verdict} ({said})" if said else str(self.verdict)),
                 ("Performance degraded", _fmt_bool(self.degraded, self.degraded_basis)),
                 ("Onset", self.onset.date().isoformat() if self.onset is not None
                  else ("unknown" if self.degraded else "-")),
                 (f"Reference {self.metric}", _fmt_iv(ref)), (f"Realized {self.metric}", _fmt_iv(real)),
                 (f"Estimated {self.metric}", _fmt_iv(est)),
                 ("Label coverage", f"{self.label_coverage['coverage']:.0%} of {self.label_coverage['n']:,}"),
                 ("Window", f"{self.start.date()} to {self.as_of.date()} (exclusive)")]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in cells)
        return (f"<div><p><b>{html.escape(self.headline)}</b></p><table>{body}</table></div>")


def _by_detector(detections: list[dict]) -> dict:
    """{detector: {"up": [timestamps], "down": [...]}}: the detection times, compactly."""
    out: dict = {}
    for d in detections:
        out.setdefault(d["detector"], {"up": [], "down": []})[d["direction"]].append(d["timestamp"])
    return out


def _compact(w: dict) -> dict:
    """A timeline window without the per-feature test lists (the run window keeps them)."""
    data = w.get("data_drift")
    if isinstance(data, dict) and "columns" in data:
        w = {**w, "data_drift": {k: v for k, v in data.items() if k != "columns"}}
    return w


def _defined(v) -> bool:
    return v is not None and v == v and abs(v) != float("inf")


def _fmt_iv(v: dict | None) -> str:
    if not v or v.get("value") is None:
        return "-"
    if not _defined(v["value"]):
        return "undefined"
    if v.get("lower") is None or v["lower"] != v["lower"]:
        return f"{v['value']:.3f}"
    return f"{v['value']:.3f} [{v['lower']:.3f}, {v['upper']:.3f}]"


def _fmt_bool(v: bool | None, basis: str) -> str:
    """'no (judged on the realized performance of the run window)': the basis as people read it."""
    if v is None:
        return "unknown"
    where = basis.replace("(realized)", "").replace("(estimated)", "").strip()
    kind = "estimated" if "estimated" in basis else "realized"
    where = "" if where in ("", "realized", "estimated") else f" of the {where}"
    return f"{'yes' if v else 'no'} (judged on the {kind} performance{where})"


LOWER_IS_BETTER = {"mae", "mse", "rmse", "log_loss", "brier", "brier_score", "mape"}


def better_than_reference(win: dict, metric: str) -> bool:
    """True when the window-minus-reference interval of `metric` lies wholly on the better side."""
    d = (win.get("difference") or {}).get(metric) or {}
    lo, hi = d.get("lower"), d.get("upper")
    if not (_defined(lo) and _defined(hi)):
        return False
    return hi < 0 if metric in LOWER_IS_BETTER else lo > 0


VERDICT_TEXT = {
    "stable": "no concept or data drift",
    "data drift only": "the inputs moved; the concept tests found no change in P(y|x), so the label-free estimate applies",
    "concept drift": "P(y|x) changed (concept drift)",
    "both": "the inputs moved and P(y|x) changed (data and concept drift)",
}


def _evidence(r: ConceptReport) -> tuple[dict, str]:
    """The window whose numbers back the claim, and how to name it."""
    if r.degraded_basis.startswith("latest window"):
        w = [w for w in r.windows if w["degraded"] is not None][-1]
        return w, f"in the window from {pd.Timestamp(w['start']).date()}"
    return r.current, "over the run window"


def headline(r: ConceptReport) -> str:
    """One sentence: is the model still performing, since when, concept or data drift."""
    win, where = _evidence(r)
    kind = "estimated" if r.degraded_basis.endswith("(estimated)") else "realized"
    values = win.get(kind) or {}
    shown = [m for m in r.degradation_metrics if ((win.get("difference") or {}).get(m) or {}).get("degraded")]
    shown = shown or [r.metric]
    undefined = [m for m in shown if values.get(m) and not _defined(values[m].get("value"))]
    if undefined:  # e.g. roc_auc on one class: say so and speak with a metric that is defined
        shown = [m for m in shown if m not in undefined] or [
            m for m in [*r.degradation_metrics, "brier", "accuracy", "log_loss"]
            if values.get(m) and _defined(values[m].get("value"))][:1]
    parts = [f"{m} undefined" for m in undefined]
    for m in shown:
        v = values.get(m)
        ref = r.reference["metrics"].get(m, {}).get("value")
        if v and ref is not None:
            parts.append(f"{'estimated ' if kind == 'estimated' else ''}{m} {_fmt_iv(v)} vs {ref:.3f}")
    if len(parts) > len(undefined):
        numbers = "; ".join(parts) + f" in the reference, {where}"
    elif win.get("n_labelled") and r.min_labels and win["n_labelled"] < r.min_labels:
        numbers = f"{win['n_labelled']:,} labels, fewer than concept.min_labels = {r.min_labels}"
    else:
        numbers = "no labelled data to compare"
    finding = "".join(f"{f[0].upper()}{f[1:]}. " for f in r.findings)
    if r.insufficient:
        return f"Insufficient data: {r.insufficient}."
    if r.degraded:
        if r.onset is not None:
            state = f"Model degraded since {r.onset.date().isoformat()}"
        elif r.first_degraded is not None:
            state = (f"Model degraded (onset unknown: {r.onset_basis or 'no agreed change point'}; first "
                     f"degraded window from {pd.Timestamp(r.first_degraded).date().isoformat()})")
        else:
            state = "Model degraded (onset unknown)"
    elif r.degraded is None:
        state = "Performance unknown"
    elif any(better_than_reference(win, m) for m in shown):
        state = "Model performing better than the reference"
    else:
        state = "Model performing as in the reference"
    untested = [t["reason"] for t in ((r.current.get("concept_test") or {}).get("tests") or {}).values()
                if t.get("drift") is None and t.get("reason")]
    if r.verdict == "insufficient labels" and untested:
        why = f"concept drift undetermined ({untested[0]})"
    elif r.verdict == "insufficient labels":
        why = f"too few labels to test for concept drift ({r.current['n_labelled']:,} labelled)"
    else:
        why = VERDICT_TEXT.get(r.verdict, r.verdict)
    return f"{finding}{state}: {numbers}; {why}."
