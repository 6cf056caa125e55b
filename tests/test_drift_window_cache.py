"""Notebook 02's windows: a cached run and a cold run give the same result; a changed window recomputes."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftlib.core.cache import ResultCache
from driftlib.core.jsonio import to_jsonable
from driftlib.drift.detector import DriftDetector
from driftlib.drift.windows import score_windows

START, END = pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-03-29", tz="UTC")


def _frame(rng, n, start, days, shift=0.0):
    ts = start + pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s")
    df = pd.DataFrame({
        "t": ts,
        "x": rng.normal(size=n) + shift * np.linspace(0, 1, n),
        "k": pd.array(rng.integers(0, 30, n), dtype="Int64"),   # nullable int with nulls somewhere
        "few": rng.integers(0, 4, n),                           # int column typed per frame (auto)
        "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        "prediction": rng.integers(0, 2, n)})
    return df


@pytest.fixture
def world():
    rng = np.random.default_rng(3)
    ref = _frame(rng, 3000, pd.Timestamp("2024-01-01", tz="UTC"), 30)
    cur = _frame(rng, 4000, START, 28, shift=1.5)
    cur.loc[cur.index[:5], "k"] = pd.NA                    # nulls only in the first rows
    late = cur["t"] > START + pd.Timedelta(days=20)
    cur.loc[late, "c"] = np.where(rng.random(int(late.sum())) < 0.5, "new1", "new2")  # unseen categories
    cur = cur.sample(frac=1.0, random_state=0).reset_index(drop=True)  # not in time order
    det = DriftDetector(numeric=["x", "k", "few"], categorical=["c"], outputs={"prediction": "categorical"},
                        min_rows=50, auto=["few"]).fit(ref)
    return det, ref, cur


def _dump(windowed) -> str:
    return json.dumps(to_jsonable({"summary": windowed.to_dict(),
                                   "table": windowed.table.to_dict("records")}), sort_keys=True)


def _run(world, cache, current=None):
    det, ref, cur = world
    return score_windows(det, cur if current is None else current, timestamp="t", window="7D", min_rows=50,
                         start=START, end=END, cache=cache, reference=ref)


def test_cached_run_equals_cold_run_and_reuses_windows(world, tmp_path):
    det, ref, cur = world
    cold = det.score_windows(cur, timestamp="t", window="7D", min_rows=50, start=START, end=END)
    first_cache = ResultCache(tmp_path / "cache")
    first = _run(world, first_cache)
    assert first_cache.misses == 4 and first_cache.hits == 0
    again = ResultCache(tmp_path / "cache")
    second = _run(world, again)
    assert again.hits == 4 and again.misses == 0
    assert _dump(cold) == _dump(first) == _dump(second)
    assert list(second.first_drift().items()) == list(cold.first_drift().items())


def test_a_late_record_or_another_reference_recomputes(world, tmp_path):
    det, ref, cur = world
    _run(world, ResultCache(tmp_path / "cache"))
    late = cur.iloc[:1].assign(t=START + pd.Timedelta(days=1, hours=3))  # one more row in the first week
    changed = pd.concat([cur, late], ignore_index=True)
    again = ResultCache(tmp_path / "cache")
    result = _run(world, again, changed)
    assert again.misses == 1 and again.hits == 3
    cold = det.score_windows(changed, timestamp="t", window="7D", min_rows=50, start=START, end=END)
    assert _dump(result) == _dump(cold)
    other_ref = ref.assign(x=ref["x"] + 0.01)
    other = DriftDetector(numeric=["x", "k", "few"], categorical=["c"], outputs={"prediction": "categorical"},
                          min_rows=50, auto=["few"]).fit(other_ref)
    fresh = ResultCache(tmp_path / "cache")
    score_windows(other, cur, timestamp="t", window="7D", min_rows=50, start=START, end=END, cache=fresh,
                  reference=other_ref)
    assert fresh.hits == 0  # another reference: nothing stale is reused


def test_without_cache_or_with_row_windows_it_is_the_detector(world):
    det, ref, cur = world
    assert _dump(_run(world, None)) == _dump(det.score_windows(cur, timestamp="t", window="7D", min_rows=50,
                                                              start=START, end=END))
    rows = score_windows(det, cur, timestamp="t", window=1000, min_rows=50, cache=ResultCache(None), reference=ref)
    assert _dump(rows) == _dump(det.score_windows(cur, timestamp="t", window=1000, min_rows=50))
