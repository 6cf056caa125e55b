"""Building blocks of the concept drift investigation: metrics, bootstrap, estimation, tests, detectors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from driftlib.concept.estimate import PerformanceEstimator
from driftlib.performance.metrics import METRICS, Rows, bootstrap, get_metric, interval
from driftlib.concept.onset import OnsetDetector, _current_onset
from driftlib.concept.shift import CalibrationShiftTest, ConceptShiftTest, CovariateShiftCheck, feature_frame
from driftlib.core.errors import ConfigError


def _binary(seed=0, n=3000, ties=False):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    if ties:
        p = np.round(p, 1)
    y = (rng.random(n) < p).astype(float)
    return p, (p >= 0.5).astype(float), y, rng


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_match_scikit_learn_with_and_without_weights(ties):
    p, pred, y, rng = _binary(ties=ties)
    rows = Rows.of(p, pred)
    w = rng.integers(0, 3, len(p)).astype(float)
    expected = {
        "accuracy": lambda sw: skm.accuracy_score(y, pred, sample_weight=sw),
        "f1": lambda sw: skm.f1_score(y, pred, sample_weight=sw),
        "roc_auc": lambda sw: skm.roc_auc_score(y, p, sample_weight=sw),
        "brier": lambda sw: skm.brier_score_loss(y, p, sample_weight=sw),
        "log_loss": lambda sw: skm.log_loss(y, p, sample_weight=sw),
    }
    for name, ref in expected.items():
        m = METRICS[name]
        assert m.point(y, rows) == pytest.approx(ref(None), abs=1e-10), name
        assert m(y, w, rows)[0] == pytest.approx(ref(w), abs=1e-10), name


def test_ece_and_regression_metrics():
    p, pred, y, _ = _binary()
    bins = np.clip((p * 10).astype(int), 0, 9)
    ece = sum(abs((p[bins == b] - y[bins == b]).sum()) for b in range(10)) / len(p)
    assert METRICS["ece"].point(y, Rows.of(p, pred)) == pytest.approx(ece)
    rng = np.random.default_rng(1)
    yr, yhat = rng.normal(size=500), rng.normal(size=500)
    rows = Rows.of(None, yhat)
    assert METRICS["mae"].point(yr, rows) == pytest.approx(skm.mean_absolute_error(yr, yhat))
    assert METRICS["rmse"].point(yr, rows) == pytest.approx(np.sqrt(skm.mean_squared_error(yr, yhat)))


def test_soft_label_auc_is_the_expected_auc():
    """CBPE's AUC: each row counts as positive with weight c and negative with weight 1 - c."""
    p, pred, _, rng = _binary(n=400, ties=True)
    c = rng.uniform(0, 1, len(p))
    expected = skm.roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(p))], np.r_[p, p],
                                 sample_weight=np.r_[c, 1 - c])
    assert METRICS["roc_auc"].point(c, Rows.of(p, pred)) == pytest.approx(expected, abs=1e-10)


def test_bootstrap_spread_matches_the_binomial_and_scales_with_size():
    p, pred, y, _ = _binary(n=4000)
    rows, acc = Rows.of(p, pred), METRICS["accuracy"]
    reps = bootstrap([acc], y, rows, 400, np.random.default_rng(0))["accuracy"]
    point = acc.point(y, rows)
    assert reps.std() == pytest.approx(np.sqrt(point * (1 - point) / len(y)), rel=0.15)
    lo, hi = interval(reps, 0.95)
    assert lo < point < hi
    small = bootstrap([acc], y, rows, 400, np.random.default_rng(0), size=1000)["accuracy"]
    assert small.std() == pytest.approx(2 * reps.std(), rel=0.2)  # sqrt(4000 / 1000)


def test_interval_is_undefined_when_the_metric_is():
    rows = Rows.of(np.linspace(0.1, 0.9, 50), np.ones(50))
    reps = bootstrap([METRICS["roc_auc"]], np.ones(50), rows, 50, np.random.default_rng(0))["roc_auc"]
    assert np.isnan(interval(reps, 0.95)).all()


