"""Executes one notebook with papermill in its own process and classifies the outcome.

Run as `python -m driftlib.workbench.worker SPEC.json`. papermill chdirs process-wide and can hang after
the last cell, so the runner gives every notebook its own process and a wall-clock limit; this
worker only translates papermill's exceptions into a status the runner can trust.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def classify(exc: BaseException) -> tuple[str, str]:
    """(status, one-line error) from the exception type, never from notebook metadata."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, CellTimeoutError):
        return "timeout", "a cell exceeded the per-cell timeout"
    if isinstance(exc, DeadKernelError):
        return "failed", "the kernel died (out of memory?)"
    if isinstance(exc, PapermillExecutionError):
        return "failed", f"{exc.ename}: {exc.evalue}".strip()[:500]
    return "failed", f"{type(exc).__name__}: {exc}"[:500]


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
        status, error = classify(exc)
        return {"status": status, "error": error}


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    outcome = execute(spec)
    Path(spec["status_file"]).write_text(json.dumps(outcome))
    return 0 if outcome["status"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
