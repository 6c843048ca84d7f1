"""One way to write a cell, and the text formats of the report (terminal, Markdown, JSON).

Every text output goes through `cell_text`, so a NULL reads `null` and a float has the
same digits in the terminal, in Markdown and in the HTML tables.
"""

from __future__ import annotations

import datetime as dt
import json
import math

from steplens.flows.report.sections import Table


def cell_text(v: object) -> str:
    """A value as the report writes it: `null`, 4 significant digits, ISO times."""
    if v is None:
        return "null"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return str(v)


def json_value(v: object) -> object:
    """A value as JSON holds it: dates as ISO text, non-finite floats as null."""
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


def _md_cell(v: object) -> str:
    return cell_text(v).replace("|", "\\|").replace("\n", " ")


def markdown(tables: dict[str, Table]) -> str:
    """The sections as GitHub-flavoured Markdown tables."""
    parts = ["# steplens report", ""]
    for table in tables.values():
        parts += [f"## {table.title}", ""]
        if table.note:
            parts += [table.note, ""]
        if not table.rows:
            parts += ["(no rows)", ""]
            continue
        parts.append("| " + " | ".join(table.columns) + " |")
        parts.append("|" + "---|" * len(table.columns))
        parts += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in table.rows]
        parts.append("")
    return "\n".join(parts)


def json_text(tables: dict[str, Table]) -> str:
    """The sections as one JSON object: {section key: [row objects]}."""
    doc = {key: [{c: json_value(v) for c, v in r.items()} for r in t.records()]
           for key, t in tables.items()}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
