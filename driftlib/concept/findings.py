"""Findings a concept report states in words before any metric: facts that change how to read it.

An empty run window is "insufficient data" with the setting that would fill it, never "performing
as in the reference"; labels that stopped containing one class are a finding of their own (AUC is
then undefined, Brier and accuracy still speak); an onset is reported only where change detectors
agreed on it, otherwise it is unknown and the first degraded window is shown instead.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def empty_window(history: pd.DataFrame, ts: str, start: pd.Timestamp, as_of: pd.Timestamp,
                 lookback_days: int) -> str | None:
    """Why a run window without rows says nothing, and the `run.lookback_days` that would fix it."""
    where = f"no predictions in the run window {start.date()} → {as_of.date()} (run.lookback_days = {lookback_days})"
    if history.empty:
        return f"{where} and none before it"
    last = history[ts].max()
    need = max(lookback_days + 1, math.ceil((as_of - last) / pd.Timedelta(days=1)))
    times = np.sort(history[ts].unique())
    spacing = ""
    if len(times) > 1:
        gap = pd.Series(np.diff(times)).median() / pd.Timedelta(days=1)
        spacing = f"; rows are about {gap:.0f} days apart" if gap >= 1 else ""
    return (f"{where}; the latest row is from {pd.Timestamp(last).date()}{spacing}: set "
            f"run.lookback_days >= {need}")


def single_class(y_history: np.ndarray, times: pd.Series, y_window: np.ndarray) -> dict | None:
    """{"value", "since", "n"} when the run window's labels hold one class, dated by the history."""
    y_window = y_window[np.isfinite(y_window)]
    if len(y_window) == 0 or len(np.unique(y_window)) > 1:
        return None
    value = float(y_window[0])
    y, t = np.asarray(y_history, float), pd.DatetimeIndex(times)
    other = np.flatnonzero(np.isfinite(y) & (y != value))
    first = other[-1] + 1 if len(other) else 0
    since = t[first] if first < len(t) else t[-1]
    return {"value": value, "since": since, "n": int(len(y_window))}


def single_class_text(finding: dict, positive_label=None) -> str:
    kind = "positive" if finding["value"] == 1 else "negative"
    name = f" ({positive_label})" if positive_label is not None and kind == "positive" else ""
    return (f"target has one class since {pd.Timestamp(finding['since']).date()} (all {finding['n']:,} labels "
            f"in the run window are {kind}{name}): ranking metrics such as roc_auc are undefined")


def onset(windows: list[dict], points: list[dict], degraded, start, as_of, tolerance: pd.Timedelta):
    """(onset or None, first degraded window's start or None, basis).

    The search starts at the last window judged *not* degraded before the current streak (the
    change may lie anywhere after it, including windows with too few labels to judge), so the onset
    agrees with the detectors rather than with window boundaries. Without an agreed upward change
    point there the onset is unknown.
    """
    if not degraded:
        return None, None, "not degraded"
    judged = [w for w in windows if w["degraded"] is not None]
    streak, last_ok = [], None
    for w in reversed(judged):
        if not w["degraded"]:
            last_ok = w
            break
        streak.append(w)
    first = pd.Timestamp(streak[-1]["start"]) if streak else pd.Timestamp(start)
    lo = pd.Timestamp(last_ok["start"]) if last_ok is not None else None
    ups = sorted(pd.Timestamp(p["timestamp"]) for p in points if p["direction"] == "up")
    downs = [pd.Timestamp(p["timestamp"]) for p in points if p["direction"] == "down"]
    floor = lo - tolerance if lo is not None else None
    candidates = [t for t in ups if t < as_of and (floor is None or t >= floor)]
    rises = len(candidates)
    recent_down = [d for d in downs if candidates and d < as_of and d > candidates[0]]
    if recent_down:  # errors fell again after that rise: the current episode starts later
        candidates = [t for t in candidates if t > max(recent_down)]
    if not candidates and rises:
        which = "the last one" if rises > 1 else "it"
        return None, first, (f"the detectors agreed on {rises} rise{'s' * (rises > 1)} in errors, but errors "
                             f"fell again after {which} (on {max(recent_down).date()}), so no single "
                             "start explains the current degradation")
    if not candidates:
        since = f" since {lo.date()}, the last window judged not degraded" if lo is not None else ""
        return None, first, f"no change point where the detectors agreed{since}"
    return candidates[0], first, f"change point ({', '.join(_detectors(points, candidates[0]))})"


def _detectors(points: list[dict], t: pd.Timestamp) -> list[str]:
    for p in points:
        if pd.Timestamp(p["timestamp"]) == t:
            return list(p["detectors"])
    return []
