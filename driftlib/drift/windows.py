"""Notebook 02's drift per time window, each finished window's result reused between runs (issue 14).

`DriftDetector.score_windows` scores every window of the run window at once. A window's result
depends only on the fitted reference, the detector's settings, the window's own rows and its bounds,
so `score_windows(detector, df, ..., cache=ResultCache(...))` keys each window by those
(`driftlib.core.cache.key_of`) and scores only the windows it has not seen: a re-run, or a later run
whose windows fall on the same bounds, recomputes nothing that did not change. A late record in a
window changes its rows, hence its key; another reference or setting is another key.

The detector and its tests are used through their public API only: a window missing from the cache
is scored by `detector.score_windows` on that window's rows with the window's own bounds, which gives
the window's result as the whole-frame call does (columns keep their dtype; a nullable integer or
boolean column that holds nulls anywhere in the frame is scored as floats, as the whole frame is).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from driftlib.core.cache import ResultCache, frame_digest, key_of
from driftlib.drift.detector import DriftDetector, WindowedDrift, parse_window, split_windows

VERSION = "drift-window-v1"


def detector_key(detector: DriftDetector, reference: pd.DataFrame) -> str:
    """Everything a window's result depends on besides its own rows: the reference's monitored
    columns and the detector's settings (as fitted: kinds, tests, thresholds, outputs)."""
    import driftlib

    specs = [(s.name, s.kind, s.role, bool(s.auto), s.test.name if s.test else None, s.threshold)
             for s in detector.specs_.values()]
    used = [c for c in detector.specs_ if c in reference.columns]
    return key_of(VERSION, getattr(driftlib, "__version__", ""), specs, detector.drift_share,
                  sorted(detector.outputs.items()), sorted(detector.auto_), detector.n_reference_,
                  frame_digest(reference[used]))


def _as_in_frame(window: pd.DataFrame, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Nullable integer/boolean columns with nulls somewhere in `frame` become floats in `window`,
    as the whole-frame score reads them (a window without nulls would otherwise read as integers)."""
    cast = {}
    for col in columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and (
                pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)) \
                and frame[col].hasnans:
            cast[col] = window[col].to_numpy(dtype=np.float64, na_value=np.nan)
    return window.assign(**cast) if cast else window


def score_windows(detector: DriftDetector, df: pd.DataFrame, *, timestamp: str | None, window: str | int,
                  min_rows: int | None = None, start=None, end=None,
                  cache: ResultCache | None = None, reference: pd.DataFrame | None = None) -> WindowedDrift:
    """`detector.score_windows(df, ...)`, with each time window's result taken from `cache` when it
    holds it. `reference` is the frame the detector was fitted on (part of the key). Row-count
    windows, or no cache, score everything at once."""
    min_rows = detector.min_rows if min_rows is None else int(min_rows)
    whole = lambda: detector.score_windows(df, timestamp=timestamp, window=window,  # noqa: E731
                                           min_rows=min_rows, start=start, end=end)
    if cache is None or cache.folder is None or reference is None or isinstance(parse_window(window), int):
        return whole()
    order, bounds, spans = split_windows(df, timestamp, window, start, end)
    state = detector_key(detector, reference)
    used = [c for c in dict.fromkeys([*detector.specs_, timestamp]) if c in df.columns]
    results = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        rows = np.arange(lo, hi) if order is None else order[lo:hi]
        part = _as_in_frame(df.iloc[rows], df, [c for c in detector.specs_ if c in df.columns])
        s, e = spans[i]
        key = key_of(state, frame_digest(part[used]), str(s), str(e), min_rows, str(window))
        result = cache.get(key, lambda: _one(detector, part, timestamp, window, min_rows, s, e))
        if result is None:  # the window's own bounds did not give one window: never guess
            return whole()
        results.append(result)
    return WindowedDrift(results, str(window), min_rows, list(detector.specs_))


def _one(detector: DriftDetector, part: pd.DataFrame, timestamp, window, min_rows: int, start, end) -> Any:
    scored = detector.score_windows(part, timestamp=timestamp, window=window, min_rows=min_rows,
                                    start=start, end=end).results
    return scored[0] if len(scored) == 1 else None
