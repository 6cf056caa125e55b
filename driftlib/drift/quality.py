"""Data quality beside drift: what changed in the data itself, reported as findings, never a crash.

    q = DataQualityChecker(numeric=["age"], categorical=["city"]).fit(reference).score(current)
    q.table            # one row per finding: check, column, severity, message, value, reference
    q.counts()         # {"critical": 0, "warning": 2, "info": 1, "total": 3}

Checks: schema (missing/extra columns, type changes), change of the missing-value share per column,
unseen categories and their share, numeric values outside the reference range, and extreme values
(critical: even one can flatten a binned drift test or dominate a mean). `score(current, drift=res)`
adds a critical finding for every column the drift detector could not test. Also here: ranking
drifted features by the model's feature importance, so the headline names the drift that matters.
"""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from driftlib.core.errors import InputError, NotFittedError

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1, INFO: 2}


@dataclass
class Finding:
    """One thing a reader should know about the current data, in one plain sentence."""

    check: str
    column: str | None
    severity: str
    message: str
    value: float | None = None
    reference: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class QualityResult:
    findings: list[Finding]
    n_rows: int = 0

    @property
    def table(self) -> pd.DataFrame:
        rows = sorted((asdict(f) for f in self.findings), key=lambda f: SEVERITY_ORDER[f["severity"]])
        return pd.DataFrame(rows, columns=["check", "column", "severity", "message", "value",
                                           "reference", "details"])

    def counts(self) -> dict[str, int]:
        c = {s: sum(f.severity == s for f in self.findings) for s in SEVERITY_ORDER}
        return {**c, "total": len(self.findings)}

    def by_check(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.check] = out.get(f.check, 0) + 1
        return out

    @property
    def headline(self) -> str:
        c = self.counts()
        if not c["total"]:
            return "No data quality findings."
        return f"{c['total']} data quality finding(s): {c['critical']} critical, {c['warning']} warnings."

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "by_check": self.by_check(),
                "findings": [{k: v for k, v in asdict(f).items() if k != "details"} for f in self.findings]}

    def _repr_html_(self) -> str:
        if not self.findings:
            return f"<p><b>{self.headline}</b></p>"
        t = self.table[["severity", "check", "column", "message"]]
        return f"<p><b>{html.escape(self.headline)}</b></p>" + t.to_html(index=False, na_rep="")


def _pct(x: float) -> str:
    """A share as a percentage that never shows a real, tiny share as 0.0%."""
    return "<0.1%" if 0 < x < 0.001 else f"{x:.1%}"


