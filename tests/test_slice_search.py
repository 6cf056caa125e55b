"""Slice search: a planted degraded segment ranks first (single and pair), drift slices, challenger slices."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.synthetic import correlation_world
from driftlib.performance.slice_search import (DriftSliceFinder, SliceFinder, compare_by_slice, degraded_slices,
                                               drifted_slices, row_loss)
from driftlib.performance.synthetic import slice_world

FEATURES = dict(numeric=["x1", "x2"], categorical=["c", "g"])


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_planted_degraded_segment_ranks_first(pair):
    reference, current, planted = slice_world(seed=0, pair=pair)
    report = SliceFinder(metric="mae", **FEATURES).fit(reference).score(current)
    top = report.table.iloc[0]
    assert top["slice"] == planted and report.rank_of(planted) == 1
    assert top["significant"] and top["p_adjusted"] < 1e-6
    assert top["current_lower"] < top["current"] < top["current_upper"]
    assert top["drop_lower"] > 0  # mae went up: a positive drop means worse
    if pair:  # both parents carry the same contribution; they are named as explained by the pair
        parents = report.table[report.table["slice"].isin(["c = b", planted.split(" & ")[0]])]
        assert set(parents["explained_by"]) == {planted}
    # slices away from the planted segment are not flagged
    clean = report.table[report.table["slice"].isin(["c = a", "c = d"])]
    assert not clean["significant"].any()
    d = json.loads(json.dumps(report.to_dict()))
    assert d["top_slices"][0]["slice"] == planted and d["n_slices_tested"] == report.n_tested
    assert planted in report.headline and "<table" in report._repr_html_()


def test_no_degradation_flags_nothing_with_fdr_control():
    reference, _, _ = slice_world(seed=1)
    _, current, _ = slice_world(seed=2, degraded_noise=1.0)  # same noise everywhere: nothing changed
    for correction in ("bh", "bonferroni"):
        report = degraded_slices(reference, current, "mae", correction=correction, **FEATURES)
        assert report.n_tested > 50 and report.table["significant"].sum() == 0, report.table.head()
        assert report.headline.startswith("No slice stands out")


def test_classification_metric_with_probabilities_and_min_rows():
    rng = np.random.default_rng(3)

    def frame(n, flip):
        df = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], size=n)})
        p = 1 / (1 + np.exp(-2 * df["x"]))
        y = (rng.random(n) < p).astype(int)
        if flip:
            bad = (df["c"] == "b").to_numpy()
            y[bad] = 1 - y[bad]
        return df.assign(probability=p, prediction=(p >= 0.5).astype(int), target=y)

    reference, current = frame(3000, False), frame(3000, True)
    report = SliceFinder(metric="roc_auc", score="probability", min_rows=200, numeric=["x"],
                         categorical=["c"]).fit(reference).score(current)
    assert report.table.iloc[0]["slice"] == "c = b"
    assert (report.table["n_current"] >= 200).all() and (report.table["n_reference"] >= 200).all()
    with pytest.raises(ConfigError, match="needs the probability"):
        SliceFinder(metric="roc_auc").fit(reference)


def test_drift_slices_find_the_quadrant_a_correlation_flip_fills():
    reference, current = correlation_world(seed=4)
    report = drifted_slices(reference, current, numeric=["x1", "x2", "x3"], categorical=["c"])
    singles = report.table[~report.table["slice"].str.contains("&")]
    assert not singles["significant"].any()  # marginals unchanged
    top = report.table.iloc[0]
    assert top["significant"] and top["slice"].startswith("x1 ") and " & x2 " in top["slice"]
    # a flip to negative correlation fills the opposite corners: x1 high with x2 low, or the reverse
    (a, b) = top["conditions"]
    assert top["share_change"] > 0 and (a["upper"] is None) != (b["upper"] is None)


def test_unseen_categories_and_missing_values_have_their_own_handling():
    reference, current, _ = slice_world(seed=5)
    reference.loc[reference.index[:300], "x2"] = np.nan
    current.loc[current.index[:400], "c"] = "new"
    report = DriftSliceFinder(**FEATURES, pairs=False).fit(reference).score(current)
    assert "x2 missing" in set(report.table["slice"])  # missing values are a slice of their own
    assert "c = new" not in set(report.table["slice"])  # no reference slice for an unseen category
    assert report.table.set_index("slice").loc["x2 missing", "share_change"] < 0


def test_challenger_helps_and_hurts_by_slice():
    rng = np.random.default_rng(6)
    n = 6000
    holdout = pd.DataFrame({"c": rng.choice(["a", "b", "c"], size=n), "x": rng.normal(size=n)})
    y = rng.normal(size=n)
    champion = y + rng.normal(size=n)
    challenger = y + rng.normal(size=n) * np.select([holdout["c"] == "a", holdout["c"] == "b"], [0.5, 1.5], 1.0)
    report = compare_by_slice(holdout, row_loss("mae", y, champion), row_loss("mae", y, challenger),
                              numeric=["x"], categorical=["c"])
    d = report.to_dict()
    assert d["helps"][0] == "c = a" and d["hurts"] == ["c = b"]
    assert "c = c" not in d["helps"] + d["hurts"]
    assert "helps on" in report.headline
    with pytest.raises(InputError, match="one value per holdout row"):
        compare_by_slice(holdout, row_loss("mae", y, champion)[:10], row_loss("mae", y, challenger))
    with pytest.raises(ConfigError, match="no per-row loss"):
        row_loss("roc_auc", y, champion)


def test_bad_input_names_the_field():
    reference, current, _ = slice_world(seed=7, n_reference=300, n_current=300)
    with pytest.raises(ConfigError, match="unknown metric 'mape'"):
        SliceFinder(metric="mape").fit(reference)
    with pytest.raises(ConfigError, match="correction"):
        SliceFinder(correction="holm").fit(reference)
    with pytest.raises(InputError, match="no target column 'y'"):
        SliceFinder(target="y", **FEATURES).fit(reference)
    with pytest.raises(InputError, match="current: missing feature column"):
        SliceFinder(**FEATURES).fit(reference).score(current.drop(columns="g"))
    with pytest.raises(ConfigError, match="fit"):
        DriftSliceFinder().score(current)


@pytest.mark.parametrize("mode", ["degradation", "drift", "comparison"])
def test_slice_bars_draw_the_top_slices(mode):
    from matplotlib.figure import Figure

    from driftlib.plots.slices import slice_bars

    reference, current, planted = slice_world(seed=8, n_reference=1500, n_current=1500)
    if mode == "degradation":
        report = SliceFinder(**FEATURES, pairs=False).fit(reference).score(current)
    elif mode == "drift":
        report = DriftSliceFinder(**FEATURES, pairs=False).fit(reference).score(current)
    else:
        y = current["target"].to_numpy()
        report = compare_by_slice(current, row_loss("mae", y, current["prediction"]),
                                  row_loss("mae", y, current["prediction"] * 0.9), **FEATURES)
    fig = slice_bars(report, top=5)
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == min(5, len(report.table)) and labels[-1] == report.table.iloc[0]["slice"]
    if mode == "degradation":
        assert labels[-1] == planted


def test_retraining_decision_names_the_segment_a_challenger_helps():
    """notebook 04's helps/hurts table: the challenger is better only where c == 'b'."""
    from driftlib.models.training import RetrainDecision

    rng = np.random.default_rng(0)
    n = 3000
    c = rng.choice(["a", "b", "d"], n)
    x = rng.normal(size=n)
    y = (rng.random(n) < 0.5).astype(int)
    champion = np.clip(np.where(y == 1, 0.6, 0.4) + rng.normal(0, 0.05, n), 0, 1)
    challenger = np.where(c == "b", np.clip(np.where(y == 1, 0.9, 0.1) + rng.normal(0, 0.05, n), 0, 1), champion)
    scores = pd.DataFrame({"timestamp": pd.Timestamp("2024-01-01", tz="UTC"), "label": y, "champion": champion,
                           "challenger": challenger, "c": c, "x": x})
    d = RetrainDecision("rejected", [], "v1", champion="v1", challenger="v2", metric="roc_auc", scores=scores)
    effects = d.slice_effects(["x"], ["c"]).to_dict()
    assert effects["helps"] and effects["helps"][0].replace(" ", "") == "c=b", effects["helps"]
    assert not effects["hurts"]


