"""Table snapshots: partitioned Parquet, published with one atomic rename.

Layout of a warehouse directory (docs/operations.md, "Warehouse layout"; docs/guarantees.md):

    HEAD                                      names the snapshot in use (flows/store/pointer.py)
    current -> snapshots/<id>                 symlink for humans, never read by steplens
    snapshots/<id>/<table>/month=YYYY-MM/part-0.parquet
    snapshots/<id>/rejects/part-0.parquet
    snapshots/<id>/_step_sources/...          internal: per-step accounting
    snapshots/<id>/manifest.json              files ingested, record segments
    snapshots/<id>/summary.json               the ingest that made this snapshot
    snapshots/<id>/inventory.json             every file's size, rows and checksum
    inventories/<id>.json                     second copy of that inventory
    records/<segment>/<frame>.parquet         parsed records (flows/store/records.py)
    steplens.duckdb                           views pinned to the snapshot in use

Why: a reader (DuckDB CLI, notebook) must never see half a batch, and a run killed at
any point must leave the previous state readable. A batch writes a new snapshot
directory under a temporary name, hard-links every partition file it does not change,
rewrites only the partitions holding rows it changed, writes its summary and inventory,
fsyncs, renames the directory into place under its id (the time it is published), and
only then replaces `HEAD`. Readers bind one snapshot's files when they open (views
pinned to its absolute path), so superseded snapshots stay for the retention window
(`Settings.snapshot_retention_seconds`, measured from when they were superseded) and at
least the newest `keep_snapshots`, and are pruned after.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from steplens.flows.errors import IngestRunning, WarehouseDamaged
from steplens.flows.faults import checkpoint
from steplens.flows.settings import (
    INVENTORIES,
    INVENTORY,
    LOCK,
    MANIFEST,
    RECORDS,
    SNAPSHOTS,
    SUMMARY,
)
from steplens.flows.store import pointer, views
from steplens.flows.store.integrity import recovery, write_inventory
from steplens.transforms import schemas

# Tables rewritten whole by every ingest besides `rejects` (billing exports).
UNKEYED = tuple(t.name for t in schemas.REGISTRY if not t.partitioned and t.name != "rejects")
EMPTY = "_empty"  # holds an empty file so a table with no rows still has a schema

GRANULARITY = {"month": "%Y-%m", "day": "%Y-%m-%d"}


@dataclass
class Change:
    """Replace every row whose key is in `keys` by `rows` (which may be fewer, or none).

    `rows` is a frame, or a lazy frame that already carries its `_partition` column
    (the staged output of a bucketed rebuild).
    """

    keys: pl.Series
    rows: pl.DataFrame | pl.LazyFrame
    # A full build's rows already written as `<partition>/part-0.parquet` files under
    # this directory: publishing moves it into the snapshot instead of copying rows.
    laid_out: Path | None = None


_held: set[Path] = set()  # warehouses whose lock this process holds


@contextlib.contextmanager
def ingest_lock(root: Path, wait: bool = False) -> Iterator[None]:
    """One ingest at a time per warehouse; the second waits or stops with a message.

    Re-entrant within a process: the `steplens` command takes the lock before it starts
    Prefect (a locked warehouse is reported at once), and the flow it then runs takes
    it again.
    """
    root = root.resolve()
    if root in _held:
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise IngestRunning(
                f"another steplens ingest (pid {holder}) is running on {root}; "
                "wait for it to finish, or use --wait"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        _held.add(root)
        try:
            yield
        finally:
            _held.discard(root)
            fcntl.flock(f, fcntl.LOCK_UN)


def current_snapshot(root: Path) -> Path | None:
    """The snapshot in use (flows/store/pointer.py): None for an empty warehouse;
    `WarehouseDamaged` when the pointer is lost or broken while snapshots exist."""
    return pointer.current_snapshot(root)


def read_json(snapshot: Path | None, name: str) -> dict | None:
    """A JSON file of a snapshot; `WarehouseDamaged` when it is cut short or garbled."""
    if snapshot is None or not (snapshot / name).exists():
        return None
    path = snapshot / name
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError):
        raise WarehouseDamaged(f"warehouse damaged: {path} cannot be read as JSON (cut "
                               f"short?); {recovery(snapshot.parent.parent)}") from None


def partition_expr(granularity: str) -> pl.Expr:
    """The partition directory name of each row, from its `day`."""
    return (
        pl.lit(granularity + "=")
        + pl.col("day").dt.strftime(GRANULARITY[granularity]).fill_null("unknown")
    ).alias("_partition")


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="zstd", statistics=True)


def write_schema_only(folder: Path) -> None:
    """A snapshot's tables with no rows, laid out as `publish` lays out empty ones: what
    the views bind to before the ingest has rows (flows/store/early_views.py)."""
    for table, spec in schemas.KEYED.items():
        _write(schemas.empty(spec.schema), folder / table / EMPTY / "part-0.parquet")
    for table in ("rejects", *UNKEYED):
        _write(schemas.empty(schemas.TABLES[table].schema), folder / table / "part-0.parquet")


def table_files(snapshot: Path | None, table: str) -> list[Path]:
    """The partition files of `table` in a snapshot (not the empty-table marker)."""
    if snapshot is None or not (snapshot / table).exists():
        return []
    return sorted(p for p in (snapshot / table).glob("*/*.parquet") if p.parent.name != EMPTY)


def outdated(snapshot: Path) -> bool:
    """Whether a snapshot was written by an older steplens whose tables lack columns or
    tables of the registry (e.g. `api`, issue 12): such a warehouse is rebuilt whole."""
    if any(not (snapshot / table).exists() for table in UNKEYED):
        return True
    for table, spec in schemas.KEYED.items():
        if not (snapshot / table).exists():
            return True
        files = sorted((snapshot / table).glob("*/*.parquet"))
        if files and not set(spec.schema.names()) <= set(pl.read_parquet_schema(files[0])):
            return True
    return False


def read_whole(snapshot: Path | None, table: str) -> pl.LazyFrame:
    """An unkeyed table (`rejects`, billing) of a snapshot: one file, or none (empty)."""
    schema = schemas.TABLES[table].schema
    path = None if snapshot is None else snapshot / table / "part-0.parquet"
    if path is None or not path.exists():
        return pl.LazyFrame(schema=schema)
    return pl.scan_parquet(path, schema=schema)


def read_table(snapshot: Path | None, table: str, schema: pl.Schema) -> pl.LazyFrame:
    files = table_files(snapshot, table)
    if not files:
        return pl.LazyFrame(schema=schema)
    return pl.scan_parquet(files, schema=schema)


def _upsert(prev: Path | None, out: Path, table: str, change: Change,
            granularity: str) -> dict[str, int]:
    """Write `table` into `out`: untouched partitions linked, touched ones rewritten.

    A touched partition is streamed (Polars `sink_parquet`) from its old file minus the
    changed ids plus the new rows of that partition, so memory does not grow with the
    size of a partition either.
    """
    spec = schemas.KEYED[table]
    key, schema = spec.key_expr(), spec.schema
    if prev is None and change.laid_out is not None:
        if change.laid_out.exists():
            os.rename(change.laid_out, out / table)
        else:
            _write(schemas.empty(schema), out / table / EMPTY / "part-0.parquet")
        return {"rewritten": len(table_files(out, table)), "linked": 0}
    old_files = table_files(prev, table)
    keys = change.keys.unique().implode()
    rows = change.rows if isinstance(change.rows, pl.LazyFrame) else (
        change.rows.lazy().with_columns(partition_expr(granularity)))
    new_parts = set(rows.select("_partition").unique().collect()["_partition"].drop_nulls())
    touched: set[str] = set()
    if old_files and change.keys.len():
        hits = (
            pl.scan_parquet(old_files, schema=schema, include_file_paths="_file")
            .select(key.alias("_key"), "_file")
            .filter(pl.col("_key").is_in(keys))
            .select("_file").unique().collect()
        )
        touched = set(hits["_file"])
    stats = {"rewritten": 0, "linked": 0}
    order = list(schema.names())
    for f in old_files:
        part = f.parent.name
        target = out / table / part / f.name
        if str(f) in touched or part in new_parts:
            kept = ~key.is_in(keys).fill_null(False)
            pieces = [pl.scan_parquet(f, schema=schema).filter(kept)]
            if part in new_parts:
                pieces.append(_partition_rows(rows, part, order))
                new_parts.discard(part)
            _sink(pl.concat(pieces, how="vertical_relaxed"), target)
            stats["rewritten"] += 1
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)
            stats["linked"] += 1
    for part in sorted(new_parts):
        _sink(_partition_rows(rows, part, order), out / table / part / "part-0.parquet")
        stats["rewritten"] += 1
    if not (out / table).exists():
        _write(schemas.empty(schema), out / table / EMPTY / "part-0.parquet")
    return stats


def _partition_rows(rows: pl.LazyFrame, part: str, order: list[str]) -> pl.LazyFrame:
    return rows.filter(pl.col("_partition") == part).select(order)


def _sink(frame: pl.LazyFrame, path: Path) -> None:
    """Stream `frame` into `path`; a partition left with no rows gets no file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.sink_parquet(path, compression="zstd", statistics=True)
    if pl.scan_parquet(path).select(pl.len()).collect().item() == 0:
        path.unlink()
        if not any(path.parent.iterdir()):
            path.parent.rmdir()


