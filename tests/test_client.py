"""ServiceClient and running_service against a real server process (one per module)."""
from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from driftlib.service.client import ServiceClient, ServiceError, running_service
from driftlib.inference_log.sink import read_log
from service_world import FEATURES, make_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory, flights):
    w = make_world(tmp_path_factory.mktemp("client"), flights)
    with running_service(w.params_path) as url:
        yield w, url
    with pytest.raises(httpx.HTTPError):  # stopped on exit
        httpx.get(f"{url}/health", timeout=2)


@pytest.fixture
def client(served):
    with ServiceClient(served[1]) as c:
        yield c


def test_predict_batch_keeps_row_order_sends_event_times_and_nulls(served, client, flights):
    w, _ = served
    ts = flights["scheduled_departure"]
    frame = flights[(ts >= "2013-05-01") & (ts < "2013-05-02")].head(25).copy()
    frame.loc[frame.index[0], "wind_gust"] = np.nan  # NaN is sent as null, not rejected
    stamps = frame["scheduled_departure"] + pd.to_timedelta(np.arange(25), unit="s")
    results = client.predict_batch(frame[FEATURES], timestamps=stamps, batch_size=10)
    assert len(results) == 25 and all(r["model_version"] == "v0001" for r in results)
    log = read_log(w.log_dir, start="2013-05-01", end="2013-05-01").frame.set_index("request_id")
    got = log.loc[[r["request_id"] for r in results]]
    assert got["timestamp"].tolist() == stamps.tolist()  # row i answered with row i's record
    assert got["distance"].tolist() == frame["distance"].astype(float).tolist()
    assert pd.isna(got["wind_gust"].iloc[0])
    assert [r["probability"] for r in results] == pytest.approx(got["probability"].tolist())


def test_feedback_accepts_numpy_and_timestamps_reports_unknown(client, served):
    w, _ = served
    results = client.predict_batch(pd.DataFrame(w.rows[:4]))
    items = pd.DataFrame({"request_id": [r["request_id"] for r in results],
                          "label": np.array([0, 1, 1, 0], dtype="int8"),
                          "timestamp": pd.Timestamp("2013-06-03", tz="UTC")}).to_dict("records")
    items.append({"request_id": "20130603-" + "a" * 32, "label": 1})
    out = client.feedback(items, batch_size=2)
    assert out == {"accepted": 4, "unknown_request_ids": ["20130603-" + "a" * 32]}


def test_refusals_raise_service_error_naming_the_field(client, served):
    with pytest.raises(ServiceError, match="HTTP 422: features.distance"):
        client.predict({**served[0].rows[0], "distance": "far"})
    assert client.predict(served[0].rows[0], timestamp="2013-04-01T00:00:00Z")["request_id"]
    assert client.health()["status"] == "ok" and client.model()["version"] == "v0001"


def test_unreachable_service_is_a_one_line_error():
    with pytest.raises(ServiceError, match="ConnectError"):
        ServiceClient("http://127.0.0.1:9", timeout=2).health()


def test_running_service_reports_why_it_did_not_start(tmp_path, flights):
    w = make_world(tmp_path, flights, model=False)
    with pytest.raises(ServiceError, match="no current model"):
        with running_service(w.params_path, timeout=60):
            pass
