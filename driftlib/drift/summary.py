"""Notebook 02's decisions in one place: which features matter, the headline, and the typed summary.

The notebook only calls these and plots; the wording of the headline is made here once, so the
report, the index and the run summary can never say different things.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from driftlib.core.cache import state_cache
from driftlib.core.contracts import DataDriftSummary, SkippedInput
from driftlib.core.errors import DriftlibError


@dataclass
class Importance:
    """How much the model relies on each feature, or why that is unknown."""

    values: pd.Series | None = None
    note: str = ""


def model_importance(model_loader, reference: pd.DataFrame, features: list[str], target: str, *, drift=None,
                     mode: str = "permutation", max_features: int = 30, n_repeats: int = 3,
                     max_rows: int = 5000) -> Importance:
    """Permutation importance on the labelled reference, for at most `max_features` features (the most
    drifted first: on 1,500 columns scrambling each one would take an hour). A missing model or label,
    or `drift.importance: none`, only costs the ranking, and the note says so."""
    if mode == "none":
        return Importance(None, "Feature importance is off (drift.importance: none); features are ranked "
                                "by drift strength alone.")
    try:
        model = model_loader() if callable(model_loader) and not hasattr(model_loader, "predict") else model_loader
        labelled = reference[reference[target].notna()]
        chosen = most_drifted(drift, features, max_features)
        values = _permutation_importance(model, labelled[features], labelled[target], chosen,
                                         n_repeats=n_repeats, max_rows=max_rows)
        note = "" if len(chosen) == len(features) else (
            f"Importance measured for the {len(chosen)} most drifted of {len(features)} features "
            f"(drift.importance_max_features); the others rank by drift strength only.")
        return Importance(values, note)
    except (DriftlibError, KeyError, ValueError, TypeError) as err:
        return Importance(None, f"Feature importance unavailable ({err}); features are ranked by drift "
                                "strength alone.")


def most_drifted(drift, features: list[str], k: int) -> list[str]:
    if drift is None or len(features) <= k:
        return list(features)[:k] if drift is None else list(features)
    strength = drift.features.set_index("column")["strength"].reindex(features).fillna(-1.0)
    return list(strength.sort_values(ascending=False, kind="stable").index[:k])


class _Subset:
    """The model seen through a few of its columns: sklearn's permutation_importance then scrambles only
    those, while the others keep their reference values."""

    def __init__(self, model, full: pd.DataFrame):
        self.model, self.full = model, full

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out = self.full.loc[X.index].copy()
        out[X.columns] = X.to_numpy()
        return out

    def fit(self, X, y=None):  # permutation_importance never fits; present for the estimator protocol
        return self

    def predict(self, X):
        return self.model.predict(self._frame(X))

    def predict_proba(self, X):
        return self.model.predict_proba(self._frame(X))

    def score(self, X, y):
        return self.model.score(self._frame(X), y)


def _permutation_importance(model, X: pd.DataFrame, y, columns: list[str], *, n_repeats: int, max_rows: int):
    from driftlib.drift.quality import feature_importance

    if len(columns) == X.shape[1]:
        return feature_importance(model, X, y, n_repeats=n_repeats, max_rows=max_rows)
    keep = pd.Series(y).notna().to_numpy()
    X, y = X[keep], pd.Series(y)[keep]
    if len(X) > max_rows:
        X = X.sample(max_rows, random_state=0)
        y = y.loc[X.index]
    return feature_importance(_Subset(model, X), X[columns], y, n_repeats=n_repeats, max_rows=max_rows)


def period_text(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """'01 Jun 2013 to 30 Jun 2013' for the window [start, end)."""
    return f"{start:%d %b %Y} to {end - pd.Timedelta(days=1):%d %b %Y}"


def output_drifted(drift) -> list[str]:
    return [name for name, o in (drift.prediction_drift or {}).items() if o["drifted"]]


def headline(drift, drifted_ranked: list[str], period: str) -> str:
    """The one sentence for the report, the index and summary.json: `DriftResult.headline_text`,
    with the drifted features in order of importance and untestable columns named."""
    return drift.headline_text(period=period, ranked=drifted_ranked)


def bullets(drift, n_reference: int, drift_share: float, importance: Importance) -> list[str]:
    """The lines under the headline: sizes, the rule, each model output."""
    lines = []
    if drift.status == "ok":
        lines += [f"- {drift.n_rows:,} predictions in production compared with {n_reference:,} reference rows.",
                  f"- Dataset drift is declared when at least {drift_share:.0%} of the features drifted; "
                  f"this time {drift.share_drifted:.0%} did."]
        for name, o in (drift.prediction_drift or {}).items():
            if o["status"] == "ok":
                lines.append(f"- Model output `{name}`: {'**changed**' if o['drifted'] else 'stable'} "
                             f"({o['method']} {o['score']:.3g}, threshold {o['threshold']:g}).")
    if importance.note:
        lines.append(f"- {importance.note}")
    return lines


def window_notes(windowed, window: str, min_rows: int, top: int = 10) -> str:
    """The windows in one line, then when each feature first drifted: the `top` earliest only (a wide
    table would list hundreds), with a count of the rest."""
    w = windowed.windows
    first = windowed.first_drift().dropna().sort_values(kind="stable")
    notes = [f"{len(w)} windows of {window}; {int((w['status'] != 'ok').sum())} with fewer than "
             f"{min_rows} predictions; {int(w['dataset_drift'].eq(True).sum())} with dataset drift."]
    notes += [f"- `{col}` first drifted in the window starting {when:%d %b %Y}"
              for col, when in first.head(top).items()]
    if len(first) > top:
        notes.append(f"- … and {len(first) - top} more features (the heatmap shows the most drifted)")
    return "\n".join(notes)


def column_rows(drift, ranked: pd.DataFrame) -> list[dict[str, Any]]:
    """Per-feature rows of the summary, joined by column name (never by row order)."""
    extra = drift.features.set_index("column")[["status", "strength"]]
    rows = []
    for row in drift.to_dict()["columns"]:
        status, strength = extra.loc[row["column"], "status"], extra.loc[row["column"], "strength"]
        rows.append({**row, "status": status, "strength": None if pd.isna(strength) else float(strength)})
    return rows


def summarise(drift, ranked: pd.DataFrame, windowed, quality, *, n_reference: int, start, end, period: str,
              evidently_html: str | None = None, warnings: list[str] = (), error_control=None,
              detectability: pd.DataFrame | None = None, multivariate=None, segments=None,
              skipped: SkippedInput | None = None) -> DataDriftSummary:
    """Notebook 02's typed result (the keys of DESIGN.md's summary.json contract, plus details);
    what the readers left out (`skipped`) leads the warnings and is counted in `skipped_input`."""
    drifted_ranked = ranked.loc[ranked["drifted"].astype(bool), "column"].tolist()
    skipped = skipped or SkippedInput()
    return DataDriftSummary(
        headline=headline(drift, drifted_ranked, period), warnings=[*skipped.warnings, *warnings],
        skipped_input=skipped.to_dict(),
        dataset_drift=drift.dataset_drift, share_drifted=drift.share_drifted, drifted_columns=drifted_ranked,
        prediction_drift=drift.prediction_drift or {}, columns=column_rows(drift, ranked), n_rows=drift.n_rows,
        extra={"verdict": drift.verdict, "untestable": drift.untestable,
               "untestable_reasons": drift.untestable_reasons, "windows": windowed.to_dict(), "quality": {**quality.counts(), "by_check": quality.by_check()},
               "n_reference": n_reference, "period": {"start": start, "end": end},
               "evidently_html": evidently_html,
               # opt-in verdicts beside the default; later runs' k-of-n reads error_control.dataset_drift
               "error_control": None if error_control is None else error_control.to_dict(),
               "multivariate": None if multivariate is None else multivariate.to_dict(),
               "drifted_slices": None if segments is None else segments.to_dict(),
               "detectability": None if detectability is None else
               detectability[["column", "kind", "n_current", "mds", "unit", "could_detect"]].to_dict("records")})


@dataclass
class EvidentlyOutcome:
    html: str | None = None
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def evidently_views(params, reference, current, numeric, categorical, out_dir) -> EvidentlyOutcome:
    """Evidently's interactive report and the UI snapshot. An auxiliary view must not sink the report,
    but a failure to write it is a run warning, not silence. Evidently is imported only here."""
    if len(current) < params.drift.min_rows:
        return EvidentlyOutcome(message="Too few production rows for Evidently's report.")
    if len(numeric) + len(categorical) > params.drift.evidently_max_columns:
        return EvidentlyOutcome(message=f"Evidently's report skipped: {len(numeric) + len(categorical)} features "
                                f"exceed drift.evidently_max_columns = {params.drift.evidently_max_columns}; "
                                "every column's test is in [02_drift_table.csv](02_drift_table.csv).")
    from driftlib.drift.evidently_io import SNAPSHOT_FILE, evidently_report, save_html, save_snapshot

    try:
        snapshot = evidently_report(reference, current, numeric, categorical, sample=params.drift.evidently_sample,
                                    columns=params.drift.columns, drift_share=params.drift.drift_share)
        name = save_html(snapshot, out_dir / "02_evidently_drift.html").name
        save_snapshot(snapshot, out_dir / SNAPSHOT_FILE)  # the run adds it to the Evidently UI workspace
        return EvidentlyOutcome(name, f"[Open Evidently's interactive drift report]({name})")
    except Exception as err:  # noqa: BLE001 - say why the view is missing, and flag the run
        why = f"Evidently's report could not be built: {type(err).__name__}: {err}"
        return EvidentlyOutcome(None, f"`{why}`", [why])


def save_table(drift, ranked: pd.DataFrame, out_dir) -> str:
    """Every column's test and rank in one CSV beside the report: plots and tables show only the top."""
    table = drift.table.merge(ranked[["column", "rank", "importance", "weighted"]], on="column", how="left")
    name = "02_drift_table.csv"
    table.sort_values(["rank"], na_position="last").to_csv(out_dir / name, index=False)
    return name


