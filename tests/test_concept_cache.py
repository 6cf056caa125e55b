"""Finished windows are reused between runs; a cached run and a cold run give the same report."""
from __future__ import annotations

import json

from driftlib.concept import ConceptDriftAnalyzer
from driftlib.concept.synthetic import make_world
from driftlib.core.cache import ResultCache


def _report(world, cache, production=None):
    a = ConceptDriftAnalyzer(world.params, cache=cache).fit(world.reference)
    return a.score(world.production if production is None else production, as_of=world.as_of)


def test_cached_run_equals_cold_run_and_reuses_windows(tmp_path):
    world = make_world(5, flip_at=0.6)
    cold = _report(world, None).to_dict()
    cache = ResultCache(tmp_path / "cache")
    first = _report(world, cache).to_dict()
    assert cache.misses > 0 and cache.hits == 0
    again = ResultCache(tmp_path / "cache")
    second = _report(world, again).to_dict()
    assert again.hits == cache.misses and again.misses == 0
    assert json.dumps(cold, sort_keys=True) == json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_a_late_label_or_a_new_reference_recomputes(tmp_path):
    world = make_world(6)
    cache = ResultCache(tmp_path / "cache")
    _report(world, cache)
    changed = world.production.copy()
    target = world.params.columns.target
    first_labelled = changed[target].first_valid_index()
    changed.loc[first_labelled, target] = 1 - changed.loc[first_labelled, target]
    again = ResultCache(tmp_path / "cache")
    _report(world, again, changed)
    assert again.misses == 1  # only the window holding the changed label
    other = make_world(7)
    fresh = ResultCache(tmp_path / "cache")
    ConceptDriftAnalyzer(world.params, cache=fresh).fit(other.reference).score(world.production, as_of=world.as_of)
    assert fresh.hits == 0  # another reference: nothing stale is reused


def test_cells_holding_arrays_do_not_break_the_key():
    """Log frames carry list/array cells (flags): the key must still be computable and content-sensitive."""
    import numpy as np
    import pandas as pd

    from driftlib.core.cache import frame_digest

    a = pd.DataFrame({"x": [1.0, 2.0], "flags": [np.array(["a"]), np.array([], dtype=object)]})
    b = a.assign(flags=[np.array(["b"]), np.array([], dtype=object)])
    assert frame_digest(a) == frame_digest(a.copy()) != frame_digest(b)


def test_windows_spread_over_processes_give_the_sequential_report(tmp_path):
    """concept.n_jobs only changes where the windows are computed, never what the report says."""
    from driftlib.core import parallel

    world = make_world(8, n_production=4000, days=70, flip_at=0.5)
    n_windows = len(_report(world, None).windows)
    assert parallel.n_processes(2, n_windows) == min(2, __import__("os").cpu_count())  # really split
    world.params.concept.n_jobs = 1
    sequential = _report(world, None).to_dict()
    world.params.concept.n_jobs = 2
    spread = _report(world, ResultCache(tmp_path / "cache")).to_dict()
    assert json.dumps(sequential, sort_keys=True) == json.dumps(spread, sort_keys=True)
    again = ResultCache(tmp_path / "cache")
    _report(world, again)
    assert again.hits == n_windows and again.misses == 0  # results computed elsewhere are stored here


def test_map_chunks_keeps_input_order_whatever_the_split():
    from driftlib.core.parallel import map_chunks

    items = list(range(23))
    assert map_chunks(_squares, items, 1) == map_chunks(_squares, items, 2) == [i * i for i in items]
    assert map_chunks(_squares, [], 2) == []


def _squares(chunk):
    return [i * i for i in chunk]


def test_calendar_windows_let_a_daily_run_reuse_every_finished_week(tmp_path):
    """With `concept.window: W-MON` the weeks keep their bounds from one day's run to the next, so the
    next day recomputes only the week it adds to (and any week a late label reached)."""
    import pandas as pd

    world = make_world(9, n_production=4000, days=70)
    world.params.concept.window = "W-MON"
    cache = ResultCache(tmp_path / "cache")

    def run(as_of):
        a = ConceptDriftAnalyzer(world.params, cache=cache).fit(world.reference)
        return a.score(world.production, as_of=as_of)

    yesterday = run(world.as_of - pd.Timedelta(days=1))
    hits, misses = cache.hits, cache.misses
    today = run(world.as_of)
    assert all(pd.Timestamp(w["start"]).weekday() == 0 for w in today.windows[1:])  # calendar weeks
    assert pd.Timestamp(today.windows[-1]["end"]) == world.as_of
    assert cache.misses - misses <= 2 and cache.hits - hits >= len(today.windows) - 2
    assert len(today.windows) >= 9 and [w["start"] for w in today.windows[:-2]] == \
        [w["start"] for w in yesterday.windows[:len(today.windows) - 2]]
    cold = ConceptDriftAnalyzer(world.params, cache=None).fit(world.reference).score(world.production,
                                                                                      as_of=world.as_of)
    assert json.dumps(cold.to_dict(), sort_keys=True) == json.dumps(today.to_dict(), sort_keys=True)


def test_concept_windows_read_calendar_offsets_as_the_drift_windows_do():
    import pandas as pd

    from driftlib.concept.windows import assign_windows, window_spec

    assert window_spec("7D") == pd.Timedelta(days=7) and window_spec("500") == 500
    ts = pd.Series(pd.date_range("2024-01-03", "2024-03-20", freq="6h", tz="UTC"))
    end = pd.Timestamp("2024-03-21", tz="UTC")
    months = assign_windows(ts, window_spec("MS"), end)
    assert sorted(months["start"].unique()) == list(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"], utc=True))
    assert months["end"].max() == end and (months["start"] <= ts).all() and (ts < months["end"]).all()


def test_a_daily_7d_schedule_reuses_the_windows_of_the_run_a_week_earlier(tmp_path):
    """Fixed spans end at the run date, so today's windows are the ones the run seven days ago made
    (same bounds): a daily schedule recomputes only the newest window and those late labels reached."""
    import pandas as pd

    world = make_world(9, n_production=4000, days=70)
    assert world.params.concept.window == "7D"
    cache = ResultCache(tmp_path / "cache")

    def run(as_of):
        return ConceptDriftAnalyzer(world.params, cache=cache).fit(world.reference).score(world.production,
                                                                                            as_of=as_of)

    week_ago = run(world.as_of - pd.Timedelta(days=7))
    hits, misses = cache.hits, cache.misses
    today = run(world.as_of)
    assert [w["start"] for w in today.windows[:-1]] == [w["start"] for w in week_ago.windows]
    same = lambda a, b: json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)  # noqa: E731
    late = sum(not same(a, b) for a, b in zip(today.windows[:-1], week_ago.windows))  # new labels reached these
    assert cache.misses - misses == 1 + late and late <= 2
    assert cache.hits - hits == len(today.windows) - 1 - late >= 7
    cold = ConceptDriftAnalyzer(world.params, cache=None).fit(world.reference).score(world.production,
                                                                                      as_of=world.as_of)
    assert json.dumps(cold.to_dict(), sort_keys=True) == json.dumps(today.to_dict(), sort_keys=True)
