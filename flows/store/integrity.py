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
- `verify_segments(root)`: the CRC-32 of every record segment, before an ingest that
  reads the inputs builds on them (filters may skip a damaged page).
- `check(root)`: `steplens check`: the above, then reads every Parquet file through
  (page checksums and decoding), compares row counts, parses the manifest and the
  summary, checks the accounting, and runs every view.

Where damage cannot erase the file list: the inventory is held twice (inside the
snapshot, and `inventories/<id>.json`) and `HEAD` carries its digest
(flows/store/pointer.py). Either copy matching the digest is used; one missing or
changed is damage `check` reports and `check --repair` rewrites from the other. Both
gone (or a digest matching neither) is damage, never "no inventory".

Snapshots written before inventories existed have none (and a pointer migrated from
their `current` symlink holds no digest): `verify` passes them, `check` still reads
every file.
"""

from __future__ import annotations

import json
import os
import re
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from steplens.flows.errors import WarehouseDamaged
from steplens.flows.settings import (
    DUCKDB_FILE,
    INVENTORIES,
    INVENTORY,
    MANIFEST,
    POINTER,
    RECORDS,
    SNAPSHOTS,
    SUMMARY,
)
from steplens.flows.store import pointer
from steplens.flows.store.pointer import Pointer

RECOVER = "rebuild it from your exports: `steplens ingest PATH... --full-refresh{w}`"


def recovery(root: Path | str | None = None) -> str:
    """What to do about a damaged warehouse, with the `--warehouse` to type."""
    return RECOVER.format(w=f" --warehouse {root}" if root is not None else "")


_digest = pointer.digest


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
    old = _trusted(root, previous) if previous is not None else {}
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


def _trusted(root: Path, previous: Path) -> dict:
    """The previous snapshot's inventory from the copy `HEAD`'s digest vouches for (its
    checksums are carried over to hard-linked files, so a changed copy must not be)."""
    try:
        head = pointer.read(root)
    except WarehouseDamaged:
        return {}
    if head is None or head.snapshot != previous.name:
        return {}
    raw, _ = inventory_copies(root, previous, head)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def write_inventory(root: Path, snapshot: Path, manifest: dict,
                    previous: Path | None = None) -> str:
    """Write the snapshot's `inventory.json`; its digest (what `HEAD` will carry)."""
    raw = json.dumps(build_inventory(root, snapshot, manifest, previous),
                     sort_keys=True).encode()
    (snapshot / INVENTORY).write_bytes(raw)
    return _digest(raw)


@dataclass(frozen=True)
class Finding:
    """One problem: the file, and what is wrong with it."""

    path: Path
    problem: str

    def message(self, root: Path) -> str:
        return f"warehouse damaged: {self.path} {self.problem}; {recovery(root)}"


def _snapshot(root: Path) -> Path | None:
    return pointer.current_snapshot(root)


def read_inventory(snapshot: Path) -> dict | None:
    """A snapshot's own `inventory.json` (None: none written), as it is on disk."""
    path = snapshot / INVENTORY
    if not path.exists():
        return None  # written before inventories existed
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise WarehouseDamaged(f"warehouse damaged: {path} cannot be read as JSON; "
                               f"{recovery(snapshot.parent.parent)}") from None
    return data


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return b""


def inventory_copies(root: Path, snapshot: Path, head: Pointer
                     ) -> tuple[bytes | None, list[Finding]]:
    """The inventory of the snapshot `head` names, from whichever copy its digest
    vouches for, and a finding for each copy missing or changed.

    With no digest (a snapshot from before inventories, or a pointer migrated from the
    `current` symlink) the snapshot's own copy is taken as it is.
    """
    paths = (snapshot / INVENTORY, root / INVENTORIES / f"{snapshot.name}.json")
    raws = [_read_bytes(p) for p in paths]
    if head.inventory is None:
        return raws[0] if raws[0] else raws[1] or None, []
    good = next((r for r in raws if r and _digest(r) == head.inventory), None)
    problems = []
    for path, raw in zip(paths, raws, strict=True):
        if raw is None and head.migrated and path != paths[0]:
            continue  # an older steplens kept one copy; `check --repair` writes the second
        if raw is None:
            problems.append(Finding(path, "is missing"))
        elif _digest(raw) != head.inventory:
            problems.append(Finding(path, f"does not match the digest {root / POINTER} "
                                          "holds (changed or cut short)"))
    if good is None and problems:
        problems = [Finding(paths[0], "and its copy are missing or changed: the snapshot's "
                                      "files cannot be verified")]
    return good, problems


