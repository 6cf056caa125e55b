"""Notebook 01's decisions in one place: which rows become the reference, the words for them, the result.

The notebook only calls these, shows what they return and plots. The capture's headline is made here
once, so the report, the index and summary.json can never say different things. This module sits in
the data layer: the model (a registry `LoadedModel`) and the baseline rules (`driftlib.concept.baseline`)
are passed in, as both sit above `data` in the layers.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftlib.core.contracts import ReferenceSummary

PROFILE_FILE = "reference_profile.json"


@dataclass
class Capture:
    """The captured reference: its rows (scored by the model), profile, baseline and whether it changed."""

    params: Any
    loaded: Any  # the registry's LoadedModel that scored the rows
    baseline: Any  # driftlib.concept.baseline.Baseline: which labelled rows, and why
    profile: Any  # data.reference.ReferenceProfile
    changed: bool
    out: Path

    @property
    def rows(self) -> pd.DataFrame:
        return self.baseline.rows

    @property
    def numeric(self) -> list[str]:
        return self.profile.numeric

    @property
    def categorical(self) -> list[str]:
        return self.profile.categorical

    @property
    def start(self) -> pd.Timestamp:
        return self.rows[self.params.columns.timestamp].min()

    @property
    def end(self) -> pd.Timestamp:
        return self.rows[self.params.columns.timestamp].max()

    @property
    def markdown(self) -> str:
        return capture_text(self)


def capture_reference(params, loaded, run_date: str, output_dir, baselines) -> Capture:
    """Read the configured reference, pick the model's baseline (its holdout if it was promoted on one,
    as labelled by the run date; else the reference, out-of-fold where it was trained on) and save it
    as the reference later notebooks compare with. `baselines` is `driftlib.concept.baseline`; the
    output folder is created."""
    from driftlib.data import reference
    from driftlib.data.tables import load_reference, run_window

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = load_reference(params)
    _, end = run_window(params, run_date)
    base = baselines.for_model(params, loaded, raw, baselines.holdout_history(params, loaded, end))
    profile, changed = reference.capture(params, base.rows, model_version=loaded.version, baseline=base.info())
    return Capture(params, loaded, base, profile, changed, out)


def capture_text(cap: Capture) -> str:
    """What was captured, in words: size, span, features, model, fingerprint (and whether it is new),
    which baseline and why, and every baseline warning (an optimistic baseline must not go unnoticed)."""
    base = cap.baseline
    return (f"**{len(cap.rows):,} rows** from {cap.start:%Y-%m-%d} to {cap.end:%Y-%m-%d}, "
            f"{len(cap.numeric)} numeric and {len(cap.categorical)} categorical features, scored by model "
            f"**{cap.loaded.version}**. Fingerprint `{cap.profile.fingerprint[:16]}` — "
            + ("**new or changed** since the last capture." if cap.changed else "unchanged since the last capture.")
            + f"\n\n**Baseline: {base.kind}** — {base.why}."
            + "".join(f"\n\n⚠️ **Warning:** {w}." for w in warnings_of(cap)))


def headline(cap: Capture) -> str:
    """The one sentence for the index and summary.json: size, span, model, fingerprint, new or not."""
    return (f"Reference of {len(cap.rows):,} rows ({cap.start:%Y-%m-%d} to {cap.end:%Y-%m-%d}), "
            f"model {cap.loaded.version}, fingerprint {cap.profile.fingerprint[:12]}"
            + (" — new capture" if cap.changed else " — unchanged"))


# -- what the report shows: wide tables are cut to the first `max_shown` features -----------------
@dataclass
class SchemaView:
    """The features drawn and listed, the note saying how many were left out, and the table to show."""

    numeric: list[str]
    categorical: list[str]
    note: str
    table: Any  # the profile itself, or its first rows when the table is wide
    missing: Any  # the profile for the missing-values chart (the most-missing features when wide)


def schema_view(profile, max_shown: int) -> SchemaView:
    """At most `max_shown` features drawn and listed (numeric first): on 1,500 columns a grid of every
    one is unreadable and slow; the full profile is in reference_profile.json, and the note says so."""
    numeric = profile.numeric[:max_shown]
    categorical = profile.categorical[:max(0, max_shown - len(numeric))]
    n_features = len(profile.numeric) + len(profile.categorical)
    if n_features <= max_shown:
        return SchemaView(numeric, categorical, "", profile, profile)
    note = (f"{max_shown} of {n_features:,} features shown; the full profile (schema and statistics "
            f"of every feature) is in [{PROFILE_FILE}]({PROFILE_FILE}).")
    most_missing = sorted(profile.schema["columns"], key=lambda col: -col["null_share"])[:max_shown]
    return SchemaView(numeric, categorical, note, profile.schema_frame().head(max_shown),
                      replace(profile, schema={"columns": most_missing}))


# -- the result ----------------------------------------------------------------------------------
def positive_rate(params, rows: pd.DataFrame) -> float | None:
    """Share of positive labels in the reference (None without a target column)."""
    from driftlib.data.tables import encode_labels

    target = params.columns.target
    if not target or target not in rows:
        return None
    return float(np.nanmean(encode_labels(rows[target], params)))


LABEL_MIX_ODDS = 3.0  # odds of a positive label this many times higher or lower than in training: warn


def label_mix_warning(params, card: dict, rows: pd.DataFrame) -> str | None:
    """Why the baseline's label mix is not the one the model learned (classifiers, from the card's
    `training.window.label_mean`): every comparison against this baseline then starts from another world,
    e.g. a label definition that changed between training and reference."""
    window = ((card or {}).get("training") or {}).get("window") or {}
    trained = window.get("label_mean")
    now = positive_rate(params, rows) if params.task == "classification" else None
    if trained is None or now is None or not np.isfinite(now):
        return None
    odds = lambda p: (p + 1e-3) / (1 - p + 1e-3)  # noqa: E731  (finite at 0 and 1)
    ratio = odds(now) / odds(trained)
    if 1 / LABEL_MIX_ODDS < ratio < LABEL_MIX_ODDS:
        return None
    return (f"the baseline's positive labels ({now:.1%} of {len(rows):,} rows) are far from the training "
            f"data's ({trained:.1%} of {window.get('rows', 0):,}): the model learned another label mix; check "
            "whether the label definition changed, or retrain on recent data")


def warnings_of(cap: Capture) -> list[str]:
    """The baseline's warnings and, where the label mix moved since training, that one."""
    mix = label_mix_warning(cap.params, getattr(cap.loaded, "card", None), cap.rows)
    return [*cap.baseline.warnings, *([mix] if mix else [])]


def summarise(cap: Capture) -> ReferenceSummary:
    """Notebook 01's typed result; the baseline's warnings (and a moved label mix) are the run's warnings."""
    return ReferenceSummary(
        headline=headline(cap), n_rows=len(cap.rows), start=cap.start, end=cap.end,
        fingerprint=cap.profile.fingerprint, changed=cap.changed, model_version=cap.loaded.version,
        numeric=cap.numeric, categorical=cap.categorical, positive_rate=positive_rate(cap.params, cap.rows),
        baseline=cap.baseline.info(), warnings=warnings_of(cap))


def save_profile(cap: Capture) -> Path:
    """The full profile (schema and statistics of every feature) beside the report."""
    return cap.profile.save(cap.out / PROFILE_FILE)
