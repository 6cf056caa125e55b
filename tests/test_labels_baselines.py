"""Issues 12/17, the "right answers": labels of any kind, a gate defined on the holdout, windows and
onsets, small and coarse data, task-following metrics, and the baseline a model is judged against."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from driftlib.concept import ConceptDriftAnalyzer
from driftlib.concept.baseline import for_model
from driftlib.concept.synthetic import make_world
from driftlib.concept.windows import assign_windows
from driftlib.config import load_params, parse_params
from driftlib.core.errors import ConfigError, InputError
from driftlib.data.tables import encode_labels
from driftlib.models.gate import compare, gate
from driftlib.models.registry import Registry
from driftlib.models.training import retrain, train_initial
from test_retrain import _frame, _params


def _toy(tmp_path, old, new=None, **overrides):
    old.to_parquet(tmp_path / "train.parquet")
    (old if new is None else new).to_parquet(tmp_path / "prod.parquet")
    cfg = {"name": "toy", "root": ".", "reference": {"path": "train.parquet"},
           "production": {"source": "table", "path": "prod.parquet"},
           "columns": {"timestamp": "ts", "target": "y"},
           "features": {"numeric": ["x1", "x2"], "categorical": ["c"]},
           "model": {"registry": "models", "params": {"max_iter": 30, "random_state": 0},
                     "train": {"path": "train.parquet"}},
           "retrain": {"n_bootstrap": 100, "min_train_rows": 300, "min_holdout_rows": 100}}
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(cfg))
    return load_params(tmp_path / "params.yaml")


# -- 1. labels of any kind -------------------------------------------------------------------------
def test_string_labels_need_positive_label_then_train_and_card_records_classes(tmp_path):
    old = _frame(1500, seed=1)
    old["y"] = np.where(old["y"] == 1, "successful", "unsuccessful")
    params = _toy(tmp_path, old)
    with pytest.raises(ConfigError, match="columns.positive_label") as err:
        train_initial(params)
    assert "\n" not in str(err.value)
    params = _toy(tmp_path, old, columns={"positive_label": "successful"})
    reg = Registry.from_params(params)
    card = reg.card(train_initial(params, registry=reg))
    assert card["classes"] == ["successful", "unsuccessful"] and card["positive_label"] == "successful"
    assert card["metrics"]["reference_roc_auc"] > 0.7  # 1 = successful, as the metrics assume


@pytest.mark.parametrize("values, positive", [([0, 1, 1], 1), ([False, True], True), (["no", "Yes"], "Yes"),
                                              ([0.0, 1.0, np.nan], 1.0)])
def test_unambiguous_pairs_are_inferred(values, positive):
    params = parse_params({"name": "x", "reference": {"path": "r.csv"}, "columns": {"timestamp": "t", "target": "y"}})
    y = encode_labels(pd.Series(values, dtype=object), params)
    assert np.array_equal(np.isnan(y), pd.isna(pd.Series(values)).to_numpy())
    assert set(np.unique(y[~np.isnan(y)])) <= {0.0, 1.0}
    assert y[[v == positive for v in values]].tolist() == [1.0] * sum(v == positive for v in values)


def test_multiclass_is_refused_in_one_line_or_monitored_one_vs_rest():
    base = {"name": "x", "reference": {"path": "r.csv"}, "columns": {"timestamp": "t", "target": "y"}}
    with pytest.raises(ConfigError, match=r"columns.positive_label.*3 classes"):
        encode_labels(pd.Series(["a", "b", "c"]), parse_params(base))
    params = parse_params({**base, "columns": {**base["columns"], "positive_label": "b"}})
    assert encode_labels(pd.Series(["a", "b", "c", None]), params)[:3].tolist() == [0.0, 1.0, 0.0]


# -- 3. the gate is defined on the holdout -----------------------------------------------------------
def test_gate_falls_back_to_brier_when_auc_is_undefined():
    rng = np.random.default_rng(0)
    y = np.zeros(800, dtype=int)  # the label definition changed: one class on the holdout
    champion, challenger = rng.uniform(0.4, 0.6, 800), rng.uniform(0.0, 0.05, 800)
    c = compare("roc_auc", y, champion, challenger, n_bootstrap=100)
    ok, reasons = gate(c, 0.005, 0.02)
    assert c.metric == "brier" and c.requested == "roc_auc" and ok, reasons
    assert "roc_auc has no value on this holdout (one class" in reasons[0] and "brier" in reasons[0]


def test_comparison_plot_with_undefined_metric_draws(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from driftlib.models.training import RetrainDecision
    from driftlib.plots import retrain as plots

    from driftlib.models.gate import Comparison

    nan = float("nan")  # a comparison whose metric is undefined, as reported before the fallback
    c = Comparison(metric="roc_auc", n=300, champion=nan, challenger=nan, delta=nan, ci=(nan, nan), confidence=0.95)
    d = RetrainDecision("rejected", ["undefined"], "v1", champion="v1", challenger="v2", metric="roc_auc", comparison=c)
    plots.metric_comparison(d, 0.005).savefig(tmp_path / "f.png")  # was: Axis limits cannot be NaN or Inf


# -- 5. windows and onsets ----------------------------------------------------------------------------
def test_row_on_a_window_start_belongs_to_that_window_as_in_the_drift_report():
    end = pd.Timestamp("1985-07-01", tz="UTC")
    ts = pd.Series([pd.Timestamp(t, tz="UTC") for t in ("1985-06-01", "1985-05-31 23:59:59", "1985-06-30 23:59:59")])
    w = assign_windows(ts, pd.Timedelta("30D"), end)
    assert w["start"].tolist() == [pd.Timestamp("1985-06-01", tz="UTC"), pd.Timestamp("1985-05-02", tz="UTC"),
                                   pd.Timestamp("1985-06-01", tz="UTC")]
    assert (w["end"] - w["start"] == pd.Timedelta("30D")).all()


def test_onset_is_unknown_without_agreeing_detectors():
    world = make_world(seed=3, n_production=4000, flip_at=0.3, test_windows=False,
                       detectors=["page_hinkley", "ddm"], min_agreement=2, onset_tolerance="1s")
    report = ConceptDriftAnalyzer(world.params).fit(world.reference).score(world.production, as_of=world.as_of)
    assert report.degraded and not report.change_points
    assert report.onset is None and report.first_degraded is not None
    assert "onset unknown" in report.headline and "first degraded window from" in report.headline


def test_empty_run_window_is_insufficient_data_naming_lookback():
    world = make_world(seed=1, test_windows=False)
    later = world.as_of + pd.Timedelta(days=10)
    report = ConceptDriftAnalyzer(world.params).fit(world.reference).score(world.production, as_of=later,
                                                                            lookback_days=3)
    assert report.degraded is None and report.headline.startswith("Insufficient data")
    assert "run.lookback_days >= 11" in report.headline and "performing as in the reference" not in report.headline


def test_few_labels_say_how_many_and_the_minimum():
    world = make_world(seed=1, n_production=28, test_windows=False)
    report = ConceptDriftAnalyzer(world.params).fit(world.reference).score(world.production, as_of=world.as_of)
    n = report.current["n_labelled"]
    assert f"{n} labels, fewer than concept.min_labels = 200" in report.headline


def test_single_class_window_is_a_finding_and_metrics_stay_defined(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from driftlib.plots import concept as plots

    world = make_world(seed=2, n_production=3000, test_windows=False)
    prod = world.production.copy()
    late = prod["ts"] >= world.as_of - pd.Timedelta(days=14)
    prod.loc[late & prod["y"].notna(), "y"] = 0.0
    report = ConceptDriftAnalyzer(world.params).fit(world.reference).score(prod, as_of=world.as_of,
                                                                            lookback_days=14)
    assert report.headline.startswith("Target has one class since")
    import re
    assert not re.search(r"\bnan\b", report.headline) and "roc_auc are undefined" in report.headline
    assert "brier" in report.headline  # a defined metric speaks
    plots.performance_timeline(report, "roc_auc").savefig(tmp_path / "t.png")


# -- 6. small and coarse data --------------------------------------------------------------------------
def test_training_refusal_names_the_field_and_a_working_value(tmp_path):
    params = _toy(tmp_path, _frame(366, seed=1), retrain={"min_train_rows": 1000})
    with pytest.raises(InputError, match=r"retrain.min_train_rows <= 366"):
        train_initial(params)


def test_yearly_timestamps_still_give_training_and_holdout(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for year in range(2015, 2025):
        f = _frame(400, seed=year)
        f["ts"] = pd.Timestamp(f"{year}-01-01", tz="UTC")
        frames.append(f)
    data = pd.concat(frames, ignore_index=True)
    params = _toy(tmp_path, data.iloc[:1200], data, retrain={"strategy": "sliding", "window_days": 60,
                                                             "holdout_days": 14})
    reg = Registry.from_params(params)
    train_initial(params, registry=reg)
    d = retrain(params, data, registry=reg)
    assert d.decision != "skipped", d.reasons
    assert d.training["rows"] > 0 and d.holdout["rows"] > 0
    assert any("distinct timestamp" in r for r in d.reasons)
    assert rng is not None
    more = _toy(tmp_path, data.iloc[:1200], data, retrain={"strategy": "sliding", "window_days": 60,
                                                           "holdout_days": 14, "min_train_rows": 600})
    d = retrain(more, data, registry=reg)  # 60 days hold one year (400 rows): the latest years instead
    assert d.decision != "skipped" and d.training["rows"] == 800, d.reasons
    assert any("retrain.window_days >= 716 selects them" in r for r in d.reasons), d.reasons


def test_retrain_skip_names_fields(tmp_path):
    params, new = _params(tmp_path, min_train_rows=5000, min_holdout_rows=5000)
    reg = Registry.from_params(params)
    train_initial(params.model_copy(update={"retrain": params.retrain.model_copy(update={"min_train_rows": 500})}),
                  registry=reg)
    d = retrain(params, new, registry=reg)
    assert d.decision == "skipped" and "retrain.min_train_rows <=" in d.reasons[0]


# -- 7. metrics follow the task -------------------------------------------------------------------------
def test_metric_defaults_follow_task_and_wrong_task_metric_is_a_config_error(tmp_path):
    base = {"name": "x", "reference": {"path": "r.csv"}, "columns": {"timestamp": "t", "target": "y"}}
    p = parse_params({**base, "task": "regression"})
    assert (p.retrain.metric, p.concept.metric) == ("mae", "mae")
    with pytest.raises(ConfigError, match=r"^p.yaml: field 'retrain.metric': 'roc_auc' is not a regression metric"):
        parse_params({**base, "task": "regression", "retrain": {"metric": "roc_auc"}}, "p.yaml")
    with pytest.raises(ConfigError, match="field 'concept.metric'"):
        parse_params({**base, "concept": {"metric": "roc_acu"}}, "p.yaml")


# -- 2/4. the baseline a model is judged against ----------------------------------------------------------
def test_promoted_model_is_judged_on_its_holdout_not_the_old_reference(tmp_path):
    params, new = _params(tmp_path)
    reg = Registry.from_params(params)
    v1 = train_initial(params, registry=reg)
    assert retrain(params, new, registry=reg).decision == "promoted"
    loaded = reg.load()
    assert loaded.version != v1 and loaded.card["baseline"]["kind"] == "holdout"
    from driftlib.data.tables import load_reference
    reference = load_reference(params)
    base = for_model(params, loaded, reference, history=new)
    assert base.kind == "holdout" and "promoted on its holdout" in base.why
    later = _frame(3000, "2013-05-01", flip=True, seed=7)  # the new regime goes on
    from driftlib.data.tables import add_predictions
    later = add_predictions(later, loaded.model, params)
    analyzer = ConceptDriftAnalyzer(params.model_copy(update={"concept": params.concept.model_copy(
        update={"test_windows": False, "min_labels": 100, "n_bootstrap": 50})}))
    report = analyzer.fit(base.rows).score(later, as_of="2013-07-01", lookback_days=28)
    assert not report.degraded and report.verdict not in ("concept drift", "both"), report.headline
    old = analyzer.fit(add_predictions(reference, loaded.model, params)).score(later, as_of="2013-07-01",
                                                                                lookback_days=28)
    assert old.verdict in ("concept drift", "both"), old.headline  # what every run said before


def test_reference_equal_to_training_data_gets_out_of_fold_predictions(tmp_path):
    old = _frame(2000, seed=1)
    params = _toy(tmp_path, old)
    reg = Registry.from_params(params)
    train_initial(params, registry=reg)
    loaded = reg.load()
    from driftlib.data.tables import add_predictions, load_reference
    reference = load_reference(params)
    base = for_model(params, loaded, reference)
    assert base.out_of_fold == 2000 and "out-of-fold" in base.warnings[0]
    from sklearn.metrics import roc_auc_score
    in_sample = add_predictions(reference, loaded.model, params)
    auc_in = roc_auc_score(in_sample["y"], in_sample["probability"])
    auc_oof = roc_auc_score(base.rows["y"], base.rows["probability"])
    assert auc_oof < auc_in  # the in-sample reference was optimistic


def test_onset_follows_the_detectors_across_windows_too_sparse_to_judge():
    from driftlib.concept import findings as F

    d = lambda day: pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day)  # noqa: E731
    windows = [{"start": d(0), "degraded": False}, {"start": d(7), "degraded": None},
               {"start": d(14), "degraded": None}, {"start": d(21), "degraded": True}]
    points = [{"timestamp": d(9), "direction": "up", "detectors": ["adwin", "ddm"]}]
    onset, first, basis = F.onset(windows, points, True, d(21), d(28), pd.Timedelta("7D"))
    assert onset == d(9) and first == d(21) and "adwin" in basis  # was: the streak start, d(21)
    onset, first, basis = F.onset(windows, [], True, d(21), d(28), pd.Timedelta("7D"))
    assert onset is None and first == d(21) and "no change point" in basis


def test_an_unknown_onset_says_whether_the_detectors_saw_rises_that_fell_again():
    from driftlib.concept import findings as F

    d = lambda day: pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day)  # noqa: E731
    windows = [{"start": d(0), "degraded": False}, {"start": d(7), "degraded": True},
               {"start": d(14), "degraded": True}, {"start": d(21), "degraded": True}]
    up = lambda day: {"timestamp": d(day), "direction": "up", "detectors": ["adwin", "ddm"]}  # noqa: E731
    down = {"timestamp": d(20), "direction": "down", "detectors": ["adwin", "ddm"]}
    onset, first, basis = F.onset(windows, [up(3), up(12), down], True, d(21), d(28), pd.Timedelta("7D"))
    assert onset is None and first == d(7)
    assert "agreed on 2 rises" in basis and "fell again" in basis and "2024-01-21" in basis
    onset, first, basis = F.onset(windows, [], True, d(21), d(28), pd.Timedelta("7D"))
    assert onset is None and basis == ("no change point where the detectors agreed since 2024-01-01, "
                                       "the last window judged not degraded")


@pytest.mark.parametrize("learner", ["hgb", "linear"])
def test_a_rare_class_leaves_the_concept_test_undetermined_never_no_change(learner):
    """Seattle weather (vega_datasets) one-vs-rest for 'rain': 2 rains in the reference sample crashed notebook 03
    (HistGradientBoosting's stratified split: 'The least populated classes in y have only 1 member')."""
    from driftlib.concept.shift import ConceptShiftTest

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = np.zeros(600)
    y[[3, 40]] = 1.0  # two positives in the reference, one in the window
    test = ConceptShiftTest("classification", learner, alpha=0.01).fit(X.iloc[:300], y[:300])
    res = test.score(X.iloc[300:].reset_index(drop=True), np.r_[np.zeros(299), 1.0])
    assert res.drift is None and np.isnan(res.p_value)
    assert "too few positive labels" in res.reason and "2 in the reference sample and 1 in the window" in res.reason


def test_a_window_with_a_rare_class_is_insufficient_labels_with_the_reason():
    world = make_world(seed=3, n_production=3000, test_windows=False)
    prod = world.production.copy()
    labelled = prod.index[prod["y"].notna()]
    prod.loc[labelled, "y"] = 0.0
    prod.loc[labelled[:2], "y"] = 1.0  # two positives among ~3,000 labels
    ref = world.reference.copy()
    ref["y"] = 0.0
    ref.loc[ref.index[:3], "y"] = 1.0
    report = ConceptDriftAnalyzer(world.params).fit(ref).score(prod, as_of=world.as_of)
    assert report.verdict == "insufficient labels"
    assert report.current["concept_test"]["drift"] is None
    assert "concept drift undetermined (too few positive labels" in report.headline
    assert "stable" not in report.headline and "no concept drift" not in report.headline


def test_calibration_test_on_one_class_is_undetermined_not_a_crash():
    from driftlib.concept.shift import CalibrationShiftTest

    rng = np.random.default_rng(1)
    test = CalibrationShiftTest("classification", 0.01).fit(rng.uniform(0.01, 0.3, 400), np.zeros(400))
    res = test.score(rng.uniform(0.01, 0.3, 300), np.r_[np.zeros(298), 1.0, 1.0])
    assert res.drift is None and "too few positive labels" in res.reason and "2 in the reference" in res.reason


def test_a_reference_whose_label_mix_moved_since_training_is_a_warning(tmp_path):
    """seattle-weather one-vs-rest for 'rain': 42.6% rain in training, 0.7% in the reference (the label
    definition changed after 2013), and notebook 01 said nothing; 03 then judged the model 'as in the reference'."""
    from driftlib.data.capture import label_mix_warning

    old = _frame(1500, seed=1)
    params = _toy(tmp_path, old)
    reg = Registry.from_params(params)
    card = reg.card(train_initial(params, registry=reg))
    trained = card["training"]["window"]["label_mean"]
    assert trained == pytest.approx(old["y"].mean())
    rare = old.assign(y=np.r_[np.ones(10), np.zeros(len(old) - 10)])
    text = label_mix_warning(params, card, rare)
    assert text.startswith(f"the baseline's positive labels (0.7% of {len(old):,} rows) are far from the training "
                           f"data's ({trained:.1%} of {card['training']['window']['rows']:,})")
    assert label_mix_warning(params, card, old) is None  # the same mix
    assert label_mix_warning(params, {"training": {"window": {"rows": 5}}}, rare) is None  # older cards: silent
