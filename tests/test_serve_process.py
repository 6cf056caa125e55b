"""The service as a real server process: concurrency, kill -9 durability, hot reload under load,
several workers. Each test starts `python -m driftlib.service.app` on 127.0.0.1 (a few seconds)."""
from __future__ import annotations

import http.client
import json
import threading
import time

import httpx
import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from driftlib.service.client import service_process
from driftlib.inference_log.sink import read_log
from service_world import make_world, train

pytestmark = pytest.mark.slow


def _post(conn: http.client.HTTPConnection, path: str, payload) -> tuple[int, dict]:
    conn.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def _hammer(url: str, rows: list[dict], n: int, out: list, errors: list, stop=None) -> None:
    """One keep-alive client (http.client: light enough not to be the bottleneck)."""
    conn = http.client.HTTPConnection(*url.removeprefix("http://").split(":"), timeout=30)
    try:
        for i in range(n):
            if stop is not None and stop.is_set():
                return
            try:
                status, body = _post(conn, "/predict", {"features": rows[i % len(rows)]})
            except (OSError, http.client.HTTPException) as err:
                errors.append(repr(err))
                return
            (out if status == 200 else errors).append(body if status == 200 else status)
    finally:
        conn.close()


def _threads(target, count, *args):
    threads = [threading.Thread(target=target, args=args) for _ in range(count)]
    for t in threads:
        t.start()
    return threads


def test_8_threads_x_500_requests_give_exactly_4000_clean_records(tmp_path, flights):
    w = make_world(tmp_path, flights)
    answers, errors = [], []
    with service_process(w.params_path) as (url, _):
        for t in _threads(_hammer, 8, url, w.rows, 500, answers, errors):
            t.join()
    assert errors == [] and len(answers) == 4000
    files = read_log(w.log_dir).files
    lines = [line for f in files for line in f.read_bytes().split(b"\n") if line]
    assert len(lines) == 4000
    records = [json.loads(line) for line in lines]  # every line whole: no interleaving
    assert sorted(r["request_id"] for r in records) == sorted(a["request_id"] for a in answers)
    assert all(set(r["features"]) == set(w.rows[0]) for r in records)
    got = read_log(w.log_dir)
    assert len(got.frame) == 4000 and got.torn_lines == 0


def test_kill_9_mid_load_loses_no_acknowledged_record(tmp_path, flights):
    w = make_world(tmp_path, flights)
    acked, errors, stop = [], [], threading.Event()
    with service_process(w.params_path) as (url, proc):
        threads = _threads(_hammer, 4, url, w.rows, 10**6, acked, errors, stop)
        deadline = time.monotonic() + 30
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.kill()  # SIGKILL: no shutdown hooks, no flush
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    assert len(acked) >= 300 and errors  # the clients saw the server die mid-load
    log_file = read_log(w.log_dir).files[-1]
    with open(log_file, "ab") as fh:  # and a write the kill cut in half
        fh.write(b'{"request_id":"20130601-' + b"f" * 32 + b'","timestamp":"2013-06-01T1')
    got = read_log(w.log_dir)
    assert got.torn_lines == 1
    assert {a["request_id"] for a in acked} <= set(got.frame["request_id"])
    # a restarted server knows the ids the killed one answered, and writes a new file
    with service_process(w.params_path) as (url, _):
        r = httpx.post(f"{url}/feedback", json=[{"request_id": a["request_id"], "label": 1}
                                                for a in acked[:50]])
        assert r.json() == {"accepted": 50, "unknown_request_ids": []}
    assert read_log(w.log_dir, "feedback").frame["request_id"].nunique() == 50


