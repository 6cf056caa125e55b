"""Notebook 04 end to end on a toy world: skipped without a reason to retrain, gated when called for."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from driftlib.config import load_params
from driftlib.models.registry import Registry
from driftlib.workbench.results import load_result, save_result
from driftlib.models.training import train_initial

NOTEBOOK = Path(__file__).resolve().parents[1] / "driftlib" / "notebooks" / "04_retraining.ipynb"
KEYS = {"headline", "decision", "reasons", "champion", "challenger", "current_version", "metric",
        "delta", "ci"}


def _frame(n, start, flip, seed):
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 59, n)), unit="D")
    x, c = rng.normal(size=n), rng.choice(["a", "b"], n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-2 if flip else 2) * x))).astype(int)
    return pd.DataFrame({"ts": ts, "x": x, "c": c, "y": y,
                         "arrived": ts + pd.Timedelta(days=3)})


@pytest.fixture
def world(tmp_path):
    _frame(2000, "2013-01-01", False, 1).to_parquet(tmp_path / "train.parquet")
    _frame(5000, "2013-03-01", True, 2).to_parquet(tmp_path / "prod.parquet")
    cfg = {"name": "toy", "reference": {"path": "train.parquet", "start": "2013-02-01"},
           "production": {"source": "table", "path": "prod.parquet"},
           "columns": {"timestamp": "ts", "target": "y", "label_timestamp": "arrived"},
           "features": {"numeric": ["x"], "categorical": ["c"]},
           "model": {"registry": "models", "params": {"max_iter": 30},
                     "train": {"path": "train.parquet"}},
           "retrain": {"window_days": 30, "holdout_days": 10, "slice_columns": ["c"],
                       "n_bootstrap": 100, "min_train_rows": 300, "min_holdout_rows": 300}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    params = load_params(tmp_path / "p.yaml")
    train_initial(params)
    return tmp_path / "p.yaml", params


def _run(params_file, out, **extra):
    import papermill as pm

    pm.execute_notebook(str(NOTEBOOK), str(out / "04_retraining.ipynb"), kernel_name="python3",
                        parameters={"params_file": str(params_file), "run_date": "2013-04-25",
                                    "output_dir": str(out), **extra},
                        cwd=str(NOTEBOOK.parent), progress_bar=False)
    return load_result(out, "04_retraining")


@pytest.mark.slow
def test_notebook_skips_then_retrains_when_concept_drift_is_found(world, tmp_path):
    params_file, params = world
    out = tmp_path / "run"
    save_result(out, "02_data_drift", {"headline": "-", "dataset_drift": False})
    save_result(out, "03_concept_drift", {"headline": "-", "verdict": "stable"})
    skipped = _run(params_file, out)
    assert skipped["decision"] == "skipped" and "not forced" in skipped["reasons"][0]
    assert skipped["current_version"] == "v0001" and KEYS <= set(skipped)

    save_result(out, "03_concept_drift", {"headline": "-", "verdict": "concept drift"})
    done = _run(params_file, out)
    assert KEYS <= set(done)
    assert done["decision"] == "promoted", done["reasons"]
    assert done["champion"] == "v0001" and done["current_version"] == done["challenger"] == "v0002"
    assert done["delta"] > 0.1 and done["ci"][0] > 0
    assert Registry.from_params(params).current_version() == "v0002"
    executed = json.loads((out / "04_retraining.ipynb").read_text())
    pngs = [o for cell in executed["cells"] for o in cell.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert len(pngs) == 3
