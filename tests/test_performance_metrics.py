"""driftlib.performance: the one metric vocabulary of the concept report and the retraining gate."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from driftlib.core.errors import ConfigError
from driftlib.performance.metrics import (CATALOGUE, GATE_METRICS, METRICS, Rows, bootstrap_weights, gate_metric,
                                          get_metric, interval, paired_bootstrap)
from driftlib.performance.slices import compare_slices, slice_labels


def test_the_report_and_the_gate_share_one_catalogue():
    assert all(CATALOGUE[k] is m for k, m in {**METRICS, **GATE_METRICS}.items())
    assert set(CATALOGUE) == set(METRICS) | set(GATE_METRICS)


@pytest.mark.parametrize("ties", [False, True])
def test_average_precision_and_r2_match_scikit_learn_with_weights(ties):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, 800)
    if ties:
        p = np.round(p, 1)
    y = (rng.random(800) < p).astype(float)
    w = rng.integers(0, 4, 800).astype(float)
    rows = Rows.of(p, (p >= 0.5).astype(float))
    ap = CATALOGUE["average_precision"]
    assert ap.point(y, rows) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert ap(y, w, rows)[0] == pytest.approx(skm.average_precision_score(y, p, sample_weight=w), abs=1e-12)
    yr, pred = rng.normal(size=800), rng.normal(size=800)
    r2, reg = CATALOGUE["r2"], Rows.of(None, pred)
    assert r2.point(yr, reg) == pytest.approx(skm.r2_score(yr, pred), abs=1e-12)
    assert r2(yr, w, reg)[0] == pytest.approx(skm.r2_score(yr, pred, sample_weight=w), abs=1e-12)


def test_paired_bootstrap_scores_both_models_on_the_same_resamples():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300).astype(float)
    a, b = rng.random(300), np.clip(y * 0.6 + rng.random(300) * 0.4, 0, 1)
    ra, rb = Rows.of(a, (a >= 0.5).astype(float)), Rows.of(b, (b >= 0.5).astype(float))
    m = METRICS["brier"]
    diff = paired_bootstrap(m, y, ra, rb, 30, np.random.default_rng(0))
    w = bootstrap_weights(np.random.default_rng(0), 30, 300)
    np.testing.assert_allclose(diff, m(y, w, rb) - m(y, w, ra))
    assert np.all(paired_bootstrap(m, y, ra, ra, 30, np.random.default_rng(0)) == 0)
    assert m.improvement(0.3, 0.2) == pytest.approx(0.1) and METRICS["roc_auc"].improvement(0.6, 0.7) > 0


def test_interval_thresholds():
    reps = np.r_[np.full(95, np.nan), np.linspace(0, 1, 5)]
    assert np.isnan(interval(reps, 0.9)).all()
    assert np.isfinite(interval(reps, 0.9, min_count=1, min_share=0.0)).all()
    assert np.isnan(interval(np.full(5, np.nan), 0.9, min_count=1, min_share=0.0)).all()


def test_compare_slices_per_value_with_missing_values_their_own_slice():
    y = np.r_[np.ones(5), np.zeros(5)].repeat(30)
    a = np.full(len(y), 0.5)
    b = np.where(y == 1, 0.8, 0.2)
    slices = pd.DataFrame({"c": np.where(np.arange(len(y)) % 3 == 0, None, "x")})
    assert set(slice_labels(slices["c"])) == {"x", "(missing)"}
    rows = compare_slices(METRICS["brier"], y, Rows.of(a, a >= 0.5), Rows.of(b, b >= 0.5), slices, 50)
    assert [r["value"] for r in rows] == ["x", "(missing)"] and all(r["delta"] > 0 for r in rows)
    assert compare_slices(METRICS["brier"], y, Rows.of(a, a), Rows.of(b, b), slices, 150)[0]["n"] == 200


def test_unknown_metric_names_are_one_line_config_errors_naming_the_field():
    with pytest.raises(ConfigError, match=r"field 'concept.slice_metric': unknown classification metric 'r2' "
                                          r"\(choose from accuracy, brier"):
        get_metric("r2", "classification", "concept.slice_metric")
    with pytest.raises(ConfigError, match=r"field 'retrain.metric': unknown metric 'ece'"):
        gate_metric("ece")


@pytest.mark.parametrize("size", [None, 300])
@pytest.mark.parametrize("name", [m.name for m in CATALOGUE.values() if m.per_row])
def test_mean_metrics_bootstrap_by_gathering_the_rows_the_weights_count(name, size):
    """The fast path for mean metrics gives the replicates of the weighted path: the same draws, so
    accuracy (integer counts) agrees bit for bit and the others to rounding."""
    from driftlib.performance import metrics as M

    m = CATALOGUE[name]
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, 700)
    y = (rng.random(700) < p).astype(float) if m.task == "classification" else rng.normal(size=700)
    rows = Rows.of(p, (p >= 0.5).astype(float) if m.task == "classification" else rng.normal(size=700))
    fast = M.bootstrap([m], y, rows, 250, np.random.default_rng(7), size)[name]
    sorted_rows, ys = rows.sort(y)
    w = bootstrap_weights(np.random.default_rng(7), 250, 700, size)
    weighted = m(ys[None, :], w, sorted_rows)
    if name == "accuracy":
        assert np.array_equal(fast, weighted)
    np.testing.assert_allclose(fast, weighted, rtol=1e-12, atol=1e-15)
    assert fast.std() > 0
