"""When a run retrains: the rule that turns this run's drift and concept results into a decision to train.

Kept out of notebook 04 so it is tested branch by branch and the same rule holds wherever it is used.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from driftlib.core.contracts import ConceptSummary, DataDriftSummary

# verdicts of notebook 03 that call for a new model: the inputs moved or P(y|x) changed
RETRAIN_VERDICTS = ("concept drift", "both", "data drift only")


@dataclass
class RetrainTrigger:
    """Whether to retrain, and the reasons in words (or why not)."""

    reasons: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    forced: bool = False

    @property
    def needed(self) -> bool:
        return bool(self.reasons)

    @property
    def why_not(self) -> str:
        text = "no dataset drift, no concept drift and no degradation in this run, and retraining was not forced"
        return text + (f" (no result from {', '.join(self.missing)})" if self.missing else "")

    @property
    def text(self) -> str:
        return "; ".join(self.reasons) if self.needed else self.why_not

    def to_dict(self) -> dict:
        return {"needed": self.needed, "reasons": self.reasons, "missing": self.missing, "forced": self.forced}

    def _repr_html_(self) -> str:
        return (f"<p><b>Retraining {'called for' if self.needed else 'not called for'}</b>: "
                f"{html.escape(self.text)}.</p>")


def retrain_trigger(drift: DataDriftSummary | None, concept: ConceptSummary | None, *,
                    force: bool = False) -> RetrainTrigger:
    """Dataset drift, a drift verdict or degraded performance retrain; `force` always does."""
    reasons = []
    if drift is not None and drift.dataset_drift:
        reasons.append(f"dataset drift ({drift.share_drifted or 0:.0%} of features drifted)")
    if concept is not None and concept.verdict in RETRAIN_VERDICTS:
        reasons.append(f"concept-drift verdict '{concept.verdict}'")
    if concept is not None and concept.degraded:
        reasons.append("performance degraded beyond the reference's interval")
    if force:
        reasons.append("forced")
    missing = [name for name, res in (("02_data_drift", drift), ("03_concept_drift", concept)) if res is None]
    return RetrainTrigger(reasons, missing, bool(force))


def training_plan(cfg, n_labelled: int, n_history: int, end) -> str:
    """One sentence on the data a challenger will see: strategy, window, holdout and metric."""
    window = {"all": "(all labelled data)",
              "sliding": f"(last {cfg.window_days} days before the holdout)",
              "weighted": f"(all data, weight halving every {cfg.half_life_days:g} days)"}.get(cfg.strategy, "")
    return (f"{n_labelled:,} labelled of {n_history:,} production records before {end:%Y-%m-%d}; strategy "
            f"**{cfg.strategy}** {window}, holdout the last {cfg.holdout_days} days, metric **{cfg.metric}**.")


def weekly_labels(labelled, timestamp: str, target: str):
    """Labelled rows and the positive rate per 7-day period: what the challenger learns from."""
    import pandas as pd

    weekly = labelled.groupby(pd.Grouper(key=timestamp, freq="7D"))[target].agg(["size", "mean"])
    weekly.columns = ["labelled rows", "positive rate"]
    return weekly


def history_start(cfg, end):
    """The earliest labelled row a retraining can use: the sliding window reads only its own span, so a
    daily run costs the same after three years as after one; other strategies need all history."""
    import pandas as pd

    if cfg.strategy != "sliding":
        return None
    return end - pd.Timedelta(days=cfg.window_days + cfg.holdout_days + 1)
