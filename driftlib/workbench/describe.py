"""The line at the top of each report that says whose model and data this is, in the user's own words."""
from __future__ import annotations

from driftlib.config import Params


def model_context(params: Params, n_features: int | None = None) -> str:
    """'**flights-late** — Will a flight arrive late? Classification of `late` from 14 features.'"""
    what = "Classification" if params.task == "classification" else "Regression"
    target = f" of `{params.columns.target}`" if params.columns.target else ""
    n = n_features if n_features is not None else len(params.features.all)
    features = f" from {n} features" if n else ""
    desc = params.description.strip()
    if desc and desc[-1] not in ".?!":
        desc += "."
    text = f"**{params.name}**" + (f" — {desc}" if desc else "")
    return f"{text} {what}{target}{features}."