def _inventory(root: Path, snapshot: Path, head: Pointer) -> tuple[dict | None, list[Finding]]:
    raw, problems = inventory_copies(root, snapshot, head)
    if raw is None:
        return None, problems
    try:
        data = json.loads(raw)
    except ValueError:
        return None, [*problems, Finding(snapshot / INVENTORY, "cannot be read as JSON")]
    return (data, problems) if isinstance(data, dict) else (
        None, [*problems, Finding(snapshot / INVENTORY, "does not hold a JSON object")])


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
    """The quick check: the pointer, the inventory (one good copy is enough to answer),
    every file of the current snapshot there, at its size."""
    head = pointer.read(root)
    if head is None:
        return []
    snapshot = root.resolve() / SNAPSHOTS / head.snapshot
    inventory, problems = _inventory(root, snapshot, head)
    if inventory is None:
        return problems
    return _size_findings(root, snapshot, inventory)


def verify(root: Path) -> None:
    """Raise `WarehouseDamaged` for the first problem `findings` sees."""
    found = findings(root)
    if found:
        more = f" (and {len(found) - 1} more problems: `steplens check`)" if len(found) > 1 else ""
        raise WarehouseDamaged(found[0].message(root) + more)


def verify_segments(root: Path) -> None:
    """Raise `WarehouseDamaged` if a record segment of the current snapshot differs from
    its inventory's CRC-32.

    An ingest that builds on the snapshot re-reads segments through Parquet filters and
    statistics, which can skip a damaged page: the damage would then be carried into the
    next snapshot unseen. A checksum pass costs a read of the segments (about 1 GB/s),
    done once per ingest that has something to read; sizes are `verify`'s.
    """
    head = pointer.read(root)
    if head is None:
        return
    inventory, _ = _inventory(root, root.resolve() / SNAPSHOTS / head.snapshot, head)
    for rel, entry in sorted((inventory or {}).get("records", {}).items()):
        path = root / rel
        expected = entry.get("crc32")
        try:
            damaged = expected is not None and file_crc(path) != expected
        except FileNotFoundError:
            damaged, problem = True, "is missing"
        else:
            problem = "differs from what was written (checksum)"
        if damaged:
            raise WarehouseDamaged(Finding(path, problem).message(root))


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
    """Everything `steplens check` verifies of the files, in order; empty problem lists
    mean whole. (The accounting and the views are checked by their own modules.)"""
    try:
        head = pointer.read(root)
    except WarehouseDamaged as e:
        return [Check("snapshot pointer", [Finding(root / POINTER,
                                                   getattr(e, "problem", str(e)))])]
    if head is None:
        return [Check("snapshot pointer", [Finding(root / POINTER, "is missing: no snapshot")])]
    snapshot = root.resolve() / SNAPSHOTS / head.snapshot
    out = [Check(f"snapshot in use: {snapshot.name} ({POINTER})", [])]
    inventory, problems = _inventory(root, snapshot, head)
    if head.inventory is None and inventory is None:
        listed = "no inventory (written by an older steplens): files read through only"
    else:
        listed = "inventory and its copy match the digest in " + POINTER
    out.append(Check(listed, problems))
    if inventory:
        found = _size_findings(root, snapshot, inventory)
        listed_n = len(inventory.get("files", {})) + len(inventory.get("records", {}))
        out.append(Check(f"{listed_n} files present at their written size", found))
        extra = [Finding(p, "is not in the inventory (added by hand? the views read it)")
                 for p in sorted(snapshot.rglob("*.parquet"))
                 if str(p.relative_to(snapshot)) not in inventory.get("files", {})]
        out.append(Check("no table file beyond the inventory", extra))
    manifest = _json(snapshot / MANIFEST)
    out.append(Check("manifest.json parses", [] if isinstance(manifest, dict) else
                     [Finding(snapshot / MANIFEST, manifest or "is missing")]))
    summary = _json(snapshot / SUMMARY)
    out.append(Check("summary.json parses", [] if isinstance(summary, dict) else
                     [Finding(snapshot / SUMMARY, summary or "is missing")]))

    if inventory:
        tables = [(snapshot / rel, e) for rel, e in inventory.get("files", {}).items()]
        records = [(root / rel, e) for rel, e in inventory.get("records", {}).items()]
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
                problems.append(Finding(root / POINTER, f"view {name}: "
                                        f"{str(e).splitlines()[0]}"))
    finally:
        con.close()
    return Check(f"{len(names)} views and tables answer", problems)


