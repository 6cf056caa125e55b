"""Stakeholder HTML and the index page."""
from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from driftlib.workbench import report


def _summary(folder, run_date, status, headline):
    (folder / run_date).mkdir(parents=True)
    (folder / run_date / "summary.json").write_text(json.dumps({
        "run_date": run_date, "status": status, "model": "m", "duration_s": 12.0,
        "notebooks": [{"name": "02_data_drift", "status": status, "html": "02_data_drift.html",
                       "result": {"headline": headline}}]}))


def test_index_lists_runs_newest_first_and_escapes(tmp_path):
    _summary(tmp_path, "2024-01-01", "success", "old run")
    _summary(tmp_path, "2024-03-01", "failed", "<script>alert(1)</script>")
    (tmp_path / "2024-02-01").mkdir()
    (tmp_path / "2024-02-01" / "summary.json").write_text("{ torn")
    html = report.write_index(tmp_path).read_text()
    assert html.index("2024-03-01") < html.index("2024-01-01")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="2024-01-01/02_data_drift.html"' in html


def test_render_hides_code_parameters_and_stderr(tmp_path):
    nb = new_notebook(cells=[
        new_markdown_cell("# Title"),
        new_code_cell("secret_param = 1", metadata={"tags": ["parameters"]}),
        new_code_cell("injected = 2", metadata={"tags": ["injected-parameters"]}),
        new_code_cell("print('visible output')", outputs=[
            new_output("stream", name="stdout", text="visible output\n"),
            new_output("stream", name="stderr", text="noisy warning\n")]),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    html = report.render_notebook(path, tmp_path / "nb.html", title="T",
                                  banner={"run_date": "2024-01-01", "status": "success",
                                          "headline": "All good", "parameters": {"run_date": "2024-01-01"}}
                                  ).read_text()
    assert "visible output" in html and "All good" in html
    assert "secret_param" not in html and "injected = 2" not in html and "noisy warning" not in html
    assert "print(" not in html
    assert "cdnjs" not in html and "require.min.js" not in html


# -- verdicts: one function, every combination ---------------------------------------------------------
import itertools  # noqa: E402

import pytest  # noqa: E402

from driftlib.core.contracts import CONCEPT_VERDICTS, DECISIONS, HEALTH, VERDICTS  # noqa: E402
from driftlib.monitoring import health  # noqa: E402

SLICE_REASON = ("slice origin=JFK (n=812) gets worse: roc_auc 0.7012 vs 0.7400 (-0.0388, tolerance 0.0200)")
INTERVALS = {"below": (0.60, 0.58, 0.62), "overlap": (0.75, 0.72, 0.78), "above": (0.80, 0.78, 0.82)}


def _run(verdict, degraded, dataset_drift, decision, interval="overlap", outcome=None):
    value, lo, hi = INTERVALS[interval]
    nbs = [{"name": "01_reference_capture", "status": "success", "result": {"headline": "ref"}}]
    if dataset_drift is not None:
        nbs.append({"name": "02_data_drift", "status": "success", "result": {
            "headline": "d", "dataset_drift": dataset_drift, "share_drifted": 0.5 if dataset_drift else 0.0,
            "drifted_columns": ["distance", "dep_hour"] if dataset_drift else [],
            "columns": [{"column": c, "drifted": dataset_drift} for c in ("distance", "dep_hour")]}})
    if verdict is not None:
        nbs.append({"name": "03_concept_drift", "status": "success", "result": {
            "headline": "c", "verdict": verdict, "degraded": degraded, "metric": "roc_auc",
            "reference": {"roc_auc": {"value": 0.75, "lower": 0.74, "upper": 0.76}},
            "windows": [{"realized": {"roc_auc": {"value": value, "lower": lo, "upper": hi}}}],
            "label_coverage": {"coverage": 0.4}}})
    if decision is not None:
        nbs.append({"name": "04_retraining", "status": "success", "result": {
            "headline": "r", "decision": decision, "challenger": "v0002", "champion": "v0001",
            "current_version": "v0002" if decision == "promoted" else "v0001",
            "reasons": [SLICE_REASON] if decision == "rejected" else ["no trigger fired"]}})
    s = {"run_date": "2024-01-01", "status": "success", "warnings": [], "notebooks": nbs}
    if outcome:
        s["outcome"] = outcome
    return s


COMBOS = list(itertools.product([*VERDICTS, None], [True, False, None], [True, False, None],
                                [*DECISIONS, None], INTERVALS))


@pytest.mark.parametrize("verdict,degraded,dataset_drift,decision,interval", COMBOS)
def test_every_verdict_and_decision_reads_consistently(verdict, degraded, dataset_drift, decision, interval):
    a = health.assess(_run(verdict, degraded, dataset_drift, decision, interval))
    drift, perf, concept, action = a.verdicts
    assert a.health.state in HEALTH and [v.aspect for v in a.verdicts] == list(health.ASPECTS)
    assert all(v.tone in health.TONES and v.state for v in (a.health, *a.verdicts))
    # performance: notebook 03's judgement, never overridden, and the words agree with the state
    measured = verdict is not None
    assert (perf.state == "degraded") == (measured and degraded is True)
    assert (a.health.state == "degraded") == (perf.state == "degraded")
    if perf.state == "normal":
        assert "within the reference" in perf.why and interval != "above"
    if perf.state == "improved":
        assert interval == "above" and "better than the reference" in perf.why
    if measured and degraded is False and interval == "above":
        assert perf.state == "improved"
    # concept and data drift: one word each, from their own vocabularies
    assert (concept.state == "drifted") == (verdict in CONCEPT_VERDICTS)
    assert (concept.state == "untested") == (verdict == "insufficient labels")
    assert (drift.state == "drifted") == (dataset_drift is True)
    if drift.state == "drifted":
        assert "distance" in drift.why  # the user's own feature names
    # health: "healthy" only when every aspect is fine; bad findings are never hidden by missing ones
    if a.health.state == "healthy":
        assert drift.state == "stable" and perf.state in ("normal", "improved")
        assert concept.state in ("stable", "untested")
    if a.health.state in ("unknown", "insufficient data"):
        assert "degraded" not in (perf.state,) and concept.state != "drifted" and drift.state != "drifted"
    if verdict in CONCEPT_VERDICTS and degraded is not True:
        assert a.health.state == "concept drift"
    # action: the decision itself, and for a rejection the reason in a few words
    assert action.state == (decision or "none")
    if decision == "rejected":
        assert "slice origin=JFK got worse" in action.why and "v0001 kept" in action.why
    if decision == "promoted":
        assert "v0002" in action.why
    # the words of the whole row never contradict each other
    words = " ".join(v.text() for v in a.verdicts) + " " + a.health.text()
    if perf.state != "degraded":
        assert "degraded" not in words
    assert "within the reference" not in words or perf.state == "normal"


@pytest.mark.parametrize("status,warnings,saved,expected", [
    ("success", [], None, "success"), ("success", ["02: no evidently html"], None, "success with warnings"),
    ("failed", [], None, "failed"), ("success", [], "success with warnings", "success with warnings")])
def test_pipeline_outcome_is_separate_from_model_health(status, warnings, saved, expected):
    s = _run("stable", True, False, "rejected")
    s.update(status=status, warnings=warnings)
    if saved:
        s["outcome"] = saved
    a = health.assess(s)
    assert a.outcome == expected and a.health.state == "degraded"


def test_why_rejected_names_each_failed_condition():
    reasons = ["challenger roc_auc 0.7010 vs champion 0.7000: improvement +0.0010 is below the required 0.0050",
               "95% bootstrap interval of the improvement [-0.0020, +0.0040] does not exclude zero", SLICE_REASON]
    assert health.why_rejected(reasons) == ("gain below 0.0050; gain not significant; "
                                            "slice origin=JFK got worse (-0.0388)")


# -- headlines never contradict the body ------------------------------------------------------------
def test_rejected_challenger_headline_says_why():
    from driftlib.models.gate import Comparison
    from driftlib.models.training import RetrainDecision

    c = Comparison(metric="roc_auc", n=900, champion=0.604, challenger=0.647, delta=0.043, ci=(0.016, 0.072),
                   confidence=0.95)
    d = RetrainDecision("rejected", [SLICE_REASON], "v0002", champion="v0002", challenger="v0003",
                        metric="roc_auc", comparison=c)
    assert d.headline.startswith("Challenger v0003 rejected (slice origin=JFK got worse (-0.0388)):")
    action = health.action_verdict(health.RetrainSummary.from_dict(d.to_dict()))
    assert action.state == "rejected" and "slice origin=JFK got worse" in action.why


def test_concept_wording_better_than_reference_and_readable_degraded_cell():
    from driftlib.concept.report import _fmt_bool, better_than_reference

    above = {"difference": {"roc_auc": {"lower": 0.01, "upper": 0.05}, "brier": {"lower": -0.03, "upper": -0.01}}}
    assert better_than_reference(above, "roc_auc") and better_than_reference(above, "brier")
    overlap = {"difference": {"roc_auc": {"lower": -0.01, "upper": 0.05}}}
    assert not better_than_reference(overlap, "roc_auc")
    assert _fmt_bool(False, "realized") == "no (judged on the realized performance)"
    assert _fmt_bool(True, "latest window (realized)") == \
        "yes (judged on the realized performance of the latest window)"


def test_registry_html_prints_no_absolute_path(tmp_path):
    from driftlib.models.registry import Registry

    html_text = Registry(tmp_path / "models")._repr_html_()
    assert str(tmp_path) not in html_text and "models/" in html_text


def test_people_tables_drop_range_index_and_machine_values():
    from driftlib.workbench.tables import humanize_tables

    import pandas as pd

    df = pd.DataFrame({"start": pd.to_datetime(["2013-04-01 00:00:00", "2013-04-02 06:30:00.123456"], format="ISO8601"),
                       "p": [1.1e-146, 0.123456789], "drifted": [True, False], "x": [float("nan"), 1234567.0]})
    out = humanize_tables(df.to_html())
    assert "<th>0</th>" not in out and ">NaN<" not in out and ">True<" not in out
    assert ">2013-04-01<" in out and ">2013-04-02 06:30<" in out and ">1.1e-146<" in out
    assert ">0.123<" in out and ">yes<" in out and ">1,234,567<" in out
    kept = humanize_tables(df.set_index("p").to_html())  # a meaningful index stays
    assert "<th>1.1e-146</th>" in kept or ">1.1e-146<" in kept


# -- the index, the run page and the banner's refreshed blocks ----------------------------------------
def _full_run(outputs, run_date, **kw):
    s = _run("concept drift", True, True, "rejected", "below", **kw)
    s.update(run_date=run_date, model="m", duration_s=190.0)
    for nb in s["notebooks"]:
        nb["html"] = f"{nb['name']}.html"
    folder = outputs / run_date
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(s))
    (folder / "02_evidently_drift.html").write_text("<html></html>")
    return folder, s


def _rendered(folder, name, run_date):
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Body")]), str(path))
    report.render_notebook(path, folder / f"{name}.html", title=name,
                           banner={"run_date": run_date, "status": "success", "headline": "h"})
    return folder / f"{name}.html"


def test_index_separates_pipeline_outcome_from_model_health_and_draws_the_trend(tmp_path):
    _full_run(tmp_path, "2024-01-01")
    _full_run(tmp_path, "2024-01-08")
    page = report.write_index(tmp_path).read_text()
    assert "<svg" in page and "Trend over runs" in page and "https://" not in page.split("<svg", 1)[1][:200]
    row = page.split('id="runs"', 1)[1]
    assert ">success<" in row and 'dl-pill dl-bad">degraded<' in row and 'dl-warn">rejected<' in row
    assert "slice origin=JFK got worse" in row
    assert 'href="2024-01-08/02_evidently_drift.html"' in page and 'href="2024-01-08/index.html"' in page


def test_verdict_row_and_navigation_are_refreshed_in_published_reports(tmp_path):
    old, s_old = _full_run(tmp_path, "2024-01-01")
    page = _rendered(old, "02_data_drift", "2024-01-01")
    report.write_run_index(old, s_old)
    text = page.read_text()
    verdicts = text.split("<!--dl:verdicts-->", 1)[1].split("<!--/dl:verdicts-->", 1)[0]
    assert "degraded" in verdicts and "rejected" in verdicts and "drifted" in verdicts
    assert "dl-off" in text.split("<!--dl:nav-->", 1)[1].split("<!--/dl:nav-->", 1)[0]  # no next run yet
    run_page = (old / "index.html").read_text()
    assert "02_evidently_drift.html" in run_page and "dl-verdicts" in run_page and "<style>" in run_page
    _full_run(tmp_path, "2024-01-08")
    report.write_index(tmp_path)
    nav = page.read_text().split("<!--dl:nav-->", 1)[1].split("<!--/dl:nav-->", 1)[0]
    assert 'href="../2024-01-08/index.html"' in nav  # the newer run, linked from the older report
