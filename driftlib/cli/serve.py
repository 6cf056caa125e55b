"""`driftlib serve`: the model service under uvicorn (thin: the logic lives in driftlib.service.app)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors


@handle_errors
def serve(
    params: Path = typer.Option(..., "--params", help="params YAML of the model to serve"),
    host: Optional[str] = typer.Option(None, help="bind address (default: service.host, 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="port (default: service.port, 8000)"),
    workers: int = typer.Option(1, min=1, help="worker processes (each logs to its own file)"),
) -> None:
    """Serve the registry's current model: /predict, /predict/batch, /feedback, /health, /model,
    /metrics. Every prediction is logged before it is answered; a promoted model is picked up
    without a restart."""
    from driftlib.service.app import run_server

    run_server(params, host, port, workers)


if __name__ == "__main__":  # `python -m driftlib.cli.serve --params ...`
    typer.run(serve)
