"""Reading reference and production data into normalised pandas frames.

Whatever the source (the service's inference log or a user's CSV/Parquet table), downstream code
sees the same columns: the params' timestamp column (tz-aware UTC), the features, the prediction and
probability columns, the target column (NaN until the label has arrived) and `label_timestamp`.
"""
from __future__ import annotations

import glob
import io
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from driftlib.config import Params, TableSource
from driftlib.core.clock import utc
from driftlib.core.contracts import SkippedInput
from driftlib.core.errors import ConfigError, InputError
from driftlib.data.labels import labels_as_of
from driftlib.data.features import BOOKKEEPING, LABEL_TIME, feature_lists  # noqa: F401  (re-exported)

log = logging.getLogger("driftlib.data")
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet,
           ".jsonl": lambda p: pd.read_json(p, lines=True), ".json": pd.read_json}


def run_window(params: Params, run_date: str | date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the production window analysed by a run on `run_date`."""
    end = utc(run_date).normalize()
    return end - timedelta(days=params.run.lookback_days), end


def _csv_has_bad_rows(path: Path) -> bool:
    """Whether any CSV row's field count differs from the header's (pandas would fill a short row
    with NaN and read it as data). One fast pass of pyarrow's parser over the first column, as bytes."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), None)
    if not header:
        return False
    bad = []
    try:
        pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
                       parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: bad.append(1) or "skip",
                                                        newlines_in_values=True),
                       convert_options=pacsv.ConvertOptions(include_columns=[header[0]],
                                                            column_types={header[0]: pa.binary()}))
    except (pa.ArrowException, ValueError):  # a dialect pyarrow does not read: pandas' own errors apply
        return False
    return bool(bad)


def _without_bad_rows(path: Path) -> tuple[io.StringIO, list[int]]:
    """The CSV's text without rows of the wrong field count, and those rows' line numbers (rare path)."""
    import csv

    out, bad = io.StringIO(), []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader, writer = csv.reader(f), csv.writer(out)
        header = next(reader)
        writer.writerow(header)
        for row in reader:
            if row and len(row) != len(header):
                bad.append(reader.line_num)
            elif row:
                writer.writerow(row)
    out.seek(0)
    return out, bad


def _read_csv(path: Path, skipped: SkippedInput | None) -> pd.DataFrame:
    if not _csv_has_bad_rows(path):
        return pd.read_csv(path)
    text, bad = _without_bad_rows(path)
    note = (f"{path.name}: {len(bad)} line(s) that do not parse (wrong number of fields) left out "
            f"(first: line {bad[0]})")
    if skipped is None:
        log.warning("%s", note)
    else:
        skipped.add("unparsed", len(bad), note)
    return pd.read_csv(text)


def _read_one(path: Path, skipped: SkippedInput | None = None) -> pd.DataFrame:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: unsupported file type (use .csv, .parquet or .jsonl)")
    try:
        return _read_csv(path, skipped) if reader is pd.read_csv else reader(path)
    except Exception as err:  # pandas/pyarrow raise many types; the user needs the file name
        raise InputError(f"{path}: cannot be read ({type(err).__name__}: {err})") from None


