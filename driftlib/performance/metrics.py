"""Performance metrics evaluated for many weightings of the same rows at once.

One code path serves point estimates, bootstrap replicates, expected values from calibrated
probabilities (CBPE: the labels are soft, `y` = P(y=1)), simulated-label intervals and the retraining
gate's paired champion/challenger differences (`paired_bootstrap`). Each metric
takes `y` and `w` as (B, n) arrays (or broadcastable (1, n)) and a `Rows` holding the model outputs
of the n rows, and returns B values. Row weights are bootstrap counts, so a replicate costs one
matrix pass instead of a Python loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from driftlib.core.names import Names

EPS = 1e-15
ECE_BINS = 10
MAX_CELLS = 4_000_000  # rows x replicates per chunk: bounds memory to a few tens of MB per array


@dataclass
class Rows:
    """Model outputs for n rows: `score` (probability of class 1, or the regression prediction)."""

    score: np.ndarray
    pred: np.ndarray
    is_sorted: bool = False

    @classmethod
    def of(cls, score, pred) -> "Rows":
        pred = np.asarray(pred, dtype=float)
        score = pred if score is None else np.asarray(score, dtype=float)
        return cls(score=score, pred=pred)

    def sort(self, *arrays) -> tuple:
        """Rows (and aligned arrays) in score order: resampling needs no order, AUC then needs no gather."""
        order = np.argsort(self.score, kind="mergesort")
        rows = Rows(score=self.score[order], pred=self.pred[order], is_sorted=True)
        return (rows, *(np.asarray(a)[order] for a in arrays))

    def take(self, mask) -> "Rows":
        """The rows selected by a boolean mask or index array (a slice of the table)."""
        return Rows(score=self.score[mask], pred=self.pred[mask])

    def __len__(self) -> int:
        return len(self.pred)

    @cached_property
    def _ties(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.score, kind="mergesort")
        s = self.score[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        return order, starts

    @cached_property
    def _bins(self) -> np.ndarray:
        idx = np.clip((self.score * ECE_BINS).astype(int), 0, ECE_BINS - 1)
        return np.eye(ECE_BINS)[idx]


def _mean(values, w):
    return (w * values).sum(axis=1) / w.sum(axis=1)


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _correct(y, rows: Rows):
    return y * rows.pred + (1 - y) * (1 - rows.pred)


def accuracy(y, w, rows: Rows):
    return _mean(_correct(y, rows), w)


def f1(y, w, rows: Rows):
    tp = (w * y * rows.pred).sum(axis=1)
    fp = (w * (1 - y) * rows.pred).sum(axis=1)
    fn = (w * y * (1 - rows.pred)).sum(axis=1)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def roc_auc(y, w, rows: Rows):
    """Weighted Mann-Whitney AUC with ties counted half; soft labels give CBPE's expected AUC."""
    order, starts = rows._ties
    pos, neg = w * y, w * (1 - y)
    if not rows.is_sorted:
        pos, neg = pos[:, order], neg[:, order]
    if len(starts) < len(rows):  # tied scores: one group per distinct score
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    return _ratio(num, pos.sum(axis=1) * neg.sum(axis=1))


def average_precision(y, w, rows: Rows):
    """Weighted average precision (step-wise area under precision-recall, ties one threshold), as
    sklearn's average_precision_score; NaN unless both classes have weight."""
    order, starts = rows._ties
    pos, neg = w * y, w * (1 - y)
    if not rows.is_sorted:
        pos, neg = pos[:, order], neg[:, order]
    if len(starts) < len(rows):
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    pos, neg = pos[:, ::-1], neg[:, ::-1]  # thresholds from the highest score down
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = np.nan_to_num(_ratio(tp, tp + fp))  # 0/0 only where pos is 0, which adds nothing
    total_pos, total_neg = tp[:, -1], fp[:, -1]
    ap = _ratio((pos * precision).sum(axis=1), total_pos)
    return np.where(total_neg > 0, ap, np.nan)


