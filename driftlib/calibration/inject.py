"""Known shifts injected into copies of a window, each with a strength on a stated scale.

| shift           | columns     | strength means                                                     |
|-----------------|-------------|--------------------------------------------------------------------|
| `location`      | numeric     | values moved by strength x the reference standard deviation        |
| `scale`         | numeric     | spread around the reference mean multiplied by (1 + strength)      |
| `category_mix`  | categorical | total-variation distance moved from the commonest category to the others (in proportion) |
| `missing_share` | any         | this share of the values replaced by nulls                         |

The stat tests drop nulls (as Evidently does), so `missing_share` measures what they cannot see;
the data-quality check (`drift.missing_share_tolerance`) is what catches it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from driftlib.core.errors import ConfigError

NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass(frozen=True)
class ColumnStats:
    """What an injection needs to know about the reference column."""

    kind: str
    mean: float = 0.0
    std: float = 1.0
    shares: pd.Series | None = None  # categorical: reference shares, commonest first

    @classmethod
    def of(cls, values: pd.Series, kind: str) -> "ColumnStats":
        if kind == NUMERIC:
            v = pd.to_numeric(values, errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
            std = float(v.std(ddof=0)) if len(v) else 0.0
            return cls(kind, float(v.mean()) if len(v) else 0.0, std if std > 0 else 1.0)
        shares = values.dropna().astype(object).value_counts(normalize=True)
        return cls(kind, shares=shares)


def _location(values: pd.Series, s: float, st: ColumnStats, rng) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype(float) + s * st.std


def _scale(values: pd.Series, s: float, st: ColumnStats, rng) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return st.mean + (v - st.mean) * (1.0 + s)


def _category_mix(values: pd.Series, s: float, st: ColumnStats, rng) -> pd.Series:
    """Move probability mass `s` (total-variation distance) off the commonest category."""
    shares = st.shares
    if shares is None or len(shares) < 2:
        return values
    top, p_top = shares.index[0], float(shares.iloc[0])
    s = min(s, p_top)
    out = values.astype(object).copy()
    is_top = (out == top).to_numpy()
    move = is_top & (rng.random(len(out)) < s / p_top)
    others = shares.iloc[1:]
    out[move] = rng.choice(np.asarray(others.index, dtype=object), size=int(move.sum()),
                           p=(others / others.sum()).to_numpy())
    return out


def _missing_share(values: pd.Series, s: float, st: ColumnStats, rng) -> pd.Series:
    out = values.astype(float) if st.kind == NUMERIC else values.astype(object)
    out = out.copy()
    out[rng.random(len(out)) < s] = np.nan if st.kind == NUMERIC else None
    return out


SHIFTS: dict[str, tuple[frozenset, Callable]] = {
    "location": (frozenset({NUMERIC}), _location),
    "scale": (frozenset({NUMERIC}), _scale),
    "category_mix": (frozenset({CATEGORICAL}), _category_mix),
    "missing_share": (frozenset({NUMERIC, CATEGORICAL}), _missing_share),
}
DEFAULT_STRENGTHS = {
    "location": [0.05, 0.1, 0.25, 0.5],
    "scale": [0.1, 0.25, 0.5, 1.0],
    "category_mix": [0.02, 0.05, 0.1, 0.2],
    "missing_share": [0.2],
}
UNITS = {"location": "reference std", "scale": "relative spread", "category_mix": "TVD",
         "missing_share": "share"}


def applies(shift: str, kind: str) -> bool:
    return kind in _get(shift)[0]


def _get(shift: str):
    if shift not in SHIFTS:
        raise ConfigError(f"calibration.shifts: unknown shift '{shift}' (choose from {', '.join(SHIFTS)})")
    return SHIFTS[shift]


def inject(window: pd.DataFrame, shift: str, strength: float, column_stats: dict[str, ColumnStats],
           rng: np.random.Generator) -> pd.DataFrame:
    """A copy of `window` with `shift` of `strength` applied to every column it applies to."""
    kinds, func = _get(shift)
    out = window.copy()
    for name, st in column_stats.items():
        if st.kind in kinds and name in out.columns:
            out[name] = func(out[name], float(strength), st, rng).to_numpy()
    return out
