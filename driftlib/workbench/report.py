"""Rendering executed notebooks into stakeholder HTML, and the index of all runs.

nbconvert does the work: `exclude_input` hides code, the TagRemovePreprocessor drops the parameters
and injected-parameters cells (shown instead in the banner), and the `driftreport` template (extends
`lab`) removes every CDN script so a report opens offline. Tables are made readable for people
(`tables.py`). The banner's verdict row and previous/next links sit between comment markers: a notebook is
rendered before the later notebooks of its run have run, and newer runs appear later, so the runner's
`write_run_index` and `write_index` refresh those two blocks in place instead of re-rendering.
"""
from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets.config import Config

from driftlib.core.jsonio import atomic_write_text
from driftlib.core.contracts import DATA_DRIFT, NOTEBOOK_TABLE, NOTEBOOKS, typed_result
from driftlib.monitoring import health
from driftlib.workbench.tables import humanize_tables

TEMPLATES = Path(__file__).parent / "templates"
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell", "papermill-error-cell-tag"}
TITLES = {nb.name: nb.title for nb in NOTEBOOK_TABLE}
EVIDENTLY_HTML = "02_evidently_drift.html"
NAV_FILE = ".nav.json"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BLOCK = {name: (f"<!--dl:{name}-->", f"<!--/dl:{name}-->") for name in ("verdicts", "nav")}


class _PeopleTables(Preprocessor):
    """HTML outputs (pandas tables above all) rewritten for people: see `tables.humanize_tables`."""

    def preprocess_cell(self, cell, resources, index):
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if isinstance(data.get("text/html"), str):
                data["text/html"] = humanize_tables(data["text/html"])
        return cell, resources


def _exporter() -> HTMLExporter:
    c = Config()
    c.TemplateExporter.extra_template_basedirs = [str(TEMPLATES)]
    c.HTMLExporter.template_name = "driftreport"
    c.TemplateExporter.exclude_input = True
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_TAGS)
    exporter = HTMLExporter(config=c)
    exporter.register_preprocessor(_PeopleTables(), enabled=True)
    return exporter


def _drop_stderr(nb: nbformat.NotebookNode) -> None:
    """Warnings printed to stderr are noise for a stakeholder; errors (output_type=error) stay."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


# -- the banner's blocks ------------------------------------------------------------------------------
def verdict_row_html(assessment: health.Assessment, ran: str | None = None) -> str:
    """The row atop every report: pipeline outcome apart from the model's verdicts, one word each."""
    e = html.escape
    cells = [f'<div class="dl-v dl-{v.tone}"><span class="dl-k">{e(v.aspect)}</span>'
             f'<b class="dl-s">{e(v.state)}</b><span class="dl-w">{e(v.why)}</span></div>'
             for v in assessment.verdicts]
    h = assessment.health
    model = (f'<div class="dl-v dl-{h.tone} dl-health"><span class="dl-k">model health</span>'
             f'<b class="dl-s">{e(h.state)}</b><span class="dl-w">{e(h.why)}</span></div>')
    tone = {"success": "ok", "success with warnings": "warn", "failed": "bad"}.get(assessment.outcome, "none")
    pipeline = (f'<div class="dl-v dl-{tone} dl-pipeline"><span class="dl-k">pipeline</span>'
                f'<b class="dl-s">{e(assessment.outcome)}</b><span class="dl-w">{e(ran or "")}</span></div>')
    return f'<div class="dl-verdicts" id="dl-verdicts">{model}{"".join(cells)}{pipeline}</div>'


def _run_dates(outputs_dir: Path) -> list[str]:
    return sorted(p.name for p in outputs_dir.iterdir() if p.is_dir() and _DATE.fullmatch(p.name)
                  and (p / "summary.json").is_file()) if outputs_dir.is_dir() else []


def neighbours(outputs_dir: Path, run_date: str) -> tuple[str | None, str | None]:
    """The published run dates just before and after `run_date`."""
    dates = [d for d in _run_dates(outputs_dir) if d != run_date]
    before, after = [d for d in dates if d < run_date], [d for d in dates if d > run_date]
    return (before[-1] if before else None), (after[0] if after else None)


