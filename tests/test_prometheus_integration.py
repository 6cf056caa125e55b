"""A real Prometheus scrapes a real `driftlib serve`, loads the generated alert rules and fires one.

Prometheus listens on 127.0.0.1 (a free port, storage in tmp_path) and is stopped at the end, as is
the service (`driftlib.service.client.running_service` stops its own subprocess).
"""
from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import train_model
from driftlib.monitoring import textfile as metrics
from driftlib.monitoring import generate as monitoring
from driftlib.service.client import ServiceClient, free_port, running_service
from driftlib.config import load_params

pytestmark = [
    pytest.mark.slow,
    pytest.mark.promtool,
    pytest.mark.skipif(shutil.which("prometheus") is None,
                       reason="prometheus not installed (Debian package prometheus; .ci/run installs it)"),
]


@contextmanager
def prometheus(config: Path, storage: Path) -> str:
    port = free_port()
    log = (storage.parent / "prometheus.log").open("wb")
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={storage}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, "prometheus ready", proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_for(check, what: str, proc=None, log=None, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: prometheus exited {proc.returncode}: {Path(log.name).read_text()[-500:]}")
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def query(url: str, promql: str) -> list[dict]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def failed_run_with_drift(run_date: str) -> dict:
    drift = {"dataset_drift": True, "share_drifted": 0.75, "drifted_columns": ["dep_hour"],
             "columns": [{"column": "dep_hour", "method": "K-S p_value", "score": 0.001, "threshold": 0.05,
                          "drifted": True}]}
    return {"run_date": run_date, "status": "failed", "started": f"{run_date}T06:00:00+00:00",
            "finished": f"{run_date}T06:05:00+00:00",
            "notebooks": [{"name": "02_data_drift", "status": "success", "duration_s": 3.0, "result": drift},
                          {"name": "03_concept_drift", "status": "failed", "duration_s": 1.0, "result": None}]}


def test_prometheus_scrapes_the_service_and_evaluates_the_rules(slice_project, tmp_path):
    train_model(slice_project)
    params = load_params(slice_project)
    metrics.write_run_metrics(params, failed_run_with_drift("2013-04-20"))
    rules = tmp_path / "alerts.yml"
    rules.write_text(monitoring.render_rules(params))

    with running_service(slice_project) as service_url:
        with ServiceClient(service_url) as client:
            for _ in range(3):
                client.health()
        target = service_url.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": params.monitoring.service_job,
                                "static_configs": [{"targets": [target]}]}]}))
        storage = tmp_path / "tsdb"
        storage.mkdir()
        with prometheus(config, storage) as prom:
            drift = wait_for(lambda: query(prom, 'driftlib_dataset_drift{model="flights-slice"}'), "drift gauge")
            assert drift[0]["value"][1] == "1"
            assert drift[0]["metric"]["job"] == params.monitoring.service_job
            feature = query(prom, 'driftlib_feature_drifted{feature="dep_hour"}')
            assert feature and feature[0]["value"][1] == "1"
            health = wait_for(lambda: query(
                prom, 'sum(driftlib_http_requests_total{route="/health", status="200"})'), "request counter")
            assert float(health[0]["value"][1]) >= 3
            up = query(prom, f'up{{job="{params.monitoring.service_job}"}}')
            assert up[0]["value"][1] == "1"

            groups = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
            loaded = {r["name"]: r for g in groups for r in g["rules"]}
            assert set(loaded) == {r["alert"] for r in monitoring.alert_rules(params)["groups"][0]["rules"]}

            def firing():
                alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                return [a for a in alerts if a["labels"]["alertname"] == "DriftlibPipelineFailed"
                        and a["state"] == "firing"]

            (alert,) = wait_for(firing, "DriftlibPipelineFailed to fire")
            assert alert["labels"]["model"] == "flights-slice"
            assert not [r for r in loaded.values() if r.get("health") not in (None, "ok", "unknown")]
