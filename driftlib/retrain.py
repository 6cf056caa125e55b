"""Training, training-window strategies and the champion/challenger gate.

The gate compares the current model (champion) with a freshly trained one (challenger) on the most
recent labelled data — a time-ordered holdout the challenger never saw, never a random split — and
promotes only a challenger that is better by a margin whose bootstrap interval excludes zero and
that is not worse on any monitored slice beyond the tolerance. Every challenger is registered with
its card, promoted or rejected, so the registry records what was tried and why.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss, f1_score,
                             log_loss, mean_absolute_error, r2_score, roc_auc_score,
                             root_mean_squared_error)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from driftlib.config import Params, RetrainConfig
from driftlib.errors import ConfigError, InputError
from driftlib.registry import Registry, utc_now

STEP = "model"  # name of the estimator step: fit(..., model__sample_weight=w)


# -- estimators ------------------------------------------------------------------------------------
def as_str(X):
    """Categoricals as strings with missing kept missing, so mixed int/str columns encode."""
    df = pd.DataFrame(X)
    return df.astype(str).astype(object).where(df.notna(), np.nan)


def _ordinal(categorical: list[str]) -> Pipeline:
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                         encoded_missing_value=np.nan, max_categories=250)
    return Pipeline([("str", FunctionTransformer(as_str, feature_names_out="one-to-one")),
                     ("encode", enc)])


def _hgb(numeric, categorical, params, task):
    prep = ColumnTransformer([("num", "passthrough", numeric), ("cat", _ordinal(categorical), categorical)],
                             verbose_feature_names_out=False)
    mask = [False] * len(numeric) + [True] * len(categorical)
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return prep, cls(categorical_features=mask if categorical else None, **params)


def _forest(numeric, categorical, params, task):
    cat = Pipeline([("ord", _ordinal(categorical)), ("fill", SimpleImputer(strategy="constant",
                                                                           fill_value=-1))])
    prep = ColumnTransformer([("num", SimpleImputer(strategy="median", keep_empty_features=True), numeric),
                              ("cat", cat, categorical)])
    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return prep, cls(**{"n_estimators": 200, "min_samples_leaf": 20, "n_jobs": 1, **params})


def _linear(numeric, categorical, params, task):
    num = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler())])
    cat = Pipeline([("str", FunctionTransformer(as_str, feature_names_out="one-to-one")),
                    ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                    ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5))])
    prep = ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)])
    if task == "classification":
        return prep, LogisticRegression(**{"max_iter": 1000, **params})
    return prep, Ridge(**params)


ESTIMATORS: dict[str, Callable] = {
    "hist_gradient_boosting": _hgb,
    "logistic_regression": _linear,
    "random_forest": _forest,
}


def build_estimator(name: str, numeric: list[str], categorical: list[str],
                    params: dict | None = None, task: str = "classification") -> Pipeline:
    """A Pipeline taking a DataFrame of the features: NaN tolerated, unseen categories tolerated."""
    if name not in ESTIMATORS:
        raise ConfigError(f"field 'model.estimator': unknown estimator '{name}' "
                          f"(choose from {', '.join(ESTIMATORS)})")
    if not numeric and not categorical:
        raise ConfigError("field 'features': no features to train on")
    try:
        prep, est = ESTIMATORS[name](list(numeric), list(categorical), dict(params or {}), task)
    except TypeError as err:
        raise ConfigError(f"field 'model.params': {err}") from None
    return Pipeline([("prep", prep), (STEP, est)])


# -- metrics ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    func: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    threshold: bool = False  # computed on 0/1 predictions rather than scores


def _binary(f):
    return lambda y, s: f(y, (s >= 0.5).astype(int))


METRICS: dict[str, Metric] = {
    "roc_auc": Metric(roc_auc_score),
    "average_precision": Metric(average_precision_score),
    "log_loss": Metric(lambda y, s: log_loss(y, s, labels=[0, 1]), higher_is_better=False),
    "brier": Metric(brier_score_loss, higher_is_better=False),
    "accuracy": Metric(_binary(accuracy_score), threshold=True),
    "f1": Metric(_binary(lambda y, p: f1_score(y, p, zero_division=0)), threshold=True),
    "rmse": Metric(root_mean_squared_error, higher_is_better=False),
    "mae": Metric(mean_absolute_error, higher_is_better=False),
    "r2": Metric(r2_score),
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(f"field 'retrain.metric': unknown metric '{name}' "
                          f"(choose from {', '.join(METRICS)})")
    return METRICS[name]


def metric_value(name: str, y, scores) -> float:
    """The metric, or NaN where it is undefined (e.g. AUC on a single class)."""
    y, s = np.asarray(y), np.asarray(scores, dtype=float)
    if len(y) == 0 or (name in ("roc_auc", "average_precision") and len(np.unique(y)) < 2):
        return float("nan")
    return float(get_metric(name).func(y, s))


def model_scores(model, X: pd.DataFrame, task: str = "classification") -> np.ndarray:
    """Positive-class probability for classifiers, predictions for regressors."""
    if task == "classification":
        if not hasattr(model, "predict_proba"):
            raise InputError("model has no predict_proba: a classifier with probabilities is needed")
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X), dtype=float)


# -- training windows ------------------------------------------------------------------------------
class AllData:
    """Every labelled row before the holdout, equally weighted."""

    def __init__(self, cfg: RetrainConfig):
        self.cfg = cfg

    def select(self, df: pd.DataFrame, ts: str, end: pd.Timestamp):
        return df[df[ts] < end], None


class SlidingWindow(AllData):
    """The last `window_days` before the holdout: forgets the old regime entirely."""

    def select(self, df, ts, end):
        start = end - timedelta(days=self.cfg.window_days)
        return df[(df[ts] >= start) & (df[ts] < end)], None


class RecencyWeighted(AllData):
    """All rows, weight halving every `half_life_days` of age: keeps volume, favours the present."""

    def select(self, df, ts, end):
        part = df[df[ts] < end]
        age_days = (end - part[ts]).dt.total_seconds().to_numpy() / 86400.0
        return part, np.power(0.5, age_days / self.cfg.half_life_days)


STRATEGIES: dict[str, type[AllData]] = {"all": AllData, "sliding": SlidingWindow,
                                        "weighted": RecencyWeighted}


def training_window(cfg: RetrainConfig, df: pd.DataFrame, ts: str, end: pd.Timestamp):
    """(rows, sample_weight or None) chosen by `retrain.strategy` from rows before `end`."""
    return STRATEGIES[cfg.strategy](cfg).select(df, ts, end)


def fit_model(params: Params, train: pd.DataFrame, sample_weight=None) -> Pipeline:
    from driftlib.data import feature_lists

    numeric, categorical = feature_lists(params, train)
    model = build_estimator(params.model.estimator, numeric, categorical, params.model.params,
                            params.task)
    X, y = train[[*numeric, *categorical]], train[params.columns.target]
    if params.task == "classification":
        y = y.astype(int)
        if y.nunique() < 2:
            raise InputError("training data has a single class: cannot train a classifier")
    fit_kw = {} if sample_weight is None else {f"{STEP}__sample_weight": np.asarray(sample_weight)}
    return model.fit(X, y, **fit_kw)


# -- comparison ------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Champion vs challenger on one holdout; `delta` > 0 means the challenger is better."""

    metric: str
    n: int
    champion: float
    challenger: float
    delta: float
    ci: tuple[float, float]
    confidence: float
    slices: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "ci": list(self.ci)}