def test_unknown_metric_is_a_config_error():
    with pytest.raises(ConfigError, match="concept.metric"):
        get_metric("mae", "classification")


def _overconfident(seed, n):
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    p = 1 / (1 + np.exp(-3 * logit))  # sharper than the truth
    return p, (p >= 0.5).astype(float), y


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
def test_estimate_uses_calibration_learned_on_the_reference(calibration):
    """An overconfident model: raw probabilities misstate accuracy, calibrated ones do not, and the
    interval holds the realized accuracy about as often as it says."""
    acc = METRICS["accuracy"]
    p, _, y = _overconfident(0, 4000)
    est = PerformanceEstimator([acc], calibration, 200, 0.95, 0).fit(p, y)
    covered, errors = 0, []
    for seed in range(1, 21):
        pw, predw, yw = _overconfident(seed, 2000)
        e = est.score(pw, predw)["accuracy"]
        realized = acc.point(yw, Rows.of(pw, predw))
        errors.append(e.value - realized)
        covered += e.lower <= realized <= e.upper
    assert np.abs(errors).max() < 0.03 and abs(np.mean(errors)) < 0.01
    assert covered >= 16  # 19 expected at 95%
    pw, predw, yw = _overconfident(1, 2000)
    assert abs(acc.point(pw, Rows.of(pw, predw)) - acc.point(yw, Rows.of(pw, predw))) > 0.05  # uncalibrated


def _calibration_world(seed, n, shift=0.0):
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 1.5, n)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit + shift)))).astype(float)
    return p, y


def test_calibration_test_false_alarms_stay_near_alpha_and_shift_is_found():
    rejections = 0
    for seed in range(100):
        p, y = _calibration_world(seed, 1500)
        test = CalibrationShiftTest(alpha=0.01).fit(p[:1000], y[:1000])
        rejections += test.score(p[1000:], y[1000:]).drift
    assert rejections <= 4  # expected 1 of 100 at alpha 0.01
    p, y = _calibration_world(0, 1000)
    p2, y2 = _calibration_world(1, 1000, shift=0.6)
    assert CalibrationShiftTest(alpha=0.01).fit(p, y).score(p2, y2).drift


def test_calibration_test_for_regression_uses_an_f_test():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=2000)
    y = pred + rng.normal(0, 0.5, 2000)
    test = CalibrationShiftTest("regression", 0.01).fit(pred[:1000], y[:1000])
    assert not test.score(pred[1000:], y[1000:]).drift
    assert test.score(pred[1000:], y[1000:] + 0.2).drift


def _xy(seed, n, shift=0.0, flip=False):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.normal(0, 1, n),
                      "c": rng.choice(["u", "v", "w"], n)})
    logit = 1.5 * X["a"] - X["b"] + (X["c"] == "v") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-(-logit if flip else logit)))).astype(float)
    return X, y


@pytest.mark.parametrize("learner", ["linear", "hgb"])
def test_feature_test_separates_concept_from_covariate_shift(learner):
    X, y = _xy(0, 1500)
    Xs, ys = _xy(1, 800, shift=1.2)
    Xf, yf = _xy(2, 800, flip=True)
    ref, shifted, flipped = feature_frame([X, Xs, Xf], ["a", "b"], ["c"])
    test = ConceptShiftTest("classification", learner, alpha=0.01).fit(ref, y)
    assert not test.score(shifted, ys).drift
    res = test.score(flipped, yf)
    assert res.drift and res.relative_gain > 0.05


def test_covariate_check_uses_a_bonferroni_level_and_the_drift_share():
    X, _ = _xy(0, 2000)
    same, _ = _xy(1, 1000)
    moved, _ = _xy(2, 1000, shift=0.5)
    check = CovariateShiftCheck(["a", "b"], ["c"], alpha=0.01, drift_share=0.3).fit(X)
    assert not check.score(same).drifted
    res = check.score(moved)
    assert res.drifted and res.share_drifted == pytest.approx(1 / 3)
    assert [c["column"] for c in res.columns if c["drifted"]] == ["a"]
    assert not CovariateShiftCheck(["a", "b"], ["c"], 0.01, drift_share=0.5).fit(X).score(moved).drifted


