"""A tiny served model for the service, client and log tests: a real registry in tmp_path.

Models come from `driftlib.models.training.build_estimator` (importable by a server subprocess) and carry
the card fields the service relies on (`features`, `schema` from `ReferenceProfile`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from driftlib.config import Params, load_params
from driftlib.data.reference import ReferenceProfile
from driftlib.models.registry import Registry
from driftlib.models.training import build_estimator

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "driftlib" / "demo" / "flights2013.parquet"
NUMERIC = ["dep_hour", "distance", "temp", "wind_gust"]
CATEGORICAL = ["carrier", "origin"]
FEATURES = [*NUMERIC, *CATEGORICAL]


@dataclass
class World:
    root: Path
    params_path: Path
    params: Params
    registry: Registry
    rows: list[dict]  # JSON-ready feature dicts from April (wind_gust often null)

    @property
    def log_dir(self) -> Path:
        return self.params.log_dir


def train(registry: Registry, flights: pd.DataFrame, estimator: str = "logistic_regression",
          days: int = 10, promote: bool = True) -> str:
    ts = flights["scheduled_departure"]
    df = flights[ts < pd.Timestamp("2013-01-01", tz="UTC") + pd.Timedelta(days=days)]
    params = {"max_iter": 10} if estimator == "hist_gradient_boosting" else {}
    model = build_estimator(estimator, NUMERIC, CATEGORICAL, params).fit(df[FEATURES], df["late"])
    card = {"features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
            "schema": ReferenceProfile.fit(df, NUMERIC, CATEGORICAL).schema,
            "params": {"estimator": estimator}}
    version = registry.register(model, card)
    if promote:
        registry.promote(version, reason="test")
    return version


def json_rows(frame: pd.DataFrame) -> list[dict]:
    """Feature dicts as a client sends them: numerics as floats, missing values as None."""
    return [{k: None if pd.isna(v) else (float(v) if k in NUMERIC else v) for k, v in r.items()}
            for r in frame[FEATURES].to_dict("records")]


def make_world(tmp_path: Path, flights: pd.DataFrame, *, service: dict | None = None,
               model: bool = True) -> World:
    data = {"name": "svc-test", "root": str(tmp_path), "task": "classification",
            "reference": {"path": str(DATA), "start": "2013-03-01", "end": "2013-03-08"},
            "columns": {"timestamp": "scheduled_departure", "target": "late"},
            "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
            "log": {"sink": "jsonl", "dir": "logs"},
            "model": {"registry": "models"},
            "service": {"reload_interval_s": 0.1, **(service or {})}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    params = load_params(path, check_files=False)
    registry = Registry.from_params(params)
    if model:
        train(registry, flights)
    ts = flights["scheduled_departure"]
    april = flights[(ts >= "2013-04-01") & (ts < "2013-04-03")].head(600)
    return World(tmp_path, path, params, registry, json_rows(april))
