"""`driftlib drift`: compare two tables (CSV or Parquet) and print the drift table or its JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from driftlib.cli._common import handle_errors
from driftlib.core.errors import ConfigError, InputError

DATA_DRIFT_EXIT = 3  # docs/architecture.md: 3 = data drift found (--fail-on-drift)


def parse_column_types(specs: list[str]) -> dict[str, str]:
    """["age=num", "city=cat"] -> {"age": "numeric", "city": "categorical"}; ConfigError on a bad spec."""
    from driftlib.drift.detector import KIND_ALIASES

    out = {}
    for spec in specs:
        name, sep, kind = spec.partition("=")
        if not sep or not name.strip() or kind.strip().lower() not in KIND_ALIASES:
            raise ConfigError(f"--column-type: expected NAME=num or NAME=cat, got '{spec}'")
        out[name.strip()] = KIND_ALIASES[kind.strip().lower()]
    return out


def _read(path: Path, option: str):
    from driftlib.data.tables import read_table

    if not Path(path).exists():
        raise InputError(f"{option} {path}: no such file")
    return read_table(path)


def _kinds(reference, current, columns: list[str] | None, types: dict[str, str]) -> tuple[list, list]:
    from driftlib.drift.detector import infer_kinds

    names = columns or [c for c in reference.columns if c in current.columns or c in types]
    unknown = [c for c in [*names, *types] if c not in reference.columns]
    if unknown:
        raise InputError(f"--reference: no column(s) {', '.join(dict.fromkeys(unknown))}")
    numeric, categorical = infer_kinds(reference[names])
    numeric = [c for c in names if (types.get(c) == "numeric") or (c in numeric and c not in types)]
    categorical = [c for c in names if (types.get(c) == "categorical") or (c in categorical and c not in types)]
    if not numeric and not categorical:
        raise InputError("no columns to compare (the two tables share no feature columns)")
    return numeric, categorical


def _print_table(result) -> None:
    t = result.table
    width = max([len("column"), *map(len, t["column"].astype(str))])
    typer.echo(f"{'column':<{width}}  {'type':<11}  {'method':<30}  {'score':>10}  {'threshold':>9}  drifted")
    for r in t.itertuples():
        score = "-" if r.status != "ok" else f"{r.score:.4g}"
        threshold = "-" if r.threshold is None or r.threshold != r.threshold else f"{r.threshold:g}"
        verdict = {True: "YES", False: "no"}.get(r.drifted, r.status)
        typer.echo(f"{r.column:<{width}}  {r.kind:<11}  {(r.method or '-'):<30}  {score:>10}  "
                   f"{threshold:>9}  {verdict}")
    share = result.share_drifted
    if share is None:
        typer.echo("\nNot enough data to judge dataset drift.")
    else:
        verdict = "DATASET DRIFT" if result.dataset_drift else "no dataset drift"
        typer.echo(f"\n{result.n_drifted} of {len(result.tested)} columns drifted (share {share:.2f}, "
                   f"threshold {result.drift_share:.2f}): {verdict}")


@handle_errors
def drift(
    reference: Path = typer.Option(..., "--reference", "-r", help="reference table (.csv or .parquet)"),
    current: Path = typer.Option(..., "--current", "-c", help="current table (.csv or .parquet)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    column_type: Optional[list[str]] = typer.Option(
        None, "--column-type", help="NAME=num|cat, repeatable; other columns typed from their dtype"),
    columns: Optional[str] = typer.Option(None, "--columns", help="comma-separated columns to compare"),
    drift_share: float = typer.Option(0.5, "--drift-share", help="share of drifted columns for dataset drift"),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="exit 3 when the dataset drifted"),
) -> None:
    """Test every column of CURRENT against REFERENCE with Evidently 0.7's default tests.

    Exit codes: 0 done, 2 bad input or option, 3 dataset drift (only with --fail-on-drift).
    """
    from driftlib.drift.detector import DriftDetector

    types = parse_column_types(column_type or [])
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    ref, cur = _read(reference, "--reference"), _read(current, "--current")
    numeric, categorical = _kinds(ref, cur, names, types)
    det = DriftDetector(numeric=numeric, categorical=categorical, drift_share=drift_share).fit(ref)
    result = det.score(cur)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), allow_nan=False))
    else:
        _print_table(result)
    if fail_on_drift and result.dataset_drift:
        raise typer.Exit(DATA_DRIFT_EXIT)
