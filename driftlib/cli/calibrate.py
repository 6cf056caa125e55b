"""`driftlib calibrate`: measure each stat test's false-alarm and detection rates on the reference."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors


def load_calibration_reference(params):
    """The captured reference when notebook 01 (or `models train`) saved one, else the reference table."""
    from driftlib.data.reference import capture_dir, load_captured
    from driftlib.data.tables import load_reference

    if (capture_dir(params) / "reference.parquet").is_file():
        return load_captured(params)[0], "captured reference"
    return load_reference(params), "reference table"


@handle_errors
def calibrate(
    params: Path = typer.Option(..., "--params", "-p", help="params YAML of the monitored model"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: calibration.out, else <run.outputs>/calibration)"),
    budget: Optional[float] = typer.Option(None, "--budget", help="seconds (default: calibration.budget_s)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed (default: calibration.seed)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Measure each stat test's false-alarm and detection rates on the reference; suggest per column.

    Splits the reference into pseudo-windows, injects known shifts, and reports per column the
    false-alarm rate, detection rate and delay of each test and threshold, with a suggestion that
    meets calibration.target_false_alarm. Writes calibration.html and calibration.json.

    Exit codes: 0 done, 2 bad input or configuration.
    """
    import sys

    from driftlib.calibration.report import write_report
    from driftlib.calibration.run import Calibrator
    from driftlib.config import load_params

    cfg = load_params(params)
    reference, source = load_calibration_reference(cfg)
    overrides = {k: v for k, v in {"budget_s": budget, "seed": seed}.items() if v is not None}
    cal = Calibrator.from_params(cfg, reference, progress=not quiet and sys.stderr.isatty(), **overrides)
    if not quiet:
        typer.echo(f"Calibrating {cfg.name} on the {source} ({len(reference):,} rows), window sizes "
                   f"{cal.sizes}, budget {cal.budget_s:g} s", err=True)
    result = cal.fit(reference).result_
    default_out = cfg.path(cfg.calibration.out) if cfg.calibration.out else cfg.outputs_dir / "calibration"
    paths = write_report(result, out if out is not None else default_out,
                         title=f"Drift calibration: {cfg.name}")
    typer.echo(result.headline)
    for r in result.suggestions.itertuples():
        mark = "" if r.meets_target else "  (no candidate met the target)"
        typer.echo(f"  {r.column:<20} {r.stattest:<14} threshold {r.threshold:<7g} false alarms "
                   f"{r.false_alarm:.2f} (default {r.default_stattest} {r.default_false_alarm:.2f}){mark}")
    if result.stopped_by_budget:
        typer.echo(f"Budget reached after {result.n_windows_done} of {result.n_windows_planned} windows.", err=True)
    typer.echo(f"Report: {paths['html']}  ·  table: {paths['json']}")