def _improvement(name: str, champion: float, challenger: float) -> float:
    return challenger - champion if get_metric(name).higher_is_better else champion - challenger


def resample_counts(n: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """(n_bootstrap, n) how often each row is drawn in each resample with replacement."""
    idx = rng.integers(0, n, (n_bootstrap, n)) + (np.arange(n_bootstrap)[:, None] * n)
    return np.bincount(idx.ravel(), minlength=n_bootstrap * n).reshape(n_bootstrap, n)


def weighted_auc(y, scores, counts: np.ndarray) -> np.ndarray:
    """ROC AUC (Mann-Whitney, ties count half) of each row of integer row weights `counts`.

    Equal to roc_auc_score on the resampled rows, computed for all resamples at once: a
    thousand sklearn calls on a 10k-row holdout take ~15 s, this takes well under one.
    """
    from scipy.sparse import csr_matrix

    y, scores = np.asarray(y), np.asarray(scores, float)
    _, group = np.unique(scores, return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0
    out = []
    step = max(1, 4_000_000 // max(n_groups, 1))
    for lo in range(0, counts.shape[0], step):
        c = counts[lo:lo + step]
        per_group = []
        for cls in (1, 0):
            rows = np.flatnonzero(y == cls)
            onehot = csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), group[rows])),
                                shape=(len(rows), n_groups))
            per_group.append(np.asarray((onehot.T @ c[:, rows].T).T))
        pos, neg = per_group
        below = np.cumsum(neg, axis=1) - neg
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan))
    return np.concatenate(out) if out else np.array([])


