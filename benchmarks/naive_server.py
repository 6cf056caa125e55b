"""The seed-style baseline the benchmark compares against: what a first notebook-to-API port does.

A pydantic body with a free-form `features` dict, a pandas DataFrame per request, the model
unpickled once into a global, and `open(..., "a")` + write per request. Run:

    NAIVE_MODEL=model.joblib NAIVE_LOG=predictions.jsonl python benchmarks/naive_server.py PORT
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import datetime, timezone

import joblib
import pandas as pd
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

MODEL = joblib.load(os.environ["NAIVE_MODEL"])
LOG = os.environ["NAIVE_LOG"]
VERSION = os.environ.get("NAIVE_VERSION", "v0001")
app = FastAPI()


class PredictRequest(BaseModel):
    features: dict
    timestamp: str | None = None


@app.post("/predict")
def predict(req: PredictRequest) -> dict:
    df = pd.DataFrame([req.features])
    probability = float(MODEL.predict_proba(df)[0, 1])
    record = {"request_id": str(uuid.uuid4()),
              "timestamp": req.timestamp or datetime.now(timezone.utc).isoformat(),
              "model_version": VERSION, "features": req.features,
              "prediction": int(probability >= 0.5), "probability": probability}
    with open(LOG, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return {"request_id": record["request_id"], "prediction": record["prediction"],
            "probability": probability, "model_version": VERSION}


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