def sensitivity_text(seen: pd.DataFrame | None, drift, shift: float | None) -> str:
    """Which 'no drift' features could not have seen a shift of `shift` in this window: never say
    "no drift" where the window was too small to tell."""
    if seen is None or seen.empty:
        return ""
    quiet = set(drift.tested.loc[~drift.tested["drifted"].astype(bool), "column"])
    blind = seen[seen["column"].isin(quiet) & (seen["could_detect"] == False)]  # noqa: E712
    if blind.empty:
        return (f"Every feature without drift could have detected a shift of {shift:g} (reference standard "
                "deviations for numbers, total-variation distance for categories) in this window.")
    names = ", ".join(f"`{c}` (needs {m:.2g} {u})" for c, m, u in
                      blind[["column", "mds", "unit"]].itertuples(index=False, name=None))
    return (f"**Not detectable in this window**: a shift of {shift:g} in {names} would not have been seen; "
            "for them \"no drift\" means \"not detectable with this many rows\", not \"unchanged\".")


# -- notebook 02's blocks: the notebook calls these, shows what they return and plots -----------------
@dataclass
class DriftInputs:
    """What notebook 02 compares: the captured reference and the run window's production rows."""

    params: Any
    registry: Any
    start: pd.Timestamp
    end: pd.Timestamp
    reference: pd.DataFrame
    profile: Any
    current: pd.DataFrame
    skipped: SkippedInput
    out: Any

    @property
    def period(self) -> str:
        return period_text(self.start, self.end)

    @property
    def numeric(self) -> list[str]:
        return self.profile.numeric

    @property
    def categorical(self) -> list[str]:
        return self.profile.categorical

    @property
    def features(self) -> list[str]:
        return self.profile.features

    @property
    def kinds(self) -> dict[str, str]:
        return {name: "numeric" for name in self.numeric} | {name: "categorical" for name in self.categorical}


