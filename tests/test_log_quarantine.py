"""Defensive reading of the inference log and all-or-nothing writes (issue 11).

Each poison record below was once accepted by the service and then failed every later
`driftlib run` (read_log raised); now it is quarantined, counted and sampled, and the good
records around it are read as usual. A failed write (ENOSPC) leaves the file as it was.
"""
from __future__ import annotations

import errno
import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from driftlib.core.errors import DriftlibError
from driftlib.inference_log.sink import (JsonlSink, format_timestamp, join_feedback, new_request_id,
                                         read_log)

T0 = datetime(2013, 4, 1, 5, 0, tzinfo=timezone.utc)


def pred(i: int, **features) -> dict:
    ts = T0 + timedelta(minutes=i)
    return {"request_id": new_request_id(ts), "timestamp": format_timestamp(ts),
            "model_version": "v0001", "features": {"distance": 100.0 + i, "carrier": "UA", **features},
            "prediction": i % 2, "probability": 0.25, "flags": {"unknown_categories": []}}


def fb(rid: str, label, ts=T0) -> dict:
    return {"request_id": rid, "label": label, "timestamp": format_timestamp(ts)}


@pytest.fixture
def sink(tmp_path):
    s = JsonlSink(tmp_path / "logs", host="hostA")
    yield s
    s.close()


