"""Synthetic loan applications for the "your own CSV data" example (params/example_csv.yaml).

Stands in for a user's data: a CSV with a timestamp, numeric and categorical features, a delayed
label column and the time each label arrived. From February 2024 incomes fall and more applications
come online (covariate drift); from mid-February the default risk of online applicants rises
(concept drift). Deterministic: `python examples/loans/make_data.py` rewrites loans.csv identically.
"""
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name("loans.csv")


def make(seed: int = 7, n_per_day: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-10-01", "2024-02-29", freq="D", tz="UTC")
    ts = np.repeat(days.values, n_per_day) + rng.integers(0, 86_400, len(days) * n_per_day).astype("timedelta64[s]")
    ts = pd.to_datetime(ts, utc=True)
    n = len(ts)
    shifted = np.asarray(ts >= pd.Timestamp("2024-02-01", tz="UTC"))
    concept = np.asarray(ts >= pd.Timestamp("2024-02-15", tz="UTC"))
    income = rng.lognormal(np.where(shifted, 10.7, 10.9), 0.4)
    amount = rng.gamma(2.0, 4000, n)
    age = rng.integers(21, 70, n).astype(float)
    channel = np.where(rng.random(n) < np.where(shifted, 0.6, 0.3), "online",
                       rng.choice(["branch", "broker"], n))
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.3, 0.3, 0.2, 0.2])
    logit = -2.0 + 1.6 * (amount / income) - 0.02 * (age - 40) + 0.4 * (channel == "broker")
    logit = logit + np.where(concept & (channel == "online"), 1.5, 0.0)
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    income[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame({
        "application_id": [f"A{i:07d}" for i in range(n)], "applied_at": ts,
        "income": income.round(0), "amount": amount.round(0), "age": age, "channel": channel,
        "region": region, "default": default,
        "label_arrived_at": ts + pd.to_timedelta(rng.integers(3, 15, n), unit="D"),
    }).sort_values("applied_at").reset_index(drop=True)


if __name__ == "__main__":
    frame = make()
    frame.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(frame):,} rows)")