def nav_html(outputs_dir: Path, prev: str | None, nxt: str | None, page: str) -> str:
    """← previous run · all runs · this run's reports · next run →, each to the same report when it exists."""
    e = html.escape

    def link(date: str | None, label: str) -> str:
        if date is None:
            return f'<span class="dl-off">{label}</span>'
        target = page if (outputs_dir / date / page).is_file() else "index.html"
        return f'<a href="../{e(date)}/{e(target)}">{label.replace("run", e(date), 1)}</a>'

    return (f'<nav class="dl-nav">{link(prev, "&larr; run")} · <a href="../index.html">all runs</a> · '
            f'<a href="index.html">this run\'s reports</a> · {link(nxt, "run &rarr;")}</nav>')


def _replace_block(text: str, name: str, content: str) -> str:
    start, end = _BLOCK[name]
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return text
    return text[: i + len(start)] + content + text[j:]


def refresh_blocks(path: Path, **blocks: str) -> bool:
    """Rewrite the marked blocks (verdicts=…, nav=…) of a rendered page in place; False if unchanged."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    new = text
    for name, content in blocks.items():
        new = _replace_block(new, name, content)
    if new == text:
        return False
    atomic_write_text(path, new)
    return True


def _block(name: str, content: str) -> str:
    start, end = _BLOCK[name]
    return f"{start}{content}{end}"


# -- thresholds in effect ------------------------------------------------------------------------------
def thresholds(params, drift_result: dict | None = None) -> dict[str, str]:
    """The settings that decide the verdicts, as people read them."""
    out = {"drift.drift_share": f"{params.drift.drift_share:g} (dataset drift when this share of features drifts)"}
    tests = sorted({(c.get("method"), c.get("threshold")) for c in (drift_result or {}).get("columns") or []
                    if isinstance(c, dict) and c.get("method") and c.get("threshold") is not None})
    if tests:
        out["stat-test thresholds"] = ", ".join(f"{m} {t:g}" for m, t in tests)
    else:
        custom = {k: v.threshold for k, v in params.drift.columns.items() if v.threshold is not None}
        out["stat-test thresholds"] = (", ".join(f"{k} {v:g}" for k, v in custom.items())
                                       or "Evidently's defaults per column type")
    c, r = params.concept, params.retrain
    out["concept.alpha"] = f"{c.alpha:g}"
    out["concept.min_labels"] = f"{c.min_labels:,}"
    out["concept.tolerance"] = f"{c.tolerance:g}"
    out["retrain.min_improvement"] = f"{r.min_improvement:g}"
    out["retrain.slice_tolerance"] = (f"{r.slice_tolerance:g}" if r.slice_tolerance is not None else
                                      "0.02 (bounded metrics) or 5% of the champion's error (mae, rmse)")
    return out


def _params_of(nb: nbformat.NotebookNode):
    """The run's params, from the parameters papermill injected (None when unreadable)."""
    source = ((nb.metadata.get("papermill") or {}).get("parameters") or {}).get("params_file")
    if not source:
        return None
    try:
        from driftlib.config import load_params

        return load_params(source)
    except Exception:  # noqa: BLE001 - the report still renders, without the thresholds
        return None


def _results_of(run_dir: Path) -> dict:
    """A summary-shaped dict from the result files beside the notebooks (a run still in progress)."""
    from driftlib.workbench import results

    notebooks = []
    for name in NOTEBOOKS:
        try:
            result = results.load_result(run_dir, name)
        except (OSError, ValueError):
            result = None
        notebooks.append({"name": name, "status": "success" if result else "pending", "result": result})
    return {"status": "success", "notebooks": notebooks}


