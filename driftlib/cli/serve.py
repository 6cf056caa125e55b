"""`driftlib serve`: the model service under uvicorn (thin: the logic lives in driftlib.service.app)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors


SERVE_HELP = (
    "Serve the registry's current model: /predict, /predict/batch, /feedback, /health, /model, "
    "/metrics, and /docs (Swagger UI, works offline). Every prediction is logged before it is "
    "answered; a promoted model is picked up without a restart.\n\n"
    "With $DRIFTLIB_API_TOKEN set, /predict, /predict/batch, /feedback and /model need the header "
    "`Authorization: Bearer <token>`. Off by default on 127.0.0.1; binding another address needs the "
    "token (or --no-auth). Invalid records get 422 naming the field and are never logged; while the "
    "log cannot be written the service answers 503.")


@handle_errors
def serve(
    params: Path = typer.Option(..., "--params", help="params YAML of the model to serve"),
    host: Optional[str] = typer.Option(None, help="bind address (default: service.host, 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="port (default: service.port, 8000)"),
    workers: int = typer.Option(1, min=1, help="worker processes (each logs to its own file)"),
    no_auth: bool = typer.Option(False, "--no-auth", help="allow serving beyond 127.0.0.1 without "
                                 "$DRIFTLIB_API_TOKEN (anyone who can reach the port can write the log)"),
) -> None:
    """Serve the registry's current model (the help text is SERVE_HELP)."""
    from driftlib.service.app import run_server

    run_server(params, host, port, workers, no_auth)


serve.__doc__ = SERVE_HELP  # one line per paragraph, so the help wraps cleanly


if __name__ == "__main__":  # `python -m driftlib.cli.serve --params ...`
    typer.run(serve)
