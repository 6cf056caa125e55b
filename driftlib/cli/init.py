"""`driftlib init`: write a commented params file for your own table, with settings from its size and time span."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors
from driftlib.core.errors import ConfigError


@handle_errors
def init(
    data: Path = typer.Option(..., "--data", help="your table: CSV, Parquet or JSONL with a timestamp and a target"),
    target: Optional[str] = typer.Option(None, "--target", help="the label column (inferred from its name if omitted)"),
    timestamp: Optional[str] = typer.Option(None, "--timestamp", help="the event-time column (inferred if omitted)"),
    model: Optional[Path] = typer.Option(None, "--model", help="an existing fitted model (.joblib) to register "
                                         "instead of training one"),
    out: Path = typer.Option(Path("params.yaml"), "--out", "-o", help="params file to write"),
    name: Optional[str] = typer.Option(None, "--name", help="model name (default: from the file name)"),
    task: Optional[str] = typer.Option(None, "--task", help="classification or regression (inferred if omitted)"),
    positive_label: Optional[str] = typer.Option(None, "--positive-label", help="the class to monitor: "
                                                 "it counts as 1, every other class as 0"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing params file"),
) -> None:
    """Write a commented params file for your own table, with settings from its size and time span."""
    from driftlib.config import load_params
    from driftlib.workbench import scaffold

    if task not in (None, "classification", "regression"):
        raise ConfigError(f"--task: '{task}' is not classification or regression")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists: pass --force to overwrite it or --out another file")
    plan = scaffold.plan(data, target=target, timestamp=timestamp, name=name, task=task,
                          positive_label=positive_label)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(scaffold.render(plan, out, model=str(model) if model else None))
    load_params(out)  # what init writes must validate as written
    typer.echo(f"wrote {out}: {plan.task} of '{plan.target}' over {len(plan.numeric) + len(plan.categorical)} "
               f"features, {plan.window} windows (~{plan.rows_per_window:,.0f} rows each)")
    typer.echo("next:")
    for line in scaffold.next_commands(plan, out, str(model) if model else None):
        typer.echo(f"  {line}")
