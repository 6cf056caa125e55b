"""Is the model still right, and since when? The concept drift investigation behind notebook 03.

`ConceptDriftAnalyzer(params).fit(reference, model=None).score(production, as_of=run_date)` returns a
`ConceptReport`: per time window the label coverage and lag, realized metrics with bootstrap intervals
next to label-free estimates, target and prediction drift; for the run window (the `run.lookback_days`
before the run date) the verdict of the concept-vs-covariate test; the onset from the error stream;
the slices that dropped most and the calibration curves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from driftlib.concept import findings as F
from driftlib.concept import windows as W
from driftlib.concept.estimate import PerformanceEstimator, make_calibrator
from driftlib.performance.metrics import DEFAULTS, Rows, bootstrap, get_metric, interval
from driftlib.concept.onset import OnsetDetector
from driftlib.concept.report import ConceptReport, headline
from driftlib.concept.shift import (CalibrationShiftTest, ConceptShiftTest, CovariateShiftCheck, feature_frame,
                                    make_learner, screen_features)
from driftlib.performance.slices import slice_drops
from driftlib.config import Params
from driftlib.core.errors import ConfigError, InputError, NotFittedError
from driftlib.core.parallel import map_chunks

CONCEPT_TESTS = ("calibration", "features")
from driftlib.core.contracts import VERDICTS  # noqa: E402,F401


def verdict(n_labelled: int, min_labels: int, concept: bool | None, data: bool | None) -> str:
    if n_labelled < min_labels or concept is None:
        return "insufficient labels"
    return {(False, False): "stable", (False, True): "data drift only",
            (True, False): "concept drift", (True, True): "both"}[(bool(concept), bool(data))]


def _data_drift_flag(value) -> dict | None:
    """Accept notebook 02's result dict, a bare boolean, or None (then the cheap check runs)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if "dataset_drift" not in value:
            raise InputError("data_drift: expected notebook 02's result with a 'dataset_drift' key")
        if value["dataset_drift"] is None:  # 02 could not judge (too little data): use the own check
            return None
        return {"drifted": bool(value["dataset_drift"]), "share_drifted": value.get("share_drifted"),
                "source": "02_data_drift"}
    return {"drifted": bool(value), "share_drifted": None, "source": "argument"}


