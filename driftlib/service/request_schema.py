"""The request contract of one model version, derived from its card's reference schema.

A request body is parsed and validated in one step by pydantic-core against adapters built here
(no FastAPI body model, no DataFrame per request); `serve` turns failures into 422 answers.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Optional, Union

import numpy as np
import pandas as pd
from pydantic import (AllowInfNan, ConfigDict, StrictBool, StrictInt, StrictStr, TypeAdapter,
                      ValidationError)
from pydantic import Strict as StrictMode
from typing_extensions import NotRequired, TypedDict

from driftlib.core.errors import ConfigError

Number = Optional[Annotated[float, StrictMode(), AllowInfNan(False)]]
Category = Optional[Union[StrictStr, StrictInt, StrictBool]]
Label = Union[StrictBool, StrictInt, Annotated[float, StrictMode(), AllowInfNan(False)], StrictStr]
_FORBID = ConfigDict(extra="forbid")


def _typed_dict(name: str, fields: dict[str, Any]) -> type:
    td = TypedDict(name, fields)  # functional form: feature names need not be identifiers
    td.__pydantic_config__ = _FORBID  # type: ignore[attr-defined]
    return td


def validation_detail(err: ValidationError) -> list[dict]:
    """pydantic errors as FastAPI-style detail whose `loc` ends at the offending field."""
    out, seen = [], set()
    for e in err.errors(include_url=False, include_context=False, include_input=False):
        loc, msg, kind = list(e["loc"]), e["msg"], e["type"]
        if len(loc) >= 3 and loc[-3] == "features" and loc[-1] in ("str", "int", "bool"):
            loc, msg, kind = loc[:-1], "Input should be a category (a string)", "category_type"
        if tuple(loc) not in seen:
            seen.add(tuple(loc))
            out.append({"loc": ["body", *loc], "msg": msg, "type": kind})
    return out


class RequestSchema:
    """Feature names, kinds and allowed categories from the card's reference schema."""

    def __init__(self, columns: list[dict], features: list[str]):
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
        fields = {c["name"]: Number if c["kind"] == "numeric" else Category for c in self.columns}
        feats = _typed_dict("Features", fields)
        record = _typed_dict("Record", {"features": feats, "timestamp": NotRequired[Optional[datetime]]})
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
