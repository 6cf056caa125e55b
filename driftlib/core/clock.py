"""One clock and one UTC rule, so no module needs the model registry (or pandas) just to read the time."""
from __future__ import annotations

from datetime import date, datetime, timezone


def utc_now() -> datetime:
    """The current time, tz-aware UTC. Components take a `clock` argument defaulting to this."""
    return datetime.now(timezone.utc)


def utc(value: "str | date | datetime"):
    """A tz-aware UTC `pd.Timestamp` (naive input is taken as UTC)."""
    import pandas as pd

    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