def load_inputs(params, registry, run_date: str, output_dir) -> DriftInputs:
    """The captured reference (notebook 01), the run window's production rows scored by the current
    model of `registry` with the labels known on the run date, and the output folder (created)."""
    from pathlib import Path

    from driftlib.data import reference
    from driftlib.data.tables import load_production, run_window

    start, end = run_window(params, run_date)
    ref, profile = reference.load_captured(params)
    skipped = SkippedInput()  # rows the readers left out (torn, unparsable, quarantined): reported and counted
    current = load_production(params, start, end, as_of=end, model=registry.current_model, skipped=skipped)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return DriftInputs(params, registry, start, end, ref, profile, current, skipped, out)


@dataclass
class Verdict:
    """The run window's drift, the features ranked by drift x importance, and the words for them."""

    drift: Any
    importance: Importance
    ranked: pd.DataFrame
    headline: str
    lines: list[str]

    @property
    def drifted_ranked(self) -> list[str]:
        return self.ranked.loc[self.ranked["drifted"], "column"].tolist()

    @property
    def markdown(self) -> str:
        return "\n".join([f"### {self.headline}", "", *self.lines])

    def top(self, k: int = 6, fallback: int = 3) -> list[str]:
        """The `k` most important drifted features, else the `fallback` highest-ranked ones."""
        return self.drifted_ranked[:k] or self.ranked["column"].head(fallback).tolist()

    def _repr_markdown_(self) -> str:
        return self.markdown


