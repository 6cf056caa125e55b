"""Pseudo-windows cut from the reference, scored against the reference they were not part of.

The reference (time-sorted) is split into contiguous folds; a pseudo-window is a contiguous block
of `size` rows inside one fold, and the detector comparing it is fitted on the other folds. So a
window is never compared with itself, and what varies between days in the reference (weather,
weekdays, releases) shows up in the measured false-alarm rate, as it will in production.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftlib.core.errors import InputError

MAX_FOLDS = 5


@dataclass(frozen=True)
class PseudoWindow:
    size: int
    fold: int
    start: int  # row offset into the time-sorted reference

    @property
    def stop(self) -> int:
        return self.start + self.size


def fold_bounds(n_rows: int, size: int) -> np.ndarray:
    """Edges of k contiguous folds, 2 <= k <= MAX_FOLDS, each at least `size` rows."""
    k = min(MAX_FOLDS, n_rows // max(size, 1))
    if k < 2:
        raise InputError(f"calibration: a pseudo-window of {size} rows needs a reference of at least "
                         f"{2 * size} rows (it has {n_rows}); use smaller calibration.sizes")
    return np.linspace(0, n_rows, k + 1).astype(int)


def usable_sizes(n_rows: int, sizes: list[int]) -> tuple[list[int], list[int]]:
    """(sizes that fit twice in the reference, sizes dropped)."""
    ok = sorted({int(s) for s in sizes if 1 <= s <= n_rows // 2})
    return ok, sorted({int(s) for s in sizes} - set(ok))


def pseudo_windows(n_rows: int, size: int, n_windows: int, rng: np.random.Generator) -> list[PseudoWindow]:
    """`n_windows` blocks of `size` rows, folds taken in turn, random start inside the fold."""
    edges = fold_bounds(n_rows, size)
    k = len(edges) - 1
    out = []
    for i in range(n_windows):
        fold = i % k
        lo, hi = int(edges[fold]), int(edges[fold + 1])
        out.append(PseudoWindow(size, fold, int(rng.integers(lo, hi - size + 1))))
    return out


def out_of_fold(reference: pd.DataFrame, size: int, fold: int) -> pd.DataFrame:
    """The reference without the fold a pseudo-window of `size` rows at `fold` is cut from."""
    edges = fold_bounds(len(reference), size)
    return pd.concat([reference.iloc[:edges[fold]], reference.iloc[edges[fold + 1]:]])


def rows_per_window(reference: pd.DataFrame, timestamp: str | None, window: str) -> int | None:
    """Reference rows per `window` (a row count, or a pandas offset scaled by the reference's span)."""
    from driftlib.drift.detector import parse_window

    w = parse_window(window)
    if isinstance(w, int):
        return w
    if timestamp is None or timestamp not in reference.columns or len(reference) < 2:
        return None
    ts = pd.to_datetime(reference[timestamp], utc=True)
    span = (ts.max() - ts.min()).total_seconds()
    try:
        width = pd.Timedelta(w).total_seconds()
    except (ValueError, TypeError):  # anchored offsets (MS, W-MON): about their nominal length
        width = ((ts.min() + w) - ts.min()).total_seconds()
    if span <= 0 or width <= 0:
        return None
    return max(1, int(round(len(reference) * min(width / span, 1.0))))
