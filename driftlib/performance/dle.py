"""Label-free MAE/RMSE of a regression model: direct loss estimation (in the manner of NannyML's DLE).

    dle = DirectLossEstimator(target="y", prediction="pred").fit(reference)   # labelled reference
    res = dle.score(window)                       # estimated MAE/RMSE with intervals (+ realized if labelled)
    win = dle.score_windows(log, timestamp="ts", window="7D", concept_drift=flags)
    estimation_error(win)                         # estimated vs realized once labels arrive

On the reference, where labels are known, a HistGradientBoostingRegressor learns the expected absolute
error |y - y_hat| and another the squared error from the features and the prediction (Poisson loss: a
log link keeps them positive and fits noise that scales with x). A window's estimated MAE is the mean
predicted absolute error, its RMSE the root of the mean predicted squared error. Covariate shift that
moves rows to noisier regions is thus seen before labels arrive; a change of P(y | x) (concept drift)
is not, so windows flagged with concept drift are marked unreliable.

The interval is the reference's chunk spread: chunks of the window's size are drawn from the reference
(with replacement), and the spread of realized minus estimated there (estimates out of fold) is where the
window's realized value should fall around its estimate.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from driftlib.core.errors import ConfigError, InputError, NotFittedError
from driftlib.core.jsonio import to_jsonable
from driftlib.data.encoding import TabularEncoder, resolve_features
from driftlib.data.features import BOOKKEEPING
from driftlib.drift.detector import split_windows
from driftlib.performance.metrics import MAX_CELLS, bootstrap_weights

OK, INSUFFICIENT = "ok", "insufficient data"
LOSSES = {"mae": "absolute", "rmse": "squared"}


@dataclass
class LossEstimate:
    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


@dataclass
class DLEResult:
    """Estimated (and, where labels arrived, realized) MAE/RMSE of one window."""

    status: str
    n_rows: int
    n_labelled: int = 0
    estimated: dict[str, LossEstimate] = field(default_factory=dict)
    realized: dict[str, float | None] = field(default_factory=dict)
    estimated_labelled: dict[str, LossEstimate] = field(default_factory=dict)  # on the labelled rows only
    reference: dict[str, float] = field(default_factory=dict)
    reliable: bool = True
    reason: str | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    @property
    def headline(self) -> str:
        if self.status != OK:
            return f"Not enough rows to estimate performance ({self.n_rows})."
        parts = [f"{m} {e.value:.4g} [{e.lower:.4g}, {e.upper:.4g}] (reference {self.reference.get(m, np.nan):.4g})"
                 for m, e in self.estimated.items()]
        out = "Estimated " + ", ".join(parts)
        if not self.reliable:
            out += f"; unreliable: {self.reason}"
        return out + "."

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({"status": self.status, "n_rows": self.n_rows, "n_labelled": self.n_labelled,
                            "estimated": {m: e.to_dict() for m, e in self.estimated.items()},
                            "realized": self.realized, "reference": self.reference, "reliable": self.reliable,
                            "reason": self.reason, "start": self.start, "end": self.end,
                            "headline": self.headline})

    def _repr_html_(self) -> str:
        rows = [{"metric": m, "estimated": e.value, "lower": e.lower, "upper": e.upper,
                 "realized": self.realized.get(m), "reference": self.reference.get(m)}
                for m, e in self.estimated.items()]
        return (f"<p><b>{html.escape(self.headline)}</b></p>"
                + pd.DataFrame(rows).to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-"))


@dataclass
class DLEWindows:
    results: list[DLEResult]
    window: str
    min_rows: int

    @property
    def table(self) -> pd.DataFrame:
        """One row per window and metric: estimate, interval, realized, reliable."""
        rows = [{"window": i, "start": r.start, "end": r.end, "n_rows": r.n_rows, "n_labelled": r.n_labelled,
                 "metric": m, "estimated": e.value, "lower": e.lower, "upper": e.upper,
                 "realized": r.realized.get(m), "reliable": r.reliable}
                for i, r in enumerate(self.results) for m, e in r.estimated.items()]
        return pd.DataFrame(rows, columns=["window", "start", "end", "n_rows", "n_labelled", "metric",
                                           "estimated", "lower", "upper", "realized", "reliable"])

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "min_rows": self.min_rows, "n_windows": len(self.results),
                "windows": [r.to_dict() for r in self.results]}

    def _repr_html_(self) -> str:
        return (f"<p><b>Direct loss estimation over {len(self.results)} windows of {html.escape(self.window)}</b></p>"
                + self.table.drop(columns=["window"]).to_html(index=False, float_format=lambda x: f"{x:.4g}",
                                                              na_rep="-"))


def _realized(metric: str, err: np.ndarray) -> float:
    return float(np.mean(np.abs(err))) if metric == "mae" else float(np.sqrt(np.mean(err**2)))


def _estimated(metric: str, loss: np.ndarray) -> float:
    return float(np.mean(loss)) if metric == "mae" else float(np.sqrt(np.mean(loss)))


class DirectLossEstimator:
    """Expected absolute/squared error per row from features + prediction, learned on the reference."""

    def __init__(self, target: str = "target", prediction: str = "prediction",
                 numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                 exclude: Iterable[str] = (), metrics: Iterable[str] = ("mae", "rmse"),
                 confidence: float = 0.95, n_chunks: int = 500, n_folds: int = 3, max_iter: int = 100,
                 learning_rate: float = 0.1, min_samples_leaf: int = 50, min_rows: int = 30,
                 n_threads: int | None = 1, random_state: int = 0):
        self.target = target
        self.prediction = prediction
        self.numeric = numeric
        self.categorical = categorical
        self.exclude = exclude
        self.metrics = metrics
        self.confidence = confidence
        self.n_chunks = n_chunks
        self.n_folds = n_folds
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.min_rows = min_rows
        self.n_threads = n_threads
        self.random_state = random_state

    @classmethod
    def from_params(cls, params, numeric=None, categorical=None, **kwargs) -> "DirectLossEstimator":
        """Target, prediction and features from a (regression) params object."""
        if params.task != "regression":
            raise ConfigError("task: direct loss estimation needs a regression model (task: regression)")
        if numeric is None and categorical is None:
            numeric, categorical = params.features.numeric, params.features.categorical
        return cls(target=params.columns.target, prediction=params.columns.prediction, numeric=numeric,
                   categorical=categorical, **kwargs)

    # -- fit --------------------------------------------------------------------------------------
    def _regressor(self) -> HistGradientBoostingRegressor:
        mask = self.encoder_.categorical_mask
        mask = np.r_[mask, False]  # the prediction column
        return HistGradientBoostingRegressor(loss="poisson", max_iter=self.max_iter,
                                             learning_rate=self.learning_rate,
                                             min_samples_leaf=self.min_samples_leaf, early_stopping=False,
                                             categorical_features=mask if mask.any() else None,
                                             random_state=self.random_state)

    def _matrix(self, df: pd.DataFrame, where: str) -> np.ndarray:
        if self.prediction not in df.columns:
            raise InputError(f"{where}: no prediction column '{self.prediction}'")
        pred = pd.to_numeric(df[self.prediction], errors="coerce").to_numpy(dtype=float)
        return np.column_stack([self.encoder_.transform(df, where=where), pred])

    def _errors(self, df: pd.DataFrame, where: str) -> np.ndarray:
        if self.target not in df.columns:
            raise InputError(f"{where}: no target column '{self.target}'")
        y = pd.to_numeric(df[self.target], errors="coerce").to_numpy(dtype=float)
        return y - pd.to_numeric(df[self.prediction], errors="coerce").to_numpy(dtype=float)

    def fit(self, reference: pd.DataFrame) -> "DirectLossEstimator":
        self.metrics_ = list(self.metrics)
        bad = [m for m in self.metrics_ if m not in LOSSES]
        if bad or not self.metrics_:
            raise ConfigError(f"metrics: {bad or 'none'} not estimable (choose from {', '.join(LOSSES)})")
        if not isinstance(reference, pd.DataFrame) or reference.empty:
            raise InputError("reference: expected a non-empty DataFrame")
        numeric, categorical = resolve_features(
            reference, self.numeric, self.categorical,
            exclude=[self.target, self.prediction, *self.exclude, *BOOKKEEPING])
        self.encoder_ = TabularEncoder(numeric, categorical).fit(reference)
        X, err = self._matrix(reference, "reference"), self._errors(reference, "reference")
        keep = np.isfinite(err)
        X, err = X[keep], err[keep]
        if len(err) < max(2 * self.n_folds, 100):
            raise InputError(f"reference: {len(err)} labelled rows, need at least {max(2 * self.n_folds, 100)}")
        targets = {"absolute": np.abs(err), "squared": err**2}
        self.models_, oof = {}, {}
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            for loss, t in targets.items():
                oof[loss] = np.empty(len(t))
                for train, test in KFold(int(self.n_folds), shuffle=True, random_state=self.random_state).split(X):
                    oof[loss][test] = self._regressor().fit(X[train], t[train]).predict(X[test])
                self.models_[loss] = self._regressor().fit(X, t)
        self.reference_errors_, self.reference_oof_ = err, oof
        self.reference_metrics_ = {m: _realized(m, err) for m in self.metrics_}
        self._spreads: dict[int, dict] = {}
        return self

    def _spread(self, size: int) -> dict[str, tuple[float, float]]:
        """Quantiles of realized - estimated over reference chunks of `size` rows (out-of-fold estimates)."""
        if size not in self._spreads:
            rng = np.random.default_rng(self.random_state)
            n = len(self.reference_errors_)
            b = int(self.n_chunks)
            diffs = {m: [] for m in self.metrics_}
            for start in range(0, b, max(1, MAX_CELLS // n)):
                w = bootstrap_weights(rng, min(b - start, max(1, MAX_CELLS // n)), n, size)
                for m in self.metrics_:
                    loss = LOSSES[m]
                    real = w @ (np.abs(self.reference_errors_) if loss == "absolute" else self.reference_errors_**2)
                    est = w @ self.reference_oof_[loss]
                    real, est = real / size, est / size
                    if m == "rmse":
                        real, est = np.sqrt(real), np.sqrt(est)
                    diffs[m].append(real - est)
            a = (1 - self.confidence) / 2
            self._spreads[size] = {m: tuple(np.quantile(np.concatenate(d), [a, 1 - a])) for m, d in diffs.items()}
        return self._spreads[size]

    # -- score ------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("DirectLossEstimator: call fit(reference) before scoring")

    def predict_loss(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Expected absolute and squared error of each row."""
        self._check_fitted()
        X = self._matrix(df, "current")
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return {loss: np.clip(model.predict(X), 0, None) for loss, model in self.models_.items()}

    def score(self, current: pd.DataFrame, concept_drift: bool | None = False) -> DLEResult:
        """Estimated MAE/RMSE of `current`; `concept_drift=True` (from the concept analysis) marks the
        estimate unreliable, since it assumes the reference's error structure still holds."""
        self._check_fitted()
        if not isinstance(current, pd.DataFrame):
            raise InputError("current: expected a DataFrame")
        err = self._errors(current, "current") if self.target in current.columns else np.full(len(current), np.nan)
        return self._score(self.predict_loss(current), err, np.arange(len(current)), concept_drift, self.min_rows)

    def _estimate(self, metric: str, loss: np.ndarray) -> LossEstimate:
        value = _estimated(metric, loss)
        lo, hi = self._spread(len(loss))[metric]
        return LossEstimate(value, max(0.0, value + lo), value + hi)

    def _score(self, losses, err, idx, concept_drift, min_rows: int) -> DLEResult:
        n = len(idx)
        reliable = not concept_drift
        reason = None if reliable else "concept drift found: the reference's error model may no longer hold"
        if n < min_rows:
            return DLEResult(INSUFFICIENT, n, reference=self.reference_metrics_, reliable=reliable, reason=reason)
        labelled = idx[np.isfinite(err[idx])]
        estimated, realized, est_lab = {}, {}, {}
        for m in self.metrics_:
            loss = losses[LOSSES[m]]
            estimated[m] = self._estimate(m, loss[idx])
            realized[m] = _realized(m, err[labelled]) if len(labelled) else None
            if len(labelled):
                est_lab[m] = self._estimate(m, loss[labelled])
        return DLEResult(OK, n, len(labelled), estimated, realized, est_lab, self.reference_metrics_, reliable, reason)

    def score_windows(self, df: pd.DataFrame, timestamp: str | None = None, window: str | int = "7D",
                      min_rows: int | None = None, start=None, end=None, concept_drift=None) -> DLEWindows:
        """Estimates per window (split as the drift detectors split them). `concept_drift` is a flag for
        all windows or a sequence with one flag per window."""
        self._check_fitted()
        losses = self.predict_loss(df)
        err = self._errors(df, "current") if self.target in df.columns else np.full(len(df), np.nan)
        order, bounds, spans = split_windows(df, timestamp, window, start, end)
        order = np.arange(len(df)) if order is None else order
        flags = list(concept_drift) if isinstance(concept_drift, (list, tuple, np.ndarray, pd.Series)) else \
            [concept_drift] * len(spans)
        if len(flags) != len(spans):
            raise InputError(f"concept_drift: {len(flags)} flags for {len(spans)} windows")
        min_rows = self.min_rows if min_rows is None else int(min_rows)
        results = []
        for (lo, hi), (s, e), flag in zip(zip(bounds[:-1], bounds[1:]), spans, flags):
            r = self._score(losses, err, order[int(lo):int(hi)], flag, min_rows)
            r.start, r.end = s, e
            results.append(r)
        return DLEWindows(results, str(window), min_rows)


