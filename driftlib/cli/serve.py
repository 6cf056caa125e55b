"""`driftlib serve`: the model service under uvicorn (thin: the app lives in driftlib.serve)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors


@handle_errors
def serve(
    params: Path = typer.Option(..., "--params", help="params YAML of the model to serve"),
    host: Optional[str] = typer.Option(None, help="bind address [default: service.host, 127.0.0.1]"),
    port: Optional[int] = typer.Option(None, help="port [default: service.port, 8000]"),
    workers: int = typer.Option(1, min=1, help="worker processes (each logs to its own file)"),
) -> None:
    """Serve the registry's current model: /predict, /predict/batch, /feedback, /health, /model,
    /metrics. Every prediction is logged before it is answered; a promoted model is picked up
    without a restart."""
    import uvicorn

    from driftlib.config import load_params
    from driftlib.errors import ConfigError
    from driftlib.logsink import create_sink
    from driftlib.registry import Registry
    from driftlib.serve import PARAMS_ENV

    cfg = load_params(params, check_files=False)
    create_sink(cfg)  # an unknown sink name fails here with exit code 2, not in every worker
    registry = Registry.from_params(cfg)
    version = registry.current_version()
    if version is None:
        raise ConfigError(f"{registry.root}: no current model to serve "
                          "(train one with `driftlib models train` or promote a version)")
    host = host or cfg.service.host
    port = port or cfg.service.port
    os.environ[PARAMS_ENV] = str(Path(params).resolve())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    typer.echo(f"driftlib: serving {cfg.name} (model {version}) on http://{host}:{port} "
               f"with {workers} worker(s); log: {cfg.log_dir}", err=True)
    uvicorn.run("driftlib.serve:app_from_env", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_level="warning",
                timeout_graceful_shutdown=10)


if __name__ == "__main__":  # `python -m driftlib.cli.serve --params ...` (used by running_service)
    typer.run(serve)
