"""A scheduled run should cost its window, not the whole history.

Builds logs of the demo's shape (the 2013 flights, April onwards, repeated year after year with shifted
timestamps; labels as feedback 1-21 days later) for 1, 2 and 3 years, and times the four-notebook run
of the last date on each. Target: the 3-year run within 1.3x of the 1-year run.

    .venv/bin/python benchmarks/run_cost_vs_history.py [--years 1 2 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_params(home: Path) -> Path:
    p = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
    data = str(ROOT / "driftlib" / "demo" / "flights2013.parquet")
    p["root"] = str(home)
    p["reference"]["path"] = p["model"]["train"]["path"] = data
    p["monitoring"]["evidently_workspace"] = None
    path = home / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


def write_log(params, model, years: int) -> str:
    """JSONL partitions as the service writes them; returns the run date after the last day."""
    from driftlib.demo.world import label_arrivals, production_frame
    from driftlib.data.features import feature_lists

    year = production_frame(params)
    c = params.columns
    numeric, categorical = feature_lists(params, year)
    feats = [*numeric, *categorical]
    proba = model.predict_proba(year[feats])[:, 1]
    base = year.assign(probability=proba, prediction=(proba >= 0.5).astype(int))
    last = None
    for k in range(years):
        shift = pd.DateOffset(years=k)
        df = base.assign(**{c.timestamp: base[c.timestamp] + shift})
        df["request_id"] = [f"y{k}-{i}" for i in range(len(df))]
        arrivals = label_arrivals(df[c.timestamp], seed=k)
        for day, part in df.groupby(df[c.timestamp].dt.strftime("%Y-%m-%d")):
            rec = pd.DataFrame({"request_id": part["request_id"],
                                "timestamp": part[c.timestamp].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                                "model_version": "v0001",
                                "features": part[feats].to_dict("records"),
                                "prediction": part["prediction"], "probability": part["probability"],
                                "flags": [{"unknown_categories": []}] * len(part)})
            folder = params.log_dir / "predictions" / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            rec.to_json(folder / "bench.jsonl", orient="records", lines=True)
        fb = pd.DataFrame({"request_id": df["request_id"], "label": df[c.target].astype(int), "arrived": arrivals})
        fb = fb.dropna(subset=["arrived"])
        for day, part in fb.groupby(fb["arrived"].dt.strftime("%Y-%m-%d")):
            folder = params.log_dir / "feedback" / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"request_id": part["request_id"], "label": part["label"],
                          "timestamp": part["arrived"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")}).to_json(
                folder / f"bench-{k}.jsonl", orient="records", lines=True, mode="a")
        last = df[c.timestamp].max()
    return (last.normalize() + pd.Timedelta(days=1)).date().isoformat()


def one(years: int, keep: Path | None) -> tuple[float, float, dict]:
    from driftlib.config import load_params
    from driftlib.models.registry import Registry
    from driftlib.models.training import train_initial
    from driftlib.workbench.runner import run_pipeline

    home = Path(tempfile.mkdtemp(prefix=f"driftlib-history-{years}y-", dir=keep))
    params = load_params(write_params(home))
    train_initial(params)
    model = Registry.from_params(params).current_model()
    t0 = time.perf_counter()
    run_date = write_log(params, model, years)
    t_log = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = run_pipeline(params, run_date)
    wall = time.perf_counter() - t0
    per_nb = {nb.name: nb.duration_s for nb in run.notebooks}
    if keep is None:
        shutil.rmtree(home, ignore_errors=True)
    assert run.status == "success", [(nb.name, nb.error) for nb in run.notebooks]
    return wall, t_log, per_nb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for y in args.years:
        wall, t_log, per_nb = one(y, args.keep)
        rows.append((y, wall, per_nb))
        print(f"{y} year(s) of history: last date's run {wall:6.1f} s  (log written in {t_log:.0f} s)  "
              + "  ".join(f"{k[:2]} {v:.1f}s" for k, v in per_nb.items()), flush=True)
    base = rows[0][1]
    for y, wall, _ in rows:
        print(f"ratio {y}y / {rows[0][0]}y: {wall / base:.2f}  (target for 3y: <= 1.30)")


if __name__ == "__main__":
    main()
