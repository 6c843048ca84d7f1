"""Table snapshots: partitioned Parquet, published with one atomic rename.

Layout of a warehouse directory (docs/operations.md, "Warehouse layout"):

    current -> snapshots/<id>                 symlink, replaced atomically
    snapshots/<id>/<table>/month=YYYY-MM/part-0.parquet
    snapshots/<id>/rejects/part-0.parquet
    snapshots/<id>/_step_sources/...          internal: per-step accounting
    snapshots/<id>/manifest.json              files ingested, record segments
    snapshots/<id>/summary.json               the ingest that made this snapshot
    records/<segment>/<frame>.parquet         parsed records (flows/store/records.py)
    steplens.duckdb                           views over current/

Why: a reader (DuckDB CLI, notebook) must never see half a batch, and a run killed at
any point must leave the previous state readable. A batch writes a new snapshot
directory under a temporary name, hard-links every partition file it does not change,
rewrites only the partitions holding rows it changed, renames the directory into place,
and only then points `current` at it. The previous snapshots stay for readers that are
still inside a query, and are pruned later.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from steplens.flows.errors import IngestRunning, WarehouseDamaged
from steplens.flows.faults import checkpoint
from steplens.flows.settings import CURRENT, LOCK, MANIFEST, SNAPSHOTS, SUMMARY
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
    link = root / CURRENT
    return link.resolve() if link.is_symlink() else None


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
            summary: dict, granularity: str = "month", full: bool = False,
            keep: int = 2, whole: dict[str, pl.DataFrame] | None = None
            ) -> tuple[Path, dict[str, dict[str, int]]]:
    """Make a new snapshot from the current one plus `changes`, and swap it in.

    With `full`, the previous snapshot is ignored: every table is exactly `changes`.
    `whole`: the other unkeyed tables (billing), written whole like `rejects`; one
    missing is written empty, so its view binds.
    """
    prev = None if full else current_snapshot(root)
    snapshots = root / SNAPSHOTS
    snapshots.mkdir(parents=True, exist_ok=True)
    snap_id = f"{time.time_ns():020d}"  # names sort in creation order
    staging = snapshots / f".{snap_id}.tmp"
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
    (staging / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    write_inventory(root, staging, manifest, previous=prev)
    final = snapshots / snap_id
    os.rename(staging, final)
    checkpoint("publish_renamed")
    _swap_current(root, final)
    checkpoint("publish_swapped")
    prune(root, keep)
    return final, stats


def write_summary(root: Path, summary: dict) -> None:
    """Write the summary beside the current snapshot (temp file, then rename)."""
    snap = current_snapshot(root)
    if snap is None:
        return
    tmp = snap / f".{SUMMARY}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    os.replace(tmp, snap / SUMMARY)


def point_current(root: Path, snapshot: Path) -> None:
    """Make `snapshot` the current one (atomic)."""
    _swap_current(root, snapshot)


def _swap_current(root: Path, snapshot: Path) -> None:
    tmp = root / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(Path(SNAPSHOTS) / snapshot.name, tmp)
    os.replace(tmp, root / CURRENT)  # rename over the old link: atomic on POSIX


def kept_snapshots(root: Path, keep: int) -> list[Path]:
    """The newest `keep` snapshots (always including the current one)."""
    snapshots = root / SNAPSHOTS
    if not snapshots.exists():
        return []
    done = sorted(p for p in snapshots.iterdir() if not p.name.startswith("."))
    kept = done[-keep:] if keep > 0 else []
    current = current_snapshot(root)
    if current is not None and current not in kept:
        kept.append(current)
    return kept


def prune(root: Path, keep: int) -> None:
    """Remove older snapshots and the leftovers of killed runs."""
    snapshots = root / SNAPSHOTS
    kept = set(kept_snapshots(root, keep))
    for path in snapshots.iterdir():
        if path not in kept:
            shutil.rmtree(path, ignore_errors=True)
