"""Training windows, retraining and initial training/registration.

A challenger is trained on the configured window and gated against the current model (champion)
on the most recent labelled data — a time-ordered holdout the challenger never saw, never a random
split (see `driftlib.models.gate`). Every challenger is registered with its card, promoted or rejected,
so the registry records what was tried and why.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from driftlib.config import Params, RetrainConfig
from driftlib.core.errors import ConfigError, InputError
from driftlib.core.names import Names
# Re-exported so `from driftlib.models.training import X` keeps working; models pickled before the split
# reference `driftlib.models.training.as_str`.
from driftlib.models.estimators import (ESTIMATORS, STEP, as_str, build_estimator,  # noqa: F401
                                 fit_model, model_scores)
from driftlib.models.gate import (METRICS, why_rejected, Comparison, Metric, bootstrap_delta, compare, gate,  # noqa: F401
                           get_metric, metric_value, slice_table)
from driftlib.core.clock import utc_now
from driftlib.models.registry import Registry


# -- training windows ------------------------------------------------------------------------------
class AllData:
    """Every labelled row before the holdout, equally weighted."""

    def __init__(self, cfg: RetrainConfig):
        self.cfg = cfg

    def select(self, df: pd.DataFrame, ts: str, end: pd.Timestamp):
        return df[df[ts] <= end], None  # `end` is the holdout cut: rows on it are not in the holdout


class SlidingWindow(AllData):
    """The last `window_days` before the holdout: forgets the old regime entirely."""

    def select(self, df, ts, end):
        start = end - timedelta(days=self.cfg.window_days)
        return df[(df[ts] >= start) & (df[ts] <= end)], None


class RecencyWeighted(AllData):
    """All rows, weight halving every `half_life_days` of age: keeps volume, favours the present."""

    def select(self, df, ts, end):
        part = df[df[ts] <= end]
        age_days = (end - part[ts]).dt.total_seconds().to_numpy() / 86400.0
        return part, np.power(0.5, age_days / self.cfg.half_life_days)


STRATEGIES: Names[type[AllData]] = Names("retrain.strategy", {"all": AllData, "sliding": SlidingWindow,
                                                              "weighted": RecencyWeighted}, kind="strategy")


def training_window(cfg: RetrainConfig, df: pd.DataFrame, ts: str, end: pd.Timestamp):
    """(rows, sample_weight or None) chosen by `retrain.strategy` from rows up to the holdout cut `end`."""
    return STRATEGIES[cfg.strategy](cfg).select(df, ts, end)


# -- the decision ----------------------------------------------------------------------------------
from driftlib.core.contracts import DECISIONS  # noqa: E402,F401


@dataclass
class RetrainDecision:
    """What the retraining step decided, on which evidence, and what is current afterwards."""

    decision: str
    reasons: list[str]
    current_version: str | None
    champion: str | None = None
    challenger: str | None = None
    metric: str | None = None
    comparison: Comparison | None = None
    training: dict = field(default_factory=dict)
    holdout: dict = field(default_factory=dict)
    scores: pd.DataFrame | None = field(default=None, repr=False)  # holdout: time, label, both scores

    def timeline(self, freq: str = "D") -> pd.DataFrame:
        """The metric of both models per period of the holdout: is the gain steady or one day?"""
        if self.scores is None or self.scores.empty:
            return pd.DataFrame(columns=["period", "n", "champion", "challenger"])
        rows = []
        for period, g in self.scores.groupby(pd.Grouper(key="timestamp", freq=freq)):
            if len(g):
                rows.append({"period": period, "n": len(g),
                             "champion": metric_value(self.metric, g["label"], g["champion"]),
                             "challenger": metric_value(self.metric, g["label"], g["challenger"])})
        return pd.DataFrame(rows)

    def slice_effects(self, numeric: list[str], categorical: list[str]):
        """Where the challenger helps or hurts: per-row losses of both models on the holdout, over
        searched slices (single values and pairs), corrected for the slices tried; None without a holdout."""
        if self.scores is None or self.scores.empty:
            return None
        from driftlib.performance.slice_search import compare_by_slice, row_loss

        loss = "mae" if self.metric in ("mae", "rmse", "r2") else "brier"
        y = self.scores["label"].to_numpy(float)
        cols = [c for c in [*numeric, *categorical] if c in self.scores.columns]
        return compare_by_slice(self.scores, row_loss(loss, y, self.scores["champion"]),
                                row_loss(loss, y, self.scores["challenger"]),
                                [c for c in numeric if c in cols], [c for c in categorical if c in cols], pairs=True)

    @property
    def delta(self) -> float | None:
        return None if self.comparison is None else self.comparison.delta

    @property
    def ci(self) -> list[float] | None:
        return None if self.comparison is None else list(self.comparison.ci)

    @property
    def headline(self) -> str:
        c = self.comparison
        if self.decision == "skipped":
            return f"Retraining skipped: {self.reasons[0] if self.reasons else 'not needed'}"
        why = ""
        if self.decision == "rejected":  # the reason first: a headline must not read like a win
            why = f" ({why_rejected(self.reasons)})"
        head = (f"Challenger {self.challenger} {self.decision}{why}: {c.metric} {c.challenger:.3f} vs "
                f"champion {self.champion} {c.champion:.3f} ({c.delta:+.3f}, "
                f"CI [{c.ci[0]:+.3f}, {c.ci[1]:+.3f}])")
        if c.fallback_reason:
            head += f" — {c.fallback_reason}, so the gate used {c.metric}"
        return f"{head}; current model {self.current_version}"

    def to_dict(self) -> dict:
        c = self.comparison
        return {"headline": self.headline, "decision": self.decision, "reasons": list(self.reasons),
                "champion": self.champion, "challenger": self.challenger,
                "current_version": self.current_version, "metric": self.metric,
                "delta": self.delta, "ci": self.ci,
                "champion_metric": None if c is None else c.champion,
                "challenger_metric": None if c is None else c.challenger,
                "slices": [] if c is None else c.slices,
                "requested_metric": None if c is None else (c.requested or c.metric),
                "fallback_reason": None if c is None else c.fallback_reason,
                "training": self.training, "holdout": self.holdout}

    def slice_frame(self) -> pd.DataFrame:
        cols = ["column", "value", "n", "champion", "challenger", "delta"]
        return pd.DataFrame(self.comparison.slices if self.comparison else [], columns=cols)

    def _repr_html_(self) -> str:
        colour = {"promoted": "#1a7f37", "rejected": "#b35900", "skipped": "#57606a"}[self.decision]
        items = "".join(f"<li>{html.escape(r)}</li>" for r in self.reasons)
        out = (f"<p><b style='color:{colour}'>{self.decision.upper()}</b> — "
               f"{html.escape(self.headline)}</p><ul>{items}</ul>")
        if self.comparison is not None and self.comparison.slices:
            out += self.slice_frame().to_html(index=False, float_format=lambda x: f"{x:.4f}")
        return out


def _window_info(df: pd.DataFrame, ts: str, weights=None, target: str | None = None) -> dict:
    """Span, size and fingerprint of a training or holdout window; with `target` (encoded labels) also
    `label_mean`, the positive share of a classifier's labels: notebook 01 compares the reference's with it."""
    from driftlib.data.reference import fingerprint_frame

    info = {"start": df[ts].min(), "end": df[ts].max(), "rows": int(len(df)),
            "fingerprint": fingerprint_frame(df.drop(columns=[ts]).reset_index(drop=True))}
    if target and target in df.columns and len(df):
        info["label_mean"] = float(np.nanmean(df[target].to_numpy(float)))
    if weights is not None:
        info["effective_rows"] = float(np.sum(weights) ** 2 / np.sum(np.square(weights)))
    return info


def labelled_rows(params: Params, df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose label has arrived, time-ordered, the label encoded to 0/1 (`encode_labels`)."""
    from driftlib.data.tables import encode_target

    target = params.columns.target
    if not target or target not in df.columns:
        raise InputError(f"{params.source_file}: field 'columns.target': no label column in the data")
    out = encode_target(df[df[target].notna()], params)
    return out.sort_values(params.columns.timestamp, kind="stable").reset_index(drop=True)