def render_notebook(notebook: str | Path, html_path: str | Path, *, title: str, banner: dict[str, Any]) -> Path:
    """Executed notebook -> no-code HTML with a banner: title, navigation, the verdict row, headline,
    the thresholds in effect and the run's parameters."""
    nb = nbformat.read(str(notebook), as_version=4)
    nb.metadata["title"] = title
    _drop_stderr(nb)
    html_path = Path(html_path)
    run_dir, outputs_dir = html_path.parent, html_path.parent.parent
    run_date = str(banner.get("run_date") or run_dir.name)
    params = _params_of(nb)
    partial = _results_of(run_dir)
    verdicts = verdict_row_html(health.assess(partial), _ran_text(partial))
    prev, nxt = neighbours(outputs_dir, run_date)
    d = {"title": title, "generated": _now(), **banner, "css": (TEMPLATES / "_verdicts.css").read_text(),
         "verdicts": _block("verdicts", verdicts),
         "nav": _block("nav", nav_html(outputs_dir, prev, nxt, html_path.name)),
         "thresholds": thresholds(params, typed_result(DATA_DRIFT, partial["notebooks"][1]["result"] or {})
                                  .to_dict()) if params is not None else {}}
    body, _ = _exporter().from_notebook_node(nb, resources={"driftlib": d})
    return atomic_write_text(html_path, body)


def _ran_text(summary: dict) -> str:
    done = [nb for nb in summary.get("notebooks") or [] if isinstance(nb, dict)]
    bad = [f"{TITLES.get(nb.get('name'), nb.get('name'))} {nb.get('status')}" for nb in done
           if nb.get("status") not in ("success", "pending")]
    if bad:
        return "; ".join(bad)
    ok = sum(nb.get("status") == "success" for nb in done)
    return f"{ok} of {len(done)} notebooks ran" if done else ""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- the index of all runs -----------------------------------------------------------------------------
def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def short(text: str | None, limit: int = 150) -> str:
    """A headline cut at a word boundary (the full text goes in the title attribute)."""
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _evidently_link(run_dir: Path, summary: dict) -> str | None:
    name = (typed_result(DATA_DRIFT, _nb(summary, DATA_DRIFT).get("result") or {}).extra.get("evidently_html")
            or EVIDENTLY_HTML)
    return name if (run_dir / name).is_file() else None


def _nb(summary: dict, name: str) -> dict:
    return next((nb for nb in summary.get("notebooks") or [] if isinstance(nb, dict) and nb.get("name") == name), {})


def _run_row(folder: Path, s: dict) -> dict[str, Any]:
    a = health.assess(s)
    evidently = _evidently_link(folder, s)
    name = folder.name
    return {
        "run_date": s.get("run_date", name), "model": s.get("model", ""), "outcome": a.outcome,
        "warnings": [str(w) for w in s.get("warnings") or []], "health": a.health, "action": a.action,
        "verdicts": a.verdicts, "summary": f"{name}/summary.json", "run_index": f"{name}/index.html",
        "duration": _duration(s.get("duration_s")),
        "evidently": f"{name}/{evidently}" if evidently else None,
        "notebooks": [{
            "name": nb.get("name", ""), "short": TITLES.get(nb.get("name", ""), nb.get("name", "")),
            "status": nb.get("status", ""), "html": f"{name}/{nb['html']}" if nb.get("html") else None,
            "duration": _duration(nb.get("duration_s")),
            "headline": (nb.get("result") or {}).get("headline") or nb.get("error") or "",
        } for nb in s.get("notebooks") or [] if isinstance(nb, dict)],
    }


def _trend_point(s: dict):
    from driftlib.plots.trend import TrendPoint

    drift = typed_result(DATA_DRIFT, _nb(s, DATA_DRIFT).get("result") or {})
    concept = typed_result("03", _nb(s, "03_concept_drift").get("result") or {})
    retrain = typed_result("04", _nb(s, "04_retraining").get("result") or {})
    real = health.evidence(concept, "realized")[1] or {}
    est = health.evidence(concept, "estimated")[1] or {}
    num = lambda v: v if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None  # noqa: E731
    return TrendPoint(run_date=str(s.get("run_date")), share_drifted=num(drift.share_drifted),
                      realized=num(real.get("value")), realized_lower=num(real.get("lower")),
                      realized_upper=num(real.get("upper")), estimated=num(est.get("value")),
                      reference=num(concept.reference_value()),
                      label_coverage=num(concept.label_coverage.get("coverage")),
                      decision=retrain.decision, metric=concept.metric)


