"""The exact engine's stat tests, computed from summaries instead of values.

Counts are exact, so chi-square, Z, Jensen-Shannon, PSI and KL on categories, on few-valued numeric
columns and on Sturges bins are the exact engine's own `StatTest.score` calls on count samples and give
identical scores. Wasserstein and K-S of a many-valued column come from the fine histograms: the
integral of |F_ref - F_cur| with both CDFs linear inside a bin (values outside the grid exactly, from
their count and sum), with a bound on the error that assumes nothing about how values sit in a bin.
"""
from __future__ import annotations

import math

import numpy as np

from driftlib.drift.engines.summaries import NumericSummary
from driftlib.drift.stats import CategoricalSample
from driftlib.drift.stats.binning import sturges_edges

KS_EXACT_N = 10_000  # scipy's ks_2samp is exact up to this many values per side, asymptotic above


def count_sample(keys, counts, n_ref_keys: int) -> CategoricalSample:
    return CategoricalSample(np.asarray(keys, dtype=object), np.asarray(counts, dtype=np.int64), n_ref_keys)


def aligned(ref_keys, ref_counts, cur_keys, cur_counts) -> tuple[CategoricalSample, CategoricalSample]:
    """Count samples with the current's keys laid out as the stat tests expect (reference keys first)."""
    ref_keys = list(np.asarray(ref_keys, dtype=object).tolist())
    pos = {k: i for i, k in enumerate(ref_keys)}
    counts = np.zeros(len(ref_keys), dtype=np.int64)
    extra_keys, extra_counts = [], []
    for k, c in zip(np.asarray(cur_keys, dtype=object).tolist(), np.asarray(cur_counts).tolist()):
        i = pos.get(k)
        if i is None:
            extra_keys.append(k)
            extra_counts.append(int(c))
        else:
            counts[i] += int(c)
    ref = count_sample(ref_keys, ref_counts, len(ref_keys))
    cur = count_sample(ref_keys + extra_keys, np.concatenate((counts, np.asarray(extra_counts, dtype=np.int64))),
                       len(ref_keys))
    return ref, cur


def n_unique_union(ref: NumericSummary, cur: NumericSummary) -> int | None:
    """Distinct values over both sides when both are counted exactly; None means 'many'."""
    if ref.exact and cur.exact:
        return int(np.union1d(ref.values, cur.values).size)
    return None


def sturges(ref: NumericSummary, cur: NumericSummary) -> np.ndarray:
    """The Sturges edges the exact engine bins PSI/KL/Jensen-Shannon on (both sides' min, max and size)."""
    dtype = np.result_type(np.dtype(ref.dtype), np.dtype(cur.dtype))
    return sturges_edges(min(ref.min, cur.min), max(ref.max, cur.max), ref.n + cur.n, dtype)


def counts_on_edges(values: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram` counts of a side known as exact (sorted value, count) pairs."""
    cum = np.concatenate(([0], np.cumsum(counts)))
    idx = np.concatenate((values.searchsorted(edges[:-1], "left"), values.searchsorted(edges[-1:], "right")))
    return np.diff(cum[idx])


def _sorted(s: NumericSummary) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(s.values, kind="stable")
    return np.asarray(s.values, dtype=np.float64)[order], np.asarray(s.counts, dtype=np.int64)[order]


# -- Wasserstein and K-S --------------------------------------------------------------------------
def wasserstein_exact(ref: NumericSummary, cur: NumericSummary) -> float:
    rv, rc = _sorted(ref)
    cv, cc = _sorted(cur)
    from scipy import stats  # ~0.5 s: only where a summary is scored, not at `driftlib drift` start

    return float(stats.wasserstein_distance(rv, cv, rc, cc)) / max(ref.std, 0.001)


def _edge_cdfs(ref: NumericSummary, cur: NumericSummary) -> tuple[np.ndarray, np.ndarray]:
    """Both CDFs at the grid edges (everything below the grid counted in)."""
    fr = np.concatenate(([ref.below[0]], ref.below[0] + np.cumsum(ref.hist))) / ref.n
    fc = np.concatenate(([cur.below[0]], cur.below[0] + np.cumsum(cur.hist))) / cur.n
    return fr, fc


def wasserstein_hist(ref: NumericSummary, cur: NumericSummary) -> tuple[float, float]:
    """(normed W1, error bound) from the fine histograms on the shared grid."""
    grid = ref.grid
    w = grid.width
    fr, fc = _edge_cdfs(ref, cur)
    g0, g1 = (fr - fc)[:-1], (fr - fc)[1:]
    a0, a1 = np.abs(g0), np.abs(g1)
    same = (g0 * g1) >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a0 + a1 > 0, (g0 * g0 + g1 * g1) / (2 * (a0 + a1)), 0.0)
    inside = w * float(np.sum(np.where(same, (a0 + a1) / 2, crossing)))
    # the grid spans the reference (or both sides): below it F_ref = 0, above it F_ref = 1, and the
    # current's values there add their exact distance to the edge, from their count and sum
    (nb, sb), (na, sa) = cur.below, cur.above
    outside = (nb * grid.lo - sb + sa - na * grid.hi) / cur.n
    bound = w * float(np.sum(ref.hist / ref.n + cur.hist / cur.n))
    scale = max(ref.std, 0.001)
    return (inside + outside) / scale, bound / scale


def ks_exact(ref: NumericSummary, cur: NumericSummary) -> float:
    rv, rc = _sorted(ref)
    cv, cc = _sorted(cur)
    if max(ref.n, cur.n) <= KS_EXACT_N:  # small enough to hand scipy the values themselves
        from scipy import stats

        return float(stats.ks_2samp(np.repeat(rv, rc), np.repeat(cv, cc))[1])
    support = np.union1d(rv, cv)
    fr = np.cumsum(rc)[np.maximum(rv.searchsorted(support, "right") - 1, 0)] * (support >= rv[0]) / ref.n
    fc = np.cumsum(cc)[np.maximum(cv.searchsorted(support, "right") - 1, 0)] * (support >= cv[0]) / cur.n
    return _ks_p(float(np.max(np.abs(fr - fc))), ref.n, cur.n)


def _ks_p(d: float, n: int, m: int) -> float:
    """scipy's asymptotic two-sided p-value for D (`ks_2samp`, method 'asymp')."""
    en = n * m / (n + m)
    from scipy import stats

    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))


def ks_hist(ref: NumericSummary, cur: NumericSummary) -> tuple[float, float]:
    """(p-value at the D seen on the grid edges, width of the p-value interval D can imply)."""
    fr, fc = _edge_cdfs(ref, cur)
    g = fr - fc
    d_lo = float(np.max(np.abs(g)))
    pr, pc = ref.hist / ref.n, cur.hist / cur.n
    d_hi = float(max(d_lo, np.max(np.maximum(np.abs(g[:-1] + pr), np.abs(g[:-1] - pc)))))
    p = _ks_p(d_lo, ref.n, cur.n)
    return p, p - _ks_p(d_hi, ref.n, cur.n)


def isclose_threshold(score: float, threshold: float, rel: float = 0.02) -> bool:
    """Whether a score is within `rel` of its threshold (where an approximate verdict may flip)."""
    return math.isclose(score, threshold, rel_tol=rel)
