"""Notebook 02's package side: bounded importance on wide tables, one headline, the full table on disk."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from driftlib.drift import summary as S
from driftlib.drift.detector import DriftDetector
from driftlib.drift.quality import feature_importance


@pytest.fixture
def world():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 8)), columns=[f"f{i}" for i in range(8)])
    y = (X["f0"] + 0.5 * X["f3"] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    ref = X.assign(y=y)
    cur = X.copy()
    cur[["f0", "f3", "f5"]] += 1.5  # three columns drift
    return model, ref, cur


def test_importance_of_the_most_drifted_columns_equals_sklearns_full_run(world):
    model, ref, cur = world
    drift = DriftDetector(numeric=list(cur.columns)).fit(ref[cur.columns]).score(cur)
    bounded = S.model_importance(model, ref, list(cur.columns), "y", drift=drift, max_features=3)
    assert sorted(bounded.values.index) == ["f0", "f3", "f5"] and "3 most drifted of 8" in bounded.note
    full = feature_importance(model, ref[list(cur.columns)], ref["y"], n_repeats=3, max_rows=5000)
    assert np.allclose(bounded.values.sort_index(), full[["f0", "f3", "f5"]].sort_index())


def test_importance_off_or_unavailable_is_said(world):
    model, ref, cur = world
    assert "drift.importance: none" in S.model_importance(model, ref, list(cur.columns), "y", mode="none").note
    broken = S.model_importance(lambda: (_ for _ in ()).throw(KeyError("no model")), ref, list(cur.columns), "y")
    assert broken.values is None and "unavailable" in broken.note


def test_headline_and_full_table(world, tmp_path):
    model, ref, cur = world
    drift = DriftDetector(numeric=list(cur.columns)).fit(ref[cur.columns]).score(cur)
    from driftlib.drift.quality import rank_features

    ranked = rank_features(drift, None)
    drifted = ranked.loc[ranked["drifted"], "column"].tolist()
    text = S.headline(drift, drifted, "01 Jan 2024 to 07 Jan 2024")
    assert text.startswith(f"{'Dataset drift' if drift.dataset_drift else 'No dataset drift'}: {len(drifted)} of 8")
    name = S.save_table(drift, ranked, tmp_path)
    table = pd.read_csv(tmp_path / name)
    assert set(table["column"]) >= set(cur.columns) and table["rank"].iloc[0] == 1


def test_window_notes_list_the_earliest_drifts_only_on_wide_tables():
    """On a 1,500-column table 'When did the drift begin' listed 220 lines, one per drifted feature."""
    rng = np.random.default_rng(2)
    cols = [f"f{i:02d}" for i in range(40)]
    ref = pd.DataFrame(rng.normal(size=(400, 40)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(400, 40)), columns=cols)
    cur.iloc[200:, :30] += 2.0  # 30 features drift in the second window
    cur["ts"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(400) // 200, "D")
    windowed = DriftDetector(numeric=cols).fit(ref).score_windows(cur, "ts", "1D", min_rows=50)
    notes = S.window_notes(windowed, "1D", 50, top=10)
    n_first = int(windowed.first_drift().notna().sum())
    assert n_first >= 30 and notes.count("first drifted") == 10 and f"and {n_first - 10} more features" in notes
    assert "02 Jan 2024" in notes
