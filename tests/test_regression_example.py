"""The regression example (examples/bikes, params/example_regression.yaml) end to end, from a copy outside
the checkout: `driftlib models train`, then `driftlib run` for a control date (June: nothing planted) and
for the planted date (July: a heat wave moves four inputs, a road closure degrades the harbour station).
"""
from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "bikes"
PARAMS = ROOT / "params" / "example_regression.yaml"
CONTROL, PLANTED = "2024-06-29", "2024-07-29"  # run windows: June 1-28 and July 1-28
HEAT_WAVE = {"temperature", "humidity", "wind_speed", "weather"}


def test_committed_table_is_what_the_seeded_script_writes(tmp_path):
    shutil.copy(EXAMPLE / "make_data.py", tmp_path)
    subprocess.run([sys.executable, "make_data.py"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert filecmp.cmp(tmp_path / "bikes.csv", EXAMPLE / "bikes.csv", shallow=False), \
        "examples/bikes/bikes.csv is stale: run python examples/bikes/make_data.py"


def test_params_name_the_example_and_its_columns():
    p = yaml.safe_load(PARAMS.read_text())
    assert p["task"] == "regression" and p["columns"]["target"] == "rentals"
    header = PARAMS.read_text().split("\nname:")[0]
    assert "driftlib models train --params params/example_regression.yaml" in header
    assert f"--date {PLANTED}" in header and f"--date {CONTROL}" in header
    assert "counted_at" not in p["features"]["numeric"] + p["features"]["categorical"]


def driftlib(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftlib.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """The example copied to a folder outside the checkout, trained, and run for both dates in order."""
    home = tmp_path_factory.mktemp("bikes-project")
    assert ROOT not in home.parents
    shutil.copytree(EXAMPLE, home / "examples" / "bikes")
    (home / "params").mkdir()
    params = shutil.copy(PARAMS, home / "params" / PARAMS.name)
    proc = driftlib(home, "models", "train", "--params", str(params))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = home / yaml.safe_load(PARAMS.read_text())["run"]["outputs"]
    out = {}
    for date in (CONTROL, PLANTED):
        proc = driftlib(home, "run", "--params", str(params), "--date", date)
        assert proc.returncode == 0, f"{date}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        out[date] = json.loads((outputs / date / "summary.json").read_text())
    return out


def results(summary: dict) -> dict[str, dict]:
    return {nb["name"]: nb["result"] or {} for nb in summary["notebooks"]}


@pytest.mark.slow
def test_no_notebook_fails_on_either_date(runs):
    for date, summary in runs.items():
        assert summary["status"] == "success", (date, summary["notebooks"])
        assert [nb["status"] for nb in summary["notebooks"]] == ["success"] * 4, date


@pytest.mark.slow
def test_data_drift_finds_the_heat_wave_and_nothing_in_june(runs):
    planted, control = results(runs[PLANTED])["02_data_drift"], results(runs[CONTROL])["02_data_drift"]
    assert planted["dataset_drift"] is True, planted["headline"]
    assert set(planted["drifted_columns"]) == HEAT_WAVE, planted["drifted_columns"]
    assert control["dataset_drift"] is False and not control["drifted_columns"], control["headline"]


@pytest.mark.slow
def test_concept_reports_regression_metrics_the_estimate_and_the_degraded_station(runs):
    c = results(runs[PLANTED])["03_concept_drift"]
    assert c["task"] == "regression" and c["metric"] == "mae"
    realized, ref = c["current"]["realized"], c["reference"]
    assert set(realized) >= {"mae", "rmse"}
    assert c["degraded"] is True and c["current"]["difference"]["mae"]["degraded"] is True, c["headline"]
    assert realized["mae"]["lower"] > ref["mae"]["upper"]
    # direct loss estimation: estimated with an interval, compared with the realized once labels arrived
    dle = c["estimated_regression_error"]
    assert dle["status"] == "ok" and set(dle["estimated"]) == {"mae", "rmse"}
    est = dle["estimated"]["mae"]
    assert est["lower"] <= est["value"] <= est["upper"]
    assert dle["realized"]["mae"] == pytest.approx(realized["mae"]["value"], rel=0.02)
    # the closure changed P(y|x): invisible to the estimate, which says it is unreliable here
    assert c["verdict"] in ("concept drift", "both") and dle["reliable"] is False
    assert est["upper"] < dle["realized"]["mae"]
    # the planted segment is the top degraded slice
    slices = c["degraded_slices"]
    assert slices["metric"] == "mae" and slices["n_significant"] >= 1
    top = slices["top_slices"][0]
    assert top["slice"] == "station = harbour" and top["significant"], slices["headline"]


@pytest.mark.slow
def test_concept_control_month_is_stable_and_the_estimate_matches_the_labels(runs):
    c = results(runs[CONTROL])["03_concept_drift"]
    assert c["degraded"] is False and c["verdict"] not in ("concept drift", "both"), c["headline"]
    assert c["degraded_slices"]["n_significant"] == 0, c["degraded_slices"]["headline"]
    dle = c["estimated_regression_error"]
    assert dle["reliable"] is True
    for metric in ("mae", "rmse"):
        est, real = dle["estimated"][metric], dle["realized"][metric]
        assert est["lower"] <= real <= est["upper"], (metric, est, real)
        assert abs(est["value"] - real) / real < 0.05, (metric, est, real)


@pytest.mark.slow
def test_retraining_decides_on_a_regression_metric(runs):
    planted = results(runs[PLANTED])["04_retraining"]
    assert planted["metric"] == "mae" and planted["decision"] in ("promoted", "rejected"), planted["headline"]
    assert planted["triggers"] and planted["challenger"]
    assert planted["challenger_metric"] < planted["champion_metric"]  # a model that knows July errs less
    harbour = next(s for s in planted["slices"] if s["column"] == "station" and s["value"] == "harbour")
    assert harbour["delta"] > 1.0  # the closed station is where the challenger gains most
    control = results(runs[CONTROL])["04_retraining"]
    assert control["decision"] == "skipped" and control["metric"] == "mae"


def test_loss_estimate_follows_the_heat_wave_where_the_concept_held():
    """Outside the closed station only the inputs moved: there the label-free estimate of July's MAE
    lands on the realized one; at the harbour (P(y|x) changed) it cannot, and stays near the reference."""
    from driftlib.config import load_params
    from driftlib.data.tables import add_predictions, load_production, load_reference, read_window
    from driftlib.models.estimators import fit_model
    from driftlib.performance.dle import DirectLossEstimator

    params = load_params(PARAMS)
    model = fit_model(params, read_window(params, params.model.train))
    ref = add_predictions(load_reference(params), model, params)
    july = load_production(params, "2024-07-01", "2024-07-29", as_of="2024-07-29", model=model)
    dle = DirectLossEstimator.from_params(params).fit(ref)
    elsewhere = dle.score(july[july["station"] != "harbour"])
    est, real = elsewhere.estimated["mae"], elsewhere.realized["mae"]
    assert elsewhere.n_labelled > 800 and est.lower <= real <= est.upper, (est, real)
    assert abs(est.value - real) / real < 0.05
    harbour = dle.score(july[july["station"] == "harbour"])
    assert harbour.realized["mae"] > 2 * harbour.estimated["mae"].upper
