"""The verdicts people read first, and their words, from one place.

Every page that states a run's outcome (the index, the verdict row atop each report, the per-run index)
calls `assess()`; nothing else decides "healthy" or "degraded". Two questions are kept apart on
purpose: did the *pipeline* run (`outcome`), and how is the *model* (`health`, one word of
`contracts.HEALTH`). The four aspects of the verdict row (data drift, performance, concept, action) each
get one word and a few words of why, derived from the typed summaries only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from driftlib.models.gate import why_rejected  # noqa: F401  (re-exported)
from driftlib.core.contracts import (CONCEPT_DRIFT, CONCEPT_VERDICTS, DATA_DRIFT, HEALTH, RETRAINING,
                                     ConceptSummary, DataDriftSummary, RetrainSummary)

OUTCOMES = ("success", "success with warnings", "failed")
ASPECTS = ("data drift", "performance", "concept", "action")
#: tone of a state: drives colour only; "bad" = act, "warn" = look, "ok" = fine, "none" = no evidence
TONES = ("ok", "warn", "bad", "none")


@dataclass(frozen=True)
class Verdict:
    """One aspect's state in one word (`state`), a few words of why (`why`) and a colour (`tone`)."""

    aspect: str
    state: str
    why: str
    tone: str

    def text(self) -> str:
        return f"{self.state} ({self.why})" if self.why else self.state


@dataclass(frozen=True)
class Assessment:
    """A run in the words every page uses."""

    outcome: str
    health: Verdict
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def action(self) -> Verdict:
        return self.verdicts[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "health": self.health.state, "health_why": self.health.why,
                "verdicts": [{"aspect": v.aspect, "state": v.state, "why": v.why, "tone": v.tone}
                             for v in self.verdicts]}


# -- small formatters -------------------------------------------------------------------------------
def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_value(block: dict | None) -> str:
    """'0.712 [0.701, 0.723]' or '0.712'; '' when there is no finite value."""
    if not block or not _finite(block.get("value")):
        return ""
    lo, hi = block.get("lower"), block.get("upper")
    if _finite(lo) and _finite(hi):
        return f"{block['value']:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{block['value']:.3f}"


