"""How a notebook hands its result to the runner: a JSON file beside the executed notebook.

scrapbook is dormant (breaks on pandas 2); a plain `<stem>.result.json` is inspectable, diffable and
read back by later notebooks of the same run (04 reads 02 and 03).
"""
from __future__ import annotations

import json
import math
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUFFIX = ".result.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if value is pd.NaT:  # NaT is a datetime too: test it first
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if hasattr(value, "to_dict") and not isinstance(value, (str, bytes)):
        return _jsonable(value.to_dict())
    return value


def to_jsonable(value: Any) -> Any:
    """Plain JSON types only: numpy scalars unwrapped, NaN/inf -> None, timestamps -> ISO strings."""
    return _jsonable(value)


def result_path(output_dir: str | Path, notebook: str) -> Path:
    return Path(output_dir) / f"{notebook}{SUFFIX}"


def save_result(output_dir: str | Path, notebook: str, result: dict) -> Path:
    """Write atomically so the runner never reads half a file."""
    path = result_path(output_dir, notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_jsonable(result), indent=2, allow_nan=False))
    os.replace(tmp, path)
    return path


def load_result(output_dir: str | Path, notebook: str) -> dict | None:
    """The notebook's result, or None when it did not run or did not finish."""
    path = result_path(output_dir, notebook)
    if not path.is_file():
        return None
    return json.loads(path.read_text())
