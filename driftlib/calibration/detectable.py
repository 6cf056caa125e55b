"""What a window could have seen: the smallest shift its test and threshold detect, at its size.

    mds = minimum_detectable_shift(reference["temp"], n_current=700)        # DetectableShift
    float(mds), mds.unit                                                     # e.g. 0.31, "reference std"

Numeric columns: a location shift in reference standard deviations; categorical columns: the
total-variation distance moved off the commonest category (`inject.category_mix`). "Detectable"
means detected in at least `power` of the windows. KS has a closed form (the asymptotic critical
distance against the reference's own shifted ECDF: an upper bound); by default all tests are simulated: current
windows resampled from the reference, shifted, scored with the same stat test (common random
numbers across shift sizes, so detection rises monotonically along the grid); each draw also
resamples the reference, so its own noise counts as it does against real windows.
"""
from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.stats import (CATEGORICAL, NUMERIC, CategoricalSample, NumericSample, default_stat_test,
                                  get_stat_test, sample)

UNIT = {NUMERIC: "reference std", CATEGORICAL: "TVD"}


@dataclass
class DetectableShift:
    value: float  # inf: not detectable within the largest shift tried; NaN: the test flags most
    # windows of this size without any shift (false_alarm >= power), so it cannot resolve a shift
    unit: str
    kind: str
    stattest: str
    threshold: float
    n_current: int
    power: float
    source: str
    false_alarm: float = float("nan")  # detection rate with no shift at all (simulated tests)

    def __float__(self) -> float:
        return float(self.value)

    @property
    def text(self) -> str:
        if math.isnan(self.value):
            return (f"none: {self.stattest} flags {self.false_alarm:.0%} of unshifted windows of "
                    f"{self.n_current} rows")
        if math.isinf(self.value):
            return f"no shift of this kind is detectable at {self.n_current} rows"
        return f"{self.value:.3g} {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = None if not math.isfinite(self.value) else float(self.value)
        return d

    def _repr_html_(self) -> str:
        return (f"<p>Smallest detectable shift at {self.n_current} rows with {html.escape(self.stattest)} "
                f"(threshold {self.threshold:g}): <b>{html.escape(self.text)}</b> ({html.escape(self.source)})</p>")


def _kind_of(values: pd.Series, kind: str | None) -> str:
    if kind is not None:
        if kind not in (NUMERIC, CATEGORICAL):
            raise ConfigError(f"kind: expected numeric or categorical, got {kind!r}")
        return kind
    return NUMERIC if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) else CATEGORICAL


def minimum_detectable_shift(reference, n_current: int, method: str | None = None,
                             threshold: float | None = None, kind: str | None = None, power: float = 0.5,
                             n_draws: int = 30, seed: int = 0, closed_form: bool = False) -> DetectableShift:
    """Smallest shift of one column that `method` at `threshold` (defaults: Evidently's choice)
    detects in `power` of windows of `n_current` rows. `closed_form` (KS on continuous data only)
    gives the shift whose population KS distance equals the critical one: an upper bound, since the
    sample distance overshoots the population one."""
    values = reference if isinstance(reference, pd.Series) else pd.Series(reference)
    if int(n_current) < 1:
        raise ConfigError(f"n_current: must be >= 1, got {n_current}")
    if not 0 < power < 1:
        raise ConfigError(f"power: must be in (0, 1), got {power}")
    kind = _kind_of(values, kind)
    ref = sample(values, kind)
    if ref.n < 2:
        raise InputError(f"reference column '{values.name}': fewer than 2 non-null values")
    test = (get_stat_test(method, kind, where="method") if method
            else default_stat_test(kind, ref.n, ref.n_unique))
    thr = float(test.default_threshold if threshold is None else threshold)
    m = int(n_current)
    common = dict(unit=UNIT[kind], kind=kind, stattest=test.name, threshold=thr, n_current=m, power=power)
    if closed_form and kind == NUMERIC and test.name == "ks" and ref.n_unique >= 0.5 * ref.n:
        return DetectableShift(_ks_closed_form(ref, m, thr), source="closed form (asymptotic KS)", **common)
    rng = np.random.default_rng(seed)
    if kind == NUMERIC:
        grid, draws = _numeric_draws(ref, m, n_draws, rng, test)
    else:
        grid, draws = _categorical_draws(ref, m, n_draws, rng, test)
    value, false_alarm = _first_detected(grid, draws, test, thr, power)
    return DetectableShift(value, source=f"simulation ({n_draws} windows per shift)",
                           false_alarm=false_alarm, **common)


def _ks_closed_form(ref: NumericSample, m: int, alpha: float) -> float:
    """Smallest delta with sup |F(x) - F(x - delta*std)| >= the KS critical distance."""
    n = ref.n
    d_crit = stats.kstwobign.isf(alpha) * math.sqrt((n + m) / (n * m))
    if d_crit >= 1:
        return float("inf")
    x = ref.as_float
    std = max(ref.std, 1e-12)

    def distance(delta: float) -> float:
        # sup over x of F(x) - F(x - d): evaluated at the sample points, both ECDFs right-continuous
        f = np.searchsorted(x, x, "right") / n
        g = np.searchsorted(x, x - delta * std, "right") / n
        return float(np.max(f - g))

    lo, hi = 0.0, 1.0
    while distance(hi) < d_crit:
        hi *= 2
        if hi > 1e3:
            return float("inf")
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if distance(mid) >= d_crit else (mid, hi)
    return hi


