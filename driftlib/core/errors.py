"""Errors a user can act on. The CLI turns them into one line and an exit code; nothing else does."""
from __future__ import annotations


class DriftlibError(Exception):
    """Base class: `str(err)` is the whole message the user sees."""

    exit_code = 1


class ConfigError(DriftlibError):
    """Bad params file, bad argument or bad input data: exit code 2."""

    exit_code = 2


class InputError(ConfigError):
    """An input file is missing or unreadable, or lacks a column: exit code 2."""


class RunFailed(DriftlibError):
    """A pipeline run finished with a failed notebook: exit code 1."""

    exit_code = 1


class NotFittedError(ConfigError, AttributeError):
    """A component scored before `fit(reference)`. One class for all of them (like scikit-learn's),
    an AttributeError too, so `hasattr`-style checks and `except AttributeError` keep working."""