def _widened(frames, n_noise: int, seed: int):
    rng = np.random.default_rng(seed)
    noise = [f"z{i:03d}" for i in range(n_noise)]
    return [df.join(pd.DataFrame(rng.normal(size=(len(df), n_noise)), columns=noise, index=df.index))
            for df in frames], noise


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_wide_table_screens_features_and_still_ranks_the_planted_segment_first(pair):
    """1,500 features used to mean a million pair slices (notebook 03 ran for over 12 minutes); a screen
    of single slices keeps max_features of them, and the planted segment still ranks first."""
    reference, current, planted = slice_world(seed=0, pair=pair)
    (reference, current), noise = _widened([reference, current], 300, seed=5)
    finder = SliceFinder(metric="mae", numeric=["x1", "x2", *noise], categorical=["c", "g"], max_features=20)
    report = finder.fit(reference).score(current)
    assert report.rank_of(planted) == 1 and report.table.iloc[0]["significant"]
    searched = {cond["feature"] for conds in report.table["conditions"] for cond in conds}
    assert len(searched) <= 20 and ({"c", "x1"} if pair else {"c"}) <= searched
    assert report.n_tested == len(report.table) and report.screened > 10 * report.n_tested
    assert "max_features" in report.note and report.to_dict()["n_slices_screened_out"] == report.screened
    assert report.to_dict()["note"] == report.note


def test_wide_table_screen_raises_no_false_alarm_and_narrow_tables_are_unchanged():
    reference, _, _ = slice_world(seed=1)
    _, current, _ = slice_world(seed=2, degraded_noise=1.0)
    (wide_ref, wide_cur), noise = _widened([reference, current], 100, seed=6)
    wide = SliceFinder(metric="mae", numeric=["x1", "x2", *noise], categorical=["c", "g"]).fit(wide_ref).score(wide_cur)
    assert wide.table["significant"].sum() == 0 and wide.note
    narrow = SliceFinder(metric="mae", **FEATURES).fit(reference).score(current)
    assert narrow.note is None  # 4 features: searched in full, as before
    drift = DriftSliceFinder(numeric=["x1", "x2", *noise], categorical=["c", "g"]).fit(wide_ref).score(wide_cur)
    assert drift.table["significant"].sum() == 0 and "max_features" in drift.note
