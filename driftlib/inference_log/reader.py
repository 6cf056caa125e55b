"""Reading the inference log defensively: one bad record never fails a run.

A file is parsed by pyarrow in one go (the fast path). Whatever pyarrow cannot take whole — a torn
line after a crash, a line over `MAX_LINE_BYTES`, a hand edit that changes a field's type or shape
— sends that one file down a record-by-record path that keeps every readable record. Records that
still cannot be used are *quarantined*: left out of the frame, counted in `LogRead.quarantined`
and sampled (file, line or request id, reason) in `LogRead.quarantined_sample`:

- not a JSON object with a string `request_id` and `timestamp` (old versions, hand edits);
- a timestamp pandas cannot hold (outside 1677-09-21..2262-04-11) or cannot parse;
- `features` that are not an object of scalars, a scalar `label` missing, `flags` not an object;
- a value whose type clashes with the same column elsewhere (in the file or another file): the
  majority type wins; integers are widened to floats, anything else in the minority is quarantined.

Torn lines (invalid JSON: a crash mid-write) are reported separately as before (`torn_lines`).
"""
from __future__ import annotations

import html
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from driftlib.core.clock import utc
from driftlib.core.contracts import SkippedInput
from driftlib.core.errors import InputError
from driftlib.inference_log import compact

log = logging.getLogger("driftlib.inference_log.sink")

KINDS = ("predictions", "feedback")
PREDICTION_COLUMNS = ["request_id", "timestamp", "model_version", "prediction", "probability",
                      "unknown_categories"]
FEEDBACK_COLUMNS = ["request_id", "label", "timestamp"]
PARTITION_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
MAX_LINE_BYTES = 1 << 20  # the service refuses records far smaller; a bigger line is not ours
SAMPLE_SIZE = 10
_SCALARS = (str, int, float, bool, type(None))


@dataclass
class LogRead:
    """Records of one kind for a date range, with what was skipped (torn) or set aside (quarantined)."""

    frame: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    torn_lines: int = 0
    torn: list[tuple[str, int]] = field(default_factory=list)  # (file, 1-based line number)
    quarantined: int = 0
    quarantined_sample: list[dict] = field(default_factory=list)  # {"file", "line"|"request_id", "reason"}

    def warnings(self) -> list[str]:
        """One-line warnings for a run summary (empty when the log read cleanly)."""
        skipped = SkippedInput()
        self.report_to(skipped)
        return skipped.warnings

    def report_to(self, skipped: SkippedInput) -> None:
        """Add what this read left out (torn lines, quarantined records) to a run's `SkippedInput`."""
        if self.torn_lines:
            f, n = self.torn[0]
            skipped.add("torn", self.torn_lines, f"inference log: {self.torn_lines} torn line(s) skipped "
                        f"(first {Path(f).name}:{n})")
        if self.quarantined:
            s = self.quarantined_sample[0]
            where = f"line {s['line']}" if s.get("line") else f"request {s.get('request_id')}"
            skipped.add("quarantined", self.quarantined, f"inference log: {self.quarantined} unreadable "
                        f"record(s) quarantined (first {Path(s['file']).name} {where}: {s['reason']})")

    def to_dict(self) -> dict[str, Any]:
        return {"rows": len(self.frame), "files": [str(f) for f in self.files],
                "torn_lines": self.torn_lines,
                "torn": [{"file": f, "line": n} for f, n in self.torn],
                "quarantined": self.quarantined, "quarantined_sample": self.quarantined_sample}

    def _repr_html_(self) -> str:
        warn = "".join(f"; <b>{html.escape(w.split(': ', 1)[1])}</b>" for w in self.warnings())
        return (f"<p>Inference log: {len(self.frame):,} records from {len(self.files)} file(s)"
                f"{warn}</p>" + self.frame.head(10).to_html(index=False))


class _Quarantine:
    """Counts set-aside records and keeps the first few as a sample."""

    def __init__(self):
        self.count, self.sample = 0, []

    def add(self, file: str, reason: str, line: int | None = None, request_id: Any = None, n: int = 1):
        self.count += n
        if len(self.sample) < SAMPLE_SIZE:
            where = {"line": line} if line is not None else {"request_id": request_id}
            self.sample.append({"file": file, **where, "reason": reason})


def _as_day(value) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    return utc(value).date()


