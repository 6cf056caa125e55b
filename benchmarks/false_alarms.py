"""False alarms of the dataset verdict when nothing changed: default thresholds vs the opt-in options.

Reference and current windows are disjoint random subsets of the 2013 flights (so there is no drift
by construction), scored with `DriftDetector` on the demo's 14 features. Per setting: 200 splits
(one to three references, each with its own permutation null of `--draws` bootstrap draws,
computed once, and windows drawn afresh from the rest of the pool). 299 draws: BH over 14 features
can reject a single feature only if p <= 0.05/14, so the null must reach below that. Reported per-run rates:

  default_any   a feature drifted under the fixed thresholds (what a per-feature alert sees)
  default_ds    dataset drift under the default rule (share of drifted features >= drift_share)
  fdr_any       a feature rejected by Benjamini-Hochberg at --level (family-wise error, the strict case)
  fdr_ds        dataset drift with the FDR option on; must be <= --level
  kofn          the k-of-n rule (default 3 of 3, the Prometheus alert's) over default_any, measured on
                the sequence of runs, and its binomial value from default_any

    .venv/bin/python benchmarks/false_alarms.py            # about 2 CPU-minutes (one core)
    .venv/bin/python benchmarks/false_alarms.py --quick    # smaller, for a smoke check
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftlib.calibration.result import upper_bound  # noqa: E402
from driftlib.drift.detector import DriftDetector  # noqa: E402
from driftlib.drift.error_control import (  # noqa: E402
    fdr_control,
    k_of_n_false_alarm_rate,
    permutation_null,
    rolling_k_of_n,
)

DATA = Path(__file__).resolve().parents[1] / "driftlib" / "demo" / "flights2013.parquet"
NUMERIC = ["dep_hour", "day_of_week", "distance", "temp", "dewp", "humid", "wind_speed", "wind_gust",
           "precip", "pressure", "visib"]
CATEGORICAL = ["carrier", "origin", "dest"]
# (reference rows, current rows, references): a 1k reference takes Evidently's p-value tests (KS,
# chi-square); 20k references take Wasserstein / Jensen-Shannon, whose p-values come from the null
SETTINGS = [(1_000, 1_000, 3), (20_000, 1_000, 3), (20_000, 10_000, 2), (20_000, 100_000, 1)]


def run_setting(pool: pd.DataFrame, n_ref: int, n_cur: int, n_refs: int, splits: int, draws: int,
                level: float, drift_share: float, k: int, n: int, rng: np.random.Generator) -> dict:
    per_ref = -(-splits // n_refs)
    rows = []
    tests: set[str] = set()
    for r in range(n_refs):
        order = rng.permutation(len(pool))
        ref = pool.iloc[order[:n_ref]]
        rest = order[n_ref:]
        det = DriftDetector(numeric=NUMERIC, categorical=CATEGORICAL, drift_share=drift_share, n_jobs=1).fit(ref)
        null = permutation_null(det, ref, n_cur, n_draws=draws, seed=int(rng.integers(1 << 31)))
        for _ in range(per_ref):
            cur = pool.iloc[rng.choice(rest, n_cur, replace=False)]
            res = det.score(cur)
            tests |= set(res.tested["stattest"])
            fdr = fdr_control(res, level=level, null=null)
            rows.append({"default_any": res.n_drifted > 0, "default_ds": bool(res.dataset_drift),
                         "fdr_any": len(fdr.drifted_columns) > 0, "fdr_ds": bool(fdr.dataset_drift),
                         "no_p": len(fdr.without_p)})
    t = pd.DataFrame(rows).head(splits)
    kofn = rolling_k_of_n(t["default_any"].tolist(), k, n)[n - 1:]
    p_any = float(t["default_any"].mean())
    return {"n_ref": n_ref, "n_cur": n_cur, "tests": "/".join(sorted(tests)), "splits": len(t),
            "refs": n_refs, "draws": draws, "default_any": p_any, "default_ds": t["default_ds"].mean(),
            "fdr_any": t["fdr_any"].mean(), "fdr_ds": t["fdr_ds"].mean(),
            "fdr_ds_upper95": upper_bound(int(t["fdr_ds"].sum()), len(t)),
            f"kofn_{k}of{n}": float(np.mean(kofn.astype(bool))), "kofn_binomial": k_of_n_false_alarm_rate(p_any, k, n),
            "ok": bool(t["fdr_ds"].mean() <= level and t["no_p"].max() == 0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=200)
    ap.add_argument("--draws", type=int, default=299, help="bootstrap draws of each permutation null")
    ap.add_argument("--level", type=float, default=0.05, help="drift.error_control.fdr_level")
    ap.add_argument("--drift-share", type=float, default=0.5)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="40 splits, 49 draws, no 100k setting")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
    settings = SETTINGS
    if args.quick:
        args.splits, args.draws = 40, 49
        settings = [s for s in SETTINGS if s[1] < 100_000]
    pool = pd.read_parquet(DATA, columns=[*NUMERIC, *CATEGORICAL])
    rng = np.random.default_rng(args.seed)
    out = []
    t0 = time.perf_counter()
    for n_ref, n_cur, n_refs in settings:
        t = time.perf_counter()
        row = run_setting(pool, n_ref, n_cur, n_refs, args.splits, args.draws, args.level, args.drift_share,
                          args.k, args.n, rng)
        row["seconds"] = round(time.perf_counter() - t, 1)
        out.append(row)
        print(f"  n_ref={n_ref} n_cur={n_cur}: {row['seconds']} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(out)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"Per-run false-alarm rates with no drift (FDR level {args.level}, drift_share {args.drift_share}, "
              f"{len(NUMERIC) + len(CATEGORICAL)} features, seed {args.seed}):")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0 if table["ok"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
