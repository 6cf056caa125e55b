"""The contracts between notebooks, runner and monitoring: one table, one vocabulary, typed results."""
from __future__ import annotations

import pytest

from driftlib.core import contracts as C
from driftlib.models.triggers import RETRAIN_VERDICTS, retrain_trigger


def test_notebook_table_is_the_one_source_of_names_titles_and_dependencies():
    assert C.NOTEBOOKS == ("01_reference_capture", "02_data_drift", "03_concept_drift", "04_retraining")
    assert C.notebook_spec("04").depends == ("02_data_drift", "03_concept_drift")
    assert C.notebook_spec("02_data_drift").title == "Data drift"
    for nb in C.NOTEBOOK_TABLE:  # dependencies come earlier in the table: the runner's order is valid
        assert all(C.NOTEBOOKS.index(d) < C.NOTEBOOKS.index(nb.name) for d in nb.depends)
    with pytest.raises(KeyError):
        C.notebook_spec("05")


@pytest.mark.parametrize("data,concept,code", [(False, False, 0), (True, False, 3), (False, True, 4), (True, True, 5)])
def test_drift_exit_codes(data, concept, code):
    assert C.drift_exit_code(data, concept) == code


@pytest.mark.parametrize("cls,data", [
    (C.DataDriftSummary, {"headline": "h", "dataset_drift": True, "share_drifted": 0.5, "drifted_columns": ["a"],
                          "columns": [{"column": "a", "method": "ks", "score": 0.01, "threshold": 0.05,
                                       "drifted": True, "status": "ok", "strength": 2.0}],
                          "prediction_drift": {"prediction": {"drifted": False, "score": 0.1}}, "n_rows": 10,
                          "windows": {"columns": []}, "warnings": ["w"],
                          "skipped_input": {"torn": 1, "unparsed": 0, "quarantined": 2}}),
    (C.ConceptSummary, {"headline": "h", "verdict": "both", "degraded": True, "onset": "2024-01-01",
                        "metric": "roc_auc", "reference": {"roc_auc": {"value": 0.8}}, "windows": [],
                        "label_coverage": {"coverage": 0.5}, "slices": [], "warnings": []}),
    (C.RetrainSummary, {"headline": "h", "decision": "promoted", "reasons": ["better"], "champion": "v1",
                        "challenger": "v2", "current_version": "v2", "metric": "roc_auc", "delta": 0.1,
                        "triggers": ["forced"], "forced": True, "warnings": []}),
])
def test_summaries_round_trip_every_key(cls, data):
    typed = cls.from_dict(data)
    again = typed.to_dict()
    assert again == data | {"warnings": data.get("warnings", []), "skipped_input": data.get("skipped_input", {})}
    assert list(again)[0] == "headline"  # the index reads the headline first
    assert cls.from_dict(again).to_dict() == again


def test_a_mangled_result_degrades_to_unknown_fields_not_errors():
    s = C.DataDriftSummary.from_dict({"columns": ["junk", {"score": 1}, {"column": "x"}], "prediction_drift": True,
                                      "drifted_columns": "a"})
    assert [c.column for c in s.column_rows()] == ["x"] and s.outputs() == {} and s.drifted_columns == []
    c = C.ConceptSummary.from_dict({"windows": "oops", "label_coverage": None, "verdict": "stable"})
    assert c.latest("realized") is None and c.label_coverage == {} and not c.concept_drift
    assert C.typed_result("02", None) is None


def test_concept_summary_reads_the_newest_window_with_a_value():
    c = C.ConceptSummary.from_dict({"metric": "m", "windows": [
        {"realized": {"m": {"value": 0.6}}, "estimated": {"m": {"value": 0.7}}},
        {"realized": {}, "estimated": {"m": {"value": 0.5}}}]})
    assert c.latest("realized") == {"value": 0.6} and c.latest("estimated") == {"value": 0.5}


# -- the retraining trigger: every branch -----------------------------------------------------------
def drift(flag, share=0.6):
    return C.DataDriftSummary(dataset_drift=flag, share_drifted=share)


def concept(verdict="stable", degraded=False):
    return C.ConceptSummary(verdict=verdict, degraded=degraded)


def test_no_drift_no_degradation_does_not_retrain():
    t = retrain_trigger(drift(False), concept())
    assert not t.needed and "not forced" in t.text and t.missing == []


def test_dataset_drift_retrains_and_says_how_much():
    t = retrain_trigger(drift(True, 0.6), concept())
    assert t.needed and t.reasons == ["dataset drift (60% of features drifted)"]


@pytest.mark.parametrize("verdict", RETRAIN_VERDICTS)
def test_drift_verdicts_retrain(verdict):
    assert retrain_trigger(drift(False), concept(verdict)).reasons == [f"concept-drift verdict '{verdict}'"]


@pytest.mark.parametrize("verdict", ["stable", "insufficient labels"])
def test_other_verdicts_do_not(verdict):
    assert not retrain_trigger(drift(False), concept(verdict)).needed


def test_degradation_alone_retrains():
    assert retrain_trigger(drift(False), concept(degraded=True)).reasons == [
        "performance degraded beyond the reference's interval"]


def test_force_retrains_and_missing_results_are_named():
    t = retrain_trigger(None, None, force=True)
    assert t.needed and t.forced and t.reasons == ["forced"]
    t = retrain_trigger(None, concept())
    assert not t.needed and t.missing == ["02_data_drift"] and "no result from 02_data_drift" in t.why_not


# -- component names are checked before anything runs --------------------------------------------
@pytest.mark.parametrize("section,key,value,field", [
    ("model", "estimator", "hist_gradient_bosting", "model.estimator"),
    ("concept", "learner", "hgbb", "concept.learner"),
    ("concept", "detectors", ["adwin", "ddn"], "concept.detectors"),
    ("log", "sink", "jsonll", "log.sink"),
    ("drift", "columns", {"x": {"method": "kss"}}, "drift.columns.x.method"),
])
def test_a_typo_in_a_component_name_fails_before_notebook_01(tmp_path, section, key, value, field):
    from driftlib.config import parse_params
    from driftlib.core.errors import ConfigError
    from driftlib.workbench.preflight import check_components
    from driftlib.workbench.runner import run_pipeline

    params = parse_params({"name": "m", "root": str(tmp_path), "reference": {"path": "r.csv"},
                           "columns": {"timestamp": "ts"}, section: {key: value}}, str(tmp_path / "p.yaml"))
    with pytest.raises(ConfigError, match=f"field '{field}'.*choose from") as err:
        check_components(params)
    assert err.value.exit_code == 2
    with pytest.raises(ConfigError, match=field):
        run_pipeline(params, "2024-01-01")
    assert not (tmp_path / "outputs").exists()  # nothing ran


def test_the_shipped_params_name_only_known_components():
    from pathlib import Path

    from driftlib.config import load_params
    from driftlib.workbench.preflight import check_components

    for path in Path(__file__).resolve().parents[1].glob("params/*.yaml"):
        check_components(load_params(path, check_files=False))


def test_metric_vocabularies_match_the_registries():
    """params are validated against core.contracts' names; the registries must offer exactly those."""
    from driftlib.models.gate import METRICS as GATE
    from driftlib.performance.metrics import METRICS as REPORT

    assert C.GATE_METRICS == {k: m.task for k, m in GATE.items()}
    assert C.REPORT_METRICS == {k: m.task for k, m in REPORT.items()}
