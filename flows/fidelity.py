"""`steplens show ID` and `steplens coverage`: which input line is behind a row, and what
the warehouse does not capture (docs/fidelity.md). Registered by flows/cli.py.

`show` finds every record of an id in the live record segments (runs, steps, deltas,
responses, items, stream events, tool-output copies: whatever frame names the id), marks
the one the current tables took (the row's `source_file`, `line_no`, `source_item`), and
reads each record back from its input file. Before printing a file's lines it checks the
file against the manifest (size and modification time, then the manifest's own content
fingerprint of the part ingested): a file moved, rewritten or truncated since is named,
never shown as if it were the record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console

from steplens.flows.errors import SteplensError
from steplens.flows.settings import MANIFEST, Settings

if TYPE_CHECKING:
    import duckdb

    from steplens.flows.store.manifest import Manifest

# Frames that can name an id, the id columns they hold, and what a row of them is.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "run_records": ("run_id",),
    "step_records": ("step_id", "run_id"),
    "tool_call_records": ("tool_call_id",),
    "delta_events": ("step_id",),
    "delta_calls": ("tool_call_id",),
    "response_records": ("response_id",),
    "response_items": ("item_id", "call_id", "response_id"),
    "response_events": ("item_id", "response_id"),
    "response_outputs": ("call_key",),
}
KIND = {
    "run_records": "run", "step_records": "step", "tool_call_records": "step (tool call)",
    "delta_events": "step delta", "delta_calls": "step delta (tool call)",
    "response_records": "response", "response_items": "response item",
    "response_events": "stream event", "response_outputs": "tool output copy",
}
# Tables whose rows carry provenance, and the id columns a row is found by.
ROW_IDS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",), "steps": ("step_id",), "tool_calls": ("tool_call_id",),
}
# A record longer than this is cut when shown (`--full` shows it whole).
SHOW_CHARS = 2000


@dataclass(frozen=True)
class Found:
    """One record of the id: where it is, what it is, and whether a row took it."""

    file: str
    line: int
    item: int
    kind: str
    winner_of: tuple[str, ...] = ()


def find_records(root: Path, manifest: Manifest, record_id: str) -> list[Found]:
    """Every record of `record_id` in the live segments, one per (file, line, item), in
    input order. A record found by several frames keeps the first frame's kind."""
    import polars as pl

    from steplens.flows.store import records

    seen: dict[tuple[str, int, int], str] = {}
    # a Responses call id: its item's id names the item's stream events (argument deltas)
    item_ids = (records.scan(root, manifest.segments, "response_items")
                .filter(pl.col("call_id") == record_id).select("item_id").drop_nulls()
                .unique().collect()["item_id"].to_list())
    for frame, cols in ID_COLUMNS.items():
        lf = records.scan(root, manifest.segments, frame)
        match = pl.any_horizontal(pl.col(c) == record_id for c in cols)
        if frame == "response_events" and item_ids:
            match = match | pl.col("item_id").is_in(item_ids)
        hits = lf.filter(match).select("rec_file", "rec_line", "rec_item").unique().collect()
        for f, line, item in hits.iter_rows():
            seen.setdefault((f, line, item), KIND[frame])
    return [Found(f, line, item, kind) for (f, line, item), kind in sorted(seen.items())]


def winners(con: duckdb.DuckDBPyConnection, record_id: str
            ) -> dict[tuple[str, int, int], list[str]]:
    """(file, line, item) -> the tables whose row of `record_id` took that record."""
    out: dict[tuple[str, int, int], list[str]] = {}
    for table, cols in ROW_IDS.items():
        where = " or ".join(f"{c} = $id" for c in cols)
        rows = con.execute(f"select distinct api, source_file, line_no, source_item "
                           f"from {table} where {where}", {"id": record_id}).fetchall()
        for api, f, line, item in rows:
            if f is not None:
                out.setdefault((f, line, item), []).append(f"{table} ({api})")
    return out