def verdict(inputs: DriftInputs, drift) -> Verdict:
    """Importance (bounded on wide tables), the ranking, the headline and the lines under it."""
    from driftlib.drift.quality import rank_features

    p, c = inputs.params, inputs.params.columns
    importance = model_importance(inputs.registry.current_model, inputs.reference, inputs.features, c.target,
                                  drift=drift, mode=p.drift.importance, max_features=p.drift.importance_max_features)
    ranked = rank_features(drift, importance.values)
    drifted = ranked.loc[ranked["drifted"], "column"].tolist()
    return Verdict(drift, importance, ranked, headline(drift, drifted, inputs.period),
                   bullets(drift, len(inputs.reference), p.drift.drift_share, importance))


def table_link(drift, ranked: pd.DataFrame, out_dir) -> str:
    """Save every column's test and rank beside the report; the link to it."""
    name = save_table(drift, ranked, out_dir)
    return f"All {len(ranked):,} tested features: [{name}]({name})"


def drift_windows(inputs: DriftInputs, detector):
    """Drift per `drift.window` over the run window, finished windows reused (`run.cache`)."""
    from driftlib.drift import windows

    p = inputs.params
    return windows.score_windows(detector, inputs.current, timestamp=p.columns.timestamp, window=p.drift.window,
                                 min_rows=p.drift.min_rows, start=inputs.start, end=inputs.end,
                                 cache=state_cache(p), reference=inputs.reference)


@dataclass
class MultivariateViews:
    multivariate: Any = None
    segments: Any = None
    text: str = "Multivariate checks skipped (drift.multivariate is off, or too few rows)."


def multivariate_views(inputs: DriftInputs, drift, drifted_slices) -> MultivariateViews:
    """Domain classifier + PCA reconstruction and the segments whose traffic share moved
    (`drifted_slices`: `driftlib.performance.slice_search.drifted_slices`, passed in as it sits above
    `drift` in the layers), on the most drifted `drift.multivariate_max_features` features (bounded on
    wide tables); skipped when off."""
    p = inputs.params
    if not p.drift.multivariate or drift.status != "ok":
        return MultivariateViews()
    from driftlib.drift.multivariate import multivariate_drift

    mv = most_drifted(drift, inputs.features, p.drift.multivariate_max_features)
    num, cat = [f for f in inputs.numeric if f in mv], [f for f in inputs.categorical if f in mv]
    ref, cur = inputs.reference[mv], inputs.current[mv]
    report = multivariate_drift(ref, cur, num, cat, params=p)
    segments = drifted_slices(ref, cur, params=p, numeric=num, categorical=cat)
    return MultivariateViews(report, segments, f"**{report.headline}** {segments.headline}")


def data_quality(inputs: DriftInputs, detector, drift):
    """Missing columns, type changes, nulls, unseen categories, out-of-range values (the columns drift
    leaves out and the raw log flags excluded)."""
    from driftlib.drift.quality import DataQualityChecker

    skip = {*detector.exclude, "flags"}
    checker = DataQualityChecker.from_params(inputs.params, inputs.numeric, inputs.categorical)
    checker = checker.fit(inputs.reference[inputs.features])
    return checker.score(inputs.current[[col for col in inputs.current.columns if col not in skip]], drift=drift)


def quality_findings(quality, rows: int = 50) -> pd.DataFrame | None:
    return quality.table[["severity", "check", "column", "message"]].head(rows) if quality.findings else None


def summarise_run(inputs: DriftInputs, verdict_: Verdict, windowed, quality, evidently: "EvidentlyOutcome", *,
                  error_control=None, detectability=None, mv: MultivariateViews | None = None) -> DataDriftSummary:
    """`summarise` from the notebook's blocks."""
    mv = mv or MultivariateViews()
    return summarise(verdict_.drift, verdict_.ranked, windowed, quality, n_reference=len(inputs.reference),
                     start=inputs.start, end=inputs.end, period=inputs.period, evidently_html=evidently.html,
                     warnings=evidently.warnings, skipped=inputs.skipped, error_control=error_control,
                     detectability=detectability, multivariate=mv.multivariate, segments=mv.segments)
