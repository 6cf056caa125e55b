"""`driftlib init`: a commented params file for a user's own table, with settings that follow the data.

The demo's defaults (1,000 rows a day, daily windows) fail on a yearly survey of 300 rows; here the
timestamp, target, task and feature kinds are inferred, and windows, minimum counts and holdout sizes
are derived from the table's size and time span, so the first run works and every choice is visible.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from driftlib.core.errors import InputError

TARGET_NAMES = ("target", "label", "y", "class", "outcome")
ROWS_PER_WINDOW = 50
WINDOWS = ((1, "1D"), (7, "7D"), (30, "30D"), (91, "91D"), (365, "365D"), (730, "730D"))
ID_RE = re.compile(r"(^id$|_id$|^id_|uuid|guid)", re.I)


MIN_ROWS_ACCEPTED = 10  # the lower bound of retrain.min_train_rows and retrain.min_holdout_rows


@dataclass
class Plan:
    """What `init` inferred about the table, and the settings it derived."""

    name: str
    data: str
    timestamp: str
    target: str
    task: str
    numeric: list[str]
    categorical: list[str]
    id: str | None
    n_rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    cadence_days: float
    window_days: int
    window: str
    train_end: pd.Timestamp
    reference_end: pd.Timestamp
    positive_label: object = None
    label_timestamp: str | None = None
    task_given: bool = False  # --task or --positive-label said it; otherwise inferred from the target

    @property
    def rows_per_window(self) -> float:
        span = max((self.last - self.first).total_seconds() / 86400, self.cadence_days)
        return self.n_rows * self.window_days / span

    @property
    def min_rows(self) -> int:
        return int(max(10, min(100, self.rows_per_window // 2)))

    @property
    def min_labels(self) -> int:
        return int(max(10, min(200, self.rows_per_window // 3)))  # labels arrive late: fewer than rows

    @property
    def lookback_days(self) -> int:
        return int(max(28, self.window_days * 4))

    @property
    def holdout_days(self) -> int:
        """Two windows, and long enough to hold 1.5x the smallest holdout the config accepts."""
        floor = math.ceil(1.5 * MIN_ROWS_ACCEPTED / self.rows_per_day)
        return int(max(14, self.window_days * 2, math.ceil(self.cadence_days), floor))

    @property
    def retrain_window_days(self) -> int:
        """Eight windows, and long enough that the rows before the holdout hold 2.5x the smallest
        training set the config accepts."""
        floor = self.holdout_days + math.ceil(2.5 * MIN_ROWS_ACCEPTED / self.rows_per_day)
        return int(max(60, self.window_days * 8, self.cadence_days * 3, floor))

    @property
    def rows_per_day(self) -> float:
        return self.n_rows / max((self.last - self.first).days, 1)

    @property
    def min_holdout_rows(self) -> int:
        """Half of what the holdout (`holdout_days`) holds: a minimum above that refuses every retraining."""
        return int(max(MIN_ROWS_ACCEPTED, min(500, self.rows_per_day * self.holdout_days // 2)))

    @property
    def min_train_rows(self) -> int:
        """Half of what the initial training period holds, and never more than half of what a retraining
        window (`retrain_window_days`) holds: otherwise every retraining is refused for too few rows."""
        share = (self.train_end - self.first) / max(self.last - self.first, pd.Timedelta(days=1))
        n_train = self.n_rows * share
        n_window = self.rows_per_day * (self.retrain_window_days - self.holdout_days)
        return int(max(MIN_ROWS_ACCEPTED, min(1000, n_train // 2, n_window // 2)))

    @property
    def first_run_date(self) -> str:
        return (self.reference_end + pd.Timedelta(days=self.lookback_days)).date().isoformat()


def _timestamp_column(df: pd.DataFrame, given: str | None) -> str:
    if given:
        if given not in df.columns:
            raise InputError(f"--timestamp: no column '{given}' (columns: {', '.join(map(str, df.columns[:20]))})")
        return given
    found = time_columns(df)
    if not found:
        raise InputError("no timestamp column found: pass --timestamp COLUMN (a date/time column, or a year column)")
    event = [c for c in found if not LATE_RE.search(str(c))]
    return (event or found)[0]


LATE_RE = re.compile(r"label|arriv|updated|received|resolved", re.I)


def time_columns(df: pd.DataFrame) -> list:
    """Columns that hold dates or times (or years), in table order."""
    out = []
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_datetime64_any_dtype(s):
            out.append(name)
        elif s.dtype == object or re.search(r"year", str(name), re.I):
            if pd.api.types.is_numeric_dtype(s) and not re.search(r"year", str(name), re.I):
                continue
            parsed = _parse_times(s.dropna().head(500))
            if parsed is not None and len(parsed) and parsed.notna().mean() > 0.95:
                out.append(name)
    return out


def _label_time_column(df: pd.DataFrame, ts_col: str, times: pd.Series, candidates: list):
    """Another time column never earlier than the event time: when each label arrived. Names that say
    so (label_at, received, ...) are preferred; any such column (e.g. counted_at) qualifies."""
    later = []
    for name in candidates:
        if name == ts_col:
            continue
        other = _parse_times(df[name])
        if other is None:
            continue
        both = other.notna() & times.notna()
        if both.any() and (other[both] >= times[both]).all() and (other[both] > times[both]).any():
            later.append(name)
    named = [c for c in later if LATE_RE.search(str(c))]
    return (named or later or [None])[0]


def _parse_times(s: pd.Series) -> pd.Series | None:
    from driftlib.data.tables import parse_times

    try:
        if pd.api.types.is_integer_dtype(s):
            return parse_times(s) if s.between(1000, 3000).all() else None  # years, or not a time
        return pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):
        return None


def _target_column(df: pd.DataFrame, given: str | None) -> str:
    if given:
        if given not in df.columns:
            raise InputError(f"--target: no column '{given}'")
        return given
    lower = {str(c).lower(): c for c in df.columns}
    for name in TARGET_NAMES:
        if name in lower:
            return lower[name]
    raise InputError("no target column found (looked for " + ", ".join(TARGET_NAMES) + "): pass --target COLUMN")


def _task(y: pd.Series, task: str | None = None, positive_label: str | None = None) -> tuple[str, object]:
    """(task, positive class): a numeric target with many values is a regression; anything else a
    binary classification, of one class against the rest when the target has more than two."""
    from driftlib.data.tables import label_classes, _label_key

    classes = label_classes(y)
    shown = ", ".join(map(str, classes[:10])) + (" …" if len(classes) > 10 else "")
    if task == "regression" or (task is None and positive_label is None and _is_regression(y, classes)):
        if not pd.api.types.is_numeric_dtype(y):
            raise InputError(f"--task regression: target '{y.name}' is not numeric (values: {shown})")
        return "regression", None
    if positive_label is not None:
        keys = {_label_key(c): c for c in classes}
        if _label_key(positive_label) not in keys:
            raise InputError(f"--positive-label: '{positive_label}' is not a value of target '{y.name}' "
                             f"(values: {shown})")
        return "classification", keys[_label_key(positive_label)]
    if len(classes) > 2:
        raise InputError(f"target '{y.name}' has {len(classes)} classes ({shown}): pass --positive-label CLASS "
                         "to monitor one class against the rest (driftlib monitors binary classifiers and "
                         "regressors)" + (", or --task regression" if pd.api.types.is_numeric_dtype(y) else ""))
    positive = _positive(classes)
    if positive is None and len(classes) == 2:
        raise InputError(f"target '{y.name}': cannot tell which of {shown} is the positive class: "
                         "pass --positive-label CLASS")
    return "classification", positive


def _is_regression(y: pd.Series, classes: list) -> bool:
    """Floats with more than two values, or integers with more than 20."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y) or len(classes) <= 2:
        return False
    return pd.api.types.is_float_dtype(y) or len(classes) > 20


