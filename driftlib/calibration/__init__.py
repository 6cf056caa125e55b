"""Calibration of the drift tests on the reference: measured false-alarm and detection rates.

`Calibrator` (run.py) cuts pseudo-windows from the reference (null.py), injects known shifts
(inject.py), scores them with `DriftDetector` per stat test and keeps raw scores;
`CalibrationResult` (result.py) turns them into rates and per-column suggestions; report.py writes
the HTML + JSON; detectable.py answers "what could a window of n rows have seen?".
"""
from driftlib.calibration.detectable import (DetectableShift, detectability, minimum_detectable_shift,
                                             window_sensitivity)
from driftlib.calibration.result import CalibrationResult
from driftlib.calibration.run import Calibrator

__all__ = ["CalibrationResult", "Calibrator", "DetectableShift", "detectability", "minimum_detectable_shift",
           "window_sensitivity"]