def bootstrap_delta(metric: str, y, champion, challenger, *, n_bootstrap: int = 500,
                    confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the paired improvement: both models scored on the same resampled rows."""
    y, a, b = np.asarray(y), np.asarray(champion, float), np.asarray(challenger, float)
    rng = np.random.default_rng(seed)
    if metric == "roc_auc":
        counts = resample_counts(len(y), n_bootstrap, rng)
        deltas = weighted_auc(y, b, counts) - weighted_auc(y, a, counts)
    else:
        deltas = []
        for _ in range(n_bootstrap):
            idx = rng.integers(0, len(y), len(y))
            deltas.append(_improvement(metric, metric_value(metric, y[idx], a[idx]),
                                       metric_value(metric, y[idx], b[idx])))
    deltas = np.asarray(deltas, float)
    deltas = deltas[np.isfinite(deltas)]
    if not len(deltas):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(deltas, [alpha, 1 - alpha])
    return float(lo), float(hi)


def slice_table(metric: str, y, champion, challenger, slices: pd.DataFrame | None,
                min_rows: int) -> list[dict]:
    """Per-value comparison for each slice column, values with at least `min_rows` rows."""
    if slices is None or slices.empty:
        return []
    y, a, b = np.asarray(y), np.asarray(champion, float), np.asarray(challenger, float)
    rows = []
    for col in slices.columns:
        values = slices[col].astype(object).where(slices[col].notna(), "(missing)").astype(str)
        for value, count in values.value_counts().items():
            if count < min_rows:
                continue
            m = (values == value).to_numpy()
            ca, cb = metric_value(metric, y[m], a[m]), metric_value(metric, y[m], b[m])
            rows.append({"column": col, "value": value, "n": int(count), "champion": ca,
                         "challenger": cb, "delta": _improvement(metric, ca, cb)})
    return rows


def compare(metric: str, y, champion, challenger, *, slices: pd.DataFrame | None = None,
            n_bootstrap: int = 500, confidence: float = 0.95, min_slice_rows: int = 200,
            seed: int = 0) -> Comparison:
    """Score both models' outputs on the same labelled holdout."""
    get_metric(metric)
    ca, cb = metric_value(metric, y, champion), metric_value(metric, y, challenger)
    ci = bootstrap_delta(metric, y, champion, challenger, n_bootstrap=n_bootstrap,
                         confidence=confidence, seed=seed)
    return Comparison(metric=metric, n=len(np.asarray(y)), champion=ca, challenger=cb,
                      delta=_improvement(metric, ca, cb), ci=ci, confidence=confidence,
                      slices=slice_table(metric, y, champion, challenger, slices, min_slice_rows))


def gate(c: Comparison, min_improvement: float, slice_tolerance: float) -> tuple[bool, list[str]]:
    """(promote?, reasons). Every failed condition is listed, or why it passed."""
    reasons = []
    if not np.isfinite(c.delta):
        return False, [f"{c.metric} is undefined on the holdout (a single class?)"]
    if c.delta < min_improvement:
        reasons.append(f"challenger {c.metric} {c.challenger:.4f} vs champion {c.champion:.4f}: "
                       f"improvement {c.delta:+.4f} is below the required {min_improvement:.4f}")
    lo, hi = c.ci
    if not (np.isfinite(lo) and lo > 0):
        reasons.append(f"{c.confidence:.0%} bootstrap interval of the improvement "
                       f"[{lo:+.4f}, {hi:+.4f}] does not exclude zero")
    for s in c.slices:
        if np.isfinite(s["delta"]) and s["delta"] < -slice_tolerance:
            reasons.append(f"slice {s['column']}={s['value']} (n={s['n']}) gets worse: "
                           f"{c.metric} {s['challenger']:.4f} vs {s['champion']:.4f} "
                           f"({s['delta']:+.4f}, tolerance {slice_tolerance:.4f})")
    if reasons:
        return False, reasons
    return True, [f"challenger better by {c.delta:+.4f} {c.metric} (>= {min_improvement:.4f}), "
                  f"{c.confidence:.0%} CI [{lo:+.4f}, {hi:+.4f}] above zero, no slice worse than "
                  f"-{slice_tolerance:.4f}"]


# -- the decision ----------------------------------------------------------------------------------
DECISIONS = ("promoted", "rejected", "skipped")


@dataclass
class RetrainDecision:
    """What the retraining step decided, on which evidence, and what is current afterwards."""

    decision: str
    reasons: list[str]
    current_version: str | None
    champion: str | None = None
    challenger: str | None = None
    metric: str | None = None
    comparison: Comparison | None = None
    training: dict = field(default_factory=dict)
    holdout: dict = field(default_factory=dict)
    scores: pd.DataFrame | None = field(default=None, repr=False)  # holdout: time, label, both scores

    def timeline(self, freq: str = "D") -> pd.DataFrame:
        """The metric of both models per period of the holdout: is the gain steady or one day?"""
        if self.scores is None or self.scores.empty:
            return pd.DataFrame(columns=["period", "n", "champion", "challenger"])
        rows = []
        for period, g in self.scores.groupby(pd.Grouper(key="timestamp", freq=freq)):
            if len(g):
                rows.append({"period": period, "n": len(g),
                             "champion": metric_value(self.metric, g["label"], g["champion"]),
                             "challenger": metric_value(self.metric, g["label"], g["challenger"])})
        return pd.DataFrame(rows)

    @property
    def delta(self) -> float | None:
        return None if self.comparison is None else self.comparison.delta

    @property
    def ci(self) -> list[float] | None:
        return None if self.comparison is None else list(self.comparison.ci)

    @property
    def headline(self) -> str:
        c = self.comparison
        if self.decision == "skipped":
            return f"Retraining skipped: {self.reasons[0] if self.reasons else 'not needed'}"
        head = (f"Challenger {self.challenger} {self.decision}: {c.metric} {c.challenger:.3f} vs "
                f"champion {self.champion} {c.champion:.3f} ({c.delta:+.3f}, "
                f"CI [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}])")
        return f"{head}; current model {self.current_version}"

    def to_dict(self) -> dict:
        c = self.comparison
        return {"headline": self.headline, "decision": self.decision, "reasons": list(self.reasons),
                "champion": self.champion, "challenger": self.challenger,
                "current_version": self.current_version, "metric": self.metric,
                "delta": self.delta, "ci": self.ci,
                "champion_metric": None if c is None else c.champion,
                "challenger_metric": None if c is None else c.challenger,
                "slices": [] if c is None else c.slices,
                "training": self.training, "holdout": self.holdout}

    def slice_frame(self) -> pd.DataFrame:
        cols = ["column", "value", "n", "champion", "challenger", "delta"]
        return pd.DataFrame(self.comparison.slices if self.comparison else [], columns=cols)

    def _repr_html_(self) -> str:
        colour = {"promoted": "#1a7f37", "rejected": "#b35900", "skipped": "#57606a"}[self.decision]
        items = "".join(f"<li>{html.escape(r)}</li>" for r in self.reasons)
        out = (f"<p><b style='color:{colour}'>{self.decision.upper()}</b> — "
               f"{html.escape(self.headline)}</p><ul>{items}</ul>")
        if self.comparison is not None and self.comparison.slices:
            out += self.slice_frame().to_html(index=False, float_format=lambda x: f"{x:.4f}")
        return out


def _window_info(df: pd.DataFrame, ts: str, weights=None) -> dict:
    from driftlib.reference import fingerprint_frame

    info = {"start": df[ts].min(), "end": df[ts].max(), "rows": int(len(df)),
            "fingerprint": fingerprint_frame(df.drop(columns=[ts]).reset_index(drop=True))}
    if weights is not None:
        info["effective_rows"] = float(np.sum(weights) ** 2 / np.sum(np.square(weights)))
    return info


def labelled_rows(params: Params, df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose label has arrived, time-ordered."""
    target = params.columns.target
    if not target or target not in df.columns:
        raise InputError(f"{params.source_file}: field 'columns.target': no label column in the data")
    out = df[df[target].notna()]
    return out.sort_values(params.columns.timestamp, kind="stable").reset_index(drop=True)


def split_holdout(df: pd.DataFrame, ts: str, holdout_days: int):
    """(before, holdout): the holdout is the last `holdout_days` of labelled data, never random."""
    end = df[ts].max()
    start = end - timedelta(days=holdout_days)
    return df[df[ts] <= start], df[df[ts] > start], start


def _skip(reason: str, registry: Registry, champion: str | None = None) -> RetrainDecision:
    return RetrainDecision("skipped", [reason], registry.current_version(), champion=champion)


def retrain(params: Params, labelled: pd.DataFrame, *, registry: Registry | None = None,
            trigger: str = "forced") -> RetrainDecision:
    """Train a challenger on the configured window, gate it against the champion, register it.

    `labelled` holds production rows with their label (rows without one are dropped); only
    data that was available at decision time should be passed in.
    """
    with threadpool_limits(limits=params.retrain.fit_threads):
        return _retrain(params, labelled, registry, trigger)


def _retrain(params: Params, labelled: pd.DataFrame, registry: Registry | None,
             trigger: str) -> RetrainDecision:
    from driftlib.data import feature_lists
    from driftlib.reference import ReferenceProfile

    cfg, ts = params.retrain, params.columns.timestamp
    registry = registry or Registry.from_params(params)
    champion_v = registry.current_version()
    if champion_v is None:
        return _skip("no current model to compare against (run `driftlib models train`)", registry)
    data = labelled_rows(params, labelled)
    if len(data) < cfg.min_holdout_rows + cfg.min_train_rows:
        return _skip(f"only {len(data)} labelled rows (need {cfg.min_train_rows} to train and "
                     f"{cfg.min_holdout_rows} for the holdout)", registry, champion_v)
    before, holdout, cut = split_holdout(data, ts, cfg.holdout_days)
    train, weights = training_window(cfg, before, ts, cut)
    if len(holdout) < cfg.min_holdout_rows or len(train) < cfg.min_train_rows:
        return _skip(f"{len(train)} training rows ({cfg.strategy}) and {len(holdout)} holdout rows: "
                     f"need {cfg.min_train_rows} and {cfg.min_holdout_rows}", registry, champion_v)
    champion = registry.load(champion_v)
    numeric, categorical = feature_lists(params, data)
    challenger = fit_model(params, train, weights)
    X, y = holdout[[*numeric, *categorical]], holdout[params.columns.target].to_numpy()
    if params.task == "classification":
        y = y.astype(int)
    slice_cols = cfg.slice_columns or categorical
    missing = [col for col in slice_cols if col not in holdout.columns]
    if missing:
        raise ConfigError(f"field 'retrain.slice_columns': no column(s) {', '.join(missing)} in the data")
    scores = pd.DataFrame({"timestamp": holdout[ts].reset_index(drop=True), "label": y,
                           "champion": model_scores(champion.model, X, params.task),
                           "challenger": model_scores(challenger, X, params.task)})
    comparison = compare(cfg.metric, y, scores["champion"].to_numpy(), scores["challenger"].to_numpy(),
                         slices=holdout[slice_cols], n_bootstrap=cfg.n_bootstrap,
                         confidence=cfg.confidence, min_slice_rows=cfg.min_slice_rows, seed=cfg.seed)
    ok, reasons = gate(comparison, cfg.min_improvement, cfg.slice_tolerance)
    leak = _leak_warning(champion.card, cut)
    reasons = reasons + ([leak] if leak else [])
    training = {**_window_info(train[[ts, *numeric, *categorical, params.columns.target]], ts, weights),
                "strategy": cfg.strategy}
    holdout_info = _window_info(holdout[[ts, *numeric, *categorical, params.columns.target]], ts)
    card = {"training": {"window": training, "trigger": trigger},
            "features": {"numeric": numeric, "categorical": categorical},
            "schema": ReferenceProfile.fit(train, numeric, categorical).schema,
            "params": {"estimator": params.model.estimator, "estimator_params": params.model.params,
                       "retrain": cfg.model_dump()},
            "metrics": {f"holdout_{cfg.metric}": comparison.challenger,
                        f"champion_holdout_{cfg.metric}": comparison.champion},
            "holdout": holdout_info, "parent": champion_v,
            "gate": {"decision": "promoted" if ok else "rejected", "reasons": reasons,
                     "comparison": comparison.to_dict()}}
    version = registry.register(challenger, card, status="candidate" if ok else "rejected")
    if ok:
        registry.promote(version, reason=f"gate passed: {reasons[0]}")
    return RetrainDecision("promoted" if ok else "rejected", reasons, registry.current_version(),
                           champion=champion_v, challenger=version, metric=cfg.metric,
                           comparison=comparison, training=training, holdout=holdout_info,
                           scores=scores)


def _leak_warning(card: dict, cut: pd.Timestamp) -> str | None:
    end = ((card.get("training") or {}).get("window") or {}).get("end")
    if end and pd.Timestamp(end) > cut:
        return (f"note: the champion's training data reaches {end}, past the holdout start "
                f"{cut.isoformat()}; its holdout score is optimistic")
    return None


# -- initial model and imports ---------------------------------------------------------------------
def train_initial(params: Params, *, registry: Registry | None = None,
                  clock: Callable[[], datetime] = utc_now, promote: bool = True) -> str:
    """Fit the model on `model.train`, register it with its card, make it current."""
    from driftlib.data import feature_lists, read_window
    from driftlib.reference import ReferenceProfile

    if params.model.train is None:
        raise ConfigError(f"{params.source_file}: field 'model.train' is not set: no training data")
    registry = registry or Registry.from_params(params, clock=clock)
    ts, target = params.columns.timestamp, params.columns.target
    df = labelled_rows(params, read_window(params, params.model.train))
    if len(df) < params.retrain.min_train_rows:
        raise InputError(f"{params.model.train.path}: only {len(df)} labelled rows to train on")
    numeric, categorical = feature_lists(params, df)
    with threadpool_limits(limits=params.retrain.fit_threads):
        model = fit_model(params, df)
        metrics = _reference_metrics(params, model)
    card = {"training": {"window": {**_window_info(df[[ts, *numeric, *categorical, target]], ts),
                                    "strategy": "initial", "source": params.model.train.model_dump()},
                         "trigger": "initial"},
            "features": {"numeric": numeric, "categorical": categorical},
            "schema": ReferenceProfile.fit(df, numeric, categorical).schema,
            "params": {"estimator": params.model.estimator, "estimator_params": params.model.params},
            "metrics": metrics, "parent": None,
            "gate": {"decision": "initial", "reasons": ["initial model trained on model.train"]}}
    version = registry.register(model, card)
    if promote:
        registry.promote(version, reason="initial model")
    return version


def _reference_metrics(params: Params, model) -> dict:
    """The metric on the labelled reference window: the first out-of-time check of a model."""
    from driftlib.data import feature_lists, read_window

    try:
        ref = labelled_rows(params, read_window(params, params.reference))
    except InputError:
        return {}
    if ref.empty:
        return {}
    numeric, categorical = feature_lists(params, ref)
    y = ref[params.columns.target].to_numpy()
    y = y.astype(int) if params.task == "classification" else y
    s = model_scores(model, ref[[*numeric, *categorical]], params.task)
    return {f"reference_{params.retrain.metric}": metric_value(params.retrain.metric, y, s),
            "reference_rows": int(len(ref))}


def register_artifact(params: Params, artifact, *, registry: Registry | None = None,
                      promote: bool = False) -> str:
    """Import a user's own joblib model: checked on the reference, carded with its schema.

    Loading a joblib file runs code: only import artifacts you built or trust. From then on
    the registry guards it by sha256.
    """
    import joblib

    from driftlib.data import feature_lists, load_reference
    from driftlib.reference import ReferenceProfile

    try:
        model = joblib.load(artifact)
    except FileNotFoundError:
        raise InputError(f"{artifact}: no such file") from None
    except Exception as err:  # unpickling raises anything
        raise InputError(f"{artifact}: not a loadable joblib model ({type(err).__name__})") from None
    registry = registry or Registry.from_params(params)
    ref = load_reference(params)
    numeric, categorical = feature_lists(params, ref)
    try:
        metrics = _reference_metrics(params, model)
    except Exception as err:  # the user's model may reject our frame: say so in one line
        raise InputError(f"{artifact}: model cannot score the reference features "
                         f"({type(err).__name__}: {err})") from None
    profile = ReferenceProfile.fit(ref, numeric, categorical)
    card = {"training": {"window": None, "trigger": "imported", "source": str(artifact)},
            "features": {"numeric": numeric, "categorical": categorical},
            "schema": profile.schema, "reference_fingerprint": profile.fingerprint,
            "params": {"estimator": type(model).__name__}, "metrics": metrics, "parent": None,
            "gate": {"decision": "imported", "reasons": [f"imported from {artifact}"]}}
    version = registry.register(model, card)
    if promote:
        registry.promote(version, reason=f"imported from {artifact}")
    return version
