"""A content-addressed cache for per-window results that do not change once a window is complete.

A daily run re-analyses months of windows although only the newest rows and late labels are new.
Each entry's key is a hash of everything the result depends on: the window's own rows (labels as
known on the run date included, so a late label changes the key), the fitted state (reference
fingerprint, model version) and the settings that matter. A changed reference or model is a new key,
never a stale hit; nothing is ever invalidated by hand. Entries are pickles in the state folder
(written by driftlib itself, never read from elsewhere), replaced atomically.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from driftlib.core.jsonio import atomic_open


def frame_digest(df: pd.DataFrame) -> str:
    """Order-sensitive hash of a frame's values, dtypes and column names."""
    h = hashlib.sha256(json.dumps([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    try:
        rows = pd.util.hash_pandas_object(df, index=False)
    except TypeError:  # cells holding lists or arrays (log flags): hash their text
        text = {c: df[c].map(repr) for c in df.columns if df[c].dtype == object}
        rows = pd.util.hash_pandas_object(df.assign(**text), index=False)
    h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


def key_of(*parts: Any) -> str:
    """A stable key from strings, numbers, dicts and frames."""
    h = hashlib.sha256()
    for p in parts:
        h.update(frame_digest(p).encode() if isinstance(p, pd.DataFrame)
                 else json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


class ResultCache:
    """`get(key, compute)`: the stored result, or `compute()` stored under `key`. `None` folder: no cache."""

    def __init__(self, folder: str | Path | None):
        self.folder = None if folder is None else Path(folder)
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pkl"

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        found, value = self.lookup(key)
        if found:
            return value
        value = compute()
        self.put(key, value)
        return value

    def lookup(self, key: str) -> tuple[bool, Any]:
        """(True, stored value) or (False, None): for callers that compute their misses together."""
        if self.folder is None:
            return False, None
        try:
            with open(self._path(key), "rb") as fh:
                value = pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            self.misses += 1
            return False, None
        self.hits += 1
        return True, value

    def put(self, key: str, value: Any) -> None:
        if self.folder is not None:
            self._store(self._path(key), value)

    def _store(self, path: Path, value: Any) -> None:
        try:
            with atomic_open(path, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:  # a full or read-only disk costs speed, never the result
            pass


def state_cache(params) -> ResultCache | None:
    """The state folder's cache of finished windows (`state_dir/cache`), None when `run.cache` is off.
    Notebook 02's drift windows and notebook 03's concept windows share it."""
    return ResultCache(params.state_dir / "cache") if params.run.cache else None
