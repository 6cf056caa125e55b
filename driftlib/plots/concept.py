"""Figures for notebook 03, drawn from a `ConceptReport` (no statistics are computed here)."""
from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

REALIZED, ESTIMATED, REFERENCE, BAD, GOOD = "#1f77b4", "#ff7f0e", "#555555", "#d62728", "#2ca02c"


def _axes(ax, figsize=(10, 3.6)):
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)


def _mid(w) -> pd.Timestamp:
    return pd.Timestamp(w["start"]) + (pd.Timestamp(w["end"]) - pd.Timestamp(w["start"])) / 2


def _series(report, kind: str, metric: str) -> pd.DataFrame:
    rows = []
    for w in report.windows:
        v = (w.get(kind) or {}).get(metric)
        if v and _finite(v.get("value")):  # undefined (e.g. AUC on one class) is skipped, not drawn
            judged = ((w.get("difference") or {}).get(metric) or {}).get("degraded")
            rows.append({"t": _mid(w), "value": v["value"], "lower": v["lower"], "upper": v["upper"],
                         "degraded": judged})
    return pd.DataFrame(rows, columns=["t", "value", "lower", "upper", "degraded"])


def _finite(x) -> bool:
    return x is not None and bool(np.isfinite(float(x)))


def _time_axis(ax) -> None:
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))


def _marks(ax, report, changes: bool = True) -> None:
    """Run window shading, consensus change points and the onset."""
    ax.axvspan(report.start, report.as_of, color="#eeeeee", zorder=0, label="run window")
    if changes:
        for p in report.change_points:
            ax.axvline(pd.Timestamp(p["timestamp"]), color=BAD if p["direction"] == "up" else GOOD,
                       lw=0.8, ls=":", alpha=0.7)
    if report.onset is not None:
        ax.axvline(report.onset, color=BAD, lw=2, label=f"onset {report.onset.date()}")


def performance_timeline(report, metric: str | None = None, ax=None):
    """Realized (labels) and estimated (no labels) metric per window with intervals, vs the reference."""
    metric = metric or report.metric
    fig, ax = _axes(ax)
    _marks(ax, report)
    ref = report.reference["metrics"].get(metric)
    if ref and _finite(ref.get("value")):
        ax.axhline(ref["value"], color=REFERENCE, ls="--", lw=1, label="reference")
        if _finite(ref.get("lower")) and _finite(ref.get("upper")):
            ax.axhspan(ref["lower"], ref["upper"], color=REFERENCE, alpha=0.12)
    for kind, color, style in (("estimated", ESTIMATED, "--"), ("realized", REALIZED, "-")):
        s = _series(report, kind, metric)
        if s.empty:
            continue
        ax.fill_between(s["t"], s["lower"].astype(float), s["upper"].astype(float), color=color, alpha=0.18)
        ax.plot(s["t"], s["value"], style, marker="o", ms=3, color=color, label=kind)
        if kind == "realized":
            bad = s[s["degraded"] == True]  # noqa: E712 - None means not judged
            ax.scatter(bad["t"], bad["value"], s=45, facecolors="none", edgecolors=BAD, zorder=5,
                       label=f"worse than reference on {metric}")
    if all(_series(report, k, metric).empty for k in ("estimated", "realized")):
        ax.text(0.5, 0.5, f"{metric} is undefined in every window (e.g. one class)", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per window: realized with {int(round(100 * report.confidence))}% bootstrap interval, "
                 "estimated from calibrated probabilities", fontsize=10)
    _time_axis(ax)
    ax.legend(fontsize=8, ncol=3, loc="best")
    return fig


def label_coverage(report, ax=None):
    """Share of predictions with a label per window, and how late labels arrive."""
    fig, ax = _axes(ax, (10, 3))
    t = [_mid(w) for w in report.windows]
    width = [(pd.Timestamp(w["end"]) - pd.Timestamp(w["start"])) * 0.8 for w in report.windows]
    ax.bar(t, [w["coverage"] for w in report.windows], width=width, color=REALIZED, alpha=0.5,
           label="label coverage")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("coverage")
    ax2 = ax.twinx()
    for key, style, name in (("lag_median_hours", "-", "median lag"), ("lag_p90_hours", ":", "p90 lag")):
        lag = [np.nan if w[key] is None else w[key] / 24 for w in report.windows]
        ax2.plot(t, lag, style, color=REFERENCE, marker=".", label=name)
    ax2.set_ylabel("label delay (days)")
    _time_axis(ax)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="lower left")
    ax.set_title("Label coverage and delay per window", fontsize=10)
    return fig


