"""Slice comparisons: where did performance drop most (values of the categorical features, reference vs
current window, for the concept report), and champion vs challenger per slice value on one holdout
(the retraining gate)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from driftlib.performance.metrics import Metric, Rows, bootstrap, interval


def slice_drops(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], metric: Metric,
                target: str, score: str | None, pred: str, *, min_rows: int = 50, top: int = 10,
                n_boot: int = 200, confidence: float = 0.95, random_state: int = 0) -> list[dict]:
    """Slices with enough labelled rows on both sides, worst drop first, with a bootstrap interval.

    `drop` is signed so that positive means worse than the reference whatever the metric's direction;
    `significant` when the interval of the drop excludes zero.
    """
    rng = np.random.default_rng(random_state)
    sign = 1.0 if metric.higher_is_better else -1.0
    out = []
    for col in columns:
        ref_groups = reference.groupby(reference[col].astype("string"), observed=True)
        cur_groups = current.groupby(current[col].astype("string"), observed=True)
        for value, cur in cur_groups:
            if value not in ref_groups.groups or len(cur) < min_rows:
                continue
            ref = ref_groups.get_group(value)
            if len(ref) < min_rows:
                continue
            r = _boot(ref, metric, target, score, pred, n_boot, rng)
            c = _boot(cur, metric, target, score, pred, n_boot, rng)
            if not (np.isfinite(r[0]) and np.isfinite(c[0])):
                continue
            lo, hi = interval(sign * (r[1] - c[1]), confidence)
            out.append({"column": col, "value": str(value), "metric": metric.name, "n_reference": int(len(ref)),
                        "n_current": int(len(cur)), "reference": r[0], "current": c[0],
                        "drop": float(sign * (r[0] - c[0])), "drop_lower": lo, "drop_upper": hi,
                        "significant": bool(np.isfinite(lo) and (lo > 0 or hi < 0))})
    out.sort(key=lambda d: d["drop"], reverse=True)
    return out[:top]


def _boot(df, metric, target, score, pred, n_boot, rng):
    rows = Rows.of(None if score is None else df[score].to_numpy(float), df[pred].to_numpy(float))
    y = df[target].to_numpy(float)
    return metric.point(y, rows), bootstrap([metric], y, rows, n_boot, rng)[metric.name]


def slice_labels(column: pd.Series) -> pd.Series:
    """A slice column's values as text, missing values as the slice '(missing)'."""
    return column.astype(object).where(column.notna(), "(missing)").astype(str)


def compare_slices(metric: Metric, y, a: Rows, b: Rows, slices: pd.DataFrame | None, min_rows: int,
                   point: Callable[[np.ndarray, Rows], float] | None = None) -> list[dict]:
    """Two models on the same rows, per value of each slice column with at least `min_rows` rows
    (most rows first): `point(y, rows)` of each (default `metric.point`), `delta` > 0 where `b` is better."""
    if slices is None or slices.empty:
        return []
    point = point or metric.point
    y = np.asarray(y)
    out = []
    for col in slices.columns:
        values = slice_labels(slices[col])
        for value, count in values.value_counts().items():
            if count < min_rows:
                continue
            m = (values == value).to_numpy()
            pa, pb = point(y[m], a.take(m)), point(y[m], b.take(m))
            out.append({"column": col, "value": value, "n": int(count), "champion": pa, "challenger": pb,
                        "delta": metric.improvement(pa, pb)})
    return out
