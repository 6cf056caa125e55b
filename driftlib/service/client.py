"""A small client for the model service, and a context manager that runs one.

The demo replays production through the real service with `ServiceClient.predict_batch` and posts
delayed labels with `feedback`; tests and benchmarks start servers with `running_service`.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import httpx
import msgspec
import numpy as np
import pandas as pd

from driftlib.core.errors import DriftlibError


class ServiceError(DriftlibError):
    """The service refused a request or could not be reached."""


def _enc_hook(obj: Any) -> Any:
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    raise NotImplementedError(f"cannot send {type(obj).__name__} as JSON")


_ENCODE = msgspec.json.Encoder(enc_hook=_enc_hook).encode  # NaN -> null


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).isoformat()


def _with_timestamp(body: dict, timestamp: Any) -> dict:
    """`body` with `timestamp` as UTC ISO, or without one when it is missing: the server's clock."""
    iso = _iso(timestamp)
    if iso is not None:
        body["timestamp"] = iso
    return body


def _records(frame: pd.DataFrame, timestamps: Sequence | None) -> list[dict]:
    rows = frame.to_dict("records")  # NaN is encoded as null
    if timestamps is None:
        return [{"features": r} for r in rows]
    if len(timestamps) != len(rows):
        raise ValueError(f"timestamps has {len(timestamps)} values for {len(rows)} rows")
    return [_with_timestamp({"features": r}, t) for r, t in zip(rows, timestamps)]


class ServiceClient:
    """Thin httpx wrapper: JSON in, JSON out, one-line ServiceError on any refusal."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, token: str | None = None):
        """`token` (default: $DRIFTLIB_API_TOKEN) is sent as `Authorization: Bearer <token>`."""
        self.base_url = base_url.rstrip("/")
        token = token if token is not None else os.environ.get("DRIFTLIB_API_TOKEN") or None
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ServiceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        try:
            content = None if payload is None else _ENCODE(payload)
            r = self.http.request(method, path, content=content,
                                  headers={"content-type": "application/json"})
        except httpx.HTTPError as err:
            raise ServiceError(f"{self.base_url}{path}: {type(err).__name__}: {err}") from None
        if r.status_code >= 400:
            raise ServiceError(f"{self.base_url}{path}: HTTP {r.status_code}: {_detail(r)}")
        return r.json()

    def health(self) -> dict:
        return self._call("GET", "/health")

    def model(self) -> dict:
        return self._call("GET", "/model")

    def predict(self, features: Mapping[str, Any], timestamp: Any = None) -> dict:
        return self._call("POST", "/predict", _with_timestamp({"features": dict(features)}, timestamp))

    def predict_batch(self, frame: pd.DataFrame, timestamps: Sequence | None = None,
                      batch_size: int = 2000) -> list[dict]:
        """One result dict per row, in row order (request_id, prediction, probability,
        model_version). `timestamps` (aligned with the rows) are the event times to log."""
        stamps = None if timestamps is None else list(timestamps)
        results: list[dict] = []
        for start in range(0, len(frame), batch_size):
            part = frame.iloc[start:start + batch_size]
            chunk = None if stamps is None else stamps[start:start + batch_size]
            results.extend(self._call("POST", "/predict/batch",
                                      {"records": _records(part, chunk)})["results"])
        return results

    def feedback(self, items: Iterable[Mapping[str, Any]], batch_size: int = 5000) -> dict:
        """Post labels `{request_id, label, timestamp?}`; returns the total accepted and every
        unknown request id."""
        items = [_with_timestamp({k: v for k, v in i.items() if k != "timestamp"}, i.get("timestamp"))
                 for i in items]
        accepted, unknown = 0, []
        for start in range(0, len(items), batch_size):
            out = self._call("POST", "/feedback", items[start:start + batch_size])
            accepted += out["accepted"]
            unknown.extend(out["unknown_request_ids"])
        return {"accepted": accepted, "unknown_request_ids": unknown}


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        return r.text[:200]
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        field = ".".join(str(x) for x in first.get("loc", [])[1:])
        return f"{field}: {first.get('msg')}" + (f" (+{len(detail) - 1} more)" if len(detail) > 1 else "")
    return str(detail)


# -- running a real server -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"service exited with code {proc.returncode}: {_tail(log_path)}")
        try:
            r = httpx.get(f"{url}/health", timeout=1.0)
            if r.status_code == 200:
                return
            last = r.text[:200]
        except httpx.HTTPError as err:
            last = type(err).__name__
        time.sleep(0.05)
    raise ServiceError(f"service at {url} not healthy after {timeout:.0f}s ({last}): {_tail(log_path)}")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_service(params_file: str | Path, port: int | None = None, *, workers: int = 1,
                    timeout: float = 60.0, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run `driftlib serve` for `params_file` on 127.0.0.1 (a free port unless given) in a
    subprocess; yield its base URL once /health answers 200; stop it (SIGTERM, then SIGKILL)."""
    with service_process(params_file, port, workers=workers, timeout=timeout, env=env) as (url, _):
        yield url


@contextmanager
def service_process(params_file: str | Path, port: int | None = None, *, workers: int = 1,
                    timeout: float = 60.0, env: Mapping[str, str] | None = None
                    ) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like `running_service`, also yielding the server's Popen (for kill -9 tests)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "driftlib.service.app", "--params", str(Path(params_file).resolve()),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with tempfile.TemporaryDirectory(prefix="driftlib-serve-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        try:
            _wait_healthy(url, proc, timeout, log_path)
            yield url, proc
        finally:
            _stop(proc)
