"""The calibration report: one self-contained HTML page (plots as base64 PNG) and a JSON table.

Figures use `matplotlib.figure.Figure` (no pyplot state). The page opens offline.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from driftlib.calibration.inject import UNITS
from driftlib.calibration.result import DEFAULT, CalibrationResult
from driftlib.core.jsonio import atomic_write_text, write_json

HTML_FILE, JSON_FILE = "calibration.html", "calibration.json"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def false_alarm_figure(result: CalibrationResult) -> Figure:
    """Measured false-alarm rate of the default test and threshold, per column and window size."""
    fa = result.false_alarms
    fa = fa[fa["method"] == DEFAULT]
    fa = fa[[np.isclose(t, _default_threshold(s)) for s, t in zip(fa["stattest"], fa["threshold"])]]
    pivot = fa.pivot_table(index="column", columns="size", values="false_alarm")
    fig = Figure(figsize=(8, 0.35 * max(len(pivot), 4) + 1))
    ax = fig.subplots()
    if len(pivot):
        pivot.plot.barh(ax=ax)
    ax.axvline(result.target_false_alarm, color="black", linestyle="--", label="target")
    ax.set_xlabel("share of shift-free windows flagged (default test and threshold)")
    ax.set_xlim(0, 1)
    ax.legend(title="rows per window", fontsize=8)
    ax.set_title("False-alarm rate per column")
    return fig


def detection_figure(result: CalibrationResult) -> Figure:
    """Detection rate against shift strength, per test (mean over the columns it applies to)."""
    det = result.detection
    det = det[det["size"] == result.decision_size]
    det = det[[np.isclose(t, _default_threshold(s)) for s, t in zip(det["stattest"], det["threshold"])]]
    shifts = list(dict.fromkeys(det["shift"]))
    fig = Figure(figsize=(4 * max(len(shifts), 1), 3.2))
    axes = np.atleast_1d(fig.subplots(1, max(len(shifts), 1)))
    for ax, shift in zip(axes, shifts):
        part = det[det["shift"] == shift].groupby(["method", "strength"])["rate"].mean().unstack(0)
        part.plot(ax=ax, marker="o")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"strength ({UNITS.get(shift, '')})")
        ax.set_title(shift)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"detection rate at {result.decision_size} rows")
    return fig


def detectable_figure(result: CalibrationResult) -> Figure:
    d = result.detectable
    fig = Figure(figsize=(8, 0.35 * max(d["column"].nunique() if len(d) else 0, 4) + 1))
    ax = fig.subplots()
    if len(d):
        d.assign(mds=d["mds"].replace(np.inf, np.nan)).pivot_table(
            index="column", columns="size", values="mds").plot.barh(ax=ax)
    ax.set_xlabel("smallest detectable shift (numeric: reference std; categorical: TVD)")
    ax.set_title("What a window of this size could have seen (default test)")
    ax.legend(title="rows per window", fontsize=8)
    return fig


def _default_threshold(stattest: str) -> float:
    from driftlib.drift.stats import STAT_TESTS

    return STAT_TESTS[stattest].default_threshold


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda x: f"{x:.3g}", na_rep="-", border=0, classes="t")


def render_html(result: CalibrationResult, title: str = "Drift calibration") -> str:
    s = result.to_dict()["settings"]
    budget = (f"stopped by the budget after {s['n_windows_done']} of {s['n_windows_planned']} windows"
              if s["stopped_by_budget"] else f"{s['n_windows_done']} windows")
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>{html.escape(result.headline)}</b></p>",
        f"<p>Reference: {s['n_reference']:,} rows; pseudo-window sizes {s['sizes']} rows"
        + (f" (dropped, too large: {s['dropped_sizes']})" if s["dropped_sizes"] else "")
        + f"; {budget} in {s['elapsed_s']:.0f} s (budget {s['budget_s']:g} s); seed {s['seed']}.</p>",
        "<h2>Suggested test and threshold per column</h2>",
        f"<p>At {result.decision_size} rows per window: the test and threshold with the best detection of "
        f"location/scale (numeric) or category-mix (categorical) shifts among those flagging at most "
        f"{result.target_false_alarm:g} of shift-free windows. <code>upper_95</code>: with few windows a low "
        "rate is not proven. Put the rows with <code>meets_target</code> into <code>drift.columns</code>.</p>",
        _table(result.suggestions),
        "<h2>Dataset-level false alarms</h2>",
        "<p>Share of shift-free windows whose dataset verdict is drift: default rule, and with "
        "Benjamini-Hochberg at the target level on p-values from the other windows' scores "
        "(<code>min_p</code>: the smallest such p-value).</p>",
        _table(result.dataset_false_alarms),
        _png(false_alarm_figure(result)),
        _png(detection_figure(result)),
        "<h2>Minimum detectable shift</h2>",
        "<p>A window that could not have detected a shift of a given size is no evidence that none happened.</p>",
        _png(detectable_figure(result)),
        _table(result.detectable),
        "<h2>Detection rate and delay (default tests)</h2>",
        "<p>Delay: expected windows until the first detection (1 / rate).</p>",
        _table(_default_rows(result.detection).drop(columns=["method", "detected"])),
    ]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{padding:2px 8px;"
             "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def _default_rows(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df["method"] == DEFAULT]
    return df[[np.isclose(t, _default_threshold(s)) for s, t in zip(df["stattest"], df["threshold"])]]


def write_report(result: CalibrationResult, out_dir: str | Path, title: str = "Drift calibration") -> dict[str, Path]:
    """`calibration.html` and `calibration.json` in `out_dir`, written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {"html": atomic_write_text(out / HTML_FILE, render_html(result, title)),
            "json": write_json(out / JSON_FILE, result.to_dict())}
