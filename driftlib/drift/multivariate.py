"""Multivariate drift: changes in how features move together, which no per-column test can see.

    dc = DomainClassifierDetector(numeric=["x1", "x2"], categorical=["c"]).fit(reference)
    res = dc.score(window)          # AUC of telling window rows from reference rows, p-value, top features
    pca = ReconstructionDriftDetector(numeric=["x1", "x2"], categorical=["c"]).fit(reference)
    res = pca.score(window)         # PCA reconstruction error against the reference chunks' band
    both = multivariate_drift(reference, window)                      # one call, both detectors
    win = dc.score_windows(log, timestamp="ts", window="1D", min_rows=200)

Domain classifier: a HistGradientBoostingClassifier learns reference (0) vs window (1) rows; its
out-of-fold scores give the AUC (0.5 = indistinguishable). Within one held-out fold the test is exact:
under no drift (rows exchangeable) the fold's labels are a random arrangement whatever the model learnt
elsewhere, so its one-sided Mann-Whitney p-value is uniform. The folds share training rows, hence the
p-values are dependent; twice their median is a valid p-value under any dependence (Rüschendorf 1982),
which keeps the false-alarm rate at most `alpha`. (Testing the pooled out-of-fold scores is not valid:
it alarmed in 11% of 100 no-change seeds at alpha = 0.05.) `null="permutation"` refits on shuffled
labels instead. The features that separate the two are ranked by permutation importance on the held-out
folds.

Reconstruction (NannyML's data reconstruction drift): impute and standardize on the reference, keep the
PCA components explaining `variance` of it, and measure the mean distance of a window's rows to their
reconstruction. The band is mean ± `n_sigma` std of the reference's own chunk errors, chunks as large as
the window; reference errors are computed out of fold so they are as "unseen" as a window's.
"""
from __future__ import annotations

import html
import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from driftlib.core.errors import ConfigError, InputError, NotFittedError
from driftlib.core.jsonio import to_jsonable
from driftlib.core.names import Names
from driftlib.data.encoding import TabularEncoder, resolve_features
from driftlib.data.features import BOOKKEEPING
from driftlib.drift.detector import INSUFFICIENT, OK, split_windows

DOMAIN_CLASSIFIER, RECONSTRUCTION = "domain_classifier", "reconstruction"


# -- results ------------------------------------------------------------------------------------
@dataclass
class MultivariateDriftResult:
    """One detector's verdict on one window. `score` is the AUC (domain classifier) or the mean
    reconstruction error; `lower`/`upper` its interval; `threshold_*` the no-drift band."""

    detector: str
    status: str
    score: float = float("nan")
    lower: float | None = None
    upper: float | None = None
    threshold_lower: float | None = None
    threshold_upper: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    drifted: bool | None = None
    n_reference: int = 0
    n_current: int = 0
    features: list[dict] = field(default_factory=list)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    details: dict = field(default_factory=dict)

    @property
    def headline(self) -> str:
        name = "Domain classifier" if self.detector == DOMAIN_CLASSIFIER else "PCA reconstruction"
        if self.status != OK:
            return f"{name}: not enough data ({self.n_current} rows)."
        if self.detector == DOMAIN_CLASSIFIER:
            what = f"AUC {self.score:.3f} (p={self.p_value:.2g}, alpha={self.alpha:g})"
        else:
            what = (f"error {self.score:.3f} outside [{self.threshold_lower:.3f}, {self.threshold_upper:.3f}]"
                    if self.drifted else
                    f"error {self.score:.3f} within [{self.threshold_lower:.3f}, {self.threshold_upper:.3f}]")
        top = ", ".join(f["feature"] for f in self.features[:3])
        verdict = "multivariate drift" if self.drifted else "no multivariate drift"
        return f"{name}: {verdict}, {what}" + (f"; separated by {top}" if top and self.drifted else "") + "."

    def to_dict(self) -> dict[str, Any]:
        keys = ["detector", "status", "score", "lower", "upper", "threshold_lower", "threshold_upper",
                "p_value", "alpha", "drifted", "n_reference", "n_current", "features", "start", "end"]
        return {**{k: to_jsonable(getattr(self, k)) for k in keys}, **to_jsonable(self.details),
                "headline": self.headline}

    def _repr_html_(self) -> str:
        out = f"<p><b>{html.escape(self.headline)}</b></p>"
        if self.features:
            out += pd.DataFrame(self.features).to_html(index=False, float_format=lambda x: f"{x:.4g}")
        return out


