"""A warehouse on object storage (`s3://bucket/prefix`), worked on through a local mirror.

Why a mirror: the warehouse's atomic steps (rename a snapshot into place, swap the
`current` link, hard-link unchanged partitions) and DuckDB's own file need a real
filesystem. So an ingest pulls the current state of the remote warehouse into a local
directory (only what it does not have yet), runs exactly as it does locally, then
pushes the new snapshot:

1. record segments and snapshot files the remote does not have are uploaded (a
   partition the batch did not change is copied server-side from the previous remote
   snapshot, not uploaded again);
2. the `CURRENT` object, naming the snapshot, is written last, in one PUT: a reader
   of the remote warehouse sees the old snapshot or the new one, never half of one;
3. remote snapshots older than the previous one, and segments no snapshot uses, go.

Remote layout = local layout, plus `CURRENT`. One writer at a time per remote
warehouse (the ingest lock is local to the machine holding the mirror).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from steplens.flows.io import storage
from steplens.flows.settings import CURRENT_OBJECT, PRICES_COPY, RECORDS
from steplens.flows.store import snapshots

MIRRORED = (PRICES_COPY,)


def _remote(url: str):
    fs, base = storage.filesystem(url.rstrip("/"))
    return fs, base


def remote_snapshot(url: str) -> str | None:
    fs, base = _remote(url)
    path = f"{base}/{CURRENT_OBJECT}"
    return fs.cat(path).decode().strip() if fs.exists(path) else None


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
    current = snapshots.current_snapshot(local)
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
    snapshots.point_current(local, target)
    return snap_id


def push(local: Path, url: str) -> str | None:
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
    fs.pipe(f"{base}/{CURRENT_OBJECT}", current.name.encode())  # the switch, one PUT
    _prune(fs, base, keep={current.name, remote_id} - {None},
           segments=set(manifest.get("segments", {})))
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


def _prune(fs, base: str, keep: set[str], segments: set[str]) -> None:
    for kind, wanted in ((snapshots.SNAPSHOTS, keep), (RECORDS, segments)):
        folder = f"{base}/{kind}"
        if not fs.exists(folder):
            continue
        for path in fs.ls(folder, detail=False):
            if path.rstrip("/").rsplit("/", 1)[-1] not in wanted:
                fs.rm(path, recursive=True)
