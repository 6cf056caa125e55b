"""Time windows (fixed spans ending at the run date, or calendar weeks/months), label bookkeeping, and target/prediction drift per window."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from driftlib.core.errors import ConfigError
from driftlib.data.labels import labels_as_of

LABEL_TIME = "label_timestamp"


def window_spec(window: str) -> pd.Timedelta | pd.DateOffset | int:
    """'7D', '12h' -> Timedelta; calendar offsets ('W-MON', 'MS', 'QS') -> DateOffset; '5000' -> a count
    of rows. The same reading as the drift windows' (`driftlib.drift.detector.parse_window`)."""
    from pandas.tseries.frequencies import to_offset

    text = str(window).strip()
    if text.isdigit():
        if int(text) < 1:
            raise ConfigError("field 'concept.window': a row count must be positive")
        return int(text)
    try:
        offset = to_offset(text)
    except ValueError:
        raise ConfigError(f"field 'concept.window': '{window}' is neither a pandas offset "
                          "(e.g. 7D, 12h, W-MON, MS) nor a row count") from None
    if not isinstance(offset, pd.offsets.Tick):
        return offset
    span = pd.Timedelta(offset)
    if span <= pd.Timedelta(0):
        raise ConfigError("field 'concept.window': the time span must be positive")
    return span


def assign_windows(ts: pd.Series, spec: pd.Timedelta | pd.DateOffset | int, end: pd.Timestamp) -> pd.DataFrame:
    """Window start/end per row, windows holding [start, end). Fixed spans are aligned so the last one
    ends exactly at `end`; calendar offsets (W-MON, MS) follow the calendar, so a finished week or month
    keeps its bounds from one daily run to the next (and its cached result), and the last window runs
    from the last calendar boundary to `end`, as `driftlib.drift.detector.split_windows` does."""
    if isinstance(spec, int):
        k = (len(ts) - 1 - np.arange(len(ts))) // spec
        groups = pd.Series(k, index=ts.index)
        start = ts.groupby(groups).transform("min")
        stop = ts.groupby(groups).transform("max") + pd.Timedelta(microseconds=1)
        return pd.DataFrame({"start": start, "end": stop.where(groups > 0, end)})
    from pandas.tseries.frequencies import to_offset

    from driftlib.drift.detector import window_edges

    if len(ts) == 0:
        return pd.DataFrame({"start": ts, "end": ts}, index=ts.index)
    if isinstance(spec, pd.Timedelta):
        n = max(1, int(np.ceil((end - ts.min()) / spec)))
        first = end - n * spec
        # the drift report's rule: a window is [start, end), a row stamped on a boundary opens the next window
        edges = window_edges(first, end, to_offset(spec), first, end)
    else:
        edges = window_edges(ts.min(), end, spec, None, end)
    ns = ts.to_numpy(dtype="datetime64[ns]").astype("int64")
    ids = np.clip(edges.asi8.searchsorted(ns, "right") - 1, 0, len(edges) - 2)
    return pd.DataFrame({"start": edges[ids], "end": edges[ids + 1]}, index=ts.index)


def mask_late_labels(df: pd.DataFrame, target: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """A label counts only if it had arrived before the run date (the data layer's one rule)."""
    return labels_as_of(df, target, as_of)


def coverage(df: pd.DataFrame, target: str, timestamp: str) -> dict:
    """Share of predictions with a label, and label delay (hours) over the labelled ones."""
    labelled = df[target].notna()
    out = {"n": int(len(df)), "n_labelled": int(labelled.sum()),
           "coverage": float(labelled.mean()) if len(df) else 0.0,
           "lag_median_hours": None, "lag_p90_hours": None}
    if LABEL_TIME in df.columns and labelled.any():
        lag = (df.loc[labelled, LABEL_TIME] - df.loc[labelled, timestamp]).dt.total_seconds() / 3600
        lag = lag.dropna()
        if len(lag):
            out["lag_median_hours"] = float(np.median(lag))
            out["lag_p90_hours"] = float(np.quantile(lag, 0.9))
    return out


def target_drift(ref_y: np.ndarray, y: np.ndarray, task: str, alpha: float) -> dict:
    """Label distribution vs the reference: chi-square on class counts, or KS for regression."""
    if len(y) == 0:
        return {"mean": None, "reference_mean": float(np.mean(ref_y)), "p_value": None, "drifted": None}
    if task == "regression":
        p = float(stats.ks_2samp(ref_y, y, method="asymp").pvalue)
    else:
        table = np.array([[np.sum(ref_y == 1), np.sum(ref_y == 0)], [np.sum(y == 1), np.sum(y == 0)]])
        p = float(stats.chi2_contingency(table).pvalue) if (table.sum(axis=0) > 0).all() else 1.0
    return {"mean": float(np.mean(y)), "reference_mean": float(np.mean(ref_y)), "p_value": p,
            "drifted": bool(p < alpha)}


def prediction_drift(ref_score: np.ndarray, score: np.ndarray, alpha: float) -> dict:
    """Model output distribution vs the reference (KS on probabilities or predictions)."""
    if len(score) == 0:
        return {"mean": None, "reference_mean": float(np.mean(ref_score)), "statistic": None,
                "p_value": None, "drifted": None}
    res = stats.ks_2samp(ref_score, score, method="asymp")
    return {"mean": float(np.mean(score)), "reference_mean": float(np.mean(ref_score)),
            "statistic": float(res.statistic), "p_value": float(res.pvalue), "drifted": bool(res.pvalue < alpha)}
