"""Notebook 03's figures show what the report holds."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from driftlib.concept import ConceptDriftAnalyzer  # noqa: E402
from driftlib.concept.synthetic import make_world  # noqa: E402
from driftlib.plots import concept as plots  # noqa: E402


@pytest.fixture(scope="module")
def report():
    world = make_world(seed=7, n_production=3000, flip_at=0.5, label_lag_days=2.0, learner="linear")
    return ConceptDriftAnalyzer(world.params).fit(world.reference).score(world.production, as_of=world.as_of)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _line(ax, label):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_timeline_draws_realized_and_estimated_per_window_with_the_onset(report):
    ax = plots.performance_timeline(report).axes[0]
    judged = [w for w in report.windows if w["realized"]]
    assert len(_line(ax, "realized").get_xdata()) == len(judged)
    assert len(_line(ax, "estimated").get_xdata()) == len(report.windows)
    assert _line(ax, "reference").get_ydata()[0] == pytest.approx(report.reference["metrics"]["roc_auc"]["value"])
    assert any(line.get_label().startswith("onset") for line in ax.get_lines())
    assert "95%" in ax.get_title()


def test_coverage_bars_and_lag_lines(report):
    ax = plots.label_coverage(report).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([w["coverage"] for w in report.windows])


def test_detector_timeline_has_one_row_per_detector(report):
    ax = plots.detector_timeline(report).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == sorted({d["detector"] for d in report.detections})


def test_calibration_curves_reference_and_current(report):
    ax = plots.calibration_curves(report).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(x.startswith("reference") for x in labels) and any(x.startswith("current") for x in labels)


def test_slice_bars_match_the_slices(report):
    ax = plots.slice_drops(report).axes[0]
    assert len(ax.patches) == len(report.slices) > 0


def test_target_and_prediction_means(report):
    ax = plots.target_prediction_drift(report).axes[0]
    assert list(_line(ax, "label mean").get_ydata()) == pytest.approx([w["target"]["mean"] for w in report.windows])
