"""Notebook 03's inputs and steps in one place: the notebook calls these, shows what they return and plots.

`load_inputs` gathers what the concept-drift report judges: the run window, the production timeline
with the labels that had arrived by the run date, cut to the model version that served it and paired
with that model's baseline (`served_model`), what the readers left out, this run's data-drift result
and the cache of finished windows. `analyse` fits the analyzer on the served baseline and scores the
timeline; `segment_search` and `summarise_run` make the segment views and the saved result from them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from driftlib.concept import narrative
from driftlib.concept.analyzer import ConceptDriftAnalyzer
from driftlib.concept.baseline import captured_warnings
from driftlib.concept.report import ConceptReport
from driftlib.concept.segments import SegmentViews, segment_views
from driftlib.concept.served import Served, served_model
from driftlib.config import load_params
from driftlib.core import parallel
from driftlib.core.cache import ResultCache, state_cache
from driftlib.core.contracts import ConceptSummary, SkippedInput
from driftlib.data import reference
from driftlib.data.tables import load_production, run_window
from driftlib.drift.summary import period_text
from driftlib.models.registry import Registry


@dataclass
class ConceptInputs:
    """What notebook 03 judges: the served model's baseline and timeline over the run window."""

    params: Any
    start: pd.Timestamp  # the run window, [start, end)
    end: pd.Timestamp
    served: Served  # baseline (`served.reference`) and timeline (`served.history`) of the serving model
    skipped: SkippedInput  # rows the readers left out: reported and counted in the result
    data_drift: dict | None  # notebook 02's result of this run; None when 02 did not run
    cache: ResultCache | None  # finished windows reused between runs; None when `run.cache` is off

    @property
    def period(self) -> str:
        return period_text(self.start, self.end)


def history_start(params, end: pd.Timestamp) -> pd.Timestamp | None:
    """First day of the timeline: `concept.history_days` before the run window's end (None: all)."""
    days = params.concept.history_days
    return None if days is None else end - pd.Timedelta(days=days)


def load_inputs(params, run_date: str, data_drift: dict | None = None) -> ConceptInputs:
    """`params` (a params file or loaded params) and the run date give the run window; the captured
    reference (notebook 01) and the production timeline before the run date, scored by the registry's
    current model with the labels known on the run date, are cut to the model version that served it
    (with its baseline and notebook 01's baseline notes). `data_drift` is notebook 02's result."""
    if isinstance(params, (str, Path)):
        params = load_params(params)
    parallel.warm(params.concept.n_jobs, "driftlib.concept.analyzer")  # workers import while the log is read
    start, end = run_window(params, run_date)
    ref, profile = reference.load_captured(params)
    skipped = SkippedInput()
    history = load_production(params, history_start(params, end), end, as_of=end,
                              model=Registry.from_params(params).current_model, skipped=skipped)
    served = served_model(params, ref, profile.metadata.get("model_version"), history, start,
                          warnings=captured_warnings(profile))
    return ConceptInputs(params, start, end, served, skipped, data_drift, state_cache(params))


def analyse(inputs: ConceptInputs) -> ConceptReport:
    """Fit on the served baseline, score the timeline as of the run date (finished windows reused)."""
    analyzer = ConceptDriftAnalyzer(inputs.params, cache=inputs.cache).fit(inputs.served.reference)
    return analyzer.score(inputs.served.history, as_of=inputs.end, data_drift=inputs.data_drift,
                          findings=inputs.served.warnings)


def segment_search(inputs: ConceptInputs, report: ConceptReport) -> SegmentViews:
    """The segments driving the drop in the run window (and DLE for a regressor)."""
    return segment_views(inputs.params, inputs.served.reference, inputs.served.history, inputs.start,
                         inputs.end, report)


def summarise_run(inputs: ConceptInputs, report: ConceptReport, views: SegmentViews) -> ConceptSummary:
    """Notebook 03's typed result: the report, the serving model, the run window, the baseline's
    warnings and what the readers left out, and the segment views."""
    served = inputs.served
    return narrative.summarise(report, served, inputs.start, inputs.end, warnings=served.warnings,
                               skipped=inputs.skipped, extra=views.to_dict())
