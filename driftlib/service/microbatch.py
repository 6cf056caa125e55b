"""Micro-batching of single `/predict` requests.

Requests that arrive while the model is busy are scored together: one `predict_proba` and one
log write per group, in the service's one scoring thread, while the event loop keeps accepting
requests. A group that fails is scored again one request at a time (unless the failure is one
that every request shares, such as the log being unwritable), so one bad record can never fail
the others queued with it.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from driftlib.service.model_holder import Served

MICRO_BATCH = 256


class MicroBatcher:
    """Scores single requests that queue up while the model is busy as one group: one predict
    call and one log write per group. No timer: under light load a group has one request."""

    def __init__(self, score: Callable[[Served, list], list], pool: ThreadPoolExecutor,
                 max_size: int = MICRO_BATCH, shared_errors: tuple[type[BaseException], ...] = ()):
        self.score, self.pool, self.max_size = score, pool, max_size
        self.shared_errors = shared_errors
        self._pending: list[tuple[Served, Any, asyncio.Future]] = []
        self._wake = asyncio.Event()

    async def submit(self, served: Served, item) -> dict:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((served, item, fut))
        self._wake.set()
        return await fut

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:self.max_size], self._pending[self.max_size:]
                groups: dict[int, list] = {}
                for entry in batch:  # a reload mid-queue: each request keeps its own version
                    groups.setdefault(id(entry[0]), []).append(entry)
                for group in groups.values():
                    await self._score(loop, group)

    async def _score(self, loop, group) -> None:
        try:
            results = await loop.run_in_executor(self.pool, self.score, group[0][0],
                                                 [item for _, item, _ in group])
        except Exception as err:  # noqa: BLE001 - handed to the waiting request(s)
            if len(group) > 1 and not isinstance(err, self.shared_errors):
                for entry in group:  # isolate the culprit: the others are answered as usual
                    await self._score(loop, [entry])
                return
            for _, _, fut in group:
                if not fut.done():
                    fut.set_exception(err)
            return
        for (_, _, fut), result in zip(group, results):
            if not fut.done():
                fut.set_result(result)