def test_hot_reload_under_load_drops_nothing(tmp_path, flights):
    w = make_world(tmp_path, flights)
    answers, errors, stop = [], [], threading.Event()
    per_thread: list[list] = [[] for _ in range(4)]
    with service_process(w.params_path) as (url, _):
        threads = [threading.Thread(target=_hammer, args=(url, w.rows, 10**6, per_thread[k], errors, stop))
                   for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        v2 = train(w.registry, flights, "hist_gradient_boosting", days=5)  # promoted under load
        deadline = time.monotonic() + 20
        while not any(a["model_version"] == v2 for a in per_thread[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    for seq in per_thread:
        versions = [a["model_version"] for a in seq]
        assert versions[0] == "v0001" and versions[-1] == v2
        switch = versions.index(v2)
        assert set(versions[switch:]) == {v2}  # once a client saw v2, never v1 again
        answers += seq
    logged = read_log(w.log_dir).frame.set_index("request_id")["model_version"]
    assert all(logged[a["request_id"]] == a["model_version"] for a in answers)


def test_feedback_found_across_worker_processes(tmp_path, flights):
    w = make_world(tmp_path, flights)
    with service_process(w.params_path, workers=2) as (url, _):
        ids, host_port = [], url.removeprefix("http://").split(":")
        for i in range(300):  # a new connection each time, until both workers have answered
            conn = http.client.HTTPConnection(*host_port, timeout=30)
            ids.append(_post(conn, "/predict", {"features": w.rows[i]})[1]["request_id"])
            conn.close()
            if i >= 10 and len(read_log(w.log_dir).files) == 2:
                break
        assert len(read_log(w.log_dir).files) == 2  # one file per worker process
        outcomes, scrapes = [], []
        for _ in range(6):  # each call on a new connection: either worker must know all ids
            conn = http.client.HTTPConnection(*host_port, timeout=30)
            outcomes.append(_post(conn, "/feedback", [{"request_id": r, "label": 0} for r in ids])[1])
            conn.close()
            scrapes.append(httpx.get(f"{url}/metrics").text)
    assert all(o == {"accepted": len(ids), "unknown_request_ids": []} for o in outcomes)
    for text in scrapes:  # whichever worker answers, /metrics counts both
        rows = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "driftlib_predictions_total"]
        assert sum(rows) == len(ids)


def test_cli_refuses_to_serve_without_a_model(tmp_path, flights):
    from driftlib.cli.serve import serve

    w = make_world(tmp_path, flights, model=False)
    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--params", str(w.params_path)])
    assert result.exit_code == 2
    assert "no current model" in result.output and "Traceback" not in result.output


def test_stalled_body_is_timed_out_and_others_are_served(tmp_path, flights):
    """A client that never finishes its body gets 408 after service.body_timeout_s; an idle
    keep-alive connection is closed after service.keep_alive_timeout_s."""
    import socket

    w = make_world(tmp_path, flights, service={"body_timeout_s": 1.0, "keep_alive_timeout_s": 1.0})
    with service_process(w.params_path) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        slow = socket.create_connection((host, int(port)), timeout=10)
        start = time.monotonic()
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"features\": ")
        assert httpx.post(f"{url}/predict", json={"features": w.rows[0]}).status_code == 200
        answer = slow.recv(4096)
        while b"body_timeout_s" not in answer and (chunk := slow.recv(4096)):  # head and body may come apart
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout_s" in answer
        assert 0.9 < time.monotonic() - start < 8
        slow.close()
        idle = socket.create_connection((host, int(port)), timeout=10)
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data, start = b"", time.monotonic()
        while chunk := idle.recv(4096):  # the answer may come in pieces; then the server closes
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")  # closed by the server, not by the client
        assert time.monotonic() - start < 3  # uvicorn's default would be 5 s
        idle.close()
    assert len(read_log(w.log_dir).frame) == 1


def test_clients_that_never_finish_their_headers_are_disconnected(tmp_path, flights):
    """Slowloris: a connection with a half-sent request line, or none at all, is closed after
    service.header_timeout_s (uvicorn alone keeps it open forever); requests in flight are not."""
    import socket

    w = make_world(tmp_path, flights, service={"header_timeout_s": 1.0, "keep_alive_timeout_s": 30.0})
    with service_process(w.params_path) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        half = socket.create_connection((host, int(port)), timeout=10)
        half.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        silent = socket.create_connection((host, int(port)), timeout=10)
        start = time.monotonic()
        assert httpx.post(f"{url}/predict", json={"features": w.rows[0]}).status_code == 200
        assert half.recv(4096) == b"" and silent.recv(4096) == b""  # closed by the server
        assert 0.9 < time.monotonic() - start < 6
        with httpx.Client(base_url=url) as keep:  # a keep-alive client that keeps asking is served
            for _ in range(3):
                assert keep.get("/health").status_code == 200
                time.sleep(0.6)
        half.close(), silent.close()


def test_token_from_the_environment_protects_the_live_service(tmp_path, flights):
    from driftlib.service.client import ServiceClient, ServiceError

    w = make_world(tmp_path, flights)
    with service_process(w.params_path, env={"DRIFTLIB_API_TOKEN": "t0ken"}) as (url, _):
        assert httpx.post(f"{url}/predict", json={"features": w.rows[0]}).status_code == 401
        with ServiceClient(url, token="t0ken") as c:
            assert c.predict(w.rows[0])["model_version"] == "v0001"
        with ServiceClient(url, token="nope") as c, pytest.raises(ServiceError, match="401"):
            c.predict(w.rows[0])
        docs = httpx.get(f"{url}/docs")
        assert docs.status_code == 200  # documentation stays readable; the data endpoints do not
