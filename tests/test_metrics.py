"""The metric catalogue, the per-run textfile and the collector the service exposes."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftlib.monitoring import textfile as metrics
from driftlib.config import parse_params

NAME_RE = re.compile(r"^driftlib_[a-z0-9_]+$")
UNBOUNDED = {"run_id", "run_date", "date", "request_id", "timestamp"}


def make_params(root: Path, **monitoring):
    return parse_params({"name": "m1", "root": str(root), "reference": {"path": "ref.csv"},
                         "columns": {"timestamp": "ts"}, "concept": {"metric": "roc_auc"},
                         "monitoring": {"textfile_dir": "metrics", **monitoring}},
                        str(root / "params.yaml"))


def summary(run_date="2013-05-01", status="success", *, drift=True, decision="skipped", version="v0003",
            finished="2013-05-01T06:10:00+00:00"):
    nbs = [
        {"name": "01_reference_capture", "status": "success", "duration_s": 2.5, "result": {"headline": "ok"}},
        {"name": "02_data_drift", "status": "success", "duration_s": 12.0, "result": {
            "dataset_drift": drift, "share_drifted": 0.6 if drift else 0.1, "drifted_columns": ["dep_hour"],
            "n_rows": 5000,
            "columns": [{"column": "dep_hour", "method": "K-S p_value", "score": 0.001, "threshold": 0.05,
                         "drifted": True},
                        {"column": "carrier", "method": "chi-square p_value", "score": 0.4, "threshold": 0.05,
                         "drifted": False}],
            "prediction_drift": {"probability": {"method": "ks", "score": 0.2, "threshold": 0.1,
                                                 "drifted": True}}}},
        {"name": "03_concept_drift", "status": "success", "duration_s": 30.0, "result": {
            "verdict": "concept drift", "metric": "roc_auc", "label_coverage": {"coverage": 0.4, "n": 10},
            "reference": {"n": 100, "target_mean": 0.2, "roc_auc": {"value": 0.71, "lower": 0.7, "upper": 0.72}},
            "windows": [{"start": "2013-04-20", "realized": {"roc_auc": {"value": 0.66, "lower": 0.62, "upper": 0.70}},
                         "estimated": {"roc_auc": {"value": 0.69, "lower": 0.66, "upper": 0.72}}},
                        {"start": "2013-04-27", "realized": {},
                         "estimated": {"roc_auc": {"value": 0.64, "lower": 0.60, "upper": 0.68}}}]}},
        {"name": "04_retraining", "status": status, "duration_s": 40.0,
         "result": {"decision": decision, "current_version": version} if status == "success" else None},
    ]
    return {"run_date": run_date, "status": status, "started": "2013-05-01T06:00:00+00:00",
            "finished": finished, "duration_s": 600.0, "notebooks": nbs}


def read(path: Path) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, frozenset((k, v) for k, v in s.labels.items() if k != "model"))] = s.value
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# -- the catalogue ---------------------------------------------------------------------------------
def test_catalogue_follows_prometheus_naming_conventions():
    for spec in metrics.CATALOGUE.values():
        assert NAME_RE.match(spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        if "timestamp" in spec.name:
            assert spec.name.endswith("_timestamp_seconds"), spec.name
        assert not (set(spec.labels) & UNBOUNDED), spec.name
        if spec.source == "run":
            assert spec.kind == "gauge" and spec.labels[0] == "model", spec.name


def test_service_metrics_in_serve_come_from_the_catalogue():
    serve = pytest.importorskip("driftlib.service.app")
    registry = CollectorRegistry()
    serve.ServiceMetrics("m1", registry)
    names = {s.name for family in registry.collect() for s in family.samples} | {
        family.name for family in registry.collect()}
    exposed = metrics.exposed_names()
    families = {family.name for family in registry.collect()}
    assert families, "ServiceMetrics registered nothing"
    for family in registry.collect():
        spec = metrics.CATALOGUE.get(family.name) or metrics.CATALOGUE.get(family.name + "_total")
        assert spec is not None and spec.source == "service", family.name
    assert names <= exposed | families


def test_service_metric_builds_catalogued_objects():
    registry = CollectorRegistry()
    counter = metrics.service_metric("driftlib_http_requests_total", registry)
    counter.labels("GET", "/health", "200").inc()
    hist = metrics.service_metric("driftlib_http_request_duration_seconds", registry)
    hist.labels("GET", "/health").observe(0.01)
    text = generate_latest(registry).decode()
    assert 'driftlib_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert "driftlib_http_request_duration_seconds_bucket" in text
    with pytest.raises(KeyError):
        metrics.service_metric("driftlib_not_a_metric", registry)


# -- the textfile ----------------------------------------------------------------------------------
def test_textfile_holds_the_latest_run(tmp_path):
    params = make_params(tmp_path, important_features=["dep_hour"])
    path = metrics.write_run_metrics(params, summary())
    assert path == tmp_path / "metrics" / "driftlib_m1.prom"
    assert [p.name for p in path.parent.iterdir()] == ["driftlib_m1.prom"]  # no temp file left behind
    s = read(path)
    assert value(s, "driftlib_feature_drift_score", feature="dep_hour") == 0.001
    assert value(s, "driftlib_feature_drifted", feature="dep_hour") == 1
    assert value(s, "driftlib_feature_drifted", feature="carrier") == 0
    assert value(s, "driftlib_feature_important", feature="dep_hour") == 1
    assert value(s, "driftlib_feature_important", feature="carrier") is None
    assert value(s, "driftlib_drifted_features_ratio") == 0.6
    assert value(s, "driftlib_drifted_features") == 1
    assert value(s, "driftlib_dataset_drift") == 1
    assert value(s, "driftlib_prediction_drift", column="probability") == 1
    assert value(s, "driftlib_rows_analysed") == 5000
    assert value(s, "driftlib_label_coverage_ratio") == 0.4
    # realized from the last window that has labels, estimated from the newest window
    assert value(s, "driftlib_performance", metric="roc_auc", kind="realized") == 0.66
    assert value(s, "driftlib_performance_lower", metric="roc_auc", kind="realized") == 0.62
    assert value(s, "driftlib_performance", metric="roc_auc", kind="estimated") == 0.64
    assert value(s, "driftlib_performance_reference", metric="roc_auc") == 0.71
    assert value(s, "driftlib_concept_drift") == 1
    assert value(s, "driftlib_concept_verdict", verdict="concept drift") == 1
    assert value(s, "driftlib_concept_verdict", verdict="stable") == 0
    assert value(s, "driftlib_current_model_version") == 3
    assert value(s, "driftlib_current_model_info", version="v0003") == 1
    assert value(s, "driftlib_notebook_success", notebook="04_retraining") == 1
    assert value(s, "driftlib_notebook_duration_seconds", notebook="03_concept_drift") == 30
    assert value(s, "driftlib_run_success") == 1
    finished = datetime(2013, 5, 1, 6, 10, tzinfo=timezone.utc).timestamp()
    assert value(s, "driftlib_last_success_timestamp_seconds") == finished
    assert all(name in metrics.CATALOGUE for name, _ in s)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_textfile_passes_promtool_lint(tmp_path):
    path = metrics.write_run_metrics(make_params(tmp_path), summary())
    proc = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_failed_run_keeps_last_success_promotion_and_version(tmp_path):
    params = make_params(tmp_path)
    metrics.write_run_metrics(params, summary(decision="promoted", version="v0004"))
    first = datetime(2013, 5, 1, 6, 10, tzinfo=timezone.utc).timestamp()
    failed = summary("2013-05-02", status="failed", finished="2013-05-02T06:10:00+00:00")
    s = read(metrics.write_run_metrics(params, failed))
    assert value(s, "driftlib_run_success") == 0
    assert value(s, "driftlib_notebook_success", notebook="04_retraining") == 0
    assert value(s, "driftlib_last_success_timestamp_seconds") == first
    assert value(s, "driftlib_last_run_timestamp_seconds") == datetime(2013, 5, 2, 6, 10,
                                                                      tzinfo=timezone.utc).timestamp()
    assert value(s, "driftlib_last_promotion_timestamp_seconds") == first
    assert value(s, "driftlib_current_model_info", version="v0004") == 1
    assert value(s, "driftlib_retrain_decision", decision="promoted") is None  # 04 has no result


@pytest.mark.parametrize("broken", [
    {},
    {"status": "failed", "notebooks": None},
    {"status": "failed", "notebooks": ["junk", None, {"status": "success"}]},
    {"status": "failed", "notebooks": [{"name": "02_data_drift", "status": "failed", "result": None}]},
    {"notebooks": [{"name": "02_data_drift", "result": {"columns": [{"score": "n/a"}, "junk", {"column": "x"}],
                                                        "share_drifted": float("nan"), "prediction_drift": True}},
                   {"name": "03_concept_drift", "result": {"windows": "oops", "verdict": "stable",
                                                           "label_coverage": None}}]},
])
def test_missing_or_odd_keys_never_crash(tmp_path, broken):
    params = make_params(tmp_path)
    s = read(metrics.write_run_metrics(params, broken, clock=lambda: datetime(2024, 1, 1, tzinfo=timezone.utc)))
    assert value(s, "driftlib_run_success") == (1 if broken.get("status") == "success" else 0)
    assert value(s, "driftlib_last_run_timestamp_seconds") == datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
    assert value(s, "driftlib_drifted_features_ratio") is None


def _write_summary(outputs: Path, run_date: str, drift: bool | None):
    folder = outputs / run_date
    folder.mkdir(parents=True)
    s = summary(run_date, drift=bool(drift))
    if drift is None:
        s["notebooks"][1]["result"] = None
    (folder / "summary.json").write_text(json.dumps(s))


def test_drift_streak_counts_consecutive_runs_and_skips_runs_without_result(tmp_path):
    params = make_params(tmp_path)
    outputs = params.outputs_dir
    for run_date, drift in [("2013-04-01", True), ("2013-04-02", False), ("2013-04-03", True),
                            ("2013-04-04", None), ("2013-04-05", True)]:
        _write_summary(outputs, run_date, drift)
    assert metrics.drift_streak_before(outputs, "2013-04-06") == 2
    s = read(metrics.write_run_metrics(params, summary("2013-04-06", drift=True)))
    assert value(s, "driftlib_dataset_drift_consecutive_runs") == 3
    # re-running a date does not count it twice; a backfill of an older date leaves the newer streak;
    # a run without drift resets it
    s = read(metrics.write_run_metrics(params, summary("2013-04-06", drift=True)))
    assert value(s, "driftlib_dataset_drift_consecutive_runs") == 3
    s = read(metrics.write_run_metrics(params, summary("2013-04-05", drift=True)))
    assert value(s, "driftlib_dataset_drift_consecutive_runs") == 3
    s = read(metrics.write_run_metrics(params, summary("2013-04-06", drift=False)))
    assert value(s, "driftlib_dataset_drift_consecutive_runs") == 0


def test_registry_is_the_source_of_version_and_promotion_time(tmp_path):
    from driftlib.models.registry import Registry

    params = parse_params({"name": "m1", "root": str(tmp_path), "reference": {"path": "ref.csv"},
                           "columns": {"timestamp": "ts"}, "model": {"registry": "models"},
                           "monitoring": {"textfile_dir": "metrics"}}, str(tmp_path / "params.yaml"))
    clock = lambda: datetime(2013, 4, 2, 7, 0, tzinfo=timezone.utc)  # noqa: E731
    registry = Registry(params.registry_dir, clock=clock)
    version = registry.register({"weights": [1, 2]}, {"metrics": {}})
    registry.promote(version, "test")
    s = read(metrics.write_run_metrics(params, {"status": "failed", "notebooks": []}))
    assert value(s, "driftlib_current_model_info", version=version) == 1
    assert value(s, "driftlib_last_promotion_timestamp_seconds") == clock().timestamp()


# -- the service's collector -----------------------------------------------------------------------
def test_run_collector_exposes_the_textfile_then_falls_back_to_the_newest_summary(tmp_path):
    params = make_params(tmp_path)
    registry = CollectorRegistry()
    metrics.register_run_collector(registry, params)
    assert b"driftlib_run_success" not in generate_latest(registry)  # nothing yet, and no crash

    _write_summary(params.outputs_dir, "2013-04-01", True)
    _write_summary(params.outputs_dir, "2013-04-02", False)
    text = generate_latest(registry).decode()
    assert 'driftlib_dataset_drift{model="m1"} 0.0' in text  # the newest summary

    metrics.write_run_metrics(params, summary("2013-04-03", drift=True))
    text = generate_latest(registry).decode()
    assert 'driftlib_dataset_drift{model="m1"} 1.0' in text
    assert 'driftlib_feature_drifted{feature="dep_hour",model="m1"} 1.0' in text


def test_run_collector_refuses_to_shadow_a_metric_already_registered(tmp_path):
    registry = CollectorRegistry()
    metrics.register_run_collector(registry, make_params(tmp_path))
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        metrics.register_run_collector(registry, make_params(tmp_path))


def test_a_real_concept_report_reaches_the_textfile(tmp_path):
    """The producer's own object, not a hand-built dict: what notebook 03 saves is what the textfile reads."""
    from driftlib.concept import ConceptDriftAnalyzer
    from driftlib.concept.synthetic import make_world

    world = make_world(3, flip_at=0.5)
    report = ConceptDriftAnalyzer(world.params).fit(world.reference).score(world.production, as_of=world.as_of)
    result = report.to_dict()
    s = summary()
    s["notebooks"][2]["result"] = json.loads(json.dumps(result))
    params = make_params(tmp_path)
    samples = read(metrics.write_run_metrics(params, s))
    metric = report.metric
    realized = [w["realized"][metric]["value"] for w in result["windows"] if (w.get("realized") or {}).get(metric)
                and w["realized"][metric].get("value") is not None][-1]
    assert value(samples, "driftlib_performance", metric=metric, kind="realized") == pytest.approx(realized)
    assert value(samples, "driftlib_performance_reference", metric=metric) == pytest.approx(
        report.reference["metrics"][metric]["value"])
    assert value(samples, "driftlib_concept_verdict", verdict=report.verdict) == 1
    assert value(samples, "driftlib_concept_drift") == (1 if report.verdict in ("concept drift", "both") else 0)
    assert value(samples, "driftlib_label_coverage_ratio") == pytest.approx(report.label_coverage["coverage"])