@dataclass
class MultivariateWindows:
    """One detector over consecutive windows (the same windows as `DriftDetector.score_windows`)."""

    results: list[MultivariateDriftResult]
    window: str
    min_rows: int

    @cached_property
    def table(self) -> pd.DataFrame:
        cols = ["start", "end", "status", "n_current", "score", "lower", "upper", "threshold_lower",
                "threshold_upper", "p_value", "drifted"]
        rows = [{"window": i, **{c: getattr(r, c) for c in cols},
                 "top_features": [f["feature"] for f in r.features[:3]]} for i, r in enumerate(self.results)]
        return pd.DataFrame(rows, columns=["window", *cols, "top_features"])

    @property
    def detector(self) -> str:
        return self.results[0].detector if self.results else ""

    def first_drift(self):
        hit = [r for r in self.results if r.drifted]
        return (hit[0].start if hit[0].start is not None else self.results.index(hit[0])) if hit else None

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "window": self.window, "min_rows": self.min_rows,
                "n_windows": len(self.results),
                "n_drifted_windows": sum(bool(r.drifted) for r in self.results),
                "first_drift": to_jsonable(self.first_drift()),
                "windows": [r.to_dict() for r in self.results]}

    def _repr_html_(self) -> str:
        t = self.table.drop(columns=["window"])
        return (f"<p><b>{html.escape(self.detector)}: {len(t)} windows of {html.escape(self.window)}</b>, "
                f"{int(t['drifted'].eq(True).sum())} drifted</p>"
                + t.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-"))


# -- shared plumbing ----------------------------------------------------------------------------
class _Base:
    name = ""

    def _fit_features(self, reference: pd.DataFrame) -> np.ndarray:
        if not isinstance(reference, pd.DataFrame) or reference.empty:
            raise InputError("reference: expected a non-empty DataFrame")
        numeric, categorical = resolve_features(reference, self.numeric, self.categorical,
                                                exclude=[*self.exclude, *BOOKKEEPING])
        self.numeric_, self.categorical_ = numeric, categorical
        self.encoder_ = TabularEncoder(numeric, categorical, mode=self._mode).fit(reference)
        self.n_reference_ = len(reference)
        return self.encoder_.transform(reference, where="reference")

    def _encode(self, current) -> np.ndarray:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(f"{type(self).__name__}: call fit(reference) before scoring")
        if not isinstance(current, pd.DataFrame):
            raise InputError("current: expected a DataFrame")
        return self.encoder_.transform(current)

    def score(self, current: pd.DataFrame) -> MultivariateDriftResult:
        """Drift of `current` (all its rows) against the reference."""
        return self._score_matrix(self._encode(current), self.min_rows)

    def score_windows(self, df: pd.DataFrame, timestamp: str | None = None, window: str | int = "1D",
                      min_rows: int | None = None, start=None, end=None) -> MultivariateWindows:
        """Score each time (pandas offset) or row-count window of `df`, as `DriftDetector` splits them."""
        X = self._encode(df)
        min_rows = self.min_rows if min_rows is None else int(min_rows)
        order, bounds, spans = split_windows(df, timestamp, window, start, end)
        if order is not None:
            X = X[order]
        results = []
        for (lo, hi), (s, e) in zip(zip(bounds[:-1], bounds[1:]), spans):
            r = self._score_matrix(X[int(lo):int(hi)], min_rows)
            r.start, r.end = s, e
            results.append(r)
        return MultivariateWindows(results, str(window), min_rows)


def _auc_interval(auc: float, n0: int, n1: int, confidence: float) -> tuple[float, float]:
    """Hanley & McNeil (1982) normal interval of an AUC from n0 negatives and n1 positives."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n0 * n1)
    half = stats.norm.isf((1 - confidence) / 2) * np.sqrt(max(var, 0.0))
    return float(max(0.0, auc - half)), float(min(1.0, auc + half))


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha: must be in (0, 1), got {alpha}")
    return float(alpha)


# -- domain classifier --------------------------------------------------------------------------
class DomainClassifierDetector(_Base):
    """Can a classifier tell window rows from reference rows? Cross-validated AUC with a null at `alpha`.

    The reference is subsampled to `reference_ratio` rows per window row and the window to `max_rows`,
    which bounds the cost per window; `n_threads=None` lets the classifier use every core; `explain` ("drifted", "always", "never") says when to compute the
    permutation importance of the features.
    """

    name = DOMAIN_CLASSIFIER
    _mode = "ordinal"

    def __init__(self, numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                 alpha: float = 0.05, null: str = "mannwhitney", n_splits: int = 5,
                 reference_ratio: float = 1.0, max_rows: int = 5000, min_rows: int = 100,
                 max_iter: int = 100, learning_rate: float = 0.1, explain: str = "drifted",
                 n_repeats: int = 3, top_features: int = 10, n_permutations: int = 100,
                 confidence: float = 0.95, exclude: Iterable[str] = (),
                 n_threads: int | None = 1, random_state: int = 0):
        self.numeric = numeric
        self.categorical = categorical
        self.alpha = alpha
        self.null = null
        self.n_splits = n_splits
        self.reference_ratio = reference_ratio
        self.max_rows = max_rows
        self.min_rows = min_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.explain = explain
        self.n_repeats = n_repeats
        self.top_features = top_features
        self.n_permutations = n_permutations
        self.confidence = confidence
        self.exclude = exclude
        self.n_threads = n_threads
        self.random_state = random_state

    @classmethod
    def from_params(cls, params, numeric=None, categorical=None, **kwargs) -> "DomainClassifierDetector":
        """Features, alpha (concept.alpha) and min_rows (drift.min_rows) from a params object."""
        if numeric is None and categorical is None:
            numeric, categorical = params.features.numeric, params.features.categorical
        kwargs.setdefault("alpha", params.concept.alpha)
        kwargs.setdefault("min_rows", params.drift.min_rows)
        return cls(numeric=numeric, categorical=categorical, **kwargs)

    def fit(self, reference: pd.DataFrame) -> "DomainClassifierDetector":
        _check_alpha(self.alpha)
        if self.null not in ("mannwhitney", "permutation"):
            raise ConfigError(f"null: must be 'mannwhitney' or 'permutation', got {self.null!r}")
        if self.explain not in ("drifted", "always", "never"):
            raise ConfigError(f"explain: must be 'drifted', 'always' or 'never', got {self.explain!r}")
        if int(self.n_splits) < 2:
            raise ConfigError(f"n_splits: must be >= 2, got {self.n_splits}")
        self.reference_matrix_ = self._fit_features(reference)
        return self

    def _classifier(self, seed: int) -> HistGradientBoostingClassifier:
        mask = self.encoder_.categorical_mask
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, early_stopping=False,
            categorical_features=mask if mask.any() else None, random_state=seed)

    def _cross_fit(self, X, y, seed: int, keep: bool = False):
        """Out-of-fold scores, each fold's one-sided Mann-Whitney p-value, (and the fold models with their
        test indices when `keep`)."""
        oof = np.empty(len(y))
        folds, p_folds = [], []
        cv = StratifiedKFold(n_splits=int(self.n_splits), shuffle=True, random_state=seed)
        for train, test in cv.split(X, y):
            model = self._classifier(seed).fit(X[train], y[train])
            oof[test] = s = model.predict_proba(X[test])[:, 1]
            p_folds.append(stats.mannwhitneyu(s[y[test] == 1], s[y[test] == 0], alternative="greater").pvalue)
            if keep:
                folds.append((model, test))
        return oof, np.asarray(p_folds), folds

    def _score_matrix(self, Xc: np.ndarray, min_rows: int) -> MultivariateDriftResult:
        # One OpenMP thread by default: windows are small, and spinning threads on a shared machine
        # made each fit several times slower (measured 5x on 2 busy cores).
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self._score_rows(Xc, min_rows)

    def _score_rows(self, Xc: np.ndarray, min_rows: int) -> MultivariateDriftResult:
        rng = np.random.default_rng(self.random_state)
        Xr = self.reference_matrix_
        if len(Xc) < max(min_rows, self.n_splits):
            return MultivariateDriftResult(self.name, INSUFFICIENT, n_reference=len(Xr), n_current=len(Xc),
                                           alpha=self.alpha)
        if len(Xc) > self.max_rows:
            Xc = Xc[rng.choice(len(Xc), self.max_rows, replace=False)]
        n_ref = int(min(len(Xr), max(self.n_splits, round(len(Xc) * self.reference_ratio))))
        Xr = Xr[rng.choice(len(Xr), n_ref, replace=False)] if n_ref < len(Xr) else Xr
        X = np.vstack([Xr, Xc])
        y = np.r_[np.zeros(len(Xr)), np.ones(len(Xc))]
        seed = int(rng.integers(2**31 - 1))
        oof, p_folds, folds = self._cross_fit(X, y, seed, keep=True)
        auc = float(roc_auc_score(y, oof))
        if self.null == "mannwhitney":
            p = float(min(1.0, 2 * np.median(p_folds)))
        else:
            perms = [roc_auc_score(yp, self._cross_fit(X, yp, seed)[0])
                     for yp in (rng.permutation(y) for _ in range(int(self.n_permutations)))]
            p = float((1 + np.sum(np.asarray(perms) >= auc)) / (1 + len(perms)))
        n1, n0 = len(Xc), len(Xr)
        lo, hi = _auc_interval(auc, n0, n1, self.confidence)
        k = int(self.n_splits)  # approximate AUC at which a fold's test reaches alpha/2 (for plots)
        critical = 0.5 + stats.norm.isf(self.alpha / 2) * np.sqrt((n0 + n1 + k) / (12 * n0 * n1 / k))
        drifted = p <= self.alpha
        features = self._importance(X, y, folds, seed) if (
            self.explain == "always" or (self.explain == "drifted" and drifted)) else []
        return MultivariateDriftResult(self.name, OK, auc, lo, hi, None, float(critical), p, self.alpha,
                                       bool(drifted), n0, n1, features,
                                       details={"null": self.null, "n_splits": int(self.n_splits)})

    def _importance(self, X, y, folds, seed: int) -> list[dict]:
        """Mean drop of held-out AUC when a feature is shuffled, over the folds: what separates them."""
        names = self.encoder_.columns
        total = np.zeros(len(names))
        for model, test in folds:
            if len(np.unique(y[test])) < 2:
                continue
            imp = permutation_importance(model, X[test], y[test], scoring="roc_auc",
                                         n_repeats=self.n_repeats, random_state=seed)
            total += imp.importances_mean
        total /= max(len(folds), 1)
        order = np.argsort(-total, kind="stable")
        return [{"feature": names[i], "importance": float(total[i])} for i in order[: self.top_features]
                if total[i] > 0]

    def __repr__(self) -> str:
        return f"DomainClassifierDetector(alpha={self.alpha}, null={self.null!r}, n_splits={self.n_splits})"


# -- PCA reconstruction -------------------------------------------------------------------------
class ReconstructionDriftDetector(_Base):
    """NannyML-style data reconstruction drift: PCA fitted on the reference, band from its chunks.

    `chunk_size=None` sizes the reference chunks like each scored window. With at least `min_chunks`
    contiguous reference chunks of that size they set the band (time structure included); with fewer,
    `n_chunks` random chunks (rows drawn with replacement) do, so small references still get a band.
    """

    name = RECONSTRUCTION
    _mode = "frequency"

    def __init__(self, numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                 variance: float = 0.65, n_sigma: float = 3.0, chunk_size: int | None = None,
                 min_chunks: int = 10, n_chunks: int = 200, n_folds: int = 5, min_rows: int = 100,
                 exclude: Iterable[str] = (), random_state: int = 0):
        self.numeric = numeric
        self.categorical = categorical
        self.variance = variance
        self.n_sigma = n_sigma
        self.chunk_size = chunk_size
        self.min_chunks = min_chunks
        self.n_chunks = n_chunks
        self.n_folds = n_folds
        self.min_rows = min_rows
        self.exclude = exclude
        self.random_state = random_state

    @classmethod
    def from_params(cls, params, numeric=None, categorical=None, **kwargs) -> "ReconstructionDriftDetector":
        if numeric is None and categorical is None:
            numeric, categorical = params.features.numeric, params.features.categorical
        kwargs.setdefault("min_rows", params.drift.min_rows)
        return cls(numeric=numeric, categorical=categorical, **kwargs)

    def _pipeline(self, n_components=None):
        return make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                             PCA(n_components=n_components or self.variance, svd_solver="full"))

    @staticmethod
    def _residuals(pipe, X: np.ndarray) -> np.ndarray:
        """Standardized rows minus their PCA reconstruction, (n, features)."""
        imputer, scaler, pca = (step for _, step in pipe.steps)
        Z = scaler.transform(imputer.transform(X))
        return Z - pca.inverse_transform(pca.transform(Z))

    def fit(self, reference: pd.DataFrame) -> "ReconstructionDriftDetector":
        if not 0 < self.variance < 1:
            raise ConfigError(f"variance: must be in (0, 1), got {self.variance}")
        X = self._fit_features(reference)
        if len(X) < 2 * self.n_folds:
            raise InputError(f"reference: {len(X)} rows, need at least {2 * self.n_folds} for the PCA band")
        self.model_ = self._pipeline().fit(X)
        self.n_components_ = int(self.model_.steps[2][1].n_components_)
        # The fold models keep as many components as the full one: re-choosing per fold lets sampling
        # noise flip a near-tied component in or out, which swings the error level by more than the band.
        residuals = np.empty_like(X)
        for train, test in KFold(n_splits=int(self.n_folds)).split(X):  # unshuffled: chunks keep time order
            residuals[test] = self._residuals(self._pipeline(self.n_components_).fit(X[train]), X[test])
        self.reference_errors_ = np.linalg.norm(residuals, axis=1)
        self.reference_residual_ = (residuals**2).mean(axis=0)
        self._bands: dict[int, dict] = {}
        return self

    def band(self, size: int) -> dict:
        """{lower, upper, mean, std, n_chunks, chunking} of reference chunk errors for chunks of `size` rows."""
        size = int(self.chunk_size or size)
        if size not in self._bands:
            e = self.reference_errors_
            k = len(e) // size
            if k >= self.min_chunks:
                means, how = e[: k * size].reshape(k, size).mean(axis=1), "contiguous"
            else:
                rng = np.random.default_rng(self.random_state)
                draws = rng.integers(0, len(e), size=(self.n_chunks, size))  # with replacement: a window is
                means, how = e[draws].mean(axis=1), "random"                 # a new sample, not a subset
            m, s = float(means.mean()), float(means.std(ddof=1))
            self._bands[size] = {"lower": m - self.n_sigma * s, "upper": m + self.n_sigma * s, "mean": m,
                                 "std": s, "n_chunks": int(len(means)), "chunking": how, "chunk_size": size}
        return self._bands[size]

    def _score_matrix(self, Xc: np.ndarray, min_rows: int) -> MultivariateDriftResult:
        if len(Xc) < min_rows:
            return MultivariateDriftResult(self.name, INSUFFICIENT, n_reference=self.n_reference_,
                                           n_current=len(Xc))
        residuals = self._residuals(self.model_, Xc)
        err = np.linalg.norm(residuals, axis=1)
        b = self.band(len(Xc))
        score = float(err.mean())
        se = float(err.std(ddof=1) / np.sqrt(len(err)))
        drifted = not (b["lower"] <= score <= b["upper"])
        features = self._contributions(residuals) if drifted else []
        return MultivariateDriftResult(
            self.name, OK, score, score - 1.96 * se, score + 1.96 * se, b["lower"], b["upper"], None, None,
            bool(drifted), self.n_reference_, len(Xc), features,
            details={"reference_error": b["mean"], "n_components": self.n_components_,
                     "n_chunks": b["n_chunks"], "chunking": b["chunking"], "chunk_size": b["chunk_size"]})

    def _contributions(self, residuals: np.ndarray) -> list[dict]:
        """Features whose mean squared residual (std units) grew most over the reference's."""
        growth = (residuals**2).mean(axis=0) - self.reference_residual_
        order = np.argsort(-growth, kind="stable")
        names = self.encoder_.columns
        return [{"feature": names[i], "importance": float(growth[i])} for i in order[:10] if growth[i] > 0]

    def __repr__(self) -> str:
        return f"ReconstructionDriftDetector(variance={self.variance}, n_sigma={self.n_sigma})"


