"""Notebook 03's package side: the inputs it judges, the analysis and the result it saves."""
from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from driftlib.concept import inputs as I
from driftlib.concept import narrative
from driftlib.config import load_params
from driftlib.core.cache import ResultCache, state_cache
from tests.conftest import DEMO_DATA, train_model, write_params

RUN_DATE = "2013-05-01"
BAD_LINES = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The slice world of conftest, its production a CSV with two torn lines, the reference captured."""
    from driftlib.concept import baseline
    from driftlib.data import reference
    from driftlib.data.tables import load_reference, run_window
    from driftlib.models.registry import Registry

    folder = tmp_path_factory.mktemp("concept_inputs")
    flights = pd.read_parquet(DEMO_DATA)
    data = folder / "data"
    data.mkdir()
    ts = flights["scheduled_departure"]
    keep = (ts < "2013-03-08") & ((ts < "2013-01-15") | (ts >= "2013-03-01"))
    flights.loc[keep].to_parquet(data / "flights.parquet")
    prod = flights[(ts >= "2013-04-01") & (ts < "2013-05-01")].sample(frac=0.25, random_state=0)
    prod = prod.sort_values("scheduled_departure").assign(
        label_timestamp=lambda d: d["scheduled_departure"] + pd.Timedelta(days=3))
    prod.to_csv(data / "production.csv", index=False)
    with open(data / "production.csv", "a") as fh:
        fh.write("torn,line\n" * BAD_LINES)
    path = write_params(folder, production={"path": "data/production.csv"}, concept={"history_days": 20})
    train_model(path)
    params = load_params(path)
    loaded = Registry(params.registry_dir).load()
    base = baseline.for_model(params, loaded, load_reference(params),
                              baseline.holdout_history(params, loaded, run_window(params, RUN_DATE)[1]))
    reference.capture(params, base.rows, model_version=loaded.version, baseline=base.info())  # notebook 01
    return path


def _without_cache(params):
    return params.model_copy(update={"run": params.run.model_copy(update={"cache": False})})


def test_the_timeline_ends_at_the_run_window_with_the_labels_known_then(world):
    run = I.load_inputs(str(world), RUN_DATE)
    p, c = run.params, run.params.columns
    assert (run.start, run.end) == (pd.Timestamp("2013-04-17", tz="UTC"), pd.Timestamp("2013-05-01", tz="UTC"))
    assert run.period and "2013" in run.period
    ts = run.served.history[c.timestamp]
    assert ts.max() < run.end and ts.min() >= run.end - pd.Timedelta(days=p.concept.history_days)
    late = ts >= run.end - pd.Timedelta(days=3)  # labels come 3 days after the flight
    assert run.served.history.loc[late, c.target].isna().all()
    assert run.served.history.loc[~late, c.target].notna().all()
    assert run.served.version == "v0001" and len(run.served.reference) > 0


def test_torn_lines_are_counted_and_lead_the_saved_warnings(world):
    run = I.load_inputs(world, RUN_DATE)
    assert run.skipped.counts == {"unparsed": BAD_LINES} and len(run.skipped.warnings) == 1
    report = I.analyse(run)
    views = I.segment_search(run, report)
    saved = I.summarise_run(run, report, views).to_dict()
    assert saved["skipped_input"]["unparsed"] == BAD_LINES
    assert saved["warnings"][0] == run.skipped.warnings[0]
    assert saved["model_version"] == "v0001"
    # the same result the notebook built inline before these steps moved into the package
    inline = narrative.summarise(report, run.served, run.start, run.end, warnings=run.served.warnings,
                                 skipped=run.skipped, extra=views.to_dict()).to_dict()
    assert json.dumps(saved, sort_keys=True, default=str) == json.dumps(inline, sort_keys=True, default=str)


def test_data_drift_is_none_when_02_did_not_run_and_02s_verdict_is_used_when_it_did(world):
    alone = I.load_inputs(world, RUN_DATE)
    assert alone.data_drift is None
    assert (I.analyse(alone).current["data_drift"] or {}).get("source") != "02_data_drift"  # own check
    drift = {"dataset_drift": False, "share_drifted": 0.0, "headline": "No dataset drift"}
    run = I.load_inputs(world, RUN_DATE, data_drift=drift)
    assert run.data_drift is drift
    assert I.analyse(run).current["data_drift"] == {"drifted": False, "share_drifted": 0.0,
                                                    "source": "02_data_drift"}


def _replace_cache(run, cache):
    return replace(run, cache=cache)


def test_cache_lives_in_the_state_folder_and_is_none_when_off(world):
    params = load_params(world)
    run = I.load_inputs(params, RUN_DATE)
    assert isinstance(run.cache, ResultCache) and run.cache.folder == params.state_dir / "cache"
    off = _without_cache(params)
    assert state_cache(off) is None and I.load_inputs(off, RUN_DATE).cache is None


def test_a_second_analysis_reuses_the_finished_windows_and_says_the_same(world, tmp_path):
    run = _replace_cache(I.load_inputs(world, RUN_DATE), ResultCache(tmp_path / "cache"))
    first = I.analyse(run).to_dict()
    assert run.cache.misses > 0
    again = _replace_cache(run, ResultCache(tmp_path / "cache"))
    second = I.analyse(again).to_dict()
    assert again.cache.hits == run.cache.misses and again.cache.misses == 0
    cold = I.analyse(_replace_cache(run, None)).to_dict()
    assert json.dumps(first, sort_keys=True, default=str) == json.dumps(second, sort_keys=True, default=str) \
        == json.dumps(cold, sort_keys=True, default=str)
