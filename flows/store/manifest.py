"""The manifest: which input files the warehouse holds, and how much of each.

Per file it records size, modification time, a content hash of the consumed prefix and
of the whole file as read, the bytes and lines consumed, and the record segments
holding its rows. Comparing it with the files on disk gives the plan of a batch
(docs/ingest.md, "Incremental ingestion"; docs/inputs-and-faults.md, "Change detection"):

- unchanged: the same size and the same content hash of the whole file: nothing read;
- new: read whole;
- grown plain JSON-lines file whose consumed prefix still has the same hash: read only
  the appended tail;
- anything else that changed (rewritten, truncated, gzip, SSE): its old rows are
  removed and it is read whole.

The rule cannot miss a change of content, whatever the size and modification time
say: every local file the warehouse holds is hashed whole (xxh3_128, several GB/s, one
sequential read; benchmarks/bench_ingest.py prints its cost) on every ingest. A stat
identity (size, mtime, ctime, inode) is deliberately *not* trusted to skip the hash:
mtime is set by `touch -d`/`os.utime`, and ctime, which users cannot set, is coarse or
synthesised on some filesystems (FAT, SMB, FUSE, 9p, some NFS caches) and not updated
by writes through a block device or a shared mmap until later. Objects on S3 (URLs)
are immutable: an object changes only by a new upload, which gives it a new
LastModified that no client can set, so (size, LastModified) identifies its content and
an unchanged object is not downloaded again; nor is a read object downloaded a second time
to be hashed (its entry holds no content hash: an object that grows by a new upload is
read whole again, not as an append).

Manifests written before this rule hold a sampled fingerprint (the first and last MiB,
`legacy_fingerprint`): such an entry is judged once by the old rule and its hashes are
recorded by the next ingest (the plan marks it `upgrade`), so an upgrade never reads
every file as rewritten.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl
import xxhash

from steplens.flows.io import storage
from steplens.flows.io.inputs import (
    is_document,
    is_gzip,
    is_sse,
    line_stats,
    split_points,
    starts_with_stream,
)
from steplens.flows.store import records
from steplens.flows.store.records import Range, SegmentInfo, UnitResult

SAMPLE = 1024 * 1024
HASH = "xxh3_128"  # the prefix of a content hash in the manifest: `xxh3_128:<length>:<hex>`
HASH_BLOCK = 8 * 1024 * 1024

# What a batch does with a file (the module docstring says when).
Action = Literal["new", "append", "replace", "unchanged"]


def _hash_text(length: int, digest) -> str:
    return f"{HASH}:{length}:{digest.hexdigest()}"


def content_hashes(path: str | Path, cut: int, length: int) -> tuple[str | None, str | None]:
    """(hash of `path[:cut]`, hash of `path[:length]`), `cut <= length`, in one read.

    None for a length the file no longer has (it shrank while hashed). The hash names
    its length, so two prefixes of different lengths never compare equal.
    """
    digest = xxhash.xxh3_128()
    prefix: str | None = _hash_text(0, digest) if cut == 0 else None
    pos = 0
    buf = bytearray(min(HASH_BLOCK, max(length, 1)))
    view = memoryview(buf)
    with storage.open_binary(path) as f:
        while pos < length:
            stop = cut if pos < cut else length
            got = f.readinto(view[:min(len(buf), stop - pos)])
            if not got:
                break
            digest.update(view[:got])
            pos += got
            if pos == cut and prefix is None:
                prefix = _hash_text(cut, digest)
    view.release()
    return prefix, (_hash_text(length, digest) if pos == length else None)


def content_hash(path: str | Path, length: int) -> str | None:
    """The hash of `path[:length]` (None: the file is shorter)."""
    return content_hashes(path, length, length)[1]


def legacy_fingerprint(path: str | Path, length: int) -> str:
    """The sampled fingerprint of manifests written before content hashes: the first
    and last MiB of `path[:length]`, and `length`. Read only to migrate them."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(length).encode())
    with storage.open_binary(path) as f:
        digest.update(f.read(min(length, SAMPLE)))
        if length > SAMPLE:
            f.seek(max(SAMPLE, length - SAMPLE))
            digest.update(f.read(length - max(SAMPLE, length - SAMPLE)))
    return digest.hexdigest()


