"""The `driftlib` command line: thin typer commands over the modules.

Sub-commands live one per module (run, drift, serve, models, schedule, demo); this file only
assembles them. Exit codes: 0 ok, 1 run failed, 2 bad input or configuration, 3/4/5 drift found
with `run --fail-on-drift` (data / concept / both).
"""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Monitor, detect and mitigate ML model drift with parameterized notebooks.")

COMMANDS = {  # command name -> (module, attribute); typer apps become command groups
    "run": ("driftlib.cli.run", "run"),
    "drift": ("driftlib.cli.drift", "drift"),
    "serve": ("driftlib.cli.serve", "serve"),
    "models": ("driftlib.cli.models", "app"),
    "schedule": ("driftlib.cli.schedule", "schedule"),
    "demo": ("driftlib.cli.demo", "demo"),
}


def _register() -> None:
    for name, (module, attr) in COMMANDS.items():
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)


_register()


def main() -> None:
    app()
