"""Which snapshot is in use: the `HEAD` file, the one truth about it.

Why a file and not the `current` symlink steplens used before: backup and sync tools
drop symlinks, and copies made with `cp -rL`, zip or some sync tools turn `current` into
a real directory. Either way the old design read "no warehouse" and the next ingest
started a new one over the old data. `HEAD` is a regular file, so every copy carries it
(Iceberg's `version-hint.text`, Delta's `_last_checkpoint` play the same role):

    {"version": 1, "snapshot": "<id>", "inventory": "<blake2b of inventory.json>",
     "published": <unix seconds>}

It is written whole to a temporary name, flushed to disk (fsync) and renamed over the
old one (`os.replace`, atomic on POSIX), so a reader sees the old pointer or the new
one. On object storage the `CURRENT` object plays this role with the same content
(flows/store/remote.py); a bare snapshot id, as older versions wrote it, still reads.

The `inventory` digest makes the pointer the second place where the snapshot's file
list is held: deleting or editing `inventory.json` (or its copy under `inventories/`)
cannot go unnoticed.

Rules, for every command:
- no `HEAD` and no complete snapshot: a new warehouse (None);
- no `HEAD` but a `current` symlink naming a snapshot (a warehouse written before
  `HEAD` existed): that snapshot; the next write (ingest, `check --repair`) writes `HEAD`
  (a read never writes);
- `HEAD` missing, unreadable, a directory, or naming a snapshot that is not there, while
  complete snapshots exist: `WarehouseDamaged`, one line naming the newest complete
  snapshot and `steplens check --repair`; nothing is started, nothing pruned.
A `current` that is a real directory is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from steplens.flows.errors import WarehouseDamaged
from steplens.flows.settings import CURRENT, INVENTORIES, MANIFEST, POINTER, SNAPSHOTS

VERSION = 1


def digest(data: bytes) -> str:
    """The content digest steplens stores for its own small files (inventory, manifest)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Pointer:
    """What `HEAD` says: the snapshot in use and the digest of its inventory."""

    snapshot: str
    inventory: str | None = None  # None: a snapshot written before inventories existed
    published: float | None = None
    migrated: bool = False  # read from a legacy `current` symlink, not from `HEAD`

    def to_bytes(self) -> bytes:
        return json.dumps({"version": VERSION, "snapshot": self.snapshot,
                           "inventory": self.inventory, "published": self.published},
                          sort_keys=True).encode() + b"\n"

    @classmethod
    def parse(cls, raw: bytes) -> Pointer:
        """`HEAD`'s or `CURRENT`'s content; ValueError when it is not a pointer."""
        text = raw.decode("utf-8").strip()
        if text and not text.startswith("{"):  # a bare id (remote `CURRENT` of old)
            if "/" in text or text.startswith(".") or len(text.split()) != 1:
                raise ValueError("not a snapshot id")
            return cls(snapshot=text)
        data = json.loads(text)
        snap = data.get("snapshot") if isinstance(data, dict) else None
        if not isinstance(snap, str) or not snap or "/" in snap or snap.startswith("."):
            raise ValueError("no snapshot named")
        inv = data.get("inventory")
        published = data.get("published")
        return cls(snapshot=snap, inventory=inv if isinstance(inv, str) else None,
                   published=float(published) if isinstance(published, int | float) else None)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def snapshot_ids(root: Path) -> list[str]:
    """The complete snapshots, oldest first: renamed into place (no leading dot) and
    holding their manifest. Ids are nanosecond times, so names sort by age."""
    base = root / SNAPSHOTS
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if not p.name.startswith(".") and p.is_dir() and (p / MANIFEST).is_file())


def _legacy(root: Path) -> str | None:
    """The snapshot a `current` symlink of an older steplens names, if it is there.

    Only for a warehouse an older steplens wrote: one with `inventories/` was written
    with `HEAD`, whose `current` link is best effort and may lag a publish, so a `HEAD`
    lost there is damage (refused with the newest snapshot named), never a migration."""
    link = root / CURRENT
    if not link.is_symlink() or (root / INVENTORIES).exists():
        return None
    name = Path(os.readlink(link)).name
    return name if name in snapshot_ids(root) else None


def lost(root: Path, what: str) -> WarehouseDamaged:
    """The one line for a lost or broken pointer: what, the newest complete snapshot, the
    command that restores it."""
    ids = snapshot_ids(root)
    newest = f"; the newest complete snapshot is {root / SNAPSHOTS / ids[-1]}" if ids else ""
    error = WarehouseDamaged(
        f"warehouse damaged: {root / POINTER} {what}{newest}; nothing was changed: restore "
        f"it with `steplens check --repair --warehouse {root}`")
    error.problem = what + newest  # type: ignore[attr-defined]  # what `check` lists
    return error


def read(root: Path) -> Pointer | None:
    """The pointer of the warehouse at `root` (see the module's rules); None: empty."""
    path = root / POINTER
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = None
    except OSError as e:  # a directory, unreadable...
        raise lost(root, f"cannot be read ({e.strerror or e})") from None
    if raw is None:
        legacy = _legacy(root)
        if legacy is not None:
            inv = root / SNAPSHOTS / legacy / "inventory.json"
            return Pointer(legacy, digest(inv.read_bytes()) if inv.is_file() else None,
                           migrated=True)
        if snapshot_ids(root):
            raise lost(root, "(which names the snapshot in use) is missing")
        return None
    try:
        pointer = Pointer.parse(raw)
    except (UnicodeDecodeError, ValueError):
        raise lost(root, "is garbled (not a snapshot pointer)") from None
    if not (root / SNAPSHOTS / pointer.snapshot).is_dir():
        raise lost(root, f"names snapshot {pointer.snapshot}, which is missing")
    return pointer


def current_snapshot(root: Path) -> Path | None:
    """The directory of the snapshot in use (absolute), or None for an empty warehouse."""
    pointer = read(root)
    return None if pointer is None else root.resolve() / SNAPSHOTS / pointer.snapshot


def point(root: Path, snapshot_id: str, inventory: str | None,
          published: float | None = None) -> Pointer:
    """Make `snapshot_id` the snapshot in use: `HEAD` replaced atomically, then the
    `current` symlink for humans (best effort; a `current` that is a real directory,
    left by a `cp -rL` copy, is left alone)."""
    pointer = Pointer(snapshot_id, inventory, time.time() if published is None else published)
    write_atomic(root / POINTER, pointer.to_bytes())
    update_link(root, snapshot_id)
    return pointer


def update_link(root: Path, snapshot_id: str) -> None:
    link = root / CURRENT
    if link.exists() and not link.is_symlink():
        return  # a real directory (or file) someone made: not ours to replace
    tmp = root / f".{CURRENT}.{uuid.uuid4().hex}"
    try:
        os.symlink(Path(SNAPSHOTS) / snapshot_id, tmp)
        os.replace(tmp, link)
    except OSError:  # a filesystem without symlinks: the link is only a convenience
        with contextlib.suppress(OSError):
            tmp.unlink()
