"""The stat tests, one small class each, registered by the name Evidently uses for them.

Every class mirrors `evidently/legacy/calculations/stattests/<name>.py` of Evidently 0.7: the same
display name, default threshold, allowed column kinds and drift comparison ("p <= t", "p < t" or
"score >= t"). Scores are computed from fitted samples (sorted arrays and counts), so a reference is
never re-sorted or re-binned per window, and small arrays go to the same scipy calls Evidently makes.

scipy is imported inside the tests that need it, never at module load: `scipy.stats` alone costs about a
second of every `driftlib drift` process. The tests a large reference gets by default (Wasserstein,
Jensen-Shannon) need only `scipy.special.rel_entr`, the function `scipy.spatial.distance.jensenshannon`
and `scipy.stats.entropy` are built on; `jensenshannon` and `kl_divergence` below repeat their
arithmetic step for step (tests/test_stats.py checks they return the same floats).
"""
from __future__ import annotations

import math
import operator
from typing import Callable, ClassVar

import numpy as np

from driftlib.core.names import Names
from driftlib.drift.stats.binning import binned_shares, hist_counts, span_unit, union_counts, union_edges
from driftlib.drift.stats.samples import CATEGORICAL, NUMERIC, NumericSample, scale_for, scaled_prefix

STAT_TESTS: Names["StatTest"] = Names("drift.columns.method", kind="stat test")


def register(cls: type["StatTest"]) -> type["StatTest"]:
    """Class decorator: one instance of each test, by its `name`."""
    STAT_TESTS.register(cls.name)(cls())
    return cls


