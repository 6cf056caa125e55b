"""When did the errors start to rise? Sequential change detectors over the per-prediction error stream.

The stream is each labelled prediction's error (0/1 for classifiers, absolute error scaled by the
reference MAE for regressors) in event-time order. River's detectors run on it: ADWIN (adaptive
window, two-sided), Page-Hinkley (one detector per direction) and DDM (error-rate increases of a 0/1
stream). One detector alone fires on noise now and then, so a change point needs `min_agreement`
detectors firing in the same direction within `tolerance`; it is dated at the earliest of them. The
onset is the first upward change point after the last downward one: the start of the current episode.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from river import drift
from river.drift import binary

from driftlib.core.errors import ConfigError
from driftlib.core.names import Names


class AdwinDetector:
    """Two-sided; the direction is the sign of the mean change at the cut ADWIN makes."""

    binary_only = False
    directions = ("up", "down")

    def run(self, values: np.ndarray) -> list[tuple[int, str]]:
        det, events = drift.ADWIN(), []
        for i, x in enumerate(values):
            before = det.estimation
            det.update(float(x))
            if det.drift_detected:
                events.append((i, "up" if det.estimation > before else "down"))
        return events


class PageHinkleyDetector:
    """Two one-sided Page-Hinkley tests, so each detection knows its direction."""

    binary_only = False
    directions = ("up", "down")

    def run(self, values: np.ndarray) -> list[tuple[int, str]]:
        dets = {"up": drift.PageHinkley(mode="up"), "down": drift.PageHinkley(mode="down")}
        events = []
        for i, x in enumerate(values):
            for direction, det in dets.items():
                det.update(float(x))
                if det.drift_detected:
                    events.append((i, direction))
        return events


class DDMDetector:
    """Gama et al.'s DDM: an error rate rising above its best level by three standard errors."""

    binary_only = True
    directions = ("up",)

    def run(self, values: np.ndarray) -> list[tuple[int, str]]:
        det, events = binary.DDM(), []
        for i, x in enumerate(values):
            det.update(bool(x))
            if det.drift_detected:
                events.append((i, "up"))
        return events


DETECTORS: Names[type] = Names("concept.detectors", {"adwin": AdwinDetector, "page_hinkley": PageHinkleyDetector,
                                                     "ddm": DDMDetector}, kind="detector")


@dataclass
class OnsetResult:
    detections: list = field(default_factory=list)
    change_points: list = field(default_factory=list)
    onset: pd.Timestamp | None = None
    n: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class OnsetDetector:
    """`OnsetDetector(names).score(errors, timestamps)` -> OnsetResult."""

    def __init__(self, detectors=("adwin", "page_hinkley", "ddm"), min_agreement: int = 2,
                 tolerance: str = "7D", binary_errors: bool = True):
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown:
            raise ConfigError(f"field 'concept.detectors': unknown detector(s) {', '.join(unknown)} "
                              f"(choose from {', '.join(DETECTORS)})")
        self.detectors = {n: DETECTORS[n]() for n in detectors if binary_errors or not DETECTORS[n].binary_only}
        self.min_agreement = min_agreement
        try:
            self.tolerance = pd.Timedelta(tolerance)
        except ValueError:
            raise ConfigError(f"field 'concept.onset_tolerance': '{tolerance}' is not a time span") from None

    def score(self, errors, timestamps) -> OnsetResult:
        values = np.asarray(errors, dtype=float)
        times = pd.DatetimeIndex(timestamps)
        detections = [{"detector": name, "index": int(i), "timestamp": times[i], "direction": d}
                      for name, det in self.detectors.items() for i, d in det.run(values)]
        points = sorted(self._agree(detections, "up") + self._agree(detections, "down"),
                        key=lambda p: p["timestamp"])
        return OnsetResult(detections=sorted(detections, key=lambda d: d["index"]), change_points=points,
                           onset=_current_onset(points), n=len(values))

    def _agree(self, detections: list[dict], direction: str) -> list[dict]:
        capable = [n for n, d in self.detectors.items() if direction in d.directions]
        need = min(self.min_agreement, len(capable))
        hits = sorted((d for d in detections if d["direction"] == direction), key=lambda d: d["timestamp"])
        points, i = [], 0
        while need and i < len(hits):
            t0 = hits[i]["timestamp"]
            group = [h for h in hits[i:] if h["timestamp"] <= t0 + self.tolerance]
            names = sorted({h["detector"] for h in group})
            if len(names) >= need:
                points.append({"timestamp": t0, "direction": direction, "detectors": names,
                               "index": hits[i]["index"]})
                i += len(group)
            else:
                i += 1
        return points


def _current_onset(points: list[dict]) -> pd.Timestamp | None:
    onset = None
    for p in points:
        if p["direction"] == "down":
            onset = None
        elif onset is None:
            onset = p["timestamp"]
    return onset