def _squared_error(y, rows: Rows):
    p = rows.score
    return y * (1 - p) ** 2 + (1 - y) * p**2


def brier(y, w, rows: Rows):
    return _mean(_squared_error(y, rows), w)


def _log_error(y, rows: Rows):
    p = np.clip(rows.score, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def log_loss(y, w, rows: Rows):
    return _mean(_log_error(y, rows), w)


def ece(y, w, rows: Rows):
    """Expected calibration error on 10 equal-width probability bins."""
    return np.abs((w * (rows.score - y)) @ rows._bins).sum(axis=1) / w.sum(axis=1)


def _abs_error(y, rows: Rows):
    return np.abs(y - rows.pred)


def mae(y, w, rows: Rows):
    return _mean(_abs_error(y, rows), w)


def rmse(y, w, rows: Rows):
    return np.sqrt(_mean((y - rows.pred) ** 2, w))


def r2(y, w, rows: Rows):
    """Weighted coefficient of determination, as sklearn's r2_score (constant labels: 1 if every
    prediction is exact, else 0; NaN below two rows)."""
    total = w.sum(axis=1)
    mean = _ratio((w * y).sum(axis=1), total)
    res = (w * (y - rows.pred) ** 2).sum(axis=1)
    tot = (w * (y - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(tot != 0, 1 - res / np.where(tot != 0, tot, 1), np.where(res == 0, 1.0, 0.0))
    return np.where(total >= 2, out, np.nan)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable
    higher_is_better: bool
    task: str
    needs_probability: bool = False
    per_row: Callable | None = None  # a mean metric's per-row values: replicates can gather rows (see bootstrap)

    def __call__(self, y, w, rows: Rows) -> np.ndarray:
        y, w = np.broadcast_arrays(np.atleast_2d(np.asarray(y, dtype=float)),
                                   np.atleast_2d(np.asarray(w, dtype=float)))
        return self.fn(y, w, rows)

    def improvement(self, before, after):
        """How much better `after` is than `before` (positive: better, whatever the direction)."""
        return after - before if self.higher_is_better else before - after

    def point(self, y, rows: Rows) -> float:
        return float(self(y, np.ones((1, len(rows))), rows)[0]) if len(rows) else float("nan")


# The one metric vocabulary. The concept report (concept.metric, concept.metrics, ...) and the
# retraining gate (retrain.metric) each use a part of it; core.contracts keeps the two name lists
# params are checked against (tests/test_contracts.py holds them equal to these tables).
CATALOGUE: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", accuracy, True, "classification", per_row=_correct),
    Metric("f1", f1, True, "classification"),
    Metric("roc_auc", roc_auc, True, "classification", needs_probability=True),
    Metric("average_precision", average_precision, True, "classification", needs_probability=True),
    Metric("brier", brier, False, "classification", needs_probability=True, per_row=_squared_error),
    Metric("ece", ece, False, "classification", needs_probability=True),
    Metric("log_loss", log_loss, False, "classification", needs_probability=True, per_row=_log_error),
    Metric("mae", mae, False, "regression", per_row=_abs_error),
    Metric("rmse", rmse, False, "regression"),
    Metric("r2", r2, True, "regression"),
]}
METRICS: dict[str, Metric] = {k: CATALOGUE[k] for k in
                              ["accuracy", "f1", "roc_auc", "brier", "ece", "log_loss", "mae", "rmse"]}
GATE_METRICS: dict[str, Metric] = {k: CATALOGUE[k] for k in
                                   ["roc_auc", "average_precision", "log_loss", "brier", "accuracy", "f1",
                                    "rmse", "mae", "r2"]}
DEFAULTS = {"classification": ["accuracy", "f1", "roc_auc", "brier", "ece"], "regression": ["mae", "rmse"]}


def get_metric(name: str, task: str, field: str = "concept.metric") -> Metric:
    """A concept-report metric of `task`; an unknown name is the field's ConfigError."""
    return Names(field, {k: m for k, m in METRICS.items() if m.task == task}, kind=f"{task} metric").get(name)


def gate_metric(name: str, field: str = "retrain.metric") -> Metric:
    """A metric the retraining gate can decide on; an unknown name is the field's ConfigError."""
    return Names(field, GATE_METRICS, kind="metric").get(name)


def _chunks(total: int, n: int):
    size = max(1, MAX_CELLS // max(n, 1))
    for start in range(0, total, size):
        yield min(size, total - start)


def bootstrap_weights(rng: np.random.Generator, b: int, n: int, size: int | None = None) -> np.ndarray:
    """Multinomial resampling counts (b, n): row i of replicate k is drawn w[k, i] times (`size` draws)."""
    idx = rng.integers(0, n, size=(b, size or n)) + (np.arange(b) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)


def bootstrap(metrics: list[Metric], y, rows: Rows, n_boot: int, rng: np.random.Generator,
              size: int | None = None) -> dict:
    """Replicates of each metric over rows resampled with replacement, `size` rows each (default n).

    Drawing the reference at a window's size gives replicates with the window's sampling bias, so a
    size-dependent metric such as ECE compares like with like.
    """
    rows, y = rows.sort(np.asarray(y, dtype=float))
    if all(m.per_row for m in metrics):
        return _bootstrap_means(metrics, y, rows, n_boot, rng, size)
    y = y[None, :]
    out = {m.name: [] for m in metrics}
    for b in _chunks(n_boot, len(rows)):
        w = bootstrap_weights(rng, b, len(rows), size)
        for m in metrics:
            out[m.name].append(m(y, w, rows))
    return {k: np.concatenate(v) for k, v in out.items()}


def _bootstrap_means(metrics: list[Metric], y, rows: Rows, n_boot: int, rng: np.random.Generator,
                     size: int | None) -> dict:
    """Mean metrics: a replicate sums the values of the rows it drew, the very draws `bootstrap_weights`
    would count (same random stream, same replicates; a segment search runs thousands of these)."""
    values = {m.name: m.per_row(y, rows) for m in metrics}
    out = {m.name: [] for m in metrics}
    for b in _chunks(n_boot, len(rows)):
        idx = rng.integers(0, len(rows), size=(b, size or len(rows)))
        for name, v in values.items():
            out[name].append(v[idx].sum(axis=1) / idx.shape[1])
    return {k: np.concatenate(v) for k, v in out.items()}


def paired_bootstrap(metric: Metric, y, a: Rows, b: Rows, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Replicates of `metric(b) - metric(a)` with both scored on the same resampled rows: the paired
    difference of two models on one labelled holdout (positive: `b` has the higher metric)."""
    y = np.asarray(y, dtype=float)[None, :]
    n = y.shape[1]
    out = [np.array([])]
    for k in _chunks(n_boot, n):
        w = bootstrap_weights(rng, k, n)
        out.append(metric(y, w, b) - metric(y, w, a))
    return np.concatenate(out)


def simulate(metrics: list[Metric], prob_true, rows: Rows, n_sim: int, rng: np.random.Generator) -> dict:
    """Realized metric under labels drawn from `prob_true`: what the labels will say if it is right."""
    rows, prob_true = rows.sort(prob_true)
    out = {m.name: [] for m in metrics}
    w = np.ones((1, len(rows)))
    for b in _chunks(n_sim, len(rows)):
        y = (rng.random((b, len(rows))) < prob_true[None, :]).astype(float)
        for m in metrics:
            out[m.name].append(m(y, w, rows))
    return {k: np.concatenate(v) for k, v in out.items()}


def interval(samples: np.ndarray, confidence: float, *, min_count: int = 10,
             min_share: float = 0.5) -> tuple[float, float]:
    """Percentile interval; NaN when too few replicates are defined (e.g. one class only): fewer than
    `min_count` or than `min_share` of them."""
    samples = np.asarray(samples, dtype=float)
    s = samples[np.isfinite(samples)]
    if not len(s) or len(s) < max(min_count, min_share * len(samples)):
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)
