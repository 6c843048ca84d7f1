"""The report and query results on a terminal, or as CSV (DuckDB's) or JSON on standard
output.

Tables take the widest layout that fits the console (flows/report/render.py `layout`):
the usual boxed table, a borderless one, one table per dimension, or one block per row;
no line is ever wider than the terminal.
"""

from __future__ import annotations

import json
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from steplens.flows.report.render import (
    by_dimension,
    cell_text,
    compact_lines,
    layout,
    record_blocks,
)

if TYPE_CHECKING:
    import duckdb


class Format(StrEnum):
    """How `steplens sql` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


def duckdb_csv(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """The result of `query` as DuckDB itself writes CSV (`COPY ... TO (FORMAT csv)`):
    booleans `true`/`false`, NULL empty, lists and timestamps in DuckDB's own text, LF
    line ends: what `COPY (query) TO 'f.csv'` gives in DuckDB itself."""
    rel = con.sql(query)
    if rel is None:  # a statement without a result (SET, PRAGMA ...)
        return ""
    with tempfile.TemporaryDirectory(prefix="steplens-csv-") as folder:
        path = Path(folder) / "result.csv"
        rel.write_csv(str(path), header=True)
        return path.read_text(encoding="utf-8")


def render(console: Console, columns: list[str], rows: list[tuple], title: str | None, fmt: Format,
            note: str | None = None) -> None:
    """Rows as JSON or as a table; CSV is DuckDB's own (`duckdb_csv`)."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps([dict(zip(columns, r, strict=True)) for r in rows],
                                    default=str) + "\n")
    else:
        _print_table(console, columns, [[cell_text(v) for v in r] for r in rows], title, note)


def _print_table(console: Console, columns: list[str], cells: list[list[str]], title: str | None,
                 note: str | None) -> None:
    """The widest layout that fits the terminal (flows/report/render.py `layout`): the
    usual boxed table, a borderless one, one table per dimension, or one block per row.
    No line is ever wider than the terminal."""
    width = console.width
    if title:
        console.print(f"[bold]{escape(title)}[/]", overflow="fold")
    if not cells:
        console.print("(no rows)")
    elif layout(columns, cells, width) == "records" and (groups := by_dimension(columns, cells)):
        for name, sub_columns, sub_cells in groups:
            console.print(f"[bold]{escape(title or '')}[/] dimension = {escape(name)}",
                          highlight=False, overflow="fold")
            _print_cells(console, sub_columns, sub_cells, width)
    else:
        _print_cells(console, columns, cells, width)
    if note:
        console.print(note, highlight=False, markup=False, overflow="fold")


def _print_cells(console: Console, columns: list[str], cells: list[list[str]], width: int) -> None:
    style = layout(columns, cells, width)
    if style == "boxed":
        table = Table(show_edge=True)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in cells:
            table.add_row(*(escape(v) for v in r))
        console.print(table)
        return
    lines = (record_blocks(columns, cells, width) if style == "records"
             else compact_lines(columns, cells, wrap=style == "wrapped"))
    for line in lines:
        console.print(line, markup=False, highlight=False, overflow="fold")
