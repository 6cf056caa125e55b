"""/openapi.json documents the request bodies from the served model's card, and the documented
schema and the validator agree; /docs works offline (Swagger UI from an installed package)."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from driftlib.service.app import create_app
from service_world import FEATURES, NUMERIC, make_world


@pytest.fixture(scope="module")
def served(tmp_path_factory, flights):
    world = make_world(tmp_path_factory.mktemp("openapi"), flights)
    with TestClient(create_app(world.params)) as c:
        yield world, c, c.get("/openapi.json").json()


def body_validator(doc: dict, path: str) -> Draft202012Validator:
    schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def test_every_post_endpoint_documents_its_body(served):
    world, _, doc = served
    for path in ("/predict", "/predict/batch", "/feedback"):
        body = doc["paths"][path]["post"]["requestBody"]
        assert body["required"] and "application/json" in body["content"]
    feats = doc["components"]["schemas"]["Features"]
    assert set(feats["required"]) == set(FEATURES) and feats["additionalProperties"] is False
    for name in NUMERIC:
        assert {"type": "number"} in feats["properties"][name]["anyOf"]
    carriers = feats["properties"]["carrier"]
    assert "UA" in carriers["description"] and carriers["examples"][0] == "9E"
    assert doc["components"]["schemas"]["Feedback"]["properties"]["label"]["enum"] == [0, 1]
    batch = doc["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]["records"]
    assert batch["maxItems"] == world.params.service.max_batch


def test_documented_examples_are_accepted(served):
    _, c, doc = served
    for path in ("/predict", "/predict/batch"):
        schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        example = schema["examples"][0]
        assert body_validator(doc, path).is_valid(example)
        assert c.post(path, json=example).status_code == 200


def bodies(rows):
    """Valid and invalid /predict bodies: the documented schema and the validator must agree."""
    r = rows[0]
    yield {"features": r}
    yield {"features": r, "timestamp": "2013-04-01T10:15:00Z"}
    yield {"features": r, "timestamp": "2013-04-01T10:15:00.123456789+05:30"}
    yield {"features": r, "timestamp": "2012-02-29T00:00:00"}
    yield {"features": r, "timestamp": None}
    yield {"features": {**r, "origin": 7}}
    yield {"features": {**r, "origin": 7.0}}
    yield {"features": {**r, "origin": True}}
    yield {"features": {**r, "wind_gust": None, "carrier": None}}
    yield {"features": {**r, "distance": 3}}
    for ts in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "2013-02-29T00:00:00Z",
               "1900-02-29T00:00:00Z", "2000-02-30T00:00:00Z", "2262-04-12T00:00:00Z", "yesterday",
               "2013-04-01", "2013-04-01T24:00:00Z", "2013-04-01t10:15:00z", 1364774400):
        yield {"features": r, "timestamp": ts}
    yield {"features": {**r, "carrier": "x" * 1001}}
    yield {"features": {**r, "origin": 2 ** 63}}
    yield {"features": {**r, "origin": 7.5}}
    yield {"features": {**r, "origin": [1]}}
    yield {"features": {**r, "distance": "far"}}
    yield {"features": {**r, "distance": True}}
    yield {"features": {**r, "surprise": 1.0}}
    yield {"features": {k: v for k, v in r.items() if k != "temp"}}
    yield {"features": r, "extra": 1}
    yield {"records": []}


def test_schema_and_validator_agree_on_predict_bodies(served):
    world, c, doc = served
    check = body_validator(doc, "/predict")
    for body in bodies(world.rows):
        documented = check.is_valid(body)
        status = c.post("/predict", json=body).status_code
        assert (status == 200) == documented, (body, status, documented)
        assert status in (200, 422)


@pytest.mark.parametrize("label, ok", [(1, True), (0, True), (1.0, True), (True, False), ("1", False),
                                       (2, False), (0.5, False), (None, False)])
def test_schema_and_validator_agree_on_feedback_labels(served, label, ok):
    _, c, doc = served
    check = body_validator(doc, "/feedback")
    body = {"request_id": "20130401-" + "0" * 32, "label": label}
    assert check.is_valid(body) == ok and check.is_valid([body]) == ok
    assert (c.post("/feedback", json=body).status_code == 200) == ok
    too_long = {"request_id": "x" * 65, "label": 1}
    assert not check.is_valid(too_long) and c.post("/feedback", json=too_long).status_code == 422


def test_docs_work_offline_from_local_assets(served):
    _, c, _ = served
    page = c.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"(src|href)=['\"]https?://", page.text)  # nothing from a CDN
    for asset in re.findall(r"(?:src|href)=['\"](/docs-assets/[^'\"]+)", page.text):
        r = c.get(asset)
        assert r.status_code == 200 and len(r.content) > 100, asset
    import swagger_ui_bundle

    version = re.search(r"swagger-ui-(\d+)\.", str(swagger_ui_bundle.swagger_ui_path))
    assert c.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert int(version.group(1)) >= 5  # Swagger UI 4 cannot render OpenAPI 3.1 (a blank page)
    assert c.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered
