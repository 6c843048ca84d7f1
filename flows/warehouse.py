"""The warehouse directory: Parquet snapshots swapped atomically, and the DuckDB file.

Layout (README, "Warehouse layout"):

    steplens.duckdb                 views and macros (flows/sql/*.sql)
    current -> snapshots/<id>       symlink, replaced with one atomic rename
    snapshots/<id>/<table>/day=YYYY-MM-DD/part-0.parquet
    snapshots/<id>/rejects/part-0.parquet
    snapshots/<id>/summary.json     accounting of the ingest that made the snapshot

Why snapshots: a reader (DuckDB CLI, notebook) must never see half a batch, and a run
killed half way must leave the previous good state readable. Each ingest writes a new
snapshot directory (temp name, then rename), hard-links the partition files it did not
change, and only then points `current` at it. Older snapshots are removed after the
swap, keeping a few for readers still inside a query.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from transforms import schemas

CURRENT = "current"
SNAPSHOTS = "snapshots"
SUMMARY = "summary.json"
PARTITIONED = ("runs", "steps", "tool_calls", "usage")


class WarehouseLocked(Exception):
    """Another process holds the warehouse's DuckDB file or ingest lock."""


def partition_dir(day: object) -> str:
    return f"day={day}" if day is not None else "day=unknown"


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write `frame` to `path` atomically: a temp file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, path)


def write_table(snapshot: Path, name: str, frame: pl.DataFrame) -> None:
    """Write one table into a snapshot directory, partitioned by `day` where it has one."""
    table_dir = snapshot / name
    if frame.height == 0 or "day" not in frame.columns:
        _write_parquet(frame, table_dir / "part-0.parquet")
        return
    for (day,), part in frame.partition_by("day", as_dict=True, maintain_order=True).items():
        _write_parquet(part, table_dir / partition_dir(day) / "part-0.parquet")


def current_snapshot(root: Path) -> Path | None:
    link = root / CURRENT
    return link.resolve() if link.is_symlink() else None


def publish(root: Path, tables: dict[str, pl.DataFrame], summary: dict,
            keep: int = 2) -> Path:
    """Write `tables` as a new snapshot and make it current, atomically."""
    snapshots = root / SNAPSHOTS
    snapshots.mkdir(parents=True, exist_ok=True)
    snap_id = f"{time.time_ns():020d}"  # names sort in creation order
    staging = snapshots / f".{snap_id}.tmp"
    staging.mkdir()
    for name, schema in schemas.TABLES.items():
        frame = tables.get(name, schemas.empty(schema))
        write_table(staging, name, frame)
    (staging / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    final = snapshots / snap_id
    os.rename(staging, final)
    _swap_current(root, final)
    _prune(root, keep)
    return final


def _swap_current(root: Path, snapshot: Path) -> None:
    tmp = root / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(Path(SNAPSHOTS) / snapshot.name, tmp)
    os.replace(tmp, root / CURRENT)  # rename over the old link: atomic on POSIX


def _prune(root: Path, keep: int) -> None:
    """Remove snapshots older than the newest `keep`, and leftovers of killed runs."""
    snapshots = root / SNAPSHOTS
    current = current_snapshot(root)
    done = sorted(p for p in snapshots.iterdir() if not p.name.startswith("."))
    stale = [p for p in done[: max(0, len(done) - keep)] if p != current]
    stale += [p for p in snapshots.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def read_summary(root: Path) -> dict | None:
    snap = current_snapshot(root)
    if snap is None or not (snap / SUMMARY).exists():
        return None
    return json.loads((snap / SUMMARY).read_text())


# ---- DuckDB ------------------------------------------------------------------------------

def sql_files() -> list[tuple[str, str]]:
    """(name, text) of every shipped .sql file, in the order they must run."""
    folder = resources.files("flows") / "sql"
    return sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))


def sql_version() -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name, text in sql_files():
        digest.update(name.encode() + b"\0" + text.encode())
    return digest.hexdigest()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextlib.contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse's DuckDB file, turning the lock error into `WarehouseLocked`."""
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise WarehouseLocked(
                f"{path} is open in another process (DuckDB allows one writer, and no "
                "readers while it writes); close that session and retry"
            ) from None
        raise
    try:
        yield con
    finally:
        con.close()


def _views_current(path: Path, root: Path, version: str) -> bool:
    if not path.exists():
        return False
    try:
        with connect(path, read_only=True) as con:
            row = con.sql("select steplens_root(), steplens_sql_version()").fetchall()[0]
    except (duckdb.Error, WarehouseLocked):
        return False
    return row == (str(root), version)


def build_duckdb(root: Path) -> Path:
    """Create or refresh the views and macros; a no-op when they are already current.

    The views read `current/`, so new snapshots need no change here: the file is only
    written when it is new, the SQL changed, or the warehouse moved. The root path is
    the one literal spliced into SQL (DuckDB does not bind parameters in DDL).
    """
    path = root / "steplens.duckdb"
    version = sql_version()
    if _views_current(path, root, version):
        return path
    with connect(path) as con:
        con.execute(f"create or replace macro steplens_root() as {_quote(str(root))}")
        con.execute(f"create or replace macro steplens_sql_version() as {_quote(version)}")
        for _name, text in sql_files():
            con.execute(text)
    return path
