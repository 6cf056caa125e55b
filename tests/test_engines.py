"""Drift engines (issue 14): DuckDB out of core and Spark give the exact engine's verdicts from summaries."""
from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.detector import DriftDetector
from driftlib.drift.engines import compare, compare_with_params, verdicts_agree
from driftlib.drift.engines.duckdb_engine import DuckDBExecutor
from driftlib.drift.engines.summaries import DUCKDB, Grid, hist_query, parse_hist, parse_stats, stats_query

HAS_SPARK = importlib.util.find_spec("pyspark") is not None


def frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    s = 1.0 if drifted else 0.0
    df = pd.DataFrame({
        "normal": rng.normal(0.25 * s, 1, n),  # beyond the reference range on one side when drifted
        "wide": rng.lognormal(0, 1 + 0.2 * s, n),
        "f32": rng.normal(5, 2, n).astype(np.float32),
        "ints": rng.integers(0, 500 + int(100 * s), n),  # many integer values: Sturges edges of ints
        "few": rng.choice([0.0, 1.0, 2.0], n, p=[0.2, 0.3, 0.5] if drifted else [0.3, 0.3, 0.4]),
        "small_int": rng.integers(0, 4 + int(s), n),  # int with few values: Evidently types it categorical
        "city": rng.choice(["a", "b", "c", "d"] + (["new"] if drifted else []), n),
        "flag": rng.random(n) < (0.4 if drifted else 0.5),
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "s"),
    })
    df.loc[rng.random(n) < 0.02, "normal"] = np.nan
    df.loc[:5, "wide"] = np.inf
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("engines")
    ref, cur = frame(rng, 60_000, False), frame(rng, 60_000, True)
    ref.to_parquet(root / "ref.parquet")
    parts = root / "current"
    for i, chunk in enumerate([cur.iloc[:20_000], cur.iloc[20_000:40_000], cur.iloc[40_000:]]):  # hive layout
        (parts / f"day=2024-01-0{i + 1}").mkdir(parents=True)
        chunk.to_parquet(parts / f"day=2024-01-0{i + 1}" / "part-0.parquet")
    cur.to_parquet(root / "cur.parquet")
    return root, ref, cur


OVERRIDES = {"ints": {"method": "psi"}, "wide": {"method": "kl_div"}, "f32": {"method": "jensenshannon"}}


def _agree(exact, approx, tol=0.005):
    a, b = exact.table.set_index("column"), approx.table.set_index("column")
    assert list(a.index) == list(b.index)
    assert (a["method"] == b["method"]).all(), (a["method"], b["method"])
    assert (a["status"] == b["status"]).all()
    ok = a["status"] == "ok"
    diff = (a["score"] - b["score"]).abs()[ok]
    assert (diff <= tol).all(), diff
    assert (diff <= b["bound"][ok] + 1e-9).all(), pd.concat([diff, b["bound"]], axis=1)  # the bound holds
    assert verdicts_agree(exact, approx) == []


def test_duckdb_matches_exact_engine(files):
    root, ref, cur = files
    exact = compare(ref, cur, engine="exact", overrides=OVERRIDES)
    ooc = compare(root / "ref.parquet", root / "cur.parquet", engine="duckdb", overrides=OVERRIDES)
    assert exact.engine == "exact" and ooc.engine == "duckdb"
    _agree(exact, ooc)
    t = ooc.table.set_index("column")
    # counts are exact: category, few-valued and Sturges-binned tests give the exact engine's scores
    e = exact.table.set_index("column")
    for col in ["ints", "wide", "f32", "few", "small_int", "city", "flag"]:
        assert math.isclose(t.loc[col, "score"], e.loc[col, "score"], rel_tol=1e-9, abs_tol=1e-12), col
        assert t.loc[col, "bound"] == 0
    assert t.loc["small_int", "kind"] == "categorical"  # Evidently's int rule, as the detector applies it
    assert t.loc["normal", "method"].startswith("Wasserstein") and 0 < t.loc["normal", "bound"] < 0.005
    assert t.loc["city", "n_out_of_range"] > 0 and t.loc["normal", "n_null"] > 0
    assert "ts" not in t.index  # timestamps are not features