HOLDOUT_SHARE = 0.2  # of the distinct timestamps, when holdout_days cannot split coarse time


def split_holdout(df: pd.DataFrame, ts: str, holdout_days: int, notes: list | None = None):
    """(before, holdout, cut): the holdout is the last `holdout_days` of labelled data, never random.

    On yearly or monthly timestamps the last `holdout_days` can hold all the data; the holdout is
    then the last HOLDOUT_SHARE of the distinct timestamps (at least one), noted in `notes`.
    """
    end = df[ts].max()
    start = end - timedelta(days=holdout_days)
    before, holdout = df[df[ts] <= start], df[df[ts] > start]
    times = np.sort(df[ts].unique())
    if before.empty and len(times) >= 2:
        k = min(len(times) - 1, max(1, int(round(HOLDOUT_SHARE * len(times)))))
        start = pd.Timestamp(times[-k - 1])
        before, holdout = df[df[ts] <= start], df[df[ts] > start]
        if notes is not None:
            notes.append(f"retrain.holdout_days = {holdout_days} would hold all {len(df):,} labelled rows "
                         f"({len(times)} distinct timestamps): the holdout is the last {k} distinct "
                         f"timestamp(s) instead, from {pd.Timestamp(times[-k]).date()}")
    return before, holdout, start


