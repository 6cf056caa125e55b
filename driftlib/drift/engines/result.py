"""The result of any engine: the exact engine's `DriftResult`, plus which engine ran and error bounds."""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from driftlib.core.jsonio import to_jsonable
from driftlib.drift.detector import DriftResult


@dataclass
class EngineResult(DriftResult):
    """`table` has the detector's columns plus `bound` (0 for exact scores: the largest possible
    |score - exact score|; NaN when untested), `n_null` and `n_out_of_range` (current values outside
    the reference range, or unseen categories)."""

    engine: str = "exact"
    reason: str = ""  # why `auto` chose this engine

    @property
    def approximate(self) -> bool:
        return bool("bound" in self.table and (self.tested["bound"] > 0).any())

    def to_dict(self) -> dict[str, Any]:
        """The `driftlib drift --json` shape, with `engine`, `approximate` and a `bound` per column."""
        out = super().to_dict()
        bounds = dict(zip(self.features["column"], self.features.get("bound", [])))
        for col in out["columns"]:
            col["bound"] = to_jsonable(bounds.get(col["column"], 0.0))
        out["engine"] = self.engine
        out["approximate"] = self.approximate
        return out

    def _repr_html_(self) -> str:
        note = f"<p>engine: {html.escape(self.engine)}" + (f" ({html.escape(self.reason)})" if self.reason else "")
        return note + "</p>" + super()._repr_html_()
