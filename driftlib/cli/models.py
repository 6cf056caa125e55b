"""`driftlib models ...`: inspect the registry, promote, roll back, train, import a model."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from driftlib.cli._common import handle_errors
from driftlib.config import load_params
from driftlib.models.registry import Registry
from driftlib.core.jsonio import to_jsonable

app = typer.Typer(help="Model registry: list, show, promote, rollback, train, register.",
                  no_args_is_help=True)

PARAMS = typer.Option(..., "--params", "-p", help="params YAML of the monitored model")
JSON = typer.Option(False, "--json", help="print JSON instead of a table")


def _registry(params_file: Path) -> tuple:
    params = load_params(params_file, check_files=False)
    return params, Registry.from_params(params)


def _fmt_metrics(metrics: dict) -> str:
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in (metrics or {}).items())


@app.command("list")
@handle_errors
def list_models(params_file: Path = PARAMS, as_json: bool = JSON) -> None:
    """All registered versions, oldest first; '*' marks the current one."""
    _, reg = _registry(params_file)
    rows = reg.list()
    if as_json:
        typer.echo(json.dumps(to_jsonable(rows), indent=2))
        return
    if not rows:
        typer.echo(f"no models registered in {reg.root}")
        return
    typer.echo(f"  {'version':<8} {'created (UTC)':<19} {'state':<9} {'gate':<9} {'parent':<7} metrics")
    for r in rows:
        mark = "*" if r["current"] else " "
        typer.echo(f"{mark} {r['version']:<8} {str(r['created'])[:19]:<19} {str(r['state']):<9} "
                   f"{str(r['gate']):<9} {str(r['parent'] or '-'):<7} {_fmt_metrics(r['metrics'])}")


@app.command("show")
@handle_errors
def show(version: str = typer.Argument(..., help="e.g. v0003"), params_file: Path = PARAMS) -> None:
    """Print a version's model card (JSON)."""
    _, reg = _registry(params_file)
    card = reg.card(version)
    card["current"] = reg.current_version() == version
    typer.echo(json.dumps(card, indent=2))


@app.command("promote")
@handle_errors
def promote(version: str = typer.Argument(..., help="e.g. v0003"), params_file: Path = PARAMS,
            reason: str = typer.Option("manual promotion", help="recorded in the history"),
            force: bool = typer.Option(False, help="promote even a candidate the gate rejected")) -> None:
    """Make VERSION current (sha256-checked, atomic)."""
    _, reg = _registry(params_file)
    rec = reg.promote(version, reason=reason, force=force)
    typer.echo(f"current model: {rec['version']} (was {rec['previous'] or 'none'})")


@app.command("rollback")
@handle_errors
def rollback(params_file: Path = PARAMS,
             reason: str = typer.Option("manual rollback", help="recorded in the history")) -> None:
    """Make the previously current version current again."""
    _, reg = _registry(params_file)
    rec = reg.rollback(reason=reason)
    typer.echo(f"current model: {rec['version']} (rolled back from {rec['previous']})")


@app.command("history")
@handle_errors
def history(params_file: Path = PARAMS, as_json: bool = JSON) -> None:
    """Promotions and rollbacks, oldest first."""
    _, reg = _registry(params_file)
    recs = reg.history()
    if as_json:
        typer.echo(json.dumps(recs, indent=2))
        return
    for r in recs:
        typer.echo(f"{r['time']}  {r['action']:<8} {r['previous'] or '-':>6} -> {r['version']}  "
                   f"{r.get('reason', '')}")


@app.command("train")
@handle_errors
def train(params_file: Path = PARAMS,
          promote_it: bool = typer.Option(True, "--promote/--no-promote",
                                          help="make the new model current")) -> None:
    """Train the initial model on `model.train` and register it."""
    from driftlib.models.training import train_initial

    params = load_params(params_file)
    reg = Registry.from_params(params)
    version = train_initial(params, registry=reg, promote=promote_it)
    card = reg.card(version)
    typer.echo(f"registered {version} ({card['training']['window']['rows']} rows; "
               f"{_fmt_metrics(card['metrics'])})" + ("; now current" if promote_it else ""))


REGISTER_HELP = (
    "Import your own joblib model.\n\n"
    "WARNING: a joblib/pickle file is code, not data. Loading it runs whatever its author put in it, "
    "with your permissions, here and in every process that later loads the model (the service, the "
    "notebooks). Register only files you built yourself or got from someone you trust. The registry's "
    "sha256 check only proves the file has not changed since it was registered, not that it was safe. "
    "A card's `artifact` must name a file inside its own version folder.")


@app.command("register", help=REGISTER_HELP)
@handle_errors
def register(artifact: Path = typer.Argument(..., help="a joblib file with a fitted model; a pickle "
                                            "is code: register only files you built or trust"),
             params_file: Path = PARAMS,
             promote_it: bool = typer.Option(False, "--promote", help="make it current")) -> None:
    """Import your own joblib model (the help text is REGISTER_HELP: a pickle is code)."""
    from driftlib.models.training import register_artifact

    params = load_params(params_file)
    reg = Registry.from_params(params)
    version = register_artifact(params, artifact, registry=reg, promote=promote_it)
    typer.echo(f"registered {version} from {artifact}; "
               f"{_fmt_metrics(reg.card(version)['metrics'])}" + ("; now current" if promote_it else ""))
