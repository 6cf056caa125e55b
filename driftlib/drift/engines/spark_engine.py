"""The distributed engine: the same summary queries run by Spark SQL over the same Parquet layout.

Spark reads the paths itself (local paths on every worker, or hdfs://, s3a://, abfss:// URLs), so the
files are never pulled through the driver; only the aggregates come back. Master URL and Spark options
come from params (`drift.spark`), e.g. `master: spark://host:7077` or `yarn`, `options:
{spark.executor.memory: 4g}`. Needs the `spark` extra (`pip install 'driftlib[spark]'`) and Java.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.engines.summaries import BOOL, FLOAT32, FLOAT64, INT, OTHER, SPARK, STRING

_TYPES = {"ByteType": INT, "ShortType": INT, "IntegerType": INT, "LongType": INT, "FloatType": FLOAT32,
          "DoubleType": FLOAT64, "DecimalType": FLOAT64, "BooleanType": BOOL, "StringType": STRING}


def spark_session(master: str = "local[2]", app_name: str = "driftlib", options: Mapping[str, str] | None = None):
    """A SparkSession for `master` (reused if one is running: Spark allows one per process)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("drift.engine: spark needs pyspark (pip install 'driftlib[spark]')") from None
    builder = SparkSession.builder.master(master).appName(app_name)
    builder = builder.config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "8")
    builder = builder.config("spark.sql.legacy.parquet.nanosAsLong", "true")  # pandas writes ns timestamps
    for key, value in (options or {}).items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()


def _local_timestamps(paths: list[str]) -> list[str]:
    """Timestamp columns of local Parquet paths (empty for cluster URLs: Spark types those itself)."""
    if any("://" in p for p in paths):
        return []
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        schema = ds.dataset(paths, format="parquet", partitioning="hive").schema
    except (OSError, ValueError, pa.ArrowException):
        return []
    return [f.name for f in schema if pa.types.is_timestamp(f.type)]


class SparkExecutor:
    """Both sides as Spark temp views over Parquet paths (or DataFrames shipped to Spark)."""

    dialect = SPARK

    def __init__(self, reference, current, master: str = "local[2]", app_name: str = "driftlib",
                 options: Mapping[str, str] | None = None, session=None):
        self.spark = session or spark_session(master, app_name, options)
        self._schema = {}
        for side, source in (("reference", reference), ("current", current)):
            if isinstance(source, pd.DataFrame):
                df = self.spark.createDataFrame(source)
            else:
                paths = [str(p) for p in source]
                try:
                    df = self.spark.read.parquet(*paths)
                except Exception as err:  # py4j/AnalysisException: the user needs the path
                    raise InputError(f"{side} {paths[0]}: cannot be read by Spark "
                                     f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
            df.createOrReplaceTempView(self.table(side))
            self._schema[side] = {f.name: _TYPES.get(type(f.dataType).__name__, OTHER) for f in df.schema.fields}
            if not isinstance(source, pd.DataFrame):
                for name in _local_timestamps(paths):  # ns timestamps arrive as longs: not a feature
                    self._schema[side][name] = OTHER

    def table(self, side: str) -> str:
        return f"driftlib_{side}"

    def schema(self, side: str) -> dict[str, str]:
        return self._schema[side]

    def rows(self, sql: str) -> list[tuple]:
        df = self.spark.sql(sql)
        if hasattr(df, "toArrow"):  # pyspark >= 4: columnar, far faster than Row objects for histograms
            table = df.toArrow()
            return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns))))
        return [tuple(r) for r in df.collect()]

    def close(self) -> None:
        for side in ("reference", "current"):
            self.spark.catalog.dropTempView(self.table(side))