class ConceptDriftAnalyzer:
    """Fit on the labelled reference (with the model's outputs); score production history."""

    def __init__(self, params: Params, *, random_state: int | None = None, cache=None):
        """`cache` (a `driftlib.core.cache.ResultCache`) keeps finished windows' results between runs:
        their key is the window's rows and labels plus the fitted state, so a changed one is recomputed."""
        self.params = params
        self.cache = cache
        self.cfg = params.concept
        self.task = params.task
        self.seed = self.cfg.seed if random_state is None else random_state
        if not params.columns.target:
            raise ConfigError(f"{params.source_file}: field 'columns.target': concept drift needs the label column")
        metric = self.cfg.metric or ("roc_auc" if self.task == "classification" else "mae")
        self.metric = get_metric(metric, self.task)
        slice_metric = self.cfg.slice_metric
        if self.task == "regression" and "slice_metric" not in self.cfg.model_fields_set:
            slice_metric = "mae"
        self.slice_metric = get_metric(slice_metric, self.task, "concept.slice_metric")
        for name in self.cfg.metrics or []:
            get_metric(name, self.task, "concept.metrics")
        self.spec = W.window_spec(self.cfg.window)
        make_calibrator(self.cfg.calibration)
        make_learner(self.cfg.learner, self.task, self.seed)
        unknown = sorted(set(self.cfg.tests) - set(CONCEPT_TESTS))
        if unknown or not self.cfg.tests:
            raise ConfigError(f"field 'concept.tests': expected a non-empty subset of {', '.join(CONCEPT_TESTS)}"
                              + (f", got {', '.join(unknown)}" if unknown else ""))
        self._onset = OnsetDetector(self.cfg.detectors, self.cfg.min_agreement, self.cfg.onset_tolerance,
                                    binary_errors=self.task == "classification")

    # -- columns -----------------------------------------------------------------------------------
    @property
    def _c(self):
        return self.params.columns

    def _score_col(self, df: pd.DataFrame) -> str | None:
        p = self._c.probability
        ok = self.task == "classification" and p and p in df.columns and df[p].notna().any()
        return p if ok else None

    def _rows(self, df: pd.DataFrame) -> Rows:
        s = self.score_col_
        return Rows.of(None if s is None else df[s].to_numpy(float), df[self._c.prediction].to_numpy(float))

    def _y(self, df: pd.DataFrame) -> np.ndarray:
        return pd.to_numeric(df[self._c.target], errors="coerce").to_numpy(float)

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, reference: pd.DataFrame, model=None) -> "ConceptDriftAnalyzer":
        from driftlib.data.tables import add_predictions, encode_target, feature_lists

        c = self._c
        if c.target not in reference.columns:
            raise InputError(f"reference: missing label column '{c.target}'")
        reference = encode_target(reference, self.params)  # raw labels (strings, booleans) to 0/1
        needs_model = c.prediction not in reference.columns or (
            self.task == "classification" and c.probability and c.probability not in reference.columns)
        if needs_model:
            if model is None:
                raise InputError(f"reference: missing column '{c.prediction}' and no model to score it")
            reference = add_predictions(reference, model, self.params)
        self.numeric_, self.categorical_ = feature_lists(self.params, reference)
        ref = reference[reference[c.target].notna()].reset_index(drop=True)
        if len(ref) < self.cfg.min_labels:
            raise InputError(f"reference: {len(ref)} labelled rows, fewer than concept.min_labels "
                             f"({self.cfg.min_labels})")
        self.score_col_ = self._score_col(ref)
        names = self.cfg.metrics or DEFAULTS[self.task]
        self.metrics_ = [m for m in (get_metric(n, self.task) for n in names)
                         if self.score_col_ or not m.needs_probability]
        if self.metric.needs_probability and not self.score_col_:
            raise InputError(f"reference: concept.metric '{self.metric.name}' needs the probability column")
        self.degradation_ = self._degradation_metrics()
        self.reference_ = ref
        self.state_key_ = self._state_key(ref)
        self._ref_cache = {}
        self._fit_reference_metrics(ref)
        self.estimator_ = None
        if self.score_col_:
            self.estimator_ = PerformanceEstimator(self.metrics_, self.cfg.calibration, self.cfg.n_bootstrap,
                                                   self.cfg.confidence, self.seed)
            self.estimator_.fit(ref[self.score_col_].to_numpy(float), self._y(ref))
        self.covariate_ = CovariateShiftCheck(self.numeric_, self.categorical_, self.cfg.alpha,
                                              self.params.drift.drift_share).fit(ref)
        self.concept_features_ = screen_features(ref, self._y(ref), self.numeric_, self.categorical_, self.task,
                                                 self.cfg.max_features)
        return self

    def _degradation_metrics(self) -> list:
        """The main metric, plus the Brier score when there are probabilities.

        Brier is a proper scoring rule: it worsens when the ranking, the calibration or the difficulty
        of the period does, which is what users of the probabilities experience. ECE stays reported.
        """
        names = self.cfg.degradation_metrics
        if names is None:
            names = [self.metric.name] + (["brier"] if self.score_col_ and self.metric.name != "brier" else [])
        chosen = [get_metric(n, self.task, "concept.degradation_metrics") for n in names]
        by_name = {m.name: m for m in self.metrics_}
        missing = [m.name for m in chosen if m.name not in by_name]
        if missing:
            raise ConfigError(f"field 'concept.degradation_metrics': {', '.join(missing)} not among the "
                              "reported metrics (concept.metrics) or needs probabilities")
        return chosen

    def _fit_reference_metrics(self, ref: pd.DataFrame) -> None:
        rows, y = self._rows(ref), self._y(ref)
        rng = np.random.default_rng(self.seed)
        self.ref_boot_ = bootstrap(self.metrics_, y, rows, self.cfg.n_bootstrap, rng)
        self.ref_point_ = {m.name: m.point(y, rows) for m in self.metrics_}
        self.ref_mae_ = float(np.mean(np.abs(y - rows.pred))) if self.task == "regression" else None

    def reference_summary(self) -> dict:
        metrics = {}
        for m in self.metrics_:
            lo, hi = interval(self.ref_boot_[m.name], self.cfg.confidence)
            metrics[m.name] = {"value": self.ref_point_[m.name], "lower": lo, "upper": hi}
        y = self._y(self.reference_)
        return {"n": int(len(self.reference_)), "metrics": metrics, "target_mean": float(np.mean(y)),
                "calibration": self._calibration(self.reference_)}

    # -- score -------------------------------------------------------------------------------------
    def score(self, production: pd.DataFrame, *, as_of=None, data_drift=None,
              lookback_days: int | None = None, findings: list[str] = ()) -> ConceptReport:
        """`as_of` is the run date: rows at or after it are ignored and so are labels arriving later.
        `findings` (e.g. the baseline's warnings) are stated in the headline before the verdict."""
        df, as_of = self._prepare(production, as_of)
        current, start = self._current(df, as_of, lookback_days)
        ts = self._c.timestamp
        cur = self._summarise(current, start, as_of, test=True, data_drift=_data_drift_flag(data_drift))
        windows = self._timeline(df, as_of)
        onset = self._run_onset(df)
        degraded, basis = _degraded(cur, windows)
        lab = current[current[self._c.target].notna()]
        ref = self.reference_summary()
        findings, insufficient = list(findings), None
        if current.empty:  # an empty run window says nothing, whatever older windows said
            days = self.params.run.lookback_days if lookback_days is None else lookback_days
            insufficient = F.empty_window(df, ts, start, as_of, days)
            degraded, basis = None, "no data in the run window"
        one = None
        if self.task == "classification":
            hist = df[df[self._c.target].notna()]
            one = F.single_class(self._y(hist), hist[ts], self._y(lab))
            if one:
                findings.append(F.single_class_text(one, self.params.columns.positive_label))
        at, first_degraded, onset_basis = F.onset(windows, onset.change_points, degraded, start, as_of,
                                                  self._onset.tolerance)
        report = ConceptReport(
            headline="", verdict=cur["verdict"], degraded=degraded, degraded_basis=basis,
            onset=at, as_of=as_of,
            start=start, metric=self.metric.name, degradation_metrics=[m.name for m in self.degradation_],
            task=self.task, reference=ref, current=cur, windows=windows,
            estimation_error=estimation_error(windows, [m.name for m in self.metrics_]),
            label_coverage={**W.coverage(current, self._c.target, ts),
                            "history": W.coverage(df, self._c.target, ts)},
            change_points=onset.change_points, detections=onset.detections, last_change=onset.onset,
            slices=self._slices(lab), calibration={"reference": ref["calibration"],
                                                   "current": self._calibration(lab)},
            n_errors=onset.n, confidence=self.cfg.confidence, findings=findings,
            insufficient=insufficient, min_labels=self.cfg.min_labels, first_degraded=first_degraded,
            onset_basis=onset_basis, single_class=one)
        report.headline = headline(report)
        return report

    def check(self, production: pd.DataFrame, *, as_of=None, data_drift=None,
              lookback_days: int | None = None) -> dict:
        """The run window's verdict alone (concept test + data drift check): cheap, for gates and CLIs."""
        df, as_of = self._prepare(production, as_of)
        current, _ = self._current(df, as_of, lookback_days)
        lab = current[current[self._c.target].notna()]
        return self._verdict(current, lab, _data_drift_flag(data_drift))

    def _current(self, df: pd.DataFrame, as_of: pd.Timestamp, lookback_days: int | None):
        days = self.params.run.lookback_days if lookback_days is None else lookback_days
        start = as_of - pd.Timedelta(days=days)
        return df[df[self._c.timestamp] >= start], start

    def _prepare(self, production: pd.DataFrame, as_of) -> tuple[pd.DataFrame, pd.Timestamp]:
        from driftlib.data.tables import encode_target, utc, with_utc_timestamp

        if not hasattr(self, "reference_"):
            raise NotFittedError("ConceptDriftAnalyzer: call fit(reference) before scoring production data")
        c = self._c
        missing = [x for x in [c.prediction, *self.numeric_, *self.categorical_] if x not in production.columns]
        if missing:
            raise InputError(f"production: missing column(s) {', '.join(missing)}")
        df = with_utc_timestamp(production, c.timestamp, "production")
        if c.target not in df.columns:
            df = df.assign(**{c.target: np.nan})
        df = encode_target(df, self.params)
        if W.LABEL_TIME in df.columns:
            df = df.assign(**{W.LABEL_TIME: pd.to_datetime(df[W.LABEL_TIME], utc=True)})
        if as_of is None:
            last = df[c.timestamp].max()
            as_of = (last.normalize() + pd.Timedelta(days=1)) if len(df) else pd.Timestamp.now(tz="UTC")
        as_of = utc(as_of)
        df = df[df[c.timestamp] < as_of]
        df = W.mask_late_labels(df, c.target, as_of)
        return df.sort_values(c.timestamp, kind="stable").reset_index(drop=True), as_of

    def _timeline(self, df: pd.DataFrame, as_of: pd.Timestamp) -> list[dict]:
        if df.empty:
            return []
        bounds = W.assign_windows(df[self._c.timestamp], self.spec, as_of)
        windows = [(start, end, w) for (start, end), w in df.groupby([bounds["start"], bounds["end"]], sort=True)]
        keys = [self._window_key(w, start, end) for start, end, w in windows]
        found = [self.cache.lookup(k) if k else (False, None) for k in keys]
        todo = [i for i, (hit, _) in enumerate(found) if not hit]
        # the windows not reused are independent: spread over the cores (concept.n_jobs), same results
        computed = map_chunks(self._summarise_windows, [windows[i] for i in todo], self.cfg.n_jobs)
        out = [value for _, value in found]
        for i, value in zip(todo, computed):
            if keys[i]:
                self.cache.put(keys[i], value)
            out[i] = value
        return out

    def _summarise_windows(self, windows: list[tuple]) -> list[dict]:
        return [self._summarise(w, start, end, test=self.cfg.test_windows) for start, end, w in windows]

    def _state_key(self, ref: pd.DataFrame) -> str:
        """Everything a window's result depends on besides its own rows: reference, settings, seed."""
        from driftlib.core.cache import key_of

        return key_of("concept-window-v2", self._used(ref), self.params.concept.model_dump(mode="json", exclude={"n_jobs"}),
                      self.params.columns.model_dump(mode="json"), self.task, self.seed,
                      sorted(self.numeric_), sorted(self.categorical_))

    def _window_key(self, w: pd.DataFrame, start, end) -> str | None:
        """The cache key of one timeline window (None without a cache)."""
        if self.cache is None:
            return None
        from driftlib.core.cache import key_of

        return key_of(self.state_key_, self._used(w), str(start), str(end))

    def _used(self, df: pd.DataFrame) -> pd.DataFrame:
        """The columns a window's result depends on (not log bookkeeping such as flags)."""
        c = self._c
        used = [c.timestamp, c.target, c.prediction, c.probability, "label_timestamp", *self.numeric_,
                *self.categorical_]
        return df[[col for col in dict.fromkeys(used) if col and col in df.columns]]

    # -- one window --------------------------------------------------------------------------------
    def _summarise(self, w: pd.DataFrame, start, end, *, test: bool, data_drift: dict | None = None) -> dict:
        c = self._c
        lab = w[w[c.target].notna()]
        out = {"start": start, "end": end, **W.coverage(w, c.target, c.timestamp)}
        out.update(self._realized(lab))
        out.update(self._estimated(w, lab, out.get("realized") or {}))
        out["target"] = W.target_drift(self._y(self.reference_), self._y(lab), self.task, self.cfg.alpha)
        score = self.score_col_ or c.prediction
        out["prediction"] = W.prediction_drift(self.reference_[score].to_numpy(float),
                                               w[score].to_numpy(float), self.cfg.alpha)
        out["verdict"] = None
        if test:
            out.update(self._verdict(w, lab, data_drift))
        return out

    def _realized(self, lab: pd.DataFrame) -> dict:
        if len(lab) < self.cfg.min_labels:
            return {"realized": None, "difference": None, "degraded": None}
        rows, y = self._rows(lab), self._y(lab)
        rng = np.random.default_rng(self.seed + 1)
        boot = bootstrap(self.metrics_, y, rows, self.cfg.n_bootstrap, rng)
        realized = {}
        for m in self.metrics_:
            lo, hi = interval(boot[m.name], self.cfg.confidence)
            realized[m.name] = {"value": m.point(y, rows), "lower": lo, "upper": hi}
        diff, degraded = self._compare(boot, len(lab))
        return {"realized": realized, "difference": diff, "degraded": degraded}

    def _compare(self, replicates: dict, n: int) -> tuple[dict, bool | None]:
        """Window minus reference per degradation metric; degraded when an interval says so.

        Reference replicates are drawn at the window's size (same sampling bias); each of the k
        metrics is judged at confidence 1 - (1 - confidence) / k, so k metrics add no false alarms.
        """
        ref = self._reference_replicates(n)
        level = 1 - (1 - self.cfg.confidence) / len(self.degradation_)
        diff, flags = {}, []
        for m in self.degradation_:
            d = replicates[m.name] - ref[m.name]
            lo, hi = interval(d, level)
            worse = None if not np.isfinite(lo) else bool(
                hi < -self.cfg.tolerance if m.higher_is_better else lo > self.cfg.tolerance)
            finite = d[np.isfinite(d)]
            diff[m.name] = {"value": float(np.median(finite)) if len(finite) else None, "lower": lo, "upper": hi,
                            "confidence": level, "degraded": worse}
            flags.append(worse)
        known = [f for f in flags if f is not None]
        return diff, (any(known) if known else None)

    def _reference_replicates(self, n: int) -> dict:
        """Reference replicates of about `n` rows, cached on a grid of sizes 1.25x apart."""
        size = int(round(1.25 ** round(np.log(max(n, 1)) / np.log(1.25))))
        if size not in self._ref_cache:
            rng = np.random.default_rng(self.seed + 3 + size)
            self._ref_cache[size] = bootstrap(self.degradation_, self._y(self.reference_),
                                              self._rows(self.reference_), self.cfg.n_bootstrap, rng, size=size)
        return self._ref_cache[size]

    def _estimated(self, w: pd.DataFrame, lab: pd.DataFrame, realized: dict) -> dict:
        out = {"estimated": None, "estimated_degraded": None, "estimation_error": None,
               "estimate_covers_realized": None}
        if self.estimator_ is None or len(w) < self.cfg.min_labels:  # too few predictions to say anything
            return out
        est, sims = self.estimator_.estimate(w[self.score_col_].to_numpy(float),
                                             w[self._c.prediction].to_numpy(float))
        out["estimated"] = {k: v.to_dict() for k, v in est.items()}
        out["estimated_degraded"] = self._compare(sims, len(w))[1]
        if realized:
            on_lab = self.estimator_.score(lab[self.score_col_].to_numpy(float),
                                           lab[self._c.prediction].to_numpy(float))
            out["estimation_error"] = {k: on_lab[k].value - realized[k]["value"] for k in realized}
            out["estimate_covers_realized"] = {k: bool(on_lab[k].lower <= realized[k]["value"] <= on_lab[k].upper)
                                               for k in realized if np.isfinite(on_lab[k].lower)}
        return out

    def _verdict(self, w: pd.DataFrame, lab: pd.DataFrame, data_drift: dict | None) -> dict:
        data = data_drift or (self.covariate_.score(w).to_dict() if len(w) else None)
        if len(lab) < self.cfg.min_labels:
            return {"concept_test": None, "data_drift": data,
                    "verdict": verdict(len(lab), self.cfg.min_labels, None, None)}
        tests = self._concept_tests(lab)
        flags = [t["drift"] for t in tests.values()]
        concept = True if any(flags) else (None if None in flags else False)  # undetermined is never "no"
        return {"concept_test": {"drift": concept, "alpha": self.cfg.alpha, "tests": tests}, "data_drift": data,
                "verdict": verdict(len(lab), self.cfg.min_labels, concept, data and data["drifted"])}

    def _output_col(self) -> str | None:
        return self.score_col_ if self.task == "classification" else self._c.prediction

    def _concept_tests(self, lab: pd.DataFrame) -> dict:
        """Each configured test at alpha / k (Bonferroni): the verdict's false-alarm rate stays <= alpha."""
        names = [t for t in self.cfg.tests if t != "calibration" or self._output_col()]
        level = self.cfg.alpha / len(names)
        ref, out = self.reference_, {}
        if "calibration" in names:
            col = self._output_col()
            test = CalibrationShiftTest(self.task, level).fit(ref[col].to_numpy(float), self._y(ref))
            out["calibration"] = test.score(lab[col].to_numpy(float), self._y(lab)).to_dict()
        if "features" in names:
            X_ref, X_win = feature_frame([ref, lab], *self.concept_features_)
            test = ConceptShiftTest(self.task, self.cfg.learner, level, 2, self.cfg.reference_ratio, self.seed)
            out["features"] = {**test.fit(X_ref, self._y(ref)).score(X_win, self._y(lab)).to_dict(),
                               "n_features": X_ref.shape[1],  # < all features on wide tables (max_features)
                               "n_features_total": len(self.numeric_) + len(self.categorical_)}
        return out

    # -- history-wide views ------------------------------------------------------------------------
    def _run_onset(self, df: pd.DataFrame):
        lab = df[df[self._c.target].notna()]
        y, pred = self._y(lab), lab[self._c.prediction].to_numpy(float)
        if self.task == "classification":
            errors = (y != pred).astype(float)
        else:
            errors = np.abs(y - pred) / (self.ref_mae_ or 1.0)
        return self._onset.score(errors, lab[self._c.timestamp])

    def _slices(self, lab: pd.DataFrame) -> list[dict]:
        if lab.empty or not self.categorical_:
            return []
        m = self.slice_metric
        if m.needs_probability and not self.score_col_:
            return []
        return slice_drops(self.reference_, lab, self.categorical_, m, self._c.target,
                           self.score_col_, self._c.prediction, min_rows=self.cfg.min_slice_rows,
                           top=self.cfg.n_slices, n_boot=self.cfg.n_bootstrap, confidence=self.cfg.confidence,
                           random_state=self.seed)

    def _calibration(self, lab: pd.DataFrame) -> dict | None:
        if not self.score_col_ or len(lab) < self.cfg.min_labels or len(np.unique(self._y(lab))) < 2:
            return None
        frac, mean = calibration_curve(self._y(lab), lab[self.score_col_].to_numpy(float), n_bins=10,
                                       strategy="quantile")
        return {"mean_predicted": mean.tolist(), "fraction_positive": frac.tolist(), "n": int(len(lab))}


