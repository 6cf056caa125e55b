"""Notebook 04's decisions in one place: whether to retrain, on which rows, the decision and the result.

The notebook only calls these, shows what they return and plots. The rule (`triggers.retrain_trigger`)
and the gate (`training.retrain`) were already here; this module assembles their inputs the way the
notebook did, so a run and a test of these functions take the same path. The results of notebooks 02
and 03 are read through `load_result` (`driftlib.workbench.results.load_result`), passed in as the
workbench sits above `models` in the layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from driftlib.core.contracts import (CONCEPT_DRIFT, DATA_DRIFT, RetrainSummary, SkippedInput,
                                     typed_result)
from driftlib.models.training import RetrainDecision, retrain
from driftlib.models.triggers import RetrainTrigger, history_start, retrain_trigger, training_plan, weekly_labels

NO_COMPARISON = "_No comparison: nothing was trained in this run._"


def trigger_for(params, output_dir, load_result: Callable[[Any, str], dict | None], *,
                force: bool = False) -> RetrainTrigger:
    """This run's data-drift (02) and concept-drift (03) results decide; the notebook's `force`
    parameter or `retrain.force` in the params retrains regardless."""
    drift = typed_result(DATA_DRIFT, load_result(output_dir, DATA_DRIFT))
    concept = typed_result(CONCEPT_DRIFT, load_result(output_dir, CONCEPT_DRIFT))
    return retrain_trigger(drift, concept, force=bool(force) or params.retrain.force)


@dataclass
class TrainingData:
    """The labelled production rows a challenger may use (None when retraining is not called for),
    what the readers left out, and the words and table describing them."""

    end: pd.Timestamp
    history: pd.DataFrame | None = None
    labelled: pd.DataFrame | None = None
    skipped: SkippedInput = field(default_factory=SkippedInput)
    plan: str = ""
    weekly: pd.DataFrame | None = None


def training_data(params, run_date: str, registry, trigger: RetrainTrigger) -> TrainingData:
    """Production rows before the run date whose label arrived before it, scored by the current model;
    read only when retraining is called for (the sliding strategy reads only its own span)."""
    from driftlib.data.tables import encode_target, load_production, run_window

    c, cfg = params.columns, params.retrain
    _, end = run_window(params, run_date)
    data = TrainingData(end)
    if not trigger.needed:
        return data
    data.history = load_production(params, history_start(cfg, end), end, as_of=end, model=registry.current_model,
                                   skipped=data.skipped)
    data.labelled = data.history.dropna(subset=[c.target])
    data.plan = training_plan(cfg, len(data.labelled), len(data.history), end)
    data.weekly = weekly_labels(encode_target(data.labelled, params), c.timestamp, c.target)
    return data


def decide(params, data: TrainingData, registry, trigger: RetrainTrigger) -> RetrainDecision:
    """Train and gate a challenger when called for; otherwise a skipped decision that keeps the current
    model as champion and says why nothing was trained (the index shows that reason)."""
    current = registry.current_version()
    if trigger.needed:
        return retrain(params, data.labelled, registry=registry, trigger=trigger.text)
    return RetrainDecision("skipped", [trigger.why_not], current, champion=current, metric=params.retrain.metric)


def slice_effects(params, decision: RetrainDecision, labelled: pd.DataFrame | None):
    """Where the challenger helps and where it hurts, over searched slices of the model's features."""
    from driftlib.data.features import feature_lists

    return decision.slice_effects(*feature_lists(params, labelled))


def registry_text(registry, decision: RetrainDecision) -> str:
    """The model serving after this run, and the one it replaced if any."""
    current = registry.current_version()
    return f"**Current model: {current}**" + (f" (was {decision.champion})" if decision.champion != current else "")


def registry_history(registry, rows: int = 8) -> pd.DataFrame:
    """The registry's latest events (trained, promoted, rejected, rolled back)."""
    return pd.DataFrame(registry.history()).tail(rows)


def summarise(decision: RetrainDecision, trigger: RetrainTrigger, data: TrainingData) -> RetrainSummary:
    """Notebook 04's typed result: the decision, what triggered it, and the rows the readers left out."""
    return RetrainSummary.from_dict({**decision.to_dict(), "triggers": trigger.reasons, "forced": trigger.forced,
                                     "warnings": data.skipped.warnings, "skipped_input": data.skipped.to_dict()})
