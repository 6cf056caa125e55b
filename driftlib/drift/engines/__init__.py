"""Drift engines for data of any size: exact in memory, DuckDB out of core, Spark distributed.

    from driftlib.drift.engines import compare
    res = compare("ref.parquet", "data/current/", engine="auto")    # EngineResult
    res.engine, res.to_dict()["columns"][0]["bound"]

All engines give the detector's result shape and its test choice; out-of-core scores come from
per-column mergeable summaries (`summaries.py`) and carry an error bound where they are approximate.
"""
from driftlib.drift.engines.result import EngineResult
from driftlib.drift.engines.select import (
    DEFAULT_BUDGET_MB, ENGINES, compare, compare_with_params, resolve_kinds, verdicts_agree)

__all__ = ["DEFAULT_BUDGET_MB", "ENGINES", "EngineResult", "compare", "compare_with_params", "resolve_kinds",
           "verdicts_agree"]
