"""The champion/challenger comparison and gate, on the metrics of `driftlib.performance`.

Both models are scored on the same time-ordered holdout; the gate promotes only a challenger
better by a margin whose paired bootstrap interval excludes zero and that is not worse on any
monitored slice beyond the tolerance. The metric vocabulary, the (weighted) metrics, the paired
bootstrap, the interval and the per-slice comparison are `driftlib.performance`'s; this module adds
the gate's conventions (0/1 predictions at 0.5, F1 of 0 where it divides by zero, any defined
replicate counts) and its decision.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from driftlib.performance.metrics import GATE_METRICS as METRICS
from driftlib.performance.metrics import Metric, Rows, gate_metric, interval, paired_bootstrap
from driftlib.performance.slices import compare_slices

__all__ = ["METRICS", "Metric", "Comparison", "get_metric", "metric_value", "bootstrap_delta", "slice_table",
           "fallback_metric", "compare", "gate", "why_rejected"]

ZERO_DIVISION = {"f1": 0.0}  # sklearn's f1_score(zero_division=0): no positives and none predicted


# -- metrics ---------------------------------------------------------------------------------------
def get_metric(name: str) -> Metric:
    """The gate's metric called `name` (ConfigError naming 'retrain.metric' otherwise), in the gate's
    form: F1 is 0 where it divides by zero."""
    metric = gate_metric(name)
    if name in ZERO_DIVISION:
        fill, fn = ZERO_DIVISION[name], metric.fn
        metric = replace(metric, fn=lambda y, w, rows: np.nan_to_num(fn(y, w, rows), nan=fill))
    return metric


def _rows(metric: Metric, scores) -> Rows:
    """Model outputs as the metrics read them: classifiers' 0/1 predictions at 0.5."""
    s = np.asarray(scores, dtype=float)
    if metric.task == "regression":
        return Rows.of(None, s)
    return Rows.of(s, (s >= 0.5).astype(float))


def _point(metric: Metric, y, rows: Rows) -> float:
    return metric.point(np.asarray(y, dtype=float), rows) if len(rows) else float("nan")


def metric_value(name: str, y, scores) -> float:
    """The metric, or NaN where it is undefined (e.g. AUC on a single class)."""
    metric = get_metric(name)
    return _point(metric, y, _rows(metric, scores))


# -- comparison ------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Champion vs challenger on one holdout; `delta` > 0 means the challenger is better."""

    metric: str
    n: int
    champion: float
    challenger: float
    delta: float
    ci: tuple[float, float]
    confidence: float
    slices: list[dict] = field(default_factory=list)
    requested: str | None = None  # the configured metric when the gate fell back to `metric`
    fallback_reason: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "ci": list(self.ci)}


