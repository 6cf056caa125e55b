"""The inference log: where the service writes predictions and feedback, and how notebooks read it.

Layout (architecture.md)::

    <log_dir>/predictions/date=YYYY-MM-DD/<host>-<pid>.jsonl
    <log_dir>/feedback/date=YYYY-MM-DD/<host>-<pid>.jsonl

One file per writer process and date partition, so workers never share a file; every write is one
`os.write` of whole lines on an O_APPEND descriptor, done before the service answers, so a record
that was acknowledged survives `kill -9` of the server. A crash can still leave a torn last line:
the reader skips, counts and reports it, and a writer reopening such a file starts a fresh line.

A failed write (disk full, I/O error) leaves the file as it was: whatever part of the batch
reached the file is truncated away, so the next acknowledged record never lands on a partial
line. The sink then reports itself not writable (`failing`, `check_writable` for /health) until
a write or a probe succeeds again.

Sinks are small classes chosen by name (`params.log.sink`) from `SINKS`; a Parquet or database
sink plugs in by subclassing `Sink` and decorating it with `@register_sink("name")`.

Reading (`read_log`, `join_feedback`, `LogRead`) lives in `driftlib.inference_log.reader` and is
re-exported here.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import socket
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

import msgspec

from driftlib.core.errors import DriftlibError
from driftlib.core.names import Names
# reading: re-exported so `driftlib.inference_log.sink` stays the one import for the log
from driftlib.inference_log.reader import (FEEDBACK_COLUMNS, KINDS, PREDICTION_COLUMNS,  # noqa: F401
                                           LogRead, join_feedback, log_files, read_log)

log = logging.getLogger(__name__)

_ENCODER = msgspec.json.Encoder()  # ~6x faster than json.dumps; NaN/inf become null (valid JSON)
_ID_RE = re.compile(r"^(\d{8})-[0-9a-f]{32}$")
# A complete prediction line as this module writes it: request_id first, closing brace last.
_LINE_ID_RE = re.compile(rb'^\{"request_id":"([^"\\]+)".*\}$', re.M)


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
SINKS: Names[type["Sink"]] = Names("log.sink", kind="sink")


def register_sink(name: str) -> Callable[[type["Sink"]], type["Sink"]]:
    def deco(cls: type["Sink"]) -> type["Sink"]:
        cls.name = name
        return SINKS.register(name)(cls)
    return deco


def create_sink(params) -> "Sink":
    """The sink named by `params.log.sink`, writing under `params.log_dir`."""
    return SINKS.get(params.log.sink, source=params.source_file).from_params(params)


class Sink:
    """Where records go. Records are dicts in the architecture.md shapes, timestamps already
    formatted by `format_timestamp`. Writes must be durable (handed to the OS) on return."""

    name = "base"
    failing: str | None = None  # why the last write failed, until one succeeds again

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
        """Can the log be written now? After a failed write, a small probe file decides."""
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        if not os.access(self.log_dir, os.W_OK | os.X_OK):
            return False
        if self.failing is not None:
            with self._lock:
                self._probe()
        return self.failing is None

    def _probe(self) -> None:
        path = self.log_dir / f".probe-{self.host}-{os.getpid()}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self._write_all(fd, b"\0" * 4096)
            finally:
                os.close(fd)
                path.unlink(missing_ok=True)
        except OSError:
            return
        self.failing = None

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
        payloads = [(day, _ENCODER.encode_lines(group)) for day, group in by_day.items()]
        with self._lock:
            done: list[tuple[str, int, int]] = []  # (day, fd, size before) of this call's writes
            try:
                for day, data in payloads:  # one os.write of whole lines per partition
                    fd = self._fd(kind, day)
                    done.append((day, fd, os.lseek(fd, 0, os.SEEK_END)))
                    self._write_all(fd, data)
                    if self.fsync:
                        os.fsync(fd)
            except (OSError, LogWriteError) as err:
                for day, fd, size in done:  # all or nothing: no partial line, no half batch
                    self._rollback(kind, day, fd, size)
                cause = err.__cause__ if isinstance(err, LogWriteError) else err
                self.failing = (f"{errno.errorcode.get(cause.errno, 'OSError')}: {cause.strerror or cause}"
                                if isinstance(cause, OSError) else str(err))
                raise LogWriteError(f"cannot write the inference log ({self.failing})") from err
            self.failing = None
        return len(records)

    def _write_fd(self, fd: int, data: memoryview) -> int:
        """One os.write (a seam for tests that inject ENOSPC)."""
        return os.write(fd, data)

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._write_fd(fd, view):]

    def _rollback(self, kind: str, day: str, fd: int, size: int) -> None:
        """Cut the file back to `size`; if that fails too, drop the descriptor so the next open
        starts a fresh line after the partial one (the reader skips it as torn)."""
        try:
            os.ftruncate(fd, size)
            if self.fsync:
                os.fsync(fd)
        except OSError as err:
            log.error("inference log: cannot truncate after a failed write (%s)", err)
            self._fds.pop((kind, day), None)
            try:
                os.close(fd)
            except OSError:
                pass

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
