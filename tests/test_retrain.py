"""Estimators, training windows, the champion/challenger gate and the retraining loop."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from driftlib.config import RetrainConfig, load_params
from driftlib.core.errors import ConfigError, InputError
from driftlib.models.registry import Registry
from driftlib.models.training import (ESTIMATORS, RetrainDecision, build_estimator, compare, gate,
                              register_artifact, retrain, split_holdout, train_initial,
                              training_window)



# -- gate on synthetic champion/challenger pairs ---------------------------------------------------
def _pair(n=4000, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    weak = y * 0.3 + rng.normal(0, 1, n)
    strong = y * 1.5 + rng.normal(0, 1, n)
    return y, weak, strong


def _gate(y, champ, chall, slices=None, **kw):
    c = compare("roc_auc", y, champ, chall, slices=slices, n_bootstrap=200, min_slice_rows=200)
    return c, gate(c, kw.get("min_improvement", 0.005), kw.get("slice_tolerance", 0.02))


def test_clearly_better_challenger_is_promoted():
    y, weak, strong = _pair()
    c, (ok, reasons) = _gate(y, weak, strong)
    assert ok, reasons
    assert c.delta > 0.2 and c.ci[0] > 0 and c.ci[0] < c.delta < c.ci[1]


def test_equal_challenger_is_rejected():
    y, weak, _ = _pair()
    c, (ok, reasons) = _gate(y, weak, weak.copy())
    assert not ok
    assert c.delta == 0
    assert any("below the required" in r for r in reasons)
    assert any("does not exclude zero" in r for r in reasons)


def test_noise_level_gain_is_rejected_by_the_interval():
    y, weak, _ = _pair(n=600)
    jitter = weak + np.random.default_rng(5).normal(0, 0.3, len(y))
    c, (ok, reasons) = _gate(y, jitter, weak, min_improvement=0.0)
    assert not ok and c.ci[0] <= 0 < c.ci[1]


def test_better_overall_but_worse_on_a_slice_is_rejected():
    y, weak, strong = _pair(n=6000)
    slices = pd.DataFrame({"origin": np.where(np.arange(len(y)) < 5000, "JFK", "EWR")})
    chall = strong.copy()
    ewr = slices["origin"].to_numpy() == "EWR"
    champ = np.where(ewr, strong, weak)           # the champion is strong on EWR ...
    chall[ewr] = weak[ewr]                          # ... where the challenger is weak
    c, (ok, reasons) = _gate(y, champ, chall, slices=slices)
    assert c.delta > 0.1 and c.ci[0] > 0
    assert not ok
    assert len(reasons) == 1 and "slice origin=EWR" in reasons[0]
    by_value = {s["value"]: s for s in c.slices}
    assert by_value["JFK"]["delta"] > 0 > by_value["EWR"]["delta"]


def test_small_slices_are_not_judged():
    y, weak, strong = _pair(n=3000)
    slices = pd.DataFrame({"c": np.where(np.arange(3000) < 2950, "big", "tiny")})
    chall = strong.copy()
    chall[-50:] = -strong[-50:]
    c, (ok, _) = _gate(y, weak, chall, slices=slices)
    assert [s["value"] for s in c.slices] == ["big"] and ok


def test_lower_is_better_metric_direction():
    y, weak, strong = _pair()
    to_p = lambda s: 1 / (1 + np.exp(-s))  # noqa: E731
    c = compare("log_loss", y, to_p(weak), to_p(strong), n_bootstrap=100)
    assert c.challenger < c.champion and c.delta > 0 and gate(c, 0.005, 0.02)[0]


def test_undefined_metric_is_rejected_with_reason():
    y = np.ones(500, dtype=int)
    p = np.random.default_rng(0).random(500)  # the same scores for both: no gain, whatever the draws
    c = compare("roc_auc", y, p, p, n_bootstrap=50)
    ok, reasons = gate(c, 0.005, 0.02)  # AUC has no value on one class: decided on Brier, and says so
    assert not ok and c.metric == "brier" and "roc_auc has no value" in reasons[0] and "brier" in reasons[0]


# -- estimators ------------------------------------------------------------------------------------
def _frame(n, start="2013-01-01", flip=False, seed=0, cats=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 60, n)), unit="D")
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    c = rng.choice(list(cats), n)
    logit = (-1.5 if flip else 1.5) * x1 + 0.5 * x2 + np.where(c == "a", 0.8, 0.0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    x2[rng.uniform(size=n) < 0.05] = np.nan
    return pd.DataFrame({"ts": ts, "x1": x1, "x2": x2, "c": c, "y": y})


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimators_tolerate_nan_and_unseen_categories(name):
    df = _frame(600)
    params = {"max_iter": 20} if name == "hist_gradient_boosting" else (
        {"n_estimators": 10} if name == "random_forest" else {})
    model = build_estimator(name, ["x1", "x2"], ["c"], params).fit(df[["x1", "x2", "c"]], df["y"])
    new = pd.DataFrame({"x1": [0.1, np.nan], "x2": [np.nan, 1.0], "c": ["never-seen", None]})
    proba = model.predict_proba(new)[:, 1]
    assert proba.shape == (2,) and np.all((proba >= 0) & (proba <= 1))


def test_unknown_estimator_and_bad_params_are_config_errors():
    with pytest.raises(ConfigError, match="model.estimator"):
        build_estimator("xgboost", ["x"], [], {})
    with pytest.raises(ConfigError, match="model.params"):
        build_estimator("hist_gradient_boosting", ["x"], [], {"no_such_param": 1})


# -- training windows ------------------------------------------------------------------------------
def test_training_window_strategies():
    df = _frame(2000)
    end = pd.Timestamp("2013-02-20", tz="UTC")
    rows, w = training_window(RetrainConfig(strategy="all"), df, "ts", end)
    assert w is None and rows["ts"].max() < end and len(rows) == (df["ts"] < end).sum()
    rows, w = training_window(RetrainConfig(strategy="sliding", window_days=10), df, "ts", end)
    assert w is None and rows["ts"].min() >= end - pd.Timedelta(days=10)
    rows, w = training_window(RetrainConfig(strategy="weighted", half_life_days=7), df, "ts", end)
    assert len(rows) == (df["ts"] < end).sum()
    age = (end - rows["ts"]).dt.total_seconds().to_numpy() / 86400
    np.testing.assert_allclose(w, 0.5 ** (age / 7))
    assert w[np.argmin(age)] > 0.99 and w[np.argmax(age)] < 0.01


def test_holdout_is_the_most_recent_labelled_data():
    df = _frame(1000)
    before, holdout, cut = split_holdout(df, "ts", 14)
    assert before["ts"].max() <= cut < holdout["ts"].min()
    assert holdout["ts"].max() == df["ts"].max()
    assert len(before) + len(holdout) == len(df)


# -- the loop on a small world -------------------------------------------------------------------
def _params(tmp_path, **retrain):
    old = _frame(3000, "2013-01-01", seed=1)
    new = _frame(6000, "2013-03-02", flip=True, seed=2)
    old.to_parquet(tmp_path / "train.parquet")
    new.to_parquet(tmp_path / "prod.parquet")
    cfg = {"name": "toy", "root": ".", "reference": {"path": "train.parquet", "start": "2013-02-01"},
           "production": {"source": "table", "path": "prod.parquet"},
           "columns": {"timestamp": "ts", "target": "y"},
           "features": {"numeric": ["x1", "x2"], "categorical": ["c"]},
           "model": {"registry": "models", "params": {"max_iter": 30, "random_state": 0},
                     "train": {"path": "train.parquet"}},
           "retrain": {"strategy": "sliding", "window_days": 30, "holdout_days": 14,
                       "slice_columns": ["c"], "n_bootstrap": 100, "min_train_rows": 500,
                       "min_holdout_rows": 300, **retrain}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_params(path), new


def test_train_initial_registers_and_promotes(tmp_path):
    params, _ = _params(tmp_path)
    reg = Registry.from_params(params)
    v = train_initial(params, registry=reg)
    assert reg.current_version() == v
    card = reg.card(v)
    assert card["training"]["window"]["rows"] == 3000
    assert len(card["training"]["window"]["fingerprint"]) == 64
    assert [c["name"] for c in card["schema"]["columns"]] == ["x1", "x2", "c"]
    assert card["metrics"]["reference_roc_auc"] > 0.7
    assert card["params"]["estimator"] == "hist_gradient_boosting"


def test_concept_shift_promotes_then_same_data_rejects(tmp_path):
    params, new = _params(tmp_path)
    reg = Registry.from_params(params)
    v1 = train_initial(params, registry=reg)
    first = retrain(params, new, registry=reg, trigger="concept drift")
    assert first.decision == "promoted", first.reasons
    assert first.champion == v1 and first.current_version == first.challenger
    assert first.comparison.challenger > first.comparison.champion + 0.2
    card = reg.card(first.challenger)
    assert card["parent"] == v1 and card["gate"]["decision"] == "promoted"
    assert card["training"]["window"]["end"] < card["holdout"]["start"]
    tl = first.timeline("D")
    assert tl["n"].sum() == first.comparison.n and (tl["challenger"] > tl["champion"]).mean() > 0.8
    _check_figures(first, params)
    second = retrain(params, new, registry=reg)  # same data: the new champion cannot be beaten
    assert second.decision == "rejected" and second.current_version == first.challenger
    assert reg.card(second.challenger)["status"] == "rejected"
    d = second.to_dict()
    assert set(d) >= {"headline", "decision", "reasons", "champion", "challenger",
                      "current_version", "metric", "delta", "ci"}
    assert "REJECTED" in second._repr_html_()


def _check_figures(decision, params):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from driftlib.plots import retrain as plots

    fig = plots.metric_comparison(decision, params.retrain.min_improvement)
    assert len(fig.axes) == 2
    fig = plots.slice_deltas(decision, params.retrain.slice_tolerance)
    assert len(fig.axes[0].patches) == len(decision.comparison.slices) == 3
    fig = plots.holdout_timeline(decision.timeline("D"), "roc_auc")
    assert len(fig.axes[0].lines) == 2
    plt.close("all")


def test_retrain_skips_without_enough_labels_or_champion(tmp_path):
    params, new = _params(tmp_path)
    reg = Registry.from_params(params)
    assert retrain(params, new, registry=reg).decision == "skipped"  # no champion yet
    train_initial(params, registry=reg)
    unlabelled = new.assign(y=np.where(np.arange(len(new)) < 200, new["y"], np.nan))
    d = retrain(params, unlabelled, registry=reg)
    assert d.decision == "skipped" and "labelled rows" in d.reasons[0]
    assert reg.versions() == ["v0001"]
    assert isinstance(d, RetrainDecision) and d.to_dict()["ci"] is None


def test_weighted_strategy_trains_with_sample_weight(tmp_path):
    params, new = _params(tmp_path, strategy="weighted", half_life_days=5)
    reg = Registry.from_params(params)
    train_initial(params, registry=reg)
    d = retrain(params, new, registry=reg)
    assert d.training["strategy"] == "weighted"
    assert d.training["effective_rows"] < d.training["rows"]
    assert d.decision in ("promoted", "rejected") and d.reasons


def test_train_initial_needs_model_train(tmp_path):
    params, _ = _params(tmp_path)
    params.model.train = None
    with pytest.raises(ConfigError, match="model.train"):
        train_initial(params, registry=Registry(tmp_path / "m"))


def test_register_artifact_imports_user_model(tmp_path):
    import joblib

    params, _ = _params(tmp_path)
    df = pd.read_parquet(tmp_path / "train.parquet")
    model = build_estimator("logistic_regression", ["x1", "x2"], ["c"]).fit(
        df[["x1", "x2", "c"]], df["y"])
    joblib.dump(model, tmp_path / "mine.joblib")
    reg = Registry.from_params(params)
    v = register_artifact(params, tmp_path / "mine.joblib", registry=reg, promote=True)
    assert reg.load().version == v
    assert reg.card(v)["schema"]["columns"][2]["categories"] == ["a", "b", "c"]
    (tmp_path / "junk.joblib").write_text("not a pickle")
    with pytest.raises(InputError, match="junk.joblib"):
        register_artifact(params, tmp_path / "junk.joblib", registry=reg)


def test_vectorised_bootstrap_auc_equals_sklearn_on_the_same_resamples():
    from sklearn.metrics import roc_auc_score

    from driftlib.performance.metrics import METRICS, Rows, bootstrap_weights

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 700)
    s = np.round(y * 0.5 + rng.normal(size=700), 1)  # rounded: many ties
    idx = rng.integers(0, 700, (20, 700))
    counts = np.stack([np.bincount(i, minlength=700) for i in idx])
    rows = Rows.of(s, (s >= 0.5).astype(float))
    fast = METRICS["roc_auc"](y, counts, rows)
    slow = [roc_auc_score(y[i], s[i]) for i in idx]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    counts = bootstrap_weights(np.random.default_rng(0), 50, 700)
    assert counts.shape == (50, 700) and (counts.sum(axis=1) == 700).all()
    single = np.zeros((1, 700), dtype=int)
    single[0, np.flatnonzero(y == 1)[:5]] = 1
    assert np.isnan(METRICS["roc_auc"](y, single, rows)[0])


def _sklearn_gate_metrics():
    from sklearn import metrics as skm

    cut = lambda f: lambda y, s: f(y, (s >= 0.5).astype(int))  # noqa: E731
    return {"roc_auc": skm.roc_auc_score, "average_precision": skm.average_precision_score,
            "log_loss": lambda y, s: skm.log_loss(y, s, labels=[0, 1]), "brier": skm.brier_score_loss,
            "accuracy": cut(skm.accuracy_score), "f1": cut(lambda y, p: skm.f1_score(y, p, zero_division=0)),
            "rmse": skm.root_mean_squared_error, "mae": skm.mean_absolute_error, "r2": skm.r2_score}


def test_gate_metrics_equal_scikit_learn_on_the_holdout_and_on_each_resample():
    """The gate scores with driftlib.performance's weighted metrics; they are sklearn's numbers."""
    from driftlib.core.contracts import GATE_METRICS
    from driftlib.models.gate import METRICS, bootstrap_delta, metric_value

    reference = _sklearn_gate_metrics()
    assert set(reference) == set(METRICS) == set(GATE_METRICS)
    rng = np.random.default_rng(11)
    n = 501
    y = rng.integers(0, 2, n)
    a = np.round(1 / (1 + np.exp(-(y * 0.4 + rng.normal(0, 1, n)))), 2)  # rounded: ties
    b = 1 / (1 + np.exp(-(y * 0.9 + rng.normal(0, 1, n))))
    yr = rng.normal(size=n)
    ra, rb = yr + rng.normal(0, 1, n), yr + rng.normal(0, 0.7, n)
    idx = np.random.default_rng(0).integers(0, n, (40, n))  # the resamples bootstrap_delta(seed=0) draws
    for name, sk in reference.items():
        yy, sa, sb = (yr, ra, rb) if METRICS[name].task == "regression" else (y, a, b)
        assert metric_value(name, yy, sa) == pytest.approx(sk(yy, sa), abs=1e-12), name
        better = METRICS[name].higher_is_better
        deltas = [(sk(yy[i], sb[i]) - sk(yy[i], sa[i])) * (1 if better else -1) for i in idx]
        expected = np.quantile(deltas, [0.05, 0.95])
        got = bootstrap_delta(name, yy, sa, sb, n_bootstrap=40, confidence=0.9, seed=0)
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=name)


def test_gate_metric_edge_cases_follow_scikit_learn():
    from driftlib.models.gate import metric_value

    assert metric_value("f1", np.zeros(10), np.zeros(10)) == 0.0  # zero_division=0
    assert metric_value("r2", np.ones(10), np.ones(10)) == 1.0
    assert metric_value("r2", np.ones(10), np.zeros(10)) == 0.0
    assert np.isnan(metric_value("r2", [1.0], [1.0]))
    assert np.isnan(metric_value("roc_auc", np.ones(5), np.linspace(0, 1, 5)))
    assert np.isnan(metric_value("average_precision", np.zeros(5), np.linspace(0, 1, 5)))
    assert np.isnan(metric_value("brier", [], []))
    with pytest.raises(ConfigError, match="field 'retrain.metric': unknown metric 'auc'"):
        metric_value("auc", [0, 1], [0.2, 0.8])


def test_default_slice_tolerance_follows_the_metric():
    """0.02 of an MAE counted in rentals refused a challenger that cut MAE from 5.22 to 3.69 because one
    station got 0.09 worse: error metrics get a tolerance relative to the champion's error."""
    from driftlib.models.gate import Comparison, gate, slice_tolerance_for

    slices = [{"column": "station", "value": "harbour", "n": 300, "champion": 5.0, "challenger": 5.09, "delta": -0.09}]
    mae = Comparison(metric="mae", n=2000, champion=5.22, challenger=3.69, delta=1.53, ci=(1.2, 1.8),
                     confidence=0.95, slices=slices)
    assert slice_tolerance_for(mae, None) == pytest.approx(0.261)
    assert gate(mae, 0.005, None)[0] and not gate(mae, 0.005, 0.02)[0]
    auc = Comparison(metric="roc_auc", n=2000, champion=0.80, challenger=0.85, delta=0.05, ci=(0.02, 0.08),
                     confidence=0.95, slices=[{**slices[0], "champion": 0.8, "challenger": 0.75, "delta": -0.05}])
    assert slice_tolerance_for(auc, None) == 0.02 and not gate(auc, 0.005, None)[0]
