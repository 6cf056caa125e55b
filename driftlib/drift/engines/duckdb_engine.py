"""The embedded out-of-core engine: DuckDB streams the Parquet files and returns only aggregates.

DuckDB runs each summary query in a streaming scan, spilling to `temp_directory` if an aggregate
outgrows `memory_limit`, so a dataset far larger than memory needs the summaries' memory only.
"""
from __future__ import annotations

import tempfile

import pandas as pd

from driftlib.core.errors import InputError
from driftlib.drift.engines.summaries import BOOL, DUCKDB, FLOAT32, FLOAT64, INT, OTHER, STRING

_TYPES = {"TINYINT": INT, "SMALLINT": INT, "INTEGER": INT, "BIGINT": INT, "HUGEINT": INT,
          "UTINYINT": INT, "USMALLINT": INT, "UINTEGER": INT, "UBIGINT": INT, "FLOAT": FLOAT32,
          "DOUBLE": FLOAT64, "BOOLEAN": BOOL, "VARCHAR": STRING}


def duckdb_type(name: str) -> str:
    name = name.upper()
    if name.startswith("DECIMAL"):
        return FLOAT64
    if name.startswith("ENUM"):
        return STRING
    return _TYPES.get(name, OTHER)


class DuckDBExecutor:
    """Both sides as DuckDB views over Parquet/CSV files (or registered DataFrames)."""

    dialect = DUCKDB

    def __init__(self, reference, current, memory_limit_mb: int = 1024, threads: int | None = None,
                 temp_directory: str | None = None):
        import duckdb

        config = {"memory_limit": f"{int(memory_limit_mb)}MB",
                  "temp_directory": temp_directory or tempfile.gettempdir(), "preserve_insertion_order": "false"}
        if threads:
            config["threads"] = str(int(threads))
        self.con = duckdb.connect(config=config)
        self.con.execute("SET enable_progress_bar = false")  # a long scan must not print into --json output
        self._schema = {}
        for side, source in (("reference", reference), ("current", current)):
            self._view(side, source)

    def _view(self, side: str, source) -> None:
        view = self.table(side)
        if isinstance(source, pd.DataFrame):
            self.con.register(f"{view}_frame", source)
            self.con.execute(f"CREATE VIEW {view} AS SELECT * FROM {view}_frame")
        else:
            files = [str(f) for f in source]
            reader = "read_csv_auto" if files[0].lower().endswith(".csv") else "read_parquet"
            extra = "" if reader == "read_csv_auto" else ", hive_partitioning = true"
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            try:
                self.con.execute(f"CREATE VIEW {view} AS SELECT * FROM {reader}([{listed}], "
                                 f"union_by_name = true{extra})")
                described = self.con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
            except Exception as err:  # duckdb raises its own IOException/InvalidInputException types
                raise InputError(f"{side} {files[0]}: cannot be read ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0]})") from None
            self._schema[side] = {r[0]: duckdb_type(r[1]) for r in described}
            return
        self._schema[side] = {r[0]: duckdb_type(r[1])
                              for r in self.con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()}

    def table(self, side: str) -> str:
        return f"driftlib_{side}"

    def schema(self, side: str) -> dict[str, str]:
        return self._schema[side]

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        self.con.close()