# -- the textfile merges notebook by notebook ---------------------------------------------------------
def _only(s: dict, *names: str) -> dict:
    """A partial run's summary (`driftlib run --only …` on a date without an earlier run)."""
    return {**s, "notebooks": [nb for nb in s["notebooks"] if nb["name"].split("_", 1)[0] in names]}


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_partial_run_replaces_only_the_notebooks_it_ran(tmp_path):
    params = make_params(tmp_path)
    full = metrics.write_run_metrics(params, summary("2013-05-01"))
    before = read(full)
    n_before = _lines(full)
    partial = _only(summary("2013-05-02", drift=False, finished="2013-05-02T06:10:00+00:00"), "02")
    after = read(metrics.write_run_metrics(params, partial))
    # the notebook that ran describes the new date ...
    assert value(after, "driftlib_dataset_drift") == 0
    assert value(after, "driftlib_notebook_run_date_timestamp_seconds", notebook="02_data_drift") == \
        datetime(2013, 5, 2, tzinfo=timezone.utc).timestamp()
    assert value(after, "driftlib_run_date_timestamp_seconds") == datetime(2013, 5, 2, tzinfo=timezone.utc).timestamp()
    # ... every other notebook's series stay, with the date they describe
    for (name, labels), v in before.items():
        if name in metrics.NOTEBOOK_SERIES["03_concept_drift"] + metrics.NOTEBOOK_SERIES["04_retraining"]:
            assert after[(name, labels)] == v, name
    assert value(after, "driftlib_performance", metric="roc_auc", kind="estimated") == 0.64
    assert value(after, "driftlib_notebook_run_date_timestamp_seconds", notebook="03_concept_drift") == \
        datetime(2013, 5, 1, tzinfo=timezone.utc).timestamp()
    # unmerged (the old behaviour) the file shrank and lost performance, concept and retraining series
    unmerged = metrics.families(metrics.run_samples(params, partial, metrics.Carried()))
    assert not {f.name for f in unmerged} & set(metrics.NOTEBOOK_SERIES["03_concept_drift"])
    assert _lines(metrics.textfile_path(params)) >= n_before - 2  # only per-notebook counts may differ


