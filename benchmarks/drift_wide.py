"""Benchmark: the drift table of a wide frame (default 1,500 columns x 10,000 rows) with the exact engine.

    .venv/bin/python benchmarks/drift_wide.py [--columns 1500] [--rows 10000] [--profile]

Target (issue 14): under 5 s for fit + score. 80% numeric (normal, integer, few-valued), 20%
categorical; a tenth of the columns drifted. Prints fit, score and total wall time, then with
--profile the top functions by cumulative time.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from driftlib.drift.detector import DriftDetector  # noqa: E402


def wide_frame(rng: np.random.Generator, n_cols: int, rows: int, drifted: bool) -> pd.DataFrame:
    cols = {}
    cats = np.array([f"v{i}" for i in range(12)], dtype=object)
    for i in range(n_cols):
        shift = 0.5 if drifted and i % 10 == 0 else 0.0
        if i % 5 == 4:
            cols[f"c{i}"] = pd.Categorical(cats.take(rng.integers(0, 8 + int(4 * shift), rows)))
        elif i % 5 == 3:
            cols[f"n{i}"] = rng.integers(0, 50, rows) + int(10 * shift)
        elif i % 5 == 2:
            cols[f"n{i}"] = rng.choice([0.0, 1.0, 2.0], rows)
        else:
            cols[f"n{i}"] = rng.normal(shift, 1, rows)
    return pd.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--columns", type=int, default=1500)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ref, cur = wide_frame(rng, args.columns, args.rows, False), wide_frame(rng, args.columns, args.rows, True)
    numeric = [c for c in ref if c.startswith("n")]
    categorical = [c for c in ref if c.startswith("c")]
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    det = DriftDetector(numeric=numeric, categorical=categorical).fit(ref)
    t1 = time.perf_counter()
    res = det.score(cur)
    t2 = time.perf_counter()
    table = res.table  # the drift table itself, as a notebook shows it
    t3 = time.perf_counter()
    if prof:
        prof.disable()
    print(f"== {args.columns:,} columns ({len(numeric)} numeric, {len(categorical)} categorical) x "
          f"{args.rows:,} rows, {os.cpu_count()} CPUs")
    print(f"fit {t1 - t0:.2f} s + score {t2 - t1:.2f} s + table {t3 - t2:.2f} s = {t3 - t0:.2f} s wall "
          f"(target < 5 s); {res.n_drifted} of {len(res.tested)} columns drifted, {len(table)} rows")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
