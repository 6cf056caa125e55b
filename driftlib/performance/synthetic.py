"""Worlds with known answers for the slice search and direct loss estimation (tests, benchmarks, docs).

`slice_world(seed, pair=False)`: a regression model whose error grows only in one segment of the current
window: `c = b` (or, with `pair`, `c = b` and x1 in the reference's top quartile), everything else as in
the reference. `regression_world(seed, shift)`: noise that grows with |x1| (heteroscedastic) and a
covariate shift of x1 by `shift`, which moves rows to the noisier region while P(y | x) stays put.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

CATS = np.array(["a", "b", "c", "d"])


def _features(rng, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"x1": rng.normal(shift, 1.0, n), "x2": rng.uniform(0, 10, n),
                         "c": rng.choice(CATS, size=n, p=[0.4, 0.3, 0.2, 0.1]), "g": rng.choice(["u", "v"], size=n)})


def slice_world(seed: int, pair: bool = False, n_reference: int = 4000, n_current: int = 4000,
                noise: float = 1.0, degraded_noise: float = 3.0):
    """(reference, current, planted slice name); columns x1, x2, c, g, prediction, target."""
    rng = np.random.default_rng(seed)
    reference = _features(rng, n_reference)
    q3 = float(np.quantile(reference["x1"], 0.75))
    current = _features(rng, n_current)
    for df, degraded in ((reference, None), (current, True)):
        df["prediction"] = 2 * df["x1"] + 0.1 * df["x2"]
        sd = np.full(len(df), noise)
        if degraded:
            seg = (df["c"] == "b") & (df["x1"] >= q3) if pair else df["c"] == "b"
            sd[seg.to_numpy()] = degraded_noise
        df["target"] = df["prediction"] + rng.normal(size=len(df)) * sd
    name = f"x1 >= {q3:.4g} & c = b" if pair else "c = b"
    return reference, current, name


def _target(rng, X: pd.DataFrame) -> np.ndarray:
    sd = 0.3 + 0.8 * np.abs(X["x1"].to_numpy()) + 0.4 * (X["c"].to_numpy() == "d")
    return 2 * X["x1"].to_numpy() + 0.3 * X["x2"].to_numpy() + rng.normal(size=len(X)) * sd


def regression_windows(seed: int, shifts=(0.0, 1.5), n_reference: int = 5000, n_current: int = 2000):
    """(reference, [window per shift]): one model (a linear fit on a training sample of the reference
    distribution) scores all of them; each frame has the features, `prediction` and `target`."""
    rng = np.random.default_rng(seed)
    train = _features(rng, 3000)
    model = LinearRegression().fit(train[["x1", "x2"]], _target(rng, train))
    out = []
    for n, s in ((n_reference, 0.0), *((n_current, s) for s in shifts)):
        df = _features(rng, n, s)
        df["prediction"] = model.predict(df[["x1", "x2"]])
        df["target"] = _target(rng, df)
        out.append(df)
    return out[0], out[1:]


def regression_world(seed: int, shift: float = 1.5, n_reference: int = 5000, n_current: int = 2000):
    """(reference, current) with the current window's x1 shifted by `shift`."""
    reference, (current,) = regression_windows(seed, (shift,), n_reference, n_current)
    return reference, current