def _coarse_training(cfg: RetrainConfig, before: pd.DataFrame, ts: str, train: pd.DataFrame, weights,
                     notes: list, cut: pd.Timestamp):
    """A sliding window that misses coarse timestamps (a year apart) takes the latest distinct
    timestamps holding `min_train_rows` instead, and says so; other strategies are left alone."""
    if cfg.strategy != "sliding" or len(train) >= cfg.min_train_rows or len(before) < cfg.min_train_rows:
        return train, weights
    counts = before.groupby(ts).size().sort_index(ascending=False).cumsum()
    first = counts.index[int(np.searchsorted(counts.to_numpy(), cfg.min_train_rows))]
    chosen = before[before[ts] >= first]
    days = int(np.ceil((cut - first).total_seconds() / 86400))
    notes.append(f"retrain.window_days = {cfg.window_days} holds {len(train):,} training rows: trained on "
                 f"the latest distinct timestamps from {pd.Timestamp(first).date()} instead "
                 f"({len(chosen):,} rows; retrain.window_days >= {days} selects them by itself)")
    return chosen, weights


def _skip(reason: str, registry: Registry, champion: str | None = None) -> RetrainDecision:
    return RetrainDecision("skipped", [reason], registry.current_version(), champion=champion)


def retrain(params: Params, labelled: pd.DataFrame, *, registry: Registry | None = None,
            trigger: str = "forced") -> RetrainDecision:
    """Train a challenger on the configured window, gate it against the champion, register it.

    `labelled` holds production rows with their label (rows without one are dropped); only
    data that was available at decision time should be passed in.
    """
    with threadpool_limits(limits=params.retrain.fit_threads):
        return _retrain(params, labelled, registry, trigger)


def _retrain(params: Params, labelled: pd.DataFrame, registry: Registry | None,
             trigger: str) -> RetrainDecision:
    from driftlib.data.tables import feature_lists
    from driftlib.data.reference import ReferenceProfile

    cfg, ts = params.retrain, params.columns.timestamp
    registry = registry or Registry.from_params(params)
    champion_v = registry.current_version()
    if champion_v is None:
        return _skip("no current model to compare against (run `driftlib models train`)", registry)
    raw_labels = labelled[params.columns.target] if params.columns.target in labelled else None
    data = labelled_rows(params, labelled)
    if len(data) < cfg.min_holdout_rows + cfg.min_train_rows:
        return _skip(_too_few(cfg, len(data)), registry, champion_v)
    notes: list[str] = []
    before, holdout, cut = split_holdout(data, ts, cfg.holdout_days, notes)
    train, weights = training_window(cfg, before, ts, cut)
    train, weights = _coarse_training(cfg, before, ts, train, weights, notes, cut)
    if len(holdout) < cfg.min_holdout_rows or len(train) < cfg.min_train_rows:
        return _skip(_window_short(cfg, len(train), len(holdout), len(before)), registry, champion_v)
    champion = registry.load(champion_v)
    numeric, categorical = feature_lists(params, data)
    challenger = fit_model(params, train, weights)
    X, y = holdout[[*numeric, *categorical]], holdout[params.columns.target].to_numpy()
    if params.task == "classification":
        y = y.astype(int)
        if len(np.unique(y)) < 2:
            notes.append(f"the holdout's labels have one class ({len(y):,} rows, all "
                         f"{'positive' if y[0] == 1 else 'negative'})")
    slice_cols = cfg.slice_columns or categorical
    missing = [col for col in slice_cols if col not in holdout.columns]
    if missing:
        raise ConfigError(f"field 'retrain.slice_columns': no column(s) {', '.join(missing)} in the data")
    scores = pd.DataFrame({"timestamp": holdout[ts].reset_index(drop=True), "label": y,
                           "champion": model_scores(champion.model, X, params.task),
                           "challenger": model_scores(challenger, X, params.task)})
    features = X.reset_index(drop=True)  # the holdout's features, for the searched-slice comparison
    scores = pd.concat([scores, features[[f for f in features.columns if f not in scores.columns]]], axis=1)
    comparison = compare(cfg.metric, y, scores["champion"].to_numpy(), scores["challenger"].to_numpy(),
                         slices=holdout[slice_cols], n_bootstrap=cfg.n_bootstrap,
                         confidence=cfg.confidence, min_slice_rows=cfg.min_slice_rows, seed=cfg.seed)
    ok, reasons = gate(comparison, cfg.min_improvement, cfg.slice_tolerance)
    leak = _leak_warning(champion.card, cut)
    reasons = reasons + ([leak] if leak else []) + notes
    metric = comparison.metric
    training = {**_window_info(train[[ts, *numeric, *categorical, params.columns.target]], ts, weights,
                               params.columns.target),
                "strategy": cfg.strategy}
    holdout_info = _window_info(holdout[[ts, *numeric, *categorical, params.columns.target]], ts)
    card = {"training": {"window": training, "trigger": trigger},
            "features": {"numeric": numeric, "categorical": categorical},
            "schema": ReferenceProfile.fit(train, numeric, categorical).schema,
            "params": {"estimator": params.model.estimator, "estimator_params": params.model.params,
                       "retrain": cfg.model_dump()},
            "metrics": {f"holdout_{metric}": comparison.challenger,
                        f"champion_holdout_{metric}": comparison.champion},
            **_label_fields(params, raw_labels if raw_labels is not None else train[params.columns.target]),
            "holdout": holdout_info, "parent": champion_v,
            "baseline": {"kind": "holdout", "start": holdout_info["start"], "end": holdout_info["end"],
                         "rows": holdout_info["rows"], "metric": metric, "value": comparison.challenger,
                         "why": "a promoted model is judged against the window it was validated on"},
            "gate": {"decision": "promoted" if ok else "rejected", "reasons": reasons,
                     "comparison": comparison.to_dict()}}
    version = registry.register(challenger, card, status="candidate" if ok else "rejected")
    if ok:
        registry.promote(version, reason=f"gate passed: {[r for r in reasons if 'CI' in r][:1] or reasons[:1]}")
    return RetrainDecision("promoted" if ok else "rejected", reasons, registry.current_version(),
                           champion=champion_v, challenger=version, metric=metric,
                           comparison=comparison, training=training, holdout=holdout_info,
                           scores=scores)


