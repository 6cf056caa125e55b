"""Performance metrics evaluated for many weightings of the same rows at once.

One code path serves point estimates, bootstrap replicates, expected values from calibrated
probabilities (CBPE: the labels are soft, `y` = P(y=1)) and simulated-label intervals. Each metric
takes `y` and `w` as (B, n) arrays (or broadcastable (1, n)) and a `Rows` holding the model outputs
of the n rows, and returns B values. Row weights are bootstrap counts, so a replicate costs one
matrix pass instead of a Python loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from driftlib.core.errors import ConfigError

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


def accuracy(y, w, rows: Rows):
    return _mean(y * rows.pred + (1 - y) * (1 - rows.pred), w)


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


def brier(y, w, rows: Rows):
    p = rows.score
    return _mean(y * (1 - p) ** 2 + (1 - y) * p**2, w)


def log_loss(y, w, rows: Rows):
    p = np.clip(rows.score, EPS, 1 - EPS)
    return _mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), w)


def ece(y, w, rows: Rows):
    """Expected calibration error on 10 equal-width probability bins."""
    return np.abs((w * (rows.score - y)) @ rows._bins).sum(axis=1) / w.sum(axis=1)


def mae(y, w, rows: Rows):
    return _mean(np.abs(y - rows.pred), w)


def rmse(y, w, rows: Rows):
    return np.sqrt(_mean((y - rows.pred) ** 2, w))


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable
    higher_is_better: bool
    task: str
    needs_probability: bool = False

    def __call__(self, y, w, rows: Rows) -> np.ndarray:
        y, w = np.broadcast_arrays(np.atleast_2d(np.asarray(y, dtype=float)),
                                   np.atleast_2d(np.asarray(w, dtype=float)))
        return self.fn(y, w, rows)

    def point(self, y, rows: Rows) -> float:
        return float(self(y, np.ones((1, len(rows))), rows)[0]) if len(rows) else float("nan")


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", accuracy, True, "classification"),
    Metric("f1", f1, True, "classification"),
    Metric("roc_auc", roc_auc, True, "classification", needs_probability=True),
    Metric("brier", brier, False, "classification", needs_probability=True),
    Metric("ece", ece, False, "classification", needs_probability=True),
    Metric("log_loss", log_loss, False, "classification", needs_probability=True),
    Metric("mae", mae, False, "regression"),
    Metric("rmse", rmse, False, "regression"),
]}
DEFAULTS = {"classification": ["accuracy", "f1", "roc_auc", "brier", "ece"], "regression": ["mae", "rmse"]}


def get_metric(name: str, task: str, field: str = "concept.metric") -> Metric:
    metric = METRICS.get(name)
    if metric is None or metric.task != task:
        names = ", ".join(k for k, m in METRICS.items() if m.task == task)
        raise ConfigError(f"field '{field}': unknown {task} metric '{name}' (choose from {names})")
    return metric


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
    y = y[None, :]
    out = {m.name: [] for m in metrics}
    for b in _chunks(n_boot, len(rows)):
        w = bootstrap_weights(rng, b, len(rows), size)
        for m in metrics:
            out[m.name].append(m(y, w, rows))
    return {k: np.concatenate(v) for k, v in out.items()}


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


def interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval; NaN when too few replicates are defined (e.g. one class only)."""
    s = samples[np.isfinite(samples)]
    if len(s) < max(10, 0.5 * len(samples)):
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)
