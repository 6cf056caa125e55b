"""Benchmark: the drift engine against Evidently 0.7's DataDriftPreset on the same frames, in one process.

    .venv/bin/python benchmarks/drift_vs_evidently.py                # 1M x 20, then 30 days over 10M rows
    .venv/bin/python benchmarks/drift_vs_evidently.py --rows 100000 --window-rows 1000000

Part 1 generates reference and current frames of --rows rows x 20 columns (15 numeric, 5 categorical;
7 of them drifted), runs Evidently and the engine, asserts identical methods and verdicts (scores
within 1e-6 relative) and prints both times, the ratio and the peak memory of each side (peak RSS
above the RSS at the start of that side, sampled every 5 ms). It also times `score` alone after `fit`.
Part 2 scores 30 daily windows over --window-rows rows against the fitted reference in one call.
Part 3 (--whole-process) writes the part-1 frames as Parquet and times whole fresh processes on the
same files, reading and imports included: `driftlib drift --json` against a Python process that
reads the files with pandas and runs Evidently's DataDriftPreset; asserts identical verdicts.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from driftlib.drift.detector import DriftDetector  # noqa: E402
from driftlib.drift.evidently_io import evidently_report, evidently_summary, evidently_verdicts  # noqa: E402

N_NUMERIC, N_CATEGORICAL = 15, 5
CATS = {f"cat_{i}": np.array([f"{chr(97 + i)}{j}" for j in range(k)], dtype=object)
        for i, k in enumerate([3, 8, 20, 50, 2])}


def _rss() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # Linux without psutil
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory above the level at entry, sampled on a thread."""

    def __enter__(self):
        gc.collect()
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def make_frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    """15 numeric columns (0-4 shifted when `drifted`), 5 categorical (0 and 3 re-weighted)."""
    s = 1.0 if drifted else 0.0
    cols: dict[str, np.ndarray] = {}
    for i in range(N_NUMERIC):
        shift = 0.3 * s if i < 5 else 0.0
        if i % 5 == 3:
            cols[f"num_{i}"] = rng.integers(0, 100 + int(30 * shift), n)  # integers, many values
        elif i % 5 == 4:
            p = [0.25, 0.25, 0.5] if shift == 0 else [0.1, 0.3, 0.6]
            cols[f"num_{i}"] = rng.choice([0.0, 1.0, 2.0], n, p=p)  # 3 values: Jensen-Shannon
        else:
            cols[f"num_{i}"] = rng.normal(10 * i + shift, 1 + i / 10, n)
    for i, (name, values) in enumerate(CATS.items()):
        k = len(values)
        w = np.ones(k) if not (drifted and i in (0, 3)) else np.linspace(1, 3, k)
        cols[name] = values.take(rng.choice(k, n, p=w / w.sum()))
    return pd.DataFrame(cols)


def compare(ev: pd.DataFrame, ours) -> None:
    mine = ours.table.set_index("column")
    bad = []
    for r in ev.itertuples():
        m = mine.loc[r.column]
        if m["method"] != r.method or bool(m["drifted"]) != bool(r.drifted) or not math.isclose(
                m["score"], r.score, rel_tol=1e-6, abs_tol=1e-12):
            bad.append(f"{r.column}: engine {m['method']} {m['score']!r} {m['drifted']} vs "
                       f"evidently {r.method} {r.score!r} {r.drifted}")
    assert not bad, "verdicts differ:\n" + "\n".join(bad)


def part1(rows: int, numeric, categorical, skip_evidently: bool):
    rng = np.random.default_rng(0)
    ref, cur = make_frame(rng, rows, False), make_frame(rng, rows, True)
    print(f"== {rows:,} rows x {ref.shape[1]} columns ({len(numeric)} numeric, {len(categorical)} "
          f"categorical), reference and current, {os.cpu_count()} CPUs")

    with PeakRSS() as mem_engine:
        t0, c0 = time.perf_counter(), time.process_time()
        det = DriftDetector(numeric=numeric, categorical=categorical).fit(ref)
        t1 = time.perf_counter()
        ours = det.score(cur)
        t2, c2 = time.perf_counter(), time.process_time()
    t_fit, t_score = t1 - t0, t2 - t1
    t_scores, c_scores = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        det.score(cur)
        t_scores.append(time.perf_counter() - t)
        c_scores.append(time.process_time() - c)
    print(f"engine:    fit {t_fit:.2f} s + score {t_score:.2f} s = {t_fit + t_score:.2f} s wall "
          f"({c2 - c0:.2f} s CPU), peak memory +{mem_engine.mb:.0f} MB")
    print(f"engine:    score after fit (one window of {rows:,} rows): best of 3 "
          f"{min(t_scores):.2f} s wall (runs: {', '.join(f'{x:.2f}' for x in t_scores)}; "
          f"CPU {min(c_scores):.2f} s)")
    print(f"engine:    {ours.n_drifted} of {len(ours.tested)} drifted: {', '.join(ours.drifted_columns)}; "
          f"dataset_drift={ours.dataset_drift}")

    if not skip_evidently:
        with PeakRSS() as mem_ev, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, c = time.perf_counter(), time.process_time()
            snap = evidently_report(ref, cur, numeric, categorical, sample=None)
            t_ev, c_ev = time.perf_counter() - t, time.process_time() - c
        ev, summary = evidently_verdicts(snap), evidently_summary(snap)
        print(f"evidently: DataDriftPreset {t_ev:.2f} s wall ({c_ev:.2f} s CPU), peak memory +{mem_ev.mb:.0f} MB")
        compare(ev, ours)
        assert summary["dataset_drift"] == ours.dataset_drift
        assert math.isclose(summary["share_drifted"], ours.share_drifted)
        print(f"verdicts:  identical for all {len(ev)} columns (method, drift flag, score within 1e-6)")
        print(f"speed-up:  {t_ev / (t_fit + t_score):.1f}x (fit + score), "
              f"{t_ev / min(t_scores):.1f}x (score after fit); memory "
              f"{mem_ev.mb / max(mem_engine.mb, 1):.1f}x less")
        del snap
    return det