def _label_fields(params: Params, raw) -> dict:
    """`classes` and `positive_label` for the card: the service checks /feedback labels against them."""
    from driftlib.data.tables import label_card

    return label_card(raw, params)


def _too_few(cfg: RetrainConfig, n: int) -> str:
    """Why retraining cannot start on `n` labelled rows, and the settings that would let it."""
    train = max(10, int(n * (1 - HOLDOUT_SHARE)))
    hold = max(10, n - train)
    fix = (f"set retrain.min_train_rows <= {train} and retrain.min_holdout_rows <= {hold}" if n >= 20
           else "wait for more labels")
    return (f"only {n:,} labelled rows (need retrain.min_train_rows = {cfg.min_train_rows} to train and "
            f"retrain.min_holdout_rows = {cfg.min_holdout_rows} for the holdout): {fix}")


def _window_short(cfg: RetrainConfig, n_train: int, n_holdout: int, n_before: int) -> str:
    fixes = []
    if n_holdout < cfg.min_holdout_rows:
        fixes.append(f"retrain.min_holdout_rows <= {max(10, n_holdout)}" if n_holdout >= 10
                     else f"retrain.holdout_days > {cfg.holdout_days}")
    if n_train < cfg.min_train_rows:
        if n_train >= 10:
            fixes.append(f"retrain.min_train_rows <= {n_train}")
        elif n_before >= 10:
            fixes.append("retrain.strategy = all" if cfg.strategy != "all" else
                         f"retrain.min_train_rows <= {n_before}")
        else:
            fixes.append(f"retrain.holdout_days < {cfg.holdout_days}")
    return (f"{n_train:,} training rows ({cfg.strategy}) and {n_holdout:,} holdout rows: need "
            f"retrain.min_train_rows = {cfg.min_train_rows} and retrain.min_holdout_rows = "
            f"{cfg.min_holdout_rows}; set {' and '.join(fixes)}")


def _leak_warning(card: dict, cut: pd.Timestamp) -> str | None:
    end = ((card.get("training") or {}).get("window") or {}).get("end")
    if end and pd.Timestamp(end) > cut:
        return (f"note: the champion's training data reaches {end}, past the holdout start "
                f"{cut.isoformat()}; its holdout score is optimistic")
    return None


