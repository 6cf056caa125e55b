"""`driftlib init`: the params it writes validate as written and follow the data's size and cadence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftlib.cli import app
from driftlib.config import load_params
from driftlib.workbench import scaffold
from tests.test_any_data import daily_world, yearly_world


def test_daily_small_table(tmp_path):
    data = daily_world(tmp_path / "d.csv")
    p = scaffold.plan(data, target="outcome")
    assert (p.timestamp, p.task, p.positive_label) == ("event_date", "classification", "yes")
    assert p.window == "30D" and p.min_rows < 100  # ~60 rows a month: windows must hold enough rows
    out = tmp_path / "params.yaml"
    out.write_text(scaffold.render(p, out))
    params = load_params(out)
    assert params.drift.window == "30D" and params.concept.min_labels <= p.rows_per_window
    assert params.retrain.min_train_rows <= 0.4 * p.n_rows


def test_yearly_wide_table(tmp_path):
    data = yearly_world(tmp_path / "y.parquet", n_cols=20)
    p = scaffold.plan(data)
    assert p.timestamp == "year" and p.target == "target" and len(p.numeric) == 20
    assert p.cadence_days > 360 and p.window == "365D"
    assert p.holdout_days >= 365 and p.retrain_window_days >= 3 * 365  # coarse time still yields both
    out = tmp_path / "params.yaml"
    out.write_text(scaffold.render(p, out))
    assert load_params(out).reference.start < load_params(out).reference.end


def test_cli_writes_params_and_prints_the_next_commands(tmp_path):
    data = daily_world(tmp_path / "d.csv")
    out = tmp_path / "p" / "params.yaml"
    res = CliRunner().invoke(app, ["init", "--data", str(data), "--target", "outcome", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"driftlib models train --params {out}" in res.output and "driftlib run --params" in res.output
    again = CliRunner().invoke(app, ["init", "--data", str(data), "--target", "outcome", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize("frame,flag,message", [
    (pd.DataFrame({"when": ["2024-01-01", "2024-01-02"], "x": [1, 2]}), [], "--target"),
    (pd.DataFrame({"x": [1.0, 2.0], "target": [0, 1]}), [], "--timestamp"),
    (pd.DataFrame({"t": ["2024-01-01"] * 4, "x": [1.0] * 4, "target": ["a", "b", "c", "d"]}), [], "--positive-label"),
    (pd.DataFrame({"t": ["2024-01-01"] * 4, "x": [1.0] * 4, "target": ["a", "b", "c", "d"]}),
     ["--positive-label", "e"], "'e' is not a value of target 'target' (values: a, b, c, d)"),
    (pd.DataFrame({"t": ["2024-01-01"] * 4, "x": [1.0] * 4, "target": ["good", "bad"] * 2}), [], "--positive-label"),
    (pd.DataFrame({"t": ["2024-01-01"] * 4, "x": [1.0] * 4, "target": [1, 2, 3, 4]}), [], "--task regression"),
    (pd.DataFrame({"t": ["2024-01-01"] * 4, "x": [1.0] * 4, "target": ["a", "b"] * 2}), ["--task", "regression"],
     "--task regression: target 'target' is not numeric"),
    (pd.DataFrame({"t": ["2024-01-01"] * 4, "x": [1.0] * 4, "target": [0, 1] * 2}), ["--task", "ranking"], "--task"),
])
def test_what_cannot_be_inferred_is_asked_for_in_one_line(tmp_path, frame, flag, message):
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    res = CliRunner().invoke(app, ["init", "--data", str(data), "--out", str(tmp_path / "p.yaml"), *flag])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_retraining_minimum_fits_the_retraining_window(tmp_path):
    """~12 rows a day over two years: init wrote min_train_rows = 1000 beside a 60-day retraining window
    (~740 rows), so every retraining was refused for too few rows."""
    rng = np.random.default_rng(0)
    n = 9000
    t = pd.Timestamp("2019-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 730, n)), "D")
    df = pd.DataFrame({"applied_at": t.strftime("%Y-%m-%d"), "x": rng.normal(size=n), "funded": rng.integers(0, 2, n)})
    df.to_csv(tmp_path / "a.csv", index=False)
    p = scaffold.plan(tmp_path / "a.csv", target="funded")
    assert p.min_train_rows <= p.rows_per_day * p.retrain_window_days / 2
    assert p.min_train_rows + p.min_holdout_rows <= p.rows_per_day * (p.retrain_window_days + p.holdout_days)


def test_other_time_columns_are_not_features_and_a_later_one_is_the_label_time(tmp_path):
    """On the bikes example `counted_at` (when the count arrived) became a categorical feature and
    columns.label_timestamp stayed unset."""
    from pathlib import Path

    bikes = Path(__file__).resolve().parents[1] / "examples" / "bikes" / "bikes.csv"
    p = scaffold.plan(bikes, target="rentals")
    assert p.timestamp == "hour_start" and p.label_timestamp == "counted_at"
    assert "counted_at" not in [*p.numeric, *p.categorical] and "station" in p.categorical
    out = tmp_path / "params.yaml"
    out.write_text(scaffold.render(p, out))
    assert load_params(out).columns.label_timestamp == "counted_at"


def test_a_multiclass_target_is_monitored_one_class_against_the_rest(tmp_path):
    """Before, init refused any target with more than two classes and had no way to name the class."""
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    weather = np.where(x > 0.8, "rain", np.where(x < -0.8, "snow", np.where(rng.random(n) < 0.5, "sun", "fog")))
    frame = pd.DataFrame({"date": pd.date_range("2022-01-01", periods=n, freq="D").strftime("%Y/%m/%d"),
                          "x": x, "wind": rng.gamma(2.0, size=n), "weather": weather})
    data = tmp_path / "weather.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "params.yaml"
    res = CliRunner().invoke(app, ["init", "--data", str(data), "--target", "weather", "--positive-label", "Rain",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    params = load_params(out)
    assert params.task == "classification" and params.columns.positive_label == "rain"
    from driftlib.data.tables import encode_labels
    assert encode_labels(frame["weather"], params).sum() == (weather == "rain").sum()


def test_init_with_task_regression_reads_a_small_integer_target_as_numbers(tmp_path):
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=60, freq="D").astype(str),
                          "x": np.arange(60.0), "stars": np.arange(60) % 5 + 1})
    data = tmp_path / "reviews.csv"
    frame.to_csv(data, index=False)
    p = scaffold.plan(data, target="stars", task="regression")
    out = tmp_path / "params.yaml"
    out.write_text(scaffold.render(p, out))
    assert load_params(out).task == "regression" and p.positive_label is None
    assert "task: regression                # as given to init" in out.read_text()
    inferred = scaffold.render(scaffold.plan(data, target="x"), out)
    assert "# inferred from the target 'x'" in inferred


def test_a_small_monthly_table_gets_retraining_minimums_its_windows_can_meet(tmp_path):
    """vega_datasets' us-employment (120 monthly rows): init wrote min_train_rows = 30 and
    min_holdout_rows = 20 beside a 2-year window (24 rows) and a 6-month holdout (6 rows), so notebook 04
    refused to retrain on every run."""
    rng = np.random.default_rng(0)
    months = pd.date_range("2006-01-01", periods=120, freq="MS")
    df = pd.DataFrame({"month": months.strftime("%Y-%m-%d"), "x": rng.normal(size=120),
                       "change": rng.normal(100, 50, size=120)})
    df.to_csv(tmp_path / "m.csv", index=False)
    p = scaffold.plan(tmp_path / "m.csv", target="change")
    in_window = p.rows_per_day * p.retrain_window_days
    in_holdout = p.rows_per_day * p.holdout_days
    assert p.min_train_rows <= in_window - in_holdout and p.min_holdout_rows <= in_holdout
    out = tmp_path / "params.yaml"
    out.write_text(scaffold.render(p, out))
    assert load_params(out).retrain.min_holdout_rows == p.min_holdout_rows  # validates as written


@pytest.mark.parametrize("values,positive", [(["N", "Y"], "Y"), (["neg", "pos"], "pos"), ([0, 1], 1),
                                             (["no", "yes"], "yes"), ([False, True], True)])
def test_init_infers_the_positive_class_of_every_pair_the_label_encoder_knows(tmp_path, values, positive):
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=40, freq="D").astype(str),
                          "x": np.arange(40.0), "target": values * 20})
    frame.to_csv(tmp_path / "t.csv", index=False)
    p = scaffold.plan(tmp_path / "t.csv")
    assert p.task == "classification" and str(p.positive_label) == str(positive)
