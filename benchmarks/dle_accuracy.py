"""Benchmark: direct loss estimation's estimated vs realized MAE/RMSE over seeds and shift sizes.

    .venv/bin/python benchmarks/dle_accuracy.py                 # 20 seeds, shifts 0, 1, 1.5
    .venv/bin/python benchmarks/dle_accuracy.py --seeds 50 --shifts 0 0.5 1 2

Each seed draws `driftlib.performance.synthetic.regression_windows`: noise growing with |x1| and windows
whose x1 is shifted by each size (rows move to the noisier region, P(y | x) unchanged), all scored by
the same model. The estimator is fitted on the labelled reference and scores the windows without their
labels; the realized value is then computed from the labels. Prints, per shift and metric, the mean
and worst relative error (estimated - realized over realized), the mean bias and how often the
realized value fell inside the interval.

Measured (2026-12-02, 20 seeds, 5000/2000 rows): mean |relative error| of the estimated MAE 1.2% with no
shift (worst 4.1%), 1.4% at shift 1 (worst 5.5%), 2.9% at shift 1.5 (worst 7.1%); RMSE 1.7%, 2.9%, 4.5%
(worst 4.5%, 9.0%, 12.4%). The shift is underestimated (bias -1.9% MAE, -3.9% RMSE at 1.5): trees
flatten the noise growth where the reference is thin, so interval coverage drops from 90% to 45%.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from driftlib.performance.dle import DirectLossEstimator, estimation_error  # noqa: E402
from driftlib.performance.synthetic import regression_windows  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--shifts", type=float, nargs="+", default=[0.0, 1.0, 1.5])
    ap.add_argument("--n-reference", type=int, default=5000)
    ap.add_argument("--n-current", type=int, default=2000)
    args = ap.parse_args(argv)
    rows, t = [], time.perf_counter()
    for seed in range(args.seeds):
        reference, windows = regression_windows(seed, tuple(args.shifts), args.n_reference, args.n_current)
        dle = DirectLossEstimator().fit(reference)
        for shift, window in zip(args.shifts, windows):
            realized = estimation_error(dle.score(window))  # labels used only for the realized column
            blind = dle.score(window.drop(columns="target"))
            for r in realized.itertuples():
                e = blind.estimated[r.metric]
                rows.append({"shift": shift, "metric": r.metric, "estimated": e.value, "realized": r.realized,
                             "rel": (e.value - r.realized) / r.realized, "within": e.lower <= r.realized <= e.upper})
    df = pd.DataFrame(rows)
    print(f"{args.seeds} seeds, reference {args.n_reference} rows, windows {args.n_current} rows, "
          f"{time.perf_counter() - t:.0f} s")
    summary = df.groupby(["shift", "metric"]).agg(
        realized=("realized", "mean"), estimated=("estimated", "mean"), bias=("rel", "mean"),
        mean_abs_rel_error=("rel", lambda x: np.abs(x).mean()), worst_abs_rel_error=("rel", lambda x: np.abs(x).max()),
        interval_coverage=("within", "mean"))
    print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
