"""The service's HTTP protocol: uvicorn's, plus a deadline for request headers.

uvicorn times out idle keep-alive connections but not a client that connects and never finishes its
request line and headers (a "slowloris" client holds a connection, and a worker's file descriptor,
forever). Here a connection is closed when no request is in progress `service.header_timeout_s`
seconds after it opened or after its last response. Request bodies have their own limit in the app
(`service.body_timeout_s`, 408).
"""
from __future__ import annotations

import asyncio
import functools
import os

try:  # uvicorn[standard] brings httptools; plain uvicorn has h11 only
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base

HEADER_TIMEOUT_ENV = "DRIFTLIB_HEADER_TIMEOUT_S"  # set by run_server, read in every worker process
DEFAULT_HEADER_TIMEOUT_S = 10.0


@functools.lru_cache(maxsize=1)
def header_timeout() -> float:
    """Read once per process, at the first connection (run_server sets it before uvicorn starts)."""
    try:
        return float(os.environ.get(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_S))
    except ValueError:
        return DEFAULT_HEADER_TIMEOUT_S


class HeaderDeadlineProtocol(_Base):
    """uvicorn's HTTP protocol that closes connections whose request headers do not arrive in time."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._deadline = self.loop.call_later(header_timeout(), self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not cycle.response_complete:
            return  # headers arrived: the request is being served (its body has the app's own limit)
        if not self.transport.is_closing():
            self.transport.close()
