"""Error control across features (BH with null p-values) and across runs (k of the last n)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from driftlib.config import parse_params
from driftlib.core.errors import ConfigError
from driftlib.drift.detector import DriftDetector
from driftlib.drift.error_control import (
    ScoreNull,
    drift_history,
    fdr_control,
    k_of_n_false_alarm_rate,
    permutation_null,
    persistence,
    rolling_k_of_n,
)


def normal_frame(n: int, n_features: int, rng, shift: dict[str, float] | None = None) -> pd.DataFrame:
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(n_features)})
    for col, s in (shift or {}).items():
        df[col] += s
    return df


def test_bh_matches_scipy_on_the_tests_own_p_values():
    rng = np.random.default_rng(1)
    ref = normal_frame(500, 6, rng)
    cur = normal_frame(400, 6, rng, {"x0": 0.5, "x1": 0.2})
    res = DriftDetector(numeric=list(ref.columns)).fit(ref).score(cur)  # <= 1000 rows: KS p-values
    fdr = fdr_control(res, level=0.05)
    expected = stats.false_discovery_control(res.tested["score"].to_numpy(float))
    np.testing.assert_allclose(fdr.table["p_adjusted"].to_numpy(float), expected)
    assert (fdr.table["p_source"] == "test").all()
    assert "x0" in fdr.drifted_columns
    assert set(fdr.drifted_columns) <= set(res.drifted_columns)  # BH never adds a rejection at the same level
    assert fdr.default_dataset_drift == res.dataset_drift
    json.dumps(fdr.to_dict(), allow_nan=False)
    assert "false discovery rate" in fdr._repr_html_()


def test_fdr_cuts_false_alarms_over_many_null_features():
    rng = np.random.default_rng(7)
    default_any = fdr_any = 0
    runs = 40
    for _ in range(runs):
        ref, cur = normal_frame(300, 20, rng), normal_frame(300, 20, rng)
        res = DriftDetector(numeric=list(ref.columns), drift_share=0.05).fit(ref).score(cur)
        fdr = fdr_control(res, level=0.05)
        default_any += res.n_drifted > 0
        fdr_any += bool(fdr.dataset_drift)
    assert default_any / runs > 0.4  # 20 features at 5% each: most runs flag something
    assert fdr_any / runs <= 0.15  # BH: a false alarm in about 5% of runs


def test_distance_tests_get_p_values_from_the_permutation_null():
    rng = np.random.default_rng(3)
    ref = normal_frame(3000, 3, rng)  # > 1000 rows: Wasserstein, no p-value of its own
    det = DriftDetector(numeric=list(ref.columns)).fit(ref)
    res = det.score(normal_frame(800, 3, rng, {"x2": 0.6}))
    assert set(res.tested["stattest"]) == {"wasserstein"}
    without = fdr_control(res)
    assert without.without_p == ["x0", "x1", "x2"] and without.dataset_drift is None
    null = permutation_null(det, ref, n_current=800, n_draws=99, seed=0)
    assert null.n_draws == 99 and null.methods == {c: "wasserstein" for c in ref.columns}
    again = permutation_null(det, ref, n_current=800, n_draws=99, seed=0)
    np.testing.assert_array_equal(null.scores["x0"], again.scores["x0"])  # reproducible
    fdr = fdr_control(res, null=null)
    p = fdr.table.set_index("column")["p_value"]
    assert p["x2"] == pytest.approx(1 / 100)  # beyond every null draw (BH needs < 0.05 / 3)
    assert p["x0"] > 0.05 and p["x1"] > 0.05
    assert fdr.drifted_columns == ["x2"]


def test_score_null_p_value_direction_and_method_guard():
    null = ScoreNull({"a": np.array([0.1, 0.2, 0.3, 0.4]), "b": np.array([0.01, 0.2, 0.5, 0.9])},
                     {"a": "wasserstein", "b": "ks"}, n_current=100)
    assert null.p_value("a", "wasserstein", 0.25) == pytest.approx(3 / 5)  # 0.3, 0.4 and itself
    assert null.p_value("b", "ks", 0.1) == pytest.approx(2 / 5)  # a p-value test: small is extreme
    assert np.isnan(null.p_value("a", "psi", 0.25))  # another test's null does not apply
    assert np.isnan(null.p_value("c", "wasserstein", 0.25))


def test_chisquare_own_p_values_are_not_trusted_when_a_null_is_given():
    """Regression: Evidently's chi-square gives p = 0 under no drift when a window holds a category
    the reference lacks; BH on those p-values flagged every run."""
    rng = np.random.default_rng(0)
    cats = [f"c{i}" for i in range(150)]
    weights = 1.0 / np.arange(1, 151)
    weights /= weights.sum()
    ref = pd.DataFrame({"city": rng.choice(cats, 600, p=weights)})
    cur = pd.DataFrame({"city": rng.choice(cats, 600, p=weights)})
    det = DriftDetector(categorical=["city"]).fit(ref)
    res = det.score(cur)
    assert res.tested["stattest"].iloc[0] == "chisquare" and res.tested["score"].iloc[0] < 1e-6
    assert fdr_control(res).drifted_columns == ["city"]  # the test's own p-value: a false alarm
    null = permutation_null(det, ref, n_current=600, n_draws=49, seed=1)
    assert fdr_control(res, null=null).drifted_columns == []


def test_bad_levels_and_methods_are_config_errors():
    rng = np.random.default_rng(0)
    ref = normal_frame(200, 2, rng)
    res = DriftDetector(numeric=["x0", "x1"]).fit(ref).score(ref)
    with pytest.raises(ConfigError, match="fdr_level"):
        fdr_control(res, level=1.5)
    with pytest.raises(ConfigError, match="fdr_method"):
        fdr_control(res, method="holm")


def test_persistence_counts_the_last_n_runs_with_a_verdict():
    flags = [("d1", True), ("d2", None), ("d3", False), ("d4", True), ("d5", True)]
    res = persistence(flags, k=2, n=3)
    assert [r["label"] for r in res.counted] == ["d3", "d4", "d5"]
    assert res.n_drifted == 2 and res.dataset_drift is True and res.streak == 2
    assert persistence(flags, k=3, n=3).dataset_drift is False
    assert persistence([*flags[:-1], ("d5", None)], k=1, n=3).dataset_drift is None
    assert "2 of the last 3" in res.headline
    with pytest.raises(ConfigError, match="k_of_n"):
        persistence(flags, k=4, n=3)


def test_rolling_k_of_n_and_its_false_alarm_rate():
    assert list(rolling_k_of_n([True, False, True, None, True, False], 2, 3)) == [
        False, False, True, None, True, True]
    p, k, n = 0.1, 2, 3
    assert k_of_n_false_alarm_rate(p, k, n) == pytest.approx(3 * p**2 * (1 - p) + p**3)
    rng = np.random.default_rng(0)
    seq = (rng.random(20000) < p).tolist()
    measured = np.mean(rolling_k_of_n(seq, k, n)[n - 1:].astype(bool))
    assert measured == pytest.approx(k_of_n_false_alarm_rate(p, k, n), abs=0.006)


def _summary(folder, date, drift):
    day = folder / date
    day.mkdir(parents=True)
    result = {} if drift is None else {"headline": "x", "dataset_drift": drift, "share_drifted": 0.5}
    (day / "summary.json").write_text(json.dumps(
        {"run_date": date, "status": "success", "notebooks": [{"name": "02_data_drift", "result": result}]}))


def test_history_from_summaries_agrees_with_the_alert_metric(tmp_path):
    from driftlib.monitoring.textfile import drift_streak_before

    for date, drift in [("2024-01-01", False), ("2024-01-02", True), ("2024-01-03", None),
                        ("2024-01-04", True), ("2024-01-05", True), ("2024-01-06", True)]:
        _summary(tmp_path, date, drift)
    (tmp_path / "not-a-date").mkdir()
    hist = drift_history(tmp_path, before="2024-01-06")
    assert [d for d, _ in hist] == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    assert hist[2] == ("2024-01-03", None)
    res = persistence([*hist, ("2024-01-06", True)], k=3, n=3)
    # the consecutive-runs gauge the Prometheus alert reads, from the same summaries
    assert res.streak == drift_streak_before(tmp_path, "2024-01-06") + 1 == 4
    assert res.dataset_drift is True  # k = n = 3: the alert's rule fires too (streak >= 3)


def test_params_validate_error_control():
    base = {"name": "m", "reference": {"path": "x.csv"}, "columns": {"timestamp": "ts"}}
    ok = parse_params({**base, "drift": {"error_control": {"fdr": True, "k_of_n": [2, 3]}}})
    assert ok.drift.error_control.fdr and ok.drift.error_control.k_of_n == [2, 3]
    assert parse_params(base).drift.error_control.fdr is False  # opt-in: the default verdict stays
    with pytest.raises(ConfigError, match="error_control"):
        parse_params({**base, "drift": {"error_control": {"k_of_n": [3, 2]}}})
    with pytest.raises(ConfigError, match="fdr_level"):
        parse_params({**base, "drift": {"error_control": {"fdr_level": 0}}})


def test_apply_error_control_from_params_reads_history(tmp_path):
    from driftlib.drift.error_control import apply_error_control

    rng = np.random.default_rng(2)
    ref, cur = normal_frame(2000, 4, rng), normal_frame(500, 4, rng, {"x0": 1.0, "x1": 1.0, "x2": 1.0})
    base = {"name": "m", "reference": {"path": "x.csv"}, "columns": {"timestamp": "ts"},
            "run": {"outputs": str(tmp_path)}}
    off = parse_params(base)
    det = DriftDetector(numeric=list(ref.columns)).fit(ref)
    res = det.score(cur)
    assert apply_error_control(off, det, ref, res) is None  # opt-in
    _summary(tmp_path, "2024-01-01", True)
    _summary(tmp_path, "2024-01-02", False)
    on = parse_params({**base, "drift": {"error_control": {"fdr": True, "null_draws": 99, "k_of_n": [2, 3]}}})
    ec = apply_error_control(on, det, ref, res, run_date="2024-01-03")
    assert ec.fdr.table.set_index("column").loc["x0", "p_source"] == "permutation"
    assert ec.run_dataset_drift is True and res.dataset_drift is True
    assert [r["label"] for r in ec.persistence.counted] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert ec.dataset_drift is True  # 2 of the last 3
    d = ec.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["dataset_drift"] is True and d["persistence"]["n_drifted"] == 2
