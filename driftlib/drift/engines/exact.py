"""The exact engine on files: read only the tested columns, text as categories, then the detector.

Reading is most of a whole `driftlib drift` process on Parquet: building a Python string per text
value costs more than the tests. Text columns are read dictionary-encoded into pandas categoricals
(codes plus a small key array), which the detector factorizes without hashing a string per row.

A single Parquet file is read memory-mapped in one piece, and its numeric columns without nulls become
NumPy arrays over Arrow's own buffers (read-only, no copy): on a large table each fresh page of
memory costs more than the arithmetic done on it, so a copy of every column is most of the reading.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from driftlib.core.errors import InputError
from driftlib.drift.detector import OK, DriftDetector
from driftlib.drift.engines import sources
from driftlib.drift.engines.result import EngineResult
from driftlib.drift.engines.summaries import STRING


def read_columns(src: sources.Source, columns: list[str] | None, schema: dict[str, str] | None) -> pd.DataFrame:
    """The side as a DataFrame with just `columns` (all when None); Parquet text as categoricals."""
    if src.is_frame:
        return src.frame if columns is None else src.frame[[c for c in columns if c in src.frame.columns]]
    if src.is_csv:
        from driftlib.data.tables import read_table

        frames = [read_table(f) for f in src.files]
        df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return df if columns is None else df[[c for c in columns if c in df.columns]]
    keep = [c for c in dict.fromkeys(columns or list(schema)) if c in schema]
    text = [c for c in keep if schema[c] == STRING]
    try:
        if len(src.files) == 1 and not (src.path and os.path.isdir(src.path)):
            import pyarrow.parquet as pq

            file = pq.ParquetFile(src.files[0], memory_map=True, read_dictionary=text)
            return table_to_frame(file.read(columns=keep if columns is not None else None))
        table = sources.parquet_dataset(src, dictionary_columns=text).to_table(columns=keep)
    except Exception as err:  # pyarrow error types vary; the user needs the file name
        raise InputError(f"{src.name} {src.path}: cannot be read ({type(err).__name__}: {err})") from None
    return table_to_frame(table)


def table_to_frame(table) -> pd.DataFrame:
    """`table.to_pandas()`, except that numeric columns without nulls held in one chunk are handed over
    as read-only NumPy views of the Arrow buffers. Only where pandas would build the very same dtype:
    anything the pandas metadata maps otherwise (an index column, a nullable `Int64`, a renamed or
    non-string label) goes through `to_pandas` as before."""
    import pyarrow as pa

    meta = table.schema.pandas_metadata or {}
    names = table.column_names
    index_columns = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    described = {c.get("field_name"): c for c in meta.get("columns", [])}
    labels = meta.get("column_indexes", [])
    plain_labels = len(labels) <= 1 and all(c.get("name") is None and c.get("pandas_type") == "unicode"
                                            for c in labels)
    if len(set(names)) != len(names) or not plain_labels or any(
            c.get("name") != c.get("field_name") for f, c in described.items() if f not in index_columns):
        return table.to_pandas(split_blocks=True, self_destruct=True)
    views = {}
    for name, col in zip(names, table.columns):
        t = col.type
        if (name in index_columns or col.null_count or col.num_chunks != 1
                or not (pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t))):
            continue
        dtype = np.dtype(t.to_pandas_dtype())
        if name in described and described[name].get("numpy_type") != dtype.name:
            continue
        views[name] = col.chunk(0).to_numpy(zero_copy_only=True)
    if not views:
        return table.to_pandas(split_blocks=True, self_destruct=True)
    n_rows = table.num_rows
    rest = table.drop_columns(list(views)).to_pandas(split_blocks=True, self_destruct=True)
    if len(rest) != n_rows:
        rest.index = pd.RangeIndex(n_rows)
    frame = {name: views[name] if name in views else rest[name] for name in names if name not in index_columns}
    return pd.DataFrame(frame, index=rest.index, columns=list(frame), copy=False)


def run_exact(ref: sources.Source, cur: sources.Source, numeric, categorical, *, names=None, types=None,
              overrides=None, auto=None, exclude=(), drift_share=0.5, min_rows=1, reason="") -> EngineResult:
    from driftlib.drift.engines.core import ROW_COLUMNS
    from driftlib.drift.engines.select import int_columns, resolve_kinds

    ref_schema, cur_schema = sources.schema(ref), sources.schema(cur)
    inferred = numeric is None and categorical is None
    if inferred and ref_schema is not None and cur_schema is not None:
        numeric, categorical = resolve_kinds(ref_schema, cur_schema, names, types, exclude)
    wanted = None if numeric is None and categorical is None else [*(numeric or []), *(categorical or [])]
    ref_df = read_columns(ref, wanted, ref_schema)
    cur_df = read_columns(cur, wanted, cur_schema)
    if wanted is None:  # CSV: typed once read
        numeric, categorical = resolve_kinds({c: sources.pandas_type(t) for c, t in ref_df.dtypes.items()},
                                             {c: sources.pandas_type(t) for c, t in cur_df.dtypes.items()},
                                             names, types, exclude)
    if auto is None and inferred:
        auto = int_columns({c: sources.pandas_type(t) for c, t in ref_df.dtypes.items()
                            if str(t).startswith("int")}, numeric, types)
    det = DriftDetector(numeric=numeric, categorical=categorical, columns=overrides, drift_share=drift_share,
                        min_rows=min_rows, auto=auto or ()).fit(ref_df)
    res = det.score(cur_df)
    table = res.table.copy()
    table["bound"] = np.where(table["status"] == OK, 0.0, np.nan)
    table["n_null"] = [int(cur_df[c].isna().sum()) if c in cur_df.columns else 0 for c in table["column"]]
    table["n_out_of_range"] = np.nan  # the exact engine's data-quality checks report these (drift.quality)
    return EngineResult(table[ROW_COLUMNS], res.drift_share, res.n_rows, engine="exact", reason=reason)


def read_parquet(path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file (or dataset directory) as a DataFrame, text columns as pandas categoricals;
    with `columns`, only those of them the file has."""
    src = sources.source(path, name)
    return read_columns(src, columns, sources.schema(src))
