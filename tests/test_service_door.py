"""Issue 11 at the service's door: one bad record never breaks later runs nor other clients.

Each poison record here was answered 200 and logged before, and then failed every later
`driftlib run`; now it gets a 422 naming its field, nothing reaches the log, and the log reads
back clean (no quarantine needed).
"""
from __future__ import annotations

import asyncio
import errno
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from driftlib.inference_log.sink import JsonlSink, read_log
from driftlib.service.app import create_app
from driftlib.service.instruments import ServiceMetrics
from driftlib.service.microbatch import MicroBatcher
from service_world import make_world

NOW = datetime(2013, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(tmp_path, flights):
    return make_world(tmp_path, flights, service={"max_category_chars": 100})


@pytest.fixture
def client(world):
    with TestClient(create_app(world.params, clock=lambda: NOW)) as c:
        yield c


def clean_log(world, kind="predictions"):
    got = read_log(world.log_dir, kind)
    assert got.quarantined == 0 and got.torn_lines == 0
    return got.frame


def loc(r):
    assert r.status_code == 422, r.text
    return r.json()["detail"][0]["loc"]


@pytest.mark.parametrize("timestamp", [
    "0001-01-01T00:00:00Z",            # notebook 03 failed with OutOfBoundsDatetime
    "0001-01-01T00:00:00+05:00",       # overflowed inside the micro-batch (500s for others)
    "9999-12-31T23:59:59Z", "1677-09-21T00:00:00Z", "2262-04-12T00:00:00Z",
    "2013-02-29T00:00:00Z", "2013-04-01", "1364774400", "2013-04-01 10:15:00Z",
])
def test_timestamps_outside_pandas_range_or_shape_get_422(client, world, timestamp):
    assert loc(client.post("/predict", json={"features": world.rows[0], "timestamp": timestamp})) == \
        ["body", "timestamp"]
    records = [{"features": r} for r in world.rows[:3]]
    records[2]["timestamp"] = timestamp
    assert loc(client.post("/predict/batch", json={"records": records})) == ["body", "records", 2, "timestamp"]
    assert len(clean_log(world)) == 0


@pytest.mark.parametrize("timestamp, logged", [
    ("1678-01-01T00:00:00+14:00", "1677-12-31 10:00:00+00:00"),
    ("2261-12-31T23:59:59.123456789-05:00", "2262-01-01 04:59:59.123456+00:00"),
    ("2012-02-29T00:00:00Z", "2012-02-29 00:00:00+00:00"),
])
def test_edge_timestamps_inside_the_range_are_accepted_and_readable(client, world, timestamp, logged):
    assert client.post("/predict", json={"features": world.rows[0], "timestamp": timestamp}).status_code == 200
    assert clean_log(world)["timestamp"].astype(str).tolist() == [logged]


def test_timestamp_window_applies_to_client_times_only_when_enabled(tmp_path, flights):
    w = make_world(tmp_path, flights, service={"timestamp_window_days": 2})
    with TestClient(create_app(w.params, clock=lambda: NOW)) as c:
        r = c.post("/predict", json={"features": w.rows[0], "timestamp": "2013-04-01T00:00:00Z"})
        assert loc(r) == ["body", "timestamp"] and "timestamp_window_days" in r.json()["detail"][0]["msg"]
        assert c.post("/predict", json={"features": w.rows[0], "timestamp": "2013-06-02T06:00:00Z"}).status_code == 200
        assert c.post("/predict", json={"features": w.rows[0]}).status_code == 200  # server-stamped
        fb = c.post("/feedback", json={"request_id": "20130401-" + "0" * 32, "label": 1,
                                       "timestamp": "2000-01-01T00:00:00Z"})
        assert loc(fb) == ["body", "timestamp"]


def test_replays_of_old_event_times_work_by_default(client, world):
    """The demo replays 2013 through a 2026 server: the window is off unless configured."""
    r = client.post("/predict", json={"features": world.rows[0], "timestamp": "1990-04-01T00:00:00Z"})
    assert r.status_code == 200


def predict_ids(client, world, n=3):
    return [client.post("/predict", json={"features": r}).json()["request_id"] for r in world.rows[:n]]


@pytest.mark.parametrize("label", [True, False, "1", "late", 2, 0.5, None, [1], {"x": 1}])
def test_labels_outside_the_models_classes_get_422(client, world, label):
    rid = predict_ids(client, world, 1)[0]
    r = client.post("/feedback", json={"request_id": rid, "label": label})
    assert loc(r) == ["body", "label"]
    many = client.post("/feedback", json=[{"request_id": rid, "label": 1}, {"request_id": rid, "label": label}])
    assert loc(many) == ["body", 1, "label"]
    assert len(clean_log(world, "feedback")) == 0


def test_labels_have_one_canonical_type_in_the_log(client, world):
    ids = predict_ids(client, world, 3)
    out = client.post("/feedback", json=[{"request_id": ids[0], "label": 1},
                                         {"request_id": ids[1], "label": 0.0},
                                         {"request_id": ids[2], "label": 1.0}]).json()
    assert out["accepted"] == 3
    fb = clean_log(world, "feedback")
    assert fb["label"].tolist() == [1, 0, 1] and str(fb["label"].dtype) == "int64"


@pytest.mark.parametrize("value, field", [
    ("x" * 101, "carrier"),              # over service.max_category_chars
    (2 ** 63, "origin"),                 # an integer category that is no int64
    (-(2 ** 63) - 1, "origin"),
])
def test_oversized_categories_get_422_naming_the_feature(client, world, value, field):
    r = client.post("/predict", json={"features": {**world.rows[0], field: value}})
    assert loc(r) == ["body", "features", field]
    assert len(clean_log(world)) == 0


def test_a_49_mb_category_is_refused_by_default_limits(tmp_path, flights):
    w = make_world(tmp_path, flights)  # default max_body_bytes (5 MB) and max_category_chars
    with TestClient(create_app(w.params, clock=lambda: NOW)) as c:
        r = c.post("/predict", json={"features": {**w.rows[0], "carrier": "x" * 4_900_000}})
        assert loc(r) == ["body", "features", "carrier"] and "1000" in r.json()["detail"][0]["msg"]
    assert len(read_log(w.log_dir).frame) == 0


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/feedback"])
@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deep_nesting_is_422_on_every_endpoint(client, path, depth):
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code in (413, 422), (path, r.status_code, r.text[:200])  # never a 500


def test_bad_json_feedback_names_the_body(client):
    r = client.post("/feedback", content=b'{"request_id": ', headers={"content-type": "application/json"})
    assert loc(r) == ["body"]


def test_one_bad_client_never_fails_good_ones(client, world):
    """Before: 15 good clients + 1 sending year 1 at +05:00 -> 39% of the good requests got 500."""
    def good(i):
        return client.post("/predict", json={"features": world.rows[i % 50]}).status_code

    def bad(i):
        return client.post("/predict", json={"features": world.rows[0],
                                             "timestamp": "0001-01-01T00:00:00+05:00"}).status_code

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(bad if i % 16 == 0 else good, i) for i in range(480)]
        codes = [f.result() for f in futures]
    good_codes = [c for i, c in enumerate(codes) if i % 16]
    assert good_codes.count(200) == len(good_codes) == 450
    assert set(codes[::16]) == {422}
    assert len(clean_log(world)) == 450