def test_dataset_directory_and_glob_give_the_same_result(files):
    root, _, _ = files
    one = compare(root / "ref.parquet", root / "cur.parquet", engine="duckdb", names=["normal", "city", "ints"])
    part = compare(root / "ref.parquet", root / "current", engine="duckdb", names=["normal", "city", "ints"])
    glob = compare(root / "ref.parquet", str(root / "current" / "*" / "*.parquet"), engine="duckdb",
                   names=["normal", "city", "ints"])
    for other in (part, glob):
        assert np.allclose(one.table["score"], other.table["score"], rtol=1e-9)


def test_small_reference_uses_p_value_tests_like_the_detector(files):
    _, ref, cur = files
    small = ref.iloc[:800]
    exact = compare(small, cur, engine="exact")
    ooc = compare(small, cur, engine="duckdb")
    methods = set(exact.table["method"])
    assert {"K-S p_value", "chi-square p_value", "Z-test p_value"} <= methods
    t, e = ooc.table.set_index("column"), exact.table.set_index("column")
    assert (t["method"] == e["method"]).all()
    assert verdicts_agree(exact, ooc) == []
    for col in ["city", "flag", "few"]:  # counted exactly: identical p-values
        assert math.isclose(t.loc[col, "score"], e.loc[col, "score"], rel_tol=1e-9, abs_tol=1e-300)


def test_accuracy_guard_on_a_larger_sample(tmp_path):
    """Scaled-down guard of the 10M-row figure: W1 from fine histograms within 0.005 of exact."""
    rng = np.random.default_rng(3)
    n = 300_000
    ref = pd.DataFrame({f"x{i}": rng.standard_t(3 + i, n) for i in range(4)})
    cur = pd.DataFrame({f"x{i}": rng.standard_t(3 + i, n) * (1 + 0.05 * i) + 0.03 * i for i in range(4)})
    ref.to_parquet(tmp_path / "r.parquet")
    cur.to_parquet(tmp_path / "c.parquet")
    exact = compare(ref, cur, engine="exact")
    ooc = compare(tmp_path / "r.parquet", tmp_path / "c.parquet", engine="duckdb")
    _agree(exact, ooc)
    assert ooc.approximate and ooc.to_dict()["approximate"] is True


def test_summaries_merge_like_one_pass(files):
    """Summaries of two halves merged equal the summary of the whole (what makes them distributable)."""
    _, ref, _ = files
    halves = [ref.iloc[:30_000], ref.iloc[30_000:]]
    num = {"normal": "float64", "ints": "int64"}
    grid = Grid(-6.0, 6.0, 512)

    def summary(df):
        ex = DuckDBExecutor(df, df.iloc[:1])
        sql, layout = stats_query(DUCKDB, ex.table("reference"), num, {})
        _, nums, _ = parse_stats(ex.rows(sql)[0], layout, num)
        s = nums["normal"]
        s.grid = grid
        s.hist, s.below, s.above = parse_hist(ex.rows(hist_query(DUCKDB, ex.table("reference"), "normal",
                                                                 "float64", grid)), grid)
        return s, nums["ints"]

    (a, ai), (b, bi), (whole, wi) = summary(halves[0]), summary(halves[1]), summary(ref)
    merged = a.merge(b)
    assert merged.n == whole.n and merged.n_null == whole.n_null
    assert math.isclose(merged.std, whole.std, rel_tol=1e-9) and math.isclose(merged.mean, whole.mean, rel_tol=1e-9)
    assert (merged.hist == whole.hist).all() and merged.below[0] == whole.below[0]
    assert ai.merge(bi).min == wi.min and ai.merge(bi).max == wi.max


def test_auto_picks_by_memory_budget(files):
    root, _, _ = files
    fits = compare(root / "ref.parquet", root / "cur.parquet", engine="auto", memory_budget_mb=4096)
    big = compare(root / "ref.parquet", root / "cur.parquet", engine="auto", memory_budget_mb=1)
    assert fits.engine == "exact" and "fits" in fits.reason
    assert big.engine == "duckdb" and "exceeds" in big.reason
    out = big.to_dict()
    assert out["engine"] == "duckdb" and all("bound" in c for c in out["columns"])
    json.dumps(out, allow_nan=False)
    assert verdicts_agree(fits, big) == []