def _degraded(cur: dict, windows: list[dict]) -> tuple[bool | None, str]:
    """Degraded over the run window, or in the latest window with enough labels (the freshest evidence);
    by the estimate when no labels at all allow a judgement."""
    judged = [w for w in windows if w["degraded"] is not None]
    latest = judged[-1]["degraded"] if judged else None
    if cur["degraded"] is not None or latest is not None:
        if cur["degraded"]:
            return True, "run window (realized)"
        if latest:
            return True, "latest window (realized)"
        return False, "realized"
    if cur["estimated_degraded"] is not None:
        return cur["estimated_degraded"], "run window (estimated)"
    return None, "no data"


def estimation_error(windows: list[dict], metrics: list[str]) -> dict:
    """Estimated minus realized on the labelled rows of each window, summarised per metric and verdict."""
    out = {}
    for name in metrics:
        rows = [(w["estimation_error"][name], w.get("verdict"), (w.get("estimate_covers_realized") or {}).get(name))
                for w in windows if w.get("estimation_error") and name in w["estimation_error"]]
        if not rows:
            continue
        out[name] = {**_abs_summary([r[0] for r in rows]),
                     "covered_share": float(np.mean([bool(r[2]) for r in rows])),
                     "by_verdict": {v: _abs_summary([r[0] for r in rows if r[1] == v])
                                    for v in sorted({r[1] for r in rows if r[1]})}}
    return out


def _abs_summary(errors: list[float]) -> dict:
    a = np.abs(np.asarray(errors, dtype=float))
    return {"n_windows": int(len(a)), "mean_abs": float(a.mean()), "max_abs": float(a.max()),
            "mean": float(np.mean(errors))}
