"""Is the warehouse whole? Its inventory, a quick check, and the full `steplens check`.

Each snapshot carries `inventory.json`, written before the snapshot is renamed into
place: every Parquet file of the snapshot (size and rows), the record segments its
manifest lists (size and rows), and the manifest's size and hash. Files deleted,
truncated or rewritten by hand are then caught instead of giving a silent wrong answer
(the views read `current/<table>/**/*.parquet`: a deleted partition would just vanish
from every sum).

- `verify(root)`: sizes only (a `stat` per file, plus hashing the manifest), before
  every `report`, `sql` and incremental `ingest`; raises `WarehouseDamaged` naming the
  file and the way out (`--full-refresh` rebuilds from the exports).
- `check(root)`: `steplens check`: the above, then reads every Parquet file through
  (page checksums and decoding), compares row counts, parses the manifest and the
  summary, checks the accounting, and runs every view.

Snapshots written before inventories existed have none: `verify` passes them, `check`
still reads every file.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from steplens.flows.errors import WarehouseDamaged
from steplens.flows.settings import (
    CURRENT,
    INVENTORY,
    MANIFEST,
    RECORDS,
    SUMMARY,
)

RECOVER = "rebuild it from your exports: `steplens ingest PATH... --full-refresh{w}`"


def recovery(root: Path | str | None = None) -> str:
    """What to do about a damaged warehouse, with the `--warehouse` to type."""
    return RECOVER.format(w=f" --warehouse {root}" if root is not None else "")


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq  # here, not at import: the quick check needs no Arrow

    return pq.read_metadata(path).num_rows


def file_crc(path: Path) -> int:
    """CRC-32 of a file's bytes (several GB/s): what `steplens check` compares."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(8 * 1024 * 1024):
            crc = zlib.crc32(block, crc)
    return crc


def build_inventory(root: Path, snapshot: Path, manifest: dict,
                    previous: Path | None = None) -> dict:
    """The inventory of a snapshot being published (`snapshot` may be its temp dir).

    Content checksums are computed once per file: a partition hard-linked from the
    `previous` snapshot (same inode) and a record segment (never rewritten) keep the
    checksum the previous inventory holds, so an ingest hashes only what it wrote.
    """
    old = (read_inventory(previous) or {}) if previous is not None else {}
    old_files, old_records = old.get("files", {}), old.get("records", {})
    files = {}
    for p in sorted(snapshot.rglob("*.parquet")):
        rel = str(p.relative_to(snapshot))
        st = p.stat()
        before = old_files.get(rel)
        linked = (before is not None and "crc32" in before and previous is not None
                  and _inode(previous / rel) == st.st_ino)
        files[rel] = {"bytes": st.st_size, "rows": before["rows"] if linked else _rows(p),
                      "crc32": before["crc32"] if linked else file_crc(p)}
    records = {}
    for sid, info in sorted(manifest.get("segments", {}).items()):
        for frame, n in sorted(info.get("rows", {}).items()):
            if n:
                rel = f"{RECORDS}/{sid}/{frame}.parquet"
                before = old_records.get(rel)
                path = root / rel
                records[rel] = {"bytes": path.stat().st_size, "rows": n,
                                "crc32": before["crc32"] if before and "crc32" in before
                                else file_crc(path)}
    raw = (snapshot / MANIFEST).read_bytes()
    return {"version": 1, "files": files, "records": records,
            "manifest": {"bytes": len(raw), "blake2b": _digest(raw)}}


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def write_inventory(root: Path, snapshot: Path, manifest: dict,
                    previous: Path | None = None) -> None:
    (snapshot / INVENTORY).write_text(json.dumps(
        build_inventory(root, snapshot, manifest, previous), sort_keys=True))


@dataclass(frozen=True)
class Finding:
    """One problem: the file, and what is wrong with it."""

    path: Path
    problem: str

    def message(self, root: Path) -> str:
        return f"warehouse damaged: {self.path} {self.problem}; {recovery(root)}"


def _snapshot(root: Path) -> Path | None:
    link = root / CURRENT
    if not link.is_symlink():
        return None
    return link.resolve()


def read_inventory(snapshot: Path) -> dict | None:
    path = snapshot / INVENTORY
    if not path.exists():
        return None  # written before inventories existed
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise WarehouseDamaged(f"warehouse damaged: {path} cannot be read as JSON; "
                               f"{recovery(snapshot.parent.parent)}") from None
    return data


def _size_findings(root: Path, snapshot: Path, inventory: dict) -> list[Finding]:
    out = []
    entries = [(snapshot / rel, e) for rel, e in inventory.get("files", {}).items()]
    entries += [(root / rel, e) for rel, e in inventory.get("records", {}).items()]
    for path, entry in entries:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            out.append(Finding(path, "is missing"))
            continue
        if size != entry["bytes"]:
            out.append(Finding(path, f"has {size} bytes where {entry['bytes']} were written "
                                     "(cut short or changed)"))
    manifest = snapshot / MANIFEST
    expected = inventory.get("manifest")
    if expected:
        try:
            raw = manifest.read_bytes()
        except FileNotFoundError:
            out.append(Finding(manifest, "is missing"))
        else:
            if len(raw) != expected["bytes"] or _digest(raw) != expected["blake2b"]:
                out.append(Finding(manifest, f"has {len(raw)} bytes where "
                                             f"{expected['bytes']} were written (cut short "
                                             "or changed)"))
    return out


