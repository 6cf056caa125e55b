"""The service in-process (TestClient): request contract, logging, feedback, health, metrics."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from driftlib.inference_log.sink import JsonlSink, read_log
from driftlib.service.app import create_app
from service_world import FEATURES, make_world, train

NOW = datetime(2013, 6, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, t=NOW):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def world(tmp_path, flights):
    return make_world(tmp_path, flights, service={"max_body_bytes": 20_000, "max_batch": 50})


@pytest.fixture
def client(world):
    app = create_app(world.params, clock=Clock())
    with TestClient(app) as c:
        yield c


def logged(world, kind="predictions"):
    return read_log(world.log_dir, kind).frame


def test_predict_logs_before_answering_and_names_version(client, world):
    r = client.post("/predict", json={"features": world.rows[0]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"request_id", "prediction", "probability", "model_version"}
    assert body["model_version"] == "v0001" and body["prediction"] in (0, 1)
    assert 0 <= body["probability"] <= 1
    df = logged(world)
    assert df["request_id"].tolist() == [body["request_id"]]
    assert df["timestamp"].iloc[0] == NOW  # no timestamp sent: the server's (injected) clock
    assert df["carrier"].iloc[0] == world.rows[0]["carrier"]
    assert df["probability"].iloc[0] == pytest.approx(body["probability"])


def test_event_time_from_request_decides_partition(client, world):
    r = client.post("/predict", json={"features": world.rows[1], "timestamp": "2013-04-01T10:15:00Z"})
    assert r.status_code == 200 and r.json()["request_id"].startswith("20130401-")
    naive = client.post("/predict", json={"features": world.rows[2], "timestamp": "2013-04-02T03:00:00"})
    assert naive.status_code == 200
    df = logged(world)
    assert sorted(df["timestamp"].astype(str)) == ["2013-04-01 10:15:00+00:00", "2013-04-02 03:00:00+00:00"]
    assert (world.log_dir / "predictions" / "date=2013-04-02").is_dir()


@pytest.mark.parametrize("change, field", [
    ({"distance": "1000"}, "distance"),            # numeric sent as a string
    ({"distance": True}, "distance"),              # booleans are not numbers
    ({"carrier": 3.5}, "carrier"),                 # a category must be a string
    ({"carrier": {"x": 1}}, "carrier"),
    ({"surprise": 1.0}, "surprise"),               # unknown feature names are typos, not data
    ({"temp": ...}, "temp"),                       # missing feature
])
def test_invalid_features_get_422_naming_the_field(client, world, change, field):
    features = dict(world.rows[0])
    for k, v in change.items():
        if v is ...:
            features.pop(k)
        else:
            features[k] = v
    r = client.post("/predict", json={"features": features})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "features", field]
    assert len(logged(world)) == 0  # nothing invalid reaches the log


@pytest.mark.parametrize("body, loc", [
    (b'{"features": ', ["body"]),
    (b'{"timestamp": "2013-04-01T00:00:00Z"}', ["body", "features"]),
    (b'{"features": [1, 2]}', ["body", "features"]),
    (b'[1]', ["body"]),
])
def test_malformed_bodies_get_422(client, world, body, loc):
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc


def test_bad_timestamp_gets_422(client, world):
    r = client.post("/predict", json={"features": world.rows[0], "timestamp": "yesterday"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "timestamp"]


def test_batch_error_names_record_index_and_logs_nothing(client, world):
    records = [{"features": r} for r in world.rows[:5]]
    records[3]["features"] = {**records[3]["features"], "origin": None, "distance": "far"}
    r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "records", 3, "features", "distance"]
    assert len(logged(world)) == 0


def test_null_values_are_data_not_errors(client, world):
    features = {**world.rows[0], "wind_gust": None, "origin": None}
    r = client.post("/predict", json={"features": features})
    assert r.status_code == 200
    df = logged(world)
    assert df["wind_gust"].isna().all() and df["origin"].isna().all()


def test_categories_sent_as_numbers_are_logged_as_strings(client, world):
    client.post("/predict", json={"features": world.rows[0]})
    r = client.post("/predict", json={"features": {**world.rows[1], "origin": 7}})
    assert r.status_code == 200
    df = logged(world)  # one column type even though clients mixed types
    assert df["origin"].tolist() == [world.rows[0]["origin"], "7"]
    assert list(df["unknown_categories"].iloc[1]) == ["origin"]


def test_unknown_categories_accepted_flagged_and_counted(client, world):
    r = client.post("/predict", json={"features": {**world.rows[0], "carrier": "ZZ", "origin": "XXX"}})
    assert r.status_code == 200
    client.post("/predict", json={"features": {**world.rows[0], "carrier": "ZZ"}})
    df = logged(world)
    assert [sorted(x) for x in df["unknown_categories"]] == [["carrier", "origin"], ["carrier"]]
    samples = metric_samples(client.get("/metrics").text)
    unknown = {s.labels["feature"]: s.value for s in samples["driftlib_unknown_categories_total"]}
    assert unknown == {"carrier": 2.0, "origin": 1.0}


def test_oversized_body_is_refused_with_413(client, world):
    big = {"records": [{"features": world.rows[i % 50]} for i in range(200)]}
    r = client.post("/predict/batch", json=big)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]
    padded = json.dumps({"features": world.rows[0], "pad": "x" * 30_000}).encode()
    chunks = (padded[i:i + 4096] for i in range(0, len(padded), 4096))  # no Content-Length
    r = client.post("/predict", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert len(logged(world)) == 0


def test_too_many_records_is_413(client, world):
    ok = [{"features": world.rows[i]} for i in range(51)]
    r = client.post("/predict/batch", content=json.dumps({"records": ok}, separators=(",", ":")),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "max_batch" in r.json()["detail"]
    many = [{"request_id": "x", "label": 1}] * 51
    assert client.post("/feedback", json=many).status_code == 413


def test_batch_answers_every_record_with_one_version(client, world):
    records = [{"features": r, "timestamp": f"2013-04-0{1 + i % 3}T08:00:00Z"}
               for i, r in enumerate(world.rows[:40])]
    r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == "v0001" and len(body["results"]) == 40
    assert all(x["model_version"] == "v0001" for x in body["results"])
    df = logged(world)
    assert sorted(df["request_id"]) == sorted(x["request_id"] for x in body["results"])
    assert client.post("/predict/batch", json={"records": []}).json()["results"] == []


def test_feedback_accepts_known_reports_unknown(client, world):
    ids = [client.post("/predict", json={"features": r, "timestamp": "2013-04-01T08:00:00Z"})
           .json()["request_id"] for r in world.rows[:3]]
    one = client.post("/feedback", json={"request_id": ids[0], "label": 1,
                                         "timestamp": "2013-04-04T00:00:00Z"})
    assert one.json() == {"accepted": 1, "unknown_request_ids": []}
    fake = "20130401-" + "0" * 32
    many = client.post("/feedback", json=[{"request_id": ids[1], "label": 0},
                                          {"request_id": fake, "label": 1},
                                          {"request_id": "whatever", "label": 1}])
    assert many.status_code == 200
    assert many.json() == {"accepted": 1, "unknown_request_ids": [fake, "whatever"]}
    fb = logged(world, "feedback")
    assert sorted(fb["request_id"]) == sorted(ids[:2])
    assert set(fb["timestamp"].astype(str)) == {"2013-04-04 00:00:00+00:00", str(NOW)}
    bad = client.post("/feedback", json={"request_id": ids[2]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "label"]


def test_feedback_knows_ids_from_an_earlier_server(world):
    with TestClient(create_app(world.params, clock=Clock())) as first:
        rid = first.post("/predict", json={"features": world.rows[0]}).json()["request_id"]
    sink = JsonlSink(world.log_dir, host="another-host")  # a restarted server on another host
    with TestClient(create_app(world.params, clock=Clock(), sink=sink)) as second:
        r = second.post("/feedback", json={"request_id": rid, "label": 1})
    assert r.json() == {"accepted": 1, "unknown_request_ids": []}


def test_health_and_model_card(client, world):
    h = client.get("/health")
    assert h.status_code == 200
    assert h.json() == {"status": "ok", "model_loaded": True, "model_version": "v0001",
                        "log_writable": True, "sink": "jsonl", "model_error": None}
    card = client.get("/model").json()
    assert card["version"] == "v0001" and len(card["sha256"]) == 64
    schema = card["request_schema"]
    features = schema["$defs"]["Features"]
    assert set(features["required"]) == set(FEATURES) and features["additionalProperties"] is False
    assert schema["required"] == ["features"]


def test_without_a_model_health_is_503_and_predict_refuses(tmp_path, flights):
    w = make_world(tmp_path, flights, model=False)
    with TestClient(create_app(w.params)) as c:
        assert c.get("/health").status_code == 503
        r = c.post("/predict", json={"features": w.rows[0]})
        assert r.status_code == 503 and "no model" in r.json()["detail"]
        train(w.registry, flights)  # promoted while running: picked up without a restart
        deadline = time.monotonic() + 10
        while c.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.post("/predict", json={"features": w.rows[0]}).json()["model_version"] == "v0001"


def test_hot_reload_swaps_version_and_survives_a_bad_candidate(client, world, flights):
    v2 = train(world.registry, flights, "hist_gradient_boosting", days=5)
    wait_for_version(client, world, v2)
    assert client.post("/predict", json={"features": world.rows[0]}).json()["model_version"] == v2
    # a candidate whose artifact was tampered with: refused, the service keeps serving v2
    v3 = train(world.registry, flights, promote=False)
    (world.registry.version_dir(v3) / "model.joblib").write_bytes(b"tampered")
    world.registry.pointer_path.write_text(v3 + "\n")  # the pointer names a damaged version
    deadline = time.monotonic() + 5
    while client.get("/health").json()["model_error"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    health = client.get("/health").json()
    assert health["model_version"] == v2 and "sha256" in health["model_error"]
    assert client.post("/predict", json={"features": world.rows[0]}).json()["model_version"] == v2


def wait_for_version(client, world, version, timeout=10.0):
    deadline = time.monotonic() + timeout
    while client.get("/health").json()["model_version"] != version:
        assert time.monotonic() < deadline, f"service never switched to {version}"
        time.sleep(0.05)


def metric_samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_metrics_are_parseable_and_count_what_happened(client, world):
    for r in world.rows[:3]:
        client.post("/predict", json={"features": r})
    client.post("/predict", json={"features": {}})
    client.post("/predict/batch", json={"records": [{"features": r} for r in world.rows[:4]]})
    text = client.get("/metrics").text
    samples = metric_samples(text)
    requests = {(s.labels["route"], s.labels["status"]): s.value
                for s in samples["driftlib_http_requests_total"]}
    assert requests[("/predict", "200")] == 3 and requests[("/predict", "422")] == 1
    assert requests[("/predict/batch", "200")] == 1
    count = {s.labels["route"]: s.value for s in samples["driftlib_http_request_duration_seconds_count"]}
    assert count["/predict"] == 4
    assert sum(s.value for s in samples["driftlib_predictions_total"]) == 7
    assert sum(s.value for s in samples["driftlib_predicted_class_total"]) == 7
    written = {s.labels["kind"]: s.value for s in samples["driftlib_log_records_written_total"]}
    assert written == {"predictions": 7}
    info = samples["driftlib_model_info"]
    assert [(s.labels["version"], s.value) for s in info] == [("v0001", 1.0)]
    from driftlib.monitoring.textfile import CATALOGUE
    service_names = {n for n, spec in CATALOGUE.items() if spec.source == "service"}
    assert service_names <= {f.name + ("_total" if f.type == "counter" else "")
                             for f in text_string_to_metric_families(text)}


class FailingSink(JsonlSink):
    def write_predictions(self, records):
        raise OSError("disk full")


def test_log_failure_is_not_acknowledged(world):
    app = create_app(world.params, sink=FailingSink(world.log_dir))
    with TestClient(app) as c:
        r = c.post("/predict", json={"features": world.rows[0]})
        assert r.status_code == 503 and "not writable" in r.json()["detail"]
        failed = metric_samples(c.get("/metrics").text)["driftlib_log_records_failed_total"]
        assert failed[0].value == 1


def test_concurrent_requests_each_logged_once(client, world):
    from concurrent.futures import ThreadPoolExecutor

    def send(i):
        return client.post("/predict", json={"features": world.rows[i % len(world.rows)]}).json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(200)))
    ids = [a["request_id"] for a in answers]
    assert len(set(ids)) == 200
    assert sorted(logged(world)["request_id"]) == sorted(ids)


def test_clock_default_is_now_utc(world):
    with TestClient(create_app(world.params)) as c:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        c.post("/predict", json={"features": world.rows[0]})
    assert logged(world)["timestamp"].iloc[0] >= before
