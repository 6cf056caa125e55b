"""Drift from summaries, whatever computes them: the passes over both sides and the per-column verdicts.

An `Executor` (DuckDB or Spark) names the two sides as SQL relations, reports their column types and
runs a query. The passes: (1) one scan per side for counts, ranges, moments and distinct estimates;
(2) exact value counts for categories and few-valued numeric columns, fine histograms for the rest;
(3) only when a column's test needs it, exact counts on the exact engine's Sturges edges. The test is
chosen by Evidently's rule from the counts, exactly as the in-memory detector chooses it.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Mapping, Protocol

import numpy as np
import pandas as pd

from driftlib.core.errors import ConfigError, InputError
from driftlib.drift.detector import (
    EVIDENTLY_INT_CATEGORIES, INSUFFICIENT, INVALID, MISSING, NO_REFERENCE, OK, TABLE_COLUMNS, ColumnSpec,
    override_fields)
from driftlib.drift.engines import scoring
from driftlib.drift.engines.result import EngineResult
from driftlib.drift.engines.summaries import (
    APPROX_CAP, BOOL, FLOAT32, FLOAT64, INT, STRING, CategoricalSummary, Dialect, Grid, NumericSummary,
    cumulative_query, hist_query, parse_cumulative, parse_hist, parse_stats, stats_query, values_query)
from driftlib.drift.stats import CATEGORICAL, NUMERIC, StatTest, default_stat_test, get_stat_test
from driftlib.drift.stats.binning import HIST_MIN_UNIQUE
from driftlib.drift.stats.registry import FEW_VALUES

NUMERIC_TYPES = (INT, FLOAT32, FLOAT64, BOOL)
ROW_COLUMNS = [*TABLE_COLUMNS, "bound", "n_null", "n_out_of_range"]
SIDES = ("reference", "current")


class Executor(Protocol):
    dialect: Dialect

    def table(self, side: str) -> str: ...  # a relation name usable in FROM

    def schema(self, side: str) -> dict[str, str]: ...  # column -> INT/FLOAT32/FLOAT64/BOOL/OTHER

    def rows(self, sql: str) -> list[tuple]: ...


def column_specs(numeric: Iterable[str], categorical: Iterable[str],
                 overrides: Mapping[str, Any] | None, auto: Iterable[str] = ()) -> list[ColumnSpec]:
    """Columns to test with their params overrides, validated as the detector validates them.
    `auto`: integer columns typed per current side as Evidently types an unlabelled frame."""
    auto = set(auto)
    specs = ([ColumnSpec(n, NUMERIC, auto=n in auto) for n in numeric]
             + [ColumnSpec(n, CATEGORICAL) for n in categorical])
    names = [s.name for s in specs]
    both = sorted({n for n in names if names.count(n) > 1})
    if both:
        raise ConfigError(f"features: column(s) listed twice or as numeric and categorical: {both}")
    unknown = [k for k in (overrides or {}) if k not in names]
    if unknown:
        raise ConfigError(f"drift.columns: not a monitored column: {', '.join(map(str, unknown))}")
    for s in specs:
        o = (overrides or {}).get(s.name)
        if o is None:
            continue
        method, threshold = override_fields(o)
        where = f"drift.columns.{s.name}"
        if method:
            s.test = get_stat_test(str(method), s.kind, where=f"{where}.method")
            if s.kind == NUMERIC and s.test.name == "hellinger":
                raise ConfigError(f"{where}.method: hellinger on a numeric column needs engine: exact "
                                  "(its bins depend on every distinct value)")
        if threshold is not None:
            if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold < 0:
                raise ConfigError(f"{where}.threshold: expected a non-negative number, got {threshold!r}")
            s.threshold = float(threshold)
    return specs


def infer_specs(schema: dict[str, str], exclude: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """The detector's typing rule on a stored schema: numbers numeric; bool and text categorical."""
    skip = set(exclude)
    numeric = [c for c, t in schema.items() if c not in skip and t in (INT, FLOAT32, FLOAT64)]
    categorical = [c for c, t in schema.items() if c not in skip and t in (BOOL, STRING)]
    return numeric, categorical