@dataclass
class FileEntry:
    """What the warehouse holds of one input file."""

    path: str
    kind: str  # "lines" (plain JSON lines: appendable, splittable) or "whole"
    size: int
    mtime_ns: int
    consumed_bytes: int  # through the last newline read (the whole file for "whole")
    consumed_lines: int
    fingerprint: str  # content_hashes of the consumed prefix ("": read it again)
    # The line number of a last line that had no newline yet: its rows are replaced
    # when the file grows, since the writer may have been in the middle of it.
    tail_line: int | None = None
    # The hash of the whole file as read (`size` bytes): equal now means unchanged.
    # None in manifests written before content hashes (see `legacy`).
    content_hash: str | None = None

    @property
    def legacy(self) -> bool:
        """Written with the sampled fingerprint: judged once by the old rule."""
        return not self.fingerprint.startswith(HASH + ":")


@dataclass
class Manifest:
    """Files ingested, and the record segments holding their rows."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    segments: dict[str, SegmentInfo] = field(default_factory=dict)
    # What the segments' content was redacted with (`Redaction.record()`; None: clear,
    # as every warehouse written before redaction existed). flows/store/redaction.py
    redaction: dict | None = None

    def to_json(self) -> dict:
        out = {
            "files": {p: asdict(e) for p, e in sorted(self.files.items())},
            "segments": {s: i.to_json() for s, i in sorted(self.segments.items())},
        }
        if self.redaction is not None:
            out["redaction"] = self.redaction
        return out

    @classmethod
    def from_json(cls, data: dict | None) -> Manifest:
        if not data:
            return cls()
        return cls(
            {p: FileEntry(**e) for p, e in data.get("files", {}).items()},
            {s: SegmentInfo.from_json(s, i) for s, i in data.get("segments", {}).items()},
            data.get("redaction"),
        )


def file_kind(path: str | Path) -> tuple[str, bool, bool, bool]:
    """(kind, gzip, sse, document): only plain JSON-lines files are appended to and split,
    and of those not the ones that hold Responses streams (`starts_with_stream`)."""
    compressed = is_gzip(path)
    sse = is_sse(path)
    document = not sse and is_document(path)
    whole = compressed or sse or document or starts_with_stream(path)
    return ("whole" if whole else "lines"), compressed, sse, document


@dataclass(frozen=True)
class FilePlan:
    """What a batch does with one file: read `[start, size)` from line `first_line`."""

    path: str
    action: Action
    kind: str
    size: int
    mtime_ns: int
    start: int = 0
    first_line: int = 1
    compressed: bool = False
    sse: bool = False
    document: bool = False
    # For "append": the old unterminated last line, whose rows are replaced.
    drop_from_line: int | None = None
    # For an "unchanged" file whose manifest entry has the legacy fingerprint: the
    # (prefix, whole) hashes the next manifest records for it.
    upgrade: tuple[str, str] | None = None
    # A local file's status-change time when planned: unchanged when its hash is taken
    # after the parse, the file was not touched in between (users cannot set ctime).
    ctime_ns: int | None = None


def plan(files: list[str], manifest: Manifest, full_refresh: bool = False,
         reread: bool = False) -> list[FilePlan]:
    """Decide, per discovered file, what this batch reads (module docstring).

    `reread`: every file the manifest knows is read again whole (`replace`), as when an
    older steplens's warehouse is upgraded and its new columns are filled from the inputs
    still at hand; files not given keep their rows.
    """
    plans = []
    for path in files:
        size, mtime_ns = storage.stat(path)
        key = str(path)
        entry = None if full_refresh else manifest.files.get(key)
        if entry is None:
            plans.append(FilePlan(key, "new", **_common(path, size, mtime_ns)))
            continue
        if reread:
            plans.append(FilePlan(key, "replace", **_common(path, size, mtime_ns)))
            continue
        if storage.is_url(key) or entry.legacy:
            plans.append(_plan_by_stat(key, entry, size, mtime_ns))
            continue
        prefix, whole = content_hashes(path, min(entry.consumed_bytes, size), size)
        if size == entry.size and whole is not None and whole == entry.content_hash:
            plans.append(FilePlan(key, "unchanged", entry.kind, entry.size, entry.mtime_ns))
            continue
        common = _common(path, size, mtime_ns)
        if (common["kind"] == "lines" == entry.kind and size >= entry.consumed_bytes
                and prefix is not None and prefix == entry.fingerprint):
            plans.append(FilePlan(key, "append", start=entry.consumed_bytes,
                                  first_line=entry.consumed_lines + 1,
                                  drop_from_line=entry.tail_line, **common))
        else:
            plans.append(FilePlan(key, "replace", **common))
    return plans


def _common(path: str, size: int, mtime_ns: int) -> dict:
    ctime_ns = _ctime(path)
    kind, compressed, sse, document = file_kind(path)
    return {"kind": kind, "size": size, "mtime_ns": mtime_ns, "compressed": compressed,
            "sse": sse, "document": document, "ctime_ns": ctime_ns}


def _ctime(path: str) -> int | None:
    return None if storage.is_url(path) else os.stat(path).st_ctime_ns


def _plan_by_stat(key: str, entry: FileEntry, size: int, mtime_ns: int) -> FilePlan:
    """An object on S3 (immutable: size and LastModified identify it) or a legacy entry
    (the old rule, once): same size and time is unchanged; a grown JSON-lines file whose
    prefix still matches is an append."""
    if entry.size == size and entry.mtime_ns == mtime_ns:
        upgrade = None
        if entry.legacy and not storage.is_url(key):
            prefix, whole = content_hashes(key, entry.consumed_bytes, size)
            if prefix is not None and whole is not None:
                upgrade = (prefix, whole)
        return FilePlan(key, "unchanged", entry.kind, size, mtime_ns, upgrade=upgrade)
    common = _common(key, size, mtime_ns)
    if entry.legacy:
        same = (size >= entry.consumed_bytes and entry.fingerprint != ""
                and legacy_fingerprint(key, entry.consumed_bytes) == entry.fingerprint)
    else:
        same = (size >= entry.consumed_bytes
                and content_hash(key, entry.consumed_bytes) == entry.fingerprint)
    if common["kind"] == "lines" == entry.kind and same:
        return FilePlan(key, "append", start=entry.consumed_bytes,
                        first_line=entry.consumed_lines + 1,
                        drop_from_line=entry.tail_line, **common)
    return FilePlan(key, "replace", **common)


@dataclass
class FileRead:
    """The ranges a batch reads of one file, and where its consumed prefix will end."""

    plan: FilePlan
    ranges: list[Range]
    consumed_bytes: int
    consumed_lines: int | None  # None: known only after parsing (gzip, SSE)
    tail_line: int | None


def file_reads(plans: list[FilePlan], chunk_bytes: int) -> list[FileRead]:
    """Split what each changed file must read into line-aligned, line-numbered ranges.

    Plain files are split at newlines into pieces of about `chunk_bytes`, numbered by
    counting the newlines before each piece, so they parse in parallel with their
    real line numbers. Bytes after the last newline are the file's tail.
    """
    reads = []
    for p in plans:
        if p.action == "unchanged":
            if p.upgrade is not None:  # nothing read: only its manifest entry is renewed
                reads.append(FileRead(p, [], 0, 0, None))
            continue
        if p.kind != "lines":
            whole = Range(p.path, 0, -1, 1, p.compressed, p.sse, p.document, p.size,
                          p.mtime_ns)
            reads.append(FileRead(p, [whole], p.size, None, None))
            continue
        ranges, line = [], p.first_line
        bounds = split_points(p.path, p.start, p.size, chunk_bytes)
        last_newline_end = p.start
        for start, end in zip(bounds, bounds[1:], strict=False):
            newlines, last_nl = line_stats(p.path, start, end)
            ranges.append(Range(p.path, start, end, line))
            line += newlines
            if last_nl is not None:
                last_newline_end = last_nl
        consumed_lines = line - 1
        tail = consumed_lines + 1 if last_newline_end < p.size else None
        reads.append(FileRead(p, ranges, last_newline_end, consumed_lines, tail))
    return reads


def work_units(reads: list[FileRead], chunk_bytes: int) -> list[list[Range]]:
    """Pack ranges into units of about `chunk_bytes`: one unit, one parse task, one segment."""
    units: list[list[Range]] = []
    current: list[Range] = []
    size = 0
    for r in sorted((r for fr in reads for r in fr.ranges), key=lambda r: (r.path, r.start)):
        r_size = r.chunk().size
        if current and size + r_size > chunk_bytes:
            units.append(current)
            current, size = [], 0
        current.append(r)
        size += r_size
    if current:
        units.append(current)
    return units


def _identity_after_read(p: FilePlan, consumed: int, read_again: bool
                         ) -> tuple[str | None, str | None, bool]:
    """(hash of the consumed prefix, hash of the whole file, unchanged since it was
    planned) of a file this batch read; unchanged False: read it again next time.

    An object on S3 is identified by (size, LastModified) and not hashed: hashing would
    download it a second time (module docstring).
    """
    if read_again:
        return None, None, False
    try:
        if storage.is_url(p.path):
            return None, None, storage.stat(p.path) == (p.size, p.mtime_ns)
        prefix, whole = content_hashes(p.path, min(consumed, p.size), p.size)
        if (storage.stat(p.path) != (p.size, p.mtime_ns)
                or (p.ctime_ns is not None and _ctime(p.path) != p.ctime_ns)):
            return None, None, False  # changed since it was planned
    except FileNotFoundError:  # gone since it was read: read it again if it returns
        return None, None, False
    return prefix, whole, whole is not None


def after_batch(root: Path, manifest: Manifest, reads: list[FileRead],
                results: list[UnitResult], full: bool = False
                ) -> tuple[Manifest, pl.Series, pl.Series, pl.Series]:
    """The manifest after this batch, and the (step ids, run ids, call keys) whose rows
    must change (run ids include Responses API response ids; call keys are the call ids
    whose tool-output copies changed, whose winner must be chosen again).

    Rows of rewritten files, and of an unterminated last line that has since grown, are
    removed from the old segments first; then the new segments are added. On a `full`
    build every id changes, and the id lists (millions, at scale) are not built at all.
    """
    segments = dict(manifest.segments)
    removed_steps, removed_runs, removed_calls = [], [], []
    for fr in reads:
        p = fr.plan
        if p.action == "unchanged":
            continue
        from_line = 1 if p.action == "replace" else p.drop_from_line
        if from_line is not None:
            segments, s_ids, r_ids, c_ids = records.remove_file_rows(root, segments, p.path,
                                                                     from_line)
            removed_steps.append(s_ids)
            removed_runs.append(r_ids)
            removed_calls.append(c_ids)
    new_segments = {info.segment_id: info for r in results for info in r.infos}
    step_ids, run_ids = (records.keys(root, new_segments) if not full else
                         (pl.Series("step_id", [], pl.String), pl.Series("run_id", [], pl.String)))
    call_keys = (records.call_keys(root, new_segments) if not full
                 else pl.Series("call_key", [], pl.String))
    segments.update(new_segments)

    lines_read = Counter()
    for r in results:
        for (path, _start), n in r.lines.items():
            lines_read[path] += n
    files = dict(manifest.files)
    read_again = set().union(*(r.read_again for r in results))
    for fr in reads:
        p = fr.plan
        if p.action == "unchanged":  # a legacy entry: its content hashes recorded
            old = files[p.path]
            files[p.path] = FileEntry(**{**asdict(old), "fingerprint": p.upgrade[0],
                                         "content_hash": p.upgrade[1]})
            continue
        consumed_lines = fr.consumed_lines if fr.consumed_lines is not None else lines_read[p.path]
        prefix, whole, same = _identity_after_read(p, fr.consumed_bytes,
                                                   p.path in read_again)
        files[p.path] = FileEntry(  # mtime -1: changed while read, so read it again next time
            path=p.path, kind=p.kind, size=p.size,
            mtime_ns=p.mtime_ns if same else -1,
            consumed_bytes=fr.consumed_bytes, consumed_lines=consumed_lines,
            fingerprint=prefix or "", tail_line=fr.tail_line, content_hash=whole,
        )
    affected_steps = pl.concat([step_ids, *removed_steps]).unique()
    affected_runs = pl.concat([run_ids, *removed_runs]).unique()
    affected_calls = pl.concat([call_keys, *removed_calls]).unique()
    return Manifest(files, segments), affected_steps, affected_runs, affected_calls
