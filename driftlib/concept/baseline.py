"""Which labelled rows a model is judged against (its baseline), and how they are scored.

A model promoted by retraining is judged against the holdout it was validated on (recorded in its
card as `baseline`), not the original reference: that reference predates the change the model was
trained for, so comparing with it reports concept drift forever. A model judged on rows it was
trained on would look better than it is (in-sample): such rows get out-of-fold predictions from
the same estimator (`sklearn.model_selection.cross_val_predict`), or, when the model cannot be
refitted (imported), a loud warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from driftlib.core.errors import DriftlibError

FOLDS = 5


@dataclass
class Baseline:
    rows: pd.DataFrame  # labelled rows with the model's predictions
    kind: str  # "reference" | "holdout"
    why: str
    warnings: list[str] = field(default_factory=list)
    out_of_fold: int = 0  # rows whose predictions are out-of-fold

    def info(self) -> dict:
        return {"kind": self.kind, "why": self.why, "warnings": list(self.warnings),
                "out_of_fold": self.out_of_fold, "rows": int(len(self.rows))}


def _drop_outputs(df: pd.DataFrame, params) -> pd.DataFrame:
    c = params.columns
    return df.drop(columns=[x for x in (c.prediction, c.probability) if x and x in df.columns])


def holdout_rows(params, card: dict, history: pd.DataFrame) -> pd.DataFrame | None:
    """The labelled rows of the card's holdout window, or None when the card has none."""
    base = card.get("baseline") or {}
    if base.get("kind") != "holdout" or not base.get("start") or history is None or history.empty:
        return None
    ts, target = params.columns.timestamp, params.columns.target
    start, end = pd.Timestamp(base["start"]), pd.Timestamp(base["end"])
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    rows = history[(history[ts] >= start) & (history[ts] <= end) & history[target].notna()]
    return rows.reset_index(drop=True)


def from_holdout(params, loaded, history: pd.DataFrame) -> Baseline | None:
    """The promoted model's holdout, scored by it; None if the card has no holdout or too few rows."""
    from driftlib.data.tables import add_predictions

    rows = holdout_rows(params, loaded.card, history)
    if rows is None or len(rows) < params.concept.min_labels:
        return None
    base = loaded.card["baseline"]
    scored = add_predictions(_drop_outputs(rows, params), loaded.model, params)
    why = (f"model {loaded.version} was promoted on its holdout {str(base['start'])[:10]} → "
           f"{str(base['end'])[:10]} ({len(rows):,} labelled rows): it is judged against the data it was "
           f"validated on, not the reference window that predates the change it was trained for")
    return Baseline(scored, "holdout", why)


def training_overlap(params, card: dict, reference: pd.DataFrame) -> int:
    """Reference rows inside the model's training window when both come from the same table."""
    window = (card.get("training") or {}).get("window") or {}
    source = (window.get("source") or {}).get("path")
    if not window.get("start") or not source:
        return 0
    if str(params.path(source).resolve()) != str(params.path(params.reference.path).resolve()):
        return 0
    ts = params.columns.timestamp
    start, end = pd.Timestamp(window["start"]), pd.Timestamp(window["end"])
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    return int(((reference[ts] >= start) & (reference[ts] <= end)).sum())


def out_of_fold(params, card: dict, reference: pd.DataFrame) -> pd.DataFrame:
    """Reference rows with out-of-fold predictions of the card's estimator (same params)."""
    from sklearn.model_selection import KFold, cross_val_predict

    from driftlib.data.tables import encode_labels, feature_lists
    from driftlib.models.estimators import build_estimator

    c = params.columns
    lab = reference[reference[c.target].notna()].reset_index(drop=True)
    numeric, categorical = feature_lists(params, lab)
    est = build_estimator(card["params"]["estimator"], numeric, categorical,
                          card["params"].get("estimator_params") or {}, params.task)
    y = encode_labels(lab[c.target], params)
    X = lab[[*numeric, *categorical]]
    cv = KFold(n_splits=min(FOLDS, len(lab)))
    out = _drop_outputs(lab, params)
    if params.task == "classification":
        p = cross_val_predict(est, X, y.astype(int), cv=cv, method="predict_proba")[:, 1]
        out[c.probability or "probability"] = p
        out[c.prediction] = (p >= 0.5).astype(int)
    else:
        out[c.prediction] = cross_val_predict(est, X, y, cv=cv)
    return out


