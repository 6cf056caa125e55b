"""Judge the model that actually served the traffic, against a reference scored by that same model.

After a promotion the captured reference is re-scored by the new model while the log still holds
the old model's predictions; comparing the two would mix models. So the run window's serving version
decides: history is cut to its rows, and its baseline is used — the holdout it was promoted on when
its card records one (`driftlib.concept.baseline`), else the reference re-scored with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from driftlib.core.errors import DriftlibError

VERSION = "model_version"


@dataclass
class Served:
    reference: pd.DataFrame
    history: pd.DataFrame
    version: str | None
    note: str = ""
    warnings: list[str] = field(default_factory=list)  # for the summary's `warnings` and the headline


def served_model(params, reference: pd.DataFrame, reference_version: str | None, history: pd.DataFrame,
                 start: pd.Timestamp, registry=None, warnings: list[str] = ()) -> Served:
    """Keep the rows of the version that served most of [start, ...); use its baseline.

    `warnings` come with the captured reference (`baseline.captured_warnings`) and are passed on
    while that reference is the one used."""
    if VERSION not in history.columns or history[VERSION].isna().all():
        return Served(reference, history, reference_version, warnings=list(warnings))
    ts = params.columns.timestamp
    recent = history.loc[history[ts] >= start, VERSION].dropna()
    version = str((recent if len(recent) else history[VERSION].dropna()).mode().iloc[0])
    kept = history[history[VERSION] == version]
    notes = []
    if len(kept) < len(history):
        notes.append(f"{len(history) - len(kept):,} predictions served by other model versions are left out")
    warnings = list(warnings)
    if reference_version and version != reference_version:
        try:
            from driftlib.concept.baseline import from_holdout
            from driftlib.data.tables import add_predictions
            from driftlib.models.registry import Registry

            loaded = (registry or Registry(params.registry_dir)).load(version)
            held = from_holdout(params, loaded, history)
            if held is not None:
                reference, warnings = held.rows, []
                notes.append(f"baseline: {held.why}")
            else:
                c = params.columns
                reference = add_predictions(reference.drop(columns=[x for x in (c.prediction, c.probability)
                                                                      if x and x in reference.columns]),
                                            loaded.model, params)
                notes.append(f"the reference was re-scored with {version} (captured with {reference_version})")
        except (DriftlibError, OSError) as err:
            notes.append(f"could not load {version} to re-score the reference ({err}); "
                         f"the reference keeps {reference_version}'s predictions")
    return Served(reference, kept, version, "; ".join(notes), warnings)