def append(path, *records):
    with open(path, "ab") as fh:
        for r in records:
            fh.write((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n")


@pytest.mark.parametrize("poison, reason", [
    ({"timestamp": "0001-01-01T00:00:00.000000+00:00"}, "pandas' range"),   # OutOfBoundsDatetime
    ({"timestamp": "not a time"}, "pandas' range"),
    ({"timestamp": 12}, "must be strings"),
    ({"request_id": None}, "request_id"),
    ({"features": {"distance": [1, 2], "carrier": "UA"}}, "not a scalar"),
    ({"features": {"distance": "far", "carrier": "UA"}}, "'distance' is string"),  # type clash in file
    ({"flags": {"unknown_categories": "carrier"}}, "flags"),
])
def test_poison_prediction_is_quarantined_and_the_rest_read(sink, tmp_path, poison, reason):
    good = [pred(i) for i in range(5)]
    sink.write_predictions(good[:3])
    path = sink.file_for("predictions", "2013-04-01")
    append(path, {**pred(9), **poison})
    sink.write_predictions(good[3:])
    got = read_log(tmp_path / "logs")
    assert sorted(got.frame["request_id"]) == sorted(r["request_id"] for r in good)
    assert got.frame["timestamp"].dtype == "datetime64[ns, UTC]"
    assert got.frame["distance"].dtype == "float64"
    assert got.quarantined == 1 and reason in got.quarantined_sample[0]["reason"]
    assert got.quarantined_sample[0]["file"] == str(path)
    assert got.to_dict()["quarantined"] == 1 and "quarantined" in got.warnings()[0]


def test_out_of_range_timestamp_in_a_clean_file_takes_the_fast_path(sink, tmp_path):
    """The exact record of the bug report: well-formed JSON, only its time is unreadable."""
    sink.write_predictions([pred(0), {**pred(1), "timestamp": "0001-01-01T00:00:00.000000+00:00"}])
    got = read_log(tmp_path / "logs")
    assert len(got.frame) == 1 and got.quarantined == 1
    assert "request_id" in got.quarantined_sample[0] and got.torn_lines == 0


def test_bool_label_among_int_labels_in_one_file(sink, tmp_path):
    ids = [new_request_id(T0) for _ in range(4)]
    sink.write_feedback([fb(ids[0], 1), fb(ids[1], 0)])
    append(sink.file_for("feedback", "2013-04-01"), fb(ids[2], True))
    sink.write_feedback([fb(ids[3], 1)])
    got = read_log(tmp_path / "logs", "feedback")
    assert got.frame["label"].tolist() == [1, 0, 1] and got.quarantined == 1
    assert "'label' is bool" in got.quarantined_sample[0]["reason"]


def test_type_clash_between_files_quarantines_the_minority(tmp_path):
    """incompatible Arrow types int64 vs bool: two writers, one of them sent booleans."""
    a, b = JsonlSink(tmp_path / "logs", host="a"), JsonlSink(tmp_path / "logs", host="b")
    ids = [new_request_id(T0) for _ in range(5)]
    a.write_feedback([fb(i, n % 2) for n, i in enumerate(ids[:4])])
    b.write_feedback([fb(ids[4], True)])
    got = read_log(tmp_path / "logs", "feedback")
    assert sorted(got.frame["request_id"]) == sorted(ids[:4]) and got.quarantined == 1
    assert got.frame["label"].dtype == "int64"
    joined = join_feedback(pd.DataFrame({"request_id": ids}), got.frame)
    assert joined["label"].isna().sum() == 1


def test_ints_and_floats_across_files_are_widened_not_quarantined(tmp_path):
    a, b = JsonlSink(tmp_path / "logs", host="a"), JsonlSink(tmp_path / "logs", host="b")
    a.write_predictions([pred(0, temp=3)])
    b.write_predictions([pred(1, temp=3.5)])
    got = read_log(tmp_path / "logs")
    assert sorted(got.frame["temp"]) == [3.0, 3.5] and got.quarantined == 0


def test_huge_record_does_not_make_the_day_unreadable(sink, tmp_path):
    sink.write_predictions([pred(0)])
    append(sink.file_for("predictions", "2013-04-01"), pred(1, carrier="x" * 4_900_000))
    sink.write_predictions([pred(2)])
    got = read_log(tmp_path / "logs")
    assert len(got.frame) == 2 and got.quarantined == 1
    assert "exceeds" in got.quarantined_sample[0]["reason"]


def test_torn_lines_and_quarantine_are_reported_apart(sink, tmp_path):
    sink.write_predictions([pred(0)])
    path = sink.file_for("predictions", "2013-04-01")
    append(path, b'{"request_id": "20130401-', {**pred(1), "timestamp": None})
    sink.write_predictions([pred(2)])
    got = read_log(tmp_path / "logs")
    assert len(got.frame) == 2 and got.torn_lines == 1 and got.quarantined == 1
    assert len(got.warnings()) == 2


def test_sample_is_bounded_count_is_not(sink, tmp_path):
    sink.write_predictions([pred(0)])
    append(sink.file_for("predictions", "2013-04-01"),
           *[{**pred(i), "timestamp": "0001-01-01T00:00:00+00:00"} for i in range(1, 40)])
    got = read_log(tmp_path / "logs")
    assert got.quarantined == 39 and len(got.quarantined_sample) == 10 and len(got.frame) == 1


# -- disk full --------------------------------------------------------------------------------
class DiskFull:
    """os.write that writes `room` bytes and then fails with ENOSPC (a partial line)."""

    def __init__(self, room: int):
        self.room = room

    def __call__(self, fd, data):
        import os
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = os.write(fd, data[:self.room])
        self.room -= n
        return n


def test_failed_write_leaves_the_file_as_it_was(sink, tmp_path, monkeypatch):
    sink.write_predictions([pred(0), pred(1)])
    path = sink.file_for("predictions", "2013-04-01")
    before = path.read_bytes()
    monkeypatch.setattr(sink, "_write_fd", DiskFull(room=37))
    with pytest.raises(DriftlibError, match="ENOSPC"):
        sink.write_predictions([pred(2), pred(3)])
    assert path.read_bytes() == before  # the partial line was cut away
    assert sink.failing and not sink.check_writable()  # the probe hits the full disk too
    monkeypatch.undo()
    assert sink.check_writable() and sink.failing is None
    sink.write_predictions([pred(4)])
    got = read_log(tmp_path / "logs")
    assert got.torn_lines == 0 and got.quarantined == 0
    assert len(got.frame) == 3  # every acknowledged record, nothing of the refused batch


def test_failed_write_across_partitions_is_all_or_nothing(sink, tmp_path, monkeypatch):
    first = pred(0)
    next_day = {**pred(1), "timestamp": format_timestamp(T0 + timedelta(days=1))}
    size = len(json.dumps(first, separators=(",", ":"))) + 1
    monkeypatch.setattr(sink, "_write_fd", DiskFull(room=size + 10))  # day 1 fits, day 2 does not
    with pytest.raises(DriftlibError):
        sink.write_predictions([first, next_day])
    for day in ("2013-04-01", "2013-04-02"):
        assert sink.file_for("predictions", day).read_bytes() == b""


def test_files_with_only_empty_flag_lists_join_the_others(tmp_path):
    """Found by the fuzzer: list<null> (all `unknown_categories` empty) vs list<string>."""
    a, b = JsonlSink(tmp_path / "logs", host="a"), JsonlSink(tmp_path / "logs", host="b")
    a.write_predictions([pred(0)])
    b.write_predictions([{**pred(1), "flags": {"unknown_categories": ["carrier"]}}])
    got = read_log(tmp_path / "logs")
    assert got.quarantined == 0
    assert sorted(map(list, got.frame["unknown_categories"])) == [[], ["carrier"]]
