"""Shared binning for PSI, KL, Jensen-Shannon and Hellinger, exactly as Evidently 0.7 bins.

Evidently (`legacy/calculations/stattests/utils.py::get_binned_data`) bins a numeric column with more
than 20 unique reference values on Sturges edges of reference+current combined; otherwise it counts
each value of the union of both sides. Here the edges come from (min, max, size) alone and counts
from `searchsorted` on the already sorted samples, so nothing is concatenated or re-sorted.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from driftlib.drift.stats.samples import NUMERIC, CategoricalSample, NumericSample, scale_for

HIST_MIN_UNIQUE = 20  # Evidently: histogram only when the reference has more unique values


def sturges_edges(lo, hi, size: int, dtype) -> np.ndarray:
    """`np.histogram_bin_edges(x, "sturges")` for data of `dtype` with this min, max and size.

    Arithmetic follows numpy's own: the range is subtracted in the data's dtype, integer data gets
    a bin width of at least 1, float32 data gets float32 edges. Where numpy's range would overflow
    (-1e308 to 1e308; numpy raises then) the edges are computed on lo / s, hi / s and scaled back.
    """
    dtype = np.dtype(dtype)
    lo, hi = dtype.type(lo), dtype.type(hi)
    integer = np.issubdtype(dtype, np.integer)
    if not integer:
        with np.errstate(over="ignore"):
            overflows = not np.isfinite(hi - lo)
        if overflows:
            s = dtype.type(max(scale_for(lo, hi), 2.0))
            edges = sturges_edges(lo / s, hi / s, size, dtype)
            return edges * s
    width = (hi - lo) / (np.log2(size) + 1.0)
    first, last = lo, hi
    if first == last:
        first, last = first - 0.5, last + 0.5
    if width:
        if integer and width < 1:
            width = 1
        delta = (np.subtract(last, first, casting="unsafe", dtype=np.uint64) if integer and lo != hi
                 else last - first)
        n_bins = int(np.ceil(delta / width))
    else:
        n_bins = 1
    bin_type = np.result_type(first, last, dtype)
    if np.issubdtype(bin_type, np.integer):
        bin_type = np.result_type(bin_type, float)
    return np.linspace(first, last, n_bins + 1, endpoint=True, dtype=bin_type)


def span_unit(edges: np.ndarray) -> float:
    """A power of two near the span of `edges` when the span is so large or small that densities
    (1 / width) would overflow or underflow their products; else 1.0."""
    half = float(edges[-1]) / 2 - float(edges[0]) / 2
    if half == 0 or not math.isfinite(half) or 2.0 ** -100 <= half <= 2.0 ** 100:
        return 1.0
    return math.ldexp(1.0, math.frexp(half)[1] - 1)


def hist_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` for sorted values: last bin closed on the right."""
    idx = np.concatenate((sorted_values.searchsorted(edges[:-1], "left"),
                          sorted_values.searchsorted(edges[-1:], "right")))
    return np.diff(idx)


def union_counts(ref, cur) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, reference counts, current counts) over the union of values present on either side."""
    if isinstance(ref, CategoricalSample):
        return _categorical_union(ref, cur)
    rk, rc = ref.unique
    ck, cc = cur.unique
    keys = np.union1d(rk, ck)
    ref_counts = np.zeros(keys.size, dtype=np.int64)
    cur_counts = np.zeros(keys.size, dtype=np.int64)
    ref_counts[keys.searchsorted(rk)] = rc
    cur_counts[keys.searchsorted(ck)] = cc
    return keys, ref_counts, cur_counts


def _categorical_union(ref: CategoricalSample, cur: CategoricalSample):
    if cur.n_ref_keys != len(ref.keys):  # current not encoded against this reference
        cur = _realign(ref, cur)
    ref_counts = np.zeros(len(cur.keys), dtype=np.int64)
    ref_counts[: len(ref.keys)] = ref.counts
    return cur.keys, ref_counts, cur.counts


def _realign(ref: CategoricalSample, cur: CategoricalSample) -> CategoricalSample:
    pos = pd.Index(ref.keys, dtype=object).get_indexer(pd.Index(cur.keys, dtype=object))
    seen = pos >= 0
    counts = np.zeros(len(ref.keys), dtype=np.int64)
    counts[pos[seen]] = cur.counts[seen]
    keys = np.concatenate((np.asarray(ref.keys, dtype=object), np.asarray(cur.keys, dtype=object)[~seen]))
    return CategoricalSample(keys, np.concatenate((counts, cur.counts[~seen])), len(ref.keys))


def n_unique_union(ref, cur, cap: int | None = None) -> int:
    """Distinct non-null values over both sides; with `cap`, any answer above it may be returned early."""
    if isinstance(ref, CategoricalSample):
        return len(union_counts(ref, cur)[0])
    if cap is not None and (ref.n_unique > cap or cur.n_unique > cap):
        return cap + 1
    return int(np.union1d(ref.unique[0], cur.unique[0]).size)


def fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's zero replacement: min non-zero share / 1e6 when that is <= 1e-4, else 1e-4."""
    out = shares.copy()
    smallest = out[out != 0].min()
    np.place(out, out == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return out


def binned_shares(ref, cur, fill: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Shares per bin (or per value) of reference and current, as `get_binned_data` returns them."""
    if ref.kind == NUMERIC and ref.n_unique > HIST_MIN_UNIQUE:
        lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
        edges = sturges_edges(lo, hi, ref.n + cur.n, np.result_type(ref.values, cur.values))
        ref_shares = hist_counts(ref.values, edges) / ref.n
        cur_shares = hist_counts(cur.values, edges) / cur.n
    else:
        _, rc, cc = union_counts(ref, cur)
        ref_shares, cur_shares = rc / ref.n, cc / cur.n
    if fill:
        return fill_zeroes(ref_shares), fill_zeroes(cur_shares)
    return ref_shares, cur_shares


def union_edges(ref: NumericSample, cur: NumericSample) -> np.ndarray:
    """Sturges edges of the distinct values of both sides, as Hellinger builds them.

    Evidently builds `list(set(ref.unique()) | set(cur.unique()))`: a value present on both sides
    keeps the reference's type, so the keys have the reference's dtype unless current adds values.
    """
    rk = ref.unique[0]
    ck = cur.unique[0]
    pos = np.clip(rk.searchsorted(ck), 0, max(rk.size - 1, 0))
    shared = int(np.count_nonzero(rk[pos] == ck))
    dtype = rk.dtype if shared == ck.size else np.result_type(rk, ck)
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    return sturges_edges(lo, hi, rk.size + ck.size - shared, dtype)
