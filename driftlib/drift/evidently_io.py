"""Evidently's own data drift report: the interactive HTML beside ours, and its verdicts as a table.

Evidently's `DataDriftPreset` is slow and memory hungry on large frames (84 s and 2 GB at 1M rows), so
the HTML is built on a random sample of each side; the engine in `driftlib.drift.detector` gives the verdicts
on all rows. `evidently_verdicts` reads a snapshot back into the engine's table shape, which is what
the differential test and the benchmark compare.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from driftlib.core.errors import InputError
from driftlib.core.jsonio import atomic_path, atomic_write_text


def _sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    return df if n is None or len(df) <= n else df.sample(n=n, random_state=seed)


def _overrides(columns: Mapping[str, Any] | None) -> tuple[dict, dict]:
    from driftlib.drift.detector import override_fields

    methods, thresholds = {}, {}
    for name, o in (columns or {}).items():
        method, threshold = override_fields(o)
        if method:
            methods[name] = method
        if threshold is not None:
            thresholds[name] = float(threshold)
    return methods, thresholds


def evidently_report(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str] | None,
                     categorical: list[str] | None, sample: int | None = 20000, seed: int = 0,
                     columns: Mapping[str, Any] | None = None, drift_share: float = 0.5):
    """Run `Report([DataDriftPreset()])` on (a sample of) both frames; returns Evidently's Snapshot.

    `columns` takes the same per-column overrides as `DriftDetector` ({name: {method, threshold}}).
    With `numeric` and `categorical` both None, Evidently infers the column types itself (what
    `DriftDetector()` without lists mirrors) and the preset covers every column it can test.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    methods, thresholds = _overrides(columns)
    if numeric is None and categorical is None:
        ref = Dataset.from_pandas(_sample(reference, sample, seed))
        cur = Dataset.from_pandas(_sample(current, sample, seed))
        preset = DataDriftPreset(drift_share=drift_share, per_column_method=methods or None,
                                 per_column_threshold=thresholds or None)
        return Report([preset], include_tests=True).run(cur, ref)
    numeric, categorical = list(numeric or []), list(categorical or [])
    names = [*numeric, *categorical]
    for side, df in (("reference", reference), ("current", current)):
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise InputError(f"{side}: missing column(s) {', '.join(missing)}")
    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    ref = Dataset.from_pandas(_sample(reference[names], sample, seed), data_definition=definition)
    cur = Dataset.from_pandas(_sample(current[names], sample, seed), data_definition=definition)
    preset = DataDriftPreset(columns=names, drift_share=drift_share, per_column_method=methods or None,
                             per_column_threshold=thresholds or None)
    return Report([preset], include_tests=True).run(cur, ref)


def evidently_verdicts(snapshot) -> pd.DataFrame:
    """Per-column method, score, threshold and drift flag as Evidently reported them."""
    d = snapshot.dict()
    drifted = {t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
               for t in d.get("tests", []) if t["metric_config"]["params"].get("type", "").endswith("ValueDrift")}
    rows = []
    for m in d["metrics"]:
        cfg = m["config"]
        if not cfg.get("type", "").endswith("ValueDrift"):
            continue
        col = cfg["column"]
        rows.append({"column": col, "method": _display_name(cfg.get("method")), "score": float(m["value"]),
                     "threshold": cfg.get("threshold"), "drifted": drifted.get(col)})
    return pd.DataFrame(rows, columns=["column", "method", "score", "threshold", "drifted"])


def _display_name(method: str | None) -> str | None:
    """A method given by name is reported as given; Evidently's registry knows its display name."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    tests = _registered_stat_tests.get(method or "")
    return next(iter(tests.values())).display_name if tests else method


def evidently_summary(snapshot) -> dict[str, Any]:
    """Drifted column count and share, and the dataset verdict (share >= drift_share)."""
    for m in snapshot.dict()["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
            return {"n_drifted": int(m["value"]["count"]), "share_drifted": share,
                    "dataset_drift": share >= float(cfg.get("drift_share", 0.5))}
    raise ValueError("snapshot has no DriftedColumnsCount metric (not a DataDriftPreset report)")


def save_html(snapshot, path: str | Path) -> Path:
    """Write the interactive report atomically."""
    with atomic_path(path) as tmp:
        snapshot.save_html(str(tmp))
    return Path(path)


# -- snapshot files for the Evidently UI workspace (used by driftlib.monitoring.workspace) ---------------------
SNAPSHOT_FILE = "02_evidently_snapshot.json"


def save_snapshot(snapshot, path: str | Path) -> Path:
    """Write Evidently's full snapshot JSON atomically (`Snapshot.dumps`: reloadable, unlike `save_json`)."""
    return atomic_write_text(path, snapshot.dumps())


def load_snapshot(path: str | Path):
    """Read a snapshot written by `save_snapshot`; InputError naming the file if it is not one."""
    from evidently.core.report import Snapshot

    try:
        return Snapshot.load(str(path))
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"{path}: not an Evidently snapshot ({type(err).__name__})") from None
