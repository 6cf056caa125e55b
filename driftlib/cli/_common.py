"""Shared CLI plumbing: user errors become one line on stderr and a documented exit code."""
from __future__ import annotations

import errno
import functools
import sys
from typing import Callable, TypeVar

import typer

from driftlib.core.errors import DriftlibError

F = TypeVar("F", bound=Callable)
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"driftlib: error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Map DriftlibError to `driftlib: error: <message>` and its exit code; no traceback wall."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DriftlibError as err:
            fail(str(err), err.exit_code)
        except OSError as err:  # a full or read-only disk is the user's to fix, not a bug
            if err.errno not in DISK_ERRNOS:
                raise
            fail(f"{err.strerror or err}: {err.filename or '?'}", 1)
        except KeyboardInterrupt:
            typer.echo("driftlib: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