def test_params_configure_the_engine(files):
    from driftlib.config import DriftConfig

    root, _, _ = files

    class P:  # the parts of Params the engine reads
        class columns:
            timestamp, target, prediction, probability, id, label_timestamp = "ts", None, "p", None, None, None

        class features:
            numeric, categorical = ["normal", "ints"], ["city"]

        drift = DriftConfig(engine="duckdb", min_rows=10, columns={"ints": {"method": "psi"}})

    res = compare_with_params(P, root / "ref.parquet", root / "cur.parquet")
    assert res.engine == "duckdb" and list(res.table["column"]) == ["normal", "ints", "city"]
    assert res.table.set_index("column").loc["ints", "method"] == "PSI"
    with pytest.raises(ValueError):
        DriftConfig(engine="gpu")


def test_bad_input_is_a_one_line_error(files, tmp_path):
    root, _, _ = files
    with pytest.raises(InputError, match="no such file"):
        compare(root / "ref.parquet", tmp_path / "missing.parquet", engine="duckdb")
    with pytest.raises(InputError, match="no Parquet files"):
        compare(root / "ref.parquet", tmp_path, engine="duckdb")
    with pytest.raises(InputError, match="missing feature column"):
        compare(root / "ref.parquet", root / "cur.parquet", numeric=["nope"], engine="duckdb")
    with pytest.raises(ConfigError, match="hellinger"):
        compare(root / "ref.parquet", root / "cur.parquet", numeric=["normal"], engine="duckdb",
                overrides={"normal": {"method": "hellinger"}})
    with pytest.raises(ConfigError, match="drift.engine"):
        compare(root / "ref.parquet", root / "cur.parquet", engine="gpu")


def test_missing_and_retyped_columns_are_reported(files):
    _, ref, cur = files
    cur2 = cur.drop(columns=["ints"]).assign(normal="text")
    res = compare(ref, cur2, numeric=["normal", "ints"], categorical=["city"], engine="duckdb")
    status = dict(zip(res.table["column"], res.table["status"]))
    det = DriftDetector(numeric=["normal", "ints"], categorical=["city"]).fit(ref).score(cur2)
    assert status == dict(zip(det.table["column"], det.table["status"]))


def test_cli_engine_option(files):
    from driftlib.cli import app

    root, _, _ = files
    args = ["drift", "-r", str(root / "ref.parquet"), "-c", str(root / "current"), "--json",
            "--columns", "normal,city,ints"]
    out = CliRunner().invoke(app, [*args, "--engine", "duckdb"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["engine"] == "duckdb" and {c["column"] for c in body["columns"]} == {"normal", "city", "ints"}
    bad = CliRunner().invoke(app, [*args, "--engine", "gpu"])
    assert bad.exit_code == 2


@pytest.mark.skipif(not HAS_SPARK, reason="pyspark is not installed (pip install 'driftlib[spark]')")
def test_spark_matches_duckdb(files):
    root, _, _ = files
    names = ["normal", "wide", "ints", "few", "small_int", "city", "flag"]
    spark = compare(root / "ref.parquet", root / "current", engine="spark", names=names,
                    overrides={"ints": {"method": "psi"}}, spark={"master": "local[2]"})
    duck = compare(root / "ref.parquet", root / "current", engine="duckdb", names=names,
                   overrides={"ints": {"method": "psi"}})
    assert spark.engine == "spark"
    s, d = spark.table.set_index("column"), duck.table.set_index("column")
    assert (s["method"] == d["method"]).all() and (s["kind"] == d["kind"]).all()
    assert np.allclose(s["score"], d["score"], rtol=1e-6, atol=1e-9)
    assert verdicts_agree(spark, duck) == []


def test_duckdb_prints_no_progress_bar():
    """Regression: DuckDB's progress bar (on by default) wrote into `driftlib drift --json` on long scans."""
    ex = DuckDBExecutor(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [2.0]}))
    assert ex.rows("SELECT current_setting('enable_progress_bar')") == [(False,)]
