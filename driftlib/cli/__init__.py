"""The `driftlib` command line: thin typer commands over the modules."""
from __future__ import annotations

import typer

from driftlib.cli.run import run

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Monitor, detect and mitigate ML model drift with parameterized notebooks.")
app.command("run")(run)


def _register() -> None:
    from driftlib.cli.demo import demo

    app.command("demo")(demo)


_register()


def main() -> None:
    app()
