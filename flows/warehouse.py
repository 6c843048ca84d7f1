"""The DuckDB file of a warehouse: views and macros over the current snapshot.

The views read `current/` (see `flows/snapshots.py`), so a new snapshot needs no change
here; the file is only written when it is new, the SQL changed, or the warehouse moved.
That matters because DuckDB lets one process write a file and, meanwhile, no other
process read it: ingests must not lock out notebooks that hold it open read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb


class WarehouseLocked(Exception):
    """Another process holds the warehouse's DuckDB file or ingest lock."""


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
def connect(path: Path, read_only: bool = False, memory_limit: str | None = None
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse's DuckDB file, turning the lock error into `WarehouseLocked`.

    `memory_limit` caps DuckDB's buffers (it spills beyond), for queries run inside an
    ingest, whose memory must not grow with the warehouse.
    """
    config = {"memory_limit": memory_limit} if memory_limit else {}
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
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


def build_duckdb(root: Path, prices_file: Path | None = None) -> Path:
    """Create or refresh the views and macros; a no-op when they are already current.

    The views read `current/`, so new snapshots need no change here: the file is only
    written when it is new, the SQL or the model prices changed, or the warehouse moved.
    The root path is the one literal spliced into SQL (DuckDB does not bind parameters
    in DDL). `prices_file` overrides shipped model prices (see `flows/prices.py`).
    """
    from flows import prices

    path = root / "steplens.duckdb"
    price_table = prices.price_table(root, prices_file)
    version = f"{sql_version()}-{price_table.digest()}"
    if _views_current(path, root, version):
        return path
    with connect(path) as con:
        con.execute(f"create or replace macro steplens_root() as {_quote(str(root))}")
        con.execute(f"create or replace macro steplens_sql_version() as {_quote(version)}")
        prices.load(con, price_table)
        for _name, text in sql_files():
            con.execute(text)
    return path