def detector_timeline(report, ax=None):
    """Each detector's detections over time (up = errors rising); consensus change points as lines."""
    fig, ax = _axes(ax, (10, 2.6))
    names = sorted({d["detector"] for d in report.detections}) or ["(none)"]
    for i, name in enumerate(names):
        for direction, color, marker in (("up", BAD, "^"), ("down", GOOD, "v")):
            ts = [pd.Timestamp(d["timestamp"]) for d in report.detections
                  if d["detector"] == name and d["direction"] == direction]
            ax.scatter(ts, [i] * len(ts), color=color, marker=marker, s=22)
    _marks(ax, report)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    _time_axis(ax)
    ax.set_title(f"Change detections on the error stream ({report.n_errors:,} labelled predictions); "
                 "dotted lines: consensus change points", fontsize=10)
    return fig


def calibration_curves(report, ax=None):
    """Observed late share per bin of predicted probability: reference vs the run window."""
    fig, ax = _axes(ax, (4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=1, ls="--")
    for key, color in (("reference", REFERENCE), ("current", BAD)):
        c = report.calibration.get(key)
        if c:
            ax.plot(c["mean_predicted"], c["fraction_positive"], marker="o", color=color,
                    label=f"{key} (n={c['n']:,})")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency of class 1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Calibration", fontsize=10)
    return fig


def slice_drops(report, ax=None):
    """Slices (feature = value) whose metric dropped most, with the bootstrap interval of the drop."""
    rows = report.slices
    fig, ax = _axes(ax, (7, 0.35 * max(len(rows), 3) + 1))
    if not rows:
        ax.text(0.5, 0.5, "no slice with enough labelled rows", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = [f"{r['column']} = {r['value']}" for r in rows][::-1]
    drop = np.array([r["drop"] for r in rows][::-1])
    lo = np.array([np.nan if r["drop_lower"] is None else r["drop_lower"] for r in rows][::-1])
    hi = np.array([np.nan if r["drop_upper"] is None else r["drop_upper"] for r in rows][::-1])
    colors = [BAD if r["significant"] and r["drop"] > 0 else "#999999" for r in rows][::-1]
    ax.barh(labels, drop, color=colors, xerr=[np.clip(drop - lo, 0, None), np.clip(hi - drop, 0, None)],
            error_kw={"lw": 0.8})
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"{rows[0].get('metric', 'metric')} drop vs reference (positive = worse)")
    ax.set_title("Slices where performance dropped most (red: interval excludes 0)", fontsize=10)
    return fig


def target_prediction_drift(report, ax=None):
    """Label share (labelled rows) and mean model output per window, vs the reference."""
    fig, ax = _axes(ax, (10, 3))
    t = [_mid(w) for w in report.windows]
    ax.plot(t, [w["target"]["mean"] for w in report.windows], "-o", ms=3, color=REALIZED, label="label mean")
    ax.plot(t, [w["prediction"]["mean"] for w in report.windows], "--o", ms=3, color=ESTIMATED,
            label="prediction mean")
    ax.axhline(report.reference["target_mean"], color=REALIZED, lw=0.8, ls=":", label="reference label mean")
    if report.windows:
        ax.axhline(report.windows[0]["prediction"]["reference_mean"], color=ESTIMATED, lw=0.8, ls=":",
                   label="reference prediction mean")
    _marks(ax, report, changes=False)
    _time_axis(ax)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("Target drift and prediction drift per window", fontsize=10)
    return fig


def slice_table(report):
    """The slice table for people (rounded, no index), or None when no slice had enough labels."""
    if not report.slices:
        return None
    return pd.DataFrame(report.slices).style.format(precision=3, na_rep="–").hide(axis="index")
