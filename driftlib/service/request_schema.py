"""The request contract of one model version, derived from its card's reference schema.

A request body is parsed and validated in one step by pydantic-core against adapters built here
(no FastAPI body model, no DataFrame per request); `serve` turns failures into 422 answers. The
same adapters give the JSON Schema that /openapi.json documents, so the documented contract and
the validator cannot disagree (tests/test_openapi.py checks both directions).

What the door refuses, so that no record can poison the log or a later run (issue 11):
- timestamps outside 1678..2261 (pandas' datetime range, whatever the UTC offset) or not in the
  one ISO shape the pattern documents; naive timestamps mean UTC;
- category strings longer than `service.max_category_chars` and integers outside int64, so a
  record is at most n_features x max_category_chars long;
- labels that are not of the model's task and classes (`label_type`);
- JSON nested deeper than pydantic-core's parser limit (200 levels) on every endpoint.
"""
from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Optional, Sequence, Union

import numpy as np
import pandas as pd
from pydantic import (AfterValidator, AllowInfNan, ConfigDict, Field, PlainValidator, TypeAdapter,
                      ValidationError, WithJsonSchema)
from pydantic import Strict as StrictMode
from pydantic_core import PydanticCustomError
from typing_extensions import NotRequired, TypedDict

from driftlib.core.errors import ConfigError

# -- timestamps -----------------------------------------------------------------------------------
# Years 1678..2261 with any offset stay inside pandas' datetime64[ns] range (1677-09-21..2262-04-11),
# so a logged timestamp can always be read back. Every string the pattern matches is a real date
# (Feb 29 only in leap years), so the schema and the validator agree exactly.
_YEAR = r"(?:167[89]|16[89]\d|1[7-9]\d\d|2[01]\d\d|22[0-5]\d|226[01])"
_LEAP = (r"(?:16(?:8[048]|9[26])|1[7-9](?:0[48]|[2468][048]|[13579][26])"
         r"|2[01](?:0[48]|[2468][048]|[13579][26])|2000"
         r"|22(?:0[48]|1[26]|2[048]|3[26]|4[048]|5[26]|60))")
_MONTH_DAY = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
              r"|02-(?:0[1-9]|1\d|2[0-8]))")
_TIME = r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
TIMESTAMP_PATTERN = rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29){_TIME}$"


def _parse_timestamp(value: str) -> datetime:
    """The pattern-checked string as an aware UTC datetime (nanoseconds cut to microseconds)."""
    if "." in value:
        head, rest = value.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = head + "." + rest[:min(digits, 6)] + rest[digits:]
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


Timestamp = Annotated[str, StrictMode(), Field(pattern=TIMESTAMP_PATTERN, description=(
    "event time, ISO 8601 (`YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`, no offset = UTC), years 1678-2261; "
    "omit it to use the server clock"), examples=["2013-04-01T10:15:00Z"]), AfterValidator(_parse_timestamp)]

# -- values ---------------------------------------------------------------------------------------
Number = Optional[Annotated[float, StrictMode(), AllowInfNan(False)]]
MAX_ID_CHARS = 64
RequestId = Annotated[str, StrictMode(), Field(min_length=1, max_length=MAX_ID_CHARS)]
_FORBID = ConfigDict(extra="forbid")


def category_type(max_chars: int) -> Any:
    """A categorical value: a string of at most `max_chars` characters, or an integer (int64; JSON
    cannot tell 3 from 3.0, so integral floats count) or a boolean, both logged as strings."""
    def category(v: Any) -> Any:
        if v is None or type(v) is bool:
            return v
        if type(v) is str:
            if len(v) > max_chars:
                raise PydanticCustomError("string_too_long", f"String should have at most {max_chars} characters")
            return v
        if type(v) is float and v.is_integer():
            v = int(v)
        if type(v) is int:
            if not -2**63 <= v < 2**63:
                raise PydanticCustomError("category_type", "Input should be a category (an int64 at most)")
            return v
        raise PydanticCustomError("category_type", "Input should be a category (a string)")
    schema = {"anyOf": [{"type": "string", "maxLength": max_chars},
                        {"type": "integer", "minimum": -2**63, "maximum": 2**63 - 1},
                        {"type": "boolean"}, {"type": "null"}]}
    return Annotated[Any, PlainValidator(category), WithJsonSchema(schema)]


