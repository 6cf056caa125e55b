"""`engine: auto | exact | duckdb | spark`: pick an engine, run it, return one `EngineResult` shape.

`auto` keeps the exact in-memory detector while both sides fit `memory_budget_mb` (estimated from the
Parquet footers before anything is read) and streams them through DuckDB otherwise.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import numpy as np

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.engines import sources
from driftlib.drift.engines.core import Summaries, column_specs, infer_specs, score_all
from driftlib.drift.engines.result import EngineResult
from driftlib.drift.engines.summaries import INT
from driftlib.drift.stats import CATEGORICAL, NUMERIC

ENGINES = ("auto", "exact", "duckdb", "spark")
DEFAULT_BUDGET_MB = 2048


def resolve_kinds(ref_schema: dict[str, str], cur_schema: dict[str, str], names: list[str] | None = None,
                  types: Mapping[str, str] | None = None, exclude: Iterable[str] = ()) -> tuple[list, list]:
    """(numeric, categorical) as `driftlib drift` types them: `names` (default: the columns both sides
    have) typed by `types` where given, by their stored type otherwise (timestamps left out)."""
    types = dict(types or {})
    names = names or [c for c in ref_schema if (c in cur_schema or c in types) and c not in set(exclude)]
    unknown = [c for c in [*names, *types] if c not in ref_schema]
    if unknown:
        raise InputError(f"reference: no column(s) {', '.join(dict.fromkeys(unknown))}")
    num, cat = infer_specs({c: ref_schema[c] for c in names})
    numeric = [c for c in names if types.get(c) == NUMERIC or (c in num and c not in types)]
    categorical = [c for c in names if types.get(c) == CATEGORICAL or (c in cat and c not in types)]
    if not numeric and not categorical:
        raise InputError("no columns to compare (the two tables share no feature columns)")
    return numeric, categorical


def int_columns(schema: dict[str, str], numeric: list[str], types: Mapping[str, str] | None) -> list[str]:
    """Stored-integer numeric columns not typed by hand: Evidently re-types these per frame."""
    return [c for c in numeric if schema.get(c) == INT and c not in (types or {})]


def choose(engine: str, ref: sources.Source, cur: sources.Source, n_columns: int,
           memory_budget_mb: float) -> tuple[str, str]:
    """(engine that runs, why)."""
    if engine not in ENGINES:
        raise ConfigError(f"drift.engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        return engine, "requested"
    if ref.is_frame and cur.is_frame:
        return "exact", "both sides already in memory"
    need = sources.estimated_mb(ref, n_columns) + sources.estimated_mb(cur, n_columns)
    if need <= memory_budget_mb:
        return "exact", f"~{need:,.0f} MB fits the {memory_budget_mb:,.0f} MB memory budget"
    return "duckdb", f"~{need:,.0f} MB exceeds the {memory_budget_mb:,.0f} MB memory budget"


def _spark_settings(spark) -> dict[str, Any]:
    if spark is None:
        return {}
    if hasattr(spark, "model_dump"):
        spark = spark.model_dump()
    return {k: v for k, v in dict(spark).items() if k in ("master", "app_name", "options") and v is not None}


def compare(reference, current, numeric: list[str] | None = None, categorical: list[str] | None = None, *,
            names: list[str] | None = None, types: Mapping[str, str] | None = None,
            overrides: Mapping[str, Any] | None = None, auto: Iterable[str] | None = None,
            exclude: Iterable[str] = (), drift_share: float = 0.5,
            min_rows: int = 1, engine: str = "auto", memory_budget_mb: float = DEFAULT_BUDGET_MB,
            spark=None, threads: int | None = None) -> EngineResult:
    """Drift of `current` against `reference` (DataFrames, files, globs or Parquet dataset directories).

    Columns: `numeric`/`categorical` when given, else as `driftlib drift` types them (`names`, `types`).
    `overrides` are `drift.columns` (method/threshold per column). `auto`: integer columns typed per
    current side as Evidently types an unlabelled frame (default: every int column when the kinds are
    inferred, as `driftlib drift` does). The result says which engine ran.
    """
    if not 0 < drift_share <= 1:
        raise ConfigError(f"drift_share: must be in (0, 1], got {drift_share}")
    if int(min_rows) < 1:
        raise ConfigError(f"min_rows: must be >= 1, got {min_rows}")
    ref, cur = sources.source(reference, "reference"), sources.source(current, "current")
    n_cols = len(numeric or []) + len(categorical or []) or len(names or []) or 20
    ran, reason = choose(engine, ref, cur, n_cols, memory_budget_mb)
    if ran == "exact":
        from driftlib.drift.engines.exact import run_exact

        return run_exact(ref, cur, numeric, categorical, names=names, types=types, overrides=overrides, auto=auto,
                         exclude=exclude, drift_share=drift_share, min_rows=int(min_rows), reason=reason)
    if ran == "duckdb":
        from driftlib.drift.engines.duckdb_engine import DuckDBExecutor

        budget = max(256, int(memory_budget_mb))
        ex = DuckDBExecutor(ref.frame if ref.is_frame else ref.files, cur.frame if cur.is_frame else cur.files,
                            memory_limit_mb=budget, threads=threads)
    else:
        from driftlib.drift.engines.spark_engine import SparkExecutor

        if ref.is_csv or cur.is_csv:
            raise InputError("engine spark: reads Parquet only (convert the CSV files, or use engine duckdb)")
        ex = SparkExecutor(ref.frame if ref.is_frame else ref.spark_paths,
                           cur.frame if cur.is_frame else cur.spark_paths, **_spark_settings(spark))
    try:
        if numeric is None and categorical is None:
            numeric, categorical = resolve_kinds(ex.schema("reference"), ex.schema("current"), names, types,
                                                 exclude)
            if auto is None:
                auto = int_columns(ex.schema("reference"), numeric, types)
        specs = column_specs(numeric or [], categorical or [], overrides, auto or ())
        summ = Summaries(ex, specs).compute()
        return score_all(summ, drift_share, int(min_rows), ran, reason)
    finally:
        ex.close()


def compare_with_params(params, reference, current, **kwargs) -> EngineResult:
    """`compare` configured by a model's params: features, `drift.columns`, share, min_rows, engine."""
    from driftlib.data.features import BOOKKEEPING

    c, d = params.columns, params.drift
    f = params.features
    exclude = [x for x in (c.timestamp, c.target, c.prediction, c.probability, c.id, c.label_timestamp) if x]
    options = dict(numeric=f.numeric or None, categorical=f.categorical or None,
                   overrides=d.columns, exclude=[*exclude, *BOOKKEEPING], drift_share=d.drift_share,
                   min_rows=d.min_rows, engine=d.engine, memory_budget_mb=d.memory_budget_mb, spark=d.spark)
    if options["numeric"] or options["categorical"]:
        options["numeric"], options["categorical"] = list(f.numeric), list(f.categorical)
    options.update(kwargs)
    return compare(reference, current, **options)