def check_duckdb(root: Path, prices_file: Path | None = None) -> tuple[Check, str | None]:
    """Is `steplens.duckdb` sound: a DuckDB file holding steplens's macros, views and
    price table exactly as steplens would write them now? A file made for an older
    snapshot (an ingest killed between the switch and the views, a disk that filled) is
    no damage: a note says the next ingest or `check --repair` rebuilds it."""
    import duckdb

    from steplens.flows.errors import WarehouseLocked
    from steplens.flows.store import views

    path = root / DUCKDB_FILE
    what = f"{DUCKDB_FILE} opens and holds steplens's views"
    fix = "the next ingest or `steplens check --repair` rebuilds it"
    if not path.exists():
        return Check(what, []), f"{path} is missing: {fix}"
    want = views.expected(root, prices_file)
    try:
        got = views.state(path)
    except WarehouseLocked:
        return Check(what, []), f"{path} is open for writing in another process: not checked"
    except duckdb.Error as e:
        return Check(what, [Finding(path, f"cannot be opened as steplens's DuckDB file "
                                          f"({str(e).splitlines()[0]}); {fix}")]), None
    if want is None:
        return Check(what, []), None
    if got[2] != want[2]:  # another steplens's SQL or other prices: not comparable
        return Check(what, []), (f"{path} was made by another version of steplens's SQL "
                                 f"or prices: {fix}")
    problems = []
    mine = views.open_readonly(root, Path(got[1]) if got[1] and Path(got[1]).is_dir() else None)
    try:
        with views.connect(path, read_only=True) as con:
            theirs = con.sql("select view_name, sql from duckdb_views() where not internal "
                             "order by all").fetchall()
            prices_there = con.sql("select * from model_prices order by all").fetchall()
        ours = mine.sql("select view_name, sql from duckdb_views() where not internal "
                        "order by all").fetchall()
        prices_here = mine.sql("select * from model_prices order by all").fetchall()
    except duckdb.Error as e:
        problems.append(Finding(path, f"cannot be read ({str(e).splitlines()[0]}); {fix}"))
    else:
        if theirs != ours:
            differ = sorted({n for n, _ in set(theirs) ^ set(ours)})
            problems.append(Finding(path, f"views differ from steplens's SQL "
                                          f"({', '.join(differ[:5])}); {fix}"))
        if prices_there != prices_here:
            problems.append(Finding(path, f"its model_prices table was changed; {fix}"))
    finally:
        mine.close()
    if problems:
        return Check(what, problems), None
    if got != want:
        return Check(what, []), (f"{path} shows snapshot {Path(got[1]).name} (or another "
                                 f"location or SQL), not the one in use: {fix}")
    return Check(what + f", pinned to snapshot {Path(got[1]).name}", []), None


# ---- steplens check --repair -----------------------------------------------------------

