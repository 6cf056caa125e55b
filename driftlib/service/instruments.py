"""The service's Prometheus metrics: collectors, request instrumentation and what /metrics shows.

Several uvicorn workers share metrics through prometheus_client's multiprocess mode
(`$PROMETHEUS_MULTIPROC_DIR`, set up by `serve.run_server`).
"""
from __future__ import annotations

import os
import time
from collections import Counter

from prometheus_client import CollectorRegistry

ROUTES = ("/predict", "/predict/batch", "/feedback", "/health", "/model", "/metrics", "/openapi.json",
          "/docs")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServiceMetrics:
    """The service's Prometheus metrics, names from the `driftlib.monitoring.textfile` catalogue."""

    def __init__(self, model: str, registry: CollectorRegistry | None = None, task: str = "classification"):
        from driftlib.monitoring.textfile import PREDICTION_BUCKETS, service_metric

        self.model, self.task = model, task
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = service_metric("driftlib_http_requests_total", r)
        self.latency = service_metric("driftlib_http_request_duration_seconds", r)
        self.predictions = service_metric("driftlib_predictions_total", r)
        self.written = service_metric("driftlib_log_records_written_total", r)
        self.failed = service_metric("driftlib_log_records_failed_total", r)
        self.info = service_metric("driftlib_model_info", r)
        self.by_class = service_metric("driftlib_predicted_class_total", r)
        # regression: a histogram (fixed buckets), never one series per distinct predicted value
        self.values = service_metric("driftlib_prediction_value", r, buckets=PREDICTION_BUCKETS)
        self.unknown = service_metric("driftlib_unknown_categories_total", r)
        self.reloads = service_metric("driftlib_model_reloads_total", r)
        self.feedback = service_metric("driftlib_feedback_records_total", r)
        self.version: str | None = None

    def serving(self, version: str) -> None:
        if self.version is not None:
            self.info.remove(self.model, self.version)
        self.info.labels(self.model, version).set(1)
        self.version = version

    def scored(self, version: str, predictions: list, unknown: list[list[str]]) -> None:
        self.predictions.labels(self.model, version).inc(len(predictions))
        if self.task == "regression":
            hist = self.values.labels(self.model)
            for value in predictions:
                hist.observe(value)
        else:
            for cls, n in Counter(predictions).items():
                self.by_class.labels(self.model, str(cls)).inc(n)
        for name, n in Counter(name for names in unknown if names for name in names).items():
            self.unknown.labels(self.model, name).inc(n)


class Instrument:
    """Pure ASGI middleware: request count by route/status and latency (cheaper than
    BaseHTTPMiddleware on the hot path)."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else "other"
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - start)


def exposition_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What /metrics shows: this process's registry, or, with several uvicorn workers
    (prometheus_client multiprocess mode), the sum over all workers whichever one is scraped."""
    if not os.environ.get(MULTIPROC_ENV):
        return own
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