# -- initial model and imports ---------------------------------------------------------------------
def train_initial(params: Params, *, registry: Registry | None = None,
                  clock: Callable[[], datetime] = utc_now, promote: bool = True) -> str:
    """Fit the model on `model.train`, register it with its card, make it current."""
    from driftlib.data.tables import feature_lists, read_window
    from driftlib.data.reference import ReferenceProfile

    if params.model.train is None:
        raise ConfigError(f"{params.source_file}: field 'model.train' is not set: no training data")
    registry = registry or Registry.from_params(params, clock=clock)
    ts, target = params.columns.timestamp, params.columns.target
    raw = read_window(params, params.model.train)
    df = labelled_rows(params, raw)
    if len(df) < params.retrain.min_train_rows:
        fix = (f"set retrain.min_train_rows <= {len(df)}" if len(df) >= 10
               else "model.train needs at least 10 labelled rows")
        raise InputError(f"{params.model.train.path}: only {len(df)} labelled rows to train on, fewer than "
                         f"retrain.min_train_rows = {params.retrain.min_train_rows}: {fix}")
    numeric, categorical = feature_lists(params, df)
    with threadpool_limits(limits=params.retrain.fit_threads):
        model = fit_model(params, df)
        metrics = _reference_metrics(params, model)
    card = {"training": {"window": {**_window_info(df[[ts, *numeric, *categorical, target]], ts, target=target),
                                    "strategy": "initial", "source": params.model.train.model_dump()},
                         "trigger": "initial"},
            "features": {"numeric": numeric, "categorical": categorical},
            "schema": ReferenceProfile.fit(df, numeric, categorical).schema,
            "params": {"estimator": params.model.estimator, "estimator_params": params.model.params},
            "metrics": metrics, "parent": None,
            **_label_fields(params, raw[target].dropna() if target in raw else df[target]),
            "gate": {"decision": "initial", "reasons": ["initial model trained on model.train"]}}
    version = registry.register(model, card)
    if promote:
        registry.promote(version, reason="initial model")
    return version


def _reference_metrics(params: Params, model) -> dict:
    """The metric on the labelled reference window: the first out-of-time check of a model."""
    from driftlib.data.tables import feature_lists, read_window

    try:
        ref = labelled_rows(params, read_window(params, params.reference))
    except InputError:
        return {}
    if ref.empty:
        return {}
    numeric, categorical = feature_lists(params, ref)
    y = ref[params.columns.target].to_numpy()  # encoded by labelled_rows
    y = y.astype(int) if params.task == "classification" else y
    s = model_scores(model, ref[[*numeric, *categorical]], params.task)
    return {f"reference_{params.retrain.metric}": metric_value(params.retrain.metric, y, s),
            "reference_rows": int(len(ref))}


def register_artifact(params: Params, artifact, *, registry: Registry | None = None,
                      promote: bool = False) -> str:
    """Import a user's own joblib model: checked on the reference, carded with its schema.

    Loading a joblib file runs code: only import artifacts you built or trust. From then on
    the registry guards it by sha256.
    """
    import joblib

    from driftlib.data.tables import feature_lists, load_reference
    from driftlib.data.reference import ReferenceProfile

    try:
        model = joblib.load(artifact)
    except FileNotFoundError:
        raise InputError(f"{artifact}: no such file") from None
    except Exception as err:  # unpickling raises anything
        raise InputError(f"{artifact}: not a loadable joblib model ({type(err).__name__})") from None
    registry = registry or Registry.from_params(params)
    ref = load_reference(params)
    numeric, categorical = feature_lists(params, ref)
    try:
        metrics = _reference_metrics(params, model)
    except Exception as err:  # the user's model may reject our frame: say so in one line
        raise InputError(f"{artifact}: model cannot score the reference features "
                         f"({type(err).__name__}: {err})") from None
    profile = ReferenceProfile.fit(ref, numeric, categorical)
    card = {"training": {"window": None, "trigger": "imported", "source": str(artifact)},
            "features": {"numeric": numeric, "categorical": categorical},
            "schema": profile.schema, "reference_fingerprint": profile.fingerprint,
            "params": {"estimator": type(model).__name__}, "metrics": metrics, "parent": None,
            **(_label_fields(params, ref[params.columns.target].dropna())
               if params.columns.target in ref else {}),
            "gate": {"decision": "imported", "reasons": [f"imported from {artifact}"]}}
    version = registry.register(model, card)
    if promote:
        registry.promote(version, reason=f"imported from {artifact}")
    return version
