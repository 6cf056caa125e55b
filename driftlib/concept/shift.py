"""Did P(y | x) change, or only P(x)? Two tests of "the labelling rule is the same", and a cheap check
of whether the inputs moved.

Calibration test (`CalibrationShiftTest`). H0: P(y | model output) is the same as in the reference.
A likelihood-ratio test of period terms added to a spline calibration curve fitted on pooled rows.
It is the assumption the label-free estimate rests on, so "no concept drift" means the estimate holds.
With a model that is wrong in regions the reference rarely visited, a move into them shows up here:
the model's probabilities stopped meaning what they meant, which is concept drift *for this model*.

Feature test (`ConceptShiftTest`). H0: P(y | x) is the same. Under H0 the period a row comes from
carries no information about its label once the features are known, so a model allowed to see the
period cannot predict labels better than the same model without it. Both are fitted on the reference
plus part of the window (the reference subsampled to a few times the window's labelled rows) and
compared on the window rows they did not see (2-fold cross-fitting); the per-row held-out loss
differences give a one-sided z-test. Both are refitted on pooled rows, so a mere covariate shift
helps neither more than the other; the monitored model is not used, so a reference the model was
trained on cannot fake a drift. Where the window's inputs lie outside the reference's, P(y|x) there
was never observed and this test cannot see a change: the calibration test covers that case.

Data drift check (`CovariateShiftCheck`, used when notebook 02's verdict is not passed in):
per-feature two-sample tests (Kolmogorov-Smirnov for numeric, chi-square for categorical) with a
Bonferroni correction; the window has drifted when the share of drifted features reaches
`drift.drift_share`, as in notebook 02.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import SplineTransformer
from threadpoolctl import threadpool_limits

from driftlib.concept.estimate import logit
from driftlib.core.names import Names

PERIOD = "__period__"
MAX_CATEGORIES = 250  # HistGradientBoosting's limit is 255 bins per categorical feature


def _loss(task: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    if task == "regression":
        return (y - pred) ** 2
    q = np.clip(pred, 1e-6, 1 - 1e-6)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


class HGBLearner:
    """Gradient boosting with early stopping: flexible enough to model P(y|x) on the pooled rows."""

    def __init__(self, task: str, random_state: int = 0):
        self.task = task
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "HGBLearner":
        cls = HistGradientBoostingRegressor if self.task == "regression" else HistGradientBoostingClassifier
        self.model_ = cls(max_iter=200, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=20,
                          l2_regularization=1.0, early_stopping=True, validation_fraction=0.15,
                          n_iter_no_change=10, categorical_features="from_dtype",
                          random_state=self.random_state).fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            return self.model_.predict(X)
        return self.model_.predict_proba(X)[:, 1]


class LinearLearner:
    """Logistic (or ridge) regression on standardized numbers and one-hot categories (top 20 levels);
    the period enters with its interactions with every feature."""

    MAX_LEVELS = 20

    def __init__(self, task: str, random_state: int = 0):
        self.task = task
        self.random_state = random_state

    def _fit_encoder(self, X: pd.DataFrame) -> None:
        self.cat_ = {c: list(X[c].value_counts().index[:self.MAX_LEVELS])
                     for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}
        self.num_ = [c for c in X.columns if c not in self.cat_]
        num = X[self.num_].to_numpy(float)
        with np.errstate(all="ignore"):
            med = np.nanmedian(num, axis=0) if len(num) else np.zeros(len(self.num_))
        self.median_ = np.nan_to_num(med)
        filled = np.where(np.isnan(num), self.median_, num)
        self.mean_, std = filled.mean(axis=0), filled.std(axis=0)
        self.std_ = np.where(std > 0, std, 1.0)

    def _design(self, X: pd.DataFrame, fit: bool) -> np.ndarray:
        period = X[PERIOD].to_numpy(float)[:, None] if PERIOD in X.columns else None
        X = X.drop(columns=[PERIOD], errors="ignore")
        if fit:
            self._fit_encoder(X)
        num = X[self.num_].to_numpy(float)
        parts = [(np.where(np.isnan(num), self.median_, num) - self.mean_) / self.std_]
        for col, levels in self.cat_.items():
            values = X[col].astype(object).to_numpy()
            parts.append(np.column_stack([values == level for level in levels]).astype(float)
                         if levels else np.zeros((len(X), 0)))
        Z = np.hstack(parts)
        return Z if period is None else np.hstack([Z, period, period * Z])

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "LinearLearner":
        Z = self._design(X, fit=True)
        model = Ridge(alpha=1.0) if self.task == "regression" else LogisticRegression(C=1.0, max_iter=2000)
        self.model_ = model.fit(Z, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        Z = self._design(X, fit=False)
        if self.task == "regression":
            return self.model_.predict(Z)
        return self.model_.predict_proba(Z)[:, 1]


LEARNERS: Names[type] = Names("concept.learner", {"hgb": HGBLearner, "linear": LinearLearner}, kind="learner")


def make_learner(name: str, task: str, random_state: int):
    return LEARNERS.get(name)(task, random_state)


def screen_features(reference: pd.DataFrame, y, numeric: list[str], categorical: list[str], task: str,
                    max_features: int) -> tuple[list[str], list[str]]:
    """The `max_features` features most associated with the target on the reference (univariate
    p-values: ANOVA F / F-regression for numbers, chi-square / one-way ANOVA for categories), in their
    original order; all of them when there are no more. A model of P(y|x) on 1,500 columns fitted per
    timeline window costs minutes and gains little over the features that carry the signal."""
    if len(numeric) + len(categorical) <= max_features:
        return list(numeric), list(categorical)
    from sklearn.feature_selection import f_classif, f_regression

    y = np.asarray(y, dtype=float)
    p = {}
    if numeric:
        X = np.nan_to_num(pd.DataFrame({c: pd.to_numeric(reference[c], errors="coerce") for c in numeric})
                          .to_numpy(float), nan=0.0)
        with np.errstate(all="ignore"):
            p.update(zip(numeric, (f_regression if task == "regression" else f_classif)(X, y)[1]))
    for col in categorical:
        groups = reference[col].astype("string").fillna("<NA>").to_numpy()
        if task == "regression":
            parts = [y[groups == g] for g in np.unique(groups)]
            p[col] = float(stats.f_oneway(*parts).pvalue) if len(parts) > 1 else 1.0
        else:
            table = pd.crosstab(groups, y).to_numpy(float)
            p[col] = float(stats.chi2_contingency(table).pvalue) if min(table.shape) > 1 else 1.0
    position = {c: i for i, c in enumerate([*numeric, *categorical])}
    order = sorted(p, key=lambda c: (np.nan_to_num(p[c], nan=1.0), position[c]))
    keep = set(order[:max_features])
    return [c for c in numeric if c in keep], [c for c in categorical if c in keep]


def feature_frame(frames: list[pd.DataFrame], numeric: list[str], categorical: list[str]) -> list[pd.DataFrame]:
    """Same dtypes and categories in every frame: floats, and categoricals capped at 250 levels."""
    out = [f[[*numeric, *categorical]].copy() for f in frames]
    for col in numeric:
        for f in out:
            f[col] = pd.to_numeric(f[col], errors="coerce").astype(float)
    for col in categorical:
        counts = pd.concat([f[col].astype("string") for f in out]).value_counts()
        dtype = pd.CategoricalDtype(list(counts.index[:MAX_CATEGORIES]))
        for f in out:
            f[col] = f[col].astype("string").astype(object).astype(dtype)
    return out


@dataclass
class ShiftTestResult:
    """One-sided test of 'knowing the period lowers held-out loss'; `drift` when p < alpha, None
    (with `reason`) when the labels hold too few of a class for the learners to be fitted."""

    statistic: float
    p_value: float
    drift: bool | None
    n: int
    n_reference: int
    loss_without_period: float
    loss_with_period: float
    relative_gain: float
    learner: str
    test: str = "features"
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


MIN_PER_CLASS = 5  # fewer labels of a class than this in a fold's training rows: P(y|x) cannot be learned


class ConceptShiftTest:
    """`ConceptShiftTest(...).fit(X_ref, y_ref).score(X_win, y_win)` -> ShiftTestResult."""

    def __init__(self, task: str = "classification", learner: str = "hgb", alpha: float = 0.01,
                 n_folds: int = 2, reference_ratio: float = 2.0, random_state: int = 0):
        self.task = task
        self.learner = learner
        self.alpha = alpha
        self.n_folds = n_folds
        self.reference_ratio = reference_ratio
        self.random_state = random_state
        make_learner(learner, task, random_state)

    def fit(self, X: pd.DataFrame, y) -> "ConceptShiftTest":
        self.X_ref_ = X.reset_index(drop=True)
        self.y_ref_ = np.asarray(y, dtype=float)
        return self

    def score(self, X: pd.DataFrame, y) -> ShiftTestResult:
        rng = np.random.default_rng(self.random_state)
        X, y = X.reset_index(drop=True), np.asarray(y, dtype=float)
        n_ref = min(len(self.X_ref_), int(np.ceil(self.reference_ratio * len(X))))
        ref_idx = rng.choice(len(self.X_ref_), size=n_ref, replace=False)
        X_ref, y_ref = self.X_ref_.iloc[ref_idx], self.y_ref_[ref_idx]
        folds = rng.permutation(len(X)) % self.n_folds
        reason = self._too_few(y, y_ref, folds)
        if reason:
            nan = float("nan")
            return ShiftTestResult(statistic=nan, p_value=nan, drift=None, n=len(X), n_reference=n_ref,
                                   loss_without_period=nan, loss_with_period=nan, relative_gain=nan,
                                   learner=self.learner, reason=reason)
        with threadpool_limits(1):  # many small fits: on a shared machine threads cost more than they give
            l0, l1 = self._cross_fit(X, y, X_ref, y_ref, folds)
        z, p = _one_sided_z(l0 - l1)
        return ShiftTestResult(statistic=z, p_value=p, drift=bool(p < self.alpha), n=len(X), n_reference=n_ref,
                               loss_without_period=float(l0.mean()), loss_with_period=float(l1.mean()),
                               relative_gain=float((l0.mean() - l1.mean()) / l0.mean()) if l0.mean() > 0 else 0.0,
                               learner=self.learner)

    def _too_few(self, y: np.ndarray, y_ref: np.ndarray, folds: np.ndarray) -> str | None:
        """Why a fold's training rows (reference sample + the other folds) hold too few of a class."""
        if self.task == "regression":
            return None
        for k in range(self.n_folds):
            yt = np.r_[y_ref, y[folds != k]]
            positives = int((yt == 1).sum())
            fewest = min(positives, len(yt) - positives)
            if fewest < MIN_PER_CLASS:
                kind = "positive" if positives == fewest else "negative"
                return (f"too few {kind} labels to learn P(y|x): {int((y_ref == (kind == 'positive')).sum())} "
                        f"in the reference sample and {int((y == (kind == 'positive')).sum())} in the window, "
                        f"fewer than {MIN_PER_CLASS} in the rows each fold learns from")
        return None

    def _cross_fit(self, X, y, X_ref, y_ref, folds) -> tuple[np.ndarray, np.ndarray]:
        """Held-out losses of the window rows, without and with the period flag."""
        n_ref = len(X_ref)
        base, with_p = [], []
        for k in range(self.n_folds):
            train, test = folds != k, folds == k
            Xt = pd.concat([X_ref, X[train]], ignore_index=True)
            yt = np.r_[y_ref, y[train]]
            period = np.r_[np.zeros(n_ref), np.ones(int(train.sum()))]
            m0 = make_learner(self.learner, self.task, self.random_state).fit(Xt, yt)
            m1 = make_learner(self.learner, self.task, self.random_state).fit(Xt.assign(**{PERIOD: period}), yt)
            base.append(_loss(self.task, y[test], m0.predict(X[test])))
            with_p.append(_loss(self.task, y[test], m1.predict(X[test].assign(**{PERIOD: 1.0}))))
        return np.concatenate(base), np.concatenate(with_p)


