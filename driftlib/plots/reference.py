"""Figures of the reference profile: what 'normal' looks like for each feature."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd


def feature_grid(df: pd.DataFrame, numeric: list[str], categorical: list[str], top: int = 8):
    """Small multiples: a histogram per numeric feature, top-category shares per categorical one."""
    cols = [*numeric, *categorical]
    n = max(len(cols), 1)
    ncols = 4
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, cols):
        if name in numeric:
            pd.to_numeric(df[name], errors="coerce").dropna().plot.hist(ax=ax, bins=30, color="#4C72B0")
            ax.set_ylabel("")
        else:
            shares = df[name].astype(str).value_counts(normalize=True).head(top)[::-1]
            shares.plot.barh(ax=ax, color="#55A868")
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def missing_shares(profile) -> plt.Figure:
    frame = pd.DataFrame(profile.schema["columns"]).set_index("name")["null_share"].sort_values()
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(frame) + 1))
    frame.plot.barh(ax=ax, color="#C44E52")
    ax.set_xlabel("share of missing values")
    ax.set_xlim(0, max(0.05, frame.max() * 1.1))
    fig.tight_layout()
    return fig