# -- one call ---------------------------------------------------------------------------------------
@dataclass
class MultivariateReport:
    """Both detectors on the same window(s); `multivariate_drift` when either flags."""

    results: dict[str, MultivariateDriftResult | MultivariateWindows]

    @property
    def drifted(self) -> bool | None:
        flags = [_latest(r).drifted for r in self.results.values()]
        return None if all(f is None for f in flags) else any(bool(f) for f in flags)

    @property
    def separating_features(self) -> list[str]:
        r = self.results.get(DOMAIN_CLASSIFIER) or next(iter(self.results.values()))
        return [f["feature"] for f in _latest(r).features]

    @property
    def headline(self) -> str:
        return " ".join(_latest(r).headline for r in self.results.values())

    def to_dict(self) -> dict[str, Any]:
        return {"multivariate_drift": self.drifted, "separating_features": self.separating_features,
                "detectors": {k: v.to_dict() for k, v in self.results.items()}, "headline": self.headline}

    def _repr_html_(self) -> str:
        return "".join(r._repr_html_() for r in self.results.values())


def _latest(r) -> MultivariateDriftResult:
    """The result itself, or the last window that could be scored (windows are in time order)."""
    if isinstance(r, MultivariateDriftResult):
        return r
    scored = [w for w in r.results if w.status == OK]
    return scored[-1] if scored else (r.results[-1] if r.results else MultivariateDriftResult(r.detector, INSUFFICIENT))


DETECTORS: Names[type] = Names("detectors", {DOMAIN_CLASSIFIER: DomainClassifierDetector,
                                             RECONSTRUCTION: ReconstructionDriftDetector}, kind="detector")


def multivariate_drift(reference: pd.DataFrame, current: pd.DataFrame, numeric: Iterable[str] | None = None,
                       categorical: Iterable[str] | None = None, *, timestamp: str | None = None,
                       window: str | int | None = None, detectors: Iterable[str] = tuple(DETECTORS),
                       params=None, **kwargs) -> MultivariateReport:
    """Fit each detector on `reference` and score `current`: whole (window=None) or per window.

    `params` supplies features, alpha and min_rows; `kwargs` go to every detector that takes them.
    """
    results = {}
    for name in detectors:
        cls = DETECTORS.get(name)
        accepted = set(inspect.signature(cls.__init__).parameters)
        kw = {k: v for k, v in kwargs.items() if k in accepted}
        det = (cls.from_params(params, numeric=numeric, categorical=categorical, **kw) if params is not None
               else cls(numeric=numeric, categorical=categorical, **kw)).fit(reference)
        results[name] = det.score(current) if window is None else det.score_windows(current, timestamp, window)
    return MultivariateReport(results)
