"""The inference log: where the service writes predictions and feedback, and how notebooks read it.

Layout (architecture.md)::

    <log_dir>/predictions/date=YYYY-MM-DD/<host>-<pid>.jsonl
    <log_dir>/feedback/date=YYYY-MM-DD/<host>-<pid>.jsonl

One file per writer process and date partition, so workers never share a file; every write is one
`os.write` of whole lines on an O_APPEND descriptor, done before the service answers, so a record
that was acknowledged survives `kill -9` of the server. A crash can still leave a torn last line:
the reader skips, counts and reports it, and a writer reopening such a file starts a fresh line.

Sinks are small classes chosen by name (`params.log.sink`) from `SINKS`; a Parquet or database
sink plugs in by subclassing `Sink` and decorating it with `@register_sink("name")`.
"""
from __future__ import annotations

import html
import io
import logging
import os
import re
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from driftlib.core.clock import utc
from driftlib.core.errors import ConfigError, DriftlibError, InputError

log = logging.getLogger(__name__)

KINDS = ("predictions", "feedback")
PREDICTION_COLUMNS = ["request_id", "timestamp", "model_version", "prediction", "probability",
                      "unknown_categories"]
FEEDBACK_COLUMNS = ["request_id", "label", "timestamp"]
_ENCODER = msgspec.json.Encoder()  # ~6x faster than json.dumps; NaN/inf become null (valid JSON)
_ID_RE = re.compile(r"^(\d{8})-[0-9a-f]{32}$")
# A complete prediction line as this module writes it: request_id first, closing brace last.
_LINE_ID_RE = re.compile(rb'^\{"request_id":"([^"\\]+)".*\}$', re.M)
_PARTITION_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class LogWriteError(DriftlibError):
    """The log could not be written: the service must not acknowledge the records."""


# -- record helpers ---------------------------------------------------------------------------
def format_timestamp(ts: datetime) -> str:
    """UTC ISO with a fixed shape (microseconds, +00:00) so readers never guess formats."""
    if ts.tzinfo is None:
        return ts.isoformat(timespec="microseconds") + "+00:00"
    if ts.utcoffset():
        ts = ts.astimezone(timezone.utc)
    return ts.isoformat(timespec="microseconds")


def request_ids(timestamps: Sequence[str]) -> list[str]:
    """One id per formatted UTC timestamp: `YYYYMMDD-<32 random hex>`. The date names the
    partition that holds the prediction, so a feedback lookup reads one day of the log."""
    rand = os.urandom(16 * len(timestamps)).hex()  # one syscall for a whole batch
    return [f"{t[0:4]}{t[5:7]}{t[8:10]}-{rand[32 * i:32 * i + 32]}" for i, t in enumerate(timestamps)]


def new_request_id(ts: datetime) -> str:
    return request_ids([format_timestamp(ts)])[0]


def request_id_date(request_id: str) -> str | None:
    """The partition date (YYYY-MM-DD) a request id points at, or None if it is not ours."""
    m = _ID_RE.match(request_id) if isinstance(request_id, str) else None
    if not m:
        return None
    d = m.group(1)
    return f"{d[:4]}-{d[4:6]}-{d[6:]}"


def partition_dir(log_dir: Path, kind: str, day: str) -> Path:
    return Path(log_dir) / kind / f"date={day}"


# -- sinks ------------------------------------------------------------------------------------
SINKS: dict[str, type["Sink"]] = {}


def register_sink(name: str) -> Callable[[type["Sink"]], type["Sink"]]:
    def deco(cls: type["Sink"]) -> type["Sink"]:
        cls.name = name
        SINKS[name] = cls
        return cls
    return deco


def create_sink(params) -> "Sink":
    """The sink named by `params.log.sink`, writing under `params.log_dir`."""
    name = params.log.sink
    if name not in SINKS:
        raise ConfigError(f"{params.source_file}: field 'log.sink': unknown sink '{name}' "
                          f"(known: {', '.join(sorted(SINKS))})")
    return SINKS[name].from_params(params)