def _one_sided_z(d: np.ndarray) -> tuple[float, float]:
    sd = d.std(ddof=1) if len(d) > 1 else 0.0
    if sd == 0:
        return 0.0, 1.0
    z = float(d.mean() / (sd / np.sqrt(len(d))))
    return z, float(stats.norm.sf(z))


@dataclass
class CalibrationTestResult:
    """Likelihood-ratio (F for regression) test of period terms in the calibration curve."""

    statistic: float
    df: int
    p_value: float
    drift: bool | None
    n: int
    n_reference: int
    test: str = "calibration"
    reason: str | None = None  # why `drift` is None: too few labels of a class

    def to_dict(self) -> dict:
        return asdict(self)


class CalibrationShiftTest:
    """H0: P(y | model output) is the same in the window as in the reference.

    The labels are regressed on a cubic spline of the model's output (logit of the probability, or
    the regression prediction) on the pooled rows, with and without a period intercept and
    period-by-spline terms; the likelihood-ratio statistic is chi-square with their count as degrees
    of freedom (an F-test for regression). This is the assumption confidence-based estimation rests
    on: when it holds, the reference calibration still turns probabilities into expected accuracy.
    """

    def __init__(self, task: str = "classification", alpha: float = 0.01, n_knots: int = 5):
        self.task = task
        self.alpha = alpha
        self.n_knots = n_knots

    def _x(self, score) -> np.ndarray:
        return logit(score) if self.task == "classification" else np.asarray(score, dtype=float)[:, None]

    def fit(self, score, y) -> "CalibrationShiftTest":
        self.s_ref_, self.y_ref_ = self._x(score), np.asarray(y, dtype=float)
        self.spline_ = SplineTransformer(n_knots=self.n_knots, degree=3, knots="quantile",
                                         extrapolation="linear", include_bias=False).fit(self.s_ref_)
        return self

    def score(self, score, y) -> CalibrationTestResult:
        y = np.r_[self.y_ref_, np.asarray(y, dtype=float)]
        B = self.spline_.transform(np.r_[self.s_ref_, self._x(score)])
        d = np.r_[np.zeros(len(self.s_ref_)), np.ones(len(y) - len(self.s_ref_))][:, None]
        X0, X1 = B, np.hstack([B, d, d * B])
        df = X1.shape[1] - X0.shape[1]
        n_ref = len(self.s_ref_)
        positives = int((y == 1).sum()) if self.task == "classification" else MIN_PER_CLASS
        if min(positives, len(y) - positives) < MIN_PER_CLASS:
            kind = "positive" if positives < len(y) - positives else "negative"
            return CalibrationTestResult(
                statistic=float("nan"), df=df, p_value=float("nan"), drift=None, n=len(y) - n_ref,
                n_reference=n_ref, reason=f"too few {kind} labels to compare calibration: "
                f"{min(positives, len(y) - positives)} in the reference and window together, fewer than {MIN_PER_CLASS}")
        stat, p = (_lr_logistic if self.task == "classification" else _f_ols)(X0, X1, y, df)
        return CalibrationTestResult(statistic=stat, df=df, p_value=p, drift=bool(p < self.alpha),
                                     n=len(y) - n_ref, n_reference=n_ref)


