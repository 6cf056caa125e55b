"""Per-column mergeable summaries of one side (reference or current), and the SQL that computes them.

An out-of-core engine never holds a column's values: it keeps, per column, counts (rows, nulls),
min/max, mean and M2 (for the standard deviation), exact value counts while a column has few
distinct values, and otherwise a fine histogram on a grid fixed from the reference plus the count and
sum of values outside that grid. Every part adds up across partitions (`merge`), so the same
summaries come from DuckDB, Spark or batches of a stream. The queries are plain SQL that DuckDB and
Spark SQL both run; a `Dialect` supplies the two spellings that differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

FINE_BINS = 1 << 14  # fine histogram bins over the grid: W1 error bound ~ 2 * range / (bins * std)
APPROX_CAP = 2000  # at most this many distinct values (HyperLogLog estimate): count them exactly
INT, FLOAT32, FLOAT64, BOOL, STRING, OTHER = "int64", "float32", "float64", "bool", "string", "other"


# -- summaries ------------------------------------------------------------------------------------
@dataclass
class Grid:
    """Fine histogram bins [lo, hi] in `bins` equal parts; values outside go to below/above."""

    lo: float
    hi: float
    bins: int = FINE_BINS

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.bins + 1)


@dataclass
class NumericSummary:
    """Finite values of a numeric column on one side. `values`/`counts`: exact distinct values, or None."""

    n: int = 0
    n_null: int = 0  # null, NaN and +-inf (dropped before testing, as Evidently does)
    dtype: str = FLOAT64  # how the exact engine would type this side: int64, float32 or float64
    min: float | None = None
    max: float | None = None
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean
    n_distinct: int | None = None  # approximate (HyperLogLog) unless `values` is set
    values: np.ndarray | None = None
    counts: np.ndarray | None = None
    grid: Grid | None = None
    hist: np.ndarray | None = None  # counts per fine bin of `grid`
    below: tuple[int, float] = (0, 0.0)  # (count, sum) of values < grid.lo
    above: tuple[int, float] = (0, 0.0)  # (count, sum) of values > grid.hi
    n_out_of_range: int = 0  # current side: values outside the reference's [min, max]

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else float("nan")

    @property
    def exact(self) -> bool:
        return self.values is not None

    @property
    def n_unique(self) -> int | None:
        return int(self.values.size) if self.values is not None else self.n_distinct

    def merge(self, other: "NumericSummary") -> "NumericSummary":
        """The summary of both parts together (Chan et al.'s update for the mean and M2)."""
        if not other.n and not other.n_null:
            return self
        if not self.n and not self.n_null:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n if n else 0.0
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n if n else 0.0
        out = replace(self, n=n, n_null=self.n_null + other.n_null, mean=mean, m2=m2,
                      n_out_of_range=self.n_out_of_range + other.n_out_of_range,
                      dtype=self.dtype if self.dtype == other.dtype else FLOAT64,
                      min=_opt(min, self.min, other.min), max=_opt(max, self.max, other.max),
                      n_distinct=max(self.n_distinct or 0, other.n_distinct or 0) or None)
        if self.values is not None and other.values is not None:
            out.values, out.counts = add_counts(self.values, self.counts, other.values, other.counts)
        else:
            out.values = out.counts = None
        if self.grid is not None and self.grid == other.grid and self.hist is not None and other.hist is not None:
            out.hist = self.hist + other.hist
            out.below = (self.below[0] + other.below[0], self.below[1] + other.below[1])
            out.above = (self.above[0] + other.above[0], self.above[1] + other.above[1])
        else:
            out.grid = out.hist = None
        return out


@dataclass
class CategoricalSummary:
    """Counts per category (nulls and +-inf dropped)."""

    keys: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_null: int = 0

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def merge(self, other: "CategoricalSummary") -> "CategoricalSummary":
        keys, counts = add_counts(self.keys, self.counts, other.keys, other.counts)
        return CategoricalSummary(keys, counts, self.n_null + other.n_null)


def _opt(f, a, b):
    return b if a is None else a if b is None else f(a, b)


def add_counts(k1, c1, k2, c2) -> tuple[np.ndarray, np.ndarray]:
    """Union of two (keys, counts) tables, counts added; keys of the first keep their order."""
    index = {k: i for i, k in enumerate(k1.tolist())}
    counts = list(np.asarray(c1, dtype=np.int64).tolist())
    keys = list(k1.tolist())
    for k, c in zip(k2.tolist(), np.asarray(c2).tolist()):
        i = index.get(k)
        if i is None:
            index[k] = len(keys)
            keys.append(k)
            counts.append(int(c))
        else:
            counts[i] += int(c)
    dtype = k1.dtype if k1.dtype == k2.dtype else object
    return np.array(keys, dtype=dtype), np.array(counts, dtype=np.int64)


# -- SQL ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dialect:
    """What DuckDB and Spark SQL spell differently: identifier quotes and the finite-number test."""

    quote_char: str
    finite_template: str  # "{x}" is the (quoted) column

    def quote(self, name: str) -> str:
        q = self.quote_char
        return q + str(name).replace(q, q + q) + q

    def finite(self, expr: str) -> str:
        return self.finite_template.format(x=expr)


DUCKDB = Dialect('"', "isfinite({x})")
SPARK = Dialect("`", "({x} IS NOT NULL AND NOT isnan({x}) AND abs({x}) != CAST('Infinity' AS DOUBLE))")


def literal(value: float) -> str:
    """A double literal both dialects parse exactly (a string cast, never a decimal literal)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def value_expr(d: Dialect, name: str, dtype: str, numeric: bool) -> tuple[str, str]:
    """(expression, predicate selecting its testable values) for a column of this storage type."""
    x = d.quote(name)
    if dtype == BOOL and numeric:
        x = f"CAST({x} AS INTEGER)"
    if dtype in (FLOAT32, FLOAT64):
        return x, d.finite(x)
    return x, f"{x} IS NOT NULL"


def stats_query(d: Dialect, table: str, numeric: dict[str, str], categorical: dict[str, str],
                ranges: dict[str, tuple] | None = None) -> tuple[str, list]:
    """One scan: rows, then per numeric column (n, min, max, mean, var_pop, approx distinct and, given
    the reference's range, the count outside it) and per categorical column the null count.
    Returns the SQL and how to slice its single row."""
    parts, layout = ["count(*)"], []
    for name, dtype in numeric.items():
        x, ok = value_expr(d, name, dtype, True)
        v = f"CASE WHEN {ok} THEN {x} END"
        parts += [f"count_if({ok})", f"min({v})", f"max({v})", f"avg(CAST({v} AS DOUBLE))",
                  f"var_pop(CAST({v} AS DOUBLE))", f"approx_count_distinct({v})"]
        lo_hi = (ranges or {}).get(name)
        if lo_hi is not None and lo_hi[0] is not None:
            xd = f"CAST({x} AS DOUBLE)"
            parts.append(f"count_if({ok} AND ({xd} < {literal(lo_hi[0])} OR {xd} > {literal(lo_hi[1])}))")
        layout.append((name, 7 if lo_hi is not None and lo_hi[0] is not None else 6))
    for name, dtype in categorical.items():
        _, ok = value_expr(d, name, dtype, False)
        parts.append(f"count_if(NOT coalesce({ok}, FALSE))")
        layout.append((name, 1))
    return f"SELECT {', '.join(parts)} FROM {table}", layout


def parse_stats(row, layout, numeric: dict[str, str]) -> tuple[int, dict[str, NumericSummary], dict[str, int]]:
    """The stats row as (rows, numeric summaries without histograms, categorical null counts)."""
    n_rows, i = int(row[0]), 1
    nums, nulls = {}, {}
    for name, width in layout:
        cells = row[i:i + width]
        i += width
        if width == 1:
            nulls[name] = int(cells[0])
            continue
        n, lo, hi, mean, var, distinct = cells[:6]
        n = int(n or 0)
        dtype = numeric[name]
        side_dtype = (INT if dtype in (INT, BOOL) and n == n_rows else FLOAT32 if dtype == FLOAT32 else FLOAT64)
        nums[name] = NumericSummary(n=n, n_null=n_rows - n, dtype=side_dtype, min=_num(lo), max=_num(hi),
                                    mean=float(mean or 0.0), m2=float(var or 0.0) * n,
                                    n_distinct=int(distinct or 0),
                                    n_out_of_range=int(cells[6] or 0) if width == 7 else 0)
    return n_rows, nums, nulls


def _num(v):
    if v is None:
        return None
    return int(v) if isinstance(v, (bool, int, np.integer)) else float(v)


def values_query(d: Dialect, table: str, name: str, dtype: str, numeric: bool) -> str:
    """Exact counts per distinct testable value of one column."""
    x, ok = value_expr(d, name, dtype, numeric)
    return f"SELECT {x} AS v, count(*) AS n FROM {table} WHERE {ok} GROUP BY {x}"


def hist_query(d: Dialect, table: str, name: str, dtype: str, grid: Grid) -> str:
    """Counts and sums per fine bin of `grid`; bin -1 holds values below it and `bins` those above."""
    x, ok = value_expr(d, name, dtype, True)
    xd = f"CAST({x} AS DOUBLE)"
    lo, hi = literal(grid.lo), literal(grid.hi)
    scale = literal(grid.bins / (grid.hi - grid.lo))
    b = (f"CASE WHEN {xd} < {lo} THEN -1 WHEN {xd} > {hi} THEN {grid.bins} "
         f"ELSE least(CAST(floor(({xd} - {lo}) * {scale}) AS BIGINT), {grid.bins - 1}) END")
    return f"SELECT {b} AS b, count(*) AS n, sum({xd}) AS s FROM {table} WHERE {ok} GROUP BY 1"


def parse_hist(rows, grid: Grid) -> tuple[np.ndarray, tuple[int, float], tuple[int, float]]:
    hist = np.zeros(grid.bins, dtype=np.int64)
    below, above = (0, 0.0), (0, 0.0)
    for b, n, s in rows:
        b = int(b)
        if b < 0:
            below = (int(n), float(s))
        elif b >= grid.bins:
            above = (int(n), float(s))
        else:
            hist[b] = int(n)
    return hist, below, above


def cumulative_query(d: Dialect, table: str, columns: dict[str, tuple[str, np.ndarray]]) -> tuple[str, list]:
    """Per column, the count of values < each edge but the last and <= the last: exact histogram
    counts on given edges with numpy's bin rule (`np.histogram`), in one scan."""
    parts, layout = [], []
    for name, (dtype, edges) in columns.items():
        x, ok = value_expr(d, name, dtype, True)
        xd = f"CAST({x} AS DOUBLE)"
        for e in edges[:-1]:
            parts.append(f"count_if({ok} AND {xd} < {literal(e)})")
        parts.append(f"count_if({ok} AND {xd} <= {literal(edges[-1])})")
        layout.append((name, len(edges)))
    return f"SELECT {', '.join(parts)} FROM {table}", layout


def parse_cumulative(row, layout) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for name, width in layout:
        out[name] = np.diff(np.asarray(row[i:i + width], dtype=np.int64))
        i += width
    return out
