"""Estimator pipelines by name, fitting, and scoring.

Pipelines take the raw feature DataFrame (NaN and unseen categories tolerated) so a registered
model scores production rows as they arrive. Pickled models reference `as_str` by module path.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from driftlib.config import Params
from driftlib.core.errors import ConfigError, InputError
from driftlib.core.names import Names

STEP = "model"  # name of the estimator step: fit(..., model__sample_weight=w)


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


ESTIMATORS: Names[Callable] = Names("model.estimator", {
    "hist_gradient_boosting": _hgb,
    "logistic_regression": _linear,
    "random_forest": _forest,
}, kind="estimator")


def build_estimator(name: str, numeric: list[str], categorical: list[str],
                    params: dict | None = None, task: str = "classification") -> Pipeline:
    """A Pipeline taking a DataFrame of the features: NaN tolerated, unseen categories tolerated."""
    make = ESTIMATORS.get(name)
    if not numeric and not categorical:
        raise ConfigError("field 'features': no features to train on")
    try:
        prep, est = make(list(numeric), list(categorical), dict(params or {}), task)
    except TypeError as err:
        raise ConfigError(f"field 'model.params': {err}") from None
    return Pipeline([("prep", prep), (STEP, est)])


# -- fitting and scoring ---------------------------------------------------------------------------
def model_scores(model, X: pd.DataFrame, task: str = "classification") -> np.ndarray:
    """Positive-class probability for classifiers, predictions for regressors."""
    if task == "classification":
        if not hasattr(model, "predict_proba"):
            raise InputError("model has no predict_proba: a classifier with probabilities is needed")
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X), dtype=float)


def fit_model(params: Params, train: pd.DataFrame, sample_weight=None) -> Pipeline:
    from driftlib.data.tables import feature_lists

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