def _lr_logistic(X0, X1, y, df) -> tuple[float, float]:
    def loglik(X):
        q = LogisticRegression(C=1e6, max_iter=5000).fit(X, y).predict_proba(X)[:, 1]
        q = np.clip(q, 1e-12, 1 - 1e-12)
        return float(np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)))

    with threadpool_limits(1):
        stat = max(0.0, 2 * (loglik(X1) - loglik(X0)))
    return stat, float(stats.chi2.sf(stat, df))


def _f_ols(X0, X1, y, df) -> tuple[float, float]:
    def rss(X):
        X = np.hstack([np.ones((len(X), 1)), X])
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
        return float(np.sum((y - X @ beta) ** 2)), X.shape[1]

    (r0, _), (r1, p1) = rss(X0), rss(X1)
    dof = len(y) - p1
    if r1 <= 0 or dof <= 0:
        return 0.0, 1.0
    f = max(0.0, ((r0 - r1) / df) / (r1 / dof))
    return f, float(stats.f.sf(f, df, dof))


@dataclass
class CovariateResult:
    share_drifted: float
    drifted: bool
    columns: list = field(default_factory=list)
    source: str = "concept.covariate_check"

    def to_dict(self) -> dict:
        return asdict(self)


class CovariateShiftCheck:
    """`CovariateShiftCheck(num, cat).fit(ref).score(window)`: cheap, Bonferroni-corrected tests."""

    def __init__(self, numeric: list[str], categorical: list[str], alpha: float = 0.01, drift_share: float = 0.5):
        self.numeric = numeric
        self.categorical = categorical
        self.alpha = alpha
        self.drift_share = drift_share

    def fit(self, reference: pd.DataFrame) -> "CovariateShiftCheck":
        """Prepare the reference side once (sorted values, category counts): the analyzer scores every
        timeline window against it, so a wide table must not redo per-column work per window."""
        values = _numeric_matrix(reference, self.numeric)
        self.ref_sorted_ = [np.sort(v[~np.isnan(v)]) for v in values.T]
        self.ref_counts_ = {c: _counts(reference[c]) for c in self.categorical}
        return self

    def score(self, window: pd.DataFrame) -> CovariateResult:
        level = self.alpha / max(1, len(self.numeric) + len(self.categorical))
        p_values = ks_asymp_pvalues(self.ref_sorted_, _numeric_matrix(window, self.numeric))
        cols = [{"column": col, "test": "ks", "p_value": float(p), "drifted": bool(p < level)}
                for col, p in zip(self.numeric, p_values)]
        for col in self.categorical:
            p = _chi2_p(self.ref_counts_[col], _counts(window[col]))
            cols.append({"column": col, "test": "chi2", "p_value": p, "drifted": p < level})
        share = float(np.mean([c["drifted"] for c in cols])) if cols else 0.0
        return CovariateResult(share_drifted=share, drifted=bool(cols) and share >= self.drift_share, columns=cols)


