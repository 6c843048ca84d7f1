"""Find input files and read them as numbered lines, in chunks that can run in parallel.

The only I/O on the read side: discovery, gzip, raw-SSE detection, and splitting large
plain files at line boundaries so that one big file still uses every core and is never
loaded whole. Inputs are named by absolute path or by URL (`s3://...`, see `storage`).

A read that breaks (a gzip stream cut short or corrupt, a file that vanished, shrank or
was replaced between planning and reading) never stops the ingest: the lines read
before the break are kept and the break is one reject (docs/ingest.md, "Input").
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl

from steplens.flows.errors import InputError
from steplens.flows.io import storage
from steplens.flows.settings import INPUT_SUFFIXES
from steplens.transforms import coverage, schemas
from steplens.transforms.parse import (
    RAW_LIMIT,
    ParsedBatch,
    parse_block,
    parse_document,
    parse_events,
)
from steplens.transforms.responses.careful import StreamState
from steplens.transforms.responses.spec import is_stream_event
from steplens.transforms.sse import looks_like_sse, sse_events_of_pieces

READ_BLOCK = 8 * 1024 * 1024
# A range of a plain file (at most a work unit, about 32 MB) is read in one call: one
# allocation, and a piece that is the block itself (no join, no copy).
RANGE_BLOCK = 64 * 1024 * 1024
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


# What reading a broken file raises: a cut or corrupt gzip stream (EOFError, zlib.error,
# gzip.BadGzipFile), a file gone or unreadable (OSError).
READ_ERRORS = (OSError, EOFError, zlib.error)


def _first_line(path: str | Path) -> str | None:
    """The first non-blank line (a leading BOM removed), what sniffing a file's kind reads;
    None for a blank file or one that cannot be read that far (reading it reports why)."""
    try:
        with _open(path) as f:
            for n, line in enumerate(f):
                if n == 0:
                    line = line.removeprefix(BOM)
                if line.strip():
                    return line
    except READ_ERRORS:
        return None
    return None


def is_sse(path: str | Path) -> bool:
    """Raw SSE text: by extension, or by its first non-blank line (`event:`/`data:`).

    A file that cannot be read that far is not sniffed as SSE; reading it reports why.
    """
    name = storage.basename(path).lower().removesuffix(".gz")
    if name.endswith(".sse"):
        return True
    line = _first_line(path)
    return line is not None and looks_like_sse(line)


def starts_with_stream(path: str | Path) -> bool:
    """Whether the first non-blank line is a Responses stream event (JSON lines).

    Such a file is read whole and in order, never split into ranges or read from an
    appended tail: an event belongs to the latest lifecycle event before it in its file
    (docs/responses.md, "Responses API and Conversations"), which a range starting inside the file
    would not see.
    """
    line = _first_line(path)
    if line is None:
        return False
    try:
        return is_stream_event(orjson.loads(line))
    except orjson.JSONDecodeError:
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
    try:
        with _open(path) as f:
            data = f.read().removeprefix(BOM)
    except READ_ERRORS:  # read as lines, where the break is reported
        return False
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
    # The file's size and modification time when the read was planned (None: unknown).
    file_size: int | None = None
    file_mtime_ns: int | None = None

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
    """(newlines in `[start, end)`, offset just after the last of them or None).

    Read into one reused buffer: a fresh 8 MB block per read cost a third more (page
    faults), on the plan's critical path before any parsing starts.
    """
    count, last = 0, None
    buf = bytearray(min(READ_BLOCK, max(end - start, 0)))
    view = memoryview(buf)
    with storage.open_binary(path) as f:
        f.seek(start)
        pos = start
        while pos < end:
            want = min(len(buf), end - pos)
            got = f.readinto(view[:want])
            if not got:
                break
            block = buf if got == len(buf) else bytes(view[:got])  # a short last read
            n = block.count(b"\n")
            if n:
                count += n
                last = pos + block.rindex(b"\n") + 1
            pos += got
    view.release()
    return count, last


class _Reader:
    """A chunk's bytes (decompressed), in blocks; `cut` says why they ended early.

    Blocks are whole lines except the last one, which may end mid-line. A file read
    whole (gzip, SSE, document) that no longer has the size and time it was planned
    with, or a range of a plain file that has shrunk, is a cut too: what was read is
    kept, and the next ingest sees the change and reads the file again.
    """

    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk
        self.cut: str | None = None
        self.read_again = False  # vanished or changed: the next ingest reads it again
        self.tail = b""  # after a cut: what was read of the line it fell in

    def blocks(self) -> Iterator[bytes]:
        chunk = self.chunk
        try:
            with storage.open_binary(chunk.path) as raw:
                if chunk.compressed:
                    yield from self._gunzip(raw)
                else:
                    yield from self._plain(raw)
            self._check_unchanged()
        except FileNotFoundError as e:
            self.cut = f"file vanished before it was read ({e.strerror or e})"
            self.read_again = True
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            self.cut = f"gzip stream cut short or corrupt ({e}); the lines before it are kept"
        except OSError as e:
            self.cut = f"file could not be read to its end ({e})"

    def _gunzip(self, raw) -> Iterator[bytes]:
        first = True
        for block in _gunzip(raw):
            if first:
                block, first = block.removeprefix(BOM), False
            yield block

    def _plain(self, raw) -> Iterator[bytes]:
        chunk = self.chunk
        raw.seek(chunk.start)
        expected = chunk.end - chunk.start if chunk.end >= 0 else None
        remaining = expected if expected is not None else -1
        first = chunk.start == 0
        got = 0
        while remaining != 0:
            block = raw.read(READ_BLOCK if remaining < 0 else min(RANGE_BLOCK, remaining))
            if not block:
                break
            got += len(block)
            if remaining > 0:
                remaining -= len(block)
            if first:
                block, first = block.removeprefix(BOM), False
            yield block
        if expected is not None and got < expected:
            self.read_again = True
            self.cut = (f"file changed while it was being read: it ended at byte "
                        f"{chunk.start + got}, planned {chunk.end}; the next ingest reads it "
                        "again")

    def _check_unchanged(self) -> None:
        chunk = self.chunk
        if self.cut is not None or chunk.file_size is None or chunk.end >= 0:
            return  # ranges of plain files may grow while read (an appending writer)
        now = storage.stat(chunk.path)
        if now != (chunk.file_size, chunk.file_mtime_ns):
            self.read_again = True
            self.cut = ("file changed while it was being read (size and time "
                        f"{chunk.file_size}, {chunk.file_mtime_ns} planned, {now[0]}, {now[1]} "
                        "after); the next ingest reads it again")


GZIP_PIECE = 64 * 1024  # compressed bytes decompressed at a time


def _gunzip(raw) -> Iterator[bytes]:
    """Decompress a gzip stream (one member or several) in blocks of about READ_BLOCK.

    Unlike `gzip.GzipFile`, a stream that is cut short or corrupt gives up every byte
    that could be decompressed before the break, then raises: a failing piece is fed
    again from the state before it, one byte at a time. zlib checks each member's
    CRC32 and length itself.
    """
    d = zlib.decompressobj(wbits=31)
    out: list[bytes] = []
    size = 0
    try:
        while data := raw.read(GZIP_PIECE):
            while data:
                before = d.copy()
                try:
                    piece = d.decompress(data)
                except zlib.error:
                    d = before
                    for i in range(len(data)):
                        out.append(d.decompress(data[i:i + 1]))  # raises at the break
                    raise AssertionError("unreachable") from None
                out.append(piece)
                size += len(piece)
                data = b""
                if d.eof:  # end of a member: another may follow
                    data = d.unused_data
                    if not data.strip(b"\0"):
                        break
                    d = zlib.decompressobj(wbits=31)
            if size >= READ_BLOCK:
                yield b"".join(out)
                out, size = [], 0
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
    finally:  # what was decompressed before a break is kept
        if out:
            yield b"".join(out)


def _pieces(reader: _Reader, max_bytes: int | None) -> Iterator[bytes]:
    """Whole lines of the chunk, about `max_bytes` at a time (None: all at once).

    Every piece ends with a newline except perhaps the last one, the file's last line
    without a newline; after a cut, that partial line is left in `reader.tail`.
    """
    pending: list[bytes] = []
    size = 0
    for block in reader.blocks():
        pending.append(block)
        size += len(block)
        if max_bytes is not None and size >= max_bytes:
            data = b"".join(pending)
            pending = []
            end = data.rfind(b"\n") + 1
            if end == 0:  # no line ends yet: read on
                pending = [data]
                continue
            rest = data[end:]
            piece = data[:end]
            del data  # only the piece is held while it is parsed
            pending, size = ([rest], len(rest)) if rest else ([], 0)
            yield piece
            del piece
    data = b"".join(pending)
    if reader.cut is not None:
        end = data.rfind(b"\n") + 1
        data, reader.tail = data[:end], data[end:]
    if data:
        yield data


def _cut_batch(path: str, line_no: int, tail: bytes, reason: str, read_again: bool
               ) -> ParsedBatch:
    """The one reject of a cut: the line it fell in, why, and what was read of that line."""
    frames = {name: schemas.empty(schema) for name, schema in schemas.RECORD_FRAMES.items()}
    frames["rejects"] = pl.DataFrame(
        {"source_file": [path], "line_no": [line_no], "reason": [reason],
         "raw": [tail.decode("utf-8", "replace")[:RAW_LIMIT]]}, schema=schemas.REJECTS)
    return ParsedBatch(**frames, lines_read=1 if tail else 0, records_read=1,
                       bytes_read=len(tail), read_again=read_again)


# Byte-order marks of the encodings steplens does not read (UTF-32 before UTF-16: the
# UTF-32LE mark starts with the UTF-16LE one).
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe\x00\x00", "UTF-32LE"),
         (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))


def foreign_encoding(head: bytes) -> str | None:
    """The encoding of a file that starts with `head` when it is UTF-16 or UTF-32 (by
    its byte-order mark, or by the NUL bytes around the ASCII of its first characters,
    as RFC 4627 detects JSON's encoding); None for anything else (UTF-8 JSON never
    starts with a NUL byte)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if len(head) < 4:
        return None
    nul = [b == 0 for b in head[:4]]
    if nul == [True, True, True, False]:
        return "UTF-32BE"
    if nul == [False, True, True, True]:
        return "UTF-32LE"
    if nul[0] and nul[2] and not nul[1]:
        return "UTF-16BE"
    if nul[1] and nul[3] and not nul[0]:
        return "UTF-16LE"
    return None


