"""Measure false-alarm and detection rates of every stat test on the reference itself.

    cal = Calibrator.from_params(params).fit(load_reference(params))   # bounded by budget_s
    cal.result_.suggestions        # per column: method + threshold meeting the target rate

Pseudo-windows (`null.py`) are scored as they are (false alarms) and with known shifts injected
(`inject.py`) by the same `DriftDetector` the notebooks use, once per stat test. Raw scores are
kept, so any threshold's verdict is a comparison afterwards: thresholds cost nothing to add.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from driftlib.calibration.detectable import minimum_detectable_shift
from driftlib.calibration.inject import DEFAULT_STRENGTHS, SHIFTS, ColumnStats, applies, inject
from driftlib.calibration.null import out_of_fold, pseudo_windows, rows_per_window, usable_sizes
from driftlib.calibration.result import DEFAULT, CalibrationResult
from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.stats import CATEGORICAL, NUMERIC, STAT_TESTS, get_stat_test

P_GRID = (0.001, 0.005, 0.01, 0.05, 0.1)
# compared by default: Evidently's own choices and PSI; kl_div and hellinger (close kin of PSI and
# Jensen-Shannon) and z (binary columns) only when calibration.methods names them
DEFAULT_METHODS = ("ks", "chisquare", "wasserstein", "jensenshannon", "psi")
DISTANCE_FACTORS = (0.5, 1.0, 1.5, 2.0, 3.0)  # x the test's default threshold


def default_thresholds(method: str) -> list[float]:
    test = get_stat_test(method)
    if test.is_p_value:
        return list(P_GRID)
    return [round(test.default_threshold * f, 6) for f in DISTANCE_FACTORS]


class Calibrator:
    """Runs the calibration experiment; `fit(reference)` returns self with `result_`."""

    def __init__(self, numeric: Iterable[str] = (), categorical: Iterable[str] = (),
                 sizes: Iterable[int] = (200,), methods: Iterable[str] | None = None,
                 thresholds: Mapping[str, list[float]] | None = None,
                 shifts: Iterable[str] = tuple(SHIFTS), strengths: Mapping[str, list[float]] | None = None,
                 n_windows: int = 40, budget_s: float = 120, seed: int = 0, target_false_alarm: float = 0.05,
                 power: float = 0.5, columns: Mapping | None = None, drift_share: float = 0.5,
                 min_rows: int = 1, progress: bool = False, clock: Callable[[], float] = time.monotonic):
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.sizes = list(sizes)
        self.methods = list(methods) if methods else None
        self.thresholds = dict(thresholds or {})
        self.shifts = list(shifts)
        self.strengths = dict(strengths or {})
        self.n_windows = n_windows
        self.budget_s = budget_s
        self.seed = seed
        self.target_false_alarm = target_false_alarm
        self.power = power
        self.columns = dict(columns or {})
        self.drift_share = drift_share
        self.min_rows = min_rows
        self.progress = progress
        self.clock = clock

    @classmethod
    def from_params(cls, params, reference: pd.DataFrame | None = None, **kwargs) -> "Calibrator":
        """Features, overrides and the calibration section from params; sizes default to
        drift.min_rows and the reference rows per drift.window (needs the reference)."""
        from driftlib.data.features import feature_lists

        cal, d = params.calibration, params.drift
        numeric, categorical = (feature_lists(params, reference) if reference is not None
                                else (params.features.numeric, params.features.categorical))
        sizes = list(cal.sizes)
        if not sizes:
            sizes = [d.min_rows]
            per_window = rows_per_window(reference, params.columns.timestamp, d.window) if reference is not None else None
            if per_window:
                sizes.append(per_window)
        args = dict(numeric=numeric, categorical=categorical, sizes=sizes, methods=cal.methods or None,
                    thresholds=cal.thresholds, shifts=cal.shifts, strengths=cal.strengths,
                    n_windows=cal.n_windows, budget_s=cal.budget_s, seed=cal.seed,
                    target_false_alarm=cal.target_false_alarm, power=cal.power, columns=d.columns,
                    drift_share=d.drift_share, min_rows=d.min_rows)
        return cls(**{**args, **kwargs})

    # -- set-up -------------------------------------------------------------------------------------
    def _methods(self) -> list[str]:
        names = self.methods or list(DEFAULT_METHODS)
        for name in names:
            if name != DEFAULT:
                get_stat_test(name, where="calibration.methods")
        return [DEFAULT, *[n for n in names if n != DEFAULT]]

    def _strengths(self) -> dict[str, list[float]]:
        unknown = [k for k in self.strengths if k not in SHIFTS]
        if unknown:
            raise ConfigError(f"calibration.strengths: unknown shift(s) {', '.join(unknown)}")
        for s in self.shifts:
            if s not in SHIFTS:
                raise ConfigError(f"calibration.shifts: unknown shift '{s}'")
        return {s: list(self.strengths.get(s, DEFAULT_STRENGTHS[s])) for s in self.shifts}

    def _thresholds(self, methods: list[str]) -> dict[str, list[float]]:
        for k in self.thresholds:
            get_stat_test(k, where="calibration.thresholds")
        grid = {m: sorted(set(self.thresholds.get(m) or default_thresholds(m))) for m in STAT_TESTS}
        for m in grid:
            grid[m] = sorted(set(grid[m]) | {STAT_TESTS[m].default_threshold})
        return grid

    def _detector(self, method: str, kinds: dict[str, str], kind: str):
        """A detector of `method` over the columns of `kind` it applies to (None if none)."""
        from driftlib.drift.detector import DriftDetector

        kinds = {c: k for c, k in kinds.items() if k == kind}
        if method == DEFAULT:
            if not kinds:
                return None
            return DriftDetector(numeric=[c for c in kinds if kind == NUMERIC],
                                 categorical=[c for c in kinds if kind == CATEGORICAL],
                                 columns={c: v for c, v in self.columns.items() if c in kinds},
                                 drift_share=self.drift_share, min_rows=1, n_jobs=1)
        test = STAT_TESTS[method]
        cols = [c for c, k in kinds.items() if k in test.kinds]
        if method == "z":  # a two-category test: Evidently applies it to binary columns only
            cols = [c for c in cols if self._n_categories.get(c, 3) <= 2]
        if not cols:
            return None
        return DriftDetector(numeric=[c for c in cols if kinds[c] == NUMERIC],
                             categorical=[c for c in cols if kinds[c] == CATEGORICAL],
                             columns={c: {"method": method} for c in cols}, drift_share=self.drift_share,
                             min_rows=1, n_jobs=1)

    # -- the experiment -----------------------------------------------------------------------------
    def fit(self, reference: pd.DataFrame) -> "Calibrator":
        if not isinstance(reference, pd.DataFrame) or reference.empty:
            raise InputError("reference: expected a non-empty DataFrame")
        features = [*self.numeric, *self.categorical]
        if not features:
            raise ConfigError("calibration: no features to calibrate (features.numeric / categorical)")
        missing = [c for c in features if c not in reference.columns]
        if missing:
            raise InputError(f"reference: missing feature column(s) {', '.join(missing)}")
        start = self.clock()
        kinds = {c: NUMERIC for c in self.numeric} | {c: CATEGORICAL for c in self.categorical}
        ref = reference[features].reset_index(drop=True)
        self._n_categories = {c: ref[c].nunique() for c in self.categorical}
        sizes, dropped = usable_sizes(len(ref), self.sizes)
        if not sizes:
            raise InputError(f"calibration.sizes: every size ({self.sizes}) is more than half the "
                             f"reference's {len(ref)} rows")
        methods, strengths = self._methods(), self._strengths()
        thresholds = self._thresholds(methods)
        stats_ = {c: ColumnStats.of(ref[c], k) for c, k in kinds.items()}
        rng = np.random.default_rng(self.seed)
        per_size = {size: pseudo_windows(len(ref), size, self.n_windows, np.random.default_rng([self.seed, size]))
                    for size in sizes}
        windows = [per_size[size][i] for i in range(self.n_windows) for size in sizes]  # sizes in turn
        frames_spec = [("none", 0.0)] + [(s, x) for s, xs in strengths.items() for x in xs]
        fitted: dict[tuple, object] = {}
        records: list[tuple] = []
        done, stopped = 0, False
        bar = _progress(len(windows), self.progress)
        for wi, w in enumerate(windows):
            if self.clock() - start > self.budget_s * 0.8:  # keep a fifth for detectability + report
                stopped = True
                break
            win = ref.iloc[w.start:w.stop]
            frames = [(s, x, win if s == "none" else inject(win, s, x, stats_, rng)) for s, x in frames_spec]
            for method in methods:
                for kind in (NUMERIC, CATEGORICAL):
                    key = (w.size, w.fold, method, kind)
                    if key not in fitted:
                        det = self._detector(method, kinds, kind)
                        fitted[key] = det.fit(out_of_fold(ref, w.size, w.fold)) if det is not None else None
                    det = fitted[key]
                    if det is None:
                        continue
                    for shift, strength, frame in frames:
                        if shift != "none" and not applies(shift, kind):
                            continue  # this shift leaves these columns as they were
                        t = det.score(frame).table
                        t = t[t["status"] == "ok"]
                        records += [(w.size, wi, w.fold, method, shift, strength, c, kind, st, float(sc))
                                    for c, st, sc in zip(t["column"], t["stattest"], t["score"])]
            done += 1
            bar.update(1)
        bar.close()
        scores = pd.DataFrame(records, columns=["size", "window", "fold", "method", "shift", "strength",
                                                "column", "kind", "stattest", "score"])
        detectable = self._detectable(ref, kinds, sizes, start)
        self.result_ = CalibrationResult(
            scores=scores, thresholds=thresholds, target_false_alarm=self.target_false_alarm,
            drift_share=self.drift_share, sizes=sizes, dropped_sizes=dropped, n_reference=len(ref),
            n_windows_done=done, n_windows_planned=len(windows), budget_s=self.budget_s,
            elapsed_s=self.clock() - start, stopped_by_budget=stopped, seed=self.seed,
            detectable=detectable, features=kinds)
        return self

    def _detectable(self, ref: pd.DataFrame, kinds: dict[str, str], sizes: list[int], start: float) -> pd.DataFrame:
        """Minimum detectable shift per column and size with the default (or overridden) test."""
        from driftlib.drift.detector import override_fields

        rows = []
        for size in sizes:
            for col, kind in kinds.items():
                if self.clock() - start > self.budget_s:
                    return pd.DataFrame(rows)
                method, threshold = override_fields(self.columns[col]) if col in self.columns else (None, None)
                d = minimum_detectable_shift(ref[col], size, method, threshold, kind=kind, power=self.power,
                                             n_draws=20, seed=self.seed)
                rows.append({"size": size, "column": col, "kind": kind, "stattest": d.stattest,
                             "threshold": d.threshold, "mds": d.value, "unit": d.unit,
                             "false_alarm": d.false_alarm})
        return pd.DataFrame(rows)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="calibration windows", unit="window")