class Sink:
    """Where records go. Records are dicts in the architecture.md shapes, timestamps already
    formatted by `format_timestamp`. Writes must be durable (handed to the OS) on return."""

    name = "base"

    @classmethod
    def from_params(cls, params) -> "Sink":
        return cls(params.log_dir)

    def write_predictions(self, records: Sequence[dict]) -> int:
        raise NotImplementedError

    def write_feedback(self, records: Sequence[dict]) -> int:
        raise NotImplementedError

    def known_request_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of `ids` that name a logged prediction (any writer, any earlier run)."""
        raise NotImplementedError

    def check_writable(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass


@register_sink("jsonl")
class JsonlSink(Sink):
    """Append-only JSON Lines, one file per (kind, date, host-pid). Thread-safe; fork-safe (a child
    process opens its own files because the pid is part of the name)."""

    def __init__(self, log_dir: str | Path, *, host: str | None = None, fsync: bool = False,
                 max_open: int = 16):
        self.log_dir = Path(log_dir)
        self.host = host or socket.gethostname().split(".")[0]
        self.fsync = fsync
        self.max_open = max_open
        self._lock = threading.Lock()
        self._fds: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._pid = os.getpid()
        self._index = RequestIndex(self.log_dir)

    @classmethod
    def from_params(cls, params) -> "JsonlSink":
        return cls(params.log_dir, fsync=params.log.fsync)

    def file_for(self, kind: str, day: str) -> Path:
        return partition_dir(self.log_dir, kind, day) / f"{self.host}-{os.getpid()}.jsonl"

    def write_predictions(self, records: Sequence[dict]) -> int:
        return self._write("predictions", records)

    def write_feedback(self, records: Sequence[dict]) -> int:
        return self._write("feedback", records)

    def known_request_ids(self, ids: Iterable[str]) -> set[str]:
        return self._index.known(ids)

    def check_writable(self) -> bool:
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.log_dir, os.W_OK | os.X_OK)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    # -- internals ------------------------------------------------------------------------------
    def _write(self, kind: str, records: Sequence[dict]) -> int:
        by_day: dict[str, list[dict]] = {}
        for rec in records:
            by_day.setdefault(rec["timestamp"][:10], []).append(rec)
        with self._lock:
            for day, group in by_day.items():  # one os.write of whole lines per partition
                self._append(self._fd(kind, day), _ENCODER.encode_lines(group))
        return len(records)

    def _append(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
            if self.fsync:
                os.fsync(fd)
        except OSError as err:
            raise LogWriteError(f"{self.log_dir}: cannot write the inference log ({err})") from err

    def _fd(self, kind: str, day: str) -> int:
        if os.getpid() != self._pid:  # forked: the parent's descriptors are not ours to use
            self._fds.clear()
            self._pid = os.getpid()
        key = (kind, day)
        fd = self._fds.get(key)
        if fd is not None:
            self._fds.move_to_end(key)
            return fd
        fd = self._open(self.file_for(kind, day))
        self._fds[key] = fd
        while len(self._fds) > self.max_open:  # replaying a year must not exhaust descriptors
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def _open(self, path: Path) -> int:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")  # a torn tail from a crash: keep it on its own line
        except OSError as err:
            raise LogWriteError(f"{path}: cannot open the inference log ({err})") from err
        return fd


class RequestIndex:
    """Which request ids were logged, across processes and restarts, read incrementally.

    The id names its date partition, so a lookup tails only that day's files from the offset read
    last time. The `max_days` most recently used partitions are kept in memory.
    """

    def __init__(self, log_dir: str | Path, max_days: int = 31):
        self.log_dir = Path(log_dir)
        self.max_days = max_days
        self._days: OrderedDict[str, tuple[dict[str, int], set[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, ids: Iterable[str]) -> set[str]:
        wanted: dict[str, list[str]] = {}
        for rid in ids:
            day = request_id_date(rid)
            if day is not None:
                wanted.setdefault(day, []).append(rid)
        found: set[str] = set()
        with self._lock:
            for day, rids in wanted.items():
                offsets, seen = self._day(day)
                if any(r not in seen for r in rids):
                    self._refresh(day, offsets, seen)
                found.update(r for r in rids if r in seen)
        return found

    def _day(self, day: str) -> tuple[dict[str, int], set[str]]:
        entry = self._days.get(day)
        if entry is None:
            entry = self._days[day] = ({}, set())
            while len(self._days) > self.max_days:
                self._days.popitem(last=False)
        self._days.move_to_end(day)
        return entry

    def _refresh(self, day: str, offsets: dict[str, int], seen: set[str]) -> None:
        folder = partition_dir(self.log_dir, "predictions", day)
        if not folder.is_dir():
            return
        for entry in os.scandir(folder):
            if not entry.name.endswith(".jsonl"):
                continue
            start = offsets.get(entry.name, 0)
            if entry.stat().st_size <= start:
                continue
            with open(entry.path, "rb") as fh:
                fh.seek(start)
                chunk = fh.read()
            end = chunk.rfind(b"\n") + 1  # only whole lines; a line still being written waits
            seen.update(m.decode() for m in _LINE_ID_RE.findall(chunk[:end]))
            offsets[entry.name] = start + end


# -- reading ----------------------------------------------------------------------------------
@dataclass
class LogRead:
    """Records of one kind for a date range, with what was skipped."""

    frame: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    torn_lines: int = 0
    torn: list[tuple[str, int]] = field(default_factory=list)  # (file, 1-based line number)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": len(self.frame), "files": [str(f) for f in self.files],
                "torn_lines": self.torn_lines,
                "torn": [{"file": f, "line": n} for f, n in self.torn]}

    def _repr_html_(self) -> str:
        warn = (f"; <b>{self.torn_lines} torn line(s) skipped</b> "
                f"({html.escape(', '.join(f'{Path(f).name}:{n}' for f, n in self.torn[:5]))})"
                if self.torn_lines else "")
        return (f"<p>Inference log: {len(self.frame):,} records from {len(self.files)} file(s)"
                f"{warn}</p>" + self.frame.head(10).to_html(index=False))


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
        m = _PARTITION_RE.match(part.name)
        if not m:
            continue
        day = date.fromisoformat(m.group(1))
        if (first and day < first) or (last and day > last):
            continue
        files.extend(sorted(part.glob("*.jsonl")))
    return files


def _clean_lines(data: bytes, name: str, torn: list[tuple[str, int]]) -> bytes:
    """Drop lines that are not whole JSON objects (a crash's torn write), remembering where."""
    lines = data.split(b"\n")
    keep = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            if isinstance(msgspec.json.decode(line), dict):
                keep.append(line)
                continue
        except msgspec.DecodeError:
            pass
        torn.append((name, n))
    return b"\n".join(keep) + b"\n" if keep else b""


_TOP_FIELDS = {"predictions": pa.schema([("request_id", pa.string()), ("timestamp", pa.string()),
                                          ("model_version", pa.string())]),
               "feedback": pa.schema([("request_id", pa.string()), ("timestamp", pa.string())])}


def _parse(data: bytes, kind: str) -> pa.Table | None:
    if not data.strip():
        return None
    options = pajson.ParseOptions(explicit_schema=_TOP_FIELDS[kind], unexpected_field_behavior="infer")
    return pajson.read_json(io.BytesIO(data), parse_options=options)


def _read_file(path: Path, kind: str, torn: list[tuple[str, int]]) -> pa.Table | None:
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    try:  # fast path: whole lines, at most a torn tail after the last newline
        table = _parse(data[:cut], kind)
        if data[cut:].strip():
            torn.append((str(path), data.count(b"\n") + 1))
    except pa.ArrowInvalid:  # a torn line inside the file (the writer restarted after a crash)
        try:
            table = _parse(_clean_lines(data, str(path), torn), kind)
        except pa.ArrowInvalid as err:
            raise InputError(f"{path}: inference log cannot be read ({err})") from None
    return None if table is None or table.num_rows == 0 else _flatten(table)


def _flatten(table: pa.Table) -> pa.Table:
    """features.x -> x, flags.unknown_categories -> unknown_categories."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    names = [n.split(".", 1)[1] if n.startswith(("features.", "flags.")) else n
             for n in table.column_names]
    return table.rename_columns(names)


def read_log(log_dir: str | Path, kind: str = "predictions", start=None, end=None) -> LogRead:
    """Records of `kind` whose date partition lies in [start, end] (inclusive dates).

    Features are flattened to columns; `timestamp` is tz-aware UTC. Torn lines (a crash mid-write)
    are skipped, counted in `torn_lines` and listed in `torn`.
    """
    files = log_files(log_dir, kind, start, end)
    torn: list[tuple[str, int]] = []
    tables = [t for f in files if (t := _read_file(f, kind, torn)) is not None]
    if torn:
        log.warning("inference log: skipped %d torn line(s), first in %s:%d", len(torn), *torn[0])
    base = PREDICTION_COLUMNS if kind == "predictions" else FEEDBACK_COLUMNS
    if not tables:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in base})
    else:
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    if kind == "predictions" and "unknown_categories" not in frame:
        frame["unknown_categories"] = [[] for _ in range(len(frame))]
    return LogRead(frame=frame, files=files, torn_lines=len(torn), torn=torn)


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
