"""Processes that must not outlive the `driftlib run` that started them.

A runner killed with `kill -9` runs no cleanup, so its notebook worker and that worker's kernel
(which jupyter_client starts in a session of its own) would carry on and could promote a model
nobody reports. Three layers stop that: the worker gets a parent-death signal (Linux prctl) and
polls its parent; on either it kills its whole process tree, kernel included; and side effects
(registering, promoting) call `ensure_runner_alive()` first, a heartbeat on the runner's pid that
the kernel inherits through `RUNNER_PID_ENV`.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from driftlib.core.errors import DriftlibError

RUNNER_PID_ENV = "DRIFTLIB_RUNNER_PID"
_PR_SET_PDEATHSIG = 1


class RunnerGone(DriftlibError):
    """The run that started this process has died: its side effects would go unreported."""


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def ensure_runner_alive(action: str) -> None:
    """Refuse `action` when this process was started by a driftlib run that no longer exists."""
    pid = os.environ.get(RUNNER_PID_ENV)
    if pid and pid.isdigit() and not pid_alive(int(pid)):
        raise RunnerGone(f"refusing to {action}: the driftlib run that started this notebook "
                         f"(pid {pid}) has died, so nothing would report it")


def descendants(pid: int) -> list[int]:
    """All processes below `pid`, read from /proc (psutil when there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        try:
            import psutil
        except ImportError:
            return []
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def kill_tree(pid: int, *, include_self: bool = True) -> None:
    """SIGKILL `pid`, everything below it and the process groups they lead (the kernel's group)."""
    targets = descendants(pid) + ([pid] if include_self else [])
    for target in targets:
        try:
            if os.getpgid(target) == target and target != os.getpgrp():
                os.killpg(target, signal.SIGKILL)
        except OSError:
            pass
        if target != os.getpid():
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass


def _die(*_args) -> None:
    kill_tree(os.getpid(), include_self=False)
    os._exit(137)


def die_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Kill this process and its tree (the kernel) as soon as `parent_pid` is no longer our parent."""
    signal.signal(signal.SIGTERM, _die)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the poller below still catches it
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        _die()

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        _die()

    threading.Thread(target=poll, name="driftlib-lifeline", daemon=True).start()