def log_files(log_dir: str | Path, kind: str, start=None, end=None) -> list[Path]:
    """Files of the date partitions in [start, end] (inclusive dates; None = open-ended)."""
    if kind not in KINDS:
        raise InputError(f"log kind '{kind}' must be one of {', '.join(KINDS)}")
    first, last = _as_day(start), _as_day(end)
    root = Path(log_dir) / kind
    if not root.is_dir():
        return []
    files = []
    for part in sorted(root.iterdir()):
        m = PARTITION_RE.match(part.name)
        if not m:
            continue
        day = date.fromisoformat(m.group(1))
        if (first and day < first) or (last and day > last):
            continue
        files.extend(sorted(part.glob("*.jsonl")))
    return files


# -- one file ---------------------------------------------------------------------------------------
_TOP_FIELDS = {"predictions": pa.schema([("request_id", pa.string()), ("timestamp", pa.string()),
                                          ("model_version", pa.string())]),
               "feedback": pa.schema([("request_id", pa.string()), ("timestamp", pa.string())])}
_NESTED = {"predictions": ("features", "flags"), "feedback": ()}


class _SlowPath(Exception):
    """The fast path cannot take this file whole."""


def _parse(data: bytes, kind: str) -> pa.Table | None:
    if not data.strip():
        return None
    options = pajson.ParseOptions(explicit_schema=_TOP_FIELDS[kind], unexpected_field_behavior="infer")
    return pajson.read_json(io.BytesIO(data), parse_options=options)


def _scalar(t: pa.DataType) -> bool:
    return not (pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t))


def _check_shape(table: pa.Table, kind: str) -> None:
    """Raise _SlowPath unless every column has the shape this module writes."""
    for f in table.schema:
        if f.name in ("request_id", "timestamp", "model_version"):
            continue
        if f.name == "features":
            if not (pa.types.is_struct(f.type) and all(_scalar(c.type) for c in f.type)):
                raise _SlowPath(f.name)
        elif f.name == "flags":
            if not pa.types.is_struct(f.type):
                raise _SlowPath(f.name)
            for c in f.type:
                if c.name != "unknown_categories" or not (
                        pa.types.is_null(c.type) or (pa.types.is_list(c.type) and (
                            pa.types.is_string(c.type.value_type) or pa.types.is_null(c.type.value_type)))):
                    raise _SlowPath("flags")
        elif not _scalar(f.type):
            raise _SlowPath(f.name)
    if kind == "feedback" and "label" not in table.column_names:
        raise _SlowPath("label")


def _fast(data: bytes, path: Path, kind: str, torn: list) -> pa.Table | None:
    cut = data.rfind(b"\n") + 1
    try:
        table = _parse(data[:cut], kind)
    except pa.ArrowInvalid as err:
        raise _SlowPath(str(err)) from None
    if data[cut:].strip():  # a torn tail after the last newline
        torn.append((str(path), data.count(b"\n") + 1))
    if table is not None:
        _check_shape(table, kind)
    return table


def _kind_of(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return type(v).__name__


def _problem(rec: Any, kind: str) -> str | None:
    """Why a decoded line is not a usable record (None if it is)."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if not isinstance(rec.get("request_id"), str) or not isinstance(rec.get("timestamp"), str):
        return "request_id and timestamp must be strings"
    for name in _NESTED[kind]:
        v = rec.get(name)
        if v is not None and not isinstance(v, dict):
            return f"{name} is not an object"
    feats = rec.get("features") or {}
    if kind == "predictions" and any(not isinstance(v, _SCALARS) for v in feats.values()):
        return "a feature value is not a scalar"
    flags = rec.get("flags") or {}
    unknown = flags.get("unknown_categories")
    if set(flags) - {"unknown_categories"} or not (
            unknown is None or (isinstance(unknown, list) and all(isinstance(u, str) for u in unknown))):
        return "flags must be {unknown_categories: [names]}"
    if kind == "feedback" and (rec.get("label") is None or not isinstance(rec["label"], _SCALARS)):
        return "label missing or not a scalar"
    for k, v in rec.items():
        if k not in ("features", "flags") and not isinstance(v, _SCALARS):
            return f"{k} is not a scalar"
    return None


def _flat(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if k not in ("features", "flags")}
    out.update(rec.get("features") or {})
    if "flags" in rec:
        out["unknown_categories"] = (rec.get("flags") or {}).get("unknown_categories")
    return out


def _slow(data: bytes, path: Path, kind: str, torn: list, bad: _Quarantine) -> pa.Table | None:
    """Record by record: keep what is usable, quarantine the rest, note torn lines."""
    name, rows, lines = str(path), [], []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            bad.add(name, f"record of {len(line):,} bytes exceeds {MAX_LINE_BYTES:,}", line=n)
            continue
        try:
            rec = msgspec.json.decode(line)
        except msgspec.DecodeError:
            torn.append((name, n))
            continue
        why = _problem(rec, kind)
        if why:
            bad.add(name, why, line=n)
            continue
        rows.append(_flat(rec))
        lines.append(n)
    # one type per column: the majority kind wins (numbers widen to float)
    kinds: dict[str, Counter] = {}
    for r in rows:
        for k, v in r.items():
            if v is not None:
                kinds.setdefault(k, Counter())[_kind_of(v)] += 1
    major = {k: c.most_common(1)[0][0] for k, c in kinds.items() if len(c) > 1}
    keep = []
    for r, n in zip(rows, lines):
        clash = next((k for k, m in major.items() if r.get(k) is not None and _kind_of(r[k]) != m), None)
        if clash:
            bad.add(name, f"'{clash}' is {_kind_of(r[clash])} where the log has {major[clash]}", line=n)
        else:
            keep.append(r)
    for k, m in major.items():
        if m == "number":
            for r in keep:
                if isinstance(r.get(k), int):
                    r[k] = float(r[k])
    if not keep:
        return None
    table = pa.Table.from_pylist(keep)
    for col in ("request_id", "timestamp", "model_version"):
        if col in table.column_names and not pa.types.is_string(table.schema.field(col).type):
            table = table.set_column(table.column_names.index(col), col, pc.cast(table[col], pa.string()))
    return table


def _flatten(table: pa.Table) -> pa.Table:
    """features.x -> x, flags.unknown_categories -> unknown_categories."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    names = [n.split(".", 1)[1] if n.startswith(("features.", "flags.")) else n
             for n in table.column_names]
    return table.rename_columns(names)