def test_backfill_of_an_older_date_overwrites_nothing_newer(tmp_path):
    params = make_params(tmp_path)
    path = metrics.write_run_metrics(params, summary("2013-05-01"))
    newest = path.read_text()
    old = summary("2013-04-01", drift=False, decision="rejected", finished="2013-05-03T06:10:00+00:00")
    old["notebooks"][2]["result"]["verdict"] = "stable"
    after = read(metrics.write_run_metrics(params, old))
    assert value(after, "driftlib_dataset_drift") == 1 and value(after, "driftlib_concept_drift") == 1
    assert value(after, "driftlib_retrain_decision", decision="skipped") == 1
    assert value(after, "driftlib_last_run_timestamp_seconds") == metrics._epoch("2013-05-01T06:10:00+00:00")
    assert path.read_text() == newest  # byte for byte: the older run changed nothing


def test_rerun_of_the_newest_date_replaces_its_series(tmp_path):
    params = make_params(tmp_path)
    metrics.write_run_metrics(params, summary("2013-05-01", drift=True))
    after = read(metrics.write_run_metrics(params, summary("2013-05-01", drift=False)))
    assert value(after, "driftlib_dataset_drift") == 0


def _promtool_series(paths: list[Path]) -> list[dict]:
    """promtool input series: each textfile's samples for 6 minutes, one file after the other."""
    snapshots = [{(n, tuple(sorted(dict(lbl).items()))): v for (n, lbl), v in read(p).items()} for p in paths]
    keys = sorted(set().union(*snapshots))
    out = []
    for name, labels in keys:
        labels = dict(labels, model="m1")
        sel = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        key = (name, tuple(sorted((k, v) for k, v in labels.items() if k != "model")))
        # a vanished series goes stale at once, as when node_exporter stops exposing it
        values = " ".join(" ".join([f"{snap[key]:g}"] * 6 if key in snap else ["stale"] + ["_"] * 5)
                          for snap in snapshots)
        out.append({"series": f"{name}{{{sel}}}", "values": values})
    return out


