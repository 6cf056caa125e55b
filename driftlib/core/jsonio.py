"""Plain JSON values and atomic file writes: how every part hands data to a file or another process."""
from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` so a reader sees the old file or the new one, never half of either."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, value: Any, *, indent: int | None = 2) -> Path:
    """`to_jsonable(value)` written atomically as strict JSON (no NaN)."""
    return atomic_write_text(path, json.dumps(to_jsonable(value), indent=indent, allow_nan=False))
