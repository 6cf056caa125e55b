"""Performance without labels (confidence-based, in the manner of NannyML's CBPE).

The model's probabilities are recalibrated on the reference, where labels are known; a calibrated
probability c is then the chance the label is 1, so a window's expected accuracy, F1, AUC, Brier and
ECE follow from the soft labels c. The interval is the spread of the realized metric when labels are
drawn from c: where the labels later arrive, realized should fall inside it. The estimate assumes
P(y | probability) did not change (no concept drift); the analyzer checks it where labels exist.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from driftlib.performance.metrics import Metric, Rows, interval, simulate
from driftlib.core.errors import InputError
from driftlib.core.names import Names


def logit(p) -> np.ndarray:
    """Log-odds as a column (the calibrators' and the calibration test's input), clipped at 1e-6."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))[:, None]


class IsotonicCalibrator:
    """Monotone, non-parametric: NannyML's default; needs a few hundred reference labels."""

    def fit(self, prob, y) -> "IsotonicCalibrator":
        self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(prob, y)
        return self

    def transform(self, prob) -> np.ndarray:
        return np.clip(self.model_.predict(np.asarray(prob, dtype=float)), 0.0, 1.0)


class SigmoidCalibrator:
    """Platt scaling on the logit: two parameters, steadier than isotonic on small references."""

    def fit(self, prob, y) -> "SigmoidCalibrator":
        self.model_ = LogisticRegression(C=1e6).fit(logit(prob), np.asarray(y, dtype=int))
        return self

    def transform(self, prob) -> np.ndarray:
        return self.model_.predict_proba(logit(prob))[:, 1]


CALIBRATORS: Names[type] = Names("concept.calibration", {"isotonic": IsotonicCalibrator, "sigmoid": SigmoidCalibrator},
                                  kind="calibrator")


def make_calibrator(name: str):
    return CALIBRATORS.get(name)()


@dataclass
class Estimate:
    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


class PerformanceEstimator:
    """`PerformanceEstimator(metrics).fit(ref_prob, ref_y).score(prob, pred)` -> {metric: Estimate}."""

    def __init__(self, metrics: list[Metric], calibration: str = "isotonic", n_simulations: int = 200,
                 confidence: float = 0.95, random_state: int = 0):
        self.metrics = metrics
        self.calibration = calibration
        self.n_simulations = n_simulations
        self.confidence = confidence
        self.random_state = random_state

    def fit(self, prob, y) -> "PerformanceEstimator":
        y = np.asarray(y, dtype=float)
        if len(np.unique(y)) < 2:
            raise InputError("reference: the labels hold one class only; cannot calibrate probabilities")
        self.calibrator_ = make_calibrator(self.calibration).fit(np.asarray(prob, dtype=float), y)
        return self

    def calibrated(self, prob) -> np.ndarray:
        return self.calibrator_.transform(prob)

    def score(self, prob, pred) -> dict[str, Estimate]:
        return self.estimate(prob, pred)[0]

    def estimate(self, prob, pred) -> tuple[dict[str, Estimate], dict[str, np.ndarray]]:
        """Estimates with intervals, and the simulated realized values behind the intervals."""
        rows = Rows.of(prob, pred)
        if len(rows) == 0:
            return {}, {}
        c = self.calibrated(rows.score)
        rng = np.random.default_rng(self.random_state)
        sims = simulate(self.metrics, c, rows, self.n_simulations, rng)
        out = {}
        for m in self.metrics:
            lo, hi = interval(sims[m.name], self.confidence)
            out[m.name] = Estimate(m.point(c, rows), lo, hi)
        return out, sims
