"""The exact engine on files: read only the tested columns, text as categories, then the detector.

Reading is most of a whole `driftlib drift` process on Parquet: building a Python string per text
value costs more than the tests. Text columns are read dictionary-encoded into pandas categoricals
(codes plus a small key array), which the detector factorizes without hashing a string per row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from driftlib.core.errors import InputError
from driftlib.drift.detector import OK, DriftDetector
from driftlib.drift.engines import sources
from driftlib.drift.engines.core import ROW_COLUMNS
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
    keep = [c for c in (columns or list(schema)) if c in schema]
    dataset = sources.parquet_dataset(src, dictionary_columns=[c for c in keep if schema[c] == STRING])
    try:
        table = dataset.to_table(columns=keep)
    except Exception as err:  # pyarrow error types vary; the user needs the file name
        raise InputError(f"{src.name} {src.path}: cannot be read ({type(err).__name__}: {err})") from None
    return table.to_pandas(split_blocks=True, self_destruct=True)


def run_exact(ref: sources.Source, cur: sources.Source, numeric, categorical, *, names=None, types=None,
              overrides=None, auto=None, exclude=(), drift_share=0.5, min_rows=1, reason="") -> EngineResult:
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


def read_parquet(path, name: str) -> pd.DataFrame:
    """A Parquet file (or dataset directory) as a DataFrame, text columns as pandas categoricals."""
    src = sources.source(path, name)
    return read_columns(src, None, sources.schema(src))
