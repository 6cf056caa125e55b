"""`driftlib run`: one run date of the four notebooks, with a summary table at the end."""
from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors
from driftlib.config import load_params
from driftlib.workbench.runner import RunResult, run_pipeline

PARAMS_OPT = typer.Option(..., "--params", "-p", help="params YAML of the monitored model")


def print_summary(run: RunResult, width: int | None = None) -> None:
    """The end-of-run table; headlines wrap at word boundaries under their column, never cut."""
    width = width or max(60, min(shutil.get_terminal_size((100, 20)).columns, 120))
    typer.echo(f"\nRun {run.run_date} for {run.model}: {run.outcome.upper()} in {run.duration_s:.1f} s")
    for nb in run.notebooks:
        head = f"  {nb.name:<22} {nb.status:<8} {nb.duration_s:>6.1f} s  "
        headline = (nb.result or {}).get("headline") or nb.error or ""
        lines = textwrap.wrap(headline, width=max(20, width - len(head)), break_long_words=False,
                              break_on_hyphens=False) or [""]
        typer.echo(head + lines[0])
        for line in lines[1:]:
            typer.echo(" " * len(head) + line)
    if run.warnings:
        typer.echo(f"Warnings ({len(run.warnings)}):")
    for warning in run.warnings:
        typer.echo(textwrap.fill(warning, width=width, initial_indent="  - ", subsequent_indent="    ",
                                 break_long_words=False, break_on_hyphens=False))
    typer.echo(f"Reports: {run.output_dir}  ·  index: {run.output_dir.parent / 'index.html'}")


@handle_errors
def run(
    params: Path = PARAMS_OPT,
    date: Optional[str] = typer.Option(None, "--date", "-d", help="run date YYYY-MM-DD (default: today, UTC)"),
    only: Optional[list[str]] = typer.Option(None, "--only", help="run just this notebook (repeatable)"),
    force_retrain: bool = typer.Option(False, "--force-retrain", help="retrain even without drift"),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift",
        help="exit 3 on data drift, 4 on concept drift, 5 on both (after a successful run)"),
    wait: bool = typer.Option(False, "--wait", help="wait for a running run instead of exiting"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress lines"),
) -> None:
    """Run the notebooks for one date into outputs/<date>/ and refresh outputs/index.html.

    Exit codes: 0 success, 1 a notebook failed, 2 bad input or configuration,
    3/4/5 data/concept/both drift found (only with --fail-on-drift).
    """
    cfg = load_params(params)
    names = [_resolve_name(n) for n in (only or [])] or None
    result = run_pipeline(cfg, date, only=names, wait=wait,
                          extra={"04_retraining": {"force": True}} if force_retrain else None,
                          progress=(lambda line: None) if quiet else (lambda line: typer.echo(line, err=True)),
                          show_cell_progress=not quiet and sys.stderr.isatty())
    print_summary(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
    if fail_on_drift:
        raise typer.Exit(result.drift_exit_code())


def _resolve_name(name: str) -> str:
    """Accept `02`, `02_data_drift`, `data_drift` or a path to the notebook."""
    from driftlib.core.contracts import NOTEBOOKS

    stem = Path(name).stem
    matches = [n for n in NOTEBOOKS if n == stem or n.startswith(stem + "_") or n.endswith("_" + stem)]
    return matches[0] if len(matches) == 1 else stem
