"""Metrics and the champion/challenger comparison and gate.

Both models are scored on the same time-ordered holdout; the gate promotes only a challenger
better by a margin whose paired bootstrap interval excludes zero and that is not worse on any
monitored slice beyond the tolerance.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss, f1_score,
                             log_loss, mean_absolute_error, r2_score, roc_auc_score,
                             root_mean_squared_error)

from driftlib.core.errors import ConfigError


# -- metrics ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    func: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    threshold: bool = False  # computed on 0/1 predictions rather than scores
    task: str = "classification"


def _binary(f):
    return lambda y, s: f(y, (s >= 0.5).astype(int))


METRICS: dict[str, Metric] = {
    "roc_auc": Metric(roc_auc_score),
    "average_precision": Metric(average_precision_score),
    "log_loss": Metric(lambda y, s: log_loss(y, s, labels=[0, 1]), higher_is_better=False),
    "brier": Metric(brier_score_loss, higher_is_better=False),
    "accuracy": Metric(_binary(accuracy_score), threshold=True),
    "f1": Metric(_binary(lambda y, p: f1_score(y, p, zero_division=0)), threshold=True),
    "rmse": Metric(root_mean_squared_error, higher_is_better=False, task="regression"),
    "mae": Metric(mean_absolute_error, higher_is_better=False, task="regression"),
    "r2": Metric(r2_score, task="regression"),
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(f"field 'retrain.metric': unknown metric '{name}' "
                          f"(choose from {', '.join(METRICS)})")
    return METRICS[name]


def metric_value(name: str, y, scores) -> float:
    """The metric, or NaN where it is undefined (e.g. AUC on a single class)."""
    y, s = np.asarray(y), np.asarray(scores, dtype=float)
    if len(y) == 0 or (name in ("roc_auc", "average_precision") and len(np.unique(y)) < 2):
        return float("nan")
    return float(get_metric(name).func(y, s))


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


def _improvement(name: str, champion: float, challenger: float) -> float:
    return challenger - champion if get_metric(name).higher_is_better else champion - challenger


def resample_counts(n: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """(n_bootstrap, n) how often each row is drawn in each resample with replacement."""
    idx = rng.integers(0, n, (n_bootstrap, n)) + (np.arange(n_bootstrap)[:, None] * n)
    return np.bincount(idx.ravel(), minlength=n_bootstrap * n).reshape(n_bootstrap, n)


def weighted_auc(y, scores, counts: np.ndarray) -> np.ndarray:
    """ROC AUC (Mann-Whitney, ties count half) of each row of integer row weights `counts`.

    Equal to roc_auc_score on the resampled rows, computed for all resamples at once: a
    thousand sklearn calls on a 10k-row holdout take ~15 s, this takes well under one.
    """
    from scipy.sparse import csr_matrix

    y, scores = np.asarray(y), np.asarray(scores, float)
    _, group = np.unique(scores, return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0
    out = []
    step = max(1, 4_000_000 // max(n_groups, 1))
    for lo in range(0, counts.shape[0], step):
        c = counts[lo:lo + step]
        per_group = []
        for cls in (1, 0):
            rows = np.flatnonzero(y == cls)
            onehot = csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), group[rows])),
                                shape=(len(rows), n_groups))
            per_group.append(np.asarray((onehot.T @ c[:, rows].T).T))
        pos, neg = per_group
        below = np.cumsum(neg, axis=1) - neg
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))
    return np.concatenate(out) if out else np.array([])


def bootstrap_delta(metric: str, y, champion, challenger, *, n_bootstrap: int = 500,
                    confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the paired improvement: both models scored on the same resampled rows."""
    y, a, b = np.asarray(y), np.asarray(champion, float), np.asarray(challenger, float)
    rng = np.random.default_rng(seed)
    if metric == "roc_auc":
        counts = resample_counts(len(y), n_bootstrap, rng)
        deltas = weighted_auc(y, b, counts) - weighted_auc(y, a, counts)
    else:
        deltas = []
        for _ in range(n_bootstrap):
            idx = rng.integers(0, len(y), len(y))
            deltas.append(_improvement(metric, metric_value(metric, y[idx], a[idx]),
                                       metric_value(metric, y[idx], b[idx])))
    deltas = np.asarray(deltas, float)
    deltas = deltas[np.isfinite(deltas)]
    if not len(deltas):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(deltas, [alpha, 1 - alpha])
    return float(lo), float(hi)


def slice_table(metric: str, y, champion, challenger, slices: pd.DataFrame | None,
                min_rows: int) -> list[dict]:
    """Per-value comparison for each slice column, values with at least `min_rows` rows."""
    if slices is None or slices.empty:
        return []
    y, a, b = np.asarray(y), np.asarray(champion, float), np.asarray(challenger, float)
    rows = []
    for col in slices.columns:
        values = slices[col].astype(object).where(slices[col].notna(), "(missing)").astype(str)
        for value, count in values.value_counts().items():
            if count < min_rows:
                continue
            m = (values == value).to_numpy()
            ca, cb = metric_value(metric, y[m], a[m]), metric_value(metric, y[m], b[m])
            rows.append({"column": col, "value": value, "n": int(count), "champion": ca,
                         "challenger": cb, "delta": _improvement(metric, ca, cb)})
    return rows


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
                      delta=_improvement(metric, ca, cb), ci=ci, confidence=confidence,
                      slices=slice_table(metric, y, champion, challenger, slices, min_slice_rows))


def gate(c: Comparison, min_improvement: float, slice_tolerance: float) -> tuple[bool, list[str]]:
    """(promote?, reasons). Every failed condition is listed, or why it passed."""
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
