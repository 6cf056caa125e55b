"""Inference log: layout, durability shape, torn lines, date ranges, request-id index, label join."""
from __future__ import annotations

import json
import os
import threading
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from driftlib.config import parse_params
from driftlib.core.errors import ConfigError
from driftlib.inference_log.sink import (JsonlSink, RequestIndex, create_sink, format_timestamp, join_feedback,
                              new_request_id, read_log, request_id_date)

T0 = datetime(2013, 4, 1, 5, 0, tzinfo=timezone.utc)


def pred(ts: datetime, i: int = 0, **features) -> dict:
    return {"request_id": new_request_id(ts), "timestamp": format_timestamp(ts),
            "model_version": "v0001", "features": {"distance": 100.0 + i, "carrier": "UA", **features},
            "prediction": i % 2, "probability": 0.25, "flags": {"unknown_categories": []}}


@pytest.fixture
def sink(tmp_path):
    s = JsonlSink(tmp_path / "logs", host="hostA")
    yield s
    s.close()


def test_layout_one_file_per_writer_and_date(sink, tmp_path):
    sink.write_predictions([pred(T0), pred(T0 + timedelta(days=1)), pred(T0, 2)])
    sink.write_feedback([{"request_id": "x", "label": 1, "timestamp": format_timestamp(T0)}])
    name = f"hostA-{os.getpid()}.jsonl"
    day1 = tmp_path / "logs" / "predictions" / "date=2013-04-01" / name
    day2 = tmp_path / "logs" / "predictions" / "date=2013-04-02" / name
    assert len(day1.read_text().splitlines()) == 2 and len(day2.read_text().splitlines()) == 1
    assert (tmp_path / "logs" / "feedback" / "date=2013-04-01" / name).is_file()
    first = json.loads(day1.read_text().splitlines()[0])
    assert list(first)[:3] == ["request_id", "timestamp", "model_version"]
    assert first["timestamp"] == "2013-04-01T05:00:00.000000+00:00"