Category = category_type(1000)  # kept for importers; the service builds its own from params


def _typed_dict(name: str, fields: dict[str, Any]) -> type:
    td = TypedDict(name, fields)  # functional form: feature names need not be identifiers
    td.__pydantic_config__ = _FORBID  # type: ignore[attr-defined]
    return td


# -- labels ---------------------------------------------------------------------------------------
def _canonical_classes(classes: Sequence | None) -> list | None:
    if classes is None or len(classes) == 0:
        return None
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def label_type(task: str, classes: Sequence | None, max_chars: int = 1000) -> Any:
    """The type of a feedback label: one canonical Python type per model, so the label column of
    the log never mixes types. Classification: one of the model's `classes_` (integer classes also
    accept integral floats such as 1.0 — JSON cannot tell them apart — but never booleans or
    strings); regression: a finite number; unknown classes: a finite number or a bounded string."""
    if task == "regression":
        return Annotated[float, StrictMode(), AllowInfNan(False)]
    values = _canonical_classes(classes)
    if values is None:
        return Union[Annotated[float, StrictMode(), AllowInfNan(False)],
                     Annotated[str, StrictMode(), Field(max_length=max_chars)]]
    if all(isinstance(v, bool) for v in values):
        return Literal[tuple(values)]  # type: ignore[misc]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        allowed = frozenset(values)
        message = f"Input should be one of the model's classes {sorted(allowed)}"

        def as_class(v: Any) -> int:
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if type(v) is not int or v not in allowed:
                raise ValueError(message)
            return v
        return Annotated[Any, PlainValidator(as_class), WithJsonSchema({"enum": sorted(allowed)})]
    if all(isinstance(v, str) for v in values):
        return Literal[tuple(values)]  # type: ignore[misc]
    raise ConfigError(f"model classes {values[:5]} mix types; cannot define one label type")


def feedback_adapters(label: Any) -> tuple[TypeAdapter, TypeAdapter]:
    """(one item, list of items) adapters for /feedback bodies with labels of type `label`."""
    item = _typed_dict("Feedback", {"request_id": RequestId, "label": label,
                                    "timestamp": NotRequired[Optional[Timestamp]]})
    return TypeAdapter(item), TypeAdapter(list[item])


def validation_detail(err: ValidationError) -> list[dict]:
    """pydantic errors as FastAPI-style detail whose `loc` ends at the offending field."""
    out, seen = [], set()
    for e in err.errors(include_url=False, include_context=False, include_input=False):
        loc, msg, kind = list(e["loc"]), e["msg"], e["type"]
        if len(loc) >= 3 and loc[-3] == "features" and isinstance(loc[-1], str) and (
                loc[-1] in ("str", "int", "bool") or loc[-1].startswith(("constrained-", "function-"))):
            loc = loc[:-1]
            if kind not in ("string_too_long", "greater_than_equal", "less_than_equal"):
                msg, kind = "Input should be a category (a string)", "category_type"
        elif loc and isinstance(loc[-1], str) and loc[-1].startswith(("function-", "constrained-")):
            loc = loc[:-1]  # a union member's tag names no field
        if kind == "json_invalid":
            msg = "JSON decode error (or nested too deeply)" if "recursion" in msg else msg
        if tuple(loc) not in seen:
            seen.add(tuple(loc))
            out.append({"loc": ["body", *loc], "msg": msg, "type": kind})
    return out


def openapi_schema(adapter: TypeAdapter, example: Any = None) -> tuple[dict, dict]:
    """(schema, definitions) of `adapter` with refs pointing into `components/schemas`."""
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    if example is not None:
        schema["examples"] = [example]
    return schema, defs


