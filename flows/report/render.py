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
    if isinstance(v, list | tuple):  # a LIST column (version_comparison.changed)
        return ", ".join(cell_text(x) for x in v)
    return str(v)


def json_value(v: object) -> object:
    """A value as JSON holds it: dates as ISO text, non-finite floats as null."""
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    if isinstance(v, list | tuple):  # a LIST column: a JSON array
        return [json_value(x) for x in v]
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


# ---- the terminal: tables that fit its width --------------------------------------------

SERIES_DIMENSION = "day"
SERIES_KEEP = 7  # the most recent days a terminal table shows of a longer series


def grid_width(columns: list[str], rows: list[list[str]]) -> int:
    """Columns a boxed table needs (rich's default: 1 space of padding either side of
    each cell, one rule between and around columns) with nothing wrapped."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    return sum(widths) + 3 * len(columns) + 1


def record_blocks(columns: list[str], rows: list[list[str]], width: int) -> list[str]:
    """One block per row, one `column  value` line per cell: fits any width.

    What a table too wide for the terminal becomes (like psql's expanded display): every
    value stays whole, long values wrap under themselves, and no line exceeds `width`.
    """
    label = min(max(len(c) for c in columns), max(width // 2, 8))
    room = max(width - label - 2, 10)
    lines: list[str] = []
    for n, row in enumerate(rows, start=1):
        head = f"-- row {n} "
        lines.append(head + "-" * max(width - len(head), 0))
        for c, v in zip(columns, row, strict=True):
            name = c if len(c) <= label else c[:label - 1] + "~"
            parts = [v[i:i + room] for i in range(0, len(v), room)] or [""]
            lines.append(f"{name:<{label}}  {parts[0]}".rstrip())
            lines += [f"{'':<{label}}  {p}".rstrip() for p in parts[1:]]
    return lines


def summarise_series(columns: list[str], rows: list[tuple], keep: int = SERIES_KEEP
                     ) -> tuple[list[tuple], str | None]:
    """A long per-day series cut to its last `keep` days for the terminal, and a note
    saying what was left out (`--format json|markdown` and HTML keep every row)."""
    if "dimension" not in columns or "value" not in columns:
        return rows, None
    d, v = columns.index("dimension"), columns.index("value")
    days = [r for r in rows if r[d] == SERIES_DIMENSION]
    if len(days) <= 2 * keep:
        return rows, None
    ordered = sorted({str(r[v]) for r in days if r[v] is not None})
    if len(ordered) <= keep:
        return rows, None
    shown = set(ordered[-keep:])
    kept = [r for r in rows if r[d] != SERIES_DIMENSION or str(r[v]) in shown]
    note = (f"{len(ordered) - keep} earlier days ({ordered[0]} .. {ordered[-keep - 1]}) not "
            f"shown; every day: --format json or markdown, or --html")
    return kept, note


def _header_parts(name: str) -> list[str]:
    """`failure_rate` -> [`failure_`, `rate`]: where a header may wrap."""
    parts = name.split("_")
    return [p + "_" for p in parts[:-1]] + [parts[-1]]


def _widths(columns: list[str], rows: list[list[str]], wrap: bool) -> list[int]:
    return [max([max(map(len, _header_parts(c))) if wrap else len(c),
                 *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]


def compact_width(columns: list[str], rows: list[list[str]], wrap: bool = False) -> int:
    """Columns a borderless table needs: cells separated by two spaces; with `wrap`,
    headers may wrap at their underscores."""
    return sum(_widths(columns, rows, wrap)) + 2 * (len(columns) - 1)


def _header_lines(name: str, width: int) -> list[str]:
    lines = [""]
    for part in _header_parts(name):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return lines


def compact_lines(columns: list[str], rows: list[list[str]], wrap: bool = False
                  ) -> list[str]:
    """A borderless table: header (wrapped at underscores with `wrap`), a rule, rows;
    numeric columns aligned right."""
    widths = _widths(columns, rows, wrap)
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    heads = [_header_lines(c, w) if wrap else [c] for c, w in zip(columns, widths, strict=True)]
    depth = max(len(h) for h in heads)
    header = [line([h[k] if k < len(h) else "" for h in heads]) for k in range(depth)]
    return [*header, "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _is_number(text: str) -> bool:
    if text in ("null", "NaN"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def layout(columns: list[str], rows: list[list[str]], width: int) -> str:
    """The widest layout that fits `width`: `boxed` (the usual table), `compact`
    (borderless), `wrapped` (borderless, headers wrapped at underscores) or `records`
    (one block per row)."""
    if grid_width(columns, rows) <= width:
        return "boxed"
    if compact_width(columns, rows) <= width:
        return "compact"
    if compact_width(columns, rows, wrap=True) <= width:
        return "wrapped"
    return "records"


def by_dimension(columns: list[str], rows: list[list[str]]
                 ) -> list[tuple[str, list[str], list[list[str]]]] | None:
    """A `dimension, value, ...` table as one narrower table per dimension (the
    dimension column dropped), in order of first appearance; None for other tables."""
    if not columns or columns[0] != "dimension":
        return None
    groups: dict[str, list[list[str]]] = {}
    for r in rows:
        groups.setdefault(r[0], []).append(r[1:])
    return [(name, columns[1:], group) for name, group in groups.items()]
