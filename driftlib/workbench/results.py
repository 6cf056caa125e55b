"""How a notebook hands its result to the runner: a JSON file beside the executed notebook.

scrapbook is dormant (breaks on pandas 2); a plain `<stem>.result.json` is inspectable, diffable and
read back by later notebooks of the same run (04 reads 02 and 03).
"""
from __future__ import annotations

import json
from pathlib import Path

from driftlib.core.jsonio import to_jsonable, write_json  # noqa: F401  (re-exported)

SUFFIX = ".result.json"


def result_path(output_dir: str | Path, notebook: str) -> Path:
    return Path(output_dir) / f"{notebook}{SUFFIX}"


def save_result(output_dir: str | Path, notebook: str, result: dict) -> Path:
    """Write atomically so the runner never reads half a file."""
    return write_json(result_path(output_dir, notebook), result)


def load_result(output_dir: str | Path, notebook: str) -> dict | None:
    """The notebook's result, or None when it did not run or did not finish."""
    path = result_path(output_dir, notebook)
    if not path.is_file():
        return None
    return json.loads(path.read_text())
