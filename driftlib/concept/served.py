"""Judge the model that actually served the traffic, against a reference scored by that same model.

After a promotion the captured reference is re-scored by the new model while the log still holds
the old model's predictions; comparing the two would mix models. So the run window's serving version
decides: history is cut to its rows, and the reference is re-scored with it when needed.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from driftlib.core.errors import DriftlibError

VERSION = "model_version"


@dataclass
class Served:
    reference: pd.DataFrame
    history: pd.DataFrame
    version: str | None
    note: str = ""


def served_model(params, reference: pd.DataFrame, reference_version: str | None, history: pd.DataFrame,
                 start: pd.Timestamp, registry=None) -> Served:
    """Keep the rows of the version that served most of [start, ...); re-score the reference if needed."""
    if VERSION not in history.columns or history[VERSION].isna().all():
        return Served(reference, history, reference_version)
    ts = params.columns.timestamp
    recent = history.loc[history[ts] >= start, VERSION].dropna()
    version = str((recent if len(recent) else history[VERSION].dropna()).mode().iloc[0])
    kept = history[history[VERSION] == version]
    notes = []
    if len(kept) < len(history):
        notes.append(f"{len(history) - len(kept):,} predictions served by other model versions are left out")
    if reference_version and version != reference_version:
        try:
            from driftlib.data.tables import add_predictions
            from driftlib.models.registry import Registry

            model = (registry or Registry(params.registry_dir)).load(version).model
            c = params.columns
            reference = add_predictions(reference.drop(columns=[x for x in (c.prediction, c.probability)
                                                                  if x and x in reference.columns]), model, params)
            notes.append(f"the reference was re-scored with {version} (captured with {reference_version})")
        except (DriftlibError, OSError) as err:
            notes.append(f"could not load {version} to re-score the reference ({err}); "
                         f"the reference keeps {reference_version}'s predictions")
    return Served(reference, kept, version, "; ".join(notes))