def _alert_test(tmp_path: Path, params, paths: list[Path]) -> subprocess.CompletedProcess:
    import yaml

    from driftlib.monitoring.generate import render_rules

    (tmp_path / "alerts.yml").write_text(render_rules(params))
    firing = [{"expr": f'ALERTS{{alertname="{a}", alertstate="firing"}}', "eval_time": at,
               "exp_samples": [{"labels": f'ALERTS{{alertname="{a}", alertstate="firing", model="m1", '
                                          f'severity="warning"{extra}}}', "value": 1}]}
              for at in ("4m", "10m")
              for a, extra in (("DriftlibConceptDrift", ""),
                               ("DriftlibPerformanceDrop", ', kind="realized", metric="roc_auc"'))]
    test = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": _promtool_series(paths), "promql_expr_test": firing}]}
    (tmp_path / "partial.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run([shutil.which("promtool"), "test", "rules", "partial.test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (.ci/run installs it)")
def test_promtool_alerts_stay_firing_across_a_partial_run(tmp_path):
    """Concept-drift and performance alerts fire on the full run and still fire after `--only 02` of the
    next date; written the old way (the partial run's samples alone) they would resolve."""
    params = make_params(tmp_path)
    full = summary("2013-05-01")
    full["notebooks"][2]["result"]["reference"]["roc_auc"]["value"] = 0.75  # realized 0.66: a drop of 0.09
    path = metrics.write_run_metrics(params, full)
    before = tmp_path / "before.prom"
    shutil.copy(path, before)
    partial = _only(summary("2013-05-02", drift=False, finished="2013-05-02T06:10:00+00:00"), "02")
    metrics.write_run_metrics(params, partial)
    proc = _alert_test(tmp_path, params, [before, path])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    unmerged = tmp_path / "unmerged.prom"
    registry = CollectorRegistry()
    registry.register(metrics._Static(metrics.families(metrics.run_samples(params, partial))))
    unmerged.write_text(generate_latest(registry).decode())
    proc = _alert_test(tmp_path, params, [before, unmerged])
    assert proc.returncode != 0 and "DriftlibConceptDrift" in proc.stdout + proc.stderr


def test_untestable_columns_and_quality_findings_reach_the_textfile(tmp_path):
    """An undetermined verdict writes no driftlib_dataset_drift sample: operators still see why."""
    s = summary()
    s["notebooks"][1]["result"].update({"dataset_drift": None, "verdict": "undetermined",
                                        "untestable": ["income"], "quality": {"critical": 2, "warning": 1, "info": 0}})
    samples = read(metrics.write_run_metrics(make_params(tmp_path), s))
    assert value(samples, "driftlib_dataset_drift") is None
    assert value(samples, "driftlib_features_untestable") == 1
    assert value(samples, "driftlib_dataset_drift_undetermined") == 1
    assert value(samples, "driftlib_quality_findings", severity="critical") == 2


def test_input_rows_left_out_by_the_readers_are_a_gauge(tmp_path):
    """Torn, unparsable and quarantined input rows are counted per notebook, not only worded in warnings."""
    s = summary()
    s["notebooks"][1]["result"]["skipped_input"] = {"torn": 2, "unparsed": 0, "quarantined": 5}
    samples = read(metrics.write_run_metrics(make_params(tmp_path), s))
    got = lambda reason: value(samples, "driftlib_input_records_skipped", notebook="02_data_drift", reason=reason)  # noqa: E731
    assert (got("torn"), got("unparsed"), got("quarantined")) == (2, 0, 5)
    assert value(samples, "driftlib_input_records_skipped", notebook="03_concept_drift", reason="torn") is None