# -- the passes -----------------------------------------------------------------------------------
class Summaries:
    """Both sides' summaries of every column, computed with `executor`."""

    def __init__(self, ex: Executor, specs: list[ColumnSpec]):
        self.ex, self.specs = ex, specs
        self.schema = {side: ex.schema(side) for side in SIDES}
        ref_schema, cur_schema = self.schema["reference"], self.schema["current"]
        missing = [s.name for s in specs if s.name not in ref_schema]
        if missing:
            raise InputError(f"reference: missing feature column(s) {', '.join(missing)}")
        for s in specs:
            if s.kind == NUMERIC and ref_schema[s.name] not in NUMERIC_TYPES:
                raise InputError(f"reference: column '{s.name}' cannot be tested as numeric "
                                 f"(stored as {ref_schema[s.name]})")
        self.status = {}
        for s in specs:
            t = cur_schema.get(s.name)
            self.status[s.name] = (MISSING if t is None else
                                   INVALID if s.kind == NUMERIC and t not in NUMERIC_TYPES else OK)
        self.numeric: dict[str, dict[str, NumericSummary]] = {side: {} for side in SIDES}
        self.categorical: dict[str, dict[str, CategoricalSummary]] = {side: {} for side in SIDES}
        self.n_rows = {}

    def _columns(self, side: str, kind: str) -> dict[str, str]:
        return {s.name: self.schema[side][s.name] for s in self.specs
                if s.kind == kind and (side == "reference" or self.status[s.name] == OK)}

    def compute(self) -> "Summaries":
        for side in SIDES:
            self._stats(side)
        self._values_and_hists()
        return self

    def _stats(self, side: str) -> None:
        num, cat = self._columns(side, NUMERIC), self._columns(side, CATEGORICAL)
        ranges = None
        if side == "current":
            ranges = {n: (r.min, r.max) for n, r in self.numeric["reference"].items() if n in num}
        sql, layout = stats_query(self.ex.dialect, self.ex.table(side), num, cat, ranges)
        n_rows, nums, nulls = parse_stats(self.ex.rows(sql)[0], layout, num)
        self.n_rows[side] = n_rows
        self.numeric[side] = nums
        self.categorical[side] = {n: CategoricalSummary(n_null=k) for n, k in nulls.items()}

    def _union(self, queries: list[str]) -> list[list[tuple]]:
        """Run same-shaped queries as one UNION ALL (one job on Spark); rows per query."""
        if not queries:
            return []
        sql = " UNION ALL ".join(f"SELECT {i} AS q, t{i}.* FROM ({q}) t{i}" for i, q in enumerate(queries))
        out: list[list[tuple]] = [[] for _ in queries]
        for row in self.ex.rows(sql):
            out[int(row[0])].append(tuple(row[1:]))
        return out

    def _values_and_hists(self) -> None:
        d = self.ex.dialect
        value_jobs, hist_jobs = [], []
        for name, ref in self.numeric["reference"].items():
            cur = self.numeric["current"].get(name)
            sides = [("reference", ref)] + ([("current", cur)] if cur is not None else [])
            for side, s in sides:
                if s.n and s.n_distinct <= APPROX_CAP:
                    q = values_query(d, self.ex.table(side), name, self.schema[side][name], True)
                    value_jobs.append((side, name, f"SELECT CAST(v AS DOUBLE) AS v, n FROM ({q}) v0"))
            if cur is None or not ref.n or not cur.n:
                continue
            if ref.n_distinct > APPROX_CAP or cur.n_distinct > APPROX_CAP:
                lo, hi = ((ref.min, ref.max) if ref.n_distinct > APPROX_CAP
                          else (min(ref.min, cur.min), max(ref.max, cur.max)))
                grid = Grid(float(lo), float(hi))
                for side, s in sides:
                    s.grid = grid
                    hist_jobs.append((side, name, hist_query(d, self.ex.table(side), name,
                                                             self.schema[side][name], grid)))
        for (side, name, _), rows in zip(value_jobs, self._union([q for *_, q in value_jobs])):
            s = self.numeric[side][name]
            rows.sort(key=lambda r: r[0])
            s.values = np.array([r[0] for r in rows], dtype=np.float64)
            s.counts = np.array([r[1] for r in rows], dtype=np.int64)
        for (side, name, _), rows in zip(hist_jobs, self._union([q for *_, q in hist_jobs])):
            s = self.numeric[side][name]
            s.hist, s.below, s.above = parse_hist(rows, s.grid)
        for side in SIDES:
            for name, summary in self.categorical[side].items():
                sql = values_query(d, self.ex.table(side), name, self.schema[side][name], False)
                rows = self.ex.rows(sql)
                summary.keys = np.array([r[0] for r in rows] + [None], dtype=object)[:-1]
                summary.counts = np.array([r[1] for r in rows], dtype=np.int64)

    def sturges_counts(self, needs: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Exact counts of both sides on each column's Sturges edges (numpy for exactly counted sides)."""
        out: dict[str, list] = {name: [None, None] for name in needs}
        for i, side in enumerate(SIDES):
            scan = {}
            for name, edges in needs.items():
                s = self.numeric[side][name]
                if s.exact:
                    out[name][i] = scoring.counts_on_edges(s.values, s.counts, edges)
                else:
                    scan[name] = (self.schema[side][name], edges)
            if scan:
                sql, layout = cumulative_query(self.ex.dialect, self.ex.table(side), scan)
                for name, counts in parse_cumulative(self.ex.rows(sql)[0], layout).items():
                    out[name][i] = counts
        return {k: (v[0], v[1]) for k, v in out.items()}

    def side_values(self, side: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Exact value counts of a numeric column on one side, when its summary did not keep them."""
        q = values_query(self.ex.dialect, self.ex.table(side), name, self.schema[side][name], True)
        rows = sorted(self.ex.rows(q))
        return np.array([r[0] for r in rows], dtype=np.float64), np.array([r[1] for r in rows], dtype=np.int64)


# -- verdicts -------------------------------------------------------------------------------------
def _row(spec: ColumnSpec, status: str, n_ref: int = 0, n_cur: int = 0, test: StatTest | None = None,
         score: float = float("nan"), threshold: float | None = None, bound: float = float("nan"),
         n_null: int = 0, n_out: int = 0) -> dict:
    test = test or spec.test
    threshold = threshold if threshold is not None else spec.threshold
    ok = status == OK
    return {"column": spec.name, "kind": spec.kind, "role": spec.role,
            "method": test.display_name if test else None, "stattest": test.name if test else None,
            "score": score, "threshold": threshold, "drifted": test.drifted(score, threshold) if ok else None,
            "strength": test.strength(score, threshold) if ok else float("nan"), "status": status,
            "n_ref": n_ref, "n_cur": n_cur, "bound": bound if ok else float("nan"),
            "n_null": n_null, "n_out_of_range": n_out}


def _evidently_categorical(spec: ColumnSpec, cur: NumericSummary) -> bool:
    """The detector's `auto` rule: an int column with at most 10 values on the current side is a category."""
    if not (spec.auto and cur.dtype == INT and cur.exact and cur.n_unique <= EVIDENTLY_INT_CATEGORIES):
        return False
    return spec.test is None or CATEGORICAL in spec.test.kinds


def _choose(spec: ColumnSpec, n_ref: int, n_unique: int) -> tuple[StatTest, float]:
    test = spec.test or default_stat_test(spec.kind, n_ref, n_unique)
    return test, spec.threshold if spec.threshold is not None else test.default_threshold


def score_all(summ: Summaries, drift_share: float, min_rows: int, engine: str, reason: str = "") -> EngineResult:
    rows: dict[str, dict] = {}
    pending_sturges: dict[str, tuple] = {}
    n_cur_rows = summ.n_rows["current"]
    for spec in summ.specs:
        status = summ.status[spec.name]
        if status != OK:
            rows[spec.name] = _row(spec, status)
            continue
        if spec.kind == CATEGORICAL:
            rows[spec.name] = _score_categorical(spec, summ, min_rows, n_cur_rows)
            continue
        ref, cur = summ.numeric["reference"][spec.name], summ.numeric["current"][spec.name]
        base = dict(n_ref=ref.n, n_cur=cur.n, n_null=cur.n_null, n_out=cur.n_out_of_range)
        if ref.n == 0:
            rows[spec.name] = _row(spec, NO_REFERENCE)
            continue
        if n_cur_rows < min_rows or cur.n < min_rows:
            rows[spec.name] = _row(spec, INSUFFICIENT, **base)
            continue
        if _evidently_categorical(spec, cur):
            rv, rc = (ref.values, ref.counts) if ref.exact else summ.side_values("reference", spec.name)
            r, c = scoring.aligned(rv, rc, cur.values, cur.counts)
            cat = replace(spec, kind=CATEGORICAL)
            test, threshold = _choose(cat, ref.n, len(c.keys))
            rows[spec.name] = _row(cat, OK, test=test, score=test.score(r, c), threshold=threshold, bound=0.0, **base)
            continue
        union = scoring.n_unique_union(ref, cur)
        test, threshold = _choose(spec, ref.n, FEW_VALUES + 1 if union is None else union)
        if test.name in ("wasserstein", "ks"):
            if ref.exact and cur.exact:
                score = (scoring.wasserstein_exact if test.name == "wasserstein" else scoring.ks_exact)(ref, cur)
                bound = 0.0
            else:
                score, bound = (scoring.wasserstein_hist if test.name == "wasserstein" else scoring.ks_hist)(ref, cur)
            rows[spec.name] = _row(spec, OK, test=test, score=score, threshold=threshold, bound=bound, **base)
        elif ref.exact and ref.n_unique <= HIST_MIN_UNIQUE:  # the exact engine counts each value
            cv, cc = (cur.values, cur.counts) if cur.exact else summ.side_values("current", spec.name)
            r, c = scoring.aligned(ref.values, ref.counts, cv, cc)
            rows[spec.name] = _row(spec, OK, test=test, score=test.score(r, c), threshold=threshold,
                                   bound=0.0, **base)
        else:  # Sturges bins over both sides, counted exactly in one more pass
            pending_sturges[spec.name] = (spec, test, threshold, base, scoring.sturges(ref, cur))
    if pending_sturges:
        counts = summ.sturges_counts({k: v[4] for k, v in pending_sturges.items()})
        for name, (spec, test, threshold, base, edges) in pending_sturges.items():
            keys = np.arange(len(edges) - 1)
            r, c = scoring.aligned(keys, counts[name][0], keys, counts[name][1])
            rows[name] = _row(spec, OK, test=test, score=test.score(r, c), threshold=threshold, bound=0.0, **base)
    table = pd.DataFrame([rows[s.name] for s in summ.specs], columns=ROW_COLUMNS)
    return EngineResult(table, drift_share, n_cur_rows, engine=engine, reason=reason)


def _score_categorical(spec: ColumnSpec, summ: Summaries, min_rows: int, n_cur_rows: int) -> dict:
    ref, cur = summ.categorical["reference"][spec.name], summ.categorical["current"][spec.name]
    r, c = scoring.aligned(ref.keys, ref.counts, cur.keys, cur.counts)
    unseen = int(c.counts[len(ref.keys):].sum())
    base = dict(n_ref=ref.n, n_cur=cur.n, n_null=cur.n_null, n_out=unseen)
    if ref.n == 0:
        return _row(spec, NO_REFERENCE)
    if n_cur_rows < min_rows or cur.n < min_rows:
        return _row(spec, INSUFFICIENT, **base)
    test, threshold = _choose(spec, ref.n, len(c.keys))
    return _row(spec, OK, test=test, score=test.score(r, c), threshold=threshold, bound=0.0, **base)