def _features(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


# -- pipeline outcome --------------------------------------------------------------------------------
def run_outcome(summary: dict) -> str:
    """'success' | 'success with warnings' | 'failed': the runner's `outcome` when saved, else derived."""
    saved = summary.get("outcome")
    if saved in OUTCOMES:
        return saved
    if summary.get("status") != "success":
        return "failed"
    return "success with warnings" if summary.get("warnings") else "success"


# -- the four aspects ---------------------------------------------------------------------------------
def data_drift_verdict(d: DataDriftSummary | None) -> Verdict:
    if d is None or d.dataset_drift is None:
        return Verdict("data drift", "unknown", "not measured in this run", "none")
    n_cols = len(d.columns) or None
    share = f"{d.share_drifted:.0%} of features" if _finite(d.share_drifted) else ""
    if d.dataset_drift:
        count = f"{len(d.drifted_columns)} of {n_cols}" if n_cols else share
        return Verdict("data drift", "drifted", f"{count}: {_features(d.drifted_columns)}".strip(": "), "warn")
    if d.drifted_columns:
        return Verdict("data drift", "stable",
                       f"only {_features(d.drifted_columns)} moved, below the dataset threshold", "ok")
    return Verdict("data drift", "stable", "no feature moved", "ok")


def _source(c: ConceptSummary) -> dict:
    """The run window, or the latest judged window, as `degraded_basis` says."""
    if str(c.extra.get("degraded_basis") or "").startswith("latest window"):
        judged = [w for w in c.windows if w.get("degraded") is not None]
        return judged[-1] if judged else {}
    current = c.extra.get("current")
    return current if isinstance(current, dict) else {}


def judged_metric(c: ConceptSummary) -> str:
    """The metric whose interval made 'degraded' (the headline's metric), else the main metric."""
    diff = _source(c).get("difference") or {}
    if c.degraded and isinstance(diff, dict):
        for m in c.extra.get("degradation_metrics") or []:
            if isinstance(diff.get(m), dict) and diff[m].get("degraded"):
                return m
    return c.metric or ""


def evidence(c: ConceptSummary, kind: str | None = None, metric: str | None = None) -> tuple[str, dict | None]:
    """(kind, {value, lower, upper}) of the main metric on the evidence notebook 03 judged on (its
    `degraded_basis`: the run window, or the latest judged window), so the numbers shown beside a verdict
    are the numbers that made it. `kind` forces realized/estimated; the newest window is the fallback."""
    basis = str(c.extra.get("degraded_basis") or "")
    kind = kind or ("estimated" if basis.endswith("(estimated)") else "realized")
    metric = metric or c.metric or ""
    source = _source(c)
    block = ((source.get(kind) or {}).get(metric)) if isinstance(source.get(kind), dict) else None
    if not (isinstance(block, dict) and _finite(block.get("value"))) and metric == c.metric:
        block = c.latest(kind)
    return kind, block if isinstance(block, dict) else None


def _reference_and_latest(c: ConceptSummary, metric: str) -> tuple[float | None, dict | None, str]:
    ref = c.reference.get(metric, {}).get("value") if isinstance(c.reference.get(metric), dict) else None
    for kind in (None, "realized", "estimated"):
        found, block = evidence(c, kind, metric)
        if block is not None:
            return ref, block, found
    return ref, None, ""


LOWER_IS_BETTER = {"mae", "mse", "rmse", "log_loss", "brier", "brier_score", "mape"}


def _better(c: ConceptSummary, metric: str, block: dict, ref: float | None) -> bool:
    """The interval lies wholly on the better side of the reference (the window-minus-reference
    interval when saved, else the metric's own interval against the reference value)."""
    lower_better = metric in LOWER_IS_BETTER
    diff = (_source(c).get("difference") or {}).get(metric)
    if isinstance(diff, dict) and _finite(diff.get("lower")) and _finite(diff.get("upper")):
        return diff["upper"] < 0 if lower_better else diff["lower"] > 0
    if not _finite(ref):
        return False
    bound = block.get("upper") if lower_better else block.get("lower")
    return _finite(bound) and (bound < ref if lower_better else bound > ref)


def performance_verdict(c: ConceptSummary | None) -> Verdict:
    """degraded / normal / improved / unknown: `degraded` is notebook 03's judgement, never overridden;
    'improved' only when the interval lies wholly on the better side of the reference."""
    if c is None:
        return Verdict("performance", "unknown", "not measured in this run", "none")
    metric = judged_metric(c) or "metric"
    ref, block, kind = _reference_and_latest(c, metric)
    numbers = ""
    if block is not None and fmt_value(block):
        prefix = "estimated " if kind == "estimated" else ""
        numbers = f"{prefix}{metric} {fmt_value(block)}" + (f" vs {ref:.3f}" if _finite(ref) else "")
    if c.degraded is True:
        return Verdict("performance", "degraded", numbers or "worse than the reference", "bad")
    if c.degraded is None:
        return Verdict("performance", "unknown", numbers or "too few labels to judge", "none")
    if _better(c, metric, block or {}, ref):
        return Verdict("performance", "improved", numbers + ", better than the reference", "ok")
    return Verdict("performance", "normal", (numbers + ", " if numbers else "") + "within the reference's range", "ok")


def concept_verdict(c: ConceptSummary | None) -> Verdict:
    if c is None or c.verdict is None:
        return Verdict("concept", "unknown", "not tested in this run", "none")
    if c.verdict in CONCEPT_VERDICTS:
        return Verdict("concept", "drifted", "P(y|x) changed", "bad")
    if c.verdict == "insufficient labels":
        return Verdict("concept", "untested", "too few labels", "none")
    return Verdict("concept", "stable", "P(y|x) unchanged", "ok")




def action_verdict(r: RetrainSummary | None) -> Verdict:
    if r is None or r.decision is None:
        return Verdict("action", "none", "retraining did not run", "none")
    if r.decision == "promoted":
        version = r.challenger or r.current_version or "challenger"
        return Verdict("action", "promoted", f"{version} now serving", "ok")
    if r.decision == "rejected":
        keep = f"; {r.current_version or r.champion} kept" if (r.current_version or r.champion) else ""
        return Verdict("action", "rejected", f"{r.challenger or 'challenger'}: {why_rejected(r.reasons)}{keep}",
                       "warn")
    return Verdict("action", "skipped", r.reasons[0] if r.reasons else "not needed", "none")


# -- model health -------------------------------------------------------------------------------------
def model_health(drift: Verdict, perf: Verdict, concept: Verdict) -> Verdict:
    """One word of HEALTH. Worst finding first: degraded > concept drift > data drift; without a bad
    finding, missing evidence is said as such (insufficient data / unknown) rather than 'healthy'."""
    if perf.state == "degraded":
        state, why = "degraded", perf.why
    elif concept.state == "drifted":
        state, why = "concept drift", concept.why
    elif drift.state == "drifted":
        state, why = "data drift", drift.why
    elif perf.state == "unknown" and concept.state != "unknown":
        state, why = "insufficient data", "too few labels to judge performance"
    elif "unknown" in (drift.state, perf.state, concept.state):
        missing = [v.aspect for v in (drift, perf, concept) if v.state == "unknown"]
        state, why = "unknown", f"{', '.join(missing)} not measured"
    elif concept.state == "untested":
        state, why = "healthy", f"inputs stable, performance {perf.state} (concept untested: few labels)"
    else:
        state, why = "healthy", f"inputs stable, performance {perf.state}"
    assert state in HEALTH
    tone = {"healthy": "ok", "data drift": "warn", "degraded": "bad", "concept drift": "bad"}.get(state, "none")
    return Verdict("health", state, why, tone)


def assess_results(drift: DataDriftSummary | None, concept: ConceptSummary | None,
                   retrain: RetrainSummary | None, outcome: str = "success") -> Assessment:
    """The assessment from typed results (None: the notebook did not run or finish)."""
    row = (data_drift_verdict(drift), performance_verdict(concept), concept_verdict(concept),
           action_verdict(retrain))
    return Assessment(outcome, model_health(*row[:3]), row)


def _result(summary: dict, name: str) -> dict | None:
    for nb in summary.get("notebooks") or []:
        if isinstance(nb, dict) and nb.get("name") == name:
            result = nb.get("result")
            return result if isinstance(result, dict) and result else None
    return None


def assess(summary: dict) -> Assessment:
    """A summary.json (dict) in the words every page uses."""
    return assess_results(DataDriftSummary.from_dict(_result(summary, DATA_DRIFT)),
                          ConceptSummary.from_dict(_result(summary, CONCEPT_DRIFT)),
                          RetrainSummary.from_dict(_result(summary, RETRAINING)), run_outcome(summary))
