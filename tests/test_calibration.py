"""Calibration: shift injection, pseudo-windows, measured rates and suggestions, detectability, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from driftlib.calibration import Calibrator, detectability, minimum_detectable_shift
from driftlib.calibration.inject import ColumnStats, inject
from driftlib.calibration.null import fold_bounds, out_of_fold, pseudo_windows, rows_per_window
from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.detector import DriftDetector
from driftlib.drift.error_control import fdr_control
from tests.conftest import write_params


def world(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """`steady` is iid; `trend` wanders with time (a pseudo-window differs from the rest);
    `city` is an iid category."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(t * 10, unit="min"),
        "steady": rng.normal(10, 2, n),
        "trend": np.sin(t / n * 6 * np.pi) * 3 + rng.normal(0, 1, n),
        "city": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
    })


# -- injection -------------------------------------------------------------------------------------
def test_injected_shifts_have_the_stated_strength():
    df = world(20000)
    st = {"steady": ColumnStats.of(df["steady"], "numeric"), "city": ColumnStats.of(df["city"], "categorical")}
    rng = np.random.default_rng(0)
    loc = inject(df, "location", 0.5, st, rng)
    assert loc["steady"].mean() - df["steady"].mean() == pytest.approx(0.5 * df["steady"].std(ddof=0))
    assert loc["city"].equals(df["city"])  # a numeric shift leaves categories alone
    scale = inject(df, "scale", 1.0, st, rng)
    assert scale["steady"].std() == pytest.approx(2 * df["steady"].std())
    mix = inject(df, "category_mix", 0.1, st, rng)
    tvd = 0.5 * (mix["city"].value_counts(normalize=True)
                 - df["city"].value_counts(normalize=True)).abs().sum()
    assert tvd == pytest.approx(0.1, abs=0.01)
    miss = inject(df, "missing_share", 0.2, st, rng)
    assert miss["steady"].isna().mean() == pytest.approx(0.2, abs=0.01)
    assert miss["city"].isna().mean() == pytest.approx(0.2, abs=0.01)
    with pytest.raises(ConfigError, match="unknown shift"):
        inject(df, "rotation", 0.1, st, rng)


# -- pseudo-windows --------------------------------------------------------------------------------
def test_pseudo_windows_stay_inside_a_fold_and_out_of_their_reference():
    rng = np.random.default_rng(0)
    wins = pseudo_windows(1000, 150, 12, rng)
    edges = fold_bounds(1000, 150)
    assert len(edges) - 1 == 5 and {w.fold for w in wins} == set(range(5))
    for w in wins:
        assert edges[w.fold] <= w.start and w.stop <= edges[w.fold + 1]
    ref = pd.DataFrame({"i": np.arange(1000)})
    rest = out_of_fold(ref, 150, wins[0].fold)
    assert not set(rest["i"]) & set(range(wins[0].start, wins[0].stop))
    assert len(rest) == 1000 - (edges[wins[0].fold + 1] - edges[wins[0].fold])
    with pytest.raises(InputError, match="calibration.sizes"):
        fold_bounds(1000, 600)


def test_rows_per_window_scales_a_time_offset_by_the_reference_span():
    df = world(4320)  # 30 days of 10-minute rows
    assert rows_per_window(df, "ts", "7D") == pytest.approx(4320 * 7 / 30, rel=0.01)
    assert rows_per_window(df, "ts", "500") == 500


# -- the experiment --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def calibrated():
    cal = Calibrator(numeric=["steady", "trend"], categorical=["city"], sizes=[300], n_windows=20,
                     methods=["ks", "wasserstein", "psi", "chisquare"], budget_s=300, seed=3,
                     strengths={"location": [0.1, 1.0], "scale": [1.0], "category_mix": [0.2],
                                "missing_share": [0.2]})
    return cal.fit(world())


