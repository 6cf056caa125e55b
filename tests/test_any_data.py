"""A user's own table, from a folder of their own, with the package installed from a wheel.

Two synthetic worlds unlike the demo: a small daily table whose label recording changes so that later
windows hold one class, and a wide yearly table where nothing changes (the false-alarm control).
`driftlib init` writes the params, then `models train` and `driftlib run` go through several dates.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The package built as a wheel and installed into its own folder (not the editable checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(work.glob("driftlib-*.whl"))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    assert (target / "driftlib" / "notebooks" / "02_data_drift.ipynb").is_file(), "notebooks not in the wheel"
    env = {**os.environ, "PYTHONPATH": str(target)}  # ahead of the editable checkout on sys.path
    return env


def driftlib(env, cwd: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "driftlib.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc


def test_installed_package_is_the_one_running(installed, tmp_path):
    out = subprocess.run([sys.executable, "-c", "import driftlib; print(driftlib.__file__)"], cwd=tmp_path,
                         env=installed, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in out


def daily_world(path: Path, n_days: int = 250, per_day: int = 2, change_day: int = 150, seed: int = 1) -> Path:
    """~500 rows, one or two a day; from `change_day` on, every label is recorded as 'no'."""
    rng = np.random.default_rng(seed)
    n = n_days * per_day
    day = np.repeat(np.arange(n_days), per_day)
    t = pd.Timestamp("2021-01-01", tz="UTC") + pd.to_timedelta(day, "D") + pd.to_timedelta(rng.integers(0, 86400, n), "s")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    region = rng.choice(["north", "south", "east"], n)
    p = 1 / (1 + np.exp(-(1.5 * x1 - x2)))
    y = (rng.random(n) < p).astype(int)
    y[day >= change_day] = 0  # the label definition changed: one class from here on
    df = pd.DataFrame({"event_date": t.strftime("%Y-%m-%d %H:%M:%S"), "x1": x1, "x2": x2, "region": region,
                       "outcome": np.where(y == 1, "yes", "no")})
    df.to_csv(path, index=False)
    return path


def yearly_world(path: Path, years: int = 30, per_year: int = 200, n_cols: int = 60, seed: int = 2) -> Path:
    """A wide table, one time step a year, nothing changing: the control."""
    rng = np.random.default_rng(seed)
    n = years * per_year
    X = rng.normal(size=(n, n_cols))
    df = pd.DataFrame(X, columns=[f"f{i:02d}" for i in range(n_cols)])
    df.insert(0, "year", np.repeat(np.arange(1990, 1990 + years), per_year))
    logit = X[:, 0] - 0.8 * X[:, 1] + 0.5 * X[:, 2]
    df["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df.to_parquet(path, index=False)
    return path


def run_dates(env, home: Path, params: Path, dates: list[str]) -> list[dict]:
    summaries = []
    for date in dates:
        proc = driftlib(env, home, "run", "--params", str(params), "--date", date)
        assert proc.returncode == 0, f"{date}: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        outputs = yaml.safe_load(params.read_text())["run"]["outputs"]
        summaries.append(json.loads((params.parent / outputs / date / "summary.json").read_text()))
    return summaries


def results(summary: dict) -> dict[str, dict]:
    return {nb["name"]: nb["result"] or {} for nb in summary["notebooks"]}


def test_daily_table_whose_labels_become_one_class(installed, tmp_path):
    home = tmp_path / "my-project"  # the user's folder, outside the checkout
    home.mkdir()
    data = daily_world(home / "signups.csv")
    proc = driftlib(installed, home, "init", "--data", str(data), "--target", "outcome")
    assert proc.returncode == 0, proc.stderr
    assert "driftlib models train --params" in proc.stdout and "driftlib run --params" in proc.stdout
    params = home / "params.yaml"
    p = yaml.safe_load(params.read_text())
    assert p["task"] == "classification" and p["columns"]["timestamp"] == "event_date"
    assert set(p["features"]["numeric"]) == {"x1", "x2"} and p["features"]["categorical"] == ["region"]
    proc = driftlib(installed, home, "models", "train", "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    summaries = run_dates(installed, home, params, ["2021-08-20"])
    last = results(summaries[-1])
    assert all(nb["status"] == "success" for s in summaries for nb in s["notebooks"]), summaries[-1]
    concept = last["03_concept_drift"]
    text = json.dumps(concept).lower()
    assert "one class" in text or concept["verdict"] in ("concept drift", "both") or concept["degraded"], concept["headline"]
    assert last["04_retraining"]["decision"] in ("promoted", "rejected", "skipped")
    assert last["04_retraining"]["triggers"], "a one-class change must call for retraining"


def test_wide_yearly_control_raises_no_false_alarm(installed, tmp_path):
    home = tmp_path / "survey"
    home.mkdir()
    data = yearly_world(home / "survey.parquet")
    proc = driftlib(installed, home, "init", "--data", str(data))
    assert proc.returncode == 0, proc.stderr
    params = home / "params.yaml"
    p = yaml.safe_load(params.read_text())
    assert p["columns"]["timestamp"] == "year" and p["columns"]["target"] == "target"
    assert len(p["features"]["numeric"]) == 60 and p["drift"]["window"] in ("365D", "730D")
    proc = driftlib(installed, home, "models", "train", "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    run_date = (pd.Timestamp(p["reference"]["end"]) + pd.Timedelta(days=p["run"]["lookback_days"])).date().isoformat()
    summaries = run_dates(installed, home, params, [run_date])
    r = results(summaries[0])
    assert all(nb["status"] == "success" for nb in summaries[0]["notebooks"]), summaries[0]
    assert r["02_data_drift"]["dataset_drift"] is False, r["02_data_drift"]["headline"]
    assert r["03_concept_drift"]["verdict"] not in ("concept drift", "both"), r["03_concept_drift"]["headline"]
    assert not r["03_concept_drift"]["degraded"], r["03_concept_drift"]["headline"]


def regression_world(path: Path, n_days: int = 200, per_day: int = 30, seed: int = 3) -> Path:
    """A daily regression table (a price from size, age and district); from day 140 on, the new district
    'harbour' appears with noisier prices: covariate shift towards a region the model knows less."""
    rng = np.random.default_rng(seed)
    n = n_days * per_day
    day = np.repeat(np.arange(n_days), per_day)
    t = pd.Timestamp("2022-01-01", tz="UTC") + pd.to_timedelta(day, "D")
    late = day >= 140
    district = np.where(late & (rng.random(n) < 0.5), "harbour", rng.choice(["centre", "north"], n))
    size = rng.gamma(4, 20, n)
    age = rng.integers(0, 80, n)
    noise = np.where(district == "harbour", 40.0, 10.0)
    price = 2.0 * size - 0.5 * age + np.where(district == "centre", 50, 0) + rng.normal(0, noise)
    pd.DataFrame({"sold_at": t.strftime("%Y-%m-%d"), "size": size, "age": age, "district": district,
                  "price": price}).to_csv(path, index=False)
    return path


def test_regression_model_runs_through_all_four_notebooks(installed, tmp_path):
    home = tmp_path / "houses"
    home.mkdir()
    data = regression_world(home / "houses.csv")
    proc = driftlib(installed, home, "init", "--data", str(data), "--target", "price")
    assert proc.returncode == 0, proc.stderr
    params = home / "params.yaml"
    p = yaml.safe_load(params.read_text())
    assert p["task"] == "regression" and p["retrain"]["metric"] == "mae" and p["concept"]["metric"] == "mae"
    proc = driftlib(installed, home, "models", "train", "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    r = results(run_dates(installed, home, params, ["2022-07-10"])[0])
    assert set(r) == {"01_reference_capture", "02_data_drift", "03_concept_drift", "04_retraining"}
    concept = r["03_concept_drift"]
    assert concept["metric"] == "mae"
    dle = concept.get("estimated_regression_error") or {}
    assert dle.get("estimated", {}).get("mae", {}).get("value") is not None, concept.get("headline")
    assert r["04_retraining"]["decision"] in ("promoted", "rejected", "skipped")


def wide_world(path: Path, n_num: int = 400, n_cat: int = 20, n: int = 4000, seed: int = 7) -> Path:
    """Applications over two years, ~5 a day, `n_num + n_cat` columns; from the last quarter on, ten
    features drift and the success rate falls (the intercept of P(y|x) moves)."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2019-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 730, n)), "D")
    late = np.asarray(t >= pd.Timestamp("2020-10-01"))
    X = rng.normal(size=(n, n_num))
    X[late, :10] += 0.8
    df = pd.DataFrame(X, columns=[f"f{i:04d}" for i in range(n_num)])
    for j in range(n_cat):
        df[f"c{j:02d}"] = rng.choice(list("abcde"), n)
    logit = X[:, 0] - 0.7 * X[:, 1] + 0.5 * X[:, 30] - np.where(late, 1.0, 0.0)
    df.insert(0, "applied_at", t.strftime("%Y-%m-%d"))
    df["funded"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df.to_parquet(path, index=False)
    return path


def test_wide_table_completes_with_reports_that_stay_readable(installed, tmp_path):
    """Issue 12: a 1,500-column table ran ~1,000 s and failed (a million pair slices, a concept test on
    every column of every window). Here 420 columns through the installed package: every notebook
    completes, plots and lists show the top features, the full table is a file."""
    home = tmp_path / "applications"
    home.mkdir()
    data = wide_world(home / "applications.parquet")
    assert driftlib(installed, home, "init", "--data", str(data), "--target", "funded").returncode == 0
    params = home / "params.yaml"
    proc = driftlib(installed, home, "models", "train", "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    summary = run_dates(installed, home, params, ["2020-12-15"])[0]
    assert all(nb["status"] == "success" for nb in summary["notebooks"]), summary["notebooks"]
    r = results(summary)
    drift = r["02_data_drift"]
    assert {f"f{i:04d}" for i in range(10)} <= set(drift["drifted_columns"]), drift["headline"]
    out = params.parent / yaml.safe_load(params.read_text())["run"]["outputs"] / "2020-12-15"
    table = pd.read_csv(out / "02_drift_table.csv")
    assert (table["role"] == "feature").sum() == 420  # every feature on disk
    html = (out / "02_data_drift.html").read_text()
    assert html.count("first drifted in the window") <= 10  # the earliest only, the rest counted
    concept = r["03_concept_drift"]
    tests = [w["concept_test"]["tests"]["features"] for w in concept["windows"]
             if (w.get("concept_test") or {}).get("tests", {}).get("features")]
    assert tests and all(t["n_features"] == 50 and t["n_features_total"] == 420 for t in tests)
    slices = concept.get("degraded_slices") or {}
    assert slices.get("note") is None or "max_features" in slices["note"]
    assert r["04_retraining"]["decision"] in ("promoted", "rejected", "skipped")