def test_micro_batch_isolates_a_failing_record():
    """Whatever slips past validation, a record that fails its group is scored on its own."""
    def score(served, items):
        if "bad" in items and len(items) > 1:
            raise OverflowError("one record spoils the group")
        if items == ["bad"]:
            raise OverflowError("bad")
        return [f"ok:{x}" for x in items]

    async def main():
        pool = ThreadPoolExecutor(1)
        batcher = MicroBatcher(score, pool)
        task = asyncio.create_task(batcher.run())
        results = await asyncio.gather(*(batcher.submit(None, x) for x in ["a", "bad", "b", "c"]),
                                       return_exceptions=True)
        task.cancel()
        pool.shutdown()
        return results

    a, bad, b, c = asyncio.run(main())
    assert (a, b, c) == ("ok:a", "ok:b", "ok:c") and isinstance(bad, OverflowError)


def test_non_json_content_type_is_415(client, world):
    body = json.dumps({"features": world.rows[0]})
    for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
        for path in ("/predict", "/predict/batch", "/feedback"):
            assert client.post(path, content=body, headers=headers).status_code == 415
    ok = client.post("/predict", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


def test_bearer_token_when_configured(world, monkeypatch):
    monkeypatch.setenv("DRIFTLIB_API_TOKEN", "s3cret-token")
    with TestClient(create_app(world.params, clock=lambda: NOW)) as c:
        r = c.post("/predict", json={"features": world.rows[0]})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.post("/predict", json={"features": world.rows[0]},
                      headers={"authorization": "Bearer wrong"}).status_code == 401
        ok = c.post("/predict", json={"features": world.rows[0]},
                    headers={"authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert c.get("/model").status_code == 401 and c.get("/health").status_code == 200
        schema = c.get("/openapi.json").json()
        assert schema["paths"]["/predict"]["post"]["security"] == [{"bearer": []}]
    assert len(clean_log(world)) == 1


def test_no_token_by_default(client, world):
    assert client.post("/predict", json={"features": world.rows[0]}).status_code == 200


def test_binding_beyond_loopback_needs_a_token(world, monkeypatch):
    from driftlib.core.errors import ConfigError
    from driftlib.service.app import run_server

    monkeypatch.delenv("DRIFTLIB_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="DRIFTLIB_API_TOKEN"):
        run_server(world.params_path, host="0.0.0.0", port=1)


# -- errors do not leak server paths ---------------------------------------------------------------
class PathySink(JsonlSink):
    def write_predictions(self, records):
        raise OSError(errno.EIO, f"Input/output error: '{self.log_dir}/predictions/x.jsonl'")


def test_errors_do_not_show_server_paths(world):
    with TestClient(create_app(world.params, sink=PathySink(world.log_dir))) as c:
        r = c.post("/predict", json={"features": world.rows[0]})
        assert r.status_code == 503 and str(world.root) not in r.text
    v2 = world.registry.register(object(), {"schema": {"columns": []}})
    (world.registry.version_dir(v2) / "model.joblib").write_bytes(b"tampered")
    world.registry.pointer_path.write_text(v2 + "\n")
    with TestClient(create_app(world.params)) as c:
        h = c.get("/health").json()
        assert h["model_error"] and "model.joblib" in h["model_error"] and str(world.root) not in h["model_error"]


# -- disk full ---------------------------------------------------------------------------------
def test_disk_full_episode_loses_no_acknowledged_record(client, world):
    sink = client.app.state.service.sink
    acknowledged = predict_ids(client, world, 5)
    full = {"on": True}

    def write_fd(fd, data):
        import os
        if full["on"]:
            os.write(fd, data[:17])  # part of the line reaches the disk, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    sink._write_fd = write_fd
    for row in world.rows[5:10]:
        r = client.post("/predict", json={"features": row})
        assert r.status_code == 503 and "ENOSPC" in r.json()["detail"]
    r = client.post("/predict/batch", json={"records": [{"features": x} for x in world.rows[10:14]]})
    assert r.status_code == 503
    h = client.get("/health")
    assert h.status_code == 503 and h.json()["log_writable"] is False
    full["on"] = False  # space freed
    h = client.get("/health")
    assert h.status_code == 200 and h.json()["log_writable"] is True
    acknowledged += predict_ids(client, world, 5)
    logged = clean_log(world)  # no torn line, nothing quarantined
    assert sorted(logged["request_id"]) == sorted(acknowledged)  # 0 lost, 0 unacknowledged kept


# -- metrics -----------------------------------------------------------------------------------
def test_regression_predictions_do_not_create_a_series_per_value():
    from prometheus_client import generate_latest

    m = ServiceMetrics("reg", task="regression")
    values = [i * 0.731 - 2000 for i in range(10_000)]  # 10,000 distinct predicted values
    m.scored("v0001", values, [[] for _ in values])
    text = generate_latest(m.registry).decode()
    series = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert len(series) < 80  # was 2,928 series of driftlib_predicted_class_total
    assert not any(s.name == "driftlib_predicted_class_total" for s in series)
    count = [s for s in series if s.name == "driftlib_prediction_value_count"]
    assert count[0].value == 10_000
