"""The calibration's result: measured rates per test, threshold, column and shift, and suggestions.

Rates are computed from the raw scores on demand. The false-alarm rate of a (test, threshold,
column, size) is the share of shift-free pseudo-windows it flags, with a Clopper-Pearson 95% upper
bound (few windows cannot prove a small rate). The expected detection delay, in windows, is
1 / detection rate (windows are independent draws), i.e. size / rate rows.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from driftlib.core.jsonio import to_jsonable

DEFAULT = "default"  # Evidently's choice per column (or the params override)
DETECTION_SHIFTS = {"numeric": ("location", "scale"), "categorical": ("category_mix",)}


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen k times in n."""
    if n == 0:
        return 1.0
    return 1.0 if k >= n else float(stats.beta.ppf(confidence, k + 1, n - k))


@dataclass
class CalibrationResult:
    scores: pd.DataFrame  # size, window, fold, method, shift, strength, column, kind, stattest, score
    thresholds: dict[str, list[float]]
    target_false_alarm: float
    drift_share: float
    sizes: list[int]
    dropped_sizes: list[int] = field(default_factory=list)
    n_reference: int = 0
    n_windows_done: int = 0
    n_windows_planned: int = 0
    budget_s: float = 0.0
    elapsed_s: float = 0.0
    stopped_by_budget: bool = False
    seed: int = 0
    detectable: pd.DataFrame = field(default_factory=pd.DataFrame)
    features: dict[str, str] = field(default_factory=dict)

    # -- rates ------------------------------------------------------------------------------------
    @cached_property
    def rates(self) -> pd.DataFrame:
        """One row per size, method, stattest, column, threshold, shift, strength: n, detected, rate."""
        from driftlib.drift.stats import STAT_TESTS

        keys = ["size", "method", "stattest", "column", "kind", "shift", "strength"]
        out = []
        for stattest, part in self.scores.groupby("stattest", sort=False):
            compare = type(STAT_TESTS[stattest]).compare
            for t in self.thresholds.get(stattest, [STAT_TESTS[stattest].default_threshold]):
                flagged = compare(part["score"].to_numpy(), t)
                g = part.assign(flag=flagged).groupby(keys, sort=False)["flag"].agg(n="size", detected="sum")
                out.append(g.reset_index().assign(threshold=t))
        if not out:
            return pd.DataFrame(columns=[*keys, "threshold", "n", "detected", "rate"])
        r = pd.concat(out, ignore_index=True)
        r["rate"] = r["detected"] / r["n"]
        return r

    @cached_property
    def false_alarms(self) -> pd.DataFrame:
        r = self.rates[self.rates["shift"] == "none"].drop(columns=["shift", "strength"])
        r = r.rename(columns={"rate": "false_alarm"})
        r["upper_95"] = [upper_bound(int(k), int(n)) for k, n in zip(r["detected"], r["n"])]
        return r.reset_index(drop=True)

    @cached_property
    def detection(self) -> pd.DataFrame:
        r = self.rates[self.rates["shift"] != "none"].copy()
        r["delay_windows"] = np.where(r["rate"] > 0, 1.0 / r["rate"].where(r["rate"] > 0, 1.0), np.inf)
        r["delay_rows"] = r["delay_windows"] * r["size"]
        return r.reset_index(drop=True)

    @property
    def decision_size(self) -> int | None:
        """The largest calibrated size: the closest to a run's window."""
        done = sorted(self.scores["size"].unique()) if len(self.scores) else []
        return int(done[-1]) if done else None

    # -- suggestions --------------------------------------------------------------------------------
    @cached_property
    def suggestions(self) -> pd.DataFrame:
        """Per column: the (method, threshold) with the best mean detection of location/scale
        (numeric) or category-mix (categorical) shifts among those whose measured false-alarm
        rate is at most the target; the default test's figures beside it."""
        from driftlib.drift.stats import STAT_TESTS

        size = self.decision_size
        cols = ["column", "kind", "size", "method", "stattest", "threshold", "false_alarm", "upper_95",
                "detection", "meets_target", "default_stattest", "default_threshold", "default_false_alarm",
                "default_detection"]
        if size is None:
            return pd.DataFrame(columns=cols)
        fa = self.false_alarms[self.false_alarms["size"] == size]
        det = self.detection[(self.detection["size"] == size)]
        keys = ["method", "stattest", "column", "threshold"]
        power = (det[[s in DETECTION_SHIFTS.get(k, ()) for s, k in zip(det["shift"], det["kind"])]]
                 .groupby(keys)["rate"].mean().rename("detection"))
        table = fa.merge(power.reset_index(), on=keys, how="left")
        rows = []
        for column, part in table.groupby("column", sort=False):
            default = part[part["method"] == DEFAULT]
            d_test = default["stattest"].iloc[0] if len(default) else None
            d_thr = STAT_TESTS[d_test].default_threshold if d_test else None
            d_row = default[np.isclose(default["threshold"], d_thr)] if d_test else default
            ok = part[part["false_alarm"] <= self.target_false_alarm]
            pool = ok if len(ok) else part[part["false_alarm"] == part["false_alarm"].min()]
            pool = pool.assign(_default=(pool["method"] == DEFAULT).astype(int),
                               _dthr=[math.isclose(t, STAT_TESTS[s].default_threshold)
                                      for s, t in zip(pool["stattest"], pool["threshold"])])
            best = pool.sort_values(["detection", "_default", "_dthr", "false_alarm"],
                                    ascending=[False, False, False, True], na_position="last").iloc[0]
            rows.append({"column": column, "kind": best["kind"], "size": size, "method": best["method"],
                         "stattest": best["stattest"], "threshold": float(best["threshold"]),
                         "false_alarm": float(best["false_alarm"]), "upper_95": float(best["upper_95"]),
                         "detection": best["detection"], "meets_target": bool(len(ok)),
                         "default_stattest": d_test, "default_threshold": d_thr,
                         "default_false_alarm": float(d_row["false_alarm"].iloc[0]) if len(d_row) else None,
                         "default_detection": d_row["detection"].iloc[0] if len(d_row) else None})
        return pd.DataFrame(rows, columns=cols)

    def suggested_overrides(self) -> dict[str, dict[str, Any]]:
        """`drift.columns` entries for the suggestions that differ from the default."""
        out = {}
        for r in self.suggestions.itertuples():
            if r.meets_target and (r.method != DEFAULT or not math.isclose(r.threshold, r.default_threshold or -1)):
                out[r.column] = {"method": r.stattest, "threshold": r.threshold}
        return out

    # -- dataset level ------------------------------------------------------------------------------
    def null(self, size: int, method: str = DEFAULT):
        """The shift-free pseudo-window scores at `size` as a `ScoreNull` for `fdr_control`."""
        from driftlib.drift.error_control import ScoreNull

        s = self.scores[(self.scores["size"] == size) & (self.scores["method"] == method)
                        & (self.scores["shift"] == "none")]
        scores = {c: g["score"].to_numpy(float) for c, g in s.groupby("column")}
        methods = {c: g["stattest"].iloc[0] for c, g in s.groupby("column")}
        return ScoreNull(scores, methods, int(size), source="calibration")

    @cached_property
    def dataset_false_alarms(self) -> pd.DataFrame:
        """Per size: share of shift-free windows with dataset drift under the default rule, and with
        BH at the target level on p-values from the other windows' scores (leave-one-out)."""
        from driftlib.drift.stats import STAT_TESTS

        rows = []
        base = self.scores[(self.scores["method"] == DEFAULT) & (self.scores["shift"] == "none")]
        for size, part in base.groupby("size"):
            default_flags, fdr_flags = [], []
            by_col = {c: g.set_index("window")["score"] for c, g in part.groupby("column")}
            for window, w in part.groupby("window"):
                drifted, ps = [], []
                for r in w.itertuples():
                    test = STAT_TESTS[r.stattest]
                    drifted.append(test.drifted(r.score, test.default_threshold))
                    if test.is_p_value:
                        ps.append(r.score)
                    else:
                        others = by_col[r.column].drop(window).to_numpy(float)
                        ps.append((1 + np.count_nonzero(others >= r.score)) / (1 + others.size))
                default_flags.append(np.mean(drifted) >= self.drift_share)
                adj = stats.false_discovery_control(np.asarray(ps, float))
                fdr_flags.append(np.mean(adj <= self.target_false_alarm) >= self.drift_share)
            n = len(default_flags)
            rows.append({"size": int(size), "n_windows": n, "default": float(np.mean(default_flags)),
                         "fdr": float(np.mean(fdr_flags)), "fdr_level": self.target_false_alarm,
                         "min_p": 1.0 / n if n else None})
        return pd.DataFrame(rows, columns=["size", "n_windows", "default", "fdr", "fdr_level", "min_p"])

    # -- output -------------------------------------------------------------------------------------
    @property
    def headline(self) -> str:
        s = self.suggestions
        if s.empty:
            return "Calibration measured nothing (no window fitted in the budget)."
        met = int(s["meets_target"].sum())
        over = s[s["default_false_alarm"].fillna(0) > self.target_false_alarm]
        text = (f"{met} of {len(s)} columns have a test and threshold with a measured false-alarm rate "
                f"<= {self.target_false_alarm:g} at {self.decision_size} rows")
        if len(over):
            text += f"; the default exceeds it for {len(over)} ({', '.join(over['column'][:5])})"
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict]:
            return [{k: to_jsonable(v) for k, v in r.items()} for r in df.to_dict("records")]

        return {
            "headline": self.headline,
            "settings": {"sizes": self.sizes, "dropped_sizes": self.dropped_sizes, "n_reference": self.n_reference,
                         "target_false_alarm": self.target_false_alarm, "drift_share": self.drift_share,
                         "seed": self.seed, "budget_s": self.budget_s, "elapsed_s": round(self.elapsed_s, 2),
                         "stopped_by_budget": self.stopped_by_budget, "n_windows_done": self.n_windows_done,
                         "n_windows_planned": self.n_windows_planned, "thresholds": self.thresholds,
                         "features": self.features},
            "suggestions": records(self.suggestions),
            "suggested_overrides": self.suggested_overrides(),
            "dataset_false_alarms": records(self.dataset_false_alarms),
            "false_alarms": records(self.false_alarms),
            "detection": records(self.detection.drop(columns=["detected"])),
            "detectable": records(self.detectable),
        }

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.headline)}</b></p>"
                + self.suggestions.to_html(index=False, float_format=lambda x: f"{x:.3g}", na_rep="-"))
