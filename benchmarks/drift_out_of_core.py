"""Benchmark: the out-of-core (DuckDB) engine over a Parquet dataset written in batches, plus accuracy and Spark.

    .venv/bin/python benchmarks/drift_out_of_core.py                      # 100M rows x 20 columns
    .venv/bin/python benchmarks/drift_out_of_core.py --rows 20000000 --exact-rows 5000000 --spark-rows 2000000

1. Writes --rows rows of current data (15 numeric, 5 categorical; 7 drifted) and a reference of
   --reference-rows rows as Parquet files of --batch rows each under a temporary folder in /tmp,
   deleted at the end.
2. Runs `compare(engine="duckdb")` in a fresh process: wall time, rows/s and the peak RSS of that
   process (target <= 2 GB; DuckDB's memory_limit is --memory-budget-mb).
3. Exact vs out-of-core on the first --exact-rows rows: largest |score difference| (target <= 0.005)
   and verdicts (may differ only for scores within 2% of their threshold).
4. The Spark engine with local[2] on the first --spark-rows rows against DuckDB on the same files.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, ROOT)

CATS = [3, 8, 20, 50, 2]

RUNNER = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from driftlib.drift.engines import compare
t = time.perf_counter()
res = compare({ref!r}, {cur!r}, engine={engine!r}, memory_budget_mb={budget}, spark={spark!r})
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps({{"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "n_rows": res.n_rows, "table": res.table[["column", "method", "score", "threshold", "drifted",
                  "bound", "status"]].to_dict("records"), "engine": res.engine}}))
"""


