"""Shared fixtures: small, self-contained projects in tmp_path built from the bundled demo data."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "driftlib" / "demo" / "flights2013.parquet"
FEATURES = {"numeric": ["dep_hour", "distance", "temp", "humid", "wind_speed", "visib"],
            "categorical": ["carrier", "origin"]}


def write_params(folder: Path, **overrides) -> Path:
    data = {
        "name": "flights-slice", "root": ".", "task": "classification",
        "reference": {"path": "data/flights.parquet", "start": "2013-03-01", "end": "2013-03-08"},
        "production": {"source": "table", "path": "data/production.parquet"},
        "columns": {"timestamp": "scheduled_departure", "target": "late", "id": "flight_id",
                    "label_timestamp": "label_timestamp"},
        "features": FEATURES,
        "model": {"registry": "models", "estimator": "hist_gradient_boosting",
                  "params": {"max_iter": 30, "random_state": 0},
                  "train": {"path": "data/flights.parquet", "start": "2013-01-01", "end": "2013-01-15"}},
        "drift": {"min_rows": 50, "window": "7D"},
        "concept": {"window": "7D", "min_labels": 100, "n_bootstrap": 50},
        "retrain": {"window_days": 28, "holdout_days": 7, "slice_columns": ["origin"]},
        "monitoring": {"textfile_dir": "metrics", "evidently_workspace": "evidently"},
        "run": {"outputs": "outputs", "state_dir": "state", "lookback_days": 14,
                "notebooks": str(ROOT / "driftlib" / "notebooks"), "notebook_timeout_s": 300},
    }
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def flights() -> pd.DataFrame:
    return pd.read_parquet(DEMO_DATA)


@pytest.fixture
def slice_project(tmp_path, flights) -> Path:
    """A tiny monitored model: Jan training, a March week of reference, April as a production table."""
    data = tmp_path / "data"
    data.mkdir()
    ts = flights["scheduled_departure"]
    keep = (ts < "2013-03-08") & ((ts < "2013-01-15") | (ts >= "2013-03-01"))
    flights.loc[keep].to_parquet(data / "flights.parquet")
    prod = flights[(ts >= "2013-04-01") & (ts < "2013-05-01")].sample(frac=0.25, random_state=0)
    prod = prod.sort_values("scheduled_departure").assign(
        label_timestamp=lambda d: d["scheduled_departure"] + pd.Timedelta(days=3))
    prod.to_parquet(data / "production.parquet")
    return write_params(tmp_path)


def train_model(params_path: Path) -> str:
    from driftlib.config import load_params
    from driftlib.models.training import train_initial

    return train_initial(load_params(params_path))


@pytest.fixture
def notebooks_copy(tmp_path) -> Path:
    dest = tmp_path / "notebooks"
    shutil.copytree(ROOT / "driftlib" / "notebooks", dest)
    return dest