def file_state(path: str, manifest: Manifest) -> str | None:
    """None when `path` still holds what was ingested, else why it cannot be shown."""
    from steplens.flows.io import storage
    from steplens.flows.store import manifest as manifests

    entry = manifest.files.get(path)
    if not storage.exists(path):
        return "the file moved or was deleted since it was ingested"
    if entry is None:
        return "the file is not in the manifest"
    size, mtime_ns = storage.stat(path)
    if storage.is_url(path) and not entry.fingerprint:  # an object: (size, LastModified)
        return None if (size, mtime_ns) == (entry.size, entry.mtime_ns) else (
            "the object was uploaded again since it was ingested")
    if size < entry.consumed_bytes:
        return "the file shrank since it was ingested"
    # content, not size and time: the manifest's own hash of the prefix that was read
    now = (manifests.legacy_fingerprint(path, entry.consumed_bytes) if entry.legacy
           else manifests.content_hash(path, entry.consumed_bytes))
    if not entry.fingerprint or now != entry.fingerprint:
        return "the file changed since it was ingested (its content hash differs)"
    return None  # appended to: the ingested part is unchanged


@contextlib.contextmanager
def _decompressed(path: str) -> Iterator:
    from steplens.flows.io import inputs

    with inputs._open(path) as f:  # noqa: SLF001 - the readers' own gzip sniffing
        yield f


def _page_items(page: dict) -> list:
    """A list page's items, nested pages flat (as the parser numbers them)."""
    out = []
    for item in page.get("data") or []:
        if isinstance(item, dict) and item.get("object") == "list" and "data" in item:
            out += _page_items(item)
        else:
            out.append(item)
    return out