def batch(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    s = 1.0 if drifted else 0.0
    cols = {}
    for i in range(15):
        shift = 0.3 * s if i < 5 else 0.0
        if i % 5 == 3:
            cols[f"num_{i}"] = rng.integers(0, 100 + int(30 * shift), n)
        elif i % 5 == 4:
            cols[f"num_{i}"] = rng.choice([0.0, 1.0, 2.0], n, p=[0.25, 0.25, 0.5] if not shift else [0.1, 0.3, 0.6])
        else:
            cols[f"num_{i}"] = rng.normal(10 * i + shift, 1 + i / 10, n)
    for i, k in enumerate(CATS):
        w = np.linspace(1, 3, k) if drifted and i in (0, 3) else np.ones(k)
        codes = rng.choice(k, n, p=w / w.sum())
        cols[f"cat_{i}"] = pd.Categorical.from_codes(codes, [f"{chr(97 + i)}{j}" for j in range(k)])
    return pd.DataFrame(cols)


def write(folder: str, rows: int, size: int, drifted: bool, seed: int) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = []
    for i, lo in enumerate(range(0, rows, size)):
        path = os.path.join(folder, f"part-{i:05d}.parquet")
        batch(rng, min(size, rows - lo), drifted).to_parquet(path, index=False)
        files.append(path)
    return files


def run(ref, cur, engine: str, budget: int, spark=None) -> dict:
    code = RUNNER.format(root=ROOT, ref=ref, cur=cur, engine=engine, budget=budget, spark=spark)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads([x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1][7:])


def compare_tables(a: dict, b: dict) -> tuple[float, list[str], float]:
    ta, tb = pd.DataFrame(a["table"]).set_index("column"), pd.DataFrame(b["table"]).set_index("column")
    diff = (ta["score"] - tb["score"]).abs()
    flips = [c for c in ta.index if bool(ta.loc[c, "drifted"]) != bool(tb.loc[c, "drifted"])
             and not np.isclose(ta.loc[c, "score"], ta.loc[c, "threshold"], rtol=0.02)]
    return float(diff.max()), flips, float(tb["bound"].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000_000, help="current rows")
    ap.add_argument("--reference-rows", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=2_000_000, help="rows per Parquet file")
    ap.add_argument("--exact-rows", type=int, default=10_000_000, help="rows for exact vs out-of-core (0 skips)")
    ap.add_argument("--spark-rows", type=int, default=3_000_000, help="rows for the Spark run (0 skips)")
    ap.add_argument("--memory-budget-mb", type=int, default=1024)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="driftlib-ooc-", dir="/tmp")
    try:
        t = time.perf_counter()
        ref_files = write(os.path.join(tmp, "reference"), args.reference_rows, args.batch, False, 0)
        cur_files = write(os.path.join(tmp, "current"), args.rows, args.batch, True, 1)
        size = sum(os.path.getsize(f) for f in ref_files + cur_files) / 2**30
        print(f"== wrote {args.reference_rows:,} reference + {args.rows:,} current rows x 20 columns "
              f"({len(ref_files) + len(cur_files)} Parquet files, {size:.1f} GB) in {time.perf_counter() - t:.0f} s; "
              f"{os.cpu_count()} CPUs")
        ooc = run(os.path.join(tmp, "reference"), os.path.join(tmp, "current"), "duckdb", args.memory_budget_mb)
        total = args.reference_rows + args.rows
        print(f"duckdb:    {ooc['wall']:.1f} s wall ({ooc['cpu']:.1f} s CPU in the process) for {total:,} rows "
              f"({total / ooc['wall'] / 1e6:.2f} M rows/s), "
              f"peak RSS {ooc['peak_rss_mb']:,.0f} MB (target <= 2048; memory_limit {args.memory_budget_mb} MB)")
        drifted = [r["column"] for r in ooc["table"] if r["drifted"]]
        print(f"duckdb:    {len(drifted)} of 20 drifted: {', '.join(drifted)}; largest bound "
              f"{max(r['bound'] for r in ooc['table']):.4f}")
        if args.exact_rows:
            n_files = max(1, args.exact_rows // args.batch)
            ref_glob, cur_sub = ref_files[:n_files], cur_files[:n_files]
            sub = os.path.join(tmp, "exact_current")
            os.makedirs(sub)
            for f in cur_sub:
                os.symlink(f, os.path.join(sub, os.path.basename(f)))
            ref_sub = os.path.join(tmp, "exact_reference")
            os.makedirs(ref_sub)
            for f in ref_glob:
                os.symlink(f, os.path.join(ref_sub, os.path.basename(f)))
            rows = n_files * args.batch
            exact = run(ref_sub, sub, "exact", args.memory_budget_mb)
            approx = run(ref_sub, sub, "duckdb", args.memory_budget_mb)
            diff, flips, bound = compare_tables(exact, approx)
            print(f"== exact vs out-of-core on {rows:,} + {rows:,} rows: exact {exact['wall']:.1f} s "
                  f"(peak RSS {exact['peak_rss_mb']:,.0f} MB), duckdb {approx['wall']:.1f} s "
                  f"(peak RSS {approx['peak_rss_mb']:,.0f} MB)")
            print(f"accuracy:  largest |score difference| {diff:.2e} (target <= 0.005; largest bound {bound:.4f}); "
                  f"verdicts differing away from a threshold: {flips or 'none'}")
        if args.spark_rows:
            n_files = max(1, args.spark_rows // args.batch)
            sub = os.path.join(tmp, "spark_current")
            os.makedirs(sub)
            for f in cur_files[:n_files]:
                os.symlink(f, os.path.join(sub, os.path.basename(f)))
            ref_one = ref_files[0]
            spark = run(ref_one, sub, "spark", args.memory_budget_mb, {"master": "local[2]"})
            duck = run(ref_one, sub, "duckdb", args.memory_budget_mb)
            diff, flips, _ = compare_tables(duck, spark)
            rows = n_files * args.batch + min(args.batch, args.reference_rows)
            print(f"== spark local[2] on {rows:,} rows: {spark['wall']:.1f} s wall (session start included), "
                  f"duckdb {duck['wall']:.1f} s; largest |score difference| {diff:.2e}; "
                  f"verdicts differing: {flips or 'none'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