def findings(root: Path) -> list[Finding]:
    """The quick check: every file of the current snapshot there, at its size."""
    snapshot = _snapshot(root)
    if snapshot is None:
        return []
    if not snapshot.is_dir():
        return [Finding(root / CURRENT, f"points at {snapshot}, which is missing")]
    inventory = read_inventory(snapshot)
    return _size_findings(root, snapshot, inventory) if inventory else []


def verify(root: Path) -> None:
    """Raise `WarehouseDamaged` for the first problem `findings` sees."""
    found = findings(root)
    if found:
        more = f" (and {len(found) - 1} more problems: `steplens check`)" if len(found) > 1 else ""
        raise WarehouseDamaged(found[0].message(root) + more)


PARQUET_IN_ERROR = re.compile(r"""['"]?(/[^'"\s]+\.parquet)['"]?""")


def damaged_file_in(error: BaseException, root: Path) -> str | None:
    """The warehouse Parquet file a DuckDB or Polars error names, if any."""
    for match in PARQUET_IN_ERROR.finditer(str(error)):
        path = match.group(1)
        if path.startswith(str(root)):
            return path
    return None


# ---- steplens check --------------------------------------------------------------------

@dataclass
class Check:
    """One line of `steplens check`: what was checked, and the problems found."""

    what: str
    problems: list[Finding]


def _read_through(path: Path) -> int:
    """Decode every row group (bounded memory); the rows read."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    rows = 0
    for i in range(f.num_row_groups):
        rows += f.read_row_group(i).num_rows
    return rows


def _read_files(paths: Iterable[tuple[Path, dict]]) -> tuple[int, list[Finding]]:
    """Read each file through; compare its checksum and rows with what was written."""
    n, out = 0, []
    for path, expected in paths:
        n += 1
        if not path.exists():
            out.append(Finding(path, "is missing"))
            continue
        crc = expected.get("crc32")
        if crc is not None and file_crc(path) != crc:
            out.append(Finding(path, "differs from what was written (checksum)"))
            continue
        try:
            got = _read_through(path)
        except Exception as e:  # noqa: BLE001 - any decoding failure is damage
            out.append(Finding(path, f"cannot be read ({str(e).splitlines()[0]})"))
            continue
        rows = expected.get("rows")
        if rows is not None and got != rows:
            out.append(Finding(path, f"holds {got} rows where {rows} were written"))
    return n, out


def check(root: Path) -> list[Check]:
    """Everything `steplens check` verifies, in order; empty problem lists mean whole."""
    snapshot = _snapshot(root)
    if snapshot is None or not snapshot.is_dir():
        return [Check("current snapshot", [Finding(root / CURRENT, "is missing or points "
                                                   "nowhere")])]
    out = [Check(f"current snapshot {snapshot.name}", [])]
    inventory = None
    try:
        inventory = read_inventory(snapshot)
    except WarehouseDamaged:
        out.append(Check("inventory", [Finding(snapshot / INVENTORY, "cannot be read")]))
    if inventory:
        found = _size_findings(root, snapshot, inventory)
        listed = len(inventory.get("files", {})) + len(inventory.get("records", {}))
        out.append(Check(f"{listed} files present at their written size", found))
    manifest = _json(snapshot / MANIFEST)
    out.append(Check("manifest.json parses", [] if isinstance(manifest, dict) else
                     [Finding(snapshot / MANIFEST, manifest or "is missing")]))
    summary = _json(snapshot / SUMMARY)
    out.append(Check("summary.json parses", [] if isinstance(summary, dict) else
                     [Finding(snapshot / SUMMARY, summary or "is missing")]))

    if inventory:
        tables = [(snapshot / rel, e) for rel, e in inventory["files"].items()]
        records = [(root / rel, e) for rel, e in inventory["records"].items()]
    else:
        tables = [(p, {}) for p in sorted(snapshot.rglob("*.parquet"))]
        records = [(root / RECORDS / sid / f"{frame}.parquet", {"rows": n})
                   for sid, info in (manifest.get("segments", {}) if isinstance(manifest, dict)
                                     else {}).items()
                   for frame, n in info.get("rows", {}).items() if n]
    n, found = _read_files(tables)
    out.append(Check(f"{n} table files read through, checksums and row counts match", found))
    n, found = _read_files(records)
    out.append(Check(f"{n} record segment files read through, checksums and row counts "
                     "match", found))
    if isinstance(summary, dict):
        balanced = summary.get("balanced")
        out.append(Check("accounting balances (records = kept + superseded + rejected + "
                         "skipped)", [] if balanced in (1, True) else
                         [Finding(snapshot / SUMMARY, f"says balanced = {balanced}")]))
    return out


def _json(path: Path) -> dict | str | None:
    """The parsed file, or why it could not be parsed (None: missing)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return f"cannot be read as JSON ({str(e).splitlines()[0]})"
    return data if isinstance(data, dict) else "does not hold a JSON object"


def check_views(root: Path) -> Check:
    """Every view and table of the warehouse answers a count (read-only, in memory)."""
    import duckdb

    from steplens.flows.store import views

    problems = []
    con = views.open_readonly(root)
    try:
        names = [r[0] for r in con.sql(
            "select view_name from duckdb_views() where not internal "
            "union all select table_name from duckdb_tables()").fetchall()]
        for name in names:
            try:
                con.sql(f'select count(*) from "{name}"').fetchall()
            except duckdb.Error as e:
                problems.append(Finding(root / CURRENT, f"view {name}: "
                                        f"{str(e).splitlines()[0]}"))
    finally:
        con.close()
    return Check(f"{len(names)} views and tables answer", problems)
