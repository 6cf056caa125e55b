"""Synthetic bike rentals for the "your own regression model" example (params/example_regression.yaml).

Stands in for a user's regression table: one row per station and hour, with the hour's weather, and
the true target `rentals` (bikes rented that hour), counted again and reconciled 1-5 days later
(`counted_at`, when the label arrived). February to June 2024 the weather and the stations behave
the same from week to week; two things are planted from 1 July 2024:

- a heat wave (data drift): temperature +6 C, humidity +12 points, calmer wind, mostly clear skies.
  Rentals peak near 23 C, so the hotter hours draw about as many bikes as the cooler ones did: the
  inputs move, the model's error outside the harbour hardly does;
- a road closure at the harbour station (a degradation in one segment): rentals there fall to 35% of
  what the same hour and weather would have drawn, which a model trained before July cannot know and
  which no input shows (direct loss estimation cannot see it either: P(y | x) changed).

Rentals are Poisson around a rate set by station, hour (commuter peaks on workdays, a midday bump at
weekends), temperature (best near 23 C), humidity above 70%, wind and rain, so the error of a good
model grows with the rate: what direct loss estimation learns. Deterministic:
`python examples/bikes/make_data.py` rewrites bikes.csv identically.
"""
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name("bikes.csv")
STATIONS = {"centre": 3.0, "university": 2.6, "park": 2.3, "harbour": 2.7, "railway": 2.8}
HEAT_WAVE = ROAD_CLOSURE = pd.Timestamp("2024-07-01", tz="UTC")
HARBOUR_FACTOR = 0.35
HOUR_WEIGHTS = np.r_[np.full(6, 0.2), np.ones(17), 0.2]  # rows per hour of day: few at night


def rate(station, hour, weekend, temperature, humidity, wind, weather) -> np.ndarray:
    """Expected rentals per hour (the true regression function before the road closure)."""
    base = np.array([STATIONS[s] for s in station])
    commute = np.exp(-0.5 * ((hour - 8) / 1.2) ** 2) + np.exp(-0.5 * ((hour - 17.5) / 1.5) ** 2)
    leisure = np.exp(-0.5 * ((hour - 14) / 3.0) ** 2)
    night = np.where((hour < 6) | (hour > 22), -1.5, 0.0)
    profile = np.where(weekend, 0.9 * leisure, 1.1 * commute + 0.3 * leisure) + night
    log_mu = (base + profile - 0.004 * (temperature - 23) ** 2 - 0.01 * np.clip(humidity - 70, 0, None)
              - 0.01 * wind + np.select([weather == "rain", weather == "cloudy"], [-0.7, -0.15], 0.0))
    return np.exp(log_mu)


def make(seed: int = 11, n_per_day: int = 48) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-02-01", "2024-07-31", freq="D", tz="UTC")
    n = len(days) * n_per_day
    day = np.repeat(days, n_per_day)
    hour = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    ts = day + pd.to_timedelta(hour, unit="h")
    heat = np.asarray(ts >= HEAT_WAVE)
    station = rng.choice(list(STATIONS), n)
    weekend = np.asarray(ts.dayofweek >= 5)
    temperature = 20 + 5 * np.sin((hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 4, n) + np.where(heat, 6.0, 0.0)
    humidity = np.clip(rng.normal(np.where(heat, 67, 55), 12, n), 15, 100)
    wind = rng.gamma(4.0, np.where(heat, 2.2, 3.5), n)
    weather = np.where(rng.random(n) < np.where(heat, 0.85, 0.5), "clear",
                       np.where(rng.random(n) < 0.6, "cloudy", "rain"))
    mu = rate(station, hour, weekend, temperature, humidity, wind, weather)
    mu = mu * np.where(np.asarray(ts >= ROAD_CLOSURE) & (station == "harbour"), HARBOUR_FACTOR, 1.0)
    rentals = rng.poisson(mu)
    counted = ts + pd.Timedelta(hours=1) + pd.to_timedelta(rng.integers(1, 6, n), unit="D")
    return pd.DataFrame({
        "record_id": [f"R{i:06d}" for i in range(n)], "hour_start": ts, "station": station,
        "hour": hour, "weekend": np.where(weekend, "yes", "no"), "temperature": temperature.round(1),
        "humidity": humidity.round(0), "wind_speed": wind.round(1), "weather": weather,
        "rentals": rentals, "counted_at": counted,
    }).sort_values(["hour_start", "station"], kind="stable").reset_index(drop=True)


if __name__ == "__main__":
    frame = make()
    frame.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(frame):,} rows)")
