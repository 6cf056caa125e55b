"""Which columns are features, and of which kind: the data layer's one rule for configured or inferred features."""
from __future__ import annotations

import pandas as pd

from driftlib.config import Params
from driftlib.core.errors import InputError

# columns the log reader adds next to the user's own: never features
LABEL_TIME = "label_timestamp"
BOOKKEEPING = (LABEL_TIME, "request_id", "model_version", "unknown_categories")


def infer_feature_types(df: pd.DataFrame, exclude: list[str] = ()) -> tuple[list[str], list[str]]:
    """Numeric dtypes are numeric, everything else categorical (booleans count as categorical)."""
    numeric, categorical = [], []
    for name in df.columns:
        if name in exclude:
            continue
        s = df[name]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            categorical.append(name)
        else:
            numeric.append(name)
    return numeric, categorical


def feature_lists(params: Params, df: pd.DataFrame | None = None) -> tuple[list[str], list[str]]:
    """Configured features, or inferred from `df` leaving out the bookkeeping columns."""
    f = params.features
    if f.numeric or f.categorical:
        return list(f.numeric), list(f.categorical)
    if df is None:
        raise InputError(f"{params.source_file}: features are not listed and no data to infer them")
    c = params.columns
    exclude = [c.timestamp, c.target, c.prediction, c.probability, c.id, *BOOKKEEPING]
    return infer_feature_types(df, [x for x in exclude if x])
