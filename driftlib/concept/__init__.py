"""Concept drift: realized and estimated performance, concept-vs-covariate test, onset detection."""
from driftlib.concept.analyzer import VERDICTS, ConceptDriftAnalyzer, estimation_error, verdict
from driftlib.concept.estimate import CALIBRATORS, PerformanceEstimator
from driftlib.performance.metrics import METRICS, Rows, bootstrap
from driftlib.concept.onset import DETECTORS, OnsetDetector
from driftlib.concept.report import ConceptReport
from driftlib.concept.shift import LEARNERS, ConceptShiftTest, CovariateShiftCheck

__all__ = ["VERDICTS", "ConceptDriftAnalyzer", "ConceptReport", "PerformanceEstimator", "ConceptShiftTest",
           "CovariateShiftCheck", "OnsetDetector", "METRICS", "CALIBRATORS", "DETECTORS", "LEARNERS",
           "Rows", "bootstrap", "estimation_error", "verdict"]
