"""`driftlib schedule`: run the pipeline at cron times in the foreground, or print a crontab line."""
from __future__ import annotations

import logging
import shlex
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors
from driftlib.config import Params, load_params
from driftlib.workbench.schedule import CronScheduler, check_cron, pipeline_job


def crontab_line(params: Params, cron: str) -> str:
    """A crontab entry running `driftlib run` for this params file, logging to the state folder."""
    params_file = str(Path(params.source_file or "params.yaml").resolve())
    log_file = params.state_dir / f"cron-{params.name}.log"
    command = [sys.executable, "-m", "driftlib.cli", "run", "--params", params_file, "--quiet"]
    return (f"{cron} cd {shlex.quote(str(params.root_dir))} && mkdir -p {shlex.quote(str(log_file.parent))} && "
            f"{shlex.join(command)} >> {shlex.quote(str(log_file))} 2>&1")


@handle_errors
def schedule(
    params: Path = typer.Option(..., "--params", "-p", help="params YAML of the monitored model"),
    cron: str = typer.Option("0 6 * * *", "--cron", help="cron expression (UTC), e.g. '0 6 * * *'"),
    print_crontab: bool = typer.Option(False, "--print-crontab",
                                       help="print a crontab line for the system cron and exit"),
    max_runs: Optional[int] = typer.Option(None, "--max-runs", min=1, help="stop after this many runs"),
) -> None:
    """Run the notebooks at every cron time (UTC) in the foreground; one run at a time.

    A cron time that passes while a run is still going is skipped (and logged).

    A failed run is logged and the schedule goes on. Ctrl-C or SIGTERM stop it after the current run.
    """
    check_cron(cron)
    cfg = load_params(params)
    if print_crontab:
        typer.echo(f"# driftlib {cfg.name}: cron runs in the cron daemon's timezone; the run date is that day")
        typer.echo(crontab_line(cfg, cron))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    scheduler = CronScheduler(cron, pipeline_job(cfg))
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stop())
    outcomes = scheduler.run(max_runs=max_runs)
    if outcomes and outcomes[-1].status in ("failed", "error"):
        raise typer.Exit(1)
