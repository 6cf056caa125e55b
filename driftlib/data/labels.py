"""The one rule for which labels are known on a date: those whose arrival time is before it.

A label without an arrival time (a table whose `columns.label_timestamp` is empty for that row) is
not counted: a report must never use a label it could not have had on its run date.
"""
from __future__ import annotations

import pandas as pd

from driftlib.core.clock import utc
from driftlib.data.features import LABEL_TIME


def labels_as_of(df: pd.DataFrame, target: str, as_of) -> pd.DataFrame:
    """`df` with `target` set to NaN where the label had not arrived before `as_of` (no-op without arrival times)."""
    if as_of is None or LABEL_TIME not in df.columns or target not in df.columns:
        return df
    late = df[LABEL_TIME].isna() | (df[LABEL_TIME] >= utc(as_of))
    if not late.any():
        return df
    return df.assign(**{target: df[target].mask(late)})  # raw labels kept: the label encoder maps them