def _foreign(chunk: Chunk) -> str | None:
    """The reject reason of a UTF-16/32 file (judged by its first bytes, decompressed),
    or None. A read that fails here is left to the reader, which reports it."""
    try:
        with _open(chunk.path) as f:
            encoding = foreign_encoding(f.read(4))
    except READ_ERRORS:
        return None
    if encoding is None:
        return None
    return (f"file is {encoding} text, not UTF-8: steplens reads UTF-8 JSON; convert it "
            f"(e.g. `iconv -f {encoding} -t UTF-8`) and ingest it again")


def parse_chunk(chunk: Chunk) -> ParsedBatch:
    """Read and decode one chunk whole, numbering its lines from 1."""
    return ParsedBatch.concat(parse_chunk_batches(chunk, max_bytes=None))


def parse_chunk_batches(chunk: Chunk, max_bytes: int | None) -> Iterator[ParsedBatch]:
    """Decode a chunk in batches of about `max_bytes` of input (None: one batch).

    Gzip and SSE files cannot be split into byte ranges, so a large one arrives as one
    chunk; decoding it in batches keeps a worker's memory bounded all the same. Line
    numbers run on across batches, from 1. A read that breaks ends with one more batch
    holding its reject, at the line after the last one read whole. Responses stream
    events belong to the latest lifecycle event before them in the file: where the
    streams stand is carried from batch to batch (a range that starts inside a file
    starts with none: files holding streams are read whole, flows/store/manifest.py).
    """
    foreign = _foreign(chunk)
    if foreign is not None:  # one reject for the file (on its first range), no lines
        if chunk.start == 0:
            batch = _cut_batch(chunk.path, 1, b"", foreign, read_again=False)
            yield batch
        return
    reader = _Reader(chunk)
    stream = StreamState()
    lines = 0
    if chunk.document:
        data = b"".join(_pieces(reader, None))
        if reader.cut is None:
            batch = parse_document(chunk.path, data)
            batch.coverage = coverage.of_document(chunk.path, data)
        else:  # a cut document: its lines
            batch = parse_block(chunk.path, 1, data)
            batch.coverage = coverage.of_block(chunk.path, 1, data)
        lines += batch.lines_read
        yield batch
    elif chunk.sse:
        # half-size batches: an SSE batch holds its text, its lines and its joined
        # blocks at once (measured: 470 MB a worker at full size on an 800 MB file)
        half = max_bytes // 2 if max_bytes is not None else None
        for batch in _sse_batches(chunk.path, _pieces(reader, half), half, stream):
            lines += batch.lines_read
            yield batch
    else:
        for data in _pieces(reader, max_bytes):
            # coverage first: its scanner tells the parser which lines need its checks
            found, unread = coverage.scan_block(chunk.path, lines + 1, data)
            batch = parse_block(chunk.path, lines + 1, data, stream, unread)
            batch.coverage = found
            lines += batch.lines_read
            yield batch
    if reader.cut is not None:
        yield _cut_batch(chunk.path, lines + 1, reader.tail, reader.cut, reader.read_again)


def _sse_batches(path: str, pieces: Iterable[bytes], max_bytes: int | None,
                 stream: StreamState) -> Iterator[ParsedBatch]:
    """Raw SSE: pieces -> blocks (`sse_events_of_pieces`) -> batches of about
    `max_bytes` of data."""
    counter = [0]
    blocks = sse_events_of_pieces(pieces, counter)
    for events in _batched(blocks, max_bytes, lambda e: len(e[2])):
        found, unread = coverage.scan_events(path, events)  # first: see parse_chunk_batches
        batch = parse_events(path, events, stream=stream, unread=unread)
        batch.coverage = found
        batch.lines_read, counter[0] = counter[0], 0
        yield batch
    if counter[0]:  # trailing lines that held no event
        batch = parse_events(path, [])
        batch.lines_read = counter[0]
        yield batch


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
