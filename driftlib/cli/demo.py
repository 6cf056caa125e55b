"""`driftlib demo`: build the flights demo from scratch and backfill the reports."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors
from driftlib.demo.world import BACKFILL, run_demo


@handle_errors
def demo(
    params: Path = typer.Option(Path("params/demo.yaml"), "--params", "-p", help="demo params YAML"),
    dates: Optional[list[str]] = typer.Option(None, "--date", help="backfill dates (repeatable)"),
) -> None:
    """Train the initial model, replay production through the service, run the backfill."""
    report = run_demo(params, tuple(dates or BACKFILL), echo=lambda line: typer.echo(line, err=True))
    typer.echo("\nDemo timings:")
    for step, seconds in report.timings.items():
        typer.echo(f"  {step:<28} {seconds:7.1f} s")
    typer.echo("\nRuns (one scheduled run of the four notebooks each; target under 90 s):")
    for run in report.runs:
        typer.echo(f"  {run.run_date}  {run.status}  {run.duration_s:.1f} s")
        for nb in run.notebooks[1:]:
            headline = (nb.result or {}).get("headline") or nb.error or nb.status
            typer.echo(f"      {nb.name:<16.16} {headline[:110]}")
    typer.echo(f"\nOpen the reports: {report.index}")
    if not report.ok:
        raise typer.Exit(1)
