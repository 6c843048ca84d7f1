"""The capture's files: one background thread that turns recorded calls into the export
`steplens ingest` reads (docs/capture.md, "Files").

Why a thread and a queue: the application's call must never wait on the disk nor fail
because of it. The caller's side (`submit_*`) only puts references to bytes it already
holds on an unbounded queue whose *bytes* are bounded (`max_pending`): past the bound,
the record is dropped and counted, never blocked on. Everything else (decoding
`Content-Encoding`, parsing, redaction, writing, rotation, gzip) runs here, and every
failure is caught, logged once and counted.

Why files appear only when whole: a reader beside the capture (`steplens watch`) must
never see half a record. Every file is written under a hidden name ending `.part`
(`.<name>.part`: ingest skips hidden files and that suffix), one record per write, and
renamed to its final name (gzipped first, by default) only once it is closed: at a
stream's end, and for the JSON-lines file by size (`max_bytes`) or age (`max_age`). So a
reader sees a closed file whole or not at all. Names start with the UTC time the file
was opened (`20261207T162614.123456Z-<pid>-<n>`), so they sort by time.

Why a crash leaves readable files: a `.part` file holds whole records (a write that
failed half way is cut back) and is locked (`flock`) while its writer lives. The next
capture on the directory closes every `.part` file nobody holds a lock on: cut to its
last complete line, gzipped and renamed like any closed file.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import itertools
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from steplens.capture.redaction import Redactor, has_secret_key, scrub_secrets

try:  # POSIX: a lock says a .part file's writer is alive
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no recovery of another's files
    fcntl = None  # type: ignore[assignment]

LOG = logging.getLogger("steplens.capture")

PART = ".part"
_COUNTER = itertools.count(1)  # file numbers, process-wide (names stay unique)
READ_PIECE = 1024 * 1024
MAX_BLOCK = 8 * 1024 * 1024  # an SSE block longer than this is not a stream we record
STREAM_BATCH = 64 * 1024  # stream bytes gathered per write
POLL = 0.05  # seconds between the writer's looks at what callers handed it
os_open = os.open  # the one way files are created here (tests make it fail)

# What each recorded route must return to be written (anything else is left out).
EXPECTED = {"create": "response", "retrieve": "response", "cancel": "response",
            "input_items": "list", "conversation_items": "list",
            "conversation": "conversation", "conversation_item": None}


@dataclass
class Stats:
    """What a capture did, for users and tests (read with `Transport.stats`)."""

    calls: int = 0  # recorded calls whose response began
    records: int = 0  # JSON lines written (responses, pages, requests, ...)
    streams: int = 0  # stream files closed
    files: int = 0  # files made visible (renamed to their final name)
    dropped: int = 0  # records or streams left out: memory bound, size, a failure
    errors: int = 0  # failed file operations
    skipped: int = 0  # bodies that were not what their route returns (not JSON, ...)


class Call:
    """One recorded HTTP exchange. The caller's side sets the first fields; the writer
    thread owns the rest."""

    __slots__ = ("route", "stream", "request_body", "encoding", "started", "lost",
                 "decoders", "buf", "size", "fd", "part", "name", "block", "done")

    def __init__(self, route: str, stream: bool, request_body: bytes | None,
                 encoding: str, started: float) -> None:
        self.route = route
        self.stream = stream
        self.request_body = request_body
        self.encoding = encoding
        self.started = started
        self.lost = False  # a piece was dropped: record nothing more of this call
        self.decoders: list | None = None
        self.buf: list[bytes] = []
        self.size = 0
        self.fd: int | None = None
        self.part: Path | None = None
        self.name = ""
        self.block = bytearray()
        self.done = False


def stamp(t: float) -> str:
    """A UTC time as a file name prefix that sorts by time."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _decoders(encoding: str) -> list:
    """httpx's own decoders for a `Content-Encoding` (the bytes a transport sees are
    still encoded; the caller's Response decodes them, so must we)."""
    from httpx._decoders import SUPPORTED_DECODERS

    names = [e.strip().lower() for e in encoding.split(",") if e.strip()]
    out = []
    for name in reversed(names):  # the last encoding applied is undone first
        if name == "identity":
            continue
        out.append(SUPPORTED_DECODERS[name]())  # KeyError: an encoding we cannot read
    return out


