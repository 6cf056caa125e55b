"""Synthetic monitored models with known answers: covariate shift, a flip of P(y|x), no change.

Used by the tests and handy to check the detectors on your own sizes before trusting them:
`world = make_world(seed=1, covariate_shift=1.0)` gives params, a labelled reference with the model's
outputs, production rows with delayed labels, the run date and the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from driftlib.config import Params, parse_params

CATS = np.array(["a", "b", "c", "d"])
CAT_EFFECT = {"a": 0.0, "b": 0.5, "c": -0.5, "d": 1.0}
START = pd.Timestamp("2024-01-01", tz="UTC")


@dataclass
class World:
    params: Params
    reference: pd.DataFrame
    production: pd.DataFrame
    as_of: pd.Timestamp
    model: object
    change_at: pd.Timestamp | None = None


def _features(rng, n: int, shift: float) -> pd.DataFrame:
    probs = np.array([0.4, 0.3, 0.2, 0.1]) if shift == 0 else np.array([0.1, 0.2, 0.3, 0.4])
    return pd.DataFrame({"x1": rng.normal(shift, 1.0, n), "x2": rng.normal(-0.5 * shift, 1.0, n),
                         "x3": rng.normal(0.0, 1.0, n), "c": rng.choice(CATS, size=n, p=probs)})


def true_logit(X: pd.DataFrame) -> np.ndarray:
    return -1.0 + 1.5 * X["x1"].to_numpy() - 1.0 * X["x2"].to_numpy() + X["c"].map(CAT_EFFECT).to_numpy()


def _design(X: pd.DataFrame) -> np.ndarray:
    return np.column_stack([X[["x1", "x2", "x3"]].to_numpy(), *(X["c"].to_numpy() == k for k in CATS[1:])])


class SyntheticModel:
    """A logistic regression fitted on a training sample of the reference distribution."""

    def __init__(self, seed: int, n: int = 3000):
        rng = np.random.default_rng(seed + 10_000)
        X = _features(rng, n, 0.0)
        y = rng.random(n) < 1 / (1 + np.exp(-true_logit(X)))
        self.model = LogisticRegression(max_iter=1000).fit(_design(X), y)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(_design(X))


def _score(model, X: pd.DataFrame, logit: np.ndarray, rng) -> pd.DataFrame:
    p = model.predict_proba(X)[:, 1]
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(float)
    return X.assign(probability=p, prediction=(p >= 0.5).astype(int), y=y)


def make_params(days: int = 28, **concept) -> Params:
    return parse_params({
        "name": "synthetic", "reference": {"path": "reference.parquet"},
        "columns": {"timestamp": "ts", "target": "y", "prediction": "prediction", "probability": "probability"},
        "features": {"numeric": ["x1", "x2", "x3"], "categorical": ["c"]},
        "concept": {"window": "7D", "min_labels": 200, "n_bootstrap": 100, **concept},
        "run": {"lookback_days": days},
    }, "synthetic.yaml")


def make_world(seed: int = 0, *, n_reference: int = 2000, n_production: int = 2000, days: int = 28,
               covariate_shift: float = 0.0, flip_at: float | None = None, labelled_share: float = 1.0,
               label_lag_days: float = 1.0, **concept) -> World:
    """Production spans `days` days before the run date; `flip_at` (0..1) negates P(y|x)'s logit there."""
    rng = np.random.default_rng(seed)
    model = SyntheticModel(seed)
    Xr = _features(rng, n_reference, 0.0)
    reference = _score(model, Xr, true_logit(Xr), rng)
    Xp = _features(rng, n_production, covariate_shift)
    logit = true_logit(Xp)
    change_at = None
    as_of = START + pd.Timedelta(days=days)
    ts = START + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400 - 1, n_production)), unit="s")
    if flip_at is not None:
        k = int(flip_at * n_production)
        logit[k:] = -logit[k:]
        change_at = ts[k]
    production = _score(model, Xp, logit, rng).assign(ts=ts)
    lag = pd.to_timedelta(rng.exponential(label_lag_days * 86400, n_production), unit="s")
    production["label_timestamp"] = production["ts"] + lag
    unlabelled = rng.random(n_production) >= labelled_share
    production.loc[unlabelled, "y"] = np.nan
    production.loc[unlabelled, "label_timestamp"] = pd.NaT
    return World(make_params(days, **concept), reference, production, as_of, model, change_at)