def _candidate(root: Path, sid: str) -> tuple[bytes, dict] | None:
    """The inventory of snapshot `sid` if every file it lists matches its checksum and
    row count and no table file is beyond it; None otherwise."""
    snapshot = root.resolve() / SNAPSHOTS / sid
    raws = [r for r in (_read_bytes(snapshot / INVENTORY),
                        _read_bytes(root / INVENTORIES / f"{sid}.json")) if r]
    for raw in dict.fromkeys(raws):  # each distinct copy, the snapshot's own first
        try:
            inventory = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(inventory, dict) or "files" not in inventory:
            continue
        if _size_findings(root, snapshot, inventory):
            continue
        if any(str(p.relative_to(snapshot)) not in inventory["files"]
               for p in snapshot.rglob("*.parquet")):
            continue
        files = [(snapshot / rel, e) for rel, e in inventory["files"].items()]
        files += [(root / rel, e) for rel, e in inventory.get("records", {}).items()]
        if not _read_files(files)[1]:
            return raw, inventory
    return None


def repair(root: Path, prices_file: Path | None = None) -> list[str]:
    """`steplens check --repair` (run under the ingest lock): what can be put right
    without the inputs, one line per thing done. Data damage (a table file or record
    segment that differs from its checksum) is left for `check` to report: only
    `--full-refresh` from the exports repairs it.

    - `HEAD` lost, garbled, a directory, or naming a missing snapshot: pointed at the
      newest complete snapshot whose files all match their checksums (a `HEAD` that is
      a directory is renamed aside, never deleted);
    - a warehouse from before `HEAD` (a `current` symlink): `HEAD` written;
    - one inventory copy missing or changed: rewritten from the copy the digest vouches
      for; a snapshot with no inventory at all gets one from its files as they read now;
    - `steplens.duckdb` damaged or made for another snapshot: rebuilt.
    """
    from steplens.flows.store import views

    done: list[str] = []
    try:
        head = pointer.read(root)
    except WarehouseDamaged as e:
        head = None
        path = root / POINTER
        if path.is_dir() and not path.is_symlink():
            aside = path.with_name(f"{POINTER}.damaged-{uuid.uuid4().hex[:8]}")
            os.rename(path, aside)
            done.append(f"{path} was a directory: moved aside to {aside}")
        for sid in reversed(pointer.snapshot_ids(root)):
            found = _candidate(root, sid)
            if found is not None:
                raw, _ = found
                head = pointer.point(root, sid, _digest(raw))
                done.append(f"{path} ({getattr(e, 'problem', e)}) now names snapshot {sid}, "
                            "the newest complete one whose files match their checksums")
                break
        else:
            raise WarehouseDamaged(f"warehouse damaged: {path} cannot be restored: no "
                                   f"snapshot whose files all match their checksums; "
                                   f"{recovery(root)}") from None
    if head is None:
        return done
    snapshot = root.resolve() / SNAPSHOTS / head.snapshot
    copies = (snapshot / INVENTORY, root / INVENTORIES / f"{head.snapshot}.json")
    if head.migrated:
        head = pointer.point(root, head.snapshot, head.inventory)
        done.append(f"{root / POINTER} written from the `current` symlink of an older "
                    f"steplens (snapshot {head.snapshot})")
    if head.inventory is None:
        raw = _read_bytes(copies[0])
        if not raw:
            manifest = _json(snapshot / MANIFEST)
            if isinstance(manifest, dict) and not _read_files(
                    [(p, {}) for p in sorted(snapshot.rglob("*.parquet"))])[1]:
                raw = json.dumps(build_inventory(root, snapshot, manifest),
                                 sort_keys=True).encode()
                done.append(f"{copies[0]} recorded from the snapshot's files as they read "
                            "now (it had none)")
        if raw:
            head = pointer.point(root, head.snapshot, _digest(raw), head.published)
            done.append(f"{root / POINTER} now carries the digest of {copies[0]}")
    if head.inventory is not None:
        good, _ = inventory_copies(root, snapshot, head)
        if good is not None:
            for path in copies:
                if _read_bytes(path) != good:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    pointer.write_atomic(path, good)
                    done.append(f"{path} rewritten from its verified copy")
    pointer.update_link(root, head.snapshot)  # the humans' link, if it is one
    duck, note = check_duckdb(root, prices_file)
    if duck.problems or note and "open for writing" not in note:
        views.build_duckdb(root, prices_file)
        why = duck.problems[0].problem.split(";")[0] if duck.problems else note.split(":")[0]
        done.append(f"{root / DUCKDB_FILE} rebuilt for snapshot {head.snapshot} ({why})")
    return done
