"""Drift figures: the heatmap shows windows x features and greys out thin windows."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from driftlib.drift.detector import DriftDetector
from driftlib.plots.drift import distribution_plots, window_heatmap


def _windowed():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.choice(list("xy"), 3000)})
    days = []
    for d, n in enumerate([1500, 1500, 20, 1500]):
        days.append(pd.DataFrame({"a": rng.normal(1.0 if d >= 1 else 0, 1, n), "b": rng.choice(list("xy"), n),
                                  "ts": pd.Timestamp("2024-05-01", tz="UTC") + pd.Timedelta(days=d)}))
    log = pd.concat(days, ignore_index=True)
    det = DriftDetector(numeric=["a"], categorical=["b"], min_rows=100).fit(ref)
    return ref, log, det


def test_heatmap_has_a_cell_per_window_and_feature_and_masks_thin_windows():
    ref, log, det = _windowed()
    fig = window_heatmap(det.score_windows(log, timestamp="ts", window="1D"))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    cells = ax.images[0].get_array()
    assert cells.shape == (2, 4)
    assert cells.mask[:, 2].all() and not cells.mask[:, [0, 1, 3]].any()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]  # a drifts first
    assert ax.get_xticklabels()[0].get_text() == "2024-05-01"


def test_distribution_plots_one_panel_per_column():
    ref, log, det = _windowed()
    res = det.score(log)
    fig = distribution_plots(ref, log, ["a", "b"], {"a": "numeric", "b": "categorical"}, result=res)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("a\nWasserstein distance (normed)") and titles[0].endswith("(drift)")
    assert titles[1].startswith("b\n")
    empty = distribution_plots(ref, log, [], {})
    assert isinstance(empty, Figure)
