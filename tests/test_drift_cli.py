"""`driftlib drift` through typer's CliRunner on a small app of its own."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from driftlib.cli.drift import drift

app = typer.Typer()
app.command("drift")(drift)


@app.command("noop")
def _noop() -> None:  # a second command keeps `drift` a sub-command, as in the real app
    pass


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"amount": rng.normal(size=2000), "code": rng.integers(0, 3, 2000),
                        "shop": rng.choice(list("abc"), 2000)})
    cur = pd.DataFrame({"amount": rng.normal(1.0, 1, 1500), "code": rng.integers(0, 3, 1500),
                        "shop": rng.choice(list("abcd"), 1500)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_parquet(tmp_path / "cur.parquet")
    return str(tmp_path / "ref.csv"), str(tmp_path / "cur.parquet")


def run(*args):
    return CliRunner().invoke(app, ["drift", *args])


def test_json_output_is_exactly_the_contract(files):
    r = run("--reference", files[0], "--current", files[1], "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert list(d)[:3] == ["columns", "share_drifted", "dataset_drift"]  # the contract; keys only added
    assert [list(c)[:5] for c in d["columns"]] == [["column", "method", "score", "threshold", "drifted"]] * 3
    assert [c["status"] for c in d["columns"]] == ["ok"] * 3 and d["untestable"] == []
    by = {c["column"]: c for c in d["columns"]}
    assert by["amount"]["drifted"] and by["shop"]["drifted"] and not by["code"]["drifted"]
    assert by["amount"]["method"] == "Wasserstein distance (normed)"
    assert d["share_drifted"] == pytest.approx(2 / 3) and d["dataset_drift"] is True


def test_readable_table_and_column_options(files):
    r = run("-r", files[0], "-c", files[1], "--columns", "code,shop", "--column-type", "code=cat",
            "--drift-share", "0.9")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["column", "type", "method"]
    assert any(line.startswith("code") and "categorical" in line for line in lines)
    assert "amount" not in r.stdout
    assert "1 of 2 columns drifted (share 0.50, threshold 0.90): no dataset drift" in r.stdout


def test_fail_on_drift_exits_3(files):
    assert run("-r", files[0], "-c", files[1], "--fail-on-drift").exit_code == 3


@pytest.mark.parametrize("args,message", [
    (["-r", "nope.csv", "-c", "x.csv"], "--reference nope.csv: no such file"),
    (["--column-type", "code=number"], "--column-type: expected NAME=num or NAME=cat, got 'code=number'"),
    (["--column-type", "ghost=num"], "no column(s) ghost"),
])
def test_user_errors_exit_2_with_one_line(files, args, message):
    base = [] if args[0] == "-r" else ["-r", files[0], "-c", files[1]]
    r = run(*base, *args)
    assert r.exit_code == 2
    assert message in r.stderr and "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1


def _write(tmp_path, name, df):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return str(path)


def test_a_single_current_row_is_insufficient_data_not_drift(files, tmp_path):
    one = _write(tmp_path, "one.csv", pd.read_parquet(files[1]).head(1).assign(amount=50.0))
    r = run("-r", files[0], "-c", one, "--json", "--fail-on-drift")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["dataset_drift"] is None and d["share_drifted"] is None and d["verdict"] == "insufficient data"
    assert {c["status"] for c in d["columns"]} == {"insufficient data"}
    assert not any(c["drifted"] for c in d["columns"])
    text = run("-r", files[0], "-c", one)
    assert "Not enough data to judge drift (1 rows)." in text.stdout and "YES" not in text.stdout
    assert json.loads(run("-r", files[0], "-c", one, "--json", "--min-rows", "1").stdout)["n_tested"] == 3


def test_missing_and_retyped_columns_are_reported_not_dropped(files, tmp_path):
    cur = pd.read_parquet(files[1]).drop(columns=["shop"]).assign(code=lambda d: d["code"].map(lambda v: f"#{v}"))
    path = _write(tmp_path, "bad.csv", cur)
    r = run("-r", files[0], "-c", path, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    status = {c["column"]: c["status"] for c in d["columns"]}
    assert status == {"amount": "ok", "code": "type changed", "shop": "missing column"}
    assert d["untestable"] == ["code", "shop"] and d["dataset_drift"] is True  # amount drifted: 1 of 1
    critical = {(f["check"], f["column"]) for f in d["findings"] if f["severity"] == "critical"}
    assert {("missing_column", "shop"), ("type_change", "code")} <= critical
    text = run("-r", files[0], "-c", path).stdout
    assert "not testable: code (type changed), shop (missing column)" in text
    assert "critical: Column 'shop' is in the reference but missing" in text and "Traceback" not in text


def test_extreme_values_in_a_plain_table_cannot_hide_drift(files, tmp_path):
    cur = pd.read_parquet(files[1])
    cur.loc[:1, "amount"] = 1e308  # finite, so a CSV reader accepts it
    d = json.loads(run("-r", files[0], "-c", _write(tmp_path, "big.csv", cur), "--json").stdout)
    amount = next(c for c in d["columns"] if c["column"] == "amount")
    assert amount["status"] == "ok" and amount["drifted"] is True and amount["score"] > 1e300
    assert any(f["check"] == "extreme_values" and f["column"] == "amount" and f["severity"] == "critical"
               for f in d["findings"])


# -- reading Parquet without copies (issue 14) -----------------------------------------------------
FRAMES = {
    "plain": lambda: pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6), "c": list("abcabc"),
                                   "t": pd.date_range("2024", periods=6, tz="UTC")}),
    "nulls": lambda: pd.DataFrame({"a": [1.0, None, 3, 4, 5, 6], "b": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
                                   "i": pd.array(range(6), dtype="Int64"), "f32": np.arange(6, dtype=np.float32),
                                   "u": np.arange(6, dtype=np.uint16), "flag": [True, False] * 3,
                                   "s": ["x", None, "y", "x", "y", "z"]}),
    "index": lambda: pd.DataFrame({"a": np.arange(6.0)}, index=range(10, 16)),
    "named_index": lambda: pd.DataFrame({"a": np.arange(6.0)}, index=pd.Index(list("uvwxyz"), name="k")),
    "int_labels": lambda: pd.DataFrame({0: np.arange(6.0), 1: np.arange(6)}),
    "categorical": lambda: pd.DataFrame({"x": pd.Categorical(list("abcabc")), "y": np.arange(6.0)}),
}


@pytest.mark.parametrize("case", list(FRAMES))
def test_parquet_read_equals_pyarrow_to_pandas(tmp_path, case):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from driftlib.drift.engines.exact import read_parquet

    path = tmp_path / f"{case}.parquet"
    FRAMES[case]().to_parquet(path)
    text = [f.name for f in pq.read_schema(path) if pa.types.is_string(f.type)]
    expected = pq.read_table(path, read_dictionary=text).to_pandas()
    pd.testing.assert_frame_equal(read_parquet(path, "--reference"), expected)
    if case in ("plain", "nulls"):
        pd.testing.assert_frame_equal(read_parquet(path, "--reference", ["a", "zz", "a"]), expected[["a"]])


def test_parquet_numeric_columns_are_views_not_copies(tmp_path):
    from driftlib.drift.engines.exact import read_parquet

    pd.DataFrame({"a": np.arange(1000.0), "b": np.arange(1000), "c": [1.0, None] * 500}).to_parquet(tmp_path / "t.parquet")
    df = read_parquet(tmp_path / "t.parquet", "--current")
    assert not df["a"].to_numpy().flags.writeable and not df["b"].to_numpy().flags.writeable  # Arrow's buffers
    assert df["c"].to_numpy().flags.writeable  # nulls: converted by pandas as before
    assert df["a"].sum() == 499500.0 and df["c"].isna().sum() == 500


def test_select_columns_shares_the_arrays():
    from driftlib.cli.drift import select_columns

    df = pd.DataFrame({"a": np.arange(5.0), "b": list("abcde"), "c": pd.Categorical(list("xyxyx"))})
    out = select_columns(df, ["c", "a"])
    pd.testing.assert_frame_equal(out, df[["c", "a"]])
    assert np.shares_memory(out["a"].to_numpy(), df["a"].to_numpy())
    assert select_columns(df, ["a", "b", "c"]) is df


def test_only_the_chosen_columns_are_read_and_compared(tmp_path):
    rng = np.random.default_rng(2)
    for name, shift in (("r", 0.0), ("c", 2.0)):
        pd.DataFrame({"x": rng.normal(shift, 1, 3000), "y": rng.normal(0, 1, 3000),
                      "z": rng.choice(list("ab"), 3000)}).to_parquet(tmp_path / f"{name}.parquet")
    r = run("-r", str(tmp_path / "r.parquet"), "-c", str(tmp_path / "c.parquet"), "--json", "--columns", "x,z")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [c["column"] for c in out["columns"]] == ["x", "z"]
    assert out["columns"][0]["drifted"] is True
    assert {f["column"] for f in out["findings"]} <= {"x", "z"}  # y is neither compared nor checked