def test_false_alarms_are_measured_where_the_data_moves(calibrated):
    r = calibrated.result_
    assert r.n_windows_done == 20 and not r.stopped_by_budget
    fa = r.false_alarms
    ks = fa[(fa["method"] == "ks") & (fa["threshold"] == 0.05)].set_index("column")["false_alarm"]
    assert ks["steady"] <= 0.15  # iid: about the nominal 5%
    assert ks["trend"] >= 0.5  # a stretch of a wandering series is not the rest of it
    assert (fa["upper_95"] >= fa["false_alarm"]).all()


def test_detection_grows_with_strength_and_delay_is_its_inverse(calibrated):
    det = calibrated.result_.detection
    d = det[(det["method"] == "ks") & (det["column"] == "steady") & (det["threshold"] == 0.05)
            & (det["shift"] == "location")].set_index("strength")
    assert d.loc[1.0, "rate"] == 1.0 and d.loc[0.1, "rate"] < d.loc[1.0, "rate"]
    assert d.loc[1.0, "delay_windows"] == 1.0 and d.loc[1.0, "delay_rows"] == 300
    miss = det[(det["shift"] == "missing_share") & (det["method"] == "ks") & (det["column"] == "steady")
               & (det["threshold"] == 0.05)]["rate"].iloc[0]
    assert miss <= 0.2  # the tests drop nulls: a missing share is for the quality checks to see


def test_suggestions_meet_the_target_or_say_they_do_not(calibrated):
    r = calibrated.result_
    s = r.suggestions.set_index("column")
    assert set(s.index) == {"steady", "trend", "city"}
    assert s.loc["steady", "meets_target"] and s.loc["steady", "false_alarm"] <= 0.05
    fa = r.false_alarms
    chosen = fa[(fa["method"] == s.loc["steady", "method"]) & (fa["column"] == "steady")
                & np.isclose(fa["threshold"], s.loc["steady", "threshold"])]
    assert chosen["false_alarm"].iloc[0] == s.loc["steady", "false_alarm"]
    if not s.loc["trend", "meets_target"]:
        assert s.loc["trend", "false_alarm"] == fa[fa["column"] == "trend"]["false_alarm"].min()
    overrides = r.suggested_overrides()
    assert all(set(v) == {"method", "threshold"} for v in overrides.values())
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["settings"]["seed"] == 3 and d["suggestions"]


def test_calibration_null_feeds_fdr_control(calibrated):
    r = calibrated.result_
    null = r.null(300)
    assert null.source == "calibration" and null.n_draws == 20
    ref = world()
    det = DriftDetector(numeric=["steady", "trend"], categorical=["city"]).fit(ref)
    shifted = ref.iloc[:300].assign(steady=lambda d: d["steady"] + 4)
    fdr = fdr_control(det.score(shifted), level=0.2, null=null)  # 20 windows: p >= 1/21
    assert fdr.table.set_index("column").loc["steady", "p_value"] == pytest.approx(1 / 21)
    assert "steady" in fdr.drifted_columns
    ds = r.dataset_false_alarms
    assert list(ds["size"]) == [300] and (ds["fdr"] <= ds["default"]).all()


def test_calibration_is_reproducible_and_bounded_by_its_budget():
    kw = dict(numeric=["steady"], categorical=["city"], sizes=[200], n_windows=6, methods=["ks"],
              strengths={"location": [0.5], "scale": [0.5], "category_mix": [0.1], "missing_share": [0.1]})
    a = Calibrator(seed=5, **kw).fit(world(3000)).result_
    b = Calibrator(seed=5, **kw).fit(world(3000)).result_
    pd.testing.assert_frame_equal(a.scores, b.scores)
    ticks = iter(range(0, 10_000, 10))
    short = Calibrator(seed=5, budget_s=25, clock=lambda: float(next(ticks)), **kw).fit(world(3000)).result_
    assert short.stopped_by_budget and 0 < short.n_windows_done < short.n_windows_planned


