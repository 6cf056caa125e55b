"""Error control across features and runs, opt-in beside Evidently's per-column verdicts.

Fixed thresholds tested on every column of every run give a false-alarm rate nobody chose. Two
options bound it without touching the default verdict (which stays Evidently's):

    null = permutation_null(detector, ref, n_current=len(current))   # once per reference and size
    fdr = fdr_control(detector.score(current), level=0.05, null=null)  # FDRResult beside the default
    hist = drift_history(params.outputs_dir, before=run_date)          # earlier runs' verdicts
    pers = persistence([*hist, (run_date, fdr.dataset_drift)], k=2, n=3)

* `fdr_control`: Benjamini-Hochberg (`scipy.stats.false_discovery_control`) over the features'
  p-values, read off a null of each test's score: bootstrap draws of reference and current from
  the reference at the window's size (`permutation_null`), or the calibration's null. Without a
  null, p-value tests (KS, chi-square, z) give their own and distance tests none.
  When no feature changed, BH rejects anything with probability <= level, so the dataset verdict
  (share of rejected features >= drift_share) is a false alarm at most that often.
* `persistence`: the dataset verdict turns to drift only when k of the last n runs drifted.
  With k = n = monitoring.drift_consecutive_runs it is the condition of the Prometheus alert
  `DriftlibDatasetDriftPersistent` (`driftlib_dataset_drift_consecutive_runs >= N`, `for: 0m`).
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from driftlib.core.errors import ConfigError, InputError
from driftlib.core.jsonio import to_jsonable

FDR_METHODS = ("bh", "by")  # scipy: Benjamini-Hochberg; Benjamini-Yekutieli (any dependence)


# -- null distributions of distance scores -----------------------------------------------------
@dataclass
class ScoreNull:
    """Null scores per column (same test as the detector chose) at one current size.

    p-value of an observed score s: (1 + #{null at least as extreme}) / (1 + draws), valid (never
    too small) whatever the score's distribution; the smallest attainable p is 1 / (1 + draws).
    For p-value tests the score is the test's p-value, extreme when small.
    """

    scores: dict[str, np.ndarray]
    methods: dict[str, str]
    n_current: int
    source: str = "permutation"

    @property
    def n_draws(self) -> int:
        return min((len(v) for v in self.scores.values()), default=0)

    def p_value(self, column: str, stattest: str | None, score: float) -> float:
        null = self.scores.get(column)
        if null is None or self.methods.get(column) != stattest or score is None or math.isnan(score):
            return float("nan")
        null = null[~np.isnan(null)]
        if null.size == 0:
            return float("nan")
        from driftlib.drift.stats import STAT_TESTS

        test = STAT_TESTS[stattest] if stattest in STAT_TESTS else None
        extreme = null <= score if test is not None and test.is_p_value else null >= score
        return float((1 + np.count_nonzero(extreme)) / (1 + null.size))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "n_current": self.n_current, "n_draws": self.n_draws,
                "methods": dict(self.methods)}


def clone_detector(detector, **overrides):
    """An unfitted detector testing the same fitted features with the same overrides (no outputs)."""
    from driftlib.drift.detector import FEATURE, NUMERIC, DriftDetector

    if not hasattr(detector, "specs_"):
        raise ConfigError("error control: fit the DriftDetector on the reference first")
    feats = [s for s in detector.specs_.values() if s.role == FEATURE]
    kwargs = dict(numeric=[s.name for s in feats if s.kind == NUMERIC],
                  categorical=[s.name for s in feats if s.kind != NUMERIC],
                  columns={k: v for k, v in detector.columns.items() if k in {s.name for s in feats}},
                  drift_share=detector.drift_share, min_rows=1, n_jobs=1)
    return DriftDetector(**{**kwargs, **overrides})


def permutation_null(detector, reference: pd.DataFrame, n_current: int, n_draws: int = 200,
                     seed: int = 0) -> ScoreNull:
    """Scores of the fitted detector's features when nothing changed, at `n_current` rows.

    Each draw resamples a reference of the same size and a current window of `n_current` rows
    from the reference (with replacement) and scores one against the other, so both sides' noise
    is in the null. Computed once per reference and window size; p-value tests need none.
    """
    if n_current < 1 or n_draws < 1:
        raise ConfigError(f"permutation_null: n_current and n_draws must be >= 1, got {n_current}, {n_draws}")
    proto = clone_detector(detector)
    cols = [*proto.numeric, *proto.categorical]
    ref = reference[cols].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    scores: dict[str, list[float]] = {c: [] for c in cols}
    methods: dict[str, str] = {}
    for _ in range(n_draws):
        r = ref.iloc[rng.integers(0, len(ref), len(ref))]
        c = ref.iloc[rng.integers(0, len(ref), n_current)]
        table = clone_detector(detector).fit(r).score(c).table
        for row in table.itertuples():
            if row.status == "ok":
                methods.setdefault(row.column, row.stattest)
                scores[row.column].append(row.score if row.stattest == methods[row.column] else np.nan)
    return ScoreNull({c: np.asarray(v, float) for c, v in scores.items() if v}, methods, int(n_current))


# -- false discovery rate across features -------------------------------------------------------
@dataclass
class FDRResult:
    """Per-feature verdicts after Benjamini-Hochberg, beside the default (Evidently) verdicts."""

    table: pd.DataFrame  # column, stattest, score, p_value, p_source, p_adjusted, drifted, drifted_fdr
    level: float
    method: str
    drift_share: float
    default_dataset_drift: bool | None = None

    @property
    def with_p(self) -> pd.DataFrame:
        return self.table[self.table["p_value"].notna()]

    @property
    def without_p(self) -> list[str]:
        return list(self.table.loc[self.table["p_value"].isna(), "column"])

    @property
    def drifted_columns(self) -> list[str]:
        t = self.with_p
        return list(t.loc[t["drifted_fdr"]].sort_values("p_adjusted", kind="stable")["column"])

    @property
    def share_drifted(self) -> float | None:
        n = len(self.with_p)
        return len(self.drifted_columns) / n if n else None

    @property
    def dataset_drift(self) -> bool | None:
        share = self.share_drifted
        return None if share is None else bool(share >= self.drift_share)

    @property
    def headline(self) -> str:
        if self.share_drifted is None:
            return "No feature has a p-value: false discovery rate control not applied."
        verdict = "Dataset drift" if self.dataset_drift else "No dataset drift"
        return (f"{verdict} at a false discovery rate of {self.level:g}: {len(self.drifted_columns)} of "
                f"{len(self.with_p)} features drifted (default rule: "
                f"{'drift' if self.default_dataset_drift else 'no drift'}).")

    def to_dict(self) -> dict[str, Any]:
        keys = ["column", "stattest", "score", "p_value", "p_source", "p_adjusted", "drifted", "drifted_fdr"]
        return {"method": self.method, "level": self.level, "dataset_drift": self.dataset_drift,
                "share_drifted": to_jsonable(self.share_drifted), "drifted_columns": self.drifted_columns,
                "without_p_value": self.without_p, "default_dataset_drift": self.default_dataset_drift,
                "columns": [{k: to_jsonable(r[k]) for k in keys} for r in self.table.to_dict("records")]}

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.headline)}</b></p>"
                + self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="-"))


def fdr_control(result, level: float = 0.05, null: ScoreNull | None = None, method: str = "bh") -> FDRResult:
    """Benjamini-Hochberg (or -Yekutieli) over the tested features of a `DriftResult`.

    With a `null`, every covered feature's p-value comes from it, p-value tests included: Evidently's
    chi-square returns p = 0 whenever a window holds a category the reference lacks, so on
    high-cardinality columns its own p-values are not valid. Without one, p-value tests use
    their own p-value. Features with neither are left out (listed in `without_p`), never silently
    counted as "no drift".
    """
    if not 0 < level < 1:
        raise ConfigError(f"drift.error_control.fdr_level: must be in (0, 1), got {level}")
    if method not in FDR_METHODS:
        raise ConfigError(f"drift.error_control.fdr_method: choose from {', '.join(FDR_METHODS)}, got {method!r}")
    from driftlib.drift.stats import STAT_TESTS

    tested = result.tested
    rows = []
    for r in tested.to_dict("records"):
        test = STAT_TESTS[r["stattest"]] if r["stattest"] in STAT_TESTS else None
        p, source = float("nan"), None
        if null is not None:
            p, source = null.p_value(r["column"], r["stattest"], float(r["score"])), null.source
        if math.isnan(p) and test is not None and test.is_p_value:
            p, source = float(r["score"]), "test"
        rows.append({"column": r["column"], "stattest": r["stattest"], "score": r["score"],
                     "p_value": p, "p_source": source if not math.isnan(p) else None,
                     "drifted": bool(r["drifted"])})
    table = pd.DataFrame(rows, columns=["column", "stattest", "score", "p_value", "p_source", "drifted"])
    table["p_adjusted"] = np.nan
    ok = table["p_value"].notna().to_numpy()
    if ok.any():
        adjusted = stats.false_discovery_control(table.loc[ok, "p_value"].to_numpy(float), method=method)
        table.loc[ok, "p_adjusted"] = adjusted
    table["drifted_fdr"] = table["p_adjusted"].le(level)
    table = table[["column", "stattest", "score", "p_value", "p_source", "p_adjusted", "drifted", "drifted_fdr"]]
    return FDRResult(table, float(level), method, result.drift_share, result.dataset_drift)


# -- k of the last n runs -------------------------------------------------------------------------
@dataclass
class PersistenceResult:
    """Dataset verdict over runs: drift only when k of the last n runs with a verdict drifted."""

    k: int
    n: int
    runs: list[dict[str, Any]] = field(default_factory=list)  # label, dataset_drift, counts

    @property
    def counted(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["counts"]]

    @property
    def n_drifted(self) -> int:
        return sum(bool(r["dataset_drift"]) for r in self.counted)

    @property
    def dataset_drift(self) -> bool | None:
        if not self.runs or self.runs[-1]["dataset_drift"] is None:
            return None
        return self.n_drifted >= self.k

    @property
    def streak(self) -> int:
        """Consecutive drifted runs up to the latest (runs without a verdict skipped): the value of
        `driftlib_dataset_drift_consecutive_runs`, which the Prometheus alert compares with."""
        count = 0
        for r in reversed([r for r in self.runs if r["dataset_drift"] is not None]):
            if not r["dataset_drift"]:
                break
            count += 1
        return count

    @property
    def headline(self) -> str:
        if self.dataset_drift is None:
            return "The latest run has no dataset verdict."
        verdict = "Persistent dataset drift" if self.dataset_drift else "No persistent dataset drift"
        return (f"{verdict}: {self.n_drifted} of the last {len(self.counted)} runs drifted "
                f"(rule: {self.k} of {self.n}).")

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "dataset_drift": self.dataset_drift, "n_drifted": self.n_drifted,
                "streak": self.streak, "runs": [{k: to_jsonable(v) for k, v in r.items()} for r in self.runs]}

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.headline)}</b></p>"
                + pd.DataFrame(self.runs, columns=["label", "dataset_drift", "counts"]).to_html(index=False))


def _check_kn(k: int, n: int) -> None:
    if not (isinstance(k, (int, np.integer)) and isinstance(n, (int, np.integer)) and 1 <= k <= n):
        raise ConfigError(f"drift.error_control.k_of_n: need 1 <= k <= n, got k={k}, n={n}")


def persistence(flags: Sequence[tuple[Any, bool | None]], k: int, n: int) -> PersistenceResult:
    """`flags` = [(label, dataset_drift)] oldest first, the current run last. Runs without a
    verdict (None: insufficient data, failed) do not count and do not break the window, as in the
    consecutive-runs metric."""
    _check_kn(k, n)
    flags = list(flags)
    with_verdict = [i for i, (_, f) in enumerate(flags) if f is not None]
    counted = set(with_verdict[-n:])
    runs = [{"label": label, "dataset_drift": None if f is None else bool(f), "counts": i in counted}
            for i, (label, f) in enumerate(flags)]
    return PersistenceResult(int(k), int(n), runs)


def rolling_k_of_n(flags: Iterable[bool | None], k: int, n: int) -> np.ndarray:
    """The k-of-n verdict after each position of a sequence (windows of one run, or runs)."""
    _check_kn(k, n)
    out, seen = [], []
    for f in flags:
        if f is None or (isinstance(f, float) and math.isnan(f)):
            out.append(None)
            continue
        seen.append(bool(f))
        out.append(sum(seen[-n:]) >= k)
    return np.array(out, dtype=object)


def k_of_n_false_alarm_rate(p: float, k: int, n: int) -> float:
    """Per-run false-alarm rate of the k-of-n rule when each run alarms independently with rate p."""
    _check_kn(k, n)
    return float(stats.binom.sf(k - 1, n, p))


def drift_history(outputs_dir: str | Path, before: str | None = None, key: str = "dataset_drift",
                  notebook: str = "02_data_drift") -> list[tuple[str, bool | None]]:
    """[(run date, verdict)] of earlier runs from `outputs/<date>/summary.json`, oldest first.

    `key` is a dotted path into notebook 02's result (e.g. "error_control.fdr.dataset_drift" once
    the notebook stores it); runs without that key fall back to the default `dataset_drift`.
    """
    out = []
    for path in _dated_summaries(Path(outputs_dir)):
        date = path.parent.name
        if before is not None and date >= str(before)[:10]:
            continue
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: cannot be read as JSON ({err})") from None
        result = _notebook_result(summary if isinstance(summary, dict) else {}, notebook)
        value = _dotted(result, key)
        if value is None and key != "dataset_drift":
            value = result.get("dataset_drift")
        out.append((date, None if value is None else bool(value)))
    return out


def _dated_summaries(outputs_dir: Path) -> list[Path]:
    """`outputs/<YYYY-MM-DD>/summary.json`, oldest first: the files the consecutive-runs gauge reads
    (driftlib.monitoring.textfile, not imported here: monitoring depends on drift)."""
    return sorted(p for p in outputs_dir.glob("*/summary.json") if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.parent.name))


def _notebook_result(summary: dict, notebook: str) -> dict:
    for nb in summary.get("notebooks") or []:
        name = str(nb.get("name", "")) if isinstance(nb, dict) else ""
        if name and (name == notebook or name.split("_", 1)[0] == notebook.split("_", 1)[0]):
            result = nb.get("result")
            return result if isinstance(result, dict) else {}
    return {}


def _dotted(mapping: dict, key: str):
    value: Any = mapping
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# -- one call for notebook 02 ----------------------------------------------------------------------
HISTORY_KEY = "error_control.dataset_drift"  # where notebook 02 stores the per-run verdict below


@dataclass
class ErrorControlResult:
    """The opt-in verdicts of `drift.error_control`, beside the default one."""

    default_dataset_drift: bool | None
    fdr: FDRResult | None = None
    persistence: PersistenceResult | None = None

    @property
    def run_dataset_drift(self) -> bool | None:
        """This run's verdict under the options (FDR when on, else the default): what later runs'
        k-of-n reads back from summary.json."""
        return self.fdr.dataset_drift if self.fdr is not None else self.default_dataset_drift

    @property
    def dataset_drift(self) -> bool | None:
        return self.persistence.dataset_drift if self.persistence is not None else self.run_dataset_drift

    @property
    def headline(self) -> str:
        parts = [p.headline for p in (self.fdr, self.persistence) if p is not None]
        return " ".join(parts) or "No error control configured (drift.error_control)."

    def to_dict(self) -> dict[str, Any]:
        return {"dataset_drift": self.run_dataset_drift, "verdict": self.dataset_drift,
                "default_dataset_drift": self.default_dataset_drift, "headline": self.headline,
                "fdr": self.fdr.to_dict() if self.fdr is not None else None,
                "persistence": self.persistence.to_dict() if self.persistence is not None else None}

    def _repr_html_(self) -> str:
        return "".join(p._repr_html_() for p in (self.fdr, self.persistence) if p is not None) or \
            f"<p>{html.escape(self.headline)}</p>"


def apply_error_control(params, detector, reference: pd.DataFrame, result, run_date: str | None = None,
                        history: Sequence[tuple[Any, bool | None]] | None = None) -> ErrorControlResult | None:
    """`drift.error_control` applied to a `DriftResult`; None when neither option is on.

    The null is computed here, once, at the scored window's size (`null_draws` draws);
    `history` defaults to earlier runs' verdicts in `params.outputs_dir` before `run_date`.
    """
    ec = params.drift.error_control
    if not ec.fdr and not ec.k_of_n:
        return None
    out = ErrorControlResult(result.dataset_drift)
    if ec.fdr:
        n_current = int(result.tested["n_cur"].max()) if len(result.tested) else 0
        null = (permutation_null(detector, reference, n_current, ec.null_draws, ec.seed)
                if n_current else None)
        out.fdr = fdr_control(result, ec.fdr_level, null, ec.fdr_method)
    if ec.k_of_n:
        k, n = ec.k_of_n
        if history is None:
            history = drift_history(params.outputs_dir, before=run_date, key=HISTORY_KEY)
        label = str(run_date)[:10] if run_date is not None else "this run"
        out.persistence = persistence([*history, (label, out.run_dataset_drift)], k, n)
    return out