class StatTest:
    """A two-sample test: `score(ref, cur)` and the comparison that turns a score into a verdict."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    default_threshold: ClassVar[float] = 0.05
    kinds: ClassVar[frozenset[str]] = frozenset({NUMERIC, CATEGORICAL})
    compare: ClassVar[Callable[[float, float], bool]] = operator.ge
    is_p_value: ClassVar[bool] = False

    def score(self, ref, cur) -> float:
        raise NotImplementedError

    def drifted(self, score: float, threshold: float) -> bool:
        return bool(self.compare(score, threshold))

    @property
    def rule(self) -> str:
        sym = {operator.le: "<=", operator.lt: "<", operator.ge: ">="}[type(self).compare]
        return f"{'p' if self.is_p_value else 'score'} {sym} threshold"

    def strength(self, score: float, threshold: float) -> float:
        """How far past the threshold: 1 at the threshold, larger is more drift, comparable across tests."""
        if score is None or math.isnan(score):
            return float("nan")
        if self.is_p_value:
            if not 0 < threshold < 1:
                return float("nan")
            return math.log(max(score, 1e-300)) / math.log(threshold)
        return score / threshold if threshold > 0 else float("nan")

    def __repr__(self) -> str:
        return f"<StatTest {self.name!r}: {self.display_name}, {self.rule}, default {self.default_threshold}>"


class PValueTest(StatTest):
    is_p_value = True
    compare = operator.lt


@register
class KS(PValueTest):
    name = "ks"
    display_name = "K-S p_value"
    kinds = frozenset({NUMERIC})
    compare = operator.le

    def score(self, ref: NumericSample, cur: NumericSample) -> float:
        from scipy.stats import ks_2samp

        return float(ks_2samp(ref.values, cur.values)[1])


@register
class ChiSquare(PValueTest):
    name = "chisquare"
    display_name = "chi-square p_value"
    kinds = frozenset({CATEGORICAL})

    def score(self, ref, cur) -> float:
        _, rc, cc = union_counts(ref, cur)
        f_exp = rc * (cur.n / ref.n)
        from scipy.stats import chisquare

        with np.errstate(divide="ignore", invalid="ignore"):
            return float(chisquare(cc, f_exp)[1])


@register
class ZTest(PValueTest):
    """Two-proportion z-test on "equals the smallest value" vs the rest."""

    name = "z"
    display_name = "Z-test p_value"
    kinds = frozenset({CATEGORICAL})

    def score(self, ref, cur) -> float:
        keys, rc, cc = union_counts(ref, cur)
        if np.count_nonzero(rc) == 1 and np.count_nonzero(cc) == 1 and np.argmax(rc) == np.argmax(cc):
            return 1.0
        first = _argmin_key(keys)
        n1, n2 = ref.n, cur.n
        p1 = float(n1 - rc[first]) / n1
        p2 = float(n2 - cc[first]) / n2
        pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        from scipy.special import ndtr  # what scipy.stats.norm.cdf evaluates

        return float(2 * (1 - ndtr(np.abs(z))))


def _argmin_key(keys: np.ndarray) -> int:
    try:
        return int(np.argmin(keys)) if keys.dtype != object else min(range(len(keys)), key=keys.__getitem__)
    except TypeError:  # mixed types: Evidently itself fails here; order by text instead
        return min(range(len(keys)), key=lambda i: str(keys[i]))


@register
class Wasserstein(StatTest):
    """First Wasserstein distance divided by the reference std (floored at 0.001)."""

    name = "wasserstein"
    display_name = "Wasserstein distance (normed)"
    default_threshold = 0.1
    kinds = frozenset({NUMERIC})

    def score(self, ref: NumericSample, cur: NumericSample) -> float:
        w, s = wasserstein_scaled(ref, cur.values)
        return w / max(ref.std, 0.001) * s  # in this order: w * s alone may pass the float range


def wasserstein_sorted(ref: NumericSample, cur_sorted: np.ndarray, block: int = 1 << 15) -> float:
    """W1(ref, cur) for sorted current values (inf only if the distance itself passes the float range)."""
    w, s = wasserstein_scaled(ref, cur_sorted, block)
    return w * s


def wasserstein_scaled(ref: NumericSample, cur_sorted: np.ndarray, block: int = 1 << 15) -> tuple[float, float]:
    """(W1 / s, s) for sorted current values in O(m log n), from the reference's prefix sums.

    In quantile form W1 = integral over u of |Q_ref(u) - Q_cur(u)|, and |x| = 2 max(x, 0) - x gives
    W1 = mean(ref) - mean(cur) + 2 * sum_j integral over (j/m, (j+1)/m] of (c_j - Q_ref(u))_+ .
    Each term needs only where c_j falls in the reference (one searchsorted) and
    H(u) = integral of Q_ref up to u, read off the prefix sums. Blocks keep temporaries in cache.
    Everything runs on values / s (s = 1 unless values pass `LARGE`), so finite input never
    overflows a sum. Agrees with `scipy.stats.wasserstein_distance` to ~1e-11 relative.
    """
    m = cur_sorted.size
    s = max(ref.scale, scale_for(cur_sorted[0], cur_sorted[-1]) if m else 1.0)
    r, n = ref.as_float, ref.n
    if s == ref.scale:
        prefix, shift = ref.prefix, ref.shift / s
    else:  # the current side is larger: rescale the reference for this call only
        prefix, shift = scaled_prefix(r, ref.shift, s), ref.shift / s
    last = n - 1
    rs = r if s == 1.0 else r / s

    def h(u: np.ndarray) -> np.ndarray:
        x = u * n
        k = np.minimum(x.astype(np.int64), last)
        return (prefix[k] + (x - k) * (rs[k] - shift)) / n

    positive = total = 0.0
    for lo in range(0, m, block):
        c = cur_sorted[lo:lo + block].astype(np.float64)
        j = np.arange(lo, lo + c.size, dtype=np.float64)
        u_lo = j / m
        u_star = np.clip(sorted_positions(r, c) / n, u_lo, (j + 1) / m)
        if s != 1.0:
            c /= s
        c -= shift
        positive += float(np.sum(c * (u_star - u_lo) - (h(u_star) - h(u_lo))))
        total += float(c.sum())
    return (prefix[n] / n - total / m) + 2 * positive, s


def sorted_positions(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """`r.searchsorted(c, "left")` for sorted `c`: its positions lie between those of its ends, so
    only that stretch of `r` is searched (fewer steps, and they stay in cache)."""
    if c.size == 0:
        return np.zeros(0, dtype=np.intp)
    a, b = int(r.searchsorted(c[0], "left")), int(r.searchsorted(c[-1], "left"))
    pos = r[a:b].searchsorted(c, "left")
    pos += a
    return pos


@register
class JensenShannon(StatTest):
    name = "jensenshannon"
    display_name = "Jensen-Shannon distance"
    default_threshold = 0.1

    def score(self, ref, cur) -> float:
        p, q = binned_shares(ref, cur, fill=False)
        return float(jensenshannon(p, q))


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """`scipy.spatial.distance.jensenshannon(p, q)` for 1-d shares, the same operations in order."""
    from scipy.special import rel_entr

    p = np.asarray(p)
    q = np.asarray(q)
    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m), axis=0) + np.sum(rel_entr(q, m), axis=0)
    return np.sqrt(js / 2.0)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """`scipy.stats.entropy(p, q)` for 1-d shares: both normalised, then the sum of `rel_entr`."""
    from scipy.special import rel_entr

    dtype = np.result_type(p, q, np.float64)
    p, q = np.asarray(p, dtype=dtype), np.asarray(q, dtype=dtype)
    with np.errstate(invalid="ignore"):
        q = q / np.sum(q, axis=0, keepdims=True)
        p = p / np.sum(p, axis=0, keepdims=True)
    return np.sum(rel_entr(p, q), axis=0)


@register
class PSI(StatTest):
    name = "psi"
    display_name = "PSI"
    default_threshold = 0.1

    def score(self, ref, cur) -> float:
        p, q = binned_shares(ref, cur)
        return float(np.sum((p - q) * np.log(p / q)))


@register
class KLDiv(StatTest):
    name = "kl_div"
    display_name = "Kullback-Leibler divergence"
    default_threshold = 0.1

    def score(self, ref, cur) -> float:
        p, q = binned_shares(ref, cur)
        return float(kl_divergence(p, q))


@register
class Hellinger(StatTest):
    name = "hellinger"
    display_name = "Hellinger distance"
    default_threshold = 0.1

    def score(self, ref, cur) -> float:
        if ref.kind == CATEGORICAL:
            _, rc, cc = union_counts(ref, cur)
            overlap = float(np.sum(np.sqrt((rc / ref.n) * (cc / cur.n))))
        else:
            edges = union_edges(ref, cur)
            unit = span_unit(edges)
            e = edges if unit == 1.0 else edges / unit  # the overlap does not depend on the unit
            overlap = float(np.sum(np.sqrt(_density(ref, edges, e) * _density(cur, edges, e))))
            overlap *= (e.max() - e.min()) / (len(e) - 1)
        return math.sqrt(1 - float(np.clip(overlap, 0, 1)))


def _density(sample: NumericSample, edges: np.ndarray, scaled_edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges, density=True)[0]` with bin widths taken from `scaled_edges`."""
    counts = hist_counts(sample.values, edges)
    return counts / np.array(np.diff(scaled_edges), float) / counts.sum()