def _numeric_matrix(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """rows x columns as floats, text that is not a number as NaN (one conversion, not one per column)."""
    if not columns:
        return np.empty((len(df), 0))
    try:
        return df[columns].to_numpy(dtype=float)
    except (ValueError, TypeError):
        return np.column_stack([pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) for c in columns])


def ks_asymp_pvalues(ref_sorted: list[np.ndarray], current: np.ndarray) -> np.ndarray:
    """Two-sided two-sample KS p-values, column by column: `scipy.stats.ks_2samp(a, b, method="asymp")`
    (the same statistic and Smirnov's `kstwo` tail, tested equal) with the reference sorted once and one
    vectorised tail call; NaNs are left out, an empty side gives p = 1."""
    d = np.zeros(len(ref_sorted))
    en = np.ones(len(ref_sorted))
    empty = np.zeros(len(ref_sorted), dtype=bool)
    for j, a in enumerate(ref_sorted):
        col = current[:, j]
        b = np.sort(col[~np.isnan(col)])
        if not len(a) or not len(b):
            empty[j] = True
            continue
        both = np.concatenate([a, b])
        diff = np.searchsorted(a, both, side="right") / len(a) - np.searchsorted(b, both, side="right") / len(b)
        d[j] = np.max(np.abs(diff))
        en[j] = np.round(len(a) * len(b) / (len(a) + len(b)))
    p = np.clip(stats.kstwo.sf(d, en), 0, 1) if len(d) else d
    return np.where(empty, 1.0, p)


def _counts(s: pd.Series) -> pd.Series:
    return s.astype("string").fillna("<NA>").value_counts()


def _chi2_p(a: pd.Series, b: pd.Series) -> float:
    """Chi-square test of two categories' count tables (from `_counts`)."""
    table = pd.concat([a.rename("a"), b.rename("b")], axis=1).fillna(0)
    if len(table) < 2 or table.sum().min() == 0:
        return 1.0
    return float(stats.chi2_contingency(table.to_numpy(dtype=float).T).pvalue)
