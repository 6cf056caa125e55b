"""One bad record in the inference log never fails a run nor disappears silently (issue 11)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from driftlib.config import load_params
from driftlib.models.registry import Registry
from tests.conftest import FEATURES, train_model, write_params

pytestmark = pytest.mark.slow


def _log_project(slice_project):
    root = slice_project.parent
    train_model(slice_project)
    model = Registry.from_params(load_params(slice_project)).current_model()
    prod = pd.read_parquet(root / "data" / "production.parquet")
    feats = [*FEATURES["numeric"], *FEATURES["categorical"]]
    proba = model.predict_proba(prod[feats])[:, 1]
    logs = root / "logs"
    for day, part in prod.assign(p=proba).groupby(prod["scheduled_departure"].dt.strftime("%Y-%m-%d")):
        folder = logs / "predictions" / f"date={day}"
        folder.mkdir(parents=True)
        with open(folder / "h-1.jsonl", "w") as fh:
            for i, r in part.iterrows():
                fh.write(json.dumps({"request_id": f"r{i}", "timestamp": r["scheduled_departure"].isoformat(),
                                     "model_version": "v0001", "features": {k: r[k] for k in feats},
                                     "prediction": int(r["p"] >= 0.5), "probability": float(r["p"]),
                                     "flags": {"unknown_categories": []}}, default=str) + "\n")
        fb = logs / "feedback" / f"date={day}"
        fb.mkdir(parents=True, exist_ok=True)
        with open(fb / "h-1.jsonl", "w") as fh:
            for i, r in part.iterrows():
                fh.write(json.dumps({"request_id": f"r{i}", "label": int(r["late"]),
                                     "timestamp": r["label_timestamp"].isoformat()}) + "\n")
    poisoned = logs / "predictions" / "date=2013-04-10" / "h-1.jsonl"
    with open(poisoned, "a") as fh:  # hand edits, old versions: what once broke every later run
        fh.write(json.dumps({"request_id": "bad-1", "timestamp": "0001-01-01T00:00:00+00:00", "model_version": "v0001",
                             "features": {}, "prediction": 0, "probability": 0.1, "flags": {}}) + "\n")
        fh.write('{"request_id": "torn", "timest')
    return write_params(root, production={"source": "log", "path": None}, log={"dir": "logs"})


def test_poisoned_log_is_quarantined_and_reported_not_fatal(slice_project):
    from driftlib.workbench.runner import run_pipeline

    params = load_params(_log_project(slice_project))
    run = run_pipeline(params, "2013-04-20", only=["01_reference_capture", "02_data_drift", "03_concept_drift"])
    assert run.status == "success", [(nb.name, nb.error) for nb in run.notebooks]
    summary = json.loads((params.outputs_dir / "2013-04-20" / "summary.json").read_text())
    text = " ".join(summary["warnings"])
    assert "quarantined" in text and "torn" in text, summary["warnings"]
    assert summary["outcome"] == "success with warnings"
    concept = next(nb for nb in summary["notebooks"] if nb["name"] == "03_concept_drift")["result"]
    assert concept["skipped_input"] == {"torn": 1, "unparsed": 0, "quarantined": 1}  # counted, not just worded
    from driftlib.monitoring.textfile import read_textfile, textfile_path

    gauge = {(s.labels["notebook"], s.labels["reason"]): s.value
             for s in read_textfile(textfile_path(params))["driftlib_input_records_skipped"]}
    assert gauge[("03_concept_drift", "quarantined")] == 1 and gauge[("03_concept_drift", "torn")] == 1