def estimation_error(result: DLEResult | DLEWindows, realized: dict[str, float] | None = None) -> pd.DataFrame:
    """Estimated vs realized per window and metric, once labels have arrived.

    Compared on the labelled rows (estimate and interval over the same rows), with `error` = estimated -
    realized, `relative_error` over realized and `within` = realized inside the interval. `realized`
    overrides a single result's realized values (e.g. labels joined later; then all rows' estimate is used).
    """
    results = result.results if isinstance(result, DLEWindows) else [result]
    rows = []
    for i, r in enumerate(results):
        if r.status != OK:
            continue
        for m, e in r.estimated.items():
            real = (realized or {}).get(m, r.realized.get(m))
            if real is None:
                continue
            est = r.estimated_labelled.get(m, e) if realized is None else e
            rows.append({"window": i, "start": r.start, "metric": m, "n_labelled": r.n_labelled,
                         "estimated": est.value, "lower": est.lower, "upper": est.upper, "realized": real,
                         "error": est.value - real, "relative_error": (est.value - real) / real if real else np.nan,
                         "within": bool(est.lower <= real <= est.upper), "reliable": r.reliable})
    return pd.DataFrame(rows, columns=["window", "start", "metric", "n_labelled", "estimated", "lower", "upper",
                                       "realized", "error", "relative_error", "within", "reliable"])
