"""Data quality findings and importance-weighted ranking."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftlib.drift.detector import DriftDetector
from driftlib.drift.quality import DataQualityChecker, feature_importance, rank_features


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def reference(rng, n=2000):
    return pd.DataFrame({"age": rng.normal(40, 10, n), "income": rng.normal(50, 5, n),
                         "city": rng.choice(["ny", "la", "sf"], n).astype(object),
                         "plan": rng.choice(["a", "b"], n).astype(object)})


def checker(ref):
    return DataQualityChecker(numeric=["age", "income"], categorical=["city", "plan"]).fit(ref)


def findings(result):
    return {(f.check, f.column): f for f in result.findings}


def test_clean_current_data_has_no_findings(rng):
    ref = reference(rng)
    cur = reference(rng, 1000).assign(age=lambda d: d["age"].clip(ref["age"].min(), ref["age"].max()))
    q = checker(ref).score(cur)
    assert q.findings == [] and q.counts()["total"] == 0 and q.headline == "No data quality findings."


def test_each_check_reports_what_changed(rng):
    cur = reference(rng, 1000)
    cur.loc[:299, "income"] = np.nan                  # 30% missing now
    cur.loc[:99, "age"] = 200.0                       # 10% above the reference range
    cur.loc[:149, "city"] = "boston"                  # 15% unseen category
    cur = cur.drop(columns=["plan"]).assign(extra=1)  # schema: one missing, one new column
    f = findings(checker(reference(rng)).score(cur))
    assert f[("missing_share", "income")].value == pytest.approx(0.3)
    assert f[("missing_share", "income")].severity == "warning"
    assert f[("out_of_range", "age")].details["above"] == pytest.approx(0.1, abs=0.005)
    assert f[("unseen_categories", "city")].value == pytest.approx(0.15)
    assert "'boston' (15.0%)" in f[("unseen_categories", "city")].message
    assert f[("missing_column", "plan")].severity == "critical"
    assert f[("extra_column", "extra")].severity == "info"


def test_type_change_and_empty_column_are_critical(rng):
    cur = reference(rng, 500).assign(age=lambda d: d["age"].map(lambda v: f"{v:.0f} years"), income=np.nan)
    q = checker(reference(rng)).score(cur)
    f = findings(q)
    assert f[("type_change", "age")].severity == "critical"
    assert f[("empty_column", "income")].severity == "critical"
    assert q.counts()["critical"] == 2


@pytest.mark.parametrize("odd", [
    pd.DataFrame(),                                                          # nothing at all
    pd.DataFrame({"age": [np.inf, -np.inf, None], "city": [1, "ny", None]}),  # inf, mixed types
    pd.DataFrame({"age": pd.Series([1, None], dtype="Int64"), "income": ["x", 3], "city": [[1], [2]]}),
])
def test_odd_input_gives_findings_not_exceptions(rng, odd):
    q = checker(reference(rng)).score(odd)
    assert q.counts()["total"] >= 1
    q.to_dict(), q._repr_html_()


def test_quality_tolerances_come_from_params():
    from driftlib.config import parse_params

    p = parse_params({"name": "m", "reference": {"path": "r.csv"}, "columns": {"timestamp": "ts"},
                      "features": {"numeric": ["a"]},
                      "drift": {"missing_share_tolerance": 0.2, "out_of_range_tolerance": 0.0}})
    c = DataQualityChecker.from_params(p)
    assert c.missing_share_tolerance == 0.2 and c.out_of_range_tolerance == 0.0 and c.numeric == ["a"]


def test_rank_features_weights_drift_by_importance(rng):
    ref = reference(rng)
    cur = reference(rng, 1500).assign(age=lambda d: d["age"] + 8, income=lambda d: d["income"] + 2)
    res = DriftDetector(numeric=["age", "income"], categorical=["city", "plan"]).fit(ref).score(cur)
    assert set(res.drifted_columns) == {"age", "income"}
    by_drift = rank_features(res)
    assert list(by_drift["column"][:2]) == ["age", "income"]  # age moved further (0.8 vs 0.4 std)
    ranked = rank_features(res, {"age": 0.01, "income": 0.5, "city": 0.2, "plan": -0.1})
    assert list(ranked["column"][:2]) == ["income", "age"]
    assert ranked.set_index("column").loc["plan", "importance"] == 0.0
    assert list(ranked["rank"]) == [1, 2, 3, 4]


def test_feature_importance_finds_the_informative_feature(rng):
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"signal": rng.normal(size=800), "noise": rng.normal(size=800)})
    y = (X["signal"] + 0.3 * rng.normal(size=800) > 0).astype(int)
    imp = feature_importance(LogisticRegression().fit(X, y), X, y, n_repeats=3)
    assert list(imp.index) == ["signal", "noise"] and imp["signal"] > 0.2


def test_extreme_values_are_a_critical_finding_of_their_own(rng):
    ref = reference(rng)
    cur = reference(rng, 1000)
    cur.loc[:1, "income"] = 1e308          # 0.2%: under the out-of-range tolerance, still critical
    cur.loc[2, "age"] = ref["age"].max() + 5  # merely out of range: no extreme finding
    f = findings(checker(ref).score(cur))
    assert f[("extreme_values", "income")].severity == "critical"
    assert f[("extreme_values", "income")].details["n"] == 2 and "1e+308" in f[("extreme_values", "income")].message
    assert ("extreme_values", "age") not in f and ("out_of_range", "income") not in f


def test_drift_untestable_columns_become_critical_findings_once(rng):
    ref = reference(rng)
    cur = reference(rng, 1000).drop(columns=["plan"]).assign(income=np.nan, city=[[1]] * 1000)
    det = DriftDetector(numeric=["age", "income"], categorical=["city", "plan"]).fit(ref)
    res = det.score(cur)
    assert res.untestable_reasons == {"income": "no values", "city": "type changed", "plan": "missing column"}
    q = checker(ref).score(cur, drift=res)
    critical = sorted((f.column, f.check) for f in q.findings if f.severity == "critical")
    assert critical == [("city", "not_testable"), ("income", "empty_column"), ("plan", "missing_column")]
    assert "could not be tested for drift: type changed" in findings(q)[("not_testable", "city")].message
    thin = det.score(cur.head(0))
    assert [f.check for f in checker(ref).score(cur.head(0), drift=thin).findings].count("no_rows") == 1
