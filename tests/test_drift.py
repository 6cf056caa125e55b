"""DriftDetector: fit once, score frames and windows; honest statuses for missing or thin data."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftlib.config import parse_params
from driftlib.drift.detector import INSUFFICIENT, DriftDetector, parse_window
from driftlib.core.errors import ConfigError, InputError


def frame(rng, n, shift=0.0, cats="abc"):
    return pd.DataFrame({
        "x": rng.normal(shift, 1, n),
        "y": rng.normal(0, 1, n),
        "k": rng.integers(0, 3, n),
        "city": rng.choice(list(cats), n).astype(object),
    })


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def fitted(rng):
    return DriftDetector(numeric=["x", "y", "k"], categorical=["city"]).fit(frame(rng, 3000))


def test_score_flags_the_shifted_column_only(fitted, rng):
    res = fitted.score(frame(rng, 2000, shift=0.5))
    t = res.table.set_index("column")
    assert t.loc["x", "drifted"] and not t.loc["y", "drifted"] and not t.loc["city", "drifted"]
    assert t.loc["x", "method"] == "Wasserstein distance (normed)"
    assert t.loc["city", "method"] == "Jensen-Shannon distance"
    assert res.drifted_columns == ["x"] and res.share_drifted == pytest.approx(0.25)
    assert res.dataset_drift is False
    assert list(t["n_cur"]) == [2000] * 4 and list(t["n_ref"]) == [3000] * 4


def test_to_dict_is_the_cli_json_shape(fitted, rng):
    d = fitted.score(frame(rng, 500, shift=1.0)).to_dict()
    assert list(d)[:3] == ["columns", "share_drifted", "dataset_drift"]  # the contract; more keys after
    assert all(list(c)[:5] == ["column", "method", "score", "threshold", "drifted"] for c in d["columns"])
    assert {c["status"] for c in d["columns"]} == {"ok"} and d["untestable"] == [] and d["verdict"] == "no drift"
    json.dumps(d, allow_nan=False)


def test_dataset_drift_uses_share_at_or_above_drift_share(rng):
    ref = frame(rng, 2000)
    cur = frame(rng, 2000, shift=1.0, cats="abd")  # x and city drift: 2 of 4
    assert DriftDetector(numeric=["x", "y", "k"], categorical=["city"], drift_share=0.5).fit(ref).score(cur).dataset_drift
    assert not DriftDetector(numeric=["x", "y", "k"], categorical=["city"], drift_share=0.6).fit(ref).score(cur).dataset_drift


def test_overrides_set_method_and_threshold(rng):
    det = DriftDetector(numeric=["x", "y", "k"], categorical=["city"],
                        columns={"x": {"method": "psi", "threshold": 5.0}, "city": {"method": "chisquare"}})
    t = det.fit(frame(rng, 3000)).score(frame(rng, 2000, shift=0.5)).table.set_index("column")
    assert t.loc["x", "stattest"] == "psi" and t.loc["x", "threshold"] == 5.0 and not t.loc["x", "drifted"]
    assert t.loc["city", "method"] == "chi-square p_value" and t.loc["city", "threshold"] == 0.05


@pytest.mark.parametrize("columns,match", [
    ({"nope": {"method": "ks"}}, "drift.columns: not a monitored column: nope"),
    ({"city": {"method": "ks"}}, "drift.columns.city.method: stat test 'ks' does not apply"),
    ({"x": {"method": "wasserstein2"}}, "unknown stat test 'wasserstein2'"),
    ({"x": {"threshold": -1}}, "drift.columns.x.threshold"),
])
def test_bad_overrides_are_config_errors(rng, columns, match):
    with pytest.raises(ConfigError, match=match):
        DriftDetector(numeric=["x"], categorical=["city"], columns=columns).fit(frame(rng, 100))


def test_missing_and_retyped_columns_are_reported_not_counted(fitted, rng):
    cur = frame(rng, 800, shift=1.0).drop(columns=["y"]).assign(k=lambda d: d["k"].map(str))
    res = fitted.score(cur)
    status = res.table.set_index("column")["status"]
    assert status["y"] == "missing column" and status["k"] == "type changed"
    assert res.share_drifted == pytest.approx(1 / 2)  # x drifted, city not; y and k untested
    assert res.untestable == ["y", "k"] and res.dataset_drift is True
    assert res.headline.endswith("; not testable: y (missing column), k (type changed).")


def test_too_few_rows_is_insufficient_data_never_no_drift(rng):
    det = DriftDetector(numeric=["x", "y", "k"], categorical=["city"], min_rows=100).fit(frame(rng, 2000))
    res = det.score(frame(rng, 50, shift=3.0))
    assert set(res.table["status"]) == {INSUFFICIENT}
    assert res.table["drifted"].isna().all()
    assert res.share_drifted is None and res.dataset_drift is None and res.status == INSUFFICIENT
    assert res.to_dict()["dataset_drift"] is None


def test_a_column_with_too_few_values_is_insufficient(rng):
    det = DriftDetector(numeric=["x", "y"], min_rows=100).fit(frame(rng, 2000))
    cur = frame(rng, 500)
    cur.loc[cur.index[50:], "y"] = np.nan
    status = det.score(cur).table.set_index("column")["status"]
    assert status["x"] == "ok" and status["y"] == INSUFFICIENT


def test_nan_and_inf_are_dropped_before_testing(rng):
    det = DriftDetector(numeric=["x"]).fit(frame(rng, 1500))
    cur = frame(rng, 1000)
    cur.loc[:99, "x"] = np.nan
    cur.loc[100:109, "x"] = np.inf
    row = det.score(cur).table.iloc[0]
    assert row["n_cur"] == 890 and row["status"] == "ok"


def test_fit_keeps_what_it_needs_so_the_reference_can_change(rng):
    ref, cur = frame(rng, 1500), frame(rng, 900, shift=0.3)
    det = DriftDetector(numeric=["x", "y", "k"], categorical=["city"]).fit(ref)
    before = det.score(cur).table
    ref.loc[:, "x"] = 99.0
    ref.loc[:, "city"] = "zzz"
    pd.testing.assert_frame_equal(det.score(cur).table, before)


def test_threads_give_the_same_answer(rng):
    ref, cur = frame(rng, 5000), frame(rng, 4000, shift=0.2)
    one = DriftDetector(numeric=["x", "y", "k"], categorical=["city"], n_jobs=1).fit(ref).score(cur)
    many = DriftDetector(numeric=["x", "y", "k"], categorical=["city"], n_jobs=4).fit(ref).score(cur)
    pd.testing.assert_frame_equal(one.table, many.table)


def test_infers_types_when_not_given(rng):
    ref = frame(rng, 200).assign(ts=pd.Timestamp("2024-01-01"), flag=True, n=rng.integers(0, 50, 200))
    det = DriftDetector(exclude=["y"]).fit(ref)
    kinds = det.score(ref).table.set_index("column")["kind"].to_dict()
    # k: int dtype with 3 values, which Evidently's own inference types categorical; n: 50 values
    assert kinds == {"x": "numeric", "k": "categorical", "n": "numeric", "city": "categorical",
                     "flag": "categorical"}


def test_empty_reference_column_is_flagged(rng):
    ref = frame(rng, 300).assign(y=np.nan)
    res = DriftDetector(numeric=["x", "y"]).fit(ref).score(frame(rng, 300))
    assert res.table.set_index("column").loc["y", "status"] == "no reference data"


# -- windows --------------------------------------------------------------------------------------
def timeline(rng, days=10, per_day=400, drift_from=6):
    parts = []
    for d in range(days):
        f = frame(rng, per_day, shift=0.8 if d >= drift_from else 0.0)
        f["ts"] = pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(days=d) + pd.to_timedelta(
            np.sort(rng.integers(0, 86_400, per_day)), unit="s")
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


def test_daily_windows_find_when_drift_began(fitted, rng):
    log = timeline(rng, per_day=2000)  # small windows make Wasserstein noisy (Evidently's threshold)
    win = fitted.score_windows(log, timestamp="ts", window="1D", min_rows=100)
    assert len(win.windows) == 10 and win.windows["n_rows"].sum() == len(log)
    first = win.first_drift()
    assert first["x"] == pd.Timestamp("2024-03-07", tz="UTC")
    assert first["y"] is None
    assert set(win.table.columns) >= {"window", "start", "end", "column", "method", "score", "drifted", "n_rows"}
    assert len(win.table) == 10 * 4
    json.dumps(win.to_dict(), allow_nan=False)


def test_window_span_with_empty_or_thin_days_is_insufficient(fitted, rng):
    log = timeline(rng, days=4)
    log = log[~((log["ts"] >= "2024-03-03") & (log["ts"] < "2024-03-03 21:00"))]  # day 3: ~50 rows left
    win = fitted.score_windows(log, timestamp="ts", window="1D", min_rows=100,
                               start="2024-02-28", end="2024-03-06")
    w = win.windows.set_index("start")["status"]
    assert len(w) == 7
    assert w[pd.Timestamp("2024-02-28", tz="UTC")] == INSUFFICIENT  # no rows at all
    assert w[pd.Timestamp("2024-03-03", tz="UTC")] == INSUFFICIENT
    assert w[pd.Timestamp("2024-03-02", tz="UTC")] == "ok"
    assert win.to_dict()["n_insufficient"] == 4
    assert win.pivot("drifted").loc[pd.Timestamp("2024-03-03", tz="UTC")].isna().all()


def test_unsorted_input_gives_the_same_windows(fitted, rng):
    log = timeline(rng, days=5)
    shuffled = log.sample(frac=1.0, random_state=1)
    a = fitted.score_windows(log, timestamp="ts", window="1D").table
    b = fitted.score_windows(shuffled, timestamp="ts", window="1D").table
    pd.testing.assert_frame_equal(a, b)


def test_one_window_equals_score(fitted, rng):
    log = timeline(rng, days=3)
    win = fitted.score_windows(log, timestamp="ts", window="30D")
    assert len(win.results) == 1
    pd.testing.assert_frame_equal(win.results[0].table, fitted.score(log).table)


def test_row_count_windows(fitted, rng):
    log = timeline(rng, days=3, per_day=350)
    win = fitted.score_windows(log, timestamp="ts", window="500", min_rows=200)
    assert list(win.windows["n_rows"]) == [500, 500, 50]
    assert list(win.windows["status"]) == ["ok", "ok", INSUFFICIENT]


def test_weekly_windows_follow_the_given_start(fitted, rng):
    log = timeline(rng, days=14, per_day=100)
    win = fitted.score_windows(log, timestamp="ts", window="7D", start="2024-03-01", end="2024-03-15")
    assert list(win.windows["start"].dt.day) == [1, 8] and list(win.windows["n_rows"]) == [700, 700]


@pytest.mark.parametrize("window", ["1X", "0", "fortnight"])
def test_bad_window_is_a_config_error(window):
    with pytest.raises(ConfigError, match="drift.window"):
        parse_window(window)


def test_time_windows_need_a_timestamp_column(fitted, rng):
    with pytest.raises(InputError, match="timestamp: no column 'when'"):
        fitted.score_windows(frame(rng, 10), timestamp="when")


def test_from_params_reads_features_drift_and_outputs(tmp_path, rng):
    params = parse_params({
        "name": "m", "reference": {"path": "ref.csv"}, "columns": {"timestamp": "ts"},
        "features": {"numeric": ["x", "y"], "categorical": ["city"]},
        "drift": {"drift_share": 0.3, "min_rows": 50, "columns": {"y": {"method": "ks"}}},
    })
    det = DriftDetector.from_params(params)
    ref = frame(rng, 2000).assign(prediction=rng.integers(0, 2, 2000), probability=rng.random(2000))
    cur = frame(rng, 1000).assign(prediction=rng.binomial(1, 0.8, 1000), probability=rng.random(1000) ** 3)
    res = det.fit(ref).score(cur)
    assert det.drift_share == 0.3 and det.min_rows == 50
    assert res.table.set_index("column").loc["y", "stattest"] == "ks"
    assert set(res.prediction_drift) == {"prediction", "probability"}
    assert res.prediction_drift["prediction"]["drifted"] and res.prediction_drift["probability"]["drifted"]
    assert [c["column"] for c in res.to_dict()["columns"]] == ["x", "y", "city"]  # outputs not counted
    assert det.fit(frame(rng, 300)).skipped_ == ["prediction", "probability"]


def test_html_repr_has_the_headline(fitted, rng):
    res = fitted.score(frame(rng, 1000, shift=2.0))
    assert "1 of 4 features drifted (x)" in res._repr_html_()
    assert "<table" in fitted.score_windows(timeline(rng, days=2), timestamp="ts")._repr_html_()


def test_headline_says_why_nothing_was_tested(fitted, rng):
    res = fitted.score(pd.DataFrame({"other": rng.normal(size=500)}))
    assert res.headline == ("No feature could be tested: x (missing column), y (missing column), "
                            "k (missing column), city (missing column).")
    assert res.dataset_drift is None


def test_inferred_int_columns_are_typed_per_window_as_evidently_types_them(rng):
    """Evidently types an unlabelled int column categorical when the scored frame holds <= 10 values."""
    ref = pd.DataFrame({"n": rng.integers(0, 8, 3000), "m": rng.integers(0, 40, 3000)})
    log = pd.concat([pd.DataFrame({"n": rng.integers(0, 8, 1500), "m": rng.integers(0, 9, 1500)}),
                     pd.DataFrame({"n": rng.integers(0, 14, 1500), "m": rng.integers(0, 40, 1500)})],
                    ignore_index=True)
    win = DriftDetector().fit(ref).score_windows(log, window=1500)
    kinds = win.table.pivot(index="window", columns="column", values="kind")
    assert kinds.to_dict("list") == {"m": ["categorical", "numeric"], "n": ["categorical", "numeric"]}
    assert set(win.table["method"]) == {"Jensen-Shannon distance", "Wasserstein distance (normed)"}
    explicit = DriftDetector(numeric=["n", "m"]).fit(ref).score(log.head(1500)).table
    assert set(explicit["kind"]) == {"numeric"}  # given lists are used as given, as a DataDefinition
    assert set(DriftDetector(numeric=["n", "m"], auto=["n"]).fit(ref).score(log.head(1500)).table["kind"]) == {
        "numeric", "categorical"}
    with pytest.raises(ConfigError, match="auto: column"):
        DriftDetector(numeric=["m"], categorical=["n"], auto=["n"]).fit(ref)
