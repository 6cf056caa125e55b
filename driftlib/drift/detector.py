"""Data drift detector: Evidently 0.7's verdicts, fitted once on a reference, scored on any window.

    det = DriftDetector(numeric=["age"], categorical=["city"]).fit(reference)
    res = det.score(current)                     # DriftResult: .table, .dataset_drift, .to_dict()
    win = det.score_windows(log, timestamp="ts", window="1D", min_rows=200)   # WindowedDrift

The reference is reduced at `fit` to sorted values, std, prefix sums and category counts
(`driftlib.drift.stats`); scoring a window then costs a sort of that window per numeric column and a count
per categorical column, column tasks running on threads (numpy releases the GIL). A window with fewer
than `min_rows` rows, or a column with fewer non-null values, is "insufficient data", never "no drift";
a column that is missing, changed type, has no values or gets a score that is not a finite number is
"untestable": named in the headline (`DriftResult.headline_text`), a critical finding, and never
counted as "not drifted" (see `DriftResult`). Scores are computed so finite input cannot overflow.
"""
from __future__ import annotations

import html
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from driftlib.core.clock import utc
from driftlib.core.errors import ConfigError, InputError, NotFittedError
from driftlib.core.jsonio import to_jsonable
from driftlib.drift.stats import (
    CATEGORICAL,
    NUMERIC,
    CategoricalSample,
    NumericSample,
    StatTest,
    default_stat_test,
    encode,
    get_stat_test,
    n_unique_union,
    numeric_array,
    sample,
)
from driftlib.drift.stats.registry import FEW_VALUES

OK = "ok"
INSUFFICIENT = "insufficient data"
MISSING = "missing column"
INVALID = "type changed"
EMPTY = "no values"
NOT_TESTABLE = "not testable"
NO_REFERENCE = "no reference data"
REASONS = {NOT_TESTABLE: "score not computable"}  # how a status reads in the headline, where it differs
DRIFT, NO_DRIFT, UNDETERMINED = "drift", "no drift", "undetermined"
EVIDENTLY_INT_CATEGORIES = 10  # Evidently types an int column with at most this many values categorical
FEATURE, OUTPUT = "feature", "output"
KIND_ALIASES = {"num": NUMERIC, "numeric": NUMERIC, "numerical": NUMERIC,
                "cat": CATEGORICAL, "categorical": CATEGORICAL}
TABLE_COLUMNS = ["column", "kind", "role", "method", "stattest", "score", "threshold", "drifted",
                 "strength", "status", "n_ref", "n_cur"]


@dataclass
class ColumnSpec:
    """A column to test: its kind, role and the test override from params (None = Evidently's default)."""

    name: str
    kind: str
    role: str = FEATURE
    test: StatTest | None = None
    threshold: float | None = None
    auto: bool = False  # integer column typed per scored frame, as Evidently infers an unlabelled one