def resolution(ref: NumericSample) -> float:
    """Median gap between distinct values, in reference std: smaller shifts of tied (rounded,
    integer) data only break ties, which KS and binned tests notice at any size."""
    u = ref.unique[0].astype(np.float64)
    std = ref.std if ref.std > 0 else 1.0
    return float(np.median(np.diff(u)) / std) if u.size > 1 else 0.0


def _numeric_draws(ref: NumericSample, m: int, n_draws: int, rng, test):
    grid = np.concatenate(([0.0], np.geomspace(max(0.002, resolution(ref)), 4.0, 28)))
    refs = [NumericSample(ref.values[np.sort(rng.integers(0, ref.n, ref.n))], ref.integer)
            for _ in range(n_draws)]
    base = [ref.values[np.sort(rng.integers(0, ref.n, m))].astype(np.float64) for _ in range(n_draws)]
    std = ref.std if ref.std > 0 else 1.0

    def scores(delta: float) -> list[float]:
        return [test.score(r, NumericSample(b + delta * std, False)) for r, b in zip(refs, base)]

    return grid, scores


def _categorical_draws(ref: CategoricalSample, m: int, n_draws: int, rng, test):
    p = ref.counts / ref.n
    top = int(np.argmax(p))
    p_top = float(p[top])
    others = p.copy()
    others[top] = 0
    others = others / others.sum() if others.sum() > 0 else others
    grid = np.concatenate(([0.0], np.geomspace(min(0.001, p_top), p_top, 24)))
    uniforms = [np.sort(rng.random(m)) for _ in range(n_draws)]
    refs = [CategoricalSample(ref.keys, rng.multinomial(ref.n, p).astype(np.int64), len(ref.keys))
            for _ in range(n_draws)]

    def scores(tvd: float) -> list[float]:
        q = p - tvd * np.eye(len(p))[top] + tvd * others
        cdf = np.cumsum(q)
        cdf[-1] = 1.0
        out = []
        for r, u in zip(refs, uniforms):
            counts = np.diff(np.concatenate(([0], np.searchsorted(u, cdf, "right"))))
            out.append(test.score(r, CategoricalSample(ref.keys, counts.astype(np.int64), len(ref.keys))))
        return out

    return grid, scores


def _first_detected(grid: np.ndarray, scores, test, thr: float, power: float) -> tuple[float, float]:
    """(first shift detected in `power` of the draws, interpolated linearly; rate at no shift)."""
    prev_x, prev_rate, false_alarm = None, None, float("nan")
    for x in grid:
        with np.errstate(all="ignore"):
            rate = float(np.mean([test.drifted(s, thr) for s in scores(float(x))]))
        if x == 0:
            false_alarm = rate
            if rate >= power:  # flags windows of this size with no shift at all: nothing to resolve
                return float("nan"), false_alarm
        if rate >= power:
            if prev_x is None:
                return float(x), false_alarm
            return float(prev_x + (x - prev_x) * (power - prev_rate) / max(rate - prev_rate, 1e-12)), false_alarm
        prev_x, prev_rate = float(x), rate
    return float("inf"), false_alarm


def detectability(detector, reference: pd.DataFrame, n_current, shift: float | None = None,
                  power: float = 0.5, n_draws: int = 30, seed: int = 0) -> pd.DataFrame:
    """Per feature (and per window when `n_current` is a sequence or `WindowedDrift.windows`), the
    smallest detectable shift at the detector's test and threshold. With `shift`, `could_detect`
    says whether a shift of that size (std or TVD) would have been seen: a window that could not
    reports "not detectable" instead of "no drift"."""
    from driftlib.drift.detector import FEATURE

    if not hasattr(detector, "specs_"):
        raise ConfigError("detectability: fit the DriftDetector on the reference first")
    if isinstance(n_current, pd.DataFrame):
        sizes = list(zip(n_current["window"], n_current["n_rows"]))
    elif np.ndim(n_current) == 0:
        sizes = [(None, int(n_current))]
    else:
        sizes = list(enumerate(int(x) for x in n_current))
    cache: dict[tuple[str, int], DetectableShift] = {}
    rows = []
    for spec in (s for s in detector.specs_.values() if s.role == FEATURE):
        for window, n in sizes:
            key = (spec.name, int(n))
            if n < max(detector.min_rows, 1):
                rows.append({"window": window, "column": spec.name, "kind": spec.kind, "n_current": int(n),
                             "stattest": None, "threshold": None, "mds": float("nan"), "unit": UNIT[spec.kind],
                             "source": "insufficient data"})
                continue
            if key not in cache:
                cache[key] = minimum_detectable_shift(
                    reference[spec.name], n, spec.test.name if spec.test else None, spec.threshold,
                    kind=spec.kind, power=power, n_draws=n_draws, seed=seed)
            d = cache[key]
            rows.append({"window": window, "column": spec.name, "kind": spec.kind, "n_current": int(n),
                         "stattest": d.stattest, "threshold": d.threshold, "mds": d.value, "unit": d.unit,
                         "false_alarm": d.false_alarm, "source": d.source})
    table = pd.DataFrame(rows)
    if shift is not None:
        table["could_detect"] = table["mds"].le(float(shift))
    return table


def window_sensitivity(params, detector, reference: pd.DataFrame, drift) -> tuple[pd.DataFrame | None, str]:
    """Notebook 02's sensitivity block: this window's minimum detectable shifts (when
    `drift.detectable_shift` is set) and the words naming the features that could not have seen it."""
    from driftlib.drift.summary import sensitivity_text

    shift = params.drift.detectable_shift
    if shift is None or drift.status != "ok":
        return None, sensitivity_text(None, drift, shift)
    seen = detectability(detector, reference, drift.n_rows, shift=shift)
    return seen, sensitivity_text(seen, drift, shift)