def bootstrap_delta(metric: str, y, champion, challenger, *, n_bootstrap: int = 500,
                    confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the paired improvement: both models scored on the same resampled rows
    (`performance.metrics.paired_bootstrap`); NaN only when no resample defines the metric."""
    m = get_metric(metric)
    if not len(np.asarray(y)):
        return float("nan"), float("nan")
    diff = paired_bootstrap(m, y, _rows(m, champion), _rows(m, challenger), n_bootstrap,
                            np.random.default_rng(seed))
    return interval(m.improvement(0.0, diff), confidence, min_count=1, min_share=0.0)


def slice_table(metric: str, y, champion, challenger, slices: pd.DataFrame | None,
                min_rows: int) -> list[dict]:
    """Per-value comparison for each slice column, values with at least `min_rows` rows."""
    m = get_metric(metric)
    return compare_slices(m, np.asarray(y, dtype=float), _rows(m, champion), _rows(m, challenger), slices,
                          min_rows, point=lambda y_, rows: _point(m, y_, rows))


def fallback_metric(name: str) -> str:
    """A metric defined on any non-empty holdout, of the same task: Brier (or log-loss) for
    probabilities, MAE (or RMSE) for regression — proper scores that still rank two models."""
    if get_metric(name).task == "classification":
        return "log_loss" if name == "brier" else "brier"
    return "rmse" if name == "mae" else "mae"


def _undefined_why(metric: str, y, ca: float, cb: float, ci) -> str | None:
    """Why `metric` cannot decide on this holdout, or None when it can."""
    y = np.asarray(y)
    if np.isfinite(ca) and np.isfinite(cb) and np.all(np.isfinite(ci)):
        return None
    classes = np.unique(y)
    if get_metric(metric).task == "classification" and len(classes) < 2:
        label = "none" if not len(classes) else f"all {len(y):,} labels are {classes[0]:g}"
        return f"{metric} has no value on this holdout (one class: {label})"
    return f"{metric} cannot rank the candidates on this holdout (no value on the bootstrap resamples)"


def compare(metric: str, y, champion, challenger, *, slices: pd.DataFrame | None = None,
            n_bootstrap: int = 500, confidence: float = 0.95, min_slice_rows: int = 200,
            seed: int = 0, fallback: bool = True) -> Comparison:
    """Score both models' outputs on the same labelled holdout.

    When `metric` is undefined there (AUC on one class) the comparison is made on
    `fallback_metric(metric)` and says so (`requested`, `fallback_reason`): the gate still decides.
    """
    get_metric(metric)
    ca, cb = metric_value(metric, y, champion), metric_value(metric, y, challenger)
    ci = bootstrap_delta(metric, y, champion, challenger, n_bootstrap=n_bootstrap,
                         confidence=confidence, seed=seed)
    why = _undefined_why(metric, y, ca, cb, ci) if len(np.asarray(y)) else None
    if why and fallback:
        other = compare(fallback_metric(metric), y, champion, challenger, slices=slices,
                        n_bootstrap=n_bootstrap, confidence=confidence, min_slice_rows=min_slice_rows,
                        seed=seed, fallback=False)
        other.requested, other.fallback_reason = metric, why
        return other
    return Comparison(metric=metric, n=len(np.asarray(y)), champion=ca, challenger=cb,
                      delta=get_metric(metric).improvement(ca, cb), ci=ci, confidence=confidence,
                      slices=slice_table(metric, y, champion, challenger, slices, min_slice_rows))


ERROR_METRICS = ("mae", "rmse")  # in the target's units: an absolute tolerance means nothing across tables
SLICE_TOLERANCE, RELATIVE_SLICE_TOLERANCE = 0.02, 0.05


def slice_tolerance_for(c: Comparison, configured: float | None) -> float:
    """`retrain.slice_tolerance`, or its default: 0.02 on bounded metrics, 5% of the champion's holdout
    value on error metrics (0.02 of an MAE counted in rentals would refuse any challenger)."""
    if configured is not None:
        return float(configured)
    if c.metric in ERROR_METRICS and np.isfinite(c.champion):
        return RELATIVE_SLICE_TOLERANCE * abs(float(c.champion))
    return SLICE_TOLERANCE


def gate(c: Comparison, min_improvement: float, slice_tolerance: float | None) -> tuple[bool, list[str]]:
    """(promote?, reasons). Every failed condition is listed, or why it passed."""
    slice_tolerance = slice_tolerance_for(c, slice_tolerance)
    reasons = []
    note = [f"{c.fallback_reason}: decided on {c.metric} instead"] if c.fallback_reason else []
    if not np.isfinite(c.delta):
        return False, note + [f"{c.metric} is undefined on the holdout"]
    if c.delta < min_improvement:
        reasons.append(f"challenger {c.metric} {c.challenger:.4f} vs champion {c.champion:.4f}: "
                       f"improvement {c.delta:+.4f} is below the required {min_improvement:.4f}")
    lo, hi = c.ci
    if not (np.isfinite(lo) and lo > 0):
        reasons.append(f"{c.confidence:.0%} bootstrap interval of the improvement "
                       f"[{lo:+.4f}, {hi:+.4f}] does not exclude zero")
    for s in c.slices:
        if np.isfinite(s["delta"]) and s["delta"] < -slice_tolerance:
            reasons.append(f"slice {s['column']}={s['value']} (n={s['n']}) gets worse: "
                           f"{c.metric} {s['challenger']:.4f} vs {s['champion']:.4f} "
                           f"({s['delta']:+.4f}, tolerance {slice_tolerance:.4f})")
    if reasons:
        return False, note + reasons
    return True, note + [f"challenger better by {c.delta:+.4f} {c.metric} (>= {min_improvement:.4f}), "
                  f"{c.confidence:.0%} CI [{lo:+.4f}, {hi:+.4f}] above zero, no slice worse than "
                  f"-{slice_tolerance:.4f}"]


# -- the gate's reasons in a few words (headlines, the index) ---------------------------------------
_SLICE = re.compile(r"slice (?P<slice>\S+=\S+) \(n=[^)]*\) gets worse: \S+ \S+ vs \S+ \((?P<d>[^,]+),")


def why_rejected(reasons: list[str]) -> str:
    """The gate's failed conditions in a few words ('slice origin=JFK got worse (-0.031)')."""
    short = []
    for reason in reasons:
        if m := _SLICE.search(reason):
            short.append(f"slice {m['slice']} got worse ({m['d']})")
        elif "is below the required" in reason:
            short.append("gain below " + reason.rsplit("required ", 1)[-1])
        elif "does not exclude zero" in reason:
            short.append("gain not significant")
        elif "undefined on the holdout" in reason:
            short.append("metric undefined on the holdout")
    return "; ".join(short) or (reasons[-1] if reasons else "gate not passed")
