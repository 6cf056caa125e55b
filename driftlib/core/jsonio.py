"""Plain JSON values and atomic file writes: how every part hands data to a file or another process.

Every file that is replaced whole goes through `atomic_path` (any writer taking a path) or `atomic_open`
(text or bytes); `atomic_write_text`, `atomic_write_bytes` and `write_json` are the one-call forms.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterator

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


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside directory `path` durable (POSIX: the directory entry is data too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False, before_replace: Callable[[], None] | None = None,
                after_replace: Callable[[], None] | None = None) -> Iterator[Path]:
    """A temporary path beside `path` (`.<name>.<random>.tmp`) for any writer that takes a path
    (Parquet, pickle, Evidently's HTML); renamed over `path` when the block ends, removed if it raises.

    A reader sees the old file or the new one, never half of either. `fsync=True` flushes the file to
    disk before the rename and the directory after it (a crash leaves the old or the new file, not an
    empty one); `before_replace` and `after_replace` run just before and after the rename (the model
    registry's fault-injection seam for tests).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if after_replace is not None:
        after_replace()
    if fsync:
        fsync_dir(path.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", fsync: bool = False,
                before_replace: Callable[[], None] | None = None,
                after_replace: Callable[[], None] | None = None) -> Iterator[IO]:
    """`open()` of a temporary file that replaces `path` when the block ends (see `atomic_path`)."""
    binary = "b" in mode
    with atomic_path(path, fsync=fsync, before_replace=before_replace, after_replace=after_replace) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding) as fh:
            yield fh


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write `data` so a reader sees the old file or the new one, never half of either."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8", fsync: bool = False) -> Path:
    """Write `text` so a reader sees the old file or the new one, never half of either."""
    with atomic_open(path, "w", encoding=encoding, fsync=fsync) as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | Path, value: Any, *, indent: int | None = 2, fsync: bool = False) -> Path:
    """`to_jsonable(value)` written atomically as strict JSON (no NaN)."""
    return atomic_write_text(path, json.dumps(to_jsonable(value), indent=indent, allow_nan=False), fsync=fsync)