def read_table(path: str | Path, skipped: SkippedInput | None = None) -> pd.DataFrame:
    """A file or a glob of files of one format, concatenated in name order. CSV lines that do not
    parse are left out and counted in `skipped` (logged when there is none), never read as rows."""
    files = sorted(glob.glob(str(path))) if any(ch in str(path) for ch in "*?[") else [str(path)]
    files = [Path(f) for f in files]
    if not files or not files[0].exists():
        raise InputError(f"{path}: no such file")
    frames = [_read_one(f, skipped) for f in files]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _require(df: pd.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c and c not in df.columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {', '.join(missing)}")


def parse_times(values: pd.Series) -> pd.Series:
    """UTC timestamps from datetimes, ISO strings, or whole years (an integer column of 1000..3000 is
    years, not nanoseconds since 1970: yearly surveys store time that way)."""
    if pd.api.types.is_integer_dtype(values) and len(values) and values.between(1000, 3000).all():
        return pd.to_datetime(values.astype(str), format="%Y", utc=True)
    return pd.to_datetime(values, utc=True)


def with_utc_timestamp(df: pd.DataFrame, column: str, where: str) -> pd.DataFrame:
    _require(df, [column], where)
    try:
        ts = parse_times(df[column])
    except (ValueError, TypeError) as err:
        raise InputError(f"{where}: column '{column}' is not a timestamp ({err})") from None
    return df.assign(**{column: ts})


def cut(df: pd.DataFrame, column: str, start=None, end=None) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    if start is not None:
        mask &= df[column] >= utc(start)
    if end is not None:
        mask &= df[column] < utc(end)
    return df.loc[mask]


def read_window(params: Params, source: TableSource, start=None, end=None,
                skipped: SkippedInput | None = None) -> pd.DataFrame:
    """A table source cut to its own [start, end) and optionally a narrower one, time-sorted."""
    path = params.path(source.path)
    ts = params.columns.timestamp
    df = with_utc_timestamp(read_table(path, skipped), ts, str(path))
    df = cut(df, ts, source.start, source.end)
    df = cut(df, ts, start, end)
    return df.sort_values(ts, kind="stable").reset_index(drop=True)


def load_reference(params: Params) -> pd.DataFrame:
    df = read_window(params, params.reference)
    if df.empty:
        raise InputError(f"{params.source_file}: field 'reference': the reference window has no rows")
    numeric, categorical = feature_lists(params, df)
    _require(df, [*numeric, *categorical], str(params.reference.path))
    return df


def add_predictions(df: pd.DataFrame, model, params: Params) -> pd.DataFrame:
    """Score rows with `model` where the data has no prediction columns (reference, plain tables)."""
    num, cat = feature_lists(params, df)
    X = df[[*num, *cat]]
    out = df.copy()
    c = params.columns
    if params.task == "classification" and hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)[:, 1]
        out[c.probability or "probability"] = proba
        out[c.prediction] = (proba >= 0.5).astype(int)
    else:
        out[c.prediction] = model.predict(X)
    return out


def load_production(params: Params, start=None, end=None, as_of=None, *, model=None,
                    skipped: SkippedInput | None = None) -> pd.DataFrame:
    """Production records with start <= timestamp < end; labels count only if they arrived before as_of.
    `model` scores table rows that lack predictions (see `_resolve_model`); what the readers left out
    (torn or unparsable lines, quarantined records) is added to `skipped` for the run summary."""
    if params.production.source == "table":
        return _production_from_table(params, start, end, as_of, model, skipped)
    return _production_from_log(params, start, end, as_of, skipped)


def _production_from_table(params, start, end, as_of, model, skipped=None) -> pd.DataFrame:
    c = params.columns
    where = str(params.path(params.production.path or ""))
    df = read_window(params, TableSource(path=params.production.path), start, end, skipped)
    has_target = bool(c.target) and c.target in df.columns
    if c.label_timestamp:
        df = with_utc_timestamp(df, c.label_timestamp, where).rename(columns={c.label_timestamp: LABEL_TIME})
    else:  # no arrival times: a label present in the table counts as known at event time
        df[LABEL_TIME] = df[c.timestamp] if has_target else pd.NaT
    if not has_target and c.target:
        df[c.target] = np.nan
    elif as_of is not None:
        df = labels_as_of(df, c.target, as_of)
    if c.prediction not in df.columns and not df.empty:
        df = add_predictions(df, _resolve_model(model, params), params)
    return df


def _resolve_model(model, params: Params):
    """Tables of raw traffic carry no predictions: score them with the model the caller passes
    (a fitted model, or a zero-argument callable such as `Registry.current_model`, called only if needed)."""
    if model is None:
        raise InputError(f"{params.path(params.production.path or '')}: no column "
                         f"'{params.columns.prediction}' (columns.prediction) and no model to compute it")
    return model if hasattr(model, "predict") else model()


def _last_day(end) -> date | None:
    """The last partition date holding records before the exclusive bound `end`."""
    return None if end is None else (utc(end) - pd.Timedelta(microseconds=1)).date()


