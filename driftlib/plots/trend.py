"""The trend over runs atop outputs/index.html: performance against the reference, drift, labels, decisions.

Drawn from `TrendPoint`s the index builds out of each run's summary.json (no statistics here). The figure
is returned as inline SVG text (fonts kept as text, fixed hash salt) so the page stays one offline file,
scales to the page width and is byte-stable for equal input.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from driftlib.plots.concept import BAD, ESTIMATED, GOOD, REALIZED, REFERENCE  # noqa: E402

DECISION_STYLE = {"promoted": ("^", GOOD, "promoted"), "rejected": ("x", "#b35900", "rejected"),
                  "skipped": ("o", "#999999", "skipped")}


@dataclass(frozen=True)
class TrendPoint:
    """One run's numbers for the trend (None where the run has none)."""

    run_date: str
    share_drifted: float | None = None
    realized: float | None = None
    realized_lower: float | None = None
    realized_upper: float | None = None
    estimated: float | None = None
    reference: float | None = None
    label_coverage: float | None = None
    decision: str | None = None
    metric: str | None = None


def _frame(points: list[TrendPoint]) -> pd.DataFrame:
    df = pd.DataFrame([p.__dict__ for p in points])
    df["t"] = pd.to_datetime(df["run_date"])
    return df.sort_values("t").reset_index(drop=True)


def trend_figure(points: list[TrendPoint]):
    """Two stacked panels sharing the run-date axis: performance (top), drift share and label coverage."""
    df = _frame(points)
    metric = next((m for m in df["metric"] if isinstance(m, str)), "performance")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12.4, 4.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2], "hspace": 0.12})
    real = df.dropna(subset=["realized"])
    if len(real):
        lower = (real["realized"] - real["realized_lower"]).clip(lower=0).fillna(0).to_numpy(float)
        upper = (real["realized_upper"] - real["realized"]).clip(lower=0).fillna(0).to_numpy(float)
        top.errorbar(real["t"].to_numpy(), real["realized"].to_numpy(float), yerr=[lower, upper], color=REALIZED, marker="o", capsize=3,
                     label=f"realized {metric} (interval)")
    est = df.dropna(subset=["estimated"])
    if len(est):
        top.plot(est["t"], est["estimated"], color=ESTIMATED, marker="s", linestyle="--",
                 label=f"estimated {metric}")
    ref = df.dropna(subset=["reference"])
    if len(ref):
        # one bar per run: the reference moves with the model (a promotion brings its own)
        top.plot(ref["t"].to_numpy(), ref["reference"].to_numpy(float), color=REFERENCE, linestyle="none",
                 marker="_", markersize=28, markeredgewidth=2, label="reference (serving model)")
    values = pd.concat([df[c] for c in ("realized", "realized_lower", "estimated", "reference")]).dropna()
    span = float(values.max() - values.min()) if len(values) else 0.0
    floor = (float(values.min()) - 0.08 * (span or 0.05)) if len(values) else 0.0  # markers below the lines
    for decision, (marker, colour, label) in DECISION_STYLE.items():
        rows = df[df["decision"] == decision]
        if len(rows):
            top.scatter(rows["t"], [floor] * len(rows), marker=marker, color=colour, s=70, zorder=5,
                        label=f"retraining {label}")
    top.set_ylabel(metric)
    top.grid(alpha=0.3)
    _legend(top)
    top.set_title("Trend over runs", loc="left", fontsize=11)
    drift = df.dropna(subset=["share_drifted"])
    if len(drift):
        bottom.bar(drift["t"], drift["share_drifted"], width=_bar_width(df), color=BAD, alpha=0.45,
                   label="share of drifted features")
    cov = df.dropna(subset=["label_coverage"])
    if len(cov):
        bottom.plot(cov["t"], cov["label_coverage"], color=GOOD, marker="o", label="label coverage")
    bottom.set_ylim(0, 1.05)
    bottom.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    bottom.grid(alpha=0.3)
    _legend(bottom)
    locator = mdates.AutoDateLocator(maxticks=10)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    if len(df) == 1:  # one run: give the axis some width instead of a zero-width range
        t = df["t"].iloc[0]
        bottom.set_xlim(t - pd.Timedelta(days=3), t + pd.Timedelta(days=3))
    fig.subplots_adjust(left=0.06, right=0.80, top=0.93, bottom=0.08)
    return fig


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)


def _bar_width(df: pd.DataFrame) -> float:
    """Bars a little narrower than the smallest gap between runs (in days)."""
    gaps = df["t"].diff().dropna().dt.total_seconds() / 86400
    return min(2.0, max(0.3, 0.35 * float(gaps.min()))) if len(gaps) and gaps.min() > 0 else 1.0


def trend_svg(points: list[TrendPoint]) -> str:
    """The trend as inline SVG (no XML prolog), or '' when no run has a number to draw."""
    numbers = ("share_drifted", "realized", "estimated", "reference", "label_coverage")
    if not any(getattr(p, k) is not None for p in points for k in numbers) and not any(p.decision for p in points):
        return ""
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "driftlib-trend",
                                "font.family": "sans-serif"}):
        fig = trend_figure(points)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    svg = text[start:]
    # scale to the container: drop fixed width/height, keep the viewBox
    head, rest = svg.split(">", 1)
    head = " ".join(part for part in head.split(" ") if not part.startswith(("width=", "height=")))
    return head + ' role="img" aria-label="Trend over runs" style="width:100%;height:auto">' + rest
