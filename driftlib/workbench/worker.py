"""Executes one notebook with papermill in its own process and classifies the outcome.

Run as `python -m driftlib.workbench.worker SPEC.json`. papermill chdirs process-wide and can hang after
the last cell, so the runner gives every notebook its own process and a wall-clock limit; this
worker only translates papermill's exceptions into a status the runner can trust. It dies with
its runner, kernel included (`driftlib.core.lifeline`): an orphan must not promote a model.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from driftlib.core import lifeline


def classify(exc: BaseException, spec: dict | None = None) -> tuple[str, str]:
    """(status, one-line error) from the exception type, never from notebook metadata."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, CellTimeoutError):
        spec = spec or {}
        cell = timed_out_cell(spec["output"]) if spec.get("output") else None
        return "timeout", (f"{cell or 'a cell'} exceeded run.cell_timeout_s = "
                           f"{spec.get('cell_timeout', '?')} s")
    if isinstance(exc, DeadKernelError):
        return "failed", "the kernel died (out of memory?)"
    if isinstance(exc, PapermillExecutionError):
        return "failed", f"{exc.ename}: {exc.evalue}".strip()[:500]
    return "failed", f"{type(exc).__name__}: {exc}"[:500]


def timed_out_cell(output: str) -> str | None:
    """`cell N (`first line…`)` for the cell papermill started last, numbered from 1 as in the
    source notebook (the injected-parameters cell does not count); None if unreadable."""
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # noqa: BLE001 - the message degrades to "a cell"
        return None
    cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    if not started:
        return None
    lines = [ln.strip() for ln in cells[started[-1]].source.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    first = first if len(first) <= 60 else first[:59] + "…"
    return f"cell {started[-1] + 1} (`{first}`)"


def execute(spec: dict) -> dict:
    import papermill as pm

    try:
        pm.execute_notebook(
            spec["input"], spec["output"], parameters=spec["parameters"], kernel_name="python3",
            cwd=spec.get("cwd"), execution_timeout=spec.get("cell_timeout"),
            progress_bar=spec.get("progress", False), request_save_on_cell_execute=True,
        )
        return {"status": "success", "error": None}
    except Exception as exc:  # noqa: BLE001 - every failure becomes a classified status
        status, error = classify(exc, spec)
        return {"status": status, "error": error}


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    if spec.get("runner_pid"):
        lifeline.die_with_parent(int(spec["runner_pid"]))
    outcome = execute(spec)
    Path(spec["status_file"]).write_text(json.dumps(outcome))
    return 0 if outcome["status"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