def _production_from_log(params, start, end, as_of, skipped=None) -> pd.DataFrame:
    from driftlib.inference_log import sink as logsink

    c = params.columns
    first_day = None if start is None else utc(start).date()
    reads = [logsink.read_log(params.log_dir, "predictions", first_day, _last_day(end)),
             logsink.read_log(params.log_dir, "feedback", first_day, _last_day(as_of))]
    for read in reads if skipped is not None else ():
        read.report_to(skipped)
    preds, feedback = reads[0].frame, reads[1].frame
    df = logsink.join_feedback(preds, feedback, as_of=None if as_of is None else utc(as_of))
    df = df.rename(columns={"timestamp": c.timestamp, "label": c.target or "label",
                            "prediction": c.prediction, "probability": c.probability or "probability"})
    df = cut(df, c.timestamp, start, end)
    return df.sort_values(c.timestamp, kind="stable").reset_index(drop=True)


# -- labels: raw values (strings, booleans, 0/1) to 0/1, one rule for training, metrics and reports ----
# Pairs whose positive class is unambiguous; compared case-insensitively after `_label_key`.
KNOWN_PAIRS = (("0", "1"), ("false", "true"), ("no", "yes"), ("n", "y"), ("f", "t"),
               ("negative", "positive"), ("neg", "pos"))


def _label_key(value) -> str:
    """A label as a comparable word: 1, 1.0, '1' and True-as-1 agree; 'Yes' and 'yes' agree."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip().lower()


def label_classes(values) -> list:
    """The distinct non-missing labels, as JSON-able Python values in a stable order."""
    s = pd.Series(values).dropna()
    uniq = pd.unique(s.to_numpy(dtype=object))
    items = [v.item() if isinstance(v, np.generic) else v for v in uniq]
    return sorted(items, key=_label_key)


def positive_class(classes: list, positive_label=None, *, target: str = "target"):
    """The class that counts as 1: `columns.positive_label`, or inferred when the labels say it.

    Inference only for pairs such as {0, 1}, {False, True}, {"no", "yes"}; anything else (e.g.
    "successful"/"unsuccessful") is a one-line ConfigError asking for the field.
    """
    keys = {_label_key(c): c for c in classes}
    if positive_label is not None:
        want = _label_key(positive_label)
        if keys and want not in keys and len(keys) > 1:
            raise ConfigError(f"field 'columns.positive_label': '{positive_label}' is not a value of "
                              f"column '{target}' (values: {', '.join(map(str, classes[:10]))})")
        return keys.get(want, positive_label)
    if len(keys) > 2:
        shown = ", ".join(map(str, classes[:10])) + (" …" if len(classes) > 10 else "")
        raise ConfigError(f"field 'columns.positive_label': column '{target}' has {len(classes)} classes "
                          f"({shown}); multiclass models are not supported: set columns.positive_label "
                          "to the class to monitor (one-vs-rest)")
    for neg, pos in KNOWN_PAIRS:
        if set(keys) <= {neg, pos}:
            return keys.get(pos, pos)
    raise ConfigError(f"field 'columns.positive_label': cannot tell which value of column '{target}' "
                      f"is the positive class ({', '.join(map(str, classes))}): set "
                      "columns.positive_label")


def encode_labels(values, params: Params) -> np.ndarray:
    """Labels as floats: 1.0 positive / 0.0 other class (classification), the number (regression),
    NaN where the label is missing. Raw values from tables, the log and /feedback all pass here."""
    s = pd.Series(values).reset_index(drop=True)
    target = params.columns.target or "target"
    if params.task == "regression":
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            raise InputError(f"column '{target}' (columns.target): regression labels must be numbers, "
                             f"got '{s[bad].iloc[0]}'")
        return num.to_numpy(float)
    pos = _label_key(positive_class(label_classes(s), params.columns.positive_label, target=target))
    keys = s.map(lambda v: None if pd.isna(v) else _label_key(v))
    return np.where(keys.isna(), np.nan, (keys == pos).astype(float))


def encode_target(df: pd.DataFrame, params: Params) -> pd.DataFrame:
    """`df` with its target column encoded by `encode_labels` (a copy; missing stays NaN)."""
    target = params.columns.target
    if not target or target not in df.columns:
        return df
    return df.assign(**{target: encode_labels(df[target], params)})


def label_card(values, params: Params) -> dict:
    """What the model card records about the labels: the raw classes and which one is positive."""
    if params.task != "classification":
        return {"classes": None, "positive_label": None}
    classes = label_classes(values)
    return {"classes": classes,
            "positive_label": positive_class(classes, params.columns.positive_label,
                                             target=params.columns.target or "target")}