def test_timestamp_is_utc_and_id_names_its_partition():
    local = datetime(2013, 4, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert format_timestamp(local) == "2013-04-02T04:30:00.000000+00:00"
    rid = new_request_id(local)
    assert request_id_date(rid) == "2013-04-02"
    assert request_id_date("not-an-id") is None and request_id_date(None) is None


def test_read_log_flattens_features_and_parses_time(sink, tmp_path):
    recs = [pred(T0 + timedelta(minutes=i), i, wind_gust=None if i % 2 else 12.5) for i in range(5)]
    recs[3]["flags"]["unknown_categories"] = ["carrier"]
    sink.write_predictions(recs)
    got = read_log(tmp_path / "logs")
    df = got.frame
    assert len(df) == 5 and got.torn_lines == 0 and len(got.files) == 1
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["timestamp"].iloc[0] == pd.Timestamp(T0)
    assert {"request_id", "model_version", "distance", "carrier", "wind_gust", "prediction",
            "probability", "unknown_categories"} <= set(df.columns)
    assert df["wind_gust"].isna().sum() == 2 and df["distance"].tolist()[:2] == [100.0, 101.0]
    assert list(df.loc[3, "unknown_categories"]) == ["carrier"]
    assert df["request_id"].tolist() == [r["request_id"] for r in recs]


def test_read_log_date_range_is_inclusive(sink, tmp_path):
    sink.write_predictions([pred(T0 + timedelta(days=d)) for d in range(5)])
    df = read_log(tmp_path / "logs", "predictions", date(2013, 4, 2), date(2013, 4, 4)).frame
    assert sorted(df["timestamp"].dt.day) == [2, 3, 4]
    only_last = read_log(tmp_path / "logs", start=pd.Timestamp("2013-04-05T10:00", tz="UTC")).frame
    assert len(only_last) == 1


def test_empty_or_missing_log_gives_typed_empty_frame(tmp_path):
    got = read_log(tmp_path / "nothing")
    assert len(got.frame) == 0 and got.files == []
    assert {"request_id", "timestamp", "prediction"} <= set(got.frame.columns)
    fb = read_log(tmp_path / "nothing", "feedback").frame
    assert list(fb.columns) == ["request_id", "label", "timestamp"]


def test_torn_tail_is_skipped_counted_and_reported(sink, tmp_path):
    sink.write_predictions([pred(T0, i) for i in range(3)])
    path = sink.file_for("predictions", "2013-04-01")
    with open(path, "ab") as fh:  # what kill -9 in the middle of a write leaves behind
        fh.write(b'{"request_id":"20130401-abc","timestamp":"2013-04-01T0')
    got = read_log(tmp_path / "logs")
    assert len(got.frame) == 3 and got.torn_lines == 1
    assert got.torn == [(str(path), 4)]
    assert got.to_dict()["torn_lines"] == 1 and "torn line" in got._repr_html_()


def test_fsync_sink_writes_the_same_records(tmp_path):
    s = JsonlSink(tmp_path / "logs", fsync=True)
    s.write_predictions([pred(T0, i) for i in range(3)])
    assert len(read_log(tmp_path / "logs").frame) == 3


def test_irreconcilable_record_is_quarantined_not_fatal(sink, tmp_path):
    sink.write_predictions([pred(T0)])
    path = sink.file_for("predictions", "2013-04-01")
    with open(path, "ab") as fh:  # valid JSON lines whose types cannot be reconciled
        fh.write(b'{"request_id":"x","timestamp":"2013-04-01T00:00:00+00:00","features":[1,2]}\n')
    got = read_log(tmp_path / "logs")
    assert len(got.frame) == 1 and got.quarantined == 1
    assert got.quarantined_sample == [{"file": str(path), "line": 2, "reason": "features is not an object"}]


def test_writer_reopening_a_torn_file_starts_a_fresh_line(tmp_path):
    first = JsonlSink(tmp_path / "logs", host="h")
    first.write_predictions([pred(T0, 0)])
    path = first.file_for("predictions", "2013-04-01")
    first.close()
    with open(path, "ab") as fh:
        fh.write(b'{"request_id":"torn')
    again = JsonlSink(tmp_path / "logs", host="h")  # same host-pid: e.g. pid 1 in a container
    again.write_predictions([pred(T0, 1), pred(T0, 2)])
    again.close()
    got = read_log(tmp_path / "logs")
    assert got.frame["distance"].tolist() == [100.0, 101.0, 102.0]
    assert got.torn_lines == 1 and got.torn[0][1] == 2


def test_threads_never_interleave_lines(sink, tmp_path):
    def work(k):
        for i in range(200):
            sink.write_predictions([pred(T0, k * 1000 + i, note="x" * (i % 50))])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = sink.file_for("predictions", "2013-04-01").read_bytes().splitlines()
    assert len(lines) == 1600 and all(json.loads(line)["request_id"] for line in lines)
    assert len(read_log(tmp_path / "logs").frame["request_id"].unique()) == 1600


def test_request_index_sees_other_writers_and_new_lines(tmp_path):
    a, b = JsonlSink(tmp_path / "logs", host="a"), JsonlSink(tmp_path / "logs", host="b")
    ra, rb = pred(T0), pred(T0 + timedelta(hours=1))
    a.write_predictions([ra])
    index = RequestIndex(tmp_path / "logs")
    assert index.known([ra["request_id"], rb["request_id"], "junk"]) == {ra["request_id"]}
    b.write_predictions([rb])  # written after the first lookup: read incrementally
    assert b.known_request_ids([rb["request_id"]]) == {rb["request_id"]}
    assert index.known([rb["request_id"]]) == {rb["request_id"]}
    assert index.known([new_request_id(T0)]) == set()


def test_request_index_ignores_torn_lines(sink, tmp_path):
    path = sink.file_for("predictions", "2013-04-01")
    sink.write_predictions([pred(T0)])
    rid = new_request_id(T0)
    with open(path, "ab") as fh:
        fh.write(f'{{"request_id":"{rid}","timestamp":"2013'.encode())
    assert RequestIndex(tmp_path / "logs").known([rid]) == set()


def test_sink_chosen_by_name_from_params(tmp_path):
    base = {"name": "m", "reference": {"path": "x"}, "columns": {"timestamp": "t"},
            "log": {"dir": str(tmp_path / "l")}}
    sink = create_sink(parse_params(base))
    assert isinstance(sink, JsonlSink) and sink.log_dir == tmp_path / "l" and not sink.fsync
    assert create_sink(parse_params({**base, "log": {"dir": "l", "fsync": True}})).fsync
    with pytest.raises(ConfigError, match="log.sink.*unknown sink 'kafka'"):
        create_sink(parse_params({**base, "log": {"sink": "kafka"}}))


def test_join_feedback_latest_label_before_as_of():
    preds = pd.DataFrame({"request_id": ["a", "b", "c"], "prediction": [1, 0, 1]})
    t = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    fb = pd.DataFrame({"request_id": ["a", "a", "b", "zzz"], "label": [0, 1, 1, 0],
                       "timestamp": [t("2013-04-02"), t("2013-04-05"), t("2013-04-09"), t("2013-04-01")]})
    all_in = join_feedback(preds, fb)
    assert all_in["label"].tolist()[:2] == [1, 1] and pd.isna(all_in["label"].iloc[2])
    assert all_in["label_timestamp"].iloc[0] == t("2013-04-05")
    early = join_feedback(preds, fb, as_of="2013-04-04")
    assert early["label"].iloc[0] == 0 and pd.isna(early["label"].iloc[1])
    assert len(early) == 3  # feedback for unknown ids never adds rows
    none = join_feedback(preds, fb.iloc[:0])
    assert none["label"].isna().all() and str(none["label_timestamp"].dtype) == "datetime64[ns, UTC]"