def publish(root: Path, changes: dict[str, Change], rejects: pl.DataFrame, manifest: dict,
            summary: dict | Callable[[Path], dict], granularity: str = "month",
            full: bool = False, keep: int = 2, whole: dict[str, pl.DataFrame] | None = None,
            retention: float = 0.0, prices_file: Path | None = None,
            duckdb_file: bool = True, early_views: Callable[[str], Path | None] | None = None
            ) -> tuple[Path, dict[str, dict[str, int]]]:
    """Make a new snapshot from the current one plus `changes`, and swap it in.

    With `full`, the previous snapshot is ignored: every table is exactly `changes`.
    `whole`: the other unkeyed tables (billing), written whole like `rejects`; one
    missing is written empty, so its view binds. `summary`: the summary, or a function
    of the staged snapshot directory giving it, so the summary is inside the snapshot
    before it is published (a kill after the switch cannot leave it without one).
    With `duckdb_file`, a new `steplens.duckdb` pinned to the new snapshot (prices:
    `prices_file`, else the remembered ones) is prepared before the switch and renamed
    into place right after it (`early_views`: see `views.prepare_duckdb`).
    """
    if full:  # the documented way out of a damaged warehouse: a broken pointer is replaced
        try:
            head = pointer.read(root)
        except WarehouseDamaged:
            head = None
        prev = None
    else:
        head = pointer.read(root)
        prev = current_snapshot(root)
    snapshots = root / SNAPSHOTS
    snapshots.mkdir(parents=True, exist_ok=True)
    if head is not None:
        _drop_unpublished(root, head.snapshot)
    staging = snapshots / f".{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    stats = {}
    for table, spec in schemas.KEYED.items():
        change = changes.get(table) or Change(pl.Series([], dtype=pl.String),
                                              schemas.empty(spec.schema))
        stats[table] = _upsert(prev, staging, table, change, granularity)
        checkpoint("publish_partial")
    _write(rejects, staging / schemas.TABLES["rejects"].name / "part-0.parquet")
    for table in UNKEYED:
        frame = (whole or {}).get(table)
        _write(schemas.empty(schemas.TABLES[table].schema) if frame is None else frame,
               staging / table / "part-0.parquet")
    (staging / MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
    made = summary(staging) if callable(summary) else summary
    (staging / SUMMARY).write_text(json.dumps(made, indent=2, sort_keys=True, default=str))
    inventory = write_inventory(root, staging, manifest, previous=prev)
    _fsync_tree(staging)
    before = set(((read_json(prev, MANIFEST) or {}) if prev is not None else {})
                 .get("segments", {}))
    for sid in sorted(set(manifest.get("segments", {})) - before):  # this batch's records
        if (root / RECORDS / sid).is_dir():
            _fsync_tree(root / RECORDS / sid)
    # the id is the time of publication: names sort by age, and a snapshot's successor's
    # id says when it was superseded (the retention window counts from there)
    existing = [int(s) for s in pointer.snapshot_ids(root) if s.isdigit()]
    snap_id = f"{max([time.time_ns(), *(s + 1 for s in existing)]):020d}"
    inv_copy = root / INVENTORIES / f"{snap_id}.json"
    inv_copy.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_atomic(inv_copy, (staging / INVENTORY).read_bytes())
    final = snapshots / snap_id
    os.rename(staging, final)
    pointer.fsync_dir(snapshots)
    checkpoint("publish_renamed")
    views.drop_prepared(root)
    prepared = (views.prepare_duckdb(root, final, prices_file, early=early_views)
                if duckdb_file else None)
    pointer.point(root, snap_id, inventory, int(snap_id) / 1e9)
    if prepared is not None:
        views.install_duckdb(root, prepared)
    checkpoint("publish_swapped")
    prune(root, keep, retention)
    return final, stats


def _fsync_tree(folder: Path) -> None:
    """Flush every file of a staged snapshot to disk before `HEAD` may name it."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        pointer.fsync_dir(path)


def _drop_unpublished(root: Path, in_use: str) -> None:
    """Snapshots newer than the one in use were renamed into place by a run killed before
    it switched `HEAD`: no reader ever saw them, so they go before a newer one is made
    (else they would count as the successor of the snapshot in use)."""
    for sid in pointer.snapshot_ids(root):
        if sid > in_use:
            _remove(root, sid)


def _remove(root: Path, sid: str) -> None:
    shutil.rmtree(root / SNAPSHOTS / sid, ignore_errors=True)
    (root / INVENTORIES / f"{sid}.json").unlink(missing_ok=True)


def write_summary(root: Path, summary: dict) -> None:
    """Write the summary beside the current snapshot (temp file, then rename): a no-op
    ingest's summary (a publishing ingest writes it inside the snapshot it makes)."""
    snap = current_snapshot(root)
    if snap is None:
        return
    tmp = snap / f".{SUMMARY}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    os.replace(tmp, snap / SUMMARY)


def point_current(root: Path, snapshot: Path) -> None:
    """Make `snapshot` the current one (atomic): `HEAD` names it, with its inventory's
    digest."""
    inv = snapshot / INVENTORY
    pointer.point(root, snapshot.name,
                  pointer.digest(inv.read_bytes()) if inv.is_file() else None)


def retained(ids: list[str], in_use: str, keep: int, retention: float,
             now: float) -> set[str]:
    """The snapshots to keep, of `ids` (sorted, oldest first): the one in use, the newest
    `max(keep, 2)` up to it, and every one superseded less than `retention` seconds
    before `now`. A snapshot is superseded when its successor is published, and a
    snapshot's id is the time it was published (ns). Pure, for local and remote prunes.
    """
    upto = [s for s in ids if s <= in_use]
    kept = {in_use, *upto[-max(keep, 2):]}
    for older, newer in zip(upto, upto[1:], strict=False):
        try:
            superseded_at = int(newer) / 1e9
        except ValueError:
            kept.add(older)  # a name steplens did not make: not ours to judge
            continue
        if now - superseded_at < retention:
            kept.add(older)
    return kept


def kept_snapshots(root: Path, keep: int, retention: float = 0.0,
                   now: float | None = None) -> list[Path]:
    """The snapshots `prune` keeps (always including the one in use); none may go when
    the pointer cannot be read (then every snapshot is listed)."""
    ids = pointer.snapshot_ids(root)
    try:
        head = pointer.read(root)
    except WarehouseDamaged:
        head = None
    if head is None:
        return [root / SNAPSHOTS / s for s in ids]
    keep_ids = retained(ids, head.snapshot, keep, retention,
                        time.time() if now is None else now)
    return [root / SNAPSHOTS / s for s in ids if s in keep_ids]


def prune(root: Path, keep: int, retention: float = 0.0, now: float | None = None) -> None:
    """Remove snapshots outside the retention rule (`retained`) and the leftovers of
    killed runs; nothing when the pointer is lost or broken (the snapshots are then the
    only way back)."""
    try:
        head = pointer.read(root)
    except WarehouseDamaged:
        return
    if head is None:
        return
    snapshots = root / SNAPSHOTS
    kept = {p.name for p in kept_snapshots(root, keep, retention, now)}
    for path in snapshots.iterdir():
        if path.name not in kept:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    copies = root / INVENTORIES
    if copies.is_dir():
        for copy in copies.iterdir():
            if copy.name.endswith(".tmp") or copy.name.removesuffix(".json") not in kept:
                copy.unlink(missing_ok=True)


def live_segments(root: Path) -> set[str]:
    """The record segments any kept snapshot's manifest names: `records.prune` keeps
    them, so a retained snapshot stays whole (its views may be rebuilt from records)."""
    live: set[str] = set()
    for sid in pointer.snapshot_ids(root):
        try:
            manifest = json.loads((root / SNAPSHOTS / sid / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        live |= set(manifest.get("segments", {}))
    return live
