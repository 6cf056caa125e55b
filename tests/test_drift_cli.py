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