def _positive(values) -> object:
    """The positive class where it is unambiguous (the pairs the label encoder knows: 0/1, no/yes,
    n/y, negative/positive…); None leaves it to --positive-label."""
    from driftlib.data.tables import KNOWN_PAIRS, _label_key

    keys = {_label_key(v): v for v in values}
    for neg, pos in KNOWN_PAIRS:
        if set(keys) <= {neg, pos} and pos in keys:
            return keys[pos]
    return None


def _is_id(s: pd.Series, n: int) -> bool:
    if ID_RE.search(str(s.name)):
        return True
    return not pd.api.types.is_numeric_dtype(s) and s.nunique(dropna=True) > 0.9 * n


def plan(data: str | Path, *, target: str | None = None, timestamp: str | None = None,
         name: str | None = None, task: str | None = None, positive_label: str | None = None) -> Plan:
    """Read the table and infer everything a params file needs."""
    from driftlib.data.features import infer_feature_types
    from driftlib.data.tables import read_table

    df = read_table(data)
    if df.empty:
        raise InputError(f"{data}: the table has no rows")
    ts_col = _timestamp_column(df, timestamp)
    times = _parse_times(df[ts_col])
    if times is None or times.notna().sum() < 2:
        raise InputError(f"{data}: column '{ts_col}' does not hold dates or times")
    target_col = _target_column(df, target)
    given = task is not None or positive_label is not None
    task, positive = _task(df[target_col], task, positive_label)
    ids = [c for c in df.columns if c not in (ts_col, target_col) and _is_id(df[c], len(df))]
    exclude = [ts_col, target_col, *ids, "prediction", "probability"]
    numeric, categorical = infer_feature_types(df, exclude)
    distinct = pd.Series(times.dropna().unique()).sort_values()
    cadence = float(distinct.diff().dt.total_seconds().median() / 86400) if len(distinct) > 1 else 1.0
    first, last = times.min(), times.max()
    span_days = max((last - first).total_seconds() / 86400, cadence)
    window_days, window = _window(len(df), span_days, cadence)
    train_end, reference_end = _periods(distinct)
    stamps = [c for c in time_columns(df) if c != ts_col and not pd.api.types.is_numeric_dtype(df[c])]
    label_ts = _label_time_column(df, ts_col, times, stamps)
    numeric = [c for c in numeric if c not in stamps]  # a date is bookkeeping, not a feature
    categorical = [c for c in categorical if c not in stamps]
    return Plan(name or _name(data), str(data), ts_col, target_col, task, numeric, categorical,
                ids[0] if ids else None, len(df), first, last, cadence, window_days, window,
                train_end, reference_end, positive, label_ts, given)


