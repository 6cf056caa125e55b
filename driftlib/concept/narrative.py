"""The words of the concept-drift report, made from a `ConceptReport`: the notebook only displays them.

One interval formatter (`fmt_interval`) for every number with bounds, so the report, the headline and
the tables agree to the digit.
"""
from __future__ import annotations

import pandas as pd

from driftlib.core.contracts import ConceptSummary, SkippedInput
from driftlib.concept.report import ConceptReport, _fmt_iv, better_than_reference


def fmt_interval(v: dict | None) -> str:
    """'0.712 [0.701, 0.723]', '0.712' without bounds, '–' when undefined."""
    text = _fmt_iv(v)
    return "–" if text == "-" else text


def run_window_lines(report: ConceptReport, served, period: str) -> list[str]:
    """Headline and bullets: coverage, each metric against the reference, onset, tests, data drift."""
    cur = report.current
    lines = [f"### {report.headline}", "",
             f"- Run window {period}: {cur['n']:,} predictions, {cur['n_labelled']:,} with a label "
             f"({cur['coverage']:.0%}); model version {served.version or 'unknown'}."]
    for name in report.degradation_metrics:
        diff = (cur.get("difference") or {}).get(name)
        verdict = "" if not diff else (" — **worse than the reference**" if diff["degraded"]
                                       else " — better than the reference" if better_than_reference(cur, name)
                                       else " — within the reference's range")
        lines.append(f"- {name}: realized {fmt_interval((cur.get('realized') or {}).get(name))}, estimated "
                     f"{fmt_interval((cur.get('estimated') or {}).get(name))}, reference "
                     f"{fmt_interval(report.reference['metrics'][name])}{verdict}.")
    if report.onset is not None:
        lines.append(f"- Degraded since **{report.onset:%d %b %Y}** (basis: {report.degraded_basis}; "
                     "dated by the change detectors below).")
    elif report.degraded and getattr(report, "first_degraded", None) is not None:
        lines.append(f"- Onset **unknown** ({report.onset_basis}); the first degraded window starts "
                     f"{pd.Timestamp(report.first_degraded):%d %b %Y}.")
    for finding in getattr(report, "findings", []):
        lines.append(f"- **Finding:** {finding}.")
    if getattr(report, "insufficient", None):
        lines.append(f"- **Insufficient data:** {report.insufficient}.")
    tests = (cur.get("concept_test") or {}).get("tests", {})
    for name, t in tests.items():
        if t.get("drift") is None:
            lines.append(f"- Concept test on {name}: **undetermined** — {t.get('reason') or 'not run'}.")
            continue
        lines.append(f"- Concept test on {name}: p = {t['p_value']:.2g} → {'change' if t['drift'] else 'no change'} "
                     f"(level {cur['concept_test']['alpha'] / len(tests):.3g}).")
    dd = cur.get("data_drift") or {}
    if dd:
        src = "report 02" if dd.get("source") == "02_data_drift" else "this report's own per-feature tests"
        share = "" if dd.get("share_drifted") is None else f", {dd['share_drifted']:.0%} of features"
        lines.append(f"- Data drift ({src}): {'yes' if dd['drifted'] else 'no'}{share}.")
    if served.note:
        lines.append(f"- Note: {served.note}.")
    return lines


def windows_table(report: ConceptReport) -> pd.DataFrame:
    """The per-window table for people: short dates, no end column, readable headers."""
    table = report.windows_frame()
    table["start"] = pd.to_datetime(table["start"]).dt.strftime("%d %b")
    return table.drop(columns=["end"]).rename(columns={"lag_median_h": "lag h (median)"})


def label_coverage_text(report: ConceptReport) -> str:
    lc = report.label_coverage
    text = f"Run window: {lc['coverage']:.0%} of {lc['n']:,} predictions labelled"
    if lc["lag_median_hours"] is None:
        return text + "."
    return (text + f"; median delay {lc['lag_median_hours'] / 24:.1f} days, 90% within "
            f"{lc['lag_p90_hours'] / 24:.1f} days.")


def change_points_text(report: ConceptReport, start: pd.Timestamp, days_before: int = 28) -> str:
    """Detections and agreed change points, listing those in and shortly before the run window."""
    recent = [p for p in report.change_points if pd.Timestamp(p["timestamp"]) >= start - pd.Timedelta(days=days_before)]
    rows = [f"- {pd.Timestamp(p['timestamp']):%d %b %Y %H:%M}: errors "
            f"{'rising' if p['direction'] == 'up' else 'falling'} ({', '.join(p['detectors'])})" for p in recent]
    counts = pd.Series([d["detector"] for d in report.detections], dtype=object).value_counts().to_dict()
    text = (f"{len(report.detections)} detections over {report.n_errors:,} labelled predictions "
            f"({', '.join(f'{k}: {v}' for k, v in counts.items()) or 'none'}); "
            f"{len(report.change_points)} change points where detectors agreed. ")
    return text + ("Change points in and shortly before the run window:\n\n" + "\n".join(rows) if rows else "")


def verdict_counts_text(report: ConceptReport) -> str:
    verdicts = pd.Series([w.get("verdict") for w in report.windows], dtype=object).value_counts()
    return "Verdicts of the windows: " + (", ".join(f"{k}: {v}" for k, v in verdicts.items()) or "none") + "."


def estimation_error_table(report: ConceptReport) -> pd.DataFrame:
    """Estimated minus realized, per metric and per window verdict: how far to trust the estimate."""
    errors = pd.DataFrame([{"metric": m, "verdict": v, **s} for m, e in report.estimation_error.items()
                           for v, s in {"all windows": e, **e["by_verdict"]}.items()])
    if errors.empty:
        return errors
    return errors[["metric", "verdict", "n_windows", "mean", "mean_abs", "max_abs"]].rename(
        columns={"mean": "mean error (estimated − realized)", "mean_abs": "mean |error|", "max_abs": "max |error|"})


def trust_text(report: ConceptReport) -> str:
    """This run's own measured estimation error (never numbers quoted from another data set)."""
    metric = report.metric if report.metric in report.estimation_error else next(iter(report.estimation_error), None)
    if metric is None:
        return "No window had both labels and an estimate, so the estimate is unchecked on this data."
    e = report.estimation_error[metric]
    parts = [f"{v}: mean |error| {s['mean_abs']:.3f}, max {s['max_abs']:.3f} over {s['n_windows']} windows"
             for v, s in e["by_verdict"].items()]
    return (f"Estimated vs realized {metric} over {e['n_windows']} labelled windows: mean |error| "
            f"{e['mean_abs']:.3f}, max {e['max_abs']:.3f}; by verdict — " + "; ".join(parts) + ".")


def summarise(report: ConceptReport, served, start, end, warnings: list[str] = (), extra: dict | None = None,
              skipped: SkippedInput | None = None) -> ConceptSummary:
    """Notebook 03's typed result: the report as saved, the serving model and the run window;
    what the readers left out (`skipped`) leads the warnings and is counted in `skipped_input`."""
    skipped = skipped or SkippedInput()
    data = {**report.to_dict(), "model_version": served.version, "served_note": served.note,
            "period": {"start": start, "end": end}, "warnings": [*skipped.warnings, *warnings],
            "skipped_input": skipped.to_dict(), **(extra or {})}
    return ConceptSummary.from_dict(data)
