"""Figures of data drift: when each feature began drifting, and how its distribution moved.

Figures are built with `matplotlib.figure.Figure` (no pyplot state), so they are safe off the main
thread and display exactly once when a notebook cell returns them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

REF_COLOR, CUR_COLOR = "#4C72B0", "#DD8452"
CAP = 3.0  # strength beyond 3x the threshold is shown as the darkest colour


def _labels(index) -> list[str]:
    if isinstance(index, pd.DatetimeIndex) or (len(index) and isinstance(index[0], pd.Timestamp)):
        idx = pd.DatetimeIndex(index)
        fmt = "%Y-%m-%d" if (idx == idx.normalize()).all() else "%m-%d %H:%M"
        return [t.strftime(fmt) for t in idx]
    return [str(x) for x in index]


def window_heatmap(windowed, max_columns: int = 30, title: str | None = None) -> Figure:
    """Windows (x) by features (y): colour = drift strength (1 = at the threshold), grey with x =
    insufficient data, black dot = drifted, black frame = first drifted window. Features are ordered
    by when they began drifting."""
    strength = windowed.pivot("strength")
    drifted = windowed.pivot("drifted").eq(True)
    status = windowed.pivot("status")
    first = windowed.first_drift().reindex(strength.columns)
    position = {c: (list(strength.index).index(first[c]) if first[c] is not None else len(strength))
                for c in strength.columns}
    cols = sorted(strength.columns, key=lambda c: (position[c], -np.nan_to_num(strength[c].max())))
    cols = cols[:max_columns]
    m = strength[cols].T.to_numpy(dtype=float)
    n_cols, n_win = m.shape
    fig = Figure(figsize=(max(7.0, min(3 + 0.32 * n_win, 18)), 1.8 + 0.3 * max(n_cols, 1)))
    ax = fig.subplots()
    cmap = ListedColormap(["#f7fbff", "#deebf7", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"]).with_extremes(
        bad="#d9d9d9")
    img = ax.imshow(np.ma.masked_invalid(np.clip(m, 0, CAP)), aspect="auto", cmap=cmap, vmin=0, vmax=CAP,
                    interpolation="nearest")
    insufficient = (status[cols].T != "ok").to_numpy()
    yy, xx = np.nonzero(insufficient)
    ax.scatter(xx, yy, marker="x", s=14, color="#969696", linewidths=0.8)
    yy, xx = np.nonzero(drifted[cols].T.to_numpy(dtype=bool))
    ax.scatter(xx, yy, marker="o", s=10, color="black")
    for row, c in enumerate(cols):
        if position[c] < n_win:
            ax.add_patch(Rectangle((position[c] - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black",
                                   linewidth=1.6))
    ax.set_yticks(range(n_cols), cols, fontsize=8)
    labels = _labels(strength.index)
    step = max(1, math.ceil(n_win / 20))
    ax.set_xticks(range(0, n_win, step), labels[::step], rotation=60, ha="right", fontsize=8)
    bar = fig.colorbar(img, ax=ax, fraction=0.04, pad=0.01, shrink=min(1.0, 4 / max(n_cols, 1)) ** 0.5)
    bar.set_label("drift strength (1 = threshold)", fontsize=8)
    ax.legend(handles=[Patch(facecolor="#d9d9d9", label="insufficient data (x)"),
                       Patch(facecolor="white", edgecolor="black", label="first drifted window"),
                       Line2D([], [], marker="o", color="black", linestyle="", markersize=4, label="drifted")],
              loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=7, frameon=False)
    fig.suptitle(title or f"Drift per {windowed.window} window", fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def _numeric_panel(ax, ref: pd.Series, cur: pd.Series, bins: int) -> None:
    r = pd.to_numeric(ref, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    c = pd.to_numeric(cur, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    both = np.concatenate((r, c))
    if both.size == 0:
        ax.text(0.5, 0.5, "no values", ha="center", transform=ax.transAxes)
        return
    lo, hi = np.quantile(both, [0.005, 0.995])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    for values, color, label in ((r, REF_COLOR, "reference"), (c, CUR_COLOR, "current")):
        if values.size:
            clipped = np.clip(values, lo, hi)
            ax.hist(clipped, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=color,
                    label=label)
            ax.hist(clipped, bins=edges, density=True, histtype="step", color=color)
    ax.set_yticks([])


def _categorical_panel(ax, ref: pd.Series, cur: pd.Series, top: int, by_value: bool = False) -> None:
    r = ref.dropna().value_counts(normalize=True)
    c = cur.dropna().value_counts(normalize=True)
    shares = pd.DataFrame({"reference": r, "current": c}).fillna(0.0)
    if by_value:  # a numeric column with few values: keep the values in order
        shares = shares.sort_index(ascending=False).iloc[::-1]
        order = shares.index
        top = len(order)
    else:
        order = shares.max(axis=1).sort_values(ascending=False).index
    shares.index = shares.index.map(str)
    order = order.map(str)
    shown = shares.loc[order[:top]]
    if len(order) > top:
        shown.loc["(other)"] = shares.loc[order[top:]].sum()
    y = np.arange(len(shown))[::-1]
    ax.barh(y + 0.2, shown["reference"], height=0.4, color=REF_COLOR, label="reference")
    ax.barh(y - 0.2, shown["current"], height=0.4, color=CUR_COLOR, label="current")
    ax.set_yticks(y, [s[:18] for s in shown.index], fontsize=7)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")


def _few_values(ref: pd.Series, cur: pd.Series, limit: int = 12) -> bool:
    return pd.concat([ref.head(200_000), cur.head(200_000)]).nunique() <= limit


def distribution_plots(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str],
                       kinds: dict[str, str], result=None, bins: int = 40, top: int = 8,
                       ncols: int = 3) -> Figure:
    """Reference vs current per column: overlaid histograms (numeric), share bars (categorical).
    With a `DriftResult`, each title carries the method and score."""
    columns = [c for c in columns if c in reference.columns and c in current.columns]
    n = max(len(columns), 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 2.8 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    rows = result.table.set_index("column") if result is not None else None
    for ax, name in zip(axes, columns):
        if kinds.get(name) == "numeric" and _few_values(reference[name], current[name]):
            _categorical_panel(ax, reference[name], current[name], top, by_value=True)
        elif kinds.get(name) == "numeric":
            _numeric_panel(ax, reference[name], current[name], bins)
        else:
            _categorical_panel(ax, reference[name], current[name], top)
        title = name
        if rows is not None and name in rows.index and rows.loc[name, "status"] == "ok":
            r = rows.loc[name]
            title += f"\n{r['method']} {r['score']:.3g}" + (" (drift)" if r["drifted"] else "")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(columns):]:
        ax.axis("off")
    if columns:
        axes[0].legend(fontsize=7, frameon=False)
    else:
        axes[0].text(0.5, 0.5, "no drifted features to show", ha="center", transform=axes[0].transAxes)
    fig.tight_layout()
    return fig


def ranked_table(ranked: pd.DataFrame, rows: int = 15):
    """The ranking as a table for people: named columns, yes/no, rounded numbers, no index."""
    shown = ranked.rename(columns={"column": "feature", "method": "test", "weighted": "strength x importance"})
    shown["drifted"] = shown["drifted"].map({True: "yes", False: "no"})
    return shown.head(rows).style.format({"score": "{:.3g}", "threshold": "{:g}", "strength": "{:.2f}",
                                          "importance": "{:.2f}", "strength x importance": "{:.2f}"},
                                         na_rep="–").hide(axis="index")
