"""Worlds with a known multivariate answer: every marginal unchanged, only a correlation flips.

`correlation_world(seed, flip=True)` gives (reference, current) frames with numeric x1..x5 (x1 and x2
correlated by +rho in the reference, by -rho in the current window when `flip`), a categorical `c`
with the same shares on both sides, and a few missing values, so no per-column test can see the change.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CATS = np.array(["a", "b", "c"])


def _frame(rng, n: int, rho: float, missing: float) -> pd.DataFrame:
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    x2 = rho * z1 + np.sqrt(1 - rho**2) * z2
    df = pd.DataFrame({"x1": z1, "x2": x2, **{f"x{k}": rng.standard_normal(n) for k in (3, 4, 5)},
                       "c": rng.choice(CATS, size=n, p=[0.5, 0.3, 0.2])})
    if missing:
        df.loc[rng.random(n) < missing, "x3"] = np.nan
    return df


def correlation_world(seed: int, n_reference: int = 5000, n_current: int = 1000, flip: bool = True,
                      rho: float = 0.8, missing: float = 0.02) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = _frame(rng, n_reference, rho, missing)
    current = _frame(rng, n_current, -rho if flip else rho, missing)
    return reference, current
