"""The CLI starts fast: `driftlib --help` and `driftlib drift` import only what they use (issue 14)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from driftlib.cli import COMMANDS, load_command

HEAVY = ("papermill", "nbformat", "nbconvert", "evidently", "fastapi", "matplotlib")

PROBE = """
import sys
from typer.testing import CliRunner
from driftlib.cli import app
result = CliRunner().invoke(app, {args!r})
assert result.exit_code == 0, (result.exit_code, result.output)
print("LOADED", ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(args: list[str]) -> list[str]:
    """Heavy top-level packages in sys.modules after running `driftlib ARGS` in a fresh interpreter."""
    code = PROBE.format(args=args, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("LOADED")][-1]
    return [m for m in line.removeprefix("LOADED").strip().split(",") if m]


def test_help_imports_no_heavy_package():
    assert loaded_after(["--help"]) == []


def test_drift_command_imports_no_heavy_package(tmp_path):
    rng = np.random.default_rng(0)
    for name, shift in (("ref", 0.0), ("cur", 1.0)):
        pd.DataFrame({"x": rng.normal(shift, 1, 2000), "c": rng.choice(list("abc"), 2000)}).to_parquet(
            tmp_path / f"{name}.parquet")
    args = ["drift", "-r", str(tmp_path / "ref.parquet"), "-c", str(tmp_path / "cur.parquet"), "--json"]
    assert loaded_after(args) == []
    assert loaded_after(["drift", "--help"]) == []


def test_a_command_still_loads_everything_it_needs():
    """Control for the probe: `run --help` loads the runner, so the check above can fail."""
    assert "nbformat" in loaded_after(["run", "--help"])


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listing_help_matches_the_command(name):
    """The one-line help `driftlib --help` shows without importing must agree with the command."""
    cmd = load_command(name)
    assert cmd.name == name
    assert " ".join(cmd.help.split()).startswith(COMMANDS[name][2].rstrip("."))


def test_help_lists_every_command_and_runs_one():
    from typer.testing import CliRunner

    from driftlib.cli import app

    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0
    assert all(name in out.output for name in COMMANDS)
    bad = CliRunner().invoke(app, ["drift", "-r", "/nonexistent.parquet", "-c", "/x.parquet", "--json"])
    assert bad.exit_code == 2 and "no such file" in bad.output
