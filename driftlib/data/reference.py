"""Reference profile: the schema, statistics and fingerprint of the data a model is judged against.

Fitted once (notebook 01 or `driftlib models train`) and reused: the service derives its request
schema from it, the drift engine compares against it, and its fingerprint tells a later run whether
the reference changed underneath it.
"""
from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftlib.core.errors import InputError
from driftlib.data.features import feature_lists, infer_feature_types

MAX_CATEGORIES = 1000  # beyond this a "categorical" column is an id, not a feature


def fingerprint_frame(df: pd.DataFrame) -> str:
    """Content hash independent of row order quirks of the file format, sensitive to any value."""
    cols = sorted(df.columns)
    h = hashlib.sha256(json.dumps([(c, str(df[c].dtype)) for c in cols]).encode())
    row_hashes = pd.util.hash_pandas_object(df[cols], index=False).to_numpy()
    h.update(np.sort(row_hashes).tobytes())
    return h.hexdigest()


def _num_stats(s: pd.Series) -> dict[str, Any]:
    v = pd.to_numeric(s, errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
    if v.empty:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}}
    q = v.quantile([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    return {
        "min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "quantiles": {f"p{int(k * 100)}": float(x) for k, x in q.items()},
    }


def _cat_stats(s: pd.Series) -> dict[str, Any]:
    counts = s.dropna().astype(str).value_counts()
    shares = (counts / max(counts.sum(), 1)).round(6)
    return {"n_categories": int(len(counts)), "shares": shares.head(MAX_CATEGORIES).to_dict()}


@dataclass
class ReferenceProfile:
    """What later steps need to know about the reference without re-reading it."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    n_rows: int = 0
    schema: dict[str, Any] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, df: pd.DataFrame, numeric: list[str] | None = None,
            categorical: list[str] | None = None, **metadata: Any) -> "ReferenceProfile":
        if not numeric and not categorical:
            numeric, categorical = infer_feature_types(df)
        numeric, categorical = list(numeric or []), list(categorical or [])
        missing = [c for c in [*numeric, *categorical] if c not in df.columns]
        if missing:
            raise InputError(f"reference data lacks feature column(s): {', '.join(missing)}")
        return cls(numeric=numeric, categorical=categorical, n_rows=len(df),
                   schema=_schema(df, numeric, categorical),
                   statistics={c: _num_stats(df[c]) for c in numeric}
                   | {c: _cat_stats(df[c]) for c in categorical},
                   fingerprint=fingerprint_frame(df[[*numeric, *categorical]]),
                   metadata=dict(metadata))

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def categories(self, column: str) -> list[str]:
        for col in self.schema.get("columns", []):
            if col["name"] == column:
                return list(col.get("categories") or [])
        raise KeyError(column)

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": self.numeric, "categorical": self.categorical, "n_rows": self.n_rows,
                "schema": self.schema, "statistics": self.statistics,
                "fingerprint": self.fingerprint, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReferenceProfile":
        return cls(**{k: d[k] for k in ("numeric", "categorical", "n_rows", "schema",
                                          "statistics", "fingerprint")},
                   metadata=d.get("metadata", {}))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceProfile":
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: reference profile not found (run notebook 01 first)")
        return cls.from_dict(json.loads(p.read_text()))

    def schema_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.schema.get("columns", [])).assign(
            categories=lambda d: d["categories"].map(
                lambda c: "" if not c else ", ".join(map(str, c[:8])) + (" …" if len(c) > 8 else "")))

    def _repr_html_(self) -> str:
        head = (f"<p><b>Reference profile</b>: {self.n_rows:,} rows, {len(self.numeric)} numeric and "
                f"{len(self.categorical)} categorical features; fingerprint "
                f"<code>{html.escape(self.fingerprint[:16])}</code></p>")
        return head + self.schema_frame().to_html(index=False, float_format=lambda x: f"{x:.4g}")


def _schema(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    cols = []
    for name in [*numeric, *categorical]:
        s = df[name]
        entry: dict[str, Any] = {"name": name, "kind": "numeric" if name in numeric else "categorical",
                                 "dtype": str(s.dtype), "null_share": float(s.isna().mean()),
                                 "categories": None, "min": None, "max": None}
        if name in numeric:
            v = pd.to_numeric(s, errors="coerce").replace([np.inf, -np.inf], np.nan)
            entry["min"] = None if v.dropna().empty else float(v.min())
            entry["max"] = None if v.dropna().empty else float(v.max())
            entry["integer"] = bool(pd.api.types.is_integer_dtype(s))
        else:
            cats = sorted(s.dropna().astype(str).unique().tolist())
            entry["categories"] = cats[:MAX_CATEGORIES]
        cols.append(entry)
    return {"columns": cols}


# -- capture: the reference a run is judged against, kept in the state folder ----------------------
def capture_dir(params) -> Path:
    return params.state_dir / "reference"


def capture(params, df: pd.DataFrame, model_version: str | None,
            baseline: dict | None = None) -> tuple["ReferenceProfile", bool]:
    """Save reference rows + profile; returns (profile, changed) where changed compares fingerprints.

    The fingerprint covers the features, the model version that scored them and the baseline kind
    (`driftlib.concept.baseline`): a promoted model means a new reference (its own holdout, or its
    predictions differ), the same data and model mean a no-op.
    """

    numeric, categorical = feature_lists(params, df)
    profile = ReferenceProfile.fit(df, numeric, categorical, model_version=model_version,
                                   window={"start": params.reference.start, "end": params.reference.end},
                                   source=str(params.path(params.reference.path)),
                                   **({"baseline": baseline} if baseline else {}))
    kind = (baseline or {}).get("kind", "reference")
    key = f"{profile.fingerprint}:{model_version}" + ("" if kind == "reference" else f":{kind}")
    profile.fingerprint = hashlib.sha256(key.encode()).hexdigest()
    folder = capture_dir(params)
    previous = folder / "profile.json"
    changed = not previous.is_file() or ReferenceProfile.load(previous).fingerprint != profile.fingerprint
    if changed:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".reference.parquet.tmp"
        df.to_parquet(tmp, index=False)
        tmp.replace(folder / "reference.parquet")
        profile.save(previous)
    return profile, changed


def load_captured(params) -> tuple[pd.DataFrame, "ReferenceProfile"]:
    """The captured reference (rows with model predictions) and its profile."""
    folder = capture_dir(params)
    profile = ReferenceProfile.load(folder / "profile.json")
    return pd.read_parquet(folder / "reference.parquet"), profile