def _summaries(outputs_dir: Path) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(outputs_dir.glob("*/summary.json")):
        s = _read(path)
        if s is not None:
            found.append((path.parent, s))
    return sorted(found, key=lambda fs: str(fs[1].get("run_date", fs[0].name)))


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)


def write_index(outputs_dir: str | Path, title: str = "driftlib reports") -> Path:
    """Regenerate `outputs/index.html` from every `outputs/<date>/summary.json`, with the trend on top;
    refresh the previous/next links of runs whose neighbours changed."""
    from driftlib.plots.trend import trend_svg

    outputs_dir = Path(outputs_dir)
    found = _summaries(outputs_dir)
    rows = [_run_row(folder, s) for folder, s in reversed(found)]
    try:
        trend = trend_svg([_trend_point(s) for _, s in found])
    except Exception as err:  # noqa: BLE001 - a broken figure must not take the index down
        trend = f'<p class="small">Trend not drawn: {html.escape(type(err).__name__)}: {html.escape(str(err))}</p>'
    page = _env().get_template("index.html.j2").render(title=title, runs=rows, generated=_now(), short=short,
                                                       trend=jinja2.utils.markupsafe.Markup(trend))
    outputs_dir.mkdir(parents=True, exist_ok=True)
    path = atomic_write_text(outputs_dir / "index.html", page)
    for folder, s in found:
        if _DATE.fullmatch(folder.name):
            refresh_nav(folder, s)
    return path


def refresh_nav(run_dir: Path, summary: dict, *, force: bool = False) -> None:
    """Previous/next links of a run's pages, rewritten only when its neighbours changed."""
    outputs_dir = run_dir.parent
    run_date = str(summary.get("run_date") or run_dir.name)
    prev, nxt = neighbours(outputs_dir, run_date)
    state = {"prev": prev, "next": nxt}
    if not force and _read(run_dir / NAV_FILE) == state:
        return
    for page in _pages(summary):
        refresh_blocks(run_dir / page, nav=nav_html(outputs_dir, prev, nxt, page))
    try:
        atomic_write_text(run_dir / NAV_FILE, json.dumps(state))
    except OSError:
        pass


def _pages(summary: dict) -> list[str]:
    return ["index.html"] + [nb["html"] for nb in summary.get("notebooks") or []
                             if isinstance(nb, dict) and nb.get("html")]


def write_run_index(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """The per-run `index.html` (the banner's "this run's reports"), styled like the index; the verdict
    row of every report of the run is brought up to date with the finished run."""
    run_dir = Path(run_dir)
    a = health.assess(summary)
    row = _run_row(run_dir, summary)
    row["summary"], row["run_index"] = "summary.json", "index.html"
    row["evidently"] = row["evidently"].split("/", 1)[1] if row["evidently"] else None
    for nb in row["notebooks"]:
        nb["html"] = nb["html"].split("/", 1)[1] if nb["html"] else None
    verdicts = verdict_row_html(a, _ran_text(summary))
    run_date = str(summary.get("run_date") or run_dir.name)
    outputs_dir = run_dir.parent
    prev, nxt = neighbours(outputs_dir, run_date)
    page = _env().get_template("run_index.html.j2").render(
        run=row, generated=_now(), verdicts=jinja2.utils.markupsafe.Markup(_block("verdicts", verdicts)),
        nav=jinja2.utils.markupsafe.Markup(_block("nav", nav_html(outputs_dir, prev, nxt, "index.html"))),
        warnings=row["warnings"])
    path = atomic_write_text(run_dir / "index.html", page)
    for name in _pages(summary)[1:]:
        refresh_blocks(run_dir / name, verdicts=verdicts, nav=nav_html(outputs_dir, prev, nxt, name))
    try:
        atomic_write_text(run_dir / NAV_FILE, json.dumps({"prev": prev, "next": nxt}))
    except OSError:
        pass
    return path
