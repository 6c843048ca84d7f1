"""The DuckDB views of a warehouse: the SQL models over one snapshot, pinned.

Every view reads the files of ONE snapshot, named by its absolute path in the macro
`steplens_snapshot()` (transforms/sql/macros/warehouse_table.sql), never through a
pointer that moves: a reader binds a snapshot when it opens and never sees a file of
another one, and a superseded snapshot's files stay for the retention window
(flows/store/snapshots.py `retained`). Measured with DuckDB 2.0.1: a table function
cannot take a subquery, so the path is spliced in when the views are defined.

Two ways to get them. `build_duckdb` writes `steplens.duckdb` for users' own tools
(DuckDB CLI, notebooks), anew for each published snapshot: a new file under a temporary
name, closed, then renamed over `steplens.duckdb`. A connection already open keeps the
old file (the old inode: the old snapshot, still on disk); a new one gets the new file.
The writer never opens the file readers hold, so DuckDB's one-writer lock never stops
an ingest nor a notebook. (`steplens.duckdb` is derived: tables a user adds to it are
lost at the next publish; keep them in another database and ATTACH this one.)
`open_readonly` defines the same views in an in-memory database for steplens's own read
commands, pinned to the snapshot in use when they open, which therefore never write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

from steplens.flows.errors import WarehouseLocked
from steplens.flows.settings import DUCKDB_FILE, SQL_FOLDER, SQL_PACKAGE
from steplens.flows.store import pointer, prices
from steplens.transforms.statuses import RUN_TERMINAL, STEP_TERMINAL

# The SQL models, layered like dbt's: macros, then base views over the Parquet files,
# then priced views (cost columns), then metrics, then the report's views (what
# `steplens report` shows, in every format: `from report_overview`), then export models
# (the warehouse in other formats: OpenTelemetry spans). One object per file, named
# after it.
LAYERS = ("macros", "base", "priced", "metrics", "report", "export")


@dataclass(frozen=True)
class SqlModel:
    """One `.sql` file of `transforms/sql/<layer>/`: it creates the object `name`."""

    layer: str
    name: str
    text: str


def _dependency_order(models: list[SqlModel]) -> list[SqlModel]:
    """`models` of one layer, each after the models of that layer it names.

    DuckDB binds a view when it is created, so a view must come after the views it
    reads; names are matched as whole words, which is all the ordering needs.
    """
    by_name = {m.name: m for m in models}
    needs = {m.name: {n for n in by_name if n != m.name
                      and re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", _code(m.text))}
             for m in models}
    ordered: list[SqlModel] = []
    done: set[str] = set()
    while len(ordered) < len(models):
        ready = sorted(n for n in by_name if n not in done and needs[n] <= done)
        if not ready:
            raise ValueError(f"cycle among SQL models: {sorted(set(by_name) - done)}")
        for n in ready:
            ordered.append(by_name[n])
            done.add(n)
    return ordered


def _code(text: str) -> str:
    """SQL text without `--` comments (a comment may name another view)."""
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def sql_models() -> list[SqlModel]:
    """Every shipped SQL model, in the order they must run."""
    root = resources.files(SQL_PACKAGE) / SQL_FOLDER
    out: list[SqlModel] = []
    for layer in LAYERS:
        files = [f for f in (root / layer).iterdir() if f.name.endswith(".sql")]
        out += _dependency_order([SqlModel(layer, f.name.removesuffix(".sql"), f.read_text())
                                  for f in files])
    return out


def sql_version() -> str:
    """A hash of every SQL model and of the status lists: part of the rebuild trigger."""
    digest = hashlib.blake2b(digest_size=8)
    for m in sql_models():
        digest.update(f"{m.layer}/{m.name}".encode() + b"\0" + m.text.encode())
    digest.update(repr((STEP_TERMINAL, RUN_TERMINAL)).encode())
    return digest.hexdigest()


def file_version(price_table: prices.PriceTable) -> str:
    """What a `steplens.duckdb` is made for besides its root: the SQL and the prices."""
    return f"{sql_version()}-{price_table.digest()}"


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


def state(path: Path) -> tuple[str, str, str]:
    """(root, snapshot, version) a `steplens.duckdb` file was made for; `duckdb.Error`
    (or `WarehouseLocked`) when it cannot be opened or is not one of ours."""
    with connect(path, read_only=True) as con:
        root, version = con.sql("select steplens_root(), steplens_sql_version()"
                                ).fetchall()[0]
        try:
            snapshot = con.sql("select steplens_snapshot()").fetchall()[0][0]
        except duckdb.Error:
            snapshot = ""  # written by an older steplens, whose views read `current/`
    return (root, snapshot, version)


def expected(root: Path, prices_file: Path | None = None, remember: bool = False
             ) -> tuple[str, str, str] | None:
    """(root, snapshot, version) `steplens.duckdb` must hold now; None: no snapshot."""
    snapshot = pointer.current_snapshot(root)
    if snapshot is None:
        return None
    price_table = prices.price_table(root, prices_file, remember=remember)
    return (str(root), str(snapshot), file_version(price_table))


def _views_current(path: Path, want: tuple[str, str, str]) -> bool:
    if not path.exists():
        return False
    try:
        return state(path) == want
    except (duckdb.Error, WarehouseLocked):
        return False


def is_current(root: Path, prices_file: Path | None = None) -> bool:
    """Whether `steplens.duckdb` already holds this SQL, these prices, this location and
    the snapshot in use (what `build_duckdb` would otherwise rewrite); writes nothing."""
    want = expected(root, prices_file)
    return want is not None and _views_current(root / DUCKDB_FILE, want)


def build_duckdb(root: Path, prices_file: Path | None = None) -> Path:
    """Make `steplens.duckdb` show the snapshot in use; a no-op when it already does.

    Written whole under a temporary name and renamed over the old file (see the module
    docstring): readers holding the old file keep their snapshot, and a file cut short
    or overwritten is simply replaced (it holds nothing but views and the price table).
    The root and snapshot paths are the literals spliced into SQL (DuckDB does not bind
    parameters in DDL). `prices_file` overrides shipped model prices
    (flows/store/prices.py).
    """
    path = root / DUCKDB_FILE
    snapshot = pointer.current_snapshot(root)
    price_table = prices.price_table(root, prices_file)
    version = file_version(price_table)
    if snapshot is None or _views_current(path, (str(root), str(snapshot), version)):
        return path
    # the repair path (a file missing, damaged or edited): always defined anew
    install_duckdb(root, prepare_duckdb(root, snapshot, prices_file, reuse=False))
    return path


def prepare_duckdb(root: Path, snapshot: Path, prices_file: Path | None = None,
                   reuse: bool = True, early: Callable[[str], Path | None] | None = None
                   ) -> Path:
    """A new `steplens.duckdb`, pinned to `snapshot`, written whole under a temporary
    name beside it (not yet visible): `install_duckdb` renames it into place. A snapshot
    being published prepares it before `HEAD` names it and installs it right after, so
    the views are stale only between two renames.

    With `reuse`, a copy of the current file re-pinned (`_repinned`) when it is exactly
    what `define` made for this root, SQL and prices: defining the ~100 views binds each
    one (measured 0.6 to 1.7 s a publish, by load; re-pinning 0.18 s). Otherwise
    `early(version)`: a file `define_file` made for this root and version while the
    ingest ran (flows/store/early_views.py), moved here and pinned; None: defined now."""
    price_table = prices.price_table(root, prices_file)
    version = file_version(price_table)
    tmp = root / f".{DUCKDB_FILE}.{uuid.uuid4().hex}.tmp"
    try:
        if not (reuse and _repinned(root, tmp, version, snapshot)):
            made = early(version) if early is not None else None
            if made is None or not _pinned(made, tmp, snapshot):
                define_file(tmp, root, price_table, version, snapshot)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except BaseException:
        _discard(tmp)
        raise
    _wal(tmp).unlink(missing_ok=True)
    return tmp


def define_file(path: Path, root: Path, price_table: prices.PriceTable, version: str,
                snapshot: Path) -> None:
    """A new `steplens.duckdb` at `path`: `define`, plus the digest `_repinned` checks."""
    with connect(path) as con:
        define(con, root, price_table, version, snapshot)
        # what `_repinned` checks a later copy against (the file's own, so the in-memory
        # views of read commands do not compute it)
        con.execute(f"create or replace macro steplens_views_digest() as "
                    f"{_quote(views_digest(con))}")


def _pin(con: duckdb.DuckDBPyConnection, snapshot: Path) -> None:
    """Point the views of a file at `snapshot` (they read it through this macro)."""
    con.execute(f"create or replace macro steplens_snapshot() as {_quote(str(snapshot))}")


def reusable(root: Path, version: str) -> bool:
    """Whether `steplens.duckdb` was made by steplens for this root and `version` (then
    a publish re-pins a copy: `_repinned`, which also checks its digest)."""
    current = root / DUCKDB_FILE
    if not current.exists():
        return False
    try:
        made_for_root, _, made_for_version = state(current)
    except (duckdb.Error, WarehouseLocked, OSError):
        return False
    return (made_for_root, made_for_version) == (str(root), version)


def _pinned(made: Path, tmp: Path, snapshot: Path) -> bool:
    """Move `made` (defined over another snapshot of the same schemas) to `tmp` and pin
    it to `snapshot`; False (and no `tmp`) when that fails."""
    try:
        os.replace(made, tmp)
        with connect(tmp) as con:
            _pin(con, snapshot)
    except (duckdb.Error, WarehouseLocked, OSError):
        _discard(tmp)
        return False
    return True


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _discard(tmp: Path) -> None:
    for leftover in (tmp, _wal(tmp)):
        leftover.unlink(missing_ok=True)


def _repinned(root: Path, tmp: Path, version: str, snapshot: Path) -> bool:
    """Copy `steplens.duckdb` to `tmp` and point its `steplens_snapshot()` at `snapshot`,
    if the file was made for this root and version and its views and tables still hold
    what `define` wrote (their digest, `steplens_views_digest()`, matches: an edited view
    or price, a file cut short or another DuckDB's file is defined anew). The views bind
    the snapshot's path through that macro when queried, and every snapshot of one SQL
    version has the same table schemas. False (and no `tmp`): define it anew."""
    if not reusable(root, version):
        return False
    try:
        shutil.copyfile(root / DUCKDB_FILE, tmp)
        with connect(tmp) as con:
            stored = con.sql("select steplens_views_digest()").fetchall()[0][0]
            if stored != views_digest(con):
                raise duckdb.Error("views or tables differ from what steplens wrote")
            _pin(con, snapshot)
    except (duckdb.Error, WarehouseLocked, OSError):
        _discard(tmp)
        return False
    return True


def views_digest(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of every view's SQL and every table's rows (the price tables), with the
    DuckDB version: what `_repinned` requires of a file before copying it."""
    views = con.sql("select view_name, sql from duckdb_views() where not internal "
                    "order by all").fetchall()
    tables = [r[0] for r in con.sql("select table_name from duckdb_tables() "
                                    "order by all").fetchall()]
    rows = [con.sql(f'select * from "{t}" order by all').fetchall() for t in tables]
    return hashlib.sha256(repr((duckdb.__version__, views, tables, rows)).encode()
                          ).hexdigest()


def install_duckdb(root: Path, prepared: Path) -> None:
    """Rename a prepared file over `steplens.duckdb` (readers holding the old one keep it)."""
    path = root / DUCKDB_FILE
    # a WAL beside the name would be replayed into the new file: none may stay
    _wal(path).unlink(missing_ok=True)
    os.replace(prepared, path)
    pointer.fsync_dir(root)


def drop_prepared(root: Path) -> None:
    """Remove prepared files a killed run left (called under the ingest lock)."""
    for leftover in root.glob(f".{DUCKDB_FILE}.*.tmp*"):
        leftover.unlink(missing_ok=True)


def define(con: duckdb.DuckDBPyConnection, root: Path, price_table: prices.PriceTable,
           version: str, snapshot: Path) -> None:
    """Create every macro, table and view of the warehouse in `con`.

    The root path and the status lists are the only literals spliced into SQL (DuckDB
    does not bind parameters in DDL); the statuses come from `transforms.statuses`, so
    the SQL macros `is_terminal` and `is_run_terminal` cannot disagree with Python.
    `snapshot`: the directory every view reads (absolute), pinned.

    One transaction, with DuckDB's Parquet metadata cache on while the views are bound:
    each view binds the views under it again, reading every partition file's footer
    each time (measured: 0.35 to 0.25 s over a 300 MB warehouse's ~100 files).
    """
    con.execute("set parquet_metadata_cache = true")
    con.execute("begin transaction")
    try:
        _define(con, root, price_table, version, snapshot)
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("reset parquet_metadata_cache")


def _define(con: duckdb.DuckDBPyConnection, root: Path, price_table: prices.PriceTable,
            version: str, snapshot: Path) -> None:
    con.execute(f"create or replace macro steplens_root() as {_quote(str(root))}")
    _pin(con, snapshot)
    con.execute(f"create or replace macro steplens_sql_version() as {_quote(version)}")
    for name, values in (("step_terminal_statuses", STEP_TERMINAL),
                         ("run_terminal_statuses", RUN_TERMINAL)):
        listed = ", ".join(_quote(v) for v in values)
        con.execute(f"create or replace macro {name}() as [{listed}]")
    prices.load(con, price_table)
    for model in sql_models():
        con.execute(model.text)


def open_readonly(root: Path, snapshot: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the warehouse's views over `root`.

    What `steplens report` and `steplens sql` query: it reads the Parquet files of the
    snapshot in use when it opens (resolved once: `snapshot`, else the pointer's) and
    writes nothing, so a read-only warehouse directory still answers, a moved warehouse
    needs no rebuild, an ingest publishing meanwhile changes nothing it sees, and an
    ingest holding `steplens.duckdb` does not block it. Prices: the shipped table and
    the remembered user copy.
    """
    snapshot = snapshot or pointer.current_snapshot(root)
    if snapshot is None:
        raise FileNotFoundError(f"no snapshot in {root}")
    price_table = prices.price_table(root, None)
    con = duckdb.connect(":memory:")
    try:
        define(con, root, price_table, file_version(price_table), snapshot)
    except BaseException:
        con.close()
        raise
    return con
