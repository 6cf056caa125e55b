"""The model service: FastAPI predictions with durable inference logging and hot model reload.

Hot path: a request body is parsed and validated in one step by pydantic-core against the model
card's request contract (`request_schema`). Single `/predict` requests that arrive while the model
is busy are scored together (`microbatch`) in one scoring thread (OpenMP capped, see
`limit_threads`) while the event loop keeps accepting requests. A response is sent only after its
record has been handed to the OS. After start-up the heap is frozen for the cyclic GC so full
collections do not stall requests.

Hot reload (`model_holder`): in-flight requests finish on the version they were validated with and
every response names the version that answered.

Several uvicorn workers (`--workers N`) each write their own log file; feedback ids are found in
any worker's file (`logsink.RequestIndex`) and /metrics sums all workers (`service_metrics`,
prometheus_client multiprocess mode set up by `run_server`).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import StrictStr, TypeAdapter, ValidationError
from typing_extensions import NotRequired

from driftlib.inference_log import sink as logsink
from driftlib.config import Params
from driftlib.core.errors import ConfigError
from driftlib.core.clock import utc_now
from driftlib.monitoring.textfile import register_run_collector
# The service's parts, also importable from here (`from driftlib.service.app import X`).
from driftlib.service.microbatch import MICRO_BATCH, MicroBatcher  # noqa: F401
from driftlib.service.model_holder import ModelHolder, Served, freeze_heap  # noqa: F401
from driftlib.service.request_schema import (Category, Label, Number, RequestSchema,  # noqa: F401
                                     _typed_dict, model_features, validation_detail)
from driftlib.service.instruments import (MULTIPROC_ENV, ROUTES, Instrument,  # noqa: F401
                                      ServiceMetrics, exposition_registry)

log = logging.getLogger("driftlib.service.app")
ENCODE = msgspec.json.Encoder().encode
PARAMS_ENV = "DRIFTLIB_PARAMS"


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
        self.holder = ModelHolder(registry, params.task, metrics)
        # One scoring thread: two Python-heavy threads fighting over the GIL scored 2,000-row
        # batches at 19k rows/s against 31k for one (measured here); the event loop keeps
        # reading the next requests meanwhile.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftlib-score")
        self.batcher: MicroBatcher | None = None
        item = _typed_dict("Feedback", {"request_id": StrictStr, "label": Label,
                                        "timestamp": NotRequired[Optional[datetime]]})
        self._feedback_one, self._feedback_many = TypeAdapter(item), TypeAdapter(list[item])

    def served(self) -> Served:
        served = self.holder.current
        if served is None:
            raise HTTPError(503, f"no model loaded ({self.holder.error or 'registry has no current model'})")
        return served

    def _stamp(self, ts: datetime | None) -> datetime:
        if ts is None:
            return self.clock()
        return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts

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
            raise HTTPError(503, f"inference log not writable: {err}") from err
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
        return [(r["features"], self._stamp(r.get("timestamp"))) for r in batch]

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
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError as err:
            raise HTTPError(422, [{"loc": ["body"], "msg": f"JSON decode error: {err}",
                                   "type": "json_invalid"}]) from None
        many = isinstance(data, list)
        if many:
            self._check_size(len(data), "feedback")
        items = self._validate(self._feedback_many if many else self._feedback_one, data, True)
        items = items if many else [items]
        known = self.sink.known_request_ids(i["request_id"] for i in items)
        records = [{"request_id": i["request_id"], "label": i["label"],
                    "timestamp": logsink.format_timestamp(self._stamp(i.get("timestamp")))}
                   for i in items if i["request_id"] in known]
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
                "sink": self.sink.name, "model_error": self.holder.error}
        return (200 if ok else 503), body

    def model_card(self) -> dict:
        served = self.served()
        return {**served.card, "request_schema": served.schema.json_schema()}


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body of {length} bytes exceeds service.max_body_bytes ({limit})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body exceeds service.max_body_bytes ({limit})")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(content: Any, status: int = 200) -> Response:
    return Response(content if isinstance(content, bytes) else ENCODE(content), status,
                    media_type="application/json")


def create_app(params: Params, *, clock: Callable[[], datetime] = utc_now,
               sink: logsink.Sink | None = None, registry=None,
               metrics_registry: CollectorRegistry | None = None) -> FastAPI:
    """The FastAPI app for `params`; clock, sink, model registry and metric registry injectable."""
    if registry is None:
        from driftlib.models.registry import Registry

        registry = Registry.from_params(params)
    metrics = ServiceMetrics(params.name, metrics_registry)
    exposition = exposition_registry(metrics.registry)
    register_run_collector(exposition, params)
    svc = Service(params, clock, sink or logsink.create_sink(params), registry, metrics)
    limit = params.service.max_body_bytes

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(svc.pool, svc.holder.reload)
        svc.batcher = MicroBatcher(svc.score, svc.pool)
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

    app = FastAPI(title=f"driftlib service: {params.name}", lifespan=lifespan)
    app.state.service = svc
    app.add_middleware(Instrument, metrics=metrics)

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, err: HTTPError) -> Response:
        return _json({"detail": err.detail}, err.status)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        """One record: `{"features": {...}, "timestamp"?: ISO}`."""
        return _json(await svc.predict(await read_body(request, limit)))

    @app.post("/predict/batch")
    async def predict_batch(request: Request) -> Response:
        """Many records: `{"records": [{"features": {...}, "timestamp"?: ISO}, ...]}`."""
        return _json(await svc.predict_batch(await read_body(request, limit)))

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        """True outcomes: one `{"request_id", "label", "timestamp"?}` or a list of them."""
        body = await read_body(request, limit)
        return _json(await asyncio.get_running_loop().run_in_executor(None, svc.feedback, body))

    @app.get("/health")
    async def health() -> Response:
        status, body = svc.health()
        return _json(body, status)

    @app.get("/model")
    async def model() -> Response:
        return _json(svc.model_card())

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
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


def run_server(params_file: str | os.PathLike, host: str | None = None, port: int | None = None,
               workers: int = 1) -> None:
    """Check the params and the registry, then run uvicorn until stopped (blocking)."""
    import uvicorn

    from driftlib.config import load_params
    from driftlib.models.registry import Registry

    params = load_params(params_file, check_files=False)
    logsink.create_sink(params)  # an unknown sink fails here, once, with exit code 2
    registry = Registry.from_params(params)
    version = registry.current_version()
    if version is None:
        raise ConfigError(f"{registry.root}: no current model to serve "
                          "(train one with `driftlib models train` or promote a version)")
    host, port = host or params.service.host, port or params.service.port
    os.environ[PARAMS_ENV] = str(os.path.abspath(params_file))
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
                    timeout_graceful_shutdown=10)
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
    args = ap.parse_args(argv)
    try:
        run_server(args.params, args.host, args.port, args.workers)
    except DriftlibError as err:
        print(f"driftlib: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