def _times(table: pa.Table, name: str, bad: _Quarantine) -> pa.Table:
    """Parse `timestamp` to UTC; quarantine rows without an id or with a time pandas cannot hold."""
    raw = table["timestamp"].to_pandas()
    ts = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
    ids = table["request_id"]
    ok = ts.notna().to_numpy() & pc.is_valid(ids).to_numpy(zero_copy_only=False)
    if not ok.all():
        for i in np.flatnonzero(~ok)[:SAMPLE_SIZE]:
            reason = "missing request_id" if ids[int(i)].as_py() is None else \
                f"timestamp {str(raw.iloc[i])[:40]!r} is not a readable time in pandas' range"
            bad.add(name, reason, request_id=ids[int(i)].as_py())
        bad.count += int((~ok).sum()) - min(int((~ok).sum()), SAMPLE_SIZE)
        table, ts = table.filter(pa.array(ok)), ts[ok]
    col = pa.array(ts.dt.as_unit("us"), type=pa.timestamp("us", tz="UTC"))
    return table.set_column(table.column_names.index("timestamp"), "timestamp", col)


def _read_file(path: Path, kind: str, torn: list, bad: _Quarantine) -> pa.Table | None:
    """One JSONL file, from its Parquet copy when that is current (`compact`): JSON is parsed once."""
    def parse():
        file_torn, file_bad = [], _Quarantine()
        table = _parse_file(path, kind, file_torn, file_bad)
        return table, {"torn": file_torn, "bad_count": file_bad.count, "bad_sample": file_bad.sample}

    table, info = compact.cached_read(path, parse)
    table = None if table is None else _plain_lists(table)
    torn.extend(tuple(t) for t in info.get("torn", []))
    if info.get("bad_count"):
        bad.count += info["bad_count"]
        bad.sample.extend(info["bad_sample"][:max(0, SAMPLE_SIZE - len(bad.sample))])
    return table


