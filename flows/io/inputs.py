"""Find input files and read them as numbered lines, in chunks that can run in parallel.

The only I/O on the read side: discovery, gzip, raw-SSE detection, and splitting large
plain files at line boundaries so that one big file still uses every core and is never
loaded whole. Inputs are named by absolute path or by URL (`s3://...`, see `storage`).
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from steplens.flows.errors import InputError
from steplens.flows.io import storage
from steplens.flows.settings import INPUT_SUFFIXES
from steplens.transforms.parse import ParsedBatch, parse_document, parse_events, parse_lines
from steplens.transforms.sse import looks_like_sse, sse_events

READ_BLOCK = 8 * 1024 * 1024
BOM = b"\xef\xbb\xbf"


def _is_input(name: str, root: str) -> bool:
    relative = name[len(root):].strip("/")
    if any(part.startswith(".") for part in relative.split("/")):
        return False  # hidden files and directories
    return storage.basename(name).lower().endswith(INPUT_SUFFIXES)


def discover(paths: Iterable[str | Path]) -> list[str]:
    """Input files under `paths` (files as given, directories recursively), sorted.

    Local files are named by absolute path, objects by URL. A path that does not exist
    is an error; a directory with no input files is not (the caller decides whether
    "nothing to read" is one).
    """
    found: set[str] = set()
    for raw in paths:
        if not storage.exists(raw):
            raise InputError(f"no such file or directory: {raw}")
        names, single = storage.walk_files(raw)
        if single:
            found.update(names)
            continue
        root = str(raw).rstrip("/") if storage.is_url(raw) else str(
            Path(raw).expanduser().resolve())
        root = root.split("://", 1)[-1]
        found.update(n for n in names if _is_input(n.split("://", 1)[-1], root))
    return sorted(found)


def is_gzip(path: str | Path) -> bool:
    with storage.open_binary(path) as f:
        return f.read(2) == b"\x1f\x8b"


@contextlib.contextmanager
def _open(path: str | Path) -> Iterator:
    """The file's bytes, decompressed when it is gzip (judged by content, not name)."""
    compressed = is_gzip(path)
    with storage.open_binary(path) as raw:
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                yield f
        else:
            yield raw


def is_sse(path: str | Path) -> bool:
    """Raw SSE text: by extension, or by its first non-blank line (`event:`/`data:`)."""
    name = storage.basename(path).lower().removesuffix(".gz")
    if name.endswith(".sse"):
        return True
    with _open(path) as f:
        for n, line in enumerate(f):
            if n == 0:
                line = line.removeprefix(BOM)
            if line.strip():
                return looks_like_sse(line)
    return False


DOCUMENT_MAX_BYTES = 512 * 1024 * 1024


def is_document(path: str | Path) -> bool:
    """A `.json` file holding one pretty-printed JSON document rather than JSON lines.

    Such files (a `steps.list()` page saved with `indent=2`) would otherwise give one
    reject per line; a `.json` file that is valid JSON lines stays JSON lines.
    """
    name = storage.basename(path).lower().removesuffix(".gz")
    if not name.endswith(".json") or storage.size(path) > DOCUMENT_MAX_BYTES:
        return False
    with _open(path) as f:
        data = f.read().removeprefix(BOM)
    if len([line for line in data.split(b"\n") if line.strip()]) < 2:  # lines end at \n only
        return False
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


@dataclass(frozen=True)
class Chunk:
    """A byte range of one file that starts at a line boundary."""

    path: str
    start: int
    end: int  # -1: to the end of the file
    compressed: bool = False
    sse: bool = False
    document: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start if self.end >= 0 else storage.size(self.path)


def split_points(path: str | Path, start: int, end: int, chunk_bytes: int) -> list[int]:
    """Offsets that cut `[start, end)` into pieces of about `chunk_bytes` at line ends."""
    points = [start]
    with storage.open_binary(path) as f:
        while points[-1] < end:
            nxt = points[-1] + chunk_bytes
            if nxt >= end:
                points.append(end)
                break
            f.seek(nxt)
            f.readline()
            points.append(min(f.tell(), end))
    return points if len(points) > 1 else [start, end]


def line_stats(path: str | Path, start: int, end: int) -> tuple[int, int | None]:
    """(newlines in `[start, end)`, offset just after the last of them or None)."""
    count, last = 0, None
    with storage.open_binary(path) as f:
        f.seek(start)
        pos = start
        while pos < end:
            block = f.read(min(READ_BLOCK, end - pos))
            if not block:
                break
            n = block.count(b"\n")
            if n:
                count += n
                last = pos + block.rindex(b"\n") + 1
            pos += len(block)
    return count, last


def _lines(chunk: Chunk) -> Iterator[bytes]:
    """The chunk's lines without their newline; a UTF-8 BOM opening the file is dropped."""
    if chunk.compressed:
        with _open(chunk.path) as f:
            first = True
            for line in f:
                if first:
                    line, first = line.removeprefix(BOM), False
                    if not line:
                        continue
                yield line.removesuffix(b"\n")
        return
    with storage.open_binary(chunk.path) as f:
        f.seek(chunk.start)
        remaining = chunk.size
        tail = b""
        first = chunk.start == 0
        while remaining > 0:
            block = f.read(min(READ_BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            if first:
                block, first = block.removeprefix(BOM), False
            parts = (tail + block).split(b"\n")
            tail = parts.pop()
            yield from parts
        if tail:
            yield tail


def parse_chunk(chunk: Chunk) -> ParsedBatch:
    """Read and decode one chunk whole, numbering its lines from 1."""
    return ParsedBatch.concat(parse_chunk_batches(chunk, max_bytes=None))


def parse_chunk_batches(chunk: Chunk, max_bytes: int | None) -> Iterator[ParsedBatch]:
    """Decode a chunk in batches of about `max_bytes` of input (None: one batch).

    Gzip and SSE files cannot be split into byte ranges, so a large one arrives as one
    chunk; decoding it in batches keeps a worker's memory bounded all the same. Line
    numbers run on across batches, from 1.
    """
    if chunk.document:
        with _open(chunk.path) as f:
            yield parse_document(chunk.path, f.read())
        return
    counter = [0]
    numbered = _counted(enumerate(_lines(chunk), start=1), counter)
    if chunk.sse:
        for events in _batched(sse_events(numbered), max_bytes, lambda e: len(e[2])):
            batch = parse_events(chunk.path, events)
            batch.lines_read, counter[0] = counter[0], 0
            yield batch
        if counter[0]:  # trailing lines that held no event
            batch = parse_events(chunk.path, [])
            batch.lines_read = counter[0]
            yield batch
        return
    for lines in _batched(numbered, max_bytes, lambda item: len(item[1]) + 1):
        yield parse_lines(chunk.path, lines)


def _batched(items: Iterable, max_bytes: int | None, size) -> Iterator[list]:
    batch, total = [], 0
    for item in items:
        batch.append(item)
        total += size(item)
        if max_bytes is not None and total >= max_bytes:
            yield batch
            batch, total = [], 0
    if batch or max_bytes is None:
        yield batch


def _counted(numbered: Iterable[tuple[int, bytes]], counter: list[int]):
    for item in numbered:
        counter[0] += 1
        yield item