def _window(n_rows: int, span_days: float, cadence_days: float) -> tuple[int, str]:
    """The shortest window that holds at least one time step and ~50 rows (enough for the stat tests
    and a bootstrap interval, short enough to see a change within weeks on a small table)."""
    for days, label in WINDOWS:
        if days >= cadence_days * 0.99 and n_rows * days / span_days >= ROWS_PER_WINDOW:
            return days, label
    fit = [w for w in WINDOWS if w[0] >= cadence_days * 0.99]
    return fit[0] if fit else WINDOWS[-1]


def _periods(distinct: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Training = the first 40% of time steps, reference = the next 20%, production = the rest."""
    n = len(distinct)
    i_train, i_ref = max(1, int(n * 0.4)), max(2, int(n * 0.6))
    i_ref = min(i_ref, n - 1)
    return distinct.iloc[min(i_train, n - 1)], distinct.iloc[i_ref]


def _duration(days: float) -> str:
    if days >= 300:
        return f"{days / 365.25:.1f} years"
    if days >= 1:
        return f"{days:.1f} days"
    return f"{days * 24:.1f} hours" if days * 24 >= 1 else f"{days * 1440:.0f} minutes"


def _name(data) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", Path(str(data)).stem.lower()).strip("-") or "model"


def _q(value) -> str:
    import json

    return json.dumps(value)


def render(p: Plan, params_path: Path, *, model: str | None = None) -> str:
    """The params file text: every derived setting with a comment saying where it came from."""
    root = params_path.parent.resolve()
    data = Path(p.data).resolve()
    rel = os.path.relpath(data, root) if data.is_relative_to(root) else str(data)
    day = lambda ts: ts.date().isoformat()  # noqa: E731
    lines = [
        f"# Written by `driftlib init --data {p.data}`: {p.n_rows:,} rows from {day(p.first)} to {day(p.last)},",
        f"# typical time step {_duration(p.cadence_days)}. Edit freely; `driftlib run` validates it.",
        f"name: {p.name}",
        "root: .                       # relative paths below are relative to this file's folder",
        f"task: {p.task}                # " + ("as given to init" if p.task_given
                                              else f"inferred from the target '{p.target}'"),
        "",
        "reference:                     # the period the model is judged against",
        f"  path: {_q(rel)}",
        f"  start: {_q(day(p.train_end))}",
        f"  end: {_q(day(p.reference_end))}",
        "",
        "production:                    # the rest of the table is production traffic",
        "  source: table",
        f"  path: {_q(rel)}",
        "",
        "columns:",
        f"  timestamp: {_q(p.timestamp)}",
        f"  target: {_q(p.target)}",
        "  prediction: prediction       # computed with the current model when the table has none",
        "  probability: probability" if p.task == "classification" else "  probability: null",
    ]
    if p.task == "classification" and p.positive_label is not None:
        lines.append(f"  positive_label: {_q(p.positive_label)}   # the class that counts as positive (1)")
    if p.id:
        lines.append(f"  id: {_q(p.id)}")
    if p.label_timestamp:
        lines.append(f"  label_timestamp: {_q(p.label_timestamp)}   # when each label arrived")
    lines += ["", f"features:                      # {len(p.numeric)} numeric, {len(p.categorical)} categorical",
              f"  numeric: {_q(p.numeric)}", f"  categorical: {_q(p.categorical)}", "",
              "model:", f"  registry: var/{p.name}/models", "  estimator: hist_gradient_boosting"]
    if not model:
        lines += ["  train:                       # the initial model learns from the period before the reference",
                  f"    path: {_q(rel)}", f"    start: {_q(day(p.first))}", f"    end: {_q(day(p.train_end))}"]
    metric = "roc_auc" if p.task == "classification" else "mae"
    lines += ["", f"drift:                         # ~{p.rows_per_window:,.0f} rows per {p.window} window",
              f"  window: {p.window}", f"  min_rows: {p.min_rows}", "",
              "concept:", f"  window: {p.window}", f"  min_labels: {p.min_labels}", f"  metric: {metric}", "",
              "retrain:", "  strategy: sliding", f"  window_days: {p.retrain_window_days}",
              f"  holdout_days: {p.holdout_days}", f"  metric: {metric}",
              f"  min_train_rows: {p.min_train_rows}", f"  min_holdout_rows: {p.min_holdout_rows}", "",
              "monitoring:", f"  textfile_dir: outputs/{p.name}/metrics", f"  evidently_workspace: outputs/{p.name}/evidently", "",
              "run:", f"  outputs: outputs/{p.name}", f"  state_dir: var/{p.name}/state",
              f"  lookback_days: {p.lookback_days}         # production window before each run date", ""]
    return "\n".join(lines)


def next_commands(p: Plan, params_path: Path, model: str | None) -> list[str]:
    first = (f"driftlib models register {model} --params {params_path}" if model
             else f"driftlib models train --params {params_path}")
    return [first, f"driftlib run --params {params_path} --date {p.first_run_date}"]
