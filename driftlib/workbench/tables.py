"""Tables for people: pandas' HTML tables in a report, without the machine's habits.

A notebook displays DataFrames as they are; the report rewrites their HTML so stakeholders never see a
0..n-1 index column, NaN/None/True/False, microsecond timestamps or 17-digit floats. Only `<table
class="dataframe">` blocks are touched, cell by cell, so any other HTML output passes unchanged.
"""
from __future__ import annotations

import math
import re

_TABLE = re.compile(r'<table[^>]*class="[^"]*\bdataframe\b[^"]*"[^>]*>.*?</table>', re.S)
_CELL = re.compile(r"(<td[^>]*>)(.*?)(</td>)", re.S)
_ROW_HEADER = re.compile(r"(<tr[^>]*>\s*)<th[^>]*>(.*?)</th>", re.S)
_BODY_TH = re.compile(r"(<th[^>]*>)(.*?)(</th>)", re.S)
_HEAD = re.compile(r"(<thead>.*?</thead>)", re.S)
_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[+-]\d{2}:\d{2}|Z)?$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$")
WORDS = {"NaN": "–", "nan": "–", "None": "–", "NaT": "–", "<NA>": "–", "True": "yes", "False": "no", "inf": "∞",
         "-inf": "−∞"}


def fmt_number(x: float) -> str:
    """Three significant digits for small numbers, two decimals above 1, thousands separated above 1,000;
    tiny p-values keep their exponent (1.1e-146)."""
    if not math.isfinite(x):
        return "∞" if x > 0 else ("−∞" if x < 0 else "–")
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 1:
        return f"{x:.2f}".rstrip("0").rstrip(".")
    if a < 1e-3:
        return f"{x:.2g}"
    return f"{x:.3g}"


def fmt_cell(text: str) -> str:
    """One cell's text for people (unknown shapes pass unchanged)."""
    raw = text.strip()
    if raw in WORDS:
        return WORDS[raw]
    if m := _TS.match(raw):
        day, hm, _ = m.groups()
        return day if hm == "00:00" else f"{day} {hm}"
    if _FLOAT.match(raw):
        return fmt_number(float(raw))
    return text


def _range_index(table: str) -> bool:
    """True when the body's row headers are 0, 1, 2, … (pandas' default index: noise for people)."""
    body = table.split("<tbody>", 1)[-1]
    labels = [re.sub(r"<[^>]+>", "", m.group(2)).strip() for m in _ROW_HEADER.finditer(body)]
    rows = body.count("<tr")
    return bool(labels) and len(labels) == rows and labels == [str(i) for i in range(len(labels))]


def _drop_index(table: str) -> str:
    head, sep, body = table.partition("<tbody>")
    body = _ROW_HEADER.sub(lambda m: m.group(1), body)
    # the header rows start with the index's (usually empty) corner cell
    head = _HEAD.sub(lambda m: re.sub(r"(<tr[^>]*>\s*)<th[^>]*>.*?</th>", r"\1", m.group(1), flags=re.S), head)
    return head + sep + body


def humanize_table(table: str) -> str:
    if _range_index(table):
        table = _drop_index(table)
    head, sep, body = table.partition("<tbody>")
    body = _BODY_TH.sub(lambda m: m.group(1) + fmt_cell(m.group(2)) + m.group(3), body)
    return _CELL.sub(lambda m: m.group(1) + fmt_cell(m.group(2)) + m.group(3), head + sep + body)


def humanize_tables(fragment: str) -> str:
    """Every pandas table in an HTML fragment, rewritten; the rest of the fragment as it was."""
    if "dataframe" not in fragment:
        return fragment
    return _TABLE.sub(lambda m: humanize_table(m.group(0)), fragment)
