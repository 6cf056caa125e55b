"""Rendering executed notebooks into stakeholder HTML, and the index of all runs.

nbconvert does the work: `exclude_input` hides code, the TagRemovePreprocessor drops the parameters
and injected-parameters cells (shown instead as a table in the banner), and the `driftreport`
template (extends `lab`) removes every CDN script so a report opens offline.
"""
from __future__ import annotations

import html
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbconvert import HTMLExporter
from traitlets.config import Config

from driftlib.core.contracts import NOTEBOOK_TABLE

TEMPLATES = Path(__file__).parent / "templates"
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell", "papermill-error-cell-tag"}
TITLES = {nb.name: nb.title for nb in NOTEBOOK_TABLE}


def _exporter() -> HTMLExporter:
    c = Config()
    c.TemplateExporter.extra_template_basedirs = [str(TEMPLATES)]
    c.HTMLExporter.template_name = "driftreport"
    c.TemplateExporter.exclude_input = True
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_TAGS)
    return HTMLExporter(config=c)


def _drop_stderr(nb: nbformat.NotebookNode) -> None:
    """Warnings printed to stderr are noise for a stakeholder; errors (output_type=error) stay."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def render_notebook(notebook: str | Path, html_path: str | Path, *, title: str, banner: dict[str, Any]) -> Path:
    """Executed notebook -> no-code HTML with a banner (title, run date, status, headline, params)."""
    nb = nbformat.read(str(notebook), as_version=4)
    nb.metadata["title"] = title
    _drop_stderr(nb)
    resources = {"driftlib": {"title": title, "generated": _now(), **banner}}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    return _atomic_write(Path(html_path), body)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _run_rows(outputs_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for summary_path in sorted(outputs_dir.glob("*/summary.json"), reverse=True):
        try:
            s = json.loads(summary_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        folder = summary_path.parent.name
        rows.append({
            "run_date": s.get("run_date", folder), "status": s.get("status", "unknown"),
            "model": s.get("model", ""), "summary": f"{folder}/summary.json",
            "duration": f"{s['duration_s']:.0f} s" if isinstance(s.get("duration_s"), (int, float)) else "",
            "notebooks": [{
                "name": nb.get("name", ""), "short": TITLES.get(nb.get("name", ""), nb.get("name", "")),
                "status": nb.get("status", ""), "html": f"{folder}/{nb['html']}" if nb.get("html") else None,
                "headline": (nb.get("result") or {}).get("headline") or nb.get("error"),
            } for nb in s.get("notebooks", [])],
        })
    return sorted(rows, key=lambda r: r["run_date"], reverse=True)


def write_index(outputs_dir: str | Path, title: str = "driftlib reports") -> Path:
    """Regenerate `outputs/index.html` from every `outputs/<date>/summary.json`."""
    outputs_dir = Path(outputs_dir)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False)
    page = env.get_template("index.html.j2").render(title=title, runs=_run_rows(outputs_dir),
                                                    generated=_now())
    outputs_dir.mkdir(parents=True, exist_ok=True)
    return _atomic_write(outputs_dir / "index.html", page)


def write_run_index(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """A per-run `index.html` (the banner's 'all reports of this run' link)."""
    e = html.escape

    def item(nb: dict) -> str:
        title, status = e(TITLES.get(nb["name"], nb["name"])), e(nb["status"])
        link = f'<a href="{e(nb["html"])}">{title}</a>' if nb.get("html") else title
        return f"<li>{link} — {status}</li>"

    items = "".join(item(nb) for nb in summary.get("notebooks", []))
    run = f"Run {e(str(summary.get('run_date')))}"
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{run}</title></head>"
            f"<body style='font-family:system-ui,sans-serif;margin:2em'><h1>{run} — "
            f"{e(str(summary.get('status')))}</h1><ul>{items}</ul><p><a href='summary.json'>summary.json</a>"
            f" · <a href='../index.html'>all runs</a></p></body></html>")
    return _atomic_write(Path(run_dir) / "index.html", page)