def test_bad_calibration_settings_are_config_errors():
    with pytest.raises(ConfigError, match="calibration.methods"):
        Calibrator(numeric=["steady"], methods=["nope"]).fit(world(1000))
    with pytest.raises(InputError, match="calibration.sizes"):
        Calibrator(numeric=["steady"], sizes=[900]).fit(world(1000))
    with pytest.raises(InputError, match="missing feature"):
        Calibrator(numeric=["absent"]).fit(world(1000))


# -- detectability ---------------------------------------------------------------------------------
def test_minimum_detectable_shift_shrinks_with_the_window():
    ref = pd.Series(np.random.default_rng(0).normal(size=5000), name="x")
    small = minimum_detectable_shift(ref, 100, method="ks")
    large = minimum_detectable_shift(ref, 3000, method="ks")
    assert small.unit == "reference std" and small.stattest == "ks"
    assert 0.1 < small.value < 0.6 and large.value < small.value / 2
    assert small.false_alarm <= 0.2
    bound = minimum_detectable_shift(ref, 100, method="ks", closed_form=True)
    assert bound.source.startswith("closed form") and bound.value >= small.value * 0.9
    # Wasserstein's threshold is itself a shift in std: no window size gets below it by much
    w = minimum_detectable_shift(ref, 4000)
    assert w.stattest == "wasserstein" and w.value == pytest.approx(0.1, abs=0.03)
    cat = minimum_detectable_shift(pd.Series(np.random.default_rng(1).choice(list("abc"), 4000)), 2000)
    assert cat.unit == "TVD" and 0 < cat.value < 0.34
    with pytest.raises(ConfigError, match="n_current"):
        minimum_detectable_shift(ref, 0)


def test_detectability_per_window_says_what_could_not_be_seen():
    ref = world(4000)
    det = DriftDetector(numeric=["steady"], categorical=["city"], min_rows=50,
                        columns={"steady": {"method": "ks"}}).fit(ref)
    windows = pd.DataFrame({"window": [0, 1, 2], "n_rows": [20, 100, 2000]})
    t = detectability(det, ref, windows, shift=0.25, n_draws=20)
    steady = t[t["column"] == "steady"].set_index("window")
    assert steady.loc[0, "source"] == "insufficient data" and not steady.loc[0, "could_detect"]
    assert steady.loc[1, "stattest"] == "ks" and steady.loc[1, "mds"] > 0.25 > steady.loc[2, "mds"]
    assert not steady.loc[1, "could_detect"] and steady.loc[2, "could_detect"]


def test_a_test_that_flags_unshifted_windows_has_no_detectable_shift():
    """Wasserstein at 0.1 on 30 rows flags most windows with no shift: "detects" is meaningless."""
    ref = pd.Series(np.random.default_rng(0).normal(size=5000))
    d = minimum_detectable_shift(ref, 30, n_draws=20)
    assert d.stattest == "wasserstein" and d.false_alarm >= 0.5
    assert np.isnan(d.value) and "flags" in d.text


# -- command line ----------------------------------------------------------------------------------
def test_cli_calibrate_writes_the_report_within_its_budget(slice_project, tmp_path):
    import time

    from driftlib.cli import app

    params = write_params(slice_project.parent, calibration={"budget_s": 20, "n_windows": 6,
                                                              "methods": ["ks", "psi"]})
    out = tmp_path / "cal"
    start = time.monotonic()
    res = CliRunner().invoke(app, ["calibrate", "--params", str(params), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert time.monotonic() - start < 20 + 15  # the budget, plus loading and writing the report
    page = (out / "calibration.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    table = json.loads((out / "calibration.json").read_text())
    assert {s["column"] for s in table["suggestions"]} == {"dep_hour", "distance", "temp", "humid",
                                                           "wind_speed", "visib", "carrier", "origin"}
    assert "false alarms" in res.output


def test_cli_calibrate_bad_params_is_one_line_exit_2(tmp_path):
    from driftlib.cli import app

    params = write_params(tmp_path, calibration={"budget_s": -1})
    res = CliRunner().invoke(app, ["calibrate", "--params", str(params)])
    assert res.exit_code == 2
    assert "calibration.budget_s" in res.output and "Traceback" not in res.output
