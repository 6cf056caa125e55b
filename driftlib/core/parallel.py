"""Spread independent, deterministic work (e.g. timeline windows) over the machine's cores.

The caller's process takes the first share itself (it is warm); the rest goes to loky worker processes
(joblib's executor: fresh interpreters, not forks of a kernel holding threads, reused within a process,
and children of it, so a killed run's tree takes them along). Results come back in input order and
equal a sequential run's, because each item's work seeds its own randomness.
"""
from __future__ import annotations

import importlib
import os
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_PER_PROCESS = 4  # below this a worker's start (~2 s of imports) costs more than it saves


def n_processes(n_jobs: int, n_items: int) -> int:
    """How many processes `n_items` items are worth, at most `n_jobs` and the machine's CPUs."""
    usable = min(int(n_jobs), os.cpu_count() or 1, n_items // MIN_ITEMS_PER_PROCESS)
    return max(1, usable)


def map_chunks(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], n_jobs: int) -> list[R]:
    """`fn` over one share of `items` per process, results in input order.

    Shares interleave (every k-th item) so that old and recent windows, which differ in size, are
    spread evenly. `fn` takes a list of items and returns one result per item; both must pickle."""
    items = list(items)
    k = n_processes(n_jobs, len(items))
    if k == 1:
        return list(fn(items))
    futures = [_executor(k - 1).submit(fn, items[j::k]) for j in range(1, k)]
    out: list = [None] * len(items)
    out[0::k] = fn(items[0::k])
    for j, future in enumerate(futures, start=1):
        out[j::k] = future.result()
    return out


def warm(n_jobs: int, module: str) -> None:
    """Start the worker processes now and import `module` in them, without waiting: a notebook calls
    this before reading its data, so the workers are ready when the windows are."""
    if min(int(n_jobs), os.cpu_count() or 1) > 1:
        _executor(min(int(n_jobs), os.cpu_count() or 1) - 1).submit(importlib.import_module, module)


def _executor(workers: int):
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers)
