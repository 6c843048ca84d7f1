"""A warehouse on object storage (`s3://bucket/prefix`), worked on through a local mirror.

Why a mirror: the warehouse's atomic steps (rename a snapshot into place, swap the
`current` link, hard-link unchanged partitions) and DuckDB's own file need a real
filesystem. So an ingest pulls the current state of the remote warehouse into a local
directory (only what it does not have yet), runs exactly as it does locally, then
pushes the new snapshot:

1. record segments and snapshot files the remote does not have are uploaded (a
   partition the batch did not change is copied server-side from the previous remote
   snapshot, not uploaded again);
2. the `CURRENT` object is written last, in one PUT: the same JSON as the local
   `HEAD` (flows/store/pointer.py: snapshot id, inventory digest; a bare id, as older
   versions wrote it, still reads), so a reader of the remote warehouse sees the old
   snapshot or the new one, never half of one;
3. remote snapshots outside the retention rule (`snapshots.retained`: the newest
   `keep_snapshots`, and those superseded less than `snapshot_retention_seconds` ago),
   and segments no kept snapshot uses, go.

Remote layout = local layout, with `CURRENT` for `HEAD` (object stores are case
sensitive and hold no `current` link). One writer at a time per remote warehouse (the
ingest lock is local to the machine holding the mirror).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from steplens.flows.errors import WarehouseDamaged
from steplens.flows.io import storage
from steplens.flows.settings import (
    CURRENT_OBJECT,
    INVENTORIES,
    INVENTORY,
    PRICES_COPY,
    RECORDS,
    Settings,
)
from steplens.flows.store import pointer, snapshots

MIRRORED = (PRICES_COPY,)


def _remote(url: str):
    fs, base = storage.filesystem(url.rstrip("/"))
    return fs, base


def remote_pointer(url: str) -> pointer.Pointer | None:
    """What the remote `CURRENT` says; None: an empty remote warehouse."""
    fs, base = _remote(url)
    path = f"{base}/{CURRENT_OBJECT}"
    if not fs.exists(path):
        return None
    try:
        return pointer.Pointer.parse(fs.cat(path))
    except (UnicodeDecodeError, ValueError):
        raise WarehouseDamaged(f"warehouse damaged: {url}/{CURRENT_OBJECT} is garbled (not "
                               "a snapshot pointer)") from None


def remote_snapshot(url: str) -> str | None:
    head = remote_pointer(url)
    return None if head is None else head.snapshot


def pull(url: str, local: Path) -> str | None:
    """Bring the mirror to the remote's current snapshot; returns its id (None: empty)."""
    fs, base = _remote(url)
    snap_id = remote_snapshot(url)
    local.mkdir(parents=True, exist_ok=True)
    for name in MIRRORED:
        if fs.exists(f"{base}/{name}"):
            fs.get(f"{base}/{name}", str(local / name))
    if snap_id is None:
        return None
    try:
        current = snapshots.current_snapshot(local)
    except WarehouseDamaged:  # the mirror's own pointer: the remote's is the truth
        current = None
    if current is not None and current.name == snap_id:
        return snap_id
    target = local / snapshots.SNAPSHOTS / snap_id
    if not target.exists():
        tmp = local / snapshots.SNAPSHOTS / f".{snap_id}.pull.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        fs.get(f"{base}/{snapshots.SNAPSHOTS}/{snap_id}/", str(tmp) + "/", recursive=True)
        os.rename(tmp, target)
    manifest = snapshots.read_json(target, snapshots.MANIFEST) or {}
    for segment in manifest.get("segments", {}):
        seg_dir = local / RECORDS / segment
        if not seg_dir.exists():
            tmp = local / RECORDS / f".{segment}.pull.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            fs.get(f"{base}/{RECORDS}/{segment}/", str(tmp) + "/", recursive=True)
            os.rename(tmp, seg_dir)
    inventory = target / INVENTORY
    if inventory.is_file():  # the local second copy, as a local publish writes it
        (local / INVENTORIES).mkdir(parents=True, exist_ok=True)
        pointer.write_atomic(local / INVENTORIES / f"{snap_id}.json", inventory.read_bytes())
    snapshots.point_current(local, target)
    return snap_id


def push(local: Path, url: str, settings: Settings | None = None) -> str | None:
    """Publish the mirror's current snapshot to the remote; returns its id."""
    fs, base = _remote(url)
    current = snapshots.current_snapshot(local)
    if current is None:
        return None
    for name in MIRRORED:
        if (local / name).exists():
            fs.put(str(local / name), f"{base}/{name}")
    remote_id = remote_snapshot(url)
    if remote_id == current.name:
        return remote_id
    manifest = snapshots.read_json(current, snapshots.MANIFEST) or {}
    remote_segments = {p.rsplit("/", 1)[-1] for p in fs.ls(f"{base}/{RECORDS}", detail=False)
                       } if fs.exists(f"{base}/{RECORDS}") else set()
    for segment in sorted(set(manifest.get("segments", {})) - remote_segments):
        fs.put(str(local / RECORDS / segment) + "/", f"{base}/{RECORDS}/{segment}/",
               recursive=True)
    _put_snapshot(fs, base, local, current, remote_id)
    head = pointer.read(local)
    fs.pipe(f"{base}/{CURRENT_OBJECT}", head.to_bytes())  # the switch, one PUT
    _prune(fs, base, current.name, local, settings or Settings.from_env())
    return current.name


def _put_snapshot(fs, base: str, local: Path, snapshot: Path, previous_id: str | None) -> None:
    """Upload a snapshot; files shared (hard-linked) with the previous one are copied."""
    previous = local / snapshots.SNAPSHOTS / previous_id if previous_id else None
    shared: dict[int, str] = {}
    if previous is not None and previous.exists():
        for f in previous.rglob("*"):
            if f.is_file():
                shared[f.stat().st_ino] = f.relative_to(previous).as_posix()
    for f in sorted(snapshot.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(snapshot).as_posix()
        target = f"{base}/{snapshots.SNAPSHOTS}/{snapshot.name}/{rel}"
        same = shared.get(f.stat().st_ino)
        if same is not None:
            fs.copy(f"{base}/{snapshots.SNAPSHOTS}/{previous_id}/{same}", target)
        else:
            fs.put(str(f), target)


def _prune(fs, base: str, in_use: str, local: Path, settings: Settings,
           now: float | None = None) -> None:
    """The local retention rule (`snapshots.retained`) on the remote: snapshots outside
    it go, then segments no kept snapshot's manifest names."""
    folder = f"{base}/{snapshots.SNAPSHOTS}"
    ids = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)
                 ) if fs.exists(folder) else []
    kept = snapshots.retained([i for i in ids if not i.startswith(".")], in_use,
                              settings.keep_snapshots, settings.snapshot_retention_seconds,
                              time.time() if now is None else now)
    for sid in ids:
        if sid not in kept:
            fs.rm(f"{folder}/{sid}", recursive=True)
    segments: set[str] = set()
    for sid in kept:
        mine = local / snapshots.SNAPSHOTS / sid / snapshots.MANIFEST
        raw = mine.read_bytes() if mine.is_file() else fs.cat(f"{folder}/{sid}/"
                                                                f"{snapshots.MANIFEST}")
        segments |= set(json.loads(raw).get("segments", {}))
    records = f"{base}/{RECORDS}"
    if fs.exists(records):
        for path in fs.ls(records, detail=False):
            if path.rstrip("/").rsplit("/", 1)[-1] not in segments:
                fs.rm(path, recursive=True)