def test_detectors_agree_on_a_step_and_stay_quiet_without_one():
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-01-01", periods=6000, freq="5min", tz="UTC")
    step = np.r_[rng.random(3000) < 0.2, rng.random(3000) < 0.45].astype(float)
    res = OnsetDetector(tolerance="1D").score(step, times)
    assert res.onset is not None
    assert times[3000] <= res.onset <= times[3000] + pd.Timedelta("12h")
    assert {"adwin", "page_hinkley", "ddm"} <= {d["detector"] for d in res.detections}
    alarms = sum(bool(OnsetDetector(tolerance="1D").score((rng.random(6000) < 0.2).astype(float),
                                                          times).change_points) for _ in range(20))
    assert alarms <= 1  # measured: 2 false change points in 200 such streams


def test_onset_is_the_first_rise_after_the_last_recovery():
    t = pd.Timestamp("2024-01-01", tz="UTC")
    pts = [{"timestamp": t, "direction": "up"}, {"timestamp": t + pd.Timedelta("2D"), "direction": "down"},
           {"timestamp": t + pd.Timedelta("5D"), "direction": "up"},
           {"timestamp": t + pd.Timedelta("6D"), "direction": "up"}]
    assert _current_onset(pts) == t + pd.Timedelta("5D")
    assert _current_onset(pts[:2]) is None


def test_bad_detector_and_tolerance_are_config_errors():
    with pytest.raises(ConfigError, match="concept.detectors"):
        OnsetDetector(["adwin", "cusum"])
    with pytest.raises(ConfigError, match="concept.onset_tolerance"):
        OnsetDetector(tolerance="soon")


def test_vectorised_covariate_ks_equals_scipy_asymp():
    """CovariateShiftCheck runs a KS test per feature per timeline window: on a 1,500-column table that
    was scipy.stats.ks_2samp 150,000 times. The vectorised form must give scipy's p-values."""
    from scipy import stats

    from driftlib.concept.shift import ks_asymp_pvalues

    rng = np.random.default_rng(11)
    ref = [rng.normal(size=800), rng.integers(0, 4, 500).astype(float), rng.normal(size=30), np.array([])]
    cur = np.full((120, 4), np.nan)
    cur[:, 0] = rng.normal(0.3, 1, 120)
    cur[:100, 1] = rng.integers(0, 5, 100)  # ties, NaN tail
    cur[:7, 2] = rng.normal(size=7)
    cur[:, 3] = rng.normal(size=120)  # the reference side is empty
    got = ks_asymp_pvalues([np.sort(r) for r in ref], cur)
    for j in range(3):
        b = cur[:, j][~np.isnan(cur[:, j])]
        assert got[j] == pytest.approx(stats.ks_2samp(ref[j], b, method="asymp").pvalue, rel=1e-12, abs=1e-300)
    assert got[3] == 1.0


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_wide_tables_model_p_y_given_x_on_the_features_that_carry_the_target(task):
    """A concept test per timeline window on 1,500 columns took minutes: the screen keeps the
    max_features features most associated with the target, and keeps narrow tables whole."""
    from driftlib.concept.shift import screen_features

    rng = np.random.default_rng(4)
    n = 1500
    X = pd.DataFrame(rng.normal(size=(n, 120)), columns=[f"x{i:03d}" for i in range(120)])
    X["seg"] = rng.choice(["a", "b", "c"], n)
    X["noise_cat"] = rng.choice(["u", "v"], n)
    signal = X["x007"] - X["x100"] + 1.5 * (X["seg"] == "a")
    y = (signal + rng.normal(scale=0.5, size=n) > 0).astype(int) if task == "classification" else signal
    numeric = [c for c in X.columns if c.startswith("x")]
    num, cat = screen_features(X, y, numeric, ["seg", "noise_cat"], task, max_features=10)
    assert {"x007", "x100"} <= set(num) and cat == ["seg"] and len(num) + len(cat) == 10
    assert num == sorted(num)  # original order kept
    assert screen_features(X, y, numeric[:5], ["seg"], task, max_features=10) == (numeric[:5], ["seg"])