def read_records(path: str, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The text of each (line, item) of `path`: the line, the item of a list page, or the
    SSE block (its `event:` and `data:` lines) whose first `data:` line it is. One pass
    over the file, up to the last line wanted."""
    lines_needed = {line for line, _ in wanted}
    last = max(lines_needed)
    texts: dict[int, bytes] = {}
    block: list[bytes] = []  # the current SSE block's lines so far
    open_blocks: dict[int, list[bytes]] = {}
    with _decompressed(path) as f:
        for n, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                for start, lines in open_blocks.items():
                    texts[start] = b"\n".join(lines)
                open_blocks, block = {}, []
                if n > last:
                    break
                continue
            block.append(line)
            for lines in open_blocks.values():
                lines.append(line)
            if n in lines_needed:
                if line.startswith(b"data:"):  # SSE: the block so far and what follows
                    open_blocks[n] = list(block)
                else:
                    texts[n] = line
            if n > last and not open_blocks:
                break
    for start, lines in open_blocks.items():
        texts[start] = b"\n".join(lines)
    out = {}
    for line, item in wanted:
        text = texts.get(line)
        if text is None:
            out[(line, item)] = "(line not found: the file is shorter)"
            continue
        if item >= 0:
            try:
                value = _page_items(orjson.loads(text))[item]
                out[(line, item)] = orjson.dumps(value).decode()
            except (orjson.JSONDecodeError, IndexError, TypeError, AttributeError):
                out[(line, item)] = f"(item {item} not found in the line)"
            continue
        out[(line, item)] = text.decode("utf-8", "replace")
    return out


def show_lines(root: Path, con: duckdb.DuckDBPyConnection, manifest: Manifest,
               record_id: str, full: bool = False) -> list[str]:
    """What `steplens show ID` prints, as lines."""
    found = find_records(root, manifest, record_id)
    if not found:
        raise SteplensError(f"no record of id {record_id!r} in the warehouse")
    taken = winners(con, record_id)
    files = sorted({f.file for f in found})
    out = [f"{record_id}: {len(found)} record(s) in {len(files)} file(s)"]
    for path in files:
        mine = [f for f in found if f.file == path]
        problem = file_state(path, manifest)
        texts = {} if problem else read_records(path, [(f.line, f.item) for f in mine])
        out.append(f"== {path}" + (f"  [{problem}]" if problem else ""))
        for f in mine:
            tables = taken.get((f.file, f.line, f.item), [])
            role = f"WINNER of {', '.join(tables)}" if tables else "other"
            where = f"line {f.line}" + (f", item {f.item}" if f.item >= 0 else "")
            out.append(f"-- {where}: {f.kind}; {role}")
            if not problem:
                text = texts[(f.line, f.item)]
                if not full and len(text) > SHOW_CHARS:
                    text = text[:SHOW_CHARS] + f"... ({len(text)} chars; --full shows all)"
                out.append(text)
    return out


# ---- the commands ------------------------------------------------------------------------

Opener = Callable[[Settings], "AbstractContextManager[duckdb.DuckDBPyConnection]"]


def _manifest(settings: Settings) -> tuple[Path, Manifest]:
    from steplens.flows.store import snapshots
    from steplens.flows.store.manifest import Manifest

    snapshot = snapshots.current_snapshot(settings.warehouse)
    return settings.warehouse, Manifest.from_json(snapshots.read_json(snapshot, MANIFEST))


def register(parent: typer.Typer, open_readonly: Opener,
             warehouse: Callable[[str | None], Settings]) -> None:
    """Add `steplens show` and `steplens coverage` to the main command."""
    errors = Console(stderr=True)

    @parent.command()
    def show(
        record_id: Annotated[str, typer.Argument(
            metavar="ID", help="A run, step, response, item or tool-call id")],
        warehouse_dir: Annotated[str | None, typer.Option(
            "--warehouse", "-w", help="Warehouse directory")] = None,
        full: Annotated[bool, typer.Option("--full", help="Show long records whole")] = False,
    ) -> None:
        """The input records of an id: the one each table took, and the others
        (superseded snapshots, stream deltas), read back from the input files."""
        settings = warehouse(warehouse_dir)
        if settings.remote:  # the read mirror holds the tables, not the record segments
            errors.print("[bold red]error:[/] `steplens show` reads a local warehouse (the "
                         "record segments are not mirrored from s3://)", highlight=False)
            raise typer.Exit(1)
        with open_readonly(settings) as con:
            try:
                root, manifest = _manifest(settings)
                lines = show_lines(root, con, manifest, record_id, full)
            except SteplensError as e:
                errors.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
        out = Console(soft_wrap=True, highlight=False)
        for line in lines:
            out.print(line, markup=False)

    @parent.command()
    def coverage(
        warehouse_dir: Annotated[str | None, typer.Option(
            "--warehouse", "-w", help="Warehouse directory")] = None,
        limit: Annotated[int, typer.Option(help="Paths shown at most")] = 30,
        all_paths: Annotated[bool, typer.Option(
            "--all", help="Every path, mapped ones too")] = False,
    ) -> None:
        """What the warehouse does not capture: input paths no table column holds, with
        their record counts and dates, most frequent first (docs/fidelity.md)."""
        settings = warehouse(warehouse_dir)
        with open_readonly(settings) as con:
            lines = coverage_lines(con, limit, all_paths)
        out = Console(soft_wrap=True, highlight=False)
        for line in lines:
            out.print(line, markup=False)


def _day(ts: object) -> str:
    return "-" if ts is None else str(ts)[:10]


def coverage_lines(con: duckdb.DuckDBPyConnection, limit: int = 30,
                   all_paths: bool = False) -> list[str]:
    """What `steplens coverage` prints: the unmapped paths (with `all_paths`, every path),
    most frequent first, then by api, object, path."""
    where = "" if all_paths else "where mapped_to is null"
    total, unmapped = con.execute(
        "select count(*), count(*) filter (where mapped_to is null) from field_coverage"
    ).fetchone()
    rows = con.execute(
        f"select api, object, path, records, first_seen, last_seen, mapped_to "
        f"from field_coverage {where} order by records desc, api, object, path "
        f"limit {int(limit)}").fetchall()
    head = (f"{unmapped} of {total} input paths are held by no table column"
            + (f"; the {len(rows)} most frequent:" if rows else "."))
    if all_paths:
        head = f"{total} input paths ({unmapped} held by no table column):"
    out = [head]
    if rows:
        width = [max(len(str(r[i])) for r in rows) for i in range(3)]
        out.append(f"{'api':<{width[0]}}  {'object':<{width[1]}}  {'path':<{width[2]}}  "
                   f"{'records':>9}  first seen  last seen" + ("  mapped to" if all_paths
                                                              else ""))
        for api, obj, path, n, first, last, mapped in rows:
            line = (f"{api:<{width[0]}}  {obj:<{width[1]}}  {path:<{width[2]}}  {n:>9}  "
                    f"{_day(first):<10}  {_day(last):<10}")
            out.append(line + (f"  {mapped or '-'}" if all_paths else ""))
    shown = len(rows)
    more = (total if all_paths else unmapped) - shown
    if more > 0:
        out.append(f"... {more} more (--limit N, or `steplens sql \"from field_coverage\"`)")
    return out