def part2(det: DriftDetector, rows: int, days: int = 30):
    rng = np.random.default_rng(1)
    df = make_frame(rng, rows, True)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    offsets = np.sort(rng.integers(0, days * 86_400_000_000_000, rows))
    df.insert(0, "ts", start + pd.to_timedelta(offsets, unit="ns"))
    gc.collect()
    with PeakRSS() as mem:
        t, c = time.perf_counter(), time.process_time()
        win = det.score_windows(df, timestamp="ts", window="1D")
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    w = win.windows
    print(f"== {days} daily windows over {rows:,} rows ({rows // days:,} rows per window), "
          f"reference {det.n_reference_:,} rows fitted once")
    print(f"windows:   {elapsed:.2f} s wall ({cpu:.2f} s CPU) for {len(w)} windows x {len(det.specs_)} columns, "
          f"peak memory +{mem.mb:.0f} MB; drifted windows: {int(w['dataset_drift'].sum())}, "
          f"columns drifted per window: {sorted(set(w['n_drifted']))}")
    return elapsed


EVIDENTLY_PROCESS = """
import json, sys, warnings
import pandas as pd
sys.path.insert(0, {root!r})
from driftlib.drift.evidently_io import evidently_report, evidently_summary, evidently_verdicts
ref, cur = pd.read_parquet({ref!r}), pd.read_parquet({cur!r})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    snap = evidently_report(ref, cur, {numeric!r}, {categorical!r}, sample=None)
v = evidently_verdicts(snap)
print(json.dumps({{"columns": {{r.column: bool(r.drifted) for r in v.itertuples()}},
                  "dataset_drift": bool(evidently_summary(snap)["dataset_drift"])}}))
"""


def _child_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def part3(rows: int, numeric, categorical, skip_evidently: bool) -> None:
    """Whole fresh processes on the same Parquet files, reading and imports included."""
    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp(prefix="driftlib-bench-", dir="/tmp")
    try:
        ref_path, cur_path = os.path.join(tmp, "ref.parquet"), os.path.join(tmp, "cur.parquet")
        make_frame(rng, rows, False).to_parquet(ref_path)
        make_frame(rng, rows, True).to_parquet(cur_path)
        types = [f"--column-type={c}=num" for c in numeric] + [f"--column-type={c}=cat" for c in categorical]
        cmd = [sys.executable, "-m", "driftlib.cli", "drift", "-r", ref_path, "-c", cur_path, "--json", *types]
        times, cpus = [], []
        for _ in range(3):
            t, c = time.perf_counter(), _child_cpu()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t)
            cpus.append(_child_cpu() - c)
        ours = json.loads(out.stdout)
        print(f"== whole process on {rows:,} x {len(numeric) + len(categorical)} Parquet (reading included), "
              f"engine {ours.get('engine', 'exact')}")
        print(f"driftlib drift --json: best of 3 {min(times):.2f} s wall (runs: {', '.join(f'{x:.2f}' for x in times)}; "
              f"CPU {min(cpus):.2f} s)")
        if skip_evidently:
            return
        code = EVIDENTLY_PROCESS.format(root=os.path.join(os.path.dirname(__file__), ".."), ref=ref_path,
                                        cur=cur_path, numeric=numeric, categorical=categorical)
        t, c = time.perf_counter(), _child_cpu()
        ev_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        t_ev, c_ev = time.perf_counter() - t, _child_cpu() - c
        ev = json.loads(ev_out.stdout.strip().splitlines()[-1])
        mine = {c["column"]: bool(c["drifted"]) for c in ours["columns"]}
        assert mine == ev["columns"], (mine, ev["columns"])
        assert ours["dataset_drift"] == ev["dataset_drift"]
        print(f"evidently process:     {t_ev:.2f} s wall, CPU {c_ev:.2f} s (read_parquet + DataDriftPreset)")
        print(f"verdicts:              identical for all {len(mine)} columns and the dataset")
        print(f"speed-up (whole process): {t_ev / min(times):.1f}x wall, {c_ev / min(cpus):.1f}x CPU (target >= 30x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per side for part 1")
    ap.add_argument("--window-rows", type=int, default=10_000_000, help="rows for the 30-day part (0 skips)")
    ap.add_argument("--skip-evidently", action="store_true", help="engine only")
    ap.add_argument("--whole-process", action="store_true", help="only part 3: fresh processes on Parquet")
    args = ap.parse_args()
    numeric = [f"num_{i}" for i in range(N_NUMERIC)]
    categorical = list(CATS)
    if args.whole_process:
        part3(args.rows, numeric, categorical, args.skip_evidently)
        return
    det = part1(args.rows, numeric, categorical, args.skip_evidently)
    if args.window_rows:
        part2(det, args.window_rows)


if __name__ == "__main__":
    main()