def _decode(call: Call, data: bytes, final: bool = False) -> bytes:
    if call.decoders is None:
        call.decoders = _decoders(call.encoding) if call.encoding else []
    for d in call.decoders:
        data = d.decode(data)
        if final:
            data += d.flush()
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


_BLOCK_END = re.compile(rb"\r?\n\r?\n")


class _File:
    """An open `.part` file: its descriptor (locked), paths and size."""

    def __init__(self, directory: Path, name: str, suffix: str) -> None:
        self.final = directory / f"{name}{suffix}"
        self.part = directory / f".{name}{suffix}{PART}"
        self.fd = os_open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.opened = time.monotonic()
        self.size = 0


class _Inbox:
    """What the callers hand the writer: appended without waking it (a deque append,
    no lock, no system call on the caller's path); the writer looks every `POLL`
    seconds, and at once for `flush` and `close`."""

    def __init__(self) -> None:
        self.items: collections.deque = collections.deque()
        self.wake = threading.Event()

    def put(self, item: tuple) -> None:
        self.items.append(item)
        self.wake.set()


class Writer:
    """The background writer of one capture directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike, redactor: Redactor, *,
                 max_bytes: int = 64 * 1024 * 1024, max_age: float = 60.0,
                 compress: bool = True, max_pending: int = 64 * 1024 * 1024,
                 max_body: int = 64 * 1024 * 1024) -> None:
        self.directory = Path(directory).expanduser().absolute()
        self.redactor = redactor
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.compress = compress
        self.max_pending = max_pending
        self.max_body = max_body
        self.stats = Stats()
        self._inbox = _Inbox()
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._logged: set[str] = set()
        self._current: _File | None = None
        self._open_calls: set[Call] = set()
        self._start()
        if hasattr(os, "register_at_fork"):  # a forked worker (gunicorn, celery) writes too
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: (w := ref()) and w._after_fork())

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="steplens-capture",
                                        daemon=True)
        self._thread.start()
        # at interpreter exit (or if this writer is collected): close its files
        self._finalizer = weakref.finalize(self, Writer._stop, self._inbox, self._thread)

    def _after_fork(self) -> None:
        """In a forked child: the writer thread did not survive the fork. Start afresh
        with the parent's open files left to the parent (closing a copy of a locked
        descriptor leaves the parent's lock in place)."""
        if self._closed:
            return
        self._finalizer.detach()
        for fd in [c.fd for c in self._open_calls] + [
                self._current.fd if self._current else None]:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._current = None
        self._open_calls = set()
        self._lock = threading.Lock()
        self._inbox = _Inbox()
        self._pending = 0
        self._start()

    # ---- the caller's side: never raises, never blocks --------------------------------
    def begin(self, call: Call) -> None:
        if self._closed:
            return
        n = len(call.request_body) if call.request_body is not None else 0
        if n:
            with self._lock:  # a request body waits for the writer too: it counts
                if self._pending + n > self.max_pending:
                    call.request_body, n = None, 0
                    self.stats.dropped += 1
                else:
                    self._pending += n
        self._inbox.items.append(("begin", call, n))

    def chunk(self, call: Call, data: bytes) -> None:
        if call.lost or self._closed or not data:
            return
        n = len(data)
        with self._lock:
            if self._pending + n > self.max_pending:
                call.lost = True
                self.stats.dropped += 1
                return
            self._pending += n
        self._inbox.items.append(("chunk", call, data))

    def end(self, call: Call) -> None:
        if not self._closed:
            self._inbox.items.append(("end", call, None))

    def flush(self, timeout: float | None = 10.0, close_file: bool = True) -> bool:
        """Write everything submitted so far and (`close_file`) close the current file,
        so that all of it is visible; False if that did not happen within `timeout`."""
        if self._closed:
            return True
        done = threading.Event()
        self._inbox.put(("flush" if close_file else "sync", None, done))
        return done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, close every file (a stream still being read is closed as
        it stands: a cut stream) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(("stop", None, None))
        self._thread.join(timeout)
        self._finalizer.detach()

    @staticmethod
    def _stop(inbox: _Inbox, thread: threading.Thread) -> None:
        """At interpreter exit (atexit): close the files of a writer nobody closed."""
        if thread.is_alive():
            inbox.put(("stop", None, None))
            thread.join(10.0)

    # ---- the writer thread ------------------------------------------------------------
    def _error(self, what: str, exc: BaseException) -> None:
        self.stats.errors += 1
        kind = f"{what}:{type(exc).__name__}:{getattr(exc, 'errno', '')}"
        if kind not in self._logged:
            self._logged.add(kind)
            LOG.warning("steplens capture: %s failed in %s (%s); what it concerned is left "
                        "out, the application is not affected (logged once)", what,
                        self.directory, exc)

    def _run(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._recover()
        except Exception as e:  # noqa: BLE001 - a capture never stops the application
            self._error("opening the capture directory", e)
        items = self._inbox.items
        while True:
            timeout = POLL
            if self._current is not None:
                timeout = min(POLL, max(0.0, self._current.opened + self.max_age
                                        - time.monotonic()))
            self._inbox.wake.wait(timeout)
            self._inbox.wake.clear()
            while items:
                if self._handle(*items.popleft()):
                    return
            for c in list(self._open_calls):  # caught up: what streams gathered goes out
                if c.stream and c.block and not c.done:
                    self._safely("recording a response", self._stream_bytes, c, b"", False,
                                 True)
            cur = self._current
            if cur is not None and time.monotonic() - cur.opened >= self.max_age:
                self._safely("closing a file", self._rotate)

    def _handle(self, op: str, call: Call | None, arg: Any) -> bool:
        """Do one queued operation; True to stop."""
        if op == "stop":
            for c in list(self._open_calls):
                self._safely("closing a stream", self._end, c)
            self._safely("closing a file", self._rotate)
            return True
        if op == "flush":
            self._safely("closing a file", self._rotate)
            arg.set()
        elif op == "sync":
            arg.set()
        elif op == "begin":
            if arg:
                with self._lock:
                    self._pending -= arg
            if call.stream:  # bodies need no tracking: their end brings everything
                self._open_calls.add(call)
            self.stats.calls += 1
            if call.stream and call.request_body is not None:
                self._safely("recording a request", self._request, call)
        elif op == "chunk":
            with self._lock:
                self._pending -= len(arg)
            self._safely("recording a response", self._chunk, call, arg)
        elif op == "end":
            self._safely("recording a response", self._end, call)
        return False

    def _safely(self, what: str, fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a capture never stops the application
            self._error(what, e)
            for c in args:
                if isinstance(c, Call) and not c.lost:
                    c.lost = True
                    with self._lock:
                        self.stats.dropped += 1
                    self._abandon(c)

    # ---- bodies -----------------------------------------------------------------------
    def _chunk(self, call: Call, data: bytes) -> None:
        if call.done:  # a failure abandoned it (pieces queued before a drop still count)
            return
        data = _decode(call, data)
        if not call.stream:
            call.size += len(data)
            if call.size > self.max_body:
                raise ValueError(f"a response body over {self.max_body} bytes")
            call.buf.append(data)
            return
        self._stream_bytes(call, data)

    def _end(self, call: Call) -> None:
        self._open_calls.discard(call)
        if call.done:
            return
        call.done = True
        if call.lost:  # what was read before the loss, in whole blocks: a cut stream
            if call.stream:
                self._safely("recording a response", self._stream_bytes, call, b"", True)
                self._close_stream(call)
            return
        tail = _decode(call, b"", final=True)
        if call.stream:
            self._stream_bytes(call, tail, final=True)
            self._close_stream(call)
            return
        body = b"".join(call.buf) + tail
        call.buf = []
        self._body(call, body)

    def _body(self, call: Call, body: bytes) -> None:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            self.stats.skipped += 1
            return
        want = EXPECTED[call.route]
        if type(value) is not dict or (value.get("object") != want if want else
                                       "object" in value or "type" not in value):
            self.stats.skipped += 1
            return
        lines = []
        if call.request_body is not None:
            req = self._request_line(call.request_body)
            if req is not None:
                lines.append(req)
        lines.append(self._json_line(body, value))
        for line in lines:
            self._line(line)

    def _request(self, call: Call) -> None:
        """A streamed call's request body, written when its response begins."""
        body, call.request_body = call.request_body, None
        line = self._request_line(body)  # type: ignore[arg-type]
        if line is not None:
            self._line(line)

    def _request_line(self, raw: bytes) -> bytes | None:
        """A `POST /v1/responses` body, when it has `input` (its tool outputs are read)."""
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if type(value) is not dict or "input" not in value:
            return None
        return self._json_line(raw, value)

    def _json_line(self, raw: bytes, value: Any) -> bytes:
        """One line: the body as returned (its insignificant newlines removed: a raw
        newline cannot occur inside a JSON string) unless something must be removed."""
        if self.redactor.active or has_secret_key(raw):
            return orjson.dumps(self.redactor.record(scrub_secrets(value)))
        return raw.strip().replace(b"\r", b"").replace(b"\n", b"")

    def _line(self, line: bytes) -> None:
        cur = self._current
        if cur is not None and (cur.size >= self.max_bytes
                                or time.monotonic() - cur.opened >= self.max_age):
            self._rotate()
            cur = None
        if cur is None:
            n = next(_COUNTER)
            cur = self._current = _File(self.directory,
                                        f"{stamp(time.time())}-{os.getpid()}-{n:06d}", ".jsonl")
        data = line + b"\n"
        try:
            _write_all(cur.fd, data)
        except OSError:
            with contextlib.suppress(OSError):  # never leave half a line behind
                os.ftruncate(cur.fd, cur.size)
            raise
        cur.size += len(data)
        self.stats.records += 1

    def _rotate(self) -> None:
        cur, self._current = self._current, None
        if cur is not None:
            self._finish(cur.fd, cur.part, cur.final, cur.size)

    # ---- streams ----------------------------------------------------------------------
    def _stream_bytes(self, call: Call, data: bytes, final: bool = False,
                      now: bool = False) -> None:
        """Write the stream as read, whole SSE blocks at a time: when `STREAM_BATCH`
        bytes are gathered, when the writer has caught up with the queue (`now`), and
        at the stream's end (`final`). A credential key in them, or redaction, rewrites
        them first. The file is hidden until the stream ends, so batching hides nothing
        from a reader; a crash keeps what was written."""
        call.block += data
        if len(call.block) < STREAM_BATCH and not final and not now:
            return
        buf = call.block
        lf, crlf = buf.rfind(b"\n\n"), buf.rfind(b"\r\n\r\n")
        end = max(lf + 2 if lf >= 0 else -1, crlf + 4 if crlf >= 0 else -1)  # after it
        if final and not call.lost:  # the stream's end: its last block may lack a blank line
            end = len(buf)
        if end <= 0:
            if len(buf) > MAX_BLOCK:
                raise ValueError(f"an SSE block over {MAX_BLOCK} bytes")
            return
        self._write_blocks(call, bytes(buf[:end]))
        del buf[:end]

    def _write_blocks(self, call: Call, blocks: bytes) -> None:
        if self.redactor.active or has_secret_key(blocks):
            out, start = [], 0
            for m in _BLOCK_END.finditer(blocks):
                out.append(self._rewrite_block(blocks[start:m.end()]))
                start = m.end()
            if start < len(blocks):
                out.append(self._rewrite_block(blocks[start:]))
            blocks = b"".join(out)
        if call.fd is None:
            n = next(_COUNTER)
            f = _File(self.directory, f"{stamp(call.started)}-{os.getpid()}-{n:06d}", ".sse")
            call.fd, call.part, call.name = f.fd, f.part, f.final.name
        before = call.size
        try:
            _write_all(call.fd, blocks)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(call.fd, before)
            raise
        call.size += len(blocks)

    def _rewrite_block(self, block: bytes) -> bytes:
        """An SSE block with its JSON data scrubbed and redacted (other lines kept)."""
        lines = block.replace(b"\r\n", b"\n").split(b"\n")
        data = [ln[6:] if ln[5:6] == b" " else ln[5:] for ln in lines if ln[:5] == b"data:"]
        if not data:
            return block
        try:
            value = orjson.loads(b"\n".join(data))
        except orjson.JSONDecodeError:
            return block
        if type(value) is dict:
            value = self.redactor.record(scrub_secrets(value))
        out, wrote = [], False
        for ln in lines:
            if ln[:5] == b"data:":
                if not wrote:
                    out.append(b"data: " + orjson.dumps(value))
                    wrote = True
            else:
                out.append(ln)
        return b"\n".join(out)

    def _close_stream(self, call: Call) -> None:
        if call.fd is not None:
            fd, call.fd = call.fd, None
            self._finish(fd, call.part, self.directory / call.name, call.size)  # type: ignore[arg-type]
            self.stats.streams += 1

    def _abandon(self, call: Call) -> None:
        """After a failure: close what was written of a stream as a cut stream."""
        self._open_calls.discard(call)
        call.done = True
        call.buf = []
        call.block = bytearray()
        if call.stream and call.fd is not None:
            with contextlib.suppress(Exception):
                self._close_stream(call)

    # ---- closing files ----------------------------------------------------------------
    def _finish(self, fd: int, part: Path, final: Path, size: int) -> None:
        """Make a closed `.part` file visible under its final name (gzipped first)."""
        try:
            if size == 0:
                part.unlink(missing_ok=True)
                return
            if self.compress:
                final = final.with_name(final.name + ".gz")
                tmp = final.with_name(f".{final.name}.tmp")
                fdt = os_open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    with open(part, "rb") as src, open(fdt, "wb") as raw, \
                            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1,
                                          mtime=0) as out:
                        remaining = size
                        while remaining > 0 and (piece := src.read(min(READ_PIECE, remaining))):
                            out.write(piece)
                            remaining -= len(piece)
                        out.flush()
                    os.replace(tmp, final)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
                part.unlink(missing_ok=True)
            else:
                os.ftruncate(fd, size)
                os.rename(part, final)
            self.stats.files += 1
        finally:
            os.close(fd)  # releases the lock

    def _recover(self) -> None:
        """Close the `.part` files a crashed capture left (nobody holds their lock)."""
        if fcntl is None:
            return
        for part in sorted(self.directory.glob(f".*{PART}")):
            try:
                fd = os.open(part, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # a live writer's file
            size = _whole_lines(fd)
            final = part.with_name(part.name[1:].removesuffix(PART))
            LOG.info("steplens capture: closing %s left by an earlier capture", part.name)
            self._finish(fd, part, final, size)


def _whole_lines(fd: int) -> int:
    """The size of a file cut to its last complete line."""
    size = os.fstat(fd).st_size
    pos = size
    while pos > 0:
        start = max(0, pos - READ_PIECE)
        piece = os.pread(fd, pos - start, start)
        i = piece.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        pos = start
    return 0

