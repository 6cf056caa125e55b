"""`driftlib models ...` end to end through typer's runner."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftlib.cli.models import app
from driftlib.models.registry import Registry

runner = CliRunner()


@pytest.fixture
def params_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    df = pd.DataFrame({
        "ts": pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h"),
        "x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    df["y"] = (df["x"] + rng.normal(size=n) > 0).astype(int)
    df.to_csv(tmp_path / "data.csv", index=False)
    cfg = {"name": "toy", "reference": {"path": "data.csv", "start": "2013-02-01"},
           "columns": {"timestamp": "ts", "target": "y"},
           "features": {"numeric": ["x"], "categorical": ["c"]},
           "model": {"registry": "reg", "params": {"max_iter": 20},
                     "train": {"path": "data.csv", "end": "2013-02-01"}},
           "retrain": {"min_train_rows": 100}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_list_show_promote_rollback(params_file, tmp_path):
    r = invoke("train", "--params", params_file)
    assert r.exit_code == 0, r.output
    assert "registered v0001" in r.output and "now current" in r.output
    r = invoke("train", "--params", params_file, "--no-promote")
    assert r.exit_code == 0 and "v0002" in r.output
    r = invoke("list", "--params", params_file)
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[1].startswith("* v0001") and lines[2].startswith("  v0002")
    rows = json.loads(invoke("list", "--params", params_file, "--json").output)
    assert [x["current"] for x in rows] == [True, False]
    card = json.loads(invoke("show", "v0002", "--params", params_file).output)
    assert card["version"] == "v0002" and len(card["sha256"]) == 64 and card["current"] is False
    r = invoke("promote", "v0002", "--params", params_file, "--reason", "try it")
    assert r.exit_code == 0 and "current model: v0002 (was v0001)" in r.output
    r = invoke("rollback", "--params", params_file)
    assert r.exit_code == 0 and "current model: v0001" in r.output
    assert Registry(tmp_path / "reg").current_version() == "v0001"
    hist = json.loads(invoke("history", "--params", params_file, "--json").output)
    assert [h["action"] for h in hist] == ["promote", "promote", "rollback"]
    assert hist[1]["reason"] == "try it"


def test_user_errors_are_one_line_with_exit_code(params_file, tmp_path):
    invoke("train", "--params", params_file)
    r = invoke("show", "v0042", "--params", params_file)
    assert r.exit_code == 2 and "not registered" in r.output and "Traceback" not in r.output
    r = invoke("rollback", "--params", params_file)
    assert r.exit_code == 1 and "no previous" in r.output
    artifact = tmp_path / "reg" / "v0001" / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:-1] + b"\x01")
    r = invoke("promote", "v0001", "--params", params_file)
    assert r.exit_code == 1 and "sha256" in r.output
    r = invoke("list", "--params", tmp_path / "missing.yaml")
    assert r.exit_code == 2 and "params file not found" in r.output


def test_register_imports_a_joblib_model(params_file, tmp_path):
    import joblib

    from driftlib.models.training import build_estimator

    df = pd.read_csv(tmp_path / "data.csv")
    model = build_estimator("logistic_regression", ["x"], ["c"]).fit(df[["x", "c"]], df["y"])
    joblib.dump(model, tmp_path / "mine.joblib")
    r = invoke("register", tmp_path / "mine.joblib", "--params", params_file, "--promote")
    assert r.exit_code == 0, r.output
    assert "registered v0001" in r.output and "reference_roc_auc" in r.output
    r = invoke("register", tmp_path / "nope.joblib", "--params", params_file)
    assert r.exit_code == 2 and "no such file" in r.output


def _rewrite(path, edit):
    cfg = yaml.safe_load(path.read_text())
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg))


def test_string_labels_train_with_positive_label_and_refuse_in_one_line_without(params_file, tmp_path):
    df = pd.read_csv(tmp_path / "data.csv")
    df["y"] = np.where(df["y"] == 1, "successful", "unsuccessful")
    df.to_csv(tmp_path / "data.csv", index=False)
    r = invoke("train", "--params", params_file)  # was: ValueError: invalid literal for int() ... exit 1
    assert r.exit_code == 2 and "columns.positive_label" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    _rewrite(params_file, lambda c: c["columns"].update(positive_label="successful"))
    r = invoke("train", "--params", params_file)
    assert r.exit_code == 0, r.output
    card = Registry(tmp_path / "reg").card("v0001")
    assert card["classes"] == ["successful", "unsuccessful"] and card["positive_label"] == "successful"


def test_classification_metric_on_regression_is_a_one_line_config_error(params_file):
    _rewrite(params_file, lambda c: c.update(task="regression"))
    _rewrite(params_file, lambda c: c["retrain"].update(metric="roc_auc"))
    r = invoke("train", "--params", params_file)
    assert r.exit_code == 2 and "field 'retrain.metric'" in r.output and "Traceback" not in r.output


def test_too_few_rows_name_the_setting(params_file):
    _rewrite(params_file, lambda c: c["retrain"].update(min_train_rows=5000))
    r = invoke("train", "--params", params_file)
    assert r.exit_code == 2 and "set retrain.min_train_rows <= 744" in r.output, r.output
