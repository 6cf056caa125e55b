"""Which segment drives it? Automatic search over single-feature and pair slices, with FDR control.

    finder = SliceFinder(metric="mae", target="y", prediction="pred").fit(reference)
    report = finder.score(window)     # SliceReport: top slices by contribution to the performance drop
    report = DriftSliceFinder().fit(reference).score(window)          # slices whose traffic share moved
    report = compare_by_slice(holdout, champion_loss, challenger_loss)  # where a challenger helps or hurts

Slices are the reference's categories (the `max_levels` most frequent) and numeric bins cut at the
reference's quantiles (`n_bins`), missing values a slice of their own, and (with `pairs`) every pair of
slices of two features. Only slices with `min_rows` rows on both sides are tested, and all of them count
in the multiple-testing correction (Benjamini-Hochberg or Bonferroni at `alpha`).

Degradation ranks by contribution = current share of traffic x metric drop within the slice (drop > 0
means worse whatever the metric's direction): for a mean metric the contributions add up to the
within-slice part of the overall drop. Its p-value is one-sided from the bootstrap standard errors of
both sides. A superset and the subset that carries its effect contribute about equally, so a single
slice whose pair slice holds >= `specificity` of its contribution at >= 1/`specificity` of its drop is
ranked just after that pair (`explained_by` names it): the report names the narrowest segment.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats

from driftlib.core.errors import ConfigError, InputError, NotFittedError
from driftlib.core.jsonio import to_jsonable
from driftlib.data.encoding import resolve_features
from driftlib.data.features import BOOKKEEPING
from driftlib.performance.metrics import METRICS, Metric, Rows, bootstrap, interval

DEGRADATION, DRIFT, COMPARISON = "degradation", "drift", "comparison"
MISSING = "missing"


# -- slice definitions ----------------------------------------------------------------------------
@dataclass
class _Levels:
    """The slices of one feature: reference categories, or reference-quantile bins of a numeric."""

    feature: str
    kind: str
    labels: list[str]
    categories: list[str] | None = None
    edges: np.ndarray | None = None
    has_missing: bool = False

    @classmethod
    def fit(cls, values: pd.Series, kind: str, n_bins: int, max_levels: int) -> "_Levels":
        has_missing = bool(values.isna().any())
        if kind == "categorical":
            cats = list(values.astype("string").value_counts(dropna=True).index[:max_levels])
            return cls(values.name, kind, [f"{values.name} = {c}" for c in cats], cats, None, has_missing)
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        x = x[np.isfinite(x)]
        edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1])) if len(x) else np.array([])
        fmt = [f"{e:.4g}" for e in edges]
        if len(edges) == 0:
            labels = [f"{values.name} (any value)"]
        else:
            labels = ([f"{values.name} < {fmt[0]}"]
                      + [f"{values.name} in [{a}, {b})" for a, b in zip(fmt[:-1], fmt[1:])]
                      + [f"{values.name} >= {fmt[-1]}"])
        return cls(values.name, kind, labels, None, edges, has_missing)

    @property
    def all_labels(self) -> list[str]:
        return self.labels + ([f"{self.feature} {MISSING}"] if self.has_missing else [])

    def codes(self, values: pd.Series) -> np.ndarray:
        """Level index per row; the missing slice is last; -1 = in no slice (a category unseen before)."""
        missing = values.isna().to_numpy()
        if self.kind == "categorical":
            codes = pd.Categorical(values.astype("string"), categories=self.categories).codes.astype(int)
        else:
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            codes = np.searchsorted(self.edges, x, side="right").astype(int)
        codes[missing] = len(self.labels) if self.has_missing else -1
        return codes

    def condition(self, level: int) -> dict:
        if level == len(self.labels):
            return {"feature": self.feature, "missing": True}
        if self.kind == "categorical":
            return {"feature": self.feature, "value": self.categories[level]}
        lo = float(self.edges[level - 1]) if level > 0 else None
        hi = float(self.edges[level]) if level < len(self.edges) else None
        return {"feature": self.feature, "lower": lo, "upper": hi}


def _masks(levels: list[_Levels], codes: dict[str, np.ndarray], pairs: bool, singles: bool = True):
    """(key, name, conditions, row mask) of every single slice, then of every pair of slices."""
    for lv in levels if singles else ():
        c = codes[lv.feature]
        for i, label in enumerate(lv.all_labels):
            yield (lv.feature, i), label, [lv.condition(i)], c == i
    if not pairs:
        return
    for a, b in combinations(levels, 2):
        ca, cb = codes[a.feature], codes[b.feature]
        la, lb = a.all_labels, b.all_labels
        for i, j in np.ndindex(len(la), len(lb)):
            yield ((a.feature, i), (b.feature, j)), f"{la[i]} & {lb[j]}", [a.condition(i), b.condition(j)], \
                (ca == i) & (cb == j)


def _parents(key) -> list:
    return list(key) if isinstance(key[0], tuple) else []


def _adjust(p: np.ndarray, correction: str) -> np.ndarray:
    if len(p) == 0:
        return p
    if correction == "bh":
        return stats.false_discovery_control(np.clip(p, 0, 1), method="bh")
    return np.minimum(1.0, p * len(p))


def _check(correction: str, alpha: float, specificity: float) -> None:
    if correction not in ("bh", "bonferroni"):
        raise ConfigError(f"correction: must be 'bh' or 'bonferroni', got {correction!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha: must be in (0, 1), got {alpha}")
    if not 0 < specificity <= 1:
        raise ConfigError(f"specificity: must be in (0, 1], got {specificity}")


def _rank(rows: list[dict], specificity: float, effect: str) -> list[dict]:
    """Sort by `score`, each single slice just after a significant pair slice that carries its effect."""
    by_key = {r["_key"]: r for r in rows}
    sort_key = {k: r["score"] for k, r in by_key.items()}
    for r in rows:
        for parent in _parents(r["_key"]):
            p = by_key.get(parent)
            if (p is None or not r["significant"] or p["score"] <= 0 or r["score"] < specificity * p["score"]
                    or abs(r[effect]) < abs(p[effect]) / specificity):
                continue
            if sort_key[parent] >= r["score"]:
                sort_key[parent] = r["score"] - 1e-12 * max(1.0, abs(r["score"]))
            if p.get("_by", -np.inf) < r["score"]:  # the strongest pair that carries it names it
                p["explained_by"], p["_by"] = r["slice"], r["score"]
    return sorted(rows, key=lambda r: -sort_key[r["_key"]])


# -- the report -----------------------------------------------------------------------------------
@dataclass
class SliceReport:
    """Top slices of one search. `table` holds every tested slice, best first."""

    mode: str
    table: pd.DataFrame
    n_tested: int
    alpha: float
    correction: str
    metric: str | None = None
    top: int = 10
    overall: dict = field(default_factory=dict)
    note: str | None = None
    screened: int = 0  # slices of a full search a wide-table screen left out (counted in the correction)

    @property
    def significant(self) -> pd.DataFrame:
        return self.table[self.table["significant"]] if len(self.table) else self.table

    def rank_of(self, name: str) -> int | None:
        """1-based rank of a slice by its name (e.g. "c = b & x1 >= 0.67"), None if not tested."""
        hits = np.flatnonzero(self.table["slice"].to_numpy() == name) if len(self.table) else []
        return int(hits[0]) + 1 if len(hits) else None

    @property
    def headline(self) -> str:
        sig = self.significant
        if not len(sig):
            left = f", {self.screened:,} more screened out" if self.screened else ""
            return (f"No slice stands out ({self.n_tested:,} slices tested{left}, {self.correction} at "
                    f"{self.alpha:g}).")
        r = sig.iloc[0]
        share = f"{r['share_current']:.0%} of traffic"
        if self.mode == DEGRADATION:
            what = f"{self.metric} {r['current']:.4g} vs {r['reference']:.4g} on the reference"
        elif self.mode == DRIFT:
            what = f"share {r['share_reference']:.1%} -> {r['share_current']:.1%}"
        else:
            verdicts = sig["verdict"].value_counts()
            return (f"Challenger helps on {int(verdicts.get('helps', 0))} and hurts on "
                    f"{int(verdicts.get('hurts', 0))} of {self.n_tested} slices; largest: {r['slice']} "
                    f"({share}, {r['verdict']}, loss {r['champion']:.4g} -> {r['challenger']:.4g}).")
        return f"{len(sig)} of {self.n_tested} slices stand out; top: {r['slice']} ({share}, {what})."

    def to_dict(self) -> dict[str, Any]:
        shown = self.table.head(self.top)
        out = {"mode": self.mode, "metric": self.metric, "n_slices_tested": self.n_tested,
               "n_slices_screened_out": self.screened,
               "n_significant": int(len(self.significant)), "correction": self.correction, "alpha": self.alpha,
               "overall": to_jsonable(self.overall), "top_slices": to_jsonable(shown.to_dict("records")),
               "headline": self.headline, "note": self.note}
        if self.mode == COMPARISON:
            sig = self.significant
            out["helps"] = list(sig.loc[sig["verdict"] == "helps", "slice"])
            out["hurts"] = list(sig.loc[sig["verdict"] == "hurts", "slice"])
        return out

    def _repr_html_(self) -> str:
        cols = [c for c in self.table.columns if c not in ("conditions",)]
        return (f"<p><b>{html.escape(self.headline)}</b></p>"
                + self.table.head(self.top)[cols].to_html(index=False, float_format=lambda x: f"{x:.4g}",
                                                          na_rep="-"))


def _table(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    for r in rows:
        r.pop("_key", None)
        r.pop("_by", None)
        r.setdefault("explained_by", None)
    return pd.DataFrame(rows, columns=columns)


# -- shared fitting -------------------------------------------------------------------------------
def fit_levels(reference: pd.DataFrame, numeric, categorical, exclude: Iterable[str], n_bins: int,
               max_levels: int, min_rows: int) -> list[_Levels]:
    """The slices of every feature, from the reference (features typed by dtype when none are given)."""
    if not isinstance(reference, pd.DataFrame) or reference.empty:
        raise InputError("reference: expected a non-empty DataFrame")
    if int(n_bins) < 2 or int(min_rows) < 1:
        raise ConfigError(f"n_bins must be >= 2 and min_rows >= 1 (got {n_bins}, {min_rows})")
    numeric, categorical = resolve_features(reference, numeric, categorical, exclude=[*exclude, *BOOKKEEPING])
    return ([_Levels.fit(reference[c], "numeric", int(n_bins), max_levels) for c in numeric]
            + [_Levels.fit(reference[c], "categorical", int(n_bins), max_levels) for c in categorical])


def level_codes(levels: list[_Levels] | None, df: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
    if levels is None:
        raise NotFittedError("slice finder: call fit(reference) before scoring")
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{where}: expected a DataFrame")
    missing = [lv.feature for lv in levels if lv.feature not in df.columns]
    if missing:
        raise InputError(f"{where}: missing feature column(s) {', '.join(missing)}")
    return {lv.feature: lv.codes(df[lv.feature]) for lv in levels}


def _n_slices(levels: list[_Levels], pairs: bool) -> int:
    """Slices a full search over `levels` would try (before the minimum-size rule)."""
    sizes = np.array([len(lv.all_labels) for lv in levels], dtype=float)
    return int(sizes.sum() + (((sizes.sum() ** 2 - (sizes ** 2).sum()) / 2) if pairs else 0))


class _SliceBase:
    """Levels from the reference; on wide tables (more than `max_features` features) a screen of the
    single slices picks the `max_features` features whose slices move most, and only those are searched
    in full (singles and pairs): 1,500 features would mean a million pairs. The report says so."""

    levels_ = None
    max_features = 20

    def _fit_levels(self, reference: pd.DataFrame, exclude: list[str]) -> None:
        _check(self.correction, self.alpha, self.specificity)
        self.levels_ = fit_levels(reference, self.numeric, self.categorical, [*exclude, *self.exclude],
                                  self.n_bins, self.max_levels, self.min_rows)
        if int(self.max_features) < 1:
            raise ConfigError(f"max_features: must be >= 1, got {self.max_features}")

    @property
    def _wide(self) -> bool:
        return len(self.levels_) > int(self.max_features)

    def _codes(self, df: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
        return level_codes(self.levels_, df, where)

    def _screen(self, strength: dict[str, float]) -> tuple[list[_Levels], int, str | None]:
        """The levels to search in full, the number of single slices screened out, and a note."""
        if not self._wide:
            return self.levels_, 0, None
        keep = set(sorted(strength, key=lambda f: -strength[f])[:int(self.max_features)])
        chosen = [lv for lv in self.levels_ if lv.feature in keep]
        dropped = _n_slices(self.levels_, self.pairs) - _n_slices(chosen, self.pairs)
        note = (f"searched the {len(chosen)} of {len(self.levels_)} features whose single slices moved most "
                f"(max_features); the {dropped:,} slices of a full search left out count in the correction, "
                "so the screen never makes a slice look more significant")
        return chosen, dropped, note


def _labelled(df: pd.DataFrame, target: str, where: str) -> np.ndarray:
    if target not in df.columns:
        raise InputError(f"{where}: no target column '{target}'")
    return df[target].notna().to_numpy()


def _column(df: pd.DataFrame, name: str | None, where: str) -> np.ndarray | None:
    if name is None:
        return None
    if name not in df.columns:
        raise InputError(f"{where}: no column '{name}'")
    try:
        return pd.to_numeric(df[name]).to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise InputError(f"{where}: column '{name}' is not numeric") from None


# -- degradation ----------------------------------------------------------------------------------
DEGRADATION_COLUMNS = ["slice", "n_reference", "n_current", "share_reference", "share_current", "reference",
                       "current", "current_lower", "current_upper", "drop", "drop_lower", "drop_upper",
                       "contribution", "p_value", "p_adjusted", "significant", "explained_by", "conditions"]


class SliceFinder(_SliceBase):
    """Slices where the model got worse than on the same slice of the reference (labels needed)."""

    def __init__(self, metric: str = "mae", target: str = "target", prediction: str = "prediction",
                 score: str | None = None, numeric: Iterable[str] | None = None,
                 categorical: Iterable[str] | None = None, exclude: Iterable[str] = (), n_bins: int = 4,
                 pairs: bool = True, min_rows: int = 50, max_levels: int = 20, alpha: float = 0.05,
                 correction: str = "bh", specificity: float = 0.8, top: int = 10, n_boot: int = 200,
                 confidence: float = 0.95, random_state: int = 0, max_features: int = 20):
        self.metric = metric
        self.target = target
        self.prediction = prediction
        self.score_column = score
        self.numeric = numeric
        self.categorical = categorical
        self.exclude = exclude
        self.n_bins = n_bins
        self.pairs = pairs
        self.min_rows = min_rows
        self.max_levels = max_levels
        self.alpha = alpha
        self.correction = correction
        self.specificity = specificity
        self.top = top
        self.n_boot = n_boot
        self.confidence = confidence
        self.random_state = random_state
        self.max_features = max_features

    @classmethod
    def from_params(cls, params, metric: str | None = None, numeric=None, categorical=None,
                    **kwargs) -> "SliceFinder":
        """Target, prediction, probability and features from params; metric defaults to concept.metric."""
        c = params.columns
        if numeric is None and categorical is None:
            numeric, categorical = params.features.numeric, params.features.categorical
        metric = metric or params.concept.metric
        score = c.probability if METRICS.get(metric) and METRICS[metric].needs_probability else None
        return cls(metric=metric, target=c.target, prediction=c.prediction, score=score, numeric=numeric,
                   categorical=categorical, **kwargs)

    def _metric(self) -> Metric:
        m = METRICS.get(self.metric)
        if m is None:
            raise ConfigError(f"metric: unknown metric '{self.metric}' (choose from {', '.join(METRICS)})")
        if m.needs_probability and self.score_column is None:
            raise ConfigError(f"score: metric '{m.name}' needs the probability column")
        return m

    def _side(self, df: pd.DataFrame, where: str):
        keep = _labelled(df, self.target, where)
        y = _column(df, self.target, where)
        pred = _column(df, self.prediction, where)
        score = _column(df, self.score_column, where)
        return keep, y, pred, score

    def _measure(self, y, pred, score, idx, rng) -> tuple[float, np.ndarray]:
        rows = Rows.of(None if score is None else score[idx], pred[idx])
        m = self.metric_
        return self._point(y, pred, score, idx), bootstrap([m], y[idx], rows, self.n_boot, rng)[m.name]

    def fit(self, reference: pd.DataFrame) -> "SliceFinder":
        self.metric_ = self._metric()
        self._fit_levels(reference, [self.target, self.prediction, self.score_column or self.target])
        keep, y, pred, score = self._side(reference, "reference")
        self.reference_side_ = (keep, y, pred, score, self._codes(reference, "reference"))
        rng = np.random.default_rng(self.random_state)
        self.reference_ = {}
        self.overall_reference_ = self._measure(y, pred, score, np.flatnonzero(keep), rng)[0]
        if not self._wide:  # wide tables: reference slices are measured once screened (see score)
            for key, _, _, mask in _masks(self.levels_, self.reference_side_[4], self.pairs):
                self._measure_reference(key, mask, rng)
        return self

    def _measure_reference(self, key, mask: np.ndarray, rng) -> None:
        keep, y, pred, score, _ = self.reference_side_
        idx = np.flatnonzero(mask & keep)
        if len(idx) >= self.min_rows:
            point, reps = self._measure(y, pred, score, idx, rng)
            if np.isfinite(point):
                self.reference_[key] = (len(idx), len(idx) / int(keep.sum()), point, reps)

    def _point(self, y, pred, score, idx) -> float:
        return self.metric_.point(y[idx], Rows.of(None if score is None else score[idx], pred[idx]))

    def _single_strength(self, codes, keep, y, pred, score) -> dict[str, float]:
        """The wide-table screen: per feature, the largest share x drop of one of its single slices
        (point estimates only, no bootstrap)."""
        r_keep, r_y, r_pred, r_score, r_codes = self.reference_side_
        sign = 1.0 if self.metric_.higher_is_better else -1.0
        strength = {}
        for lv in self.levels_:
            best = -np.inf
            for i in range(len(lv.all_labels)):
                mask = codes[lv.feature] == i
                idx, r_idx = np.flatnonzero(mask & keep), np.flatnonzero((r_codes[lv.feature] == i) & r_keep)
                if min(len(idx), len(r_idx)) >= self.min_rows:
                    drop = sign * (self._point(r_y, r_pred, r_score, r_idx) - self._point(y, pred, score, idx))
                    best = max(best, float(mask.mean()) * drop) if np.isfinite(drop) else best
            strength[lv.feature] = best
        return strength

    def _searched(self, codes, keep, y, pred, score) -> tuple[list, int, str | None]:
        """The levels to search (all, or the screened ones with their reference slices measured)."""
        levels, screened, note = self._screen(self._single_strength(codes, keep, y, pred, score)) \
            if self._wide else (self.levels_, 0, None)
        if self._wide:
            rng = np.random.default_rng(self.random_state + 2)
            for key, _, _, mask in _masks(levels, self.reference_side_[4], self.pairs):
                if key not in self.reference_:
                    self._measure_reference(key, mask, rng)
        return levels, screened, note

    def score(self, current: pd.DataFrame) -> SliceReport:
        """Slices of `current` ranked by their contribution to the drop; rows without labels are skipped
        for the metric but counted in the share of traffic."""
        codes = self._codes(current, "current")
        keep, y, pred, score = self._side(current, "current")
        levels, screened, note = self._searched(codes, keep, y, pred, score)
        rng = np.random.default_rng(self.random_state + 1)
        sign = 1.0 if self.metric_.higher_is_better else -1.0
        rows = []
        for key, name, cond, mask in _masks(levels, codes, self.pairs):
            ref = self.reference_.get(key)
            idx = np.flatnonzero(mask & keep)
            if ref is None or len(idx) < self.min_rows:
                continue
            point, reps = self._measure(y, pred, score, idx, rng)
            if not np.isfinite(point):
                continue
            diff = sign * (ref[3] - reps)
            drop = float(sign * (ref[2] - point))
            se = float(np.sqrt(np.nanvar(ref[3]) + np.nanvar(reps)))
            lo, hi = interval(reps, self.confidence)
            dlo, dhi = interval(diff, self.confidence)
            share = float(mask.mean())
            rows.append({"_key": key, "slice": name, "n_reference": ref[0], "n_current": int(len(idx)),
                         "share_reference": ref[1], "share_current": share, "reference": ref[2],
                         "current": point, "current_lower": lo, "current_upper": hi, "drop": drop,
                         "drop_lower": dlo, "drop_upper": dhi, "contribution": share * drop,
                         "p_value": float(stats.norm.sf(drop / se)) if se > 0 else float(drop <= 0),
                         "conditions": cond})
        _finish(rows, self.correction, self.alpha, "contribution", screened)
        rows = _rank(rows, self.specificity, "drop")
        overall = {"reference": self.overall_reference_,
                   "current": self.metric_.point(y[keep], Rows.of(None if score is None else score[keep],
                                                                  pred[keep])) if keep.any() else None,
                   "n_labelled": int(keep.sum()), "n_rows": int(len(current))}
        return SliceReport(DEGRADATION, _table(rows, DEGRADATION_COLUMNS), len(rows), self.alpha,
                           self.correction, self.metric_.name, self.top, overall, note, screened)


def _finish(rows: list[dict], correction: str, alpha: float, score: str, screened: int = 0) -> None:
    """Adjusted p-values and significance; `screened` slices left out by the wide-table screen count in
    the correction as p = 1 (the family is every slice looked at, not only those kept)."""
    p = np.array([r["p_value"] for r in rows] + [1.0] * screened, dtype=float)
    adjusted = _adjust(p, correction)[:len(rows)]
    for r, q in zip(rows, adjusted):
        r["p_adjusted"] = float(q)
        r["significant"] = bool(q <= alpha)
        r["score"] = r[score]


# -- drift ----------------------------------------------------------------------------------------
DRIFT_COLUMNS = ["slice", "n_reference", "n_current", "share_reference", "share_current", "share_change",
                 "change_lower", "change_upper", "lift", "p_value", "p_adjusted", "significant", "explained_by",
                 "conditions"]


class DriftSliceFinder(_SliceBase):
    """Slices whose share of traffic moved most between reference and window (no labels needed).

    Ranked by |share change|; the p-value is the two-proportion z-test. The changes of all single slices
    of a feature add up to zero, so the top ones say where traffic went and where it came from.
    """

    def __init__(self, numeric: Iterable[str] | None = None, categorical: Iterable[str] | None = None,
                 exclude: Iterable[str] = (), n_bins: int = 4, pairs: bool = True, min_rows: int = 50,
                 max_levels: int = 20, alpha: float = 0.05, correction: str = "bh", specificity: float = 0.8,
                 top: int = 10, confidence: float = 0.95, max_features: int = 20):
        self.numeric = numeric
        self.categorical = categorical
        self.exclude = exclude
        self.n_bins = n_bins
        self.pairs = pairs
        self.min_rows = min_rows
        self.max_levels = max_levels
        self.alpha = alpha
        self.correction = correction
        self.specificity = specificity
        self.top = top
        self.confidence = confidence
        self.max_features = max_features

    @classmethod
    def from_params(cls, params, numeric=None, categorical=None, **kwargs) -> "DriftSliceFinder":
        if numeric is None and categorical is None:
            numeric, categorical = params.features.numeric, params.features.categorical
        return cls(numeric=numeric, categorical=categorical, **kwargs)

    def fit(self, reference: pd.DataFrame) -> "DriftSliceFinder":
        self._fit_levels(reference, [])
        self.reference_codes_ = self._codes(reference, "reference")
        self.n_reference_ = len(reference)
        pairs = self.pairs and not self._wide  # wide tables: pair counts once screened (see score)
        self.reference_ = {key: int(mask.sum()) for key, _, _, mask in
                           _masks(self.levels_, self.reference_codes_, pairs)}
        return self

    def _searched(self, codes: dict[str, np.ndarray], n_c: int) -> tuple[list, int, str | None]:
        if not self._wide:
            return self.levels_, 0, None
        strength = {lv.feature: max((abs(int((codes[lv.feature] == i).sum()) / max(n_c, 1)
                                         - self.reference_.get((lv.feature, i), 0) / self.n_reference_)
                                     for i in range(len(lv.all_labels))), default=0.0) for lv in self.levels_}
        levels, screened, note = self._screen(strength)
        if self.pairs:
            for key, _, _, mask in _masks(levels, self.reference_codes_, True, singles=False):
                self.reference_.setdefault(key, int(mask.sum()))
        return levels, screened, note

    def score(self, current: pd.DataFrame) -> SliceReport:
        codes = self._codes(current, "current")
        n_r, n_c = self.n_reference_, len(current)
        zq = stats.norm.isf((1 - self.confidence) / 2)
        levels, screened, note = self._searched(codes, n_c)
        rows = []
        for key, name, cond, mask in _masks(levels, codes, self.pairs):
            k_r, k_c = self.reference_.get(key, 0), int(mask.sum())
            if max(k_r, k_c) < self.min_rows or n_c == 0:
                continue
            p_r, p_c = k_r / n_r, k_c / n_c
            pooled = (k_r + k_c) / (n_r + n_c)
            se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_r + 1 / n_c))
            se = np.sqrt(p_r * (1 - p_r) / n_r + p_c * (1 - p_c) / n_c)
            change = p_c - p_r
            rows.append({"_key": key, "slice": name, "n_reference": k_r, "n_current": k_c, "share_reference": p_r,
                         "share_current": p_c, "share_change": change, "change_lower": change - zq * se,
                         "change_upper": change + zq * se, "lift": p_c / p_r if p_r > 0 else float("inf"),
                         "p_value": float(2 * stats.norm.sf(abs(change) / se0)) if se0 > 0 else 1.0,
                         "conditions": cond, "abs_change": abs(change)})
        _finish(rows, self.correction, self.alpha, "abs_change", screened)
        for r in rows:
            r["log_lift"] = float(np.log(r["lift"])) if r["lift"] > 0 else float("-inf")
        rows = _rank(rows, self.specificity, "log_lift")
        return SliceReport(DRIFT, _table(rows, DRIFT_COLUMNS), len(rows), self.alpha, self.correction,
                           None, self.top, {"n_reference": n_r, "n_current": n_c}, note, screened)


# -- champion vs challenger -----------------------------------------------------------------------
COMPARISON_COLUMNS = ["slice", "n", "share_current", "champion", "challenger", "delta", "delta_lower", "delta_upper",
                      "p_value", "p_adjusted", "significant", "verdict", "explained_by", "conditions"]
ROW_LOSSES = {
    "mae": lambda y, s: np.abs(y - s),
    "rmse": lambda y, s: (y - s) ** 2,
    "accuracy": lambda y, s: ((s >= 0.5) != (y >= 0.5)).astype(float),
    "brier": lambda y, s: (y - s) ** 2,
    "log_loss": lambda y, s: -(y * np.log(np.clip(s, 1e-15, 1)) + (1 - y) * np.log(np.clip(1 - s, 1e-15, 1))),
}


def row_loss(metric: str, y, scores) -> np.ndarray:
    """Per-row loss behind a metric of the shared vocabulary (rmse -> squared error, accuracy -> 0/1
    error on score >= 0.5); metrics that are not means of rows (roc_auc, f1, ece) have none."""
    if metric not in ROW_LOSSES:
        raise ConfigError(f"metric: '{metric}' has no per-row loss (choose from {', '.join(ROW_LOSSES)})")
    return ROW_LOSSES[metric](np.asarray(y, dtype=float), np.asarray(scores, dtype=float))


def compare_by_slice(holdout: pd.DataFrame, champion_loss, challenger_loss, numeric: Iterable[str] | None = None,
                     categorical: Iterable[str] | None = None, *, reference: pd.DataFrame | None = None,
                     exclude: Iterable[str] = (), n_bins: int = 4, pairs: bool = False, min_rows: int = 50,
                     max_levels: int = 20, alpha: float = 0.05, correction: str = "bh", top: int = 10,
                     confidence: float = 0.95) -> SliceReport:
    """Where does the challenger help or hurt? Paired per-row losses of both models on the same holdout.

    `delta` = champion loss - challenger loss (> 0: the challenger helps), with a paired t interval and
    test per slice, corrected over all slices. Slices come from `reference` (default: the holdout).
    """
    _check(correction, alpha, 1.0)
    a = np.asarray(champion_loss, dtype=float)
    b = np.asarray(challenger_loss, dtype=float)
    if a.shape != (len(holdout),) or b.shape != (len(holdout),):
        raise InputError(f"losses: expected one value per holdout row ({len(holdout)}), got {a.shape} and {b.shape}")
    levels = fit_levels(holdout if reference is None else reference, numeric, categorical, exclude, n_bins,
                        max_levels, min_rows)
    codes = level_codes(levels, holdout, "holdout")
    d = a - b
    ok = np.isfinite(d)
    rows = []
    for key, name, cond, mask in _masks(levels, codes, pairs):
        idx = np.flatnonzero(mask & ok)
        if len(idx) < min_rows:
            continue
        res = stats.ttest_1samp(d[idx], 0.0)
        ci = res.confidence_interval(confidence)
        delta = float(d[idx].mean())
        p = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0
        rows.append({"_key": key, "slice": name, "n": int(len(idx)), "share_current": float(mask.mean()),
                     "champion": float(a[idx].mean()), "challenger": float(b[idx].mean()), "delta": delta,
                     "delta_lower": float(ci.low), "delta_upper": float(ci.high), "p_value": p,
                     "conditions": cond, "impact": abs(delta) * float(mask.mean())})
    _finish(rows, correction, alpha, "impact")
    for r in rows:
        r["verdict"] = ("helps" if r["delta"] > 0 else "hurts") if r["significant"] else "neutral"
    rows.sort(key=lambda r: (not r["significant"], -r["impact"]))
    return SliceReport(COMPARISON, _table(rows, COMPARISON_COLUMNS), len(rows), alpha, correction, None, top,
                       {"n": int(ok.sum()), "champion": float(np.nanmean(a)), "challenger": float(np.nanmean(b))})


# -- one call -------------------------------------------------------------------------------------
def degraded_slices(reference: pd.DataFrame, current: pd.DataFrame, metric: str = "mae", *,
                    params=None, **kwargs) -> SliceReport:
    """`SliceFinder(...).fit(reference).score(current)`; columns from `params` when given."""
    finder = SliceFinder.from_params(params, metric, **kwargs) if params is not None else SliceFinder(metric, **kwargs)
    return finder.fit(reference).score(current)


def drifted_slices(reference: pd.DataFrame, current: pd.DataFrame, *, params=None, **kwargs) -> SliceReport:
    """`DriftSliceFinder(...).fit(reference).score(current)`; features from `params` when given."""
    finder = DriftSliceFinder.from_params(params, **kwargs) if params is not None else DriftSliceFinder(**kwargs)
    return finder.fit(reference).score(current)
