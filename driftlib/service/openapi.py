"""What /openapi.json and /docs show: request bodies from the served model's card, offline Swagger UI.

The endpoints read raw bodies (validation is pydantic-core against `RequestSchema`, faster than a
FastAPI body model), so FastAPI alone would document no request body at all and schema-driven
fuzzers would only ever send empty ones. `install` replaces `app.openapi` with a function that
adds the bodies of /predict, /predict/batch and /feedback from the adapters that validate them
(feature names, kinds, known categories, an example body), rebuilt when another version is
served. /docs serves Swagger UI from the `swagger-ui-bundle` package, so it works with no network.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

if TYPE_CHECKING:
    from driftlib.service.app import Service

DESCRIPTION = ("Predictions from the registry's current model, logged durably before they are "
               "answered; late labels on /feedback. Request bodies follow the served model's card.")
ASSETS = "/docs-assets"
_REF = "#/components/schemas/"

_ERROR = {"type": "object", "required": ["detail"], "properties": {"detail": {"anyOf": [
    {"type": "string"},
    {"type": "array", "items": {"type": "object", "required": ["loc", "msg", "type"], "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"}, "type": {"type": "string"}}}}]}}}
_VALUE = {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]}
_ANSWER = {"type": "object", "required": ["request_id", "prediction", "probability", "model_version"],
           "properties": {"request_id": {"type": "string"}, "prediction": _VALUE,
                          "probability": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                          "model_version": {"type": "string"}}}
SCHEMAS = {
    "Error": _ERROR,
    "PredictAnswer": _ANSWER,
    "BatchAnswer": {"type": "object", "required": ["model_version", "results"], "properties": {
        "model_version": {"type": "string"}, "results": {"type": "array", "items": {"$ref": _REF + "PredictAnswer"}}}},
    "FeedbackAnswer": {"type": "object", "required": ["accepted", "unknown_request_ids"], "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "unknown_request_ids": {"type": "array", "items": {"type": "string"}}}},
    "Health": {"type": "object", "required": ["status", "model_loaded", "log_writable"], "properties": {
        "status": {"enum": ["ok", "unavailable"]}, "model_loaded": {"type": "boolean"},
        "model_version": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "log_writable": {"type": "boolean"}, "sink": {"type": "string"},
        "model_error": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
}
_WHY = {"401": "missing or wrong bearer token", "408": "body not received in time (service.body_timeout_s)",
        "413": "body or batch too large (service.max_body_bytes, service.max_batch)",
        "415": "body is not JSON", "422": "invalid record: `detail[].loc` names the field",
        "503": "no model loaded, or the inference log cannot be written (nothing was logged)"}


def _json(ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + ref}}}}


def responses(answer: str, auth: bool = False) -> dict:
    """The documented answers of a POST endpoint (all JSON)."""
    out: dict[int | str, Any] = {200: _json(answer, "answered after the records were logged")}
    for code, why in _WHY.items():
        if code != "401" or auth:
            out[int(code)] = _json("Error", why)
    return out


HEALTH_RESPONSES = {200: _json("Health", "model loaded and log writable"),
                    503: _json("Health", "not ready: no model or log not writable")}
MODEL_RESPONSES = {200: {"description": "the served version's card",
                         "content": {"application/json": {"schema": {"type": "object"}}}},
                   401: _json("Error", _WHY["401"]), 503: _json("Error", "no model loaded")}
METRICS_RESPONSES = {200: {"description": "Prometheus text exposition",
                           "content": {"text/plain": {"schema": {"type": "string"}}}}}


def _body(schema: dict, description: str) -> dict:
    return {"required": True, "description": description,
            "content": {"application/json": {"schema": schema}}}


def request_bodies(svc: "Service") -> tuple[dict, dict]:
    """({path: requestBody}, component schemas) for the served version (generic without one)."""
    served, max_batch = svc.holder.current, svc.params.service.max_batch
    if served is None:
        anything = {"type": "object", "description": "no model is loaded: every request gets 503"}
        return {p: _body(anything, "no model loaded") for p in ("/predict", "/predict/batch", "/feedback")}, {}
    bodies = served.schema.openapi()
    one, defs = bodies["one"]
    many, defs_many = bodies["many"]
    many = copy.deepcopy(many)
    defs = {**defs, **defs_many}
    many["properties"]["records"]["maxItems"] = max_batch
    item = served.feedback_one.json_schema(ref_template=_REF + "{model}")
    defs.update(item.pop("$defs", {}))
    defs["Feedback"] = item
    feedback = {"oneOf": [{"$ref": _REF + "Feedback"},
                          {"type": "array", "maxItems": max_batch, "items": {"$ref": _REF + "Feedback"}}],
                "examples": [{"request_id": "20130401-" + "0" * 32, "label": _example_label(served)}]}
    return {"/predict": _body(one, f"one record for model {served.version}"),
            "/predict/batch": _body(many, f"up to service.max_batch ({max_batch}) records"),
            "/feedback": _body(feedback, "one label or a list of them; labels of the model's task "
                                         "and classes")}, defs


def _example_label(served) -> Any:
    if served.task == "regression" or not served.classes:
        return 1.0
    return served.classes[-1]


def install(app: FastAPI, svc: "Service", auth: bool = False) -> None:
    """Dynamic /openapi.json (cached per served version) and offline /docs."""
    cache: dict[str, Any] = {}

    def openapi() -> dict:
        served = svc.holder.current
        key = served.version if served else None
        if cache.get("key") != key or "schema" not in cache:
            schema = get_openapi(title=app.title, version=key or "none", description=app.description,
                                 routes=app.routes)
            bodies, defs = request_bodies(svc)
            for path, body in bodies.items():
                schema["paths"][path]["post"]["requestBody"] = body
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(SCHEMAS)
            components.update(defs)
            if auth:
                schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                for path in ("/predict", "/predict/batch", "/feedback", "/model"):
                    for op in schema["paths"][path].values():
                        op["security"] = [{"bearer": []}]
            cache.update(key=key, schema=schema)
        return cache["schema"]

    app.openapi = openapi  # type: ignore[method-assign]

    import swagger_ui_bundle

    app.mount(ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request):
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")
