"""Compaction: each JSONL log file's parsed records kept as a zstd Parquet file beside the log.

A scheduled run reads months of history, but only today's file changes. Parsing JSON is most of a
read's cost, so every file is parsed once and kept as Parquet under
`<log.dir>/.parquet/<kind>/date=YYYY-MM-DD/<file>.parquet`, stamped with the JSONL file's size and
modification time. JSONL stays the source of truth: a file that grew (a late record for an old date,
today's live file) no longer matches its stamp and is parsed again; the Parquet copy is replaced
atomically, so re-running is idempotent and a crash leaves the old copy or none. What the parse set
aside (torn lines, quarantined records) is stored with it, so warnings survive the cache.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from driftlib.core.jsonio import atomic_path

CACHE_DIR = ".parquet"
STAMP_KEY = b"driftlib.source"


def cache_path(log_file: Path) -> Path:
    """`<log>/<kind>/date=D/f.jsonl` -> `<log>/.parquet/<kind>/date=D/f.parquet`."""
    day, kind, root = log_file.parent, log_file.parent.parent, log_file.parent.parent.parent
    return root / CACHE_DIR / kind.name / day.name / f"{log_file.stem}.parquet"


def _stamp(log_file: Path) -> dict:
    st = log_file.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def load(log_file: Path) -> tuple[pa.Table | None, dict] | None:
    """(table, set-aside info) from a cache that matches the JSONL file now, else None."""
    cached = cache_path(log_file)
    try:
        meta = pq.read_schema(cached).metadata or {}
        info = json.loads(meta.get(STAMP_KEY, b"{}"))
    except (OSError, ValueError, pa.ArrowInvalid):
        return None
    if info.get("stamp") != _stamp(log_file):
        return None
    if info.get("empty"):
        return None, info
    table = pq.read_table(cached)
    return table.replace_schema_metadata(None), info


def store(log_file: Path, table: pa.Table | None, info: dict, stamp: dict | None = None) -> None:
    """Write the cache atomically, stamped with the file's state *before* it was parsed (a file that
    grew meanwhile is parsed again next time); a read-only or full disk only means no cache."""
    cached = cache_path(log_file)
    payload = {**info, "stamp": stamp or _stamp(log_file), "empty": table is None}
    out = table if table is not None else pa.table({"_": pa.array([], pa.null())})
    out = out.replace_schema_metadata({**(out.schema.metadata or {}), STAMP_KEY: json.dumps(payload).encode()})
    try:
        with atomic_path(cached) as tmp:
            pq.write_table(out, tmp, compression="zstd")
    except OSError:
        pass


def cached_read(log_file: Path, parse: Callable[[], tuple[pa.Table | None, dict]]) -> tuple[pa.Table | None, dict]:
    """The file's table from the cache when it is current, else `parse()` (then cached)."""
    hit = load(log_file)
    if hit is not None:
        return hit
    stamp = _stamp(log_file)
    table, info = parse()
    store(log_file, table, info, stamp)
    return table, info


def compact(log_dir: str | Path, parse_file: Callable[[Path], tuple[pa.Table | None, dict]]) -> int:
    """Bring every log file's Parquet copy up to date (what a run does as it reads); returns files parsed."""
    parsed = 0
    for kind in ("predictions", "feedback"):
        for f in sorted(Path(log_dir, kind).glob("date=*/*.jsonl")):
            if load(f) is None:
                stamp = _stamp(f)
                store(f, *parse_file(f), stamp)
                parsed += 1
    return parsed
