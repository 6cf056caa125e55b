"""Drift must never be silenced: extreme finite values, all-NaN columns and scores that cannot be
computed are findings named in the headline, never a quiet "not drifted" (issue 11)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from driftlib.drift.detector import EMPTY, NOT_TESTABLE, DriftDetector
from driftlib.drift.quality import DataQualityChecker
from driftlib.drift.stats import get_stat_test, sample
from driftlib.drift.stats.binning import sturges_edges
from driftlib.drift.stats.methods import wasserstein_sorted

NUMERIC = [f"x{i}" for i in range(6)]


def frame(rng, n, shift=0.0):
    return pd.DataFrame({c: rng.normal(shift if i < 4 else 0.0, 1, n) for i, c in enumerate(NUMERIC)})


@pytest.fixture
def rng():
    return np.random.default_rng(3)


# -- the scores themselves ---------------------------------------------------------------------
def test_wasserstein_with_1e308_rows_is_finite_and_equals_scipy(rng):
    r, c = rng.normal(0, 1, 3000), np.concatenate([rng.normal(0, 1, 1998), [1e308, 1e308]])
    ref, cur = sample(pd.Series(r), "numeric"), sample(pd.Series(c), "numeric")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        score = get_stat_test("wasserstein").score(ref, cur)
    assert math.isfinite(score) and score == pytest.approx(stats.wasserstein_distance(r, c) / np.std(r), rel=1e-9)


def test_reference_std_and_wasserstein_survive_both_signs_of_the_float_range(rng):
    r = np.concatenate([rng.normal(0, 1, 1000), [-1.7e308, 1.7e308]])
    ref = sample(pd.Series(r), "numeric")
    assert math.isfinite(ref.std) and ref.std == pytest.approx(np.std(r / 2**1000) * 2**1000)
    cur = np.sort(np.concatenate([rng.normal(0, 1, 500), [-1e308, 1e308]]))
    assert math.isfinite(wasserstein_sorted(ref, cur))


def test_sturges_edges_where_numpy_overflows_are_the_scaled_edges():
    edges = sturges_edges(-1e308, 1e308, 1000, np.float64)
    scaled = np.linspace(-1e308 / 2**1000, 1e308 / 2**1000, 1000)  # any power of two gives the same edges
    expected = np.histogram_bin_edges(scaled, bins="sturges") * 2**1000
    assert np.isfinite(edges).all() and len(edges) == 12
    np.testing.assert_array_equal(edges, expected)


@pytest.mark.parametrize("method", ["psi", "kl_div", "jensenshannon", "hellinger", "ks", "wasserstein"])
def test_every_numeric_test_gives_a_finite_score_on_the_whole_float_range(rng, method):
    ref = sample(pd.Series(np.concatenate([rng.normal(0, 1, 2000), [-1.7e308]])), "numeric")
    cur = sample(pd.Series(np.concatenate([rng.normal(1, 1, 2000), [1.7e308, 1e-300]])), "numeric")
    with np.errstate(over="raise", invalid="raise"):  # underflow of tiny values is harmless
        assert math.isfinite(get_stat_test(method).score(ref, cur))


def test_hellinger_does_not_depend_on_the_unit(rng):
    a, b = rng.normal(0, 1, 3000), rng.normal(0.3, 1, 2000)
    h = get_stat_test("hellinger")
    base = h.score(sample(pd.Series(a), "numeric"), sample(pd.Series(b), "numeric"))
    for unit in (1e-250, 1e250):
        scaled = h.score(sample(pd.Series(a * unit), "numeric"), sample(pd.Series(b * unit), "numeric"))
        assert scaled == pytest.approx(base, rel=1e-9)


# -- the detector --------------------------------------------------------------------------------
def test_two_1e308_rows_do_not_turn_drift_into_no_drift(rng):
    det = DriftDetector(numeric=NUMERIC).fit(frame(rng, 3000))
    cur = frame(rng, 2000, shift=1.0)
    before = det.score(cur)
    cur.loc[:1, NUMERIC] = 1e308
    after = det.score(cur)
    assert before.dataset_drift and set(before.drifted_columns) == set(NUMERIC[:4])
    assert after.dataset_drift is True and set(before.drifted_columns) <= set(after.drifted_columns)
    assert after.table["score"].map(math.isfinite).all() and set(after.table["status"]) == {"ok"}
    q = DataQualityChecker(numeric=NUMERIC).fit(frame(rng, 3000)).score(cur, drift=after)
    assert {f.column for f in q.findings if f.check == "extreme_values" and f.severity == "critical"} == set(NUMERIC)


def test_a_score_that_cannot_be_computed_is_not_testable_and_named(rng, monkeypatch):
    from driftlib.drift.stats.methods import Wasserstein

    monkeypatch.setattr(Wasserstein, "score", lambda self, r, c: float("-inf"))
    det = DriftDetector(numeric=NUMERIC[:3], categorical=[]).fit(frame(rng, 3000))
    res = det.score(frame(rng, 2000, shift=1.0).assign(x0=lambda d: d["x0"] * 0))
    row = res.table.set_index("column").loc["x0"]
    assert row["status"] == NOT_TESTABLE and row["drifted"] is None
    assert res.untestable == ["x0", "x1", "x2"] and res.dataset_drift is None
    assert res.headline == ("No feature could be tested: x0 (score not computable), x1 (score not computable), "
                            "x2 (score not computable).")
    assert [f.column for f in res.findings() if f.severity == "critical"] == ["x0", "x1", "x2"]


def test_all_nan_column_is_named_and_not_dropped_silently(rng):
    ref = frame(rng, 3000)
    cur = frame(rng, 2000, shift=1.0).assign(x4=np.nan)
    res = DriftDetector(numeric=NUMERIC).fit(ref).score(cur)
    assert res.table.set_index("column").loc["x4", "status"] == EMPTY
    assert res.untestable == ["x4"] and res.share_drifted == pytest.approx(4 / 5)
    assert res.headline.startswith("Dataset drift: 4 of 5 testable features drifted")
    assert res.headline.endswith("; not testable: x4 (no values).")
    q = DataQualityChecker(numeric=NUMERIC).fit(ref).score(cur, drift=res)
    assert [(f.check, f.severity) for f in q.findings if f.column == "x4"] == [("empty_column", "critical")]
    d = res.to_dict()
    assert d["untestable"] == ["x4"] and d["untestable_reasons"] == {"x4": "no values"}


def test_verdict_is_never_a_confident_no_drift_when_untestable_columns_could_tip_it(rng):
    det = DriftDetector(numeric=NUMERIC).fit(frame(rng, 3000))
    cur = frame(rng, 2000).assign(x0=lambda d: d["x0"] + 1)          # 1 of 6 drifted
    assert det.score(cur).verdict == "no drift"
    one_gone = det.score(cur.drop(columns=["x5"]))                   # 1 of 5, worst case 2 of 6 < 0.5
    assert one_gone.dataset_drift is False and "not testable: x5 (missing column)" in one_gone.headline
    three_gone = det.score(cur.drop(columns=["x3", "x4", "x5"]))     # 1 of 3; worst case 4 of 6
    assert three_gone.dataset_drift is None and three_gone.verdict == "undetermined"
    assert three_gone.headline.startswith("Dataset drift undetermined: 1 of 3 testable features drifted")
    assert three_gone.to_dict()["dataset_drift"] is None


def test_windows_carry_the_untestable_columns(rng):
    log = pd.concat([frame(rng, 500), frame(rng, 500, 1.0).assign(x5=np.nan)], ignore_index=True)
    win = DriftDetector(numeric=NUMERIC).fit(frame(rng, 3000)).score_windows(log, window=500)
    assert [w["untestable"] for w in win.to_dict()["windows"]] == [[], ["x5"]]
    assert list(win.windows["verdict"]) == ["no drift", "drift"]


def test_headline_text_takes_the_period_and_the_ranking(rng):
    res = DriftDetector(numeric=NUMERIC).fit(frame(rng, 3000)).score(frame(rng, 2000, 1.0).drop(columns=["x5"]))
    assert res.headline_text(period="01 Jun 2013 to 30 Jun 2013", ranked=["x2", "x0", "x1", "x3"]) == (
        "Dataset drift: 4 of 5 testable features drifted (01 Jun 2013 to 30 Jun 2013); most important: "
        "x2, x0, x1; not testable: x5 (missing column).")


# -- the property ----------------------------------------------------------------------------------
EXTREME = st.floats(1e300, 1.7976931348623157e308) | st.floats(-1.7976931348623157e308, -1e300)
METHODS = [None, "ks", "wasserstein", "psi", "kl_div", "jensenshannon", "hellinger"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n_ref=st.integers(200, 2500), n_cur=st.integers(100, 2000),
       shift=st.floats(0.0, 2.0), spread=st.floats(0.01, 1e6), method=st.sampled_from(METHODS),
       k_share=st.floats(0.0, 0.01), extremes=st.lists(EXTREME, min_size=1, max_size=20), integer=st.booleans())
def test_extreme_rows_never_hide_drift_without_a_critical_finding(seed, n_ref, n_cur, shift, spread, method,
                                                                  k_share, extremes, integer):
    """Appending k <= 1% extreme finite rows never turns a drifted column into "not drifted" without
    a critical finding naming that column."""
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"v": rng.normal(0, spread, n_ref)})
    cur = pd.DataFrame({"v": rng.normal(shift * spread, spread, n_cur)})
    if integer:
        ref, cur = ref.round(), cur.round()
    columns = {"v": {"method": method}} if method else {}
    det = DriftDetector(numeric=["v"], columns=columns).fit(ref)
    before = det.score(cur).table.iloc[0]
    k = max(1, int(k_share * n_cur))
    bad = pd.DataFrame({"v": [extremes[i % len(extremes)] for i in range(k)]})
    cur2 = pd.concat([cur, bad], ignore_index=True)
    res = det.score(cur2)
    after = res.table.iloc[0]
    q = DataQualityChecker(numeric=["v"]).fit(ref).score(cur2, drift=res)
    named = {f.column for f in q.findings if f.severity == "critical"}
    drifted = [x is not None and bool(x) for x in (before["drifted"], after["drifted"])]
    if drifted[0] and not drifted[1]:
        assert "v" in named
    if after["status"] != "ok":
        assert "v" in named and "v" in res.headline
