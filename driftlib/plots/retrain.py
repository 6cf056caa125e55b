"""Figures of the champion/challenger evidence. They draw what `driftlib.models.training` computed."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

CHAMPION, CHALLENGER, BAD = "#4C72B0", "#DD8452", "#C44E52"


def metric_comparison(decision, min_improvement: float):
    """Left: both models' metric on the holdout. Right: the improvement with its CI vs the margin."""
    c = decision.comparison
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 2.8), gridspec_kw={"width_ratios": [1, 1.4]})
    names = [f"champion\n{decision.champion}", f"challenger\n{decision.challenger}"]
    values = [c.champion, c.challenger]
    finite = [v for v in values if np.isfinite(v)]
    left.bar(names, [v if np.isfinite(v) else 0.0 for v in values], color=[CHAMPION, CHALLENGER])
    if finite:
        lo = min(finite) - 0.05
        left.set_ylim(max(0.0, lo), max(finite) + 0.03)
    for i, v in enumerate(values):
        left.text(i, (v if np.isfinite(v) else 0) + 0.005, f"{v:.3f}" if np.isfinite(v) else "undefined",
                  ha="center", fontsize=9)
    fell = f" (fallback: {c.requested} undefined)" if getattr(c, "requested", None) else ""
    left.set_ylabel(f"{c.metric} on holdout (n={c.n:,}){fell}", fontsize=8 if fell else None)
    colour = CHALLENGER if decision.decision == "promoted" else BAD
    if np.isfinite(c.delta) and np.all(np.isfinite(c.ci)):
        right.errorbar([c.delta], [0], xerr=[[c.delta - c.ci[0]], [c.ci[1] - c.delta]], fmt="o",
                       color=colour, capsize=6, lw=2)
    else:
        right.text(0, 0, "improvement undefined", ha="center", va="center")
    right.axvline(0, color="grey", lw=1)
    right.axvline(min_improvement, color="green", ls="--", lw=1, label=f"required +{min_improvement:g}")
    span = max([abs(x) for x in c.ci if np.isfinite(x)] + [min_improvement]) * 1.4 or 0.01
    right.set_xlim(-span, span)
    right.set_yticks([])
    right.set_xlabel(f"improvement in {c.metric} ({c.confidence:.0%} bootstrap CI)")
    right.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def slice_deltas(decision, tolerance: float | None):
    """Improvement per slice value; bars left of the dashed line block a promotion (`tolerance` None:
    the gate's default for the metric, see `models.gate.slice_tolerance_for`)."""
    if tolerance is None:
        from driftlib.models.gate import SLICE_TOLERANCE, slice_tolerance_for

        comparison = getattr(decision, "comparison", None)
        tolerance = slice_tolerance_for(comparison, None) if comparison is not None else SLICE_TOLERANCE
    frame = decision.slice_frame()
    frame = frame[np.isfinite(frame["delta"].astype(float))] if not frame.empty else frame
    if frame.empty:
        fig, ax = plt.subplots(figsize=(6, 1))
        ax.text(0.5, 0.5, "no slice with enough rows", ha="center", va="center")
        ax.axis("off")
        return fig
    frame = frame.assign(label=frame["column"] + "=" + frame["value"] + " (" + frame["n"].astype(str) + ")")
    frame = frame.sort_values("delta")
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(frame) + 1.2))
    colours = np.where(frame["delta"] < -tolerance, BAD, CHALLENGER)
    ax.barh(frame["label"], frame["delta"], color=colours)
    ax.axvline(0, color="grey", lw=1)
    ax.axvline(-tolerance, color=BAD, ls="--", lw=1, label=f"tolerance -{tolerance:g}")
    ax.set_xlabel(f"challenger - champion {decision.metric} per slice (rows)")
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def holdout_timeline(timeline: pd.DataFrame, metric: str):
    """Both models per period of the holdout: a steady gap is more convincing than a single day."""
    fig, ax = plt.subplots(figsize=(8, 2.6))
    if timeline.empty:
        ax.text(0.5, 0.5, "no holdout", ha="center", va="center")
        ax.axis("off")
        return fig
    timeline = timeline.dropna(subset=["champion", "challenger"], how="all")
    if timeline.empty:
        ax.text(0.5, 0.5, f"{metric} undefined in every period", ha="center", va="center")
        ax.axis("off")
        return fig
    ax.plot(timeline["period"], timeline["champion"], "o-", color=CHAMPION, label="champion")
    ax.plot(timeline["period"], timeline["challenger"], "o-", color=CHALLENGER, label="challenger")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