def _family(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text/categorical"


def _finite(s: pd.Series) -> np.ndarray:
    """The finite values of a numeric column as float64 (nulls and +-inf dropped)."""
    v = s.to_numpy(dtype=float, na_value=np.nan)
    return v[np.isfinite(v)]


def _missing_share(s: pd.Series) -> float:
    if len(s) == 0:
        return float("nan")
    miss = s.isna()
    if pd.api.types.is_float_dtype(s.dtype):
        miss |= np.isinf(s.to_numpy(dtype=float, na_value=np.nan))
    return float(miss.mean())


@dataclass
class _ColumnProfile:
    kind: str  # numeric | categorical | other
    family: str
    dtype: str
    missing: float
    lo: float | None = None
    hi: float | None = None
    categories: pd.Index | None = None


class DataQualityChecker:
    """Fit on the reference, score current frames; each check is independent and cannot sink the others."""

    def __init__(self, numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                 missing_share_tolerance: float = 0.05, out_of_range_tolerance: float = 0.01,
                 max_listed: int = 5, extreme_factor: float = 1000.0):
        self.numeric = list(numeric or [])
        self.categorical = list(categorical or [])
        self.missing_share_tolerance = missing_share_tolerance
        self.out_of_range_tolerance = out_of_range_tolerance
        self.max_listed = max_listed
        self.extreme_factor = extreme_factor

    @classmethod
    def from_params(cls, params, numeric=None, categorical=None) -> "DataQualityChecker":
        d = params.drift
        return cls(numeric if numeric is not None else params.features.numeric,
                   categorical if categorical is not None else params.features.categorical,
                   d.missing_share_tolerance, d.out_of_range_tolerance)

    def fit(self, reference: pd.DataFrame) -> "DataQualityChecker":
        if not isinstance(reference, pd.DataFrame):
            raise InputError("reference: expected a DataFrame")
        self.columns_ = list(reference.columns)
        self.profiles_ = {c: self._profile(reference[c], c) for c in reference.columns}
        self.n_reference_ = len(reference)
        return self

    def _profile(self, s: pd.Series, name: str) -> _ColumnProfile:
        kind = "numeric" if name in self.numeric else "categorical" if name in self.categorical else "other"
        p = _ColumnProfile(kind, _family(s.dtype), str(s.dtype), _missing_share(s))
        if kind == "numeric" and p.family == "numeric":
            v = _finite(s)
            p.lo, p.hi = (float(v.min()), float(v.max())) if v.size else (None, None)
        elif kind == "categorical":
            p.categories = pd.Index(s.dropna().unique())
        return p

    @property
    def monitored(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def score(self, current: pd.DataFrame, drift=None) -> QualityResult:
        """Findings for `current`; with `drift` (a `DriftResult` of the same frame) also one critical
        finding per column it could not test, unless a critical finding already names that column."""
        if not hasattr(self, "profiles_"):
            raise NotFittedError("DataQualityChecker: call fit(reference) before score")
        if not isinstance(current, pd.DataFrame):
            raise InputError("current: expected a DataFrame")
        findings = self._schema(current)
        if len(current) == 0:
            findings.append(Finding("no_rows", None, CRITICAL, "The current data has no rows."))
            return QualityResult(_with_drift(findings, drift), 0)
        scope = self.monitored or list(current.columns)
        for name in scope:
            profile = self.profiles_.get(name)
            if profile is None or name not in current.columns:
                continue
            for check in (self._missing, self._out_of_range, self._extreme, self._unseen):
                try:
                    f = check(name, current[name], profile)
                except Exception as err:  # odd data must not hide the other findings
                    f = Finding("check_failed", name, WARNING,
                                f"Could not run {check.__name__.strip('_')} on '{name}': "
                                f"{type(err).__name__}: {err}")
                if f is not None:
                    findings.append(f)
        return QualityResult(_with_drift(findings, drift), len(current))

    # -- checks -------------------------------------------------------------------------------
    def _schema(self, current: pd.DataFrame) -> list[Finding]:
        out = []
        for name in self.columns_:
            if name not in current.columns:
                sev = CRITICAL if name in self.monitored else WARNING
                out.append(Finding("missing_column", name, sev,
                                   f"Column '{name}' is in the reference but missing from the current data."))
        for name in current.columns:
            if name not in self.profiles_:
                out.append(Finding("extra_column", name, INFO,
                                   f"Column '{name}' is new: it is not in the reference data."))
                continue
            p = self.profiles_[name]
            fam = _family(current[name].dtype)
            if fam != p.family and not current[name].isna().all():
                sev = CRITICAL if name in self.monitored else WARNING
                out.append(Finding("type_change", name, sev,
                                   f"Column '{name}' changed type: {p.family} ({p.dtype}) in the reference, "
                                   f"{fam} ({current[name].dtype}) now.",
                                   details={"reference": p.dtype, "current": str(current[name].dtype)}))
        return out

    def _missing(self, name: str, s: pd.Series, p: _ColumnProfile) -> Finding | None:
        share = _missing_share(s)
        if share == 1.0 and p.missing < 1.0:
            return Finding("empty_column", name, CRITICAL,
                           f"Column '{name}' has no values at all now (it had {_pct(1 - p.missing)} filled).",
                           share, p.missing)
        change = share - p.missing
        if abs(change) < self.missing_share_tolerance or np.isnan(change):
            return None
        word = "more" if change > 0 else "fewer"
        return Finding("missing_share", name, WARNING if change > 0 else INFO,
                       f"Column '{name}' has {word} missing values: {_pct(share)} now vs {_pct(p.missing)} "
                       "in the reference.", share, p.missing)

    def _out_of_range(self, name: str, s: pd.Series, p: _ColumnProfile) -> Finding | None:
        if p.kind != "numeric" or p.lo is None or _family(s.dtype) != "numeric":
            return None
        v = _finite(s)
        if v.size == 0:
            return None
        below, above = float(np.mean(v < p.lo)), float(np.mean(v > p.hi))
        share = below + above
        if share <= self.out_of_range_tolerance:
            return None
        return Finding("out_of_range", name, WARNING,
                       f"{_pct(share)} of '{name}' values lie outside the reference range "
                       f"[{p.lo:.4g}, {p.hi:.4g}] ({_pct(below)} below, {_pct(above)} above; "
                       f"now [{v.min():.4g}, {v.max():.4g}]).",
                       share, None, {"below": below, "above": above, "reference_min": p.lo,
                                     "reference_max": p.hi, "min": float(v.min()), "max": float(v.max())})

    def _extreme(self, name: str, s: pd.Series, p: _ColumnProfile) -> Finding | None:
        """Values more than `extreme_factor` reference ranges beyond the reference range (for a
        constant reference: that many times its magnitude, at least 1)."""
        if p.kind != "numeric" or p.lo is None or _family(s.dtype) != "numeric":
            return None
        v = _finite(s)
        with np.errstate(over="ignore", invalid="ignore"):
            span = p.hi - p.lo if p.hi > p.lo else max(abs(p.lo), abs(p.hi), 1.0)
            lo, hi = p.lo - self.extreme_factor * span, p.hi + self.extreme_factor * span
        bad = v[(v < lo) | (v > hi)]
        if bad.size == 0:
            return None
        share = bad.size / len(s)
        return Finding("extreme_values", name, CRITICAL,
                       f"{bad.size:,} value(s) of '{name}' ({_pct(share)}) are extreme: from {bad.min():.4g} "
                       f"to {bad.max():.4g}, more than {self.extreme_factor:g} reference ranges outside "
                       f"[{p.lo:.4g}, {p.hi:.4g}]; they can hide or fake drift in the tests.",
                       share, None, {"n": int(bad.size), "min": float(bad.min()), "max": float(bad.max()),
                                     "reference_min": p.lo, "reference_max": p.hi})

    def _unseen(self, name: str, s: pd.Series, p: _ColumnProfile) -> Finding | None:
        if p.kind != "categorical" or p.categories is None:
            return None
        v = s.dropna()
        if v.empty:
            return None
        unseen = ~v.isin(p.categories)
        share = float(unseen.mean())
        if share == 0:
            return None
        counts = v[unseen].value_counts()
        top = {str(k): float(c / len(v)) for k, c in counts.head(self.max_listed).items()}
        listed = ", ".join(f"'{k}' ({_pct(x)})" for k, x in top.items())
        more = f" and {len(counts) - len(top)} more" if len(counts) > len(top) else ""
        sev = WARNING if share > self.out_of_range_tolerance else INFO
        return Finding("unseen_categories", name, sev,
                       f"{_pct(share)} of '{name}' values are categories never seen in the reference: "
                       f"{listed}{more}.", share, None, {"n_unseen": int(len(counts)), "top": top})


def _with_drift(findings: list[Finding], drift) -> list[Finding]:
    """`findings` plus the drift result's own (untestable columns), without naming a column twice."""
    if drift is None:
        return findings
    named = {f.column for f in findings if f.severity == CRITICAL and f.column is not None}
    no_rows = any(f.check == "no_rows" for f in findings)
    extra = [f for f in drift.findings()
             if (f.column is None and not no_rows) or (f.column is not None and f.column not in named)]
    return findings + extra


# -- importance-weighted ranking ----------------------------------------------------------------
def feature_importance(model, X: pd.DataFrame, y, n_repeats: int = 5, random_state: int = 0,
                       scoring: str | None = None, max_rows: int = 20000) -> pd.Series:
    """Permutation importance of each column of `X` for `model` (on at most `max_rows` rows)."""
    from sklearn.inspection import permutation_importance

    if not isinstance(X, pd.DataFrame):
        raise InputError("feature_importance: X must be a DataFrame with feature names")
    y = pd.Series(np.asarray(y), index=X.index)
    keep = y.notna().to_numpy()
    X, y = X[keep], y[keep]
    if len(X) == 0:
        raise InputError("feature_importance: no rows with a known label")
    if len(X) > max_rows:
        idx = np.random.default_rng(random_state).choice(len(X), max_rows, replace=False)
        X, y = X.iloc[idx], y.iloc[idx]
    r = permutation_importance(model, X, y, n_repeats=n_repeats, random_state=random_state, scoring=scoring)
    return pd.Series(r.importances_mean, index=X.columns, name="importance").sort_values(ascending=False)


def rank_features(result, importances: Mapping[str, float] | pd.Series | None = None) -> pd.DataFrame:
    """Features by drift strength x normalised importance, strongest first.

    Strength puts every test on one scale (1 at its threshold; p-values by log ratio), importance is
    clipped at 0 and divided by the largest, so a drifted feature the model ignores ranks low.
    Without importances every feature weighs 1.
    """
    t = result.tested[["column", "method", "score", "threshold", "drifted", "strength"]].copy()
    if importances is None:
        imp = pd.Series(1.0, index=t["column"])
    else:
        imp = pd.Series(importances, dtype=float).clip(lower=0)
        top = imp.max()
        imp = imp / top if top and top > 0 else imp * 0
    t["importance"] = t["column"].map(imp).fillna(0.0).to_numpy()
    t["weighted"] = t["strength"].fillna(0.0).clip(upper=1e6) * t["importance"]
    t["drifted"] = t["drifted"].astype(bool)
    t = t.sort_values(["weighted", "strength"], ascending=False, kind="stable").reset_index(drop=True)
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    return t
