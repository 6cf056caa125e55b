"""The model service: FastAPI predictions with durable inference logging and hot model reload.

Hot path: a request body is parsed and validated in one step by pydantic-core against the model
card's request contract (`request_schema`). Single `/predict` requests that arrive while the model
is busy are scored together (`microbatch`) in one scoring thread (OpenMP capped, see
`limit_threads`) while the event loop keeps accepting requests. A response is sent only after its
record has been handed to the OS. After start-up the heap is frozen for the cyclic GC so full
collections do not stall requests.

Hot reload (`model_holder`): in-flight requests finish on the version they were validated with and
every response names the version that answered.

At the door (issue 11): POST bodies must be JSON (415 otherwise) and arrive within
`service.body_timeout_s` (408); every record is validated on its own (timestamps in pandas' range
and, if `service.timestamp_window_days` is set, near the server clock; labels of the model's task
and classes; bounded category strings; JSON nesting bounded by the parser), so a bad record gets a
422 naming its field and never reaches a micro-batch or the log. While the log cannot be written
every write is answered 503 and /health says `log_writable: false`. With $DRIFTLIB_API_TOKEN set,
/predict, /predict/batch, /feedback and /model need `Authorization: Bearer <token>`. Error details
never name server paths. /openapi.json documents the request bodies from the served model's card
(`openapi`), and /docs serves Swagger UI from the installed `swagger-ui-bundle` (works offline).

Several uvicorn workers (`--workers N`) each write their own log file; feedback ids are found in
any worker's file (`logsink.RequestIndex`) and /metrics sums all workers (`service_metrics`,
prometheus_client multiprocess mode set up by `run_server`).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import TypeAdapter, ValidationError

from driftlib.inference_log import sink as logsink
from driftlib.config import Params
from driftlib.core.errors import ConfigError
from driftlib.core.clock import utc_now
from driftlib.monitoring.textfile import register_run_collector
# The service's parts, also importable from here (`from driftlib.service.app import X`).
from driftlib.service.microbatch import MICRO_BATCH, MicroBatcher  # noqa: F401
from driftlib.service.model_holder import ModelHolder, Served, freeze_heap  # noqa: F401
from driftlib.service.request_schema import (Category, Number, RequestSchema,  # noqa: F401
                                             _typed_dict, model_features, validation_detail)
from driftlib.service import openapi as api_doc
from driftlib.service.instruments import (MULTIPROC_ENV, ROUTES, Instrument,  # noqa: F401
                                      ServiceMetrics, exposition_registry)

log = logging.getLogger("driftlib.service.app")
ENCODE = msgspec.json.Encoder().encode
PARAMS_ENV = "DRIFTLIB_PARAMS"
TOKEN_ENV = "DRIFTLIB_API_TOKEN"
PROTECTED = ("/predict", "/predict/batch", "/feedback", "/model")
_PATH_RE = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\s'\":,()\[\]]+)+")


def public_error(message: str | None) -> str | None:
    """`message` with every filesystem path cut to its last part: answers never show server paths."""
    if message is None:
        return None
    return _PATH_RE.sub(lambda m: Path(m.group(0)).name if len(m.group(0)) > 1 else m.group(0), message)


_THREAD = threading.local()


def limit_threads(n: int) -> None:
    """Cap OpenMP/BLAS threads in the calling scoring thread (once per thread; after the model is
    loaded, since threadpoolctl only sees libraries already loaded). Measured on the 2-core box
    under load: a one-row HistGradientBoosting predict_proba took 206 ms median with the default
    threads and 22 ms with one; for small batches parallelism is pure overhead."""
    if getattr(_THREAD, "limit", None) != n:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
        _THREAD.limit = n


class HTTPError(Exception):
    """An error answer: status code and a FastAPI-style `detail`."""

    def __init__(self, status: int, detail: Any):
        super().__init__(detail)
        self.status, self.detail = status, detail


class Service:
    """Everything a request needs; endpoints are thin wrappers around its methods."""

    def __init__(self, params: Params, clock: Callable[[], datetime], sink: logsink.Sink,
                 registry, metrics: ServiceMetrics):
        self.params, self.clock, self.sink, self.metrics = params, clock, sink, metrics
        self.holder = ModelHolder(registry, params.task, metrics, params.service.max_category_chars)
        # One scoring thread: two Python-heavy threads fighting over the GIL scored 2,000-row
        # batches at 19k rows/s against 31k for one (measured here); the event loop keeps
        # reading the next requests meanwhile.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftlib-score")
        self.batcher: MicroBatcher | None = None
        window = params.service.timestamp_window_days
        self.window = None if window is None else timedelta(days=window)

    def served(self) -> Served:
        served = self.holder.current
        if served is None:
            raise HTTPError(503, f"no model loaded ({self.holder.error or 'registry has no current model'})")
        return served

    def _stamp(self, ts: datetime | None, loc: tuple = ()) -> datetime:
        """The record's time: the validated client time (UTC), else the server clock."""
        if ts is None:
            return self.clock()
        if self.window is not None and abs(ts - self.clock()) > self.window:
            raise HTTPError(422, [{"loc": ["body", *loc, "timestamp"], "type": "timestamp_window",
                                   "msg": f"timestamp is more than service.timestamp_window_days "
                                          f"({self.window.total_seconds() / 86400:g}) from the server clock"}])
        return ts

    def score(self, served: Served, items: list[tuple[dict, datetime]]) -> list[dict]:
        """Predict, log (durably), then build the answers: nothing is answered unless logged."""
        rows = [features for features, _ in items]
        limit_threads(self.params.service.model_threads)
        predictions, probabilities = served.predict(rows)
        stamps = [logsink.format_timestamp(ts) for _, ts in items]
        ids, version, unknown = logsink.request_ids(stamps), served.version, []
        records, answers, inspect = [], [], served.schema.inspect
        for rid, stamp, features, pred, prob in zip(ids, stamps, rows, predictions, probabilities):
            logged, flags = inspect(features)
            unknown.append(flags)
            records.append({"request_id": rid, "timestamp": stamp, "model_version": version,
                            "features": logged, "prediction": pred, "probability": prob,
                            "flags": {"unknown_categories": flags}})
            answers.append({"request_id": rid, "prediction": pred, "probability": prob,
                            "model_version": version})
        self._write("predictions", records)
        self.metrics.scored(served.version, predictions, unknown)
        return answers

    def _write(self, kind: str, records: list[dict]) -> None:
        write = self.sink.write_predictions if kind == "predictions" else self.sink.write_feedback
        try:
            write(records)
        except Exception as err:
            self.metrics.failed.labels(kind).inc(len(records))
            log.error("inference log write failed: %s", err)
            reason = self.sink.failing or type(err).__name__
            raise HTTPError(503, f"inference log not writable ({public_error(reason)}); "
                                 "records not accepted, retry later") from err
        self.metrics.written.labels(kind).inc(len(records))

    def _validate(self, adapter: TypeAdapter, body: bytes, python: bool = False):
        try:
            return adapter.validate_python(body) if python else adapter.validate_json(body)
        except ValidationError as err:
            raise HTTPError(422, validation_detail(err)) from None

    def _check_size(self, n: int, what: str) -> None:
        if n > self.params.service.max_batch:
            raise HTTPError(413, f"{what}: {n} items exceed service.max_batch "
                                 f"({self.params.service.max_batch})")

    async def predict(self, body: bytes) -> dict:
        served = self.served()
        rec = self._validate(served.schema.one, body)
        return await self.batcher.submit(served, (rec["features"], self._stamp(rec.get("timestamp"))))

    def parse_batch(self, served: Served, body: bytes) -> list[tuple[dict, datetime]]:
        batch = self._validate(served.schema.many, body)["records"]
        self._check_size(len(batch), "records")
        return [(r["features"], self._stamp(r.get("timestamp"), ("records", i)))
                for i, r in enumerate(batch)]

    def score_batch(self, served: Served, items: list) -> bytes:
        results = self.score(served, items) if items else []
        return ENCODE({"model_version": served.version, "results": results})

    async def predict_batch(self, body: bytes) -> bytes:
        """Parsing runs beside the scoring thread, so one batch is validated while the model
        (which releases the GIL in its tree traversal) scores the previous one."""
        served, loop = self.served(), asyncio.get_running_loop()
        items = await loop.run_in_executor(None, self.parse_batch, served, body)
        return await loop.run_in_executor(self.pool, self.score_batch, served, items)

    def feedback(self, body: bytes) -> bytes:
        """Labels checked against the served model's task and classes (one label type in the log);
        parsed by pydantic-core, whose JSON parser bounds the nesting depth."""
        served = self.served()
        many = body.lstrip()[:1] == b"["
        items = self._validate(served.feedback_many if many else served.feedback_one, body)
        if many:
            self._check_size(len(items), "feedback")
        items = items if many else [items]
        stamps = [self._stamp(i.get("timestamp"), (n,) if many else ()) for n, i in enumerate(items)]
        known = self.sink.known_request_ids(i["request_id"] for i in items)
        records = [{"request_id": i["request_id"], "label": i["label"],
                    "timestamp": logsink.format_timestamp(ts)}
                   for i, ts in zip(items, stamps) if i["request_id"] in known]
        unknown = list(dict.fromkeys(i["request_id"] for i in items if i["request_id"] not in known))
        if records:
            self._write("feedback", records)
        self.metrics.feedback.labels(self.metrics.model, "accepted").inc(len(records))
        self.metrics.feedback.labels(self.metrics.model, "unknown").inc(len(items) - len(records))
        return ENCODE({"accepted": len(records), "unknown_request_ids": unknown})

    def health(self) -> tuple[int, dict]:
        served, writable = self.holder.current, self.sink.check_writable()
        ok = served is not None and writable
        body = {"status": "ok" if ok else "unavailable", "model_loaded": served is not None,
                "model_version": served.version if served else None, "log_writable": writable,
                "sink": self.sink.name, "model_error": public_error(self.holder.error)}
        return (200 if ok else 503), body

    def model_card(self) -> dict:
        served = self.served()
        return {**served.card, "request_schema": served.schema.json_schema()}


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The JSON body: 415 unless the Content-Type is JSON, 413 as soon as it is known to exceed
    `limit` bytes, 408 if it has not arrived in full within `timeout` seconds (a stalled client
    must not hold a connection and its buffers forever)."""
    if not _is_json(request.headers.get("content-type")):
        raise HTTPError(415, "request body must be JSON (Content-Type: application/json)")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body of {length} bytes exceeds service.max_body_bytes ({limit})")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPError(413, f"request body exceeds service.max_body_bytes ({limit})")
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPError(408, f"request body not received within service.body_timeout_s ({timeout:g} s)") from None
    return b"".join(chunks)


def _json(content: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(content if isinstance(content, bytes) else ENCODE(content), status,
                    media_type="application/json", headers=headers)


def create_app(params: Params, *, clock: Callable[[], datetime] = utc_now,
               sink: logsink.Sink | None = None, registry=None,
               metrics_registry: CollectorRegistry | None = None, token: str | None = None) -> FastAPI:
    """The FastAPI app for `params`; clock, sink, model registry and metric registry injectable.
    `token` (default: $DRIFTLIB_API_TOKEN) turns on bearer-token auth for PROTECTED routes."""
    if registry is None:
        from driftlib.models.registry import Registry

        registry = Registry.from_params(params)
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    metrics = ServiceMetrics(params.name, metrics_registry, task=params.task)
    exposition = exposition_registry(metrics.registry)
    register_run_collector(exposition, params)
    svc = Service(params, clock, sink or logsink.create_sink(params), registry, metrics)
    limit, body_timeout = params.service.max_body_bytes, params.service.body_timeout_s

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(svc.pool, svc.holder.reload)
        svc.batcher = MicroBatcher(svc.score, svc.pool, shared_errors=(HTTPError,))
        tasks = [asyncio.create_task(svc.batcher.run()),
                 asyncio.create_task(svc.holder.watch(params.service.reload_interval_s))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            svc.pool.shutdown(wait=True)
            svc.sink.close()

    app = FastAPI(title=f"driftlib service: {params.name}", lifespan=lifespan,
                  docs_url=None, redoc_url=None, description=api_doc.DESCRIPTION)
    app.state.service = svc
    app.add_middleware(Instrument, metrics=metrics)
    api_doc.install(app, svc, auth=token is not None)

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, err: HTTPError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        return _json({"detail": err.detail}, err.status, headers)

    def authorize(request: Request) -> None:
        if token is None:
            return
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise HTTPError(401, "missing or wrong bearer token (Authorization: Bearer $DRIFTLIB_API_TOKEN)")

    async def body(request: Request) -> bytes:
        authorize(request)
        return await read_body(request, limit, body_timeout)

    @app.post("/predict", responses=api_doc.responses("PredictAnswer", auth=token is not None))
    async def predict(request: Request) -> Response:
        """One record: `{"features": {...}, "timestamp"?: ISO}`."""
        return _json(await svc.predict(await body(request)))

    @app.post("/predict/batch", responses=api_doc.responses("BatchAnswer", auth=token is not None))
    async def predict_batch(request: Request) -> Response:
        """Many records: `{"records": [{"features": {...}, "timestamp"?: ISO}, ...]}`."""
        return _json(await svc.predict_batch(await body(request)))

    @app.post("/feedback", responses=api_doc.responses("FeedbackAnswer", auth=token is not None))
    async def feedback(request: Request) -> Response:
        """True outcomes: one `{"request_id", "label", "timestamp"?}` or a list of them."""
        data = await body(request)
        return _json(await asyncio.get_running_loop().run_in_executor(None, svc.feedback, data))

    @app.get("/health", responses=api_doc.HEALTH_RESPONSES)
    async def health() -> Response:
        """Model loaded and log writable: 200, else 503 with the reason."""
        status, body = svc.health()
        return _json(body, status)

    @app.get("/model", responses=api_doc.MODEL_RESPONSES)
    async def model(request: Request) -> Response:
        """The served version's card with its request schema."""
        authorize(request)
        return _json(svc.model_card())

    @app.get("/metrics", responses=api_doc.METRICS_RESPONSES)
    async def metrics_endpoint() -> Response:
        """Prometheus exposition: the service's metrics and the latest run's gauges."""
        return Response(generate_latest(exposition), media_type=CONTENT_TYPE_LATEST)

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (`driftlib.service.app:app_from_env`): params file from $DRIFTLIB_PARAMS, so
    every worker process builds its own app, sink file and metrics."""
    from driftlib.config import load_params

    path = os.environ.get(PARAMS_ENV)
    if not path:
        raise ConfigError(f"${PARAMS_ENV} is not set: the service needs a params file")
    return create_app(load_params(path, check_files=False))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_server(params_file: str | os.PathLike, host: str | None = None, port: int | None = None,
               workers: int = 1, allow_no_auth: bool = False) -> None:
    """Check the params and the registry, then run uvicorn until stopped (blocking). Binding
    beyond loopback needs $DRIFTLIB_API_TOKEN (or an explicit `allow_no_auth`)."""
    import uvicorn

    from driftlib.config import load_params
    from driftlib.service.protocol import HEADER_TIMEOUT_ENV, HeaderDeadlineProtocol
    from driftlib.models.registry import Registry

    params = load_params(params_file, check_files=False)
    logsink.create_sink(params)  # an unknown sink fails here, once, with exit code 2
    registry = Registry.from_params(params)
    version = registry.current_version()
    if version is None:
        raise ConfigError(f"{registry.root}: no current model to serve "
                          "(train one with `driftlib models train` or promote a version)")
    host, port = host or params.service.host, port or params.service.port
    if not _loopback(host) and not os.environ.get(TOKEN_ENV) and not allow_no_auth:
        raise ConfigError(f"refusing to serve on {host} without authentication: set ${TOKEN_ENV} "
                          "(clients send `Authorization: Bearer <token>`) or pass --no-auth")
    os.environ[PARAMS_ENV] = str(os.path.abspath(params_file))
    os.environ[HEADER_TIMEOUT_ENV] = str(params.service.header_timeout_s)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.warning("serving %s (model %s) on http://%s:%s with %d worker(s); log: %s",
                params.name, version, host, port, workers, params.log_dir)
    scratch = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):  # workers share metrics via files
        scratch = tempfile.mkdtemp(prefix="driftlib-metrics-")
        os.environ[MULTIPROC_ENV] = scratch
    try:
        uvicorn.run("driftlib.service.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, access_log=False, log_level="warning",
                    timeout_graceful_shutdown=10, http=HeaderDeadlineProtocol,
                    timeout_keep_alive=params.service.keep_alive_timeout_s)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m driftlib.service.app --params FILE [--host H] [--port P] [--workers N]`: the same as
    `driftlib serve` without importing the CLI package (used by `client.running_service`)."""
    import argparse

    from driftlib.core.errors import DriftlibError

    ap = argparse.ArgumentParser(prog="python -m driftlib.service.app")
    ap.add_argument("--params", required=True)
    ap.add_argument("--host")
    ap.add_argument("--port", type=int)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-auth", action="store_true")
    args = ap.parse_args(argv)
    try:
        run_server(args.params, args.host, args.port, args.workers, args.no_auth)
    except DriftlibError as err:
        print(f"driftlib: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
