"""Tables as float matrices for tree models and PCA, fitted on a reference and applied to any window.

Numeric columns become floats (NaN kept: HistGradientBoosting treats it as missing). Categorical columns
become either ordinal codes (`mode="ordinal"`: the reference's categories, most frequent first, capped so
HistGradientBoosting's `categorical_features` accepts them; one extra code for values the reference never
had or that fell past the cap, NaN for missing) or their reference frequency (`mode="frequency"`, NannyML's
count encoding for PCA: unseen values get 0).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from driftlib.core.errors import InputError
from driftlib.data.features import infer_feature_types

MAX_CATEGORIES = 250  # HistGradientBoosting allows max_bins (255) codes per categorical feature


def resolve_features(df: pd.DataFrame, numeric: Iterable[str] | None, categorical: Iterable[str] | None,
                     exclude: Iterable[str] = (), where: str = "reference") -> tuple[list[str], list[str]]:
    """The given feature lists, or the frame's columns typed by dtype when both are None."""
    if numeric is None and categorical is None:
        numeric, categorical = infer_feature_types(df, list(exclude))
    numeric, categorical = list(numeric or []), list(categorical or [])
    missing = [c for c in [*numeric, *categorical] if c not in df.columns]
    if missing:
        raise InputError(f"{where}: missing feature column(s) {', '.join(map(str, missing))}")
    if not numeric and not categorical:
        raise InputError(f"{where}: no feature columns to analyse")
    return numeric, categorical


def _numeric(values: pd.Series, name: str, where: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(float)
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() & values.notna()
    if bad.any():
        raise InputError(f"{where}: column '{name}' is not numeric (e.g. {values[bad].iloc[0]!r})")
    return out.to_numpy(dtype=float, na_value=np.nan)


class TabularEncoder:
    """`TabularEncoder(numeric, categorical).fit(reference).transform(window)` -> (n, k) float array."""

    def __init__(self, numeric: Iterable[str], categorical: Iterable[str], mode: str = "ordinal",
                 max_categories: int = MAX_CATEGORIES):
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.mode = mode
        self.max_categories = max_categories

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([False] * len(self.numeric) + [True] * len(self.categorical))

    def fit(self, reference: pd.DataFrame) -> "TabularEncoder":
        if self.mode not in ("ordinal", "frequency"):
            raise ValueError(f"mode must be 'ordinal' or 'frequency', got {self.mode!r}")
        self.categories_: dict[str, pd.Series] = {}
        for c in self.categorical:
            share = reference[c].astype("string").value_counts(normalize=True, dropna=True)
            self.categories_[c] = share.iloc[: self.max_categories]
        return self

    def transform(self, df: pd.DataFrame, where: str = "current") -> np.ndarray:
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise InputError(f"{where}: missing feature column(s) {', '.join(map(str, missing))}")
        out = np.empty((len(df), len(self.columns)), dtype=float)
        for j, c in enumerate(self.numeric):
            out[:, j] = _numeric(df[c], c, where)
        for j, c in enumerate(self.categorical, start=len(self.numeric)):
            values = df[c].astype("string")
            known = self.categories_[c]
            if self.mode == "frequency":
                out[:, j] = values.map(known).astype(float).fillna(0.0).to_numpy()
                continue
            codes = pd.Categorical(values, categories=known.index).codes.astype(float)
            codes[codes < 0] = len(known)  # unseen or past the cap: one shared "other" code
            codes[values.isna().to_numpy()] = np.nan
            out[:, j] = codes
        return out
