"""Figures of a slice search (`SliceReport`): the top slices, their share of traffic and their effect.
Drawn from the report's table; nothing is computed here."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

SIG, NOT_SIG, REF, CUR, GOOD, BAD = "#d62728", "#bbbbbb", "#4C72B0", "#DD8452", "#2ca02c", "#d62728"


def _wrap(name: str, width: int = 38) -> str:
    return name if len(name) <= width else name.replace(" & ", " &\n")


def slice_bars(report, top: int = 10, title: str | None = None) -> Figure:
    """Left: the ranked effect (degradation: contribution = share x drop; drift: change of share;
    comparison: challenger's loss improvement) with its interval, significant slices coloured.
    Right: share of traffic (drift: reference vs current)."""
    t = report.table.head(top).iloc[::-1]
    n = max(len(t), 1)
    fig = Figure(figsize=(11, 1.3 + 0.38 * n))
    ax, ax2 = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1.3]})
    if not len(t):
        ax.text(0.5, 0.5, "no slice had enough rows on both sides", ha="center", transform=ax.transAxes)
        fig.suptitle(title or report.headline, fontsize=9, x=0.01, ha="left")
        return fig
    y = np.arange(len(t))
    names = [_wrap(s) for s in t["slice"]]
    sig = t["significant"].to_numpy(dtype=bool)
    if report.mode == "degradation":
        value = t["contribution"].to_numpy(float)
        lo = t["drop_lower"].to_numpy(float) * t["share_current"].to_numpy(float)
        hi = t["drop_upper"].to_numpy(float) * t["share_current"].to_numpy(float)
        colors = np.where(sig, SIG, NOT_SIG)
        label = f"contribution to the {report.metric} drop (share x drop, > 0 = worse)"
    elif report.mode == "drift":
        value = t["share_change"].to_numpy(float)
        lo, hi = t["change_lower"].to_numpy(float), t["change_upper"].to_numpy(float)
        colors = np.where(sig, SIG, NOT_SIG)
        label = "change of traffic share (current - reference)"
    else:
        value = t["delta"].to_numpy(float)
        lo, hi = t["delta_lower"].to_numpy(float), t["delta_upper"].to_numpy(float)
        colors = np.where(~sig, NOT_SIG, np.where(value > 0, GOOD, BAD))
        label = "challenger's loss improvement (> 0 = helps)"
    err = np.vstack([np.clip(value - lo, 0, None), np.clip(hi - value, 0, None)])
    ax.barh(y, value, color=colors, xerr=np.nan_to_num(err), error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlabel(label, fontsize=8)
    if report.mode == "degradation":
        for yi, r in zip(y, t.itertuples()):
            ax.annotate(f" {r.current:.3g} vs {r.reference:.3g}", (max(r.contribution, 0), yi), fontsize=6,
                        va="center")
    if report.mode == "drift":
        ax2.barh(y - 0.2, t["share_reference"], height=0.4, color=REF, label="reference")
        ax2.barh(y + 0.2, t["share_current"], height=0.4, color=CUR, label="current")
        ax2.legend(fontsize=7, frameon=False, loc="lower right")
    else:
        ax2.barh(y, t["share_current"], color=CUR)
    ax2.set_xlabel("share of traffic", fontsize=8)
    fig.suptitle(title or report.headline, fontsize=9, x=0.01, ha="left", wrap=True)
    fig.tight_layout()
    return fig
