"""Notebook 03's searched segments and, for regressors, the label-free error estimate (DLE).

Both run on the run window only: which slices (single values and pairs) drive a drop, ranked with the
false discovery rate controlled over all slices tried; and a regression model's estimated MAE/RMSE
before its labels arrive, flagged unreliable where the concept changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftlib.core.contracts import CONCEPT_VERDICTS
from driftlib.core.errors import DriftlibError


@dataclass
class SegmentViews:
    slices: Any = None  # performance.slice_search.SliceReport
    dle: Any = None  # performance.dle.DLEResult
    note: str = ""

    @property
    def text(self) -> str:
        parts = [self.note] if self.note else []
        if self.slices is not None:
            parts.append(f"**{self.slices.headline}**")
        if self.dle is not None:
            parts.append(f"**{self.dle.headline}**")
        return "\n\n".join(parts) or "No segment search: too few labelled rows in the run window."

    def plot(self):
        if self.slices is not None and len(self.slices.table):
            from driftlib.plots.slices import slice_bars

            return slice_bars(self.slices)
        return None

    def to_dict(self) -> dict:
        return {"degraded_slices": None if self.slices is None else self.slices.to_dict(),
                "estimated_regression_error": None if self.dle is None else self.dle.to_dict()}


def segment_views(params, reference: pd.DataFrame, history: pd.DataFrame, start, end, report) -> SegmentViews:
    """Degraded slices of the labelled run window against the labelled reference; DLE for regressors."""
    from driftlib.data.features import feature_lists
    from driftlib.data.tables import encode_target

    c = params.columns
    numeric, categorical = feature_lists(params, reference)
    ts = history[c.timestamp]
    window = history[(ts >= start) & (ts < end)]
    ref, cur = encode_target(reference, params), encode_target(window, params)
    views = SegmentViews()
    labelled = cur[cur[c.target].notna()]
    metric = params.concept.slice_metric if params.task == "classification" else "mae"
    try:
        if len(labelled) >= params.concept.min_slice_rows:
            from driftlib.performance.slice_search import degraded_slices

            views.slices = degraded_slices(ref[ref[c.target].notna()], labelled, metric, params=params,
                                           numeric=numeric, categorical=categorical,
                                           min_rows=params.concept.min_slice_rows)
        if params.task == "regression" and len(window):
            from driftlib.performance.dle import DirectLossEstimator

            est = DirectLossEstimator.from_params(params, numeric, categorical).fit(ref[ref[c.target].notna()])
            views.dle = est.score(cur, concept_drift=report.verdict in CONCEPT_VERDICTS)
    except (DriftlibError, ValueError) as err:
        views.note = f"Segment search unavailable: {err}"
    return views
