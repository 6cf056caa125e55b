"""Figures of multivariate drift: the detector score per window against its no-drift band, and the
features that separate a window from the reference. Drawn from the results; nothing is computed here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SCORE, BAND, DRIFT = "#4C72B0", "#bbbbbb", "#d62728"
TITLES = {"domain_classifier": "Domain classifier AUC (0.5 = indistinguishable)",
          "reconstruction": "PCA reconstruction error"}


def _windows(obj) -> list:
    """MultivariateWindows objects from a report, one windows object, or a list of them."""
    if hasattr(obj, "results") and isinstance(obj.results, dict):
        return [w for w in obj.results.values() if hasattr(w, "table")]
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _x(table: pd.DataFrame):
    starts = table["start"]
    if len(table) and starts.notna().all():
        ends = pd.to_datetime(table["end"], utc=True)
        return pd.to_datetime(starts, utc=True) + (ends - pd.to_datetime(starts, utc=True)) / 2, True
    return table["window"], False


def multivariate_timeline(windows, title: str | None = None) -> Figure:
    """One panel per detector: score with its interval, the no-drift band (PCA: reference chunks' mean
    ± k std; classifier: 0.5 up to the critical AUC at alpha), drifted windows in red."""
    panels = _windows(windows)
    fig = Figure(figsize=(10, 2.8 * max(1, len(panels))))
    axes = fig.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    for ax, w in zip(axes, panels):
        t = w.table
        x, is_time = _x(t)
        ok = t["status"] == "ok"
        lo = t["threshold_lower"].astype(float).fillna(0.5 if w.detector == "domain_classifier" else np.nan)
        ax.fill_between(x[ok], lo[ok], t.loc[ok, "threshold_upper"].astype(float), color=BAND, alpha=0.5,
                        step="mid", label="no-drift band", linewidth=0)
        yerr = np.vstack([(t["score"] - t["lower"]).astype(float), (t["upper"] - t["score"]).astype(float)])
        ax.errorbar(x[ok], t.loc[ok, "score"].astype(float), yerr=yerr[:, ok.to_numpy()], fmt="o-", color=SCORE,
                    markersize=4, capsize=2, label="score")
        hit = ok & t["drifted"].eq(True)
        ax.scatter(x[hit], t.loc[hit, "score"].astype(float), s=50, color=DRIFT, zorder=3, label="drifted")
        for xi in x[~ok]:
            ax.axvline(xi, color=BAND, linestyle=":", linewidth=1)
        ax.set_title(TITLES.get(w.detector, w.detector), fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper left", frameon=False)
        if not is_time:
            ax.set_xlabel("window")
    fig.suptitle(title or "Multivariate drift per window", fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def _result(obj):
    """One detector result: the classifier's of a report, the last scored window of a windows object."""
    if hasattr(obj, "results") and isinstance(obj.results, dict):
        obj = obj.results.get("domain_classifier") or next(iter(obj.results.values()))
    if hasattr(obj, "table"):
        scored = [w for w in obj.results if w.status == "ok"]
        obj = scored[-1] if scored else obj.results[-1]
    return obj


def separating_features(result, top: int = 10, title: str | None = None) -> Figure:
    """Horizontal bars of the features that separate the window from the reference, strongest on top
    (classifier: drop of held-out AUC when shuffled; PCA: growth of the squared residual)."""
    r = _result(result)
    feats = r.features[:top]
    fig = Figure(figsize=(6, 1.2 + 0.3 * max(len(feats), 1)))
    ax = fig.subplots()
    if not feats:
        ax.text(0.5, 0.5, "no separating feature (no drift flagged)", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
    else:
        names = [f["feature"] for f in feats][::-1]
        ax.barh(names, [f["importance"] for f in feats][::-1], color=DRIFT if r.drifted else SCORE)
        ax.set_xlabel("importance", fontsize=8)
    fig.suptitle(title or "What separates the window from the reference", fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def show_views(views) -> list[Figure]:
    """Notebook 02's multivariate figures, displayed: the features separating the run window from the
    reference and the segments whose share moved; none when the checks were skipped. Displayed here
    because figures drawn inside a notebook's `if` are not the cell's value and would not be shown."""
    if views.multivariate is None:
        return []
    from IPython.display import display

    from driftlib.plots.slices import slice_bars

    figures = [separating_features(views.multivariate), slice_bars(views.segments)]
    for fig in figures:
        display(fig)
    return figures
