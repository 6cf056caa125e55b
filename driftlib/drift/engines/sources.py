"""Where a side's data lives: a DataFrame, a file, a glob or a Parquet dataset directory; its schema and size."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from driftlib.core.errors import InputError
from driftlib.drift.engines.summaries import BOOL, FLOAT32, FLOAT64, INT, OTHER, STRING

DATA_SUFFIXES = (".parquet", ".pq", ".csv")


@dataclass
class Source:
    """One side: `frame` in memory, or `files` on disk (`path` as given, for Spark to resolve itself)."""

    name: str  # "reference" / "current", or the CLI option, for messages
    path: str | None = None
    files: list[str] | None = None
    frame: pd.DataFrame | None = None

    @property
    def is_frame(self) -> bool:
        return self.frame is not None

    @property
    def is_csv(self) -> bool:
        return bool(self.files) and self.files[0].lower().endswith(".csv")

    @property
    def spark_paths(self) -> list[str]:
        """A directory stays a directory (Spark discovers hive partitions); files stay files."""
        return [self.path] if self.path and (os.path.isdir(self.path) or "://" in self.path) else list(self.files)


def source(data, name: str) -> Source:
    """A DataFrame, a file, a glob, or a directory holding a (hive-partitioned) Parquet dataset."""
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise InputError(f"{name}: expected a non-empty table")
        return Source(name, frame=data)
    path = str(data)
    if "://" in path:  # a cluster URL: only Spark can list it
        return Source(name, path=path, files=[path])
    if os.path.isdir(path):
        files = sorted(str(p) for p in Path(path).rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise InputError(f"{name} {path}: no Parquet files in this directory")
    elif any(ch in path for ch in "*?["):
        files = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
        if not files:
            raise InputError(f"{name} {path}: the pattern matches no file")
    else:
        if not os.path.exists(path):
            raise InputError(f"{name} {path}: no such file")
        files = [path]
    bad = [f for f in files if Path(f).suffix.lower() not in DATA_SUFFIXES]
    if bad:
        raise InputError(f"{name} {bad[0]}: unsupported file type (use .parquet or .csv)")
    return Source(name, path=path, files=files)


def arrow_type(t) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return INT
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return FLOAT32
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FLOAT64
    if pa.types.is_boolean(t):
        return BOOL
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING
    return OTHER


def pandas_type(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return BOOL
    if pd.api.types.is_integer_dtype(dtype):
        return INT
    if dtype == "float32":
        return FLOAT32
    if pd.api.types.is_float_dtype(dtype):
        return FLOAT64
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return OTHER
    return STRING


def parquet_dataset(src: Source, dictionary_columns: list[str] = ()):
    """The side's files as one pyarrow dataset; `dictionary_columns` are read dictionary-encoded."""
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=list(dictionary_columns)))
    try:
        return ds.dataset(src.path if src.path and os.path.isdir(src.path) else src.files,
                          format=fmt, partitioning="hive")
    except Exception as err:  # pyarrow raises ArrowInvalid/OSError/...: the user needs the file name
        raise InputError(f"{src.name} {src.path}: cannot be read ({type(err).__name__}: {err})") from None


def schema(src: Source) -> dict[str, str] | None:
    """Column -> storage type, read from the Parquet footers (None for CSV: known only once read)."""
    if src.is_frame:
        return {c: pandas_type(t) for c, t in src.frame.dtypes.items()}
    if src.is_csv:
        return None
    return {f.name: arrow_type(f.type) for f in parquet_dataset(src).schema}


def estimated_mb(src: Source, n_columns: int) -> float:
    """Memory the exact engine needs for this side: 8-byte columns plus sorted copies (x3);
    Parquet row counts come from the footers, CSV is taken at three times its size on disk."""
    if src.is_frame:
        return 0.0  # already in memory
    if src.is_csv:
        return 3 * sum(os.path.getsize(f) for f in src.files) / 2**20
    rows = parquet_dataset(src).count_rows()
    return 3 * 8 * rows * max(n_columns, 1) / 2**20