def verdicts_agree(a: EngineResult, b: EngineResult, rel: float = 0.02) -> list[str]:
    """Columns whose verdicts differ between two results, except where a score is within `rel` of its
    threshold (an approximate score may land on either side there)."""
    left, right = a.table.set_index("column"), b.table.set_index("column")
    bad = []
    for name in left.index:
        x, y = left.loc[name], right.loc[name]
        if x["status"] != y["status"] or x["method"] != y["method"]:
            bad.append(f"{name}: {x['status']}/{x['method']} vs {y['status']}/{y['method']}")
        elif x["status"] == "ok" and bool(x["drifted"]) != bool(y["drifted"]):
            t = x["threshold"]
            if not (np.isclose(x["score"], t, rtol=rel) or np.isclose(y["score"], t, rtol=rel)):
                bad.append(f"{name}: drifted {x['drifted']} ({x['score']:.6g}) vs {y['drifted']} ({y['score']:.6g})")
    return bad


def cli_engine(engine: str, reference, current, memory_budget_mb: float) -> str | None:
    """The engine `driftlib drift` hands the files to, or None for its in-memory path over plain files
    (which adds the data-quality findings). A dataset directory always goes through `compare`."""
    ref, cur = sources.source(reference, "--reference"), sources.source(current, "--current")
    ran, _ = choose(engine, ref, cur, 20, memory_budget_mb)
    if ran == "exact" and not any(p and os.path.isdir(p) for p in (ref.path, cur.path)):
        return None
    return ran