def for_model(params, loaded, reference: pd.DataFrame, history: pd.DataFrame | None = None) -> Baseline:
    """The baseline of `loaded` (a registry LoadedModel): its holdout if it was promoted on one, else
    the configured reference scored by it — out-of-fold where the reference is its training data."""
    from driftlib.data.tables import add_predictions
    from driftlib.models.estimators import ESTIMATORS

    held = from_holdout(params, loaded, history) if history is not None else None
    if held is not None:
        return held
    card, c = loaded.card, params.columns
    warnings: list[str] = []
    if (card.get("baseline") or {}).get("kind") == "holdout":
        warnings.append(f"model {loaded.version} was validated on its holdout, but fewer than concept.min_labels "
                        f"= {params.concept.min_labels} labelled rows of it are available: judged against "
                        "the configured reference instead, which may predate the change it was trained for")
    scored = reference if c.prediction in reference.columns else add_predictions(reference, loaded.model, params)
    overlap = training_overlap(params, card, reference)
    if not overlap:
        return Baseline(scored, "reference", "the configured reference window (params: reference), scored "
                        f"by model {loaded.version}", warnings)
    share = f"{overlap:,} of {len(reference):,} reference rows are in model {loaded.version}'s training data"
    if (card.get("params") or {}).get("estimator") in ESTIMATORS:
        try:
            oof = out_of_fold(params, card, reference)
        except (DriftlibError, ValueError) as err:
            warnings.append(f"{share} and out-of-fold scoring failed ({err}): the reference performance is "
                            "in-sample and optimistic, so 'degraded' and 'concept drift' may be false alarms")
            return Baseline(scored, "reference", "the configured reference window", warnings)
        unlabelled = scored[scored[c.target].isna()]
        rows = pd.concat([oof, unlabelled], ignore_index=True).sort_values(c.timestamp, kind="stable")
        warnings.append(f"{share}: its predictions there are out-of-fold ({FOLDS}-fold cross_val_predict with "
                        "the same estimator), so the reference performance is not in-sample")
        return Baseline(rows.reset_index(drop=True), "reference", "the configured reference window, scored "
                        "out-of-fold", warnings, out_of_fold=len(oof))
    warnings.append(f"{share} and the model cannot be refitted (imported): the reference performance is "
                    "in-sample and optimistic, so 'degraded' and 'concept drift' may be false alarms; "
                    "move reference.start past the training data")
    return Baseline(scored, "reference", "the configured reference window", warnings)


def captured_warnings(profile) -> list[str]:
    """The warnings recorded with the captured reference (notebook 01), for later reports."""
    return list(((profile.metadata or {}).get("baseline") or {}).get("warnings") or [])


def holdout_history(params, loaded, as_of) -> pd.DataFrame | None:
    """Production rows of the card's holdout window with labels known by `as_of` (None: no holdout)."""
    from driftlib.data.tables import load_production

    base = loaded.card.get("baseline") or {}
    if base.get("kind") != "holdout" or not base.get("start"):
        return None
    start = pd.Timestamp(base["start"])
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = pd.Timestamp(base["end"])
    end = (end.tz_localize("UTC") if end.tzinfo is None else end) + pd.Timedelta(microseconds=1)
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of
    try:
        return load_production(params, start, min(end, as_of), as_of=as_of, model=loaded.model)
    except DriftlibError:
        return None