# -- results ------------------------------------------------------------------------------------
@dataclass
class DriftResult:
    """Drift of one current frame (or window) against the reference, one row per column.

    How columns that could not be tested count (missing, type changed, no values, too few values,
    a score that is not a finite number): `share_drifted` is the drifted share of the *tested*
    features; the untested ones are listed in `untestable` (with `untestable_reasons`), named in
    the headline and turned into critical findings (`findings()`). `dataset_drift` is True when
    the tested share reaches `drift_share`; False only when it stays below it even if every untested
    feature had drifted; otherwise None, with `verdict` "undetermined". So an untestable column can
    never make the verdict read "no drift" with confidence.
    """

    table: pd.DataFrame
    drift_share: float = 0.5
    n_rows: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    @property
    def features(self) -> pd.DataFrame:
        return self.table[self.table["role"] == FEATURE]

    @property
    def tested(self) -> pd.DataFrame:
        f = self.features
        return f[f["status"] == OK]

    @property
    def status(self) -> str:
        """"ok" when at least one feature was tested, else "insufficient data"."""
        return OK if len(self.tested) else INSUFFICIENT

    @property
    def untestable(self) -> list[str]:
        """Features that could not be tested, in table order."""
        f = self.features
        return list(f.loc[f["status"] != OK, "column"])

    @property
    def untestable_reasons(self) -> dict[str, str]:
        """{feature: status} of the untestable features."""
        f = self.features
        f = f[f["status"] != OK]
        return dict(zip(f["column"], f["status"]))

    @property
    def n_drifted(self) -> int:
        return int(self.tested["drifted"].astype(bool).sum())

    @property
    def share_drifted(self) -> float | None:
        """Drifted share of the features that could be tested (all of them when data is complete)."""
        n = len(self.tested)
        return self.n_drifted / n if n else None

    @property
    def dataset_drift(self) -> bool | None:
        """True / False as Evidently decides on the tested features; None when nothing was tested or
        when the untestable features could have tipped a "no drift" (see the class docstring)."""
        share = self.share_drifted
        if share is None:
            return None
        if share >= self.drift_share:
            return True
        n, u = len(self.tested), len(self.untestable)
        return False if (self.n_drifted + u) / (n + u) < self.drift_share else None

    @property
    def verdict(self) -> str:
        """"drift", "no drift", "undetermined" (untestable features could tip it) or "insufficient data"."""
        if self.status != OK:
            return INSUFFICIENT
        return {True: DRIFT, False: NO_DRIFT, None: UNDETERMINED}[self.dataset_drift]

    @property
    def drifted_columns(self) -> list[str]:
        """Drifted features, strongest first."""
        t = self.tested
        t = t[t["drifted"].astype(bool)].sort_values("strength", ascending=False, kind="stable")
        return list(t["column"])

    @property
    def prediction_drift(self) -> dict[str, dict] | None:
        """Model output columns scored beside the features (not counted in the share)."""
        out = self.table[self.table["role"] == OUTPUT]
        if out.empty:
            return None
        keys = ["method", "score", "threshold", "drifted", "status"]
        return {r["column"]: {k: to_jsonable(r[k]) for k in keys} for _, r in out.iterrows()}

    def findings(self) -> list:
        """Critical data quality findings, one per untestable feature (`driftlib.drift.quality.Finding`).
        A window too small to test anything gives one warning instead."""
        from driftlib.drift.quality import CRITICAL, WARNING, Finding

        if self.status != OK and set(self.untestable_reasons.values()) <= {INSUFFICIENT}:
            return [Finding("insufficient_rows", None, WARNING,
                            f"Only {self.n_rows:,} rows: too few to test drift.", float(self.n_rows))]
        return [Finding("not_testable", name, CRITICAL,
                        f"Column '{name}' could not be tested for drift: {_reason(why)}.",
                        details={"status": why})
                for name, why in self.untestable_reasons.items()]

    def to_dict(self) -> dict[str, Any]:
        """The `driftlib drift --json` shape: the contract keys first, then status details."""
        keys = ["column", "method", "score", "threshold", "drifted"]
        f = self.features
        cols = [{**{k: to_jsonable(r[k]) for k in keys}, "status": r["status"], "kind": r["kind"],
                 "n_cur": int(r["n_cur"])} for r in f.to_dict("records")]
        return {"columns": cols, "share_drifted": to_jsonable(self.share_drifted),
                "dataset_drift": self.dataset_drift, "verdict": self.verdict, "headline": self.headline,
                "n_tested": len(self.tested), "n_drifted": self.n_drifted, "untestable": self.untestable,
                "untestable_reasons": self.untestable_reasons, "n_rows": int(self.n_rows)}

    @property
    def headline(self) -> str:
        return self.headline_text()

    def headline_text(self, period: str | None = None, ranked: list[str] | None = None,
                      max_listed: int = 5) -> str:
        """The one sentence for reports, the CLI and summary.json.

        `period` is shown in parentheses after the counts; `ranked` (drifted features in order of
        importance) replaces the strength order and is introduced as "most important".
        """
        when = f" ({period})" if period else ""
        reasons = self.untestable_reasons
        if self.status != OK:
            if set(reasons.values()) <= {INSUFFICIENT}:
                return f"Not enough data to judge drift ({self.n_rows:,} rows{', ' + period if period else ''})."
            return f"No feature could be tested{when}: {_listing(reasons, max_listed)}."
        verdict = {DRIFT: "Dataset drift", NO_DRIFT: "No dataset drift",
                   UNDETERMINED: "Dataset drift undetermined"}[self.verdict]
        testable = "testable " if reasons else ""
        text = f"{verdict}: {self.n_drifted} of {len(self.tested)} {testable}features drifted"
        top = list(ranked if ranked is not None else self.drifted_columns)[:3]
        if top and not period and ranked is None:
            text += f" ({', '.join(top)})"
        else:
            text += when
            if top:
                text += f"; {'most important' if ranked is not None else 'strongest'}: {', '.join(top)}"
        outputs = [k for k, o in (self.prediction_drift or {}).items() if o["drifted"]]
        if outputs:
            text += "; model output drifted"
        if reasons:
            text += f"; not testable: {_listing(reasons, max_listed)}"
        return text + "."

    def _repr_html_(self) -> str:
        shown = self.table[["column", "kind", "method", "score", "threshold", "drifted", "status",
                            "n_ref", "n_cur"]]
        return (f"<p><b>{html.escape(self.headline)}</b></p>"
                + shown.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-"))


def _reason(status: str) -> str:
    return REASONS.get(status, status)


def _listing(reasons: Mapping[str, str], max_listed: int) -> str:
    """"a (missing column), b (no values) and 3 more"."""
    items = [f"{name} ({_reason(why)})" for name, why in reasons.items()]
    more = len(items) - max_listed
    return ", ".join(items[:max_listed]) + (f" and {more} more" if more > 0 else "")


@dataclass
class WindowedDrift:
    """Drift per time (or row-count) window: a tidy table window x column, plus per-window verdicts."""

    results: list[DriftResult]
    window: str
    min_rows: int
    columns: list[str] = field(default_factory=list)

    @cached_property
    def table(self) -> pd.DataFrame:
        """window, start, end, n_rows, then the per-column fields of `DriftResult.table`."""
        rows = [{"window": i, "start": r.start, "end": r.end, "n_rows": r.n_rows, **row}
                for i, r in enumerate(self.results) for row in r.table.to_dict("records")]
        return pd.DataFrame(rows, columns=["window", "start", "end", "n_rows", *TABLE_COLUMNS])

    @cached_property
    def windows(self) -> pd.DataFrame:
        rows = [{"window": i, "start": r.start, "end": r.end, "n_rows": r.n_rows, "status": r.status,
                 "n_tested": len(r.tested), "n_drifted": r.n_drifted, "share_drifted": r.share_drifted,
                 "dataset_drift": r.dataset_drift, "drifted_columns": r.drifted_columns,
                 "verdict": r.verdict, "untestable": r.untestable}
                for i, r in enumerate(self.results)]
        return pd.DataFrame(rows, columns=["window", "start", "end", "n_rows", "status", "n_tested",
                                           "n_drifted", "share_drifted", "dataset_drift",
                                           "drifted_columns", "verdict", "untestable"])

    def pivot(self, value: str = "drifted", role: str | None = FEATURE) -> pd.DataFrame:
        """Window x column matrix of `value` (score, strength, drifted, status); NaN where untested."""
        t = self.table if role is None else self.table[self.table["role"] == role]
        if value != "status":
            t = t.assign(**{value: t[value].where(t["status"] == OK)})
        starts = t.drop_duplicates("window")["start"]
        index = "start" if len(t) and starts.notna().all() and starts.is_unique else "window"
        m = t.pivot(index=index, columns="column", values=value)
        return m[[c for c in self.columns if c in m.columns]]

    def first_drift(self) -> pd.Series:
        """Start (or window number) of the first drifted window per column; NaT/NaN when never."""
        drifted = self.pivot("drifted", role=None).eq(True)
        first = {c: (drifted.index[drifted[c].to_numpy()][0] if drifted[c].any() else None)
                 for c in drifted.columns}
        return pd.Series(first, name="first_drift", dtype=object)

    def to_dict(self) -> dict[str, Any]:
        w = self.windows
        return {
            "window": self.window,
            "min_rows": self.min_rows,
            "n_windows": len(w),
            "n_insufficient": int((w["status"] != OK).sum()),
            "n_drifted_windows": int(w["dataset_drift"].eq(True).sum()),
            "windows": [{"start": to_jsonable(r.start), "end": to_jsonable(r.end), "n_rows": int(r.n_rows),
                         "status": r.status, "share_drifted": to_jsonable(r.share_drifted),
                         "dataset_drift": r.dataset_drift, "drifted_columns": list(r.drifted_columns),
                         "verdict": r.verdict, "untestable": list(r.untestable)}
                        for r in w.itertuples()],
            "first_drift": {c: to_jsonable(v) for c, v in self.first_drift().items()},
        }

    def _repr_html_(self) -> str:
        w = self.windows.drop(columns=["window"])
        return (f"<p><b>{len(w)} windows of {html.escape(str(self.window))}</b>, "
                f"{int((w['status'] != OK).sum())} with insufficient data</p>"
                + w.to_html(index=False, float_format=lambda x: f"{x:.3g}", na_rep="-"))


# -- the detector -------------------------------------------------------------------------------
class DriftDetector:
    """Per-column drift tests chosen as Evidently 0.7 chooses them, with per-column overrides.

    `columns={"age": {"method": "psi", "threshold": 0.2}}` overrides a column's test;
    `outputs={"prediction": "categorical"}` scores model outputs beside the features (prediction drift)
    without counting them in the drifted share.

    Column kinds: given lists are used as given (as Evidently uses a `DataDefinition`). Without lists
    they are inferred from the reference, and integer columns follow Evidently's own inference for
    an unlabelled frame: categorical in a scored frame whose column is of int dtype with at most 10
    distinct values, numeric otherwise (`auto` names such columns when the lists are given).
    """

    def __init__(self, numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                 columns: Mapping[str, Any] | None = None, drift_share: float = 0.5, min_rows: int = 1,
                 outputs: Mapping[str, str] | None = None, exclude: Iterable[str] = (),
                 n_jobs: int | None = None, auto: Iterable[str] = ()):
        if not 0 < drift_share <= 1:
            raise ConfigError(f"drift_share: must be in (0, 1], got {drift_share}")
        self.numeric = list(numeric or [])
        self.categorical = list(categorical or [])
        self.columns = dict(columns or {})
        self.drift_share = float(drift_share)
        self.min_rows = _min_rows(min_rows)
        self.outputs = {k: _kind(v, f"outputs.{k}") for k, v in (outputs or {}).items() if k}
        self.exclude = list(exclude)
        self.n_jobs = n_jobs
        self.auto = list(auto)

    @classmethod
    def from_params(cls, params, outputs: bool = True, numeric: Iterable[str] | None = None,
                    categorical: Iterable[str] | None = None, **kwargs) -> "DriftDetector":
        """Features, overrides, drift_share and min_rows from `params`; model outputs when `outputs`.
        `numeric`/`categorical` replace the params' feature lists (e.g. the captured profile's)."""
        from driftlib.data.features import BOOKKEEPING  # imports the params model: not at module load

        c, d = params.columns, params.drift
        if numeric is None and categorical is None:
            numeric, categorical = params.features.numeric, params.features.categorical
        outs: dict[str, str] = {}
        if outputs:
            outs[c.prediction] = CATEGORICAL if params.task == "classification" else NUMERIC
            if c.probability:
                outs[c.probability] = NUMERIC
        exclude = [x for x in (c.timestamp, c.target, c.prediction, c.probability, c.id) if x]
        return cls(numeric=numeric, categorical=categorical, columns=d.columns, drift_share=d.drift_share,
                   min_rows=d.min_rows, outputs=outs, exclude=[*exclude, *BOOKKEEPING], **kwargs)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, reference: pd.DataFrame) -> "DriftDetector":
        """Reduce the reference to the statistics every later score needs."""
        if not isinstance(reference, pd.DataFrame) or reference.empty:
            raise InputError("reference: expected a non-empty DataFrame")
        specs = self._specs(reference)
        self.specs_ = {s.name: s for s in specs}
        self.auto_ = [s.name for s in specs if s.auto]  # typed per scored frame (see the class docstring)
        self.skipped_ = [k for k in self.outputs if k not in reference.columns]
        self.n_reference_ = len(reference)
        fitted = self._map(lambda s: _reference_sample(reference[s.name], s), specs)
        self.reference_ = dict(zip(self.specs_, fitted))
        return self

    def _specs(self, reference: pd.DataFrame) -> list[ColumnSpec]:
        numeric, categorical, auto = self.numeric, self.categorical, set(self.auto)
        if not numeric and not categorical:
            numeric, categorical = infer_kinds(reference, [*self.exclude, *self.outputs])
            auto |= set(evidently_int_columns(reference, numeric))
        missing = [c for c in [*numeric, *categorical] if c not in reference.columns]
        if missing:
            raise InputError(f"reference: missing feature column(s) {', '.join(missing)}")
        both = set(numeric) & set(categorical)
        if both:
            raise ConfigError(f"features: column(s) listed as numeric and categorical: {sorted(both)}")
        not_numeric = sorted(auto - set(numeric))
        if not_numeric:
            raise ConfigError(f"auto: column(s) not listed as numeric: {', '.join(map(str, not_numeric))}")
        specs = [ColumnSpec(n, NUMERIC, auto=n in auto) for n in numeric]
        specs += [ColumnSpec(n, CATEGORICAL) for n in categorical]
        specs += [ColumnSpec(n, k, OUTPUT) for n, k in self.outputs.items()
                  if n in reference.columns and n not in {s.name for s in specs}]
        names = {s.name for s in specs}
        unknown = [k for k in self.columns if k not in names and k not in self.outputs]
        if unknown:
            raise ConfigError(f"drift.columns: not a monitored column: {', '.join(map(str, unknown))}")
        for s in specs:
            self._apply_override(s)
        return specs

    def _apply_override(self, spec: ColumnSpec) -> None:
        o = self.columns.get(spec.name)
        if o is None:
            return
        method, threshold = override_fields(o)
        where = f"drift.columns.{spec.name}"
        if method:
            spec.test = get_stat_test(str(method), spec.kind, where=f"{where}.method")
        if threshold is not None:
            if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold < 0:
                raise ConfigError(f"{where}.threshold: expected a non-negative number, got {threshold!r}")
            spec.threshold = float(threshold)

    def _check_fitted(self) -> None:
        if not hasattr(self, "reference_"):
            raise NotFittedError("DriftDetector: call fit(reference) before scoring")

    def _map(self, func, items: list) -> list:
        jobs = self.n_jobs or min(8, os.cpu_count() or 1)
        if jobs <= 1 or len(items) <= 1:
            return [func(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
            return list(pool.map(func, items))

    # -- score --------------------------------------------------------------------------------
    def score(self, current: pd.DataFrame) -> DriftResult:
        """Drift of `current` against the reference, every column at once."""
        self._check_fitted()
        if not isinstance(current, pd.DataFrame):
            raise InputError("current: expected a DataFrame")
        bounds = np.array([0, len(current)])
        return self._score_bounds(current, None, bounds, [(None, None)], self.min_rows)[0]

    def score_windows(self, df: pd.DataFrame, timestamp: str | None = None, window: str | int = "1D",
                      min_rows: int | None = None, start=None, end=None) -> WindowedDrift:
        """Score every window of `df` in one pass; `window` is a pandas offset ("1D", "7D", "MS")
        or a row count (int or digits). `start`/`end` fix the span, so empty days still show up."""
        self._check_fitted()
        min_rows = self.min_rows if min_rows is None else _min_rows(min_rows)
        order, bounds, spans = split_windows(df, timestamp, window, start, end)
        results = self._score_bounds(df, order, bounds, spans, min_rows)
        return WindowedDrift(results, str(window), min_rows, list(self.specs_))

    def _score_bounds(self, df, order, bounds, spans, min_rows: int) -> list[DriftResult]:
        sizes = np.diff(bounds)

        def column_rows(spec: ColumnSpec) -> list[dict]:
            return _score_column(self.reference_[spec.name], spec, df, order, bounds, min_rows)

        per_column = self._map(column_rows, list(self.specs_.values()))
        results = []
        for i, (s, e) in enumerate(spans):
            rows = [col[i] for col in per_column]
            table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
            results.append(DriftResult(table, self.drift_share, int(sizes[i]), s, e))
        return results

    def __repr__(self) -> str:
        fitted = f", fitted on {self.n_reference_} rows" if hasattr(self, "n_reference_") else ""
        return (f"DriftDetector({len(self.numeric)} numeric, {len(self.categorical)} categorical, "
                f"drift_share={self.drift_share}, min_rows={self.min_rows}{fitted})")


def _min_rows(value) -> int:
    if int(value) < 1:
        raise ConfigError(f"min_rows: must be >= 1, got {value}")
    return int(value)


def override_fields(override) -> tuple[Any, Any]:
    """(method, threshold) of a per-column override: a params `ColumnTest` or a plain dict."""
    if isinstance(override, Mapping):
        return override.get("method"), override.get("threshold")
    return getattr(override, "method", None), getattr(override, "threshold", None)


def _kind(value: str, where: str) -> str:
    kind = KIND_ALIASES.get(str(value).lower())
    if kind is None:
        raise ConfigError(f"{where}: column type must be num or cat, got {value!r}")
    return kind


def infer_kinds(df: pd.DataFrame, exclude: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Numeric dtypes are numeric; bool, text and category are categorical; timestamps are skipped."""
    from driftlib.data.features import infer_feature_types

    skip = set(exclude) | {c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])}
    return infer_feature_types(df, [c for c in df.columns if c in skip])


def evidently_int_columns(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """Columns of int dtype (Evidently's `dtype.name.startswith("int")`: not uint, not nullable Int64)."""
    return [c for c in columns if c in df.columns and str(df[c].dtype).startswith("int")]


def _reference_sample(values: pd.Series, spec: ColumnSpec):
    try:
        ref = sample(values, spec.kind)
    except TypeError as err:
        raise InputError(f"reference: column '{spec.name}' cannot be tested as {spec.kind} "
                         f"(dtype {values.dtype}: {err})") from None
    if spec.kind == NUMERIC and ref.n:
        _ = ref.prefix, ref.std, ref.n_unique  # computed once here, read by every window
    return ref


# -- per-column scoring -------------------------------------------------------------------------
def _row(spec: ColumnSpec, ref, status: str, n_cur: int = 0, test: StatTest | None = None,
         score: float = float("nan"), threshold: float | None = None) -> dict:
    test = test or spec.test
    drifted = test.drifted(score, threshold) if status == OK else None
    return {"column": spec.name, "kind": spec.kind, "role": spec.role,
            "method": test.display_name if test else None, "stattest": test.name if test else None,
            "score": score, "threshold": threshold if threshold is not None else spec.threshold,
            "drifted": drifted,
            "strength": test.strength(score, threshold) if status == OK else float("nan"),
            "status": status, "n_ref": ref.n if ref is not None else 0, "n_cur": n_cur}


def _prepare(values: pd.Series, spec: ColumnSpec, ref) -> tuple[Any, Any]:
    """The whole column converted once: (numeric array, integer flag) or (codes, keys)."""
    if spec.kind == NUMERIC:
        return numeric_array(values)
    return encode(values, ref.keys)


def _window_sample(prepared, spec: ColumnSpec, ref, lo: int, hi: int):
    a, b = prepared
    if spec.kind == NUMERIC:
        return NumericSample.from_array(a[lo:hi], b)
    return CategoricalSample.from_codes(a[lo:hi], b, len(ref.keys))


def _as_evidently_types(ref, cur, spec: ColumnSpec, int_dtype: bool):
    """(ref, cur, spec) with an `auto` integer column switched to categorical where Evidently's
    inference would (int dtype, at most 10 distinct values in this frame)."""
    if not (spec.auto and int_dtype and cur.n_unique <= EVIDENTLY_INT_CATEGORIES):
        return ref, cur, spec
    if spec.test is not None and CATEGORICAL not in spec.test.kinds:
        return ref, cur, spec  # an explicit numeric-only test keeps the column numeric
    keys, counts = cur.unique
    cat = CategoricalSample(np.asarray(keys, dtype=object), counts, 0)
    return ref.as_categorical, cat, replace(spec, kind=CATEGORICAL)


def _score_column(ref, spec: ColumnSpec, df: pd.DataFrame, order, bounds, min_rows: int) -> list[dict]:
    n_windows = len(bounds) - 1
    if spec.name not in df.columns:
        return [_row(spec, ref, MISSING) for _ in range(n_windows)]
    if ref.n == 0:
        return [_row(spec, ref, NO_REFERENCE) for _ in range(n_windows)]
    values = df[spec.name]
    if isinstance(values, pd.DataFrame):  # duplicated column name in the current data
        return [_row(spec, ref, INVALID) for _ in range(n_windows)]
    try:
        prepared = _prepare(values, spec, ref)
    except (TypeError, ValueError):
        return [_row(spec, ref, INVALID) for _ in range(n_windows)]
    int_dtype = str(values.dtype).startswith("int")
    if order is not None:
        prepared = (prepared[0][order], prepared[1])
    rows = []
    for i in range(n_windows):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi - lo < min_rows:
            rows.append(_row(spec, ref, INSUFFICIENT))
            continue
        cur = _window_sample(prepared, spec, ref, lo, hi)
        rows.append(_score_sample(*_as_evidently_types(ref, cur, spec, int_dtype), min_rows))
    return rows


def _score_sample(ref, cur, spec: ColumnSpec, min_rows: int) -> dict:
    """One column of one window. No values is "no values", fewer than `min_rows` "insufficient
    data", and a score that is not a finite number (or a test that fails on odd data) "not
    testable": none of them can read as "not drifted"."""
    if cur.n == 0:
        return _row(spec, ref, EMPTY, 0)
    if cur.n < min_rows:
        return _row(spec, ref, INSUFFICIENT, cur.n)
    test = spec.test or default_stat_test(spec.kind, ref.n, n_unique_union(ref, cur, cap=FEW_VALUES))
    threshold = spec.threshold if spec.threshold is not None else test.default_threshold
    try:
        with np.errstate(all="ignore"):
            score = float(test.score(ref, cur))
    except (ArithmeticError, ValueError, TypeError):
        score = float("nan")
    if not math.isfinite(score):
        return _row(spec, ref, NOT_TESTABLE, cur.n, test, score, threshold)
    return _row(spec, ref, OK, cur.n, test, score, threshold)


# -- windows ------------------------------------------------------------------------------------
def _timestamps_ns(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        raise InputError(f"timestamp: no column '{column}' in the data")
    try:
        ts = pd.to_datetime(df[column], utc=True)
    except (ValueError, TypeError) as err:
        raise InputError(f"timestamp: column '{column}' is not a timestamp ({err})") from None
    return ts.dt.as_unit("ns").array.asi8


def parse_window(window: str | int) -> int | pd.DateOffset:
    """A row count (int or digits) or a pandas offset; ConfigError otherwise."""
    if isinstance(window, (int, np.integer)) or str(window).strip().isdigit():
        n = int(window)
        if n < 1:
            raise ConfigError(f"drift.window: a row count must be >= 1, got {window}")
        return n
    try:
        return pd.tseries.frequencies.to_offset(str(window))
    except ValueError:
        raise ConfigError(f"drift.window: '{window}' is neither a row count nor a pandas offset "
                          "(e.g. 1D, 7D, 12h, MS)") from None


def window_edges(tmin: pd.Timestamp, tmax: pd.Timestamp, offset: pd.DateOffset,
                 start=None, end=None) -> pd.DatetimeIndex:
    """Window boundaries covering [start, end); by default from midnight of the first day (anchored
    offsets such as MS or W-MON roll back to their anchor) to just past the last timestamp."""
    stop = utc(end) if end is not None else tmax + pd.Timedelta(1, "ns")
    if start is not None:
        first = utc(start)
    else:
        first = tmin.normalize()
        first = first if isinstance(offset, pd.offsets.Tick) else offset.rollback(first)
    edges = pd.date_range(first, stop + offset, freq=offset)
    if len(edges) == 0 or edges[0] > first:  # an anchored offset rolled a given start forward
        edges = edges.insert(0, first)
    edges = edges[: int(edges.searchsorted(stop, "left")) + 1]
    if end is not None:
        edges = edges.where(edges <= stop, stop)
    return pd.DatetimeIndex(edges).as_unit("ns")


def split_windows(df: pd.DataFrame, timestamp: str | None, window, start=None, end=None):
    """(row order or None, window boundaries into that order, [(start, end)] per window)."""
    w = parse_window(window)
    if isinstance(w, int):
        return _split_rows(df, timestamp, w)
    if timestamp is None:
        raise ConfigError("timestamp: a time window needs a timestamp column")
    ns = _timestamps_ns(df, timestamp)
    if len(ns) == 0 and (start is None or end is None):
        return None, np.array([0]), []
    tmin = pd.Timestamp(ns.min(), tz="UTC") if len(ns) else utc(start)
    tmax = pd.Timestamp(ns.max(), tz="UTC") if len(ns) else utc(end)
    edges = window_edges(tmin, tmax, w, start, end)
    ids = edges.asi8.searchsorted(ns, "right") - 1
    ids[(ids >= len(edges) - 1) | (ns < edges.asi8[0])] = -1
    n_win = len(edges) - 1
    counts = np.bincount(ids[ids >= 0], minlength=n_win)
    skipped = int(np.count_nonzero(ids < 0))  # outside [start, end): sorted first, then left out
    order = None if np.all(ids[1:] >= ids[:-1]) else np.argsort(ids, kind="stable")
    bounds = skipped + np.concatenate(([0], np.cumsum(counts)))
    spans = list(zip(edges[:-1], edges[1:]))
    return order, bounds, spans


def _split_rows(df: pd.DataFrame, timestamp: str | None, size: int):
    n = len(df)
    order = None
    spans_ts = None
    if timestamp is not None:
        ns = _timestamps_ns(df, timestamp)
        if len(ns) and not np.all(ns[1:] >= ns[:-1]):
            order = np.argsort(ns, kind="stable")
            ns = ns[order]
        spans_ts = ns
    bounds = np.append(np.arange(0, n, size), n) if n else np.array([0])
    spans = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if spans_ts is None:
            spans.append((None, None))
        else:
            spans.append((pd.Timestamp(spans_ts[lo], tz="UTC"), pd.Timestamp(spans_ts[hi - 1], tz="UTC")))
    return order, bounds, spans
