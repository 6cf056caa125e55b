"""Choosing a stat test: by name from params, or by default exactly as Evidently 0.7 chooses.

Evidently's rule (`legacy/calculations/stattests/registry.py::_get_default_stattest`) looks at the
cleaned reference row count and the distinct values of reference and current together:

| column                               | reference rows <= 1000 | more rows      |
|--------------------------------------|------------------------|----------------|
| numeric, > 5 distinct                | ks                     | wasserstein    |
| numeric 3-5 distinct; categorical >2 | chisquare              | jensenshannon  |
| <= 2 distinct                        | z                      | jensenshannon  |
"""
from __future__ import annotations

from driftlib.core.errors import ConfigError
from driftlib.drift.stats.methods import STAT_TESTS, StatTest
from driftlib.drift.stats.samples import CATEGORICAL, NUMERIC

SMALL_REFERENCE = 1000  # reference rows at or below this use the p-value tests
FEW_VALUES = 5  # numeric columns with at most this many distinct values are treated as categories


def available() -> list[str]:
    return sorted(STAT_TESTS)


def get_stat_test(name: str, kind: str | None = None, where: str = "method") -> StatTest:
    """The registered test `name`; ConfigError if unknown or not applicable to `kind` (as Evidently)."""
    if name not in STAT_TESTS:
        raise ConfigError(f"{where}: unknown stat test '{name}' (choose from {', '.join(available())})")
    test = STAT_TESTS[name]
    if kind is not None and kind not in test.kinds:
        raise ConfigError(f"{where}: stat test '{name}' does not apply to a {kind} column")
    return test


def default_stat_test(kind: str, n_reference: int, n_unique: int) -> StatTest:
    """Evidently's default for a column of `kind` with these cleaned reference rows and distinct values."""
    if kind not in (NUMERIC, CATEGORICAL):
        raise ValueError(f"unknown column kind {kind!r}")
    if n_reference <= SMALL_REFERENCE:
        if kind == NUMERIC and n_unique > FEW_VALUES:
            return STAT_TESTS["ks"]
        return STAT_TESTS["chisquare"] if n_unique > 2 else STAT_TESTS["z"]
    if kind == NUMERIC and n_unique > FEW_VALUES:
        return STAT_TESTS["wasserstein"]
    return STAT_TESTS["jensenshannon"]
