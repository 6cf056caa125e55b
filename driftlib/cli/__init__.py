"""The `driftlib` command line: thin typer commands over the modules.

Sub-commands live one per module (run, drift, serve, models, schedule, demo); this file only
assembles them, lazily: a module is imported when its command runs, so `driftlib --help` costs
typer alone and `driftlib drift` never loads papermill, nbconvert, Evidently, FastAPI or matplotlib.
Exit codes: 0 ok, 1 run failed, 2 bad input or configuration, 3/4/5 drift found
with `run --fail-on-drift` (data / concept / both).
"""
from __future__ import annotations

import importlib

import typer
from typer.core import TyperCommand, TyperGroup

# command name -> (module, attribute, one-line help shown by `driftlib --help`); typer apps become
# command groups. tests/test_cli_start.py checks each line against the command's own docstring.
COMMANDS = {
    "run": ("driftlib.cli.run", "run",
            "Run the notebooks for one date into outputs/<date>/ and refresh outputs/index.html."),
    "drift": ("driftlib.cli.drift", "drift",
              "Test every column of CURRENT against REFERENCE with Evidently 0.7's default tests."),
    "serve": ("driftlib.cli.serve", "serve",
              "Serve the registry's current model."),
    "models": ("driftlib.cli.models", "app", "Model registry: list, show, promote, rollback, train, register."),
    "schedule": ("driftlib.cli.schedule", "schedule",
                 "Run the notebooks at every cron time (UTC) in the foreground; one run at a time."),
    "init": ("driftlib.cli.init", "init",
             "Write a commented params file for your own table, with settings from its size and time span."),
    "calibrate": ("driftlib.cli.calibrate", "calibrate",
                  "Measure each stat test's false-alarm and detection rates on the reference; suggest per column."),
    "demo": ("driftlib.cli.demo", "demo",
             "Train the initial model, replay production through the service, run the backfill."),
}


def load_command(name: str):
    """The click command of `name`, built from its module (imported now, not at start-up)."""
    module, attr, _ = COMMANDS[name]
    obj = getattr(importlib.import_module(module), attr)
    parent = typer.Typer(add_completion=False)  # built as typer builds sub-commands of one app
    parent.callback()(lambda: None)
    if isinstance(obj, typer.Typer):
        parent.add_typer(obj, name=name)
    else:
        parent.command(name)(obj)
    return typer.main.get_command(parent).commands[name]


class LazyGroup(TyperGroup):
    """Lists the commands from COMMANDS; imports one only when it is resolved to run (or show its help)."""

    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        return TyperCommand(cmd_name, short_help=COMMANDS[cmd_name][2])  # a listing entry only

    def resolve_command(self, ctx, args):
        if args and args[0] in COMMANDS and args[0] not in self.commands:
            self.commands[args[0]] = load_command(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=LazyGroup,
                  help="Monitor, detect and mitigate ML model drift with parameterized notebooks.")


@app.callback()
def _root() -> None:
    """Monitor, detect and mitigate ML model drift with parameterized notebooks."""


def main() -> None:
    app()
