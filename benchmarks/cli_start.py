"""Benchmark: `driftlib --help` start-up against `python -c "import pandas"` on the same machine.

    .venv/bin/python benchmarks/cli_start.py [--runs 7]

Target (issue 14): `driftlib --help` within 0.3 s of importing pandas. Prints the median and best wall
time of fresh processes for each, then which heavy packages `driftlib --help` and `driftlib drift --help`
imported (none of papermill, nbformat, nbconvert, evidently, fastapi, matplotlib may appear).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("papermill", "nbformat", "nbconvert", "evidently", "fastapi", "matplotlib", "scipy", "pandas")


def wall(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def imported(args: list[str]) -> list[str]:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom driftlib.cli import app\n"
            f"CliRunner().invoke(app, {args!r})\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip().split(",")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    wall([sys.executable, "-c", "pass"], 1)  # warm the file cache
    pandas = wall([sys.executable, "-c", "import pandas"], runs)
    helps = wall([sys.executable, "-m", "driftlib.cli", "--help"], runs)
    med_p, med_h = statistics.median(pandas), statistics.median(helps)
    print(f"python -c 'import pandas':  median {med_p:.3f} s, best {min(pandas):.3f} s ({runs} runs)")
    print(f"driftlib --help:            median {med_h:.3f} s, best {min(helps):.3f} s ({runs} runs)")
    print(f"difference (median):        {med_h - med_p:+.3f} s (target: at most +0.300 s)")
    for args in (["--help"], ["drift", "--help"]):
        mods = [m for m in imported(args) if m]
        print(f"driftlib {' '.join(args):<13} imports: {', '.join(mods) or 'none'} of {', '.join(HEAVY)}")


if __name__ == "__main__":
    main()