class RequestSchema:
    """Feature names, kinds and allowed categories from the card's reference schema."""

    def __init__(self, columns: list[dict], features: list[str], max_category_chars: int = 1000):
        by_name = {c["name"]: c for c in columns}
        missing = [f for f in features if f not in by_name]
        if missing:
            raise ConfigError(f"model card schema lacks the model's feature(s): {', '.join(missing)}")
        self.features = list(features)
        self.columns = [by_name[f] for f in features]
        self.numeric = [c["name"] for c in self.columns if c["kind"] == "numeric"]
        self.categorical = [c["name"] for c in self.columns if c["kind"] != "numeric"]
        self.categorical_set = frozenset(self.categorical)
        self.categories = {c["name"]: frozenset(map(str, c["categories"]))
                           for c in self.columns if c["kind"] != "numeric" and c.get("categories")}
        category = category_type(max_category_chars)
        self.max_category_chars = max_category_chars
        fields = {c["name"]: Number if c["kind"] == "numeric" else category for c in self.columns}
        feats = _typed_dict("Features", fields)
        record = _typed_dict("Record", {"features": feats, "timestamp": NotRequired[Optional[Timestamp]]})
        self.one = TypeAdapter(record)
        self.many = TypeAdapter(_typed_dict("Batch", {"records": list[record]}))

    def inspect(self, features: dict) -> tuple[dict, list[str]]:
        """The features as logged (categories as strings, as the reference profile counts them,
        so a log column never mixes types; the model still sees the values as sent) and the
        names of features whose category the reference never saw."""
        unknown, coerce = [], False
        for name in self.categorical:
            v = features[name]
            if v is None:
                continue
            if type(v) is not str:
                v, coerce = str(v), True
            allowed = self.categories.get(name)
            if allowed is not None and v not in allowed:
                unknown.append(name)
        if coerce:
            features = {k: str(v) if k in self.categorical_set and v is not None else v
                        for k, v in features.items()}
        return features, unknown

    def frame(self, rows: list[dict]) -> pd.DataFrame:
        """Columns in model order; numerics float64 (null -> NaN), categoricals as sent."""
        data: dict[str, Any] = {}
        for c in self.columns:
            values = [r[c["name"]] for r in rows]
            if c["kind"] == "numeric":
                data[c["name"]] = np.array(values, dtype="float64")
            elif c.get("dtype") == "category":
                data[c["name"]] = pd.Categorical(values, categories=c.get("categories"))
            else:
                data[c["name"]] = np.array(values, dtype=object)
        return pd.DataFrame(data, columns=self.features, copy=False)

    def example_features(self) -> dict:
        """A valid feature dict from the reference statistics (the documented example body)."""
        out: dict[str, Any] = {}
        for c in self.columns:
            if c["kind"] == "numeric":
                lo, hi = c.get("min"), c.get("max")
                ok = [v for v in (lo, hi) if isinstance(v, (int, float)) and math.isfinite(v)]
                out[c["name"]] = float(sum(ok) / len(ok)) if ok else 0.0
            else:
                cats = sorted(self.categories.get(c["name"], ()))
                out[c["name"]] = cats[0] if cats else None
        return out

    def openapi(self) -> dict[str, tuple[dict, dict]]:
        """Documented request bodies: {"one"|"many": (schema, definitions)} with the card's
        categories listed (as examples: unknown categories are accepted and flagged, not refused)."""
        example = {"features": self.example_features(), "timestamp": "2013-04-01T10:15:00Z"}
        one, defs_one = openapi_schema(self.one, example)
        many, defs_many = openapi_schema(self.many, {"records": [example]})
        defs = {**defs_one, **defs_many}
        feats = defs.get("Features")
        if feats:
            feats = defs["Features"] = copy.deepcopy(feats)
            for name, prop in feats.get("properties", {}).items():
                cats = sorted(self.categories.get(name, ()))
                kind = "categorical" if name in self.categorical_set else "numeric"
                prop["description"] = kind + (f"; known categories: {', '.join(cats[:50])}"
                                              + (" ..." if len(cats) > 50 else "") if cats else "")
                if cats:
                    prop["examples"] = cats[:10]
        return {"one": (one, defs), "many": (many, defs)}

    def json_schema(self) -> dict:
        return self.one.json_schema()


def model_features(card: dict, model: Any) -> list[str]:
    """The model's input columns: the card's feature lists, else what the estimator was fit on."""
    lists = card.get("features")
    if isinstance(lists, dict) and (lists.get("numeric") or lists.get("categorical")):
        return [*lists.get("numeric", []), *lists.get("categorical", [])]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [c["name"] for c in card["schema"]["columns"]]
