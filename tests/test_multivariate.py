"""Multivariate drift detectors: a correlation flip no column shows is found; no change is not flagged."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.detector import DriftDetector
from driftlib.drift.multivariate import (DomainClassifierDetector, MultivariateDriftResult,
                                         ReconstructionDriftDetector, multivariate_drift)
from driftlib.drift.synthetic import correlation_world

FAST = dict(max_iter=40, n_splits=3)


def _detectors():
    return [DomainClassifierDetector(**FAST), ReconstructionDriftDetector()]


def test_correlation_flip_is_invisible_per_column_but_both_detectors_flag_it():
    reference, current = correlation_world(seed=3)
    assert DriftDetector().fit(reference).score(current).n_drifted == 0  # every marginal unchanged
    for det in _detectors():
        res = det.fit(reference).score(current)
        assert res.drifted, res.headline
        # the two features whose correlation flipped are the ones named
        assert {f["feature"] for f in res.features[:2]} == {"x1", "x2"}, res.features
    dc = DomainClassifierDetector(**FAST).fit(reference).score(current)
    assert dc.score > 0.75 and dc.lower < dc.score < dc.upper and dc.p_value < 1e-6


def test_no_change_false_alarms_stay_rare_over_seeds():
    """Fast guard of the 100-seed benchmark (benchmarks/multivariate_false_alarms.py): <= 3 of 20 seeds."""
    alarms = {"domain_classifier": 0, "reconstruction": 0}
    for seed in range(20):
        reference, current = correlation_world(seed=100 + seed, n_reference=2000, n_current=500, flip=False)
        for det in _detectors():
            alarms[det.name] += bool(det.fit(reference).score(current).drifted)
    assert alarms["domain_classifier"] <= 3 and alarms["reconstruction"] <= 3, alarms


def test_categorical_only_drift_with_unseen_categories_and_nan():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=1500), "c": rng.choice(["a", "b", None], size=1500)})
    current = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "zz"], size=500)})
    res = DomainClassifierDetector(**FAST).fit(reference).score(current)
    assert res.drifted and res.features[0]["feature"] == "c"
    assert ReconstructionDriftDetector().fit(reference).score(current).status == "ok"


def test_windows_split_like_the_column_detector_and_short_windows_are_insufficient():
    reference, _ = correlation_world(seed=5, n_reference=3000)
    _, drifted = correlation_world(seed=6, n_current=600, flip=True)
    _, stable = correlation_world(seed=7, n_current=600, flip=False)
    log = pd.concat([stable, drifted, stable.iloc[:50]], ignore_index=True)
    log["ts"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(log)) * 144, unit="s")
    for det in _detectors():
        w = det.fit(reference).score_windows(log, timestamp="ts", window=600, min_rows=100)
        assert [r.status for r in w.results] == ["ok", "ok", "insufficient data"]
        assert [r.drifted for r in w.results] == [False, True, None]
        assert w.first_drift() == w.results[1].start
        json.dumps(w.to_dict())
        assert "<table" in w._repr_html_()


def test_one_call_reports_both_detectors_as_json():
    reference, current = correlation_world(seed=8)
    report = multivariate_drift(reference, current, numeric=["x1", "x2", "x3", "x4", "x5"],
                                categorical=["c"], **FAST)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["multivariate_drift"] is True
    assert set(d["detectors"]) == {"domain_classifier", "reconstruction"}
    assert set(d["separating_features"][:2]) == {"x1", "x2"}
    assert d["detectors"]["domain_classifier"]["p_value"] < 0.05
    assert "Domain classifier" in report._repr_html_()


def test_permutation_null_agrees_with_mann_whitney_on_a_clear_case():
    reference, current = correlation_world(seed=9, n_reference=600, n_current=300)
    det = DomainClassifierDetector(null="permutation", n_permutations=9, alpha=0.2, explain="never", **FAST)
    res = det.fit(reference).score(current)
    assert res.drifted and res.p_value == pytest.approx(0.1)  # 1/(1+9): no permuted AUC reaches it
    _, same = correlation_world(seed=10, n_reference=600, n_current=300, flip=False)
    assert det.score(same).p_value > 0.1


def test_bad_input_names_the_field():
    reference, current = correlation_world(seed=1, n_reference=200, n_current=100)
    with pytest.raises(ConfigError, match="alpha"):
        DomainClassifierDetector(alpha=2).fit(reference)
    with pytest.raises(InputError, match="missing feature column.*nope"):
        DomainClassifierDetector(numeric=["nope"]).fit(reference)
    with pytest.raises(InputError, match="current: missing feature column"):
        ReconstructionDriftDetector().fit(reference).score(current.drop(columns="x1"))
    with pytest.raises(InputError, match="'x1' is not numeric"):
        ReconstructionDriftDetector().fit(reference).score(current.assign(x1="high"))
    with pytest.raises(ConfigError, match="fit"):
        DomainClassifierDetector().score(current)
    with pytest.raises(ConfigError, match="detectors"):
        multivariate_drift(reference, current, detectors=["magic"])
    assert isinstance(ReconstructionDriftDetector(min_rows=500).fit(reference).score(current),
                      MultivariateDriftResult)


def test_plots_draw_one_panel_per_detector_and_the_separating_features():
    from matplotlib.figure import Figure

    from driftlib.plots.multivariate import multivariate_timeline, separating_features

    reference, _ = correlation_world(seed=11, n_reference=2000)
    _, drifted = correlation_world(seed=12, n_current=400, flip=True)
    _, stable = correlation_world(seed=13, n_current=400, flip=False)
    log = pd.concat([stable, drifted], ignore_index=True)
    report = multivariate_drift(reference, log, window=400, **FAST)
    fig = multivariate_timeline(report)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [len(ax.collections[-1].get_offsets()) for ax in fig.axes[:2]] == [1, 1]  # one drifted window each
    bars = separating_features(report)
    assert {t.get_text() for t in bars.axes[0].get_yticklabels()} >= {"x1", "x2"}
