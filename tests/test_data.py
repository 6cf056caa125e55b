"""Production frames look the same whatever the source, and labels only count once they arrived."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftlib.config import load_params
from driftlib.data.tables import LABEL_TIME, load_production, read_table, run_window
from driftlib.core.errors import InputError
from driftlib.inference_log.sink import JsonlSink
from driftlib.models.registry import Registry
from tests.conftest import train_model, write_params


def _log_project(tmp_path):
    (tmp_path / "ref.csv").write_text("t,x,c,late\n2024-01-01,1.0,a,0\n")
    return load_params(write_params(
        tmp_path, reference={"path": "ref.csv", "start": None, "end": None},
        production={"source": "log", "path": None}, log={"dir": "logs"},
        columns={"timestamp": "t", "target": "late", "label_timestamp": None, "id": None},
        features={"numeric": ["x"], "categorical": ["c"]}, model={"train": None}))


def test_log_source_normalises_and_respects_label_arrival(tmp_path):
    params = _log_project(tmp_path)
    sink = JsonlSink(params.log_dir)
    preds = [{"request_id": f"r{i}", "timestamp": f"2024-01-0{d}T10:00:00+00:00", "model_version": "v0001",
              "features": {"x": float(i), "c": "a"}, "prediction": i % 2, "probability": 0.3,
              "flags": {"unknown_categories": []}} for i, d in enumerate([1, 2, 3], 1)]
    sink.write_predictions(preds)
    sink.write_feedback([{"request_id": "r1", "label": 1, "timestamp": "2024-01-02T00:00:00+00:00"},
                         {"request_id": "r2", "label": 0, "timestamp": "2024-01-09T00:00:00+00:00"}])
    sink.close()
    df = load_production(params, "2024-01-01", "2024-01-04", as_of="2024-01-05")
    assert list(df["t"].dt.day) == [1, 2, 3] and str(df["t"].dt.tz) == "UTC"
    assert {"x", "c", "prediction", "probability", "late", LABEL_TIME} <= set(df.columns)
    assert df["late"].iloc[0] == 1 and np.isnan(df["late"].iloc[1]) and np.isnan(df["late"].iloc[2])
    later = load_production(params, "2024-01-01", "2024-01-04", as_of="2024-01-10")
    assert later["late"].iloc[1] == 0
    assert len(load_production(params, "2024-01-02", "2024-01-03")) == 1


def test_table_source_masks_labels_not_yet_arrived_and_scores_rows(slice_project):
    train_model(slice_project)
    params = load_params(slice_project)
    start, end = run_window(params, "2013-04-15")
    df = load_production(params, start, end, as_of=end, model=Registry.from_params(params).current_model)
    assert df["scheduled_departure"].max() < end and df["scheduled_departure"].min() >= start
    arrived = df[LABEL_TIME] < end
    assert df.loc[arrived, "late"].notna().all() and df.loc[~arrived, "late"].isna().all()
    assert (~arrived).any() and arrived.any()
    assert df["probability"].between(0, 1).all() and set(df["prediction"].unique()) <= {0, 1}


def test_run_window_is_lookback_days_before_run_date(slice_project):
    params = load_params(slice_project)
    start, end = run_window(params, "2013-05-01")
    assert end == pd.Timestamp("2013-05-01", tz="UTC") and (end - start).days == params.run.lookback_days


def test_unreadable_and_missing_tables_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nope.csv: no such file"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "a.xlsx").write_text("")
    with pytest.raises(InputError, match="a.xlsx: unsupported file type"):
        read_table(tmp_path / "a.xlsx")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="broken.parquet: cannot be read"):
        read_table(tmp_path / "broken.parquet")


def test_glob_reads_all_files_in_name_order(tmp_path):
    for i in range(3):
        pd.DataFrame({"a": [i]}).to_csv(tmp_path / f"part{i}.csv", index=False)
    assert read_table(tmp_path / "part*.csv")["a"].tolist() == [0, 1, 2]


def test_table_without_predictions_and_no_model_names_the_column(slice_project):
    """The data layer never fetches a model itself: without one, the missing column is named."""
    params = load_params(slice_project)
    start, end = run_window(params, "2013-04-15")
    with pytest.raises(InputError, match="columns.prediction"):
        load_production(params, start, end, as_of=end)


def test_integer_years_are_years_not_nanoseconds(tmp_path):
    from driftlib.data.tables import with_utc_timestamp

    df = with_utc_timestamp(pd.DataFrame({"year": [1990, 1991, 2020]}), "year", "t.csv")
    assert list(df["year"].dt.year) == [1990, 1991, 2020]
    assert str(df["year"].dt.tz) == "UTC"


def test_csv_lines_that_do_not_parse_are_counted_not_read_as_rows(tmp_path):
    """A short line used to become a row of NaNs; a long one failed the whole read (issue 11)."""
    from driftlib.core.contracts import SkippedInput

    path = tmp_path / "t.csv"
    path.write_text('ts,x,c\n2024-01-01,1.5,a\n2024-01-02,2.5\n2024-01-03,3.5,b,extra\n'
                    '"2024-01-04",4.5,"multi\nline"\n2024-01-05,5.5,c\n')
    skipped = SkippedInput()
    df = read_table(path, skipped)
    assert df["x"].tolist() == [1.5, 4.5, 5.5] and df["c"].tolist() == ["a", "multi\nline", "c"]
    assert skipped.to_dict() == {"torn": 0, "unparsed": 2, "quarantined": 0}
    assert "t.csv: 2 line(s) that do not parse" in skipped.warnings[0] and "line 3" in skipped.warnings[0]
    clean = tmp_path / "ok.csv"
    clean.write_text("ts,x\n2024-01-01,1\n\n2024-01-02,2\n")
    ok = SkippedInput()
    assert read_table(clean, ok)["x"].tolist() == [1, 2] and ok.counts == {}
