"""The blocks notebooks 01 and 04 call (data.capture, models.retraining): what a report and summary.json say."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from driftlib.concept import baseline
from driftlib.config import load_params
from driftlib.core.contracts import ReferenceSummary, RetrainSummary, typed_result
from driftlib.data import capture as C
from driftlib.data.reference import ReferenceProfile
from driftlib.models import retraining as R
from driftlib.models.registry import Registry
from driftlib.models.training import train_initial
from driftlib.workbench.results import load_result, save_result
from tests.conftest import train_model

REFERENCE_KEYS = ["headline", "n_rows", "start", "end", "fingerprint", "changed", "model_version", "numeric",
                  "categorical", "positive_rate", "baseline", "warnings"]  # what notebook 01 has always saved
RETRAIN_KEYS = {"headline", "decision", "reasons", "champion", "challenger", "current_version", "metric", "delta",
                "ci", "triggers", "forced", "warnings", "skipped_input"}


# -- notebook 01 -----------------------------------------------------------------------------------
def test_first_capture_is_new_and_the_same_rows_again_are_unchanged(slice_project, tmp_path):
    train_model(slice_project)
    params = load_params(slice_project)
    loaded = Registry(params.registry_dir).load()
    first = C.capture_reference(params, loaded, "2013-05-01", tmp_path / "out", baselines=baseline)
    assert first.changed and (tmp_path / "out").is_dir()
    assert C.headline(first).endswith("— new capture") and "**new or changed**" in first.markdown
    assert f"model {loaded.version}" in C.headline(first) and "**Baseline: reference**" in first.markdown

    again = C.capture_reference(params, loaded, "2013-05-01", tmp_path / "out", baselines=baseline)
    assert not again.changed and again.profile.fingerprint == first.profile.fingerprint
    assert C.headline(again).endswith("— unchanged") and "unchanged since the last capture." in again.markdown

    saved = C.summarise(again).to_dict()
    assert list(saved) == REFERENCE_KEYS  # the keys and order of summary.json's notebook 01 result
    assert saved["n_rows"] == len(again.rows) and saved["changed"] is False
    assert saved["start"] == again.start.isoformat() and saved["model_version"] == loaded.version
    assert saved["numeric"] == params.features.numeric and saved["categorical"] == params.features.categorical
    assert 0 < saved["positive_rate"] < 1 and saved["baseline"]["kind"] == "reference"
    assert C.save_profile(again).name == "reference_profile.json"
    assert ReferenceProfile.load(tmp_path / "out" / "reference_profile.json").fingerprint == saved["fingerprint"]


def _fake_capture(warnings=(), changed=True, target="y"):
    rows = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-05"], utc=True), "x": [1.0, 2.0],
                         "y": [0, 1]})
    base = SimpleNamespace(rows=rows, kind="holdout", why="it was promoted on it", warnings=list(warnings),
                           info=lambda: {"kind": "holdout", "warnings": list(warnings)})
    params = SimpleNamespace(columns=SimpleNamespace(timestamp="t", target=target, positive_label=None),
                             task="classification")
    profile = SimpleNamespace(numeric=["x"], categorical=[], fingerprint="ab" * 32)
    return C.Capture(params, SimpleNamespace(version="v0007"), base, profile, changed, Path("."))


def test_baseline_warnings_are_shown_and_become_the_run_warnings():
    cap = _fake_capture(warnings=["the reference is in-sample"])
    assert "⚠️ **Warning:** the reference is in-sample." in cap.markdown
    assert "**Baseline: holdout** — it was promoted on it." in cap.markdown
    assert C.summarise(cap).warnings == ["the reference is in-sample"]
    assert C.headline(cap) == ("Reference of 2 rows (2024-01-01 to 2024-01-05), model v0007, "
                               f"fingerprint {'ab' * 6} — new capture")


def test_no_target_column_means_no_positive_rate():
    assert C.summarise(_fake_capture(target=None)).positive_rate is None


def test_reference_summary_keeps_notebook_01s_keys_and_round_trips():
    cap = _fake_capture()
    saved = C.summarise(cap).to_dict()
    assert list(saved) == REFERENCE_KEYS and "skipped_input" not in saved
    typed = typed_result("01", saved)
    assert isinstance(typed, ReferenceSummary) and typed.fingerprint == "ab" * 32 and typed.changed is True
    assert typed.to_dict() == saved
    assert ReferenceSummary(skipped_input={"torn": 1}).to_dict()["skipped_input"] == {"torn": 1}


def _profile(n_numeric: int) -> ReferenceProfile:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"n{i}": rng.normal(size=50) for i in range(n_numeric)} | {"cat": ["a", "b"] * 25})
    for i in range(n_numeric):
        df.loc[: i % 10, f"n{i}"] = np.nan  # n9, n19, ... miss the most
    return ReferenceProfile.fit(df, [f"n{i}" for i in range(n_numeric)], ["cat"])


def test_a_narrow_reference_is_shown_whole():
    profile = _profile(3)
    view = C.schema_view(profile, 30)
    assert view.note == "" and view.table is profile and view.missing is profile
    assert view.numeric == ["n0", "n1", "n2"] and view.categorical == ["cat"]


def test_a_wide_reference_shows_the_first_features_and_says_where_the_rest_are():
    profile = _profile(40)
    view = C.schema_view(profile, 30)
    assert view.note.startswith("30 of 41 features shown") and "reference_profile.json" in view.note
    assert len(view.table) == 30 and view.numeric == [f"n{i}" for i in range(30)] and view.categorical == []
    missing = [col["name"] for col in view.missing.schema["columns"]]
    assert len(missing) == 30 and missing[:4] == ["n9", "n19", "n29", "n39"]  # the most missing first
    assert len(profile.schema["columns"]) == 41  # the saved profile keeps every feature


# -- notebook 04 -----------------------------------------------------------------------------------
def _frame(n, start, flip, seed):
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 59, n)), unit="D")
    x, c = rng.normal(size=n), rng.choice(["a", "b"], n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-2 if flip else 2) * x))).astype(int)
    return pd.DataFrame({"ts": ts, "x": x, "c": c, "y": y, "arrived": ts + pd.Timedelta(days=3)})


@pytest.fixture
def toy(tmp_path):
    """A model trained before P(y|x) flipped, and production after the flip."""
    _frame(2000, "2013-01-01", False, 1).to_parquet(tmp_path / "train.parquet")
    _frame(5000, "2013-03-01", True, 2).to_parquet(tmp_path / "prod.parquet")
    cfg = {"name": "toy", "reference": {"path": "train.parquet", "start": "2013-02-01"},
           "production": {"source": "table", "path": "prod.parquet"},
           "columns": {"timestamp": "ts", "target": "y", "label_timestamp": "arrived"},
           "features": {"numeric": ["x"], "categorical": ["c"]},
           "model": {"registry": "models", "params": {"max_iter": 30}, "train": {"path": "train.parquet"}},
           "retrain": {"window_days": 30, "holdout_days": 10, "slice_columns": ["c"],
                       "n_bootstrap": 100, "min_train_rows": 300, "min_holdout_rows": 300}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    params = load_params(tmp_path / "p.yaml")
    train_initial(params)
    out = tmp_path / "run"
    save_result(out, "02_data_drift", {"headline": "-", "dataset_drift": False})
    save_result(out, "03_concept_drift", {"headline": "-", "verdict": "stable"})
    return params, out


def test_no_drift_means_a_skipped_decision_that_says_why(toy):
    params, out = toy
    registry = Registry.from_params(params)
    trigger = R.trigger_for(params, out, load_result)
    assert not trigger.needed and not trigger.forced
    data = R.training_data(params, "2013-04-25", registry, trigger)
    assert data.labelled is None and data.plan == "" and data.end == pd.Timestamp("2013-04-25", tz="UTC")
    decision = R.decide(params, data, registry, trigger)
    assert decision.decision == "skipped" and decision.comparison is None
    assert decision.champion == decision.current_version == "v0001" and decision.metric == params.retrain.metric
    assert decision.reasons == [trigger.why_not] and "not forced" in decision.reasons[0]
    summary = R.summarise(decision, trigger, data)
    assert isinstance(summary, RetrainSummary) and RETRAIN_KEYS <= set(summary.to_dict())
    assert summary.headline == f"Retraining skipped: {trigger.why_not}" and summary.triggers == []
    assert summary.skipped_input == {"torn": 0, "unparsed": 0, "quarantined": 0} and summary.warnings == []
    assert R.registry_text(registry, decision) == "**Current model: v0001**"


def test_missing_results_are_named_in_the_reason(toy, tmp_path):
    params, _ = toy
    trigger = R.trigger_for(params, tmp_path / "empty", load_result)
    assert not trigger.needed and "no result from 02_data_drift, 03_concept_drift" in trigger.why_not


def test_concept_drift_calls_for_retraining(toy):
    params, out = toy
    save_result(out, "03_concept_drift", {"headline": "-", "verdict": "concept drift"})
    trigger = R.trigger_for(params, out, load_result)
    assert trigger.needed and not trigger.forced and trigger.reasons == ["concept-drift verdict 'concept drift'"]


def test_forced_retrain_trains_gates_and_registers_a_challenger(toy):
    params, out = toy
    registry = Registry.from_params(params)
    trigger = R.trigger_for(params, out, load_result, force=True)
    assert trigger.needed and trigger.forced and trigger.reasons == ["forced"]
    data = R.training_data(params, "2013-04-25", registry, trigger)
    assert len(data.labelled) and data.labelled["y"].notna().all() and len(data.history) >= len(data.labelled)
    assert data.plan.startswith(f"{len(data.labelled):,} labelled of {len(data.history):,} production records")
    assert list(data.weekly.columns) == ["labelled rows", "positive rate"]
    decision = R.decide(params, data, registry, trigger)
    assert decision.decision == "promoted", decision.reasons  # the flipped concept: the challenger is better
    assert decision.champion == "v0001" and decision.challenger == decision.current_version == "v0002"
    assert R.registry_text(registry, decision) == "**Current model: v0002** (was v0001)"
    assert R.slice_effects(params, decision, data.labelled) is not None
    assert len(R.registry_history(registry, rows=1)) == 1
    saved = R.summarise(decision, trigger, data).to_dict()
    assert RETRAIN_KEYS <= set(saved) and saved["forced"] is True and saved["triggers"] == ["forced"]
    assert saved["headline"] == decision.headline and saved["delta"] > 0


def test_retrain_force_in_the_params_forces_too(toy):
    params, out = toy
    params.retrain.force = True
    assert R.trigger_for(params, out, load_result).forced