def _plain_lists(table: pa.Table) -> pa.Table:
    """Parquet names a list's values `element` where a JSON parse says `item`: one spelling, so a file
    read from its Parquet copy and one parsed today are the same column (not a type clash)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_large_list(f.type) or (pa.types.is_list(f.type) and f.type.value_field.name != "item"):
            table = table.set_column(i, f.name, pc.cast(table[f.name], pa.list_(f.type.value_type)))
    return table


def _parse_file(path: Path, kind: str, torn: list, bad: _Quarantine) -> pa.Table | None:
    data, n_torn = path.read_bytes(), len(torn)
    try:
        table = _fast(data, path, kind, torn)
    except _SlowPath:
        del torn[n_torn:]
        table = _slow(data, path, kind, torn, bad)
    else:
        table = None if table is None else _flatten(table)
    if table is None or table.num_rows == 0:
        return None
    table = _times(table, str(path), bad)
    return table if table.num_rows else None


# -- across files -------------------------------------------------------------------------------
def _family(t: pa.DataType) -> str:
    """Type family for reconciling files; `null` (also list<null>: only empty lists) fits any."""
    if pa.types.is_null(t) or (pa.types.is_list(t) and pa.types.is_null(t.value_type)):
        return "null"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return str(t)


def _harmonise(tables: list[tuple[Path, pa.Table]], bad: _Quarantine) -> list[pa.Table]:
    """One type per column across files: minority types are quarantined (ints widen to floats)."""
    votes: dict[str, Counter] = {}
    floating: set[str] = set()  # columns that are floats in some file: ints widen there (one pass, not per file)
    for _, t in tables:
        for f in t.schema:
            fam = _family(f.type)
            if fam != "null":
                votes.setdefault(f.name, Counter())[fam] += t.num_rows - t[f.name].null_count
            if pa.types.is_floating(f.type):
                floating.add(f.name)
    major = {k: c.most_common(1)[0][0] for k, c in votes.items()}
    out = []
    for path, t in tables:
        for f in t.schema:
            want, fam = major.get(f.name), _family(f.type)
            if want is None or fam in ("null", want):
                if fam == "number" and not pa.types.is_floating(f.type) and f.name in floating:
                    t = t.set_column(t.column_names.index(f.name), f.name, pc.cast(t[f.name], pa.float64()))
                continue
            clash = pc.is_valid(t[f.name])
            n = pc.sum(clash).as_py() or 0
            if n:
                first = t.filter(clash)["request_id"][0].as_py()
                bad.add(str(path), f"'{f.name}' is {fam} where the log has {want}", request_id=first, n=n)
                t = t.filter(pc.invert(clash))
            t = t.drop_columns([f.name])
        if t.num_rows:
            out.append(t)
    return out


def read_log(log_dir: str | Path, kind: str = "predictions", start=None, end=None) -> LogRead:
    """Records of `kind` whose date partition lies in [start, end] (inclusive dates).

    Features are flattened to columns; `timestamp` is tz-aware UTC. Torn lines (a crash mid-write)
    are skipped and listed in `torn`; records that cannot be used are quarantined (`quarantined`,
    `quarantined_sample`); neither ever fails the read.
    """
    files = log_files(log_dir, kind, start, end)
    torn: list[tuple[str, int]] = []
    bad = _Quarantine()
    tables = []
    for f in files:
        try:
            t = _read_file(f, kind, torn, bad)
        except OSError as err:
            raise InputError(f"{f}: inference log cannot be read ({err.strerror or err})") from None
        if t is not None:
            tables.append((f, t))
    tables = _harmonise(tables, bad) if len(tables) > 1 else [t for _, t in tables]
    if torn:
        log.warning("inference log: skipped %d torn line(s), first in %s:%d", len(torn), *torn[0])
    if bad.count:
        log.warning("inference log: quarantined %d unreadable record(s), first: %s", bad.count, bad.sample[0])
    base = PREDICTION_COLUMNS if kind == "predictions" else FEEDBACK_COLUMNS
    if not tables:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in base})
        frame["timestamp"] = pd.Series(dtype="datetime64[ns, UTC]")
    else:
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        frame["timestamp"] = frame["timestamp"].dt.as_unit("ns")
    if kind == "predictions" and "unknown_categories" not in frame:
        frame["unknown_categories"] = [[] for _ in range(len(frame))]
    return LogRead(frame=frame, files=files, torn_lines=len(torn), torn=torn,
                   quarantined=bad.count, quarantined_sample=bad.sample)


def join_feedback(pred: pd.DataFrame, fb: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Add `label` and `label_timestamp`: the latest feedback per request_id received before
    `as_of` (all of it when None). Predictions without such feedback get NaN / NaT; feedback for
    ids that are not in `pred` is ignored."""
    out = pred.copy()
    fb = fb[["request_id", "label", "timestamp"]] if len(fb) else fb
    if len(fb) and as_of is not None:
        fb = fb[fb["timestamp"] < utc(as_of)]
    if not len(fb):
        out["label"] = pd.Series(float("nan"), index=out.index, dtype="float64")
        out["label_timestamp"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
        return out
    latest = (fb.sort_values("timestamp", kind="stable")
              .drop_duplicates("request_id", keep="last")
              .rename(columns={"timestamp": "label_timestamp"})
              .set_index("request_id"))
    out["label"] = out["request_id"].map(latest["label"])
    out["label_timestamp"] = out["request_id"].map(latest["label_timestamp"])
    return out
