"""httpx transports that record Responses and Conversations API traffic as it passes.

`Transport` (sync) and `AsyncTransport` wrap another transport (`inner`, by default
httpx's own) and forward every request to it unchanged. For the calls that return what
`steplens ingest` reads (docs/capture.md, "What is recorded"), the response's byte stream
is wrapped so that each piece the caller reads is handed to the background writer
(a reference, no copy) as it is read: the caller receives the same bytes at the same
time, a stream is never buffered whole, and nothing on this path can raise into the
application (a failure here is logged once and the call goes on unrecorded).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx

from steplens.capture.redaction import make_redactor
from steplens.capture.writer import Call, Stats, Writer

LOG = logging.getLogger("steplens.capture")

_RESPONSES = re.compile(r"/responses(?:/(?P<id>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$")
_CONVERSATIONS = re.compile(
    r"/conversations(?:/(?P<id>[^/]+)(?:/(?P<sub>[^/]+)(?:/(?P<item>[^/]+))?)?)?/?$")
_NOT_A_RESPONSE_ID = frozenset(("compact", "input_tokens"))


def route(method: str, path: str) -> str | None:
    """Which recorded call a request is (None: passed through unrecorded).

    create `POST /responses`; retrieve `GET /responses/{id}` (also a background poll,
    and with `?stream=true` a resumed stream); cancel `POST /responses/{id}/cancel`;
    input_items `GET /responses/{id}/input_items`; conversation `POST /conversations`,
    `GET|POST /conversations/{id}`; conversation_items `GET|POST
    /conversations/{id}/items`; conversation_item `GET /conversations/{id}/items/{item}`.
    Matched on the end of the path, so a base URL with a prefix (a proxy, Azure's
    `/openai/v1`) is recorded too.
    """
    m = _RESPONSES.search(path)
    if m is not None:
        rid, sub = m["id"], m["sub"]
        if rid is None:
            return "create" if method == "POST" else None
        if rid in _NOT_A_RESPONSE_ID:
            return None
        if sub is None:
            return "retrieve" if method == "GET" else None
        if sub == "cancel":
            return "cancel" if method == "POST" else None
        if sub == "input_items":
            return "input_items" if method == "GET" else None
        return None
    m = _CONVERSATIONS.search(path)
    if m is not None:
        cid, sub, item = m["id"], m["sub"], m["item"]
        if cid is None:
            return "conversation" if method == "POST" else None
        if sub is None:
            return "conversation" if method in ("GET", "POST") else None
        if sub != "items":
            return None
        if item is None:
            return "conversation_items" if method in ("GET", "POST") else None
        return "conversation_item" if method == "GET" else None
    return None


class _Recorder:
    """What both transports share: the writer, and how a response is attached to it."""

    def __init__(self, directory: str | os.PathLike, redact: str = "none",
                 redact_fields: str | list[str] | None = None,
                 redact_key: bytes | str | None = None, *,
                 max_file_bytes: int = 64 * 1024 * 1024, max_file_age: float = 60.0,
                 compress: bool = True, max_pending_bytes: int = 64 * 1024 * 1024) -> None:
        redactor = make_redactor(redact, redact_fields, redact_key,
                                 os.path.abspath(os.fspath(directory)))  # type: ignore[arg-type]
        self._writer = Writer(directory, redactor, max_bytes=max_file_bytes,
                              max_age=max_file_age, compress=compress,
                              max_pending=max_pending_bytes)
        self._warned = False

    @property
    def directory(self):
        return self._writer.directory

    @property
    def stats(self) -> Stats:
        """Counts of what was recorded, dropped and failed (docs/capture.md)."""
        return self._writer.stats

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write what was read so far and close the current file, so that an ingest
        sees it now rather than at the next rotation. Streams still being read stay
        open. False when it did not finish within `timeout` seconds."""
        return self._writer.flush(timeout)

    def _call(self, request: httpx.Request, response: httpx.Response) -> Call | None:
        """The call to record for this exchange, or None. Never raises."""
        try:
            name = route(request.method, request.url.path)
            if name is None or not 200 <= response.status_code < 300:
                return None
            ctype = response.headers.get("content-type", "").lower()
            stream = ctype.startswith("text/event-stream")
            if not stream and "json" not in ctype:
                return None
            body = None
            if name == "create":
                try:
                    body = request.content
                except httpx.RequestNotRead:
                    body = None
            encoding = response.headers.get("content-encoding", "")
            return Call(name, stream, body, encoding, time.time())
        except Exception as e:  # noqa: BLE001 - a capture never hurts the application
            self._warn(e)
            return None

    def _attach(self, request: httpx.Request, response: httpx.Response, tee: type) -> None:
        """Record `response` if it is a call the capture keeps: read at once when it is
        whole (`_preread`), else teed as the caller reads it (`tee`: the sync or async
        stream wrapper). Never raises: a capture never hurts the application."""
        call = self._call(request, response)
        if call is None:
            return
        try:
            if not self._preread(response, call):
                self._writer.begin(call)
                response.stream = tee(response.stream, self._writer, call)
        except Exception as e:  # noqa: BLE001 - a capture never hurts the application
            self._warn(e)

    def _warn(self, e: BaseException) -> None:
        if not self._warned:
            self._warned = True
            LOG.warning("steplens capture: a call could not be recorded (%s); the "
                        "application is not affected (logged once)", e)

    def _preread(self, response: httpx.Response, call: Call) -> bool:
        """A response whose body was read before we saw it (built with `content=`, as
        mock transports do): record those decoded bytes at once."""
        content = getattr(response, "_content", None)
        if content is None:
            return False
        call.encoding = ""  # already decoded
        w = self._writer
        w.begin(call)
        w.chunk(call, content)
        w.end(call)
        return True


class _SyncTee(httpx.SyncByteStream):
    """A response stream that hands each piece to the writer as the caller reads it."""

    def __init__(self, inner: httpx.SyncByteStream, writer: Writer, call: Call) -> None:
        self._inner = inner
        self._writer = writer
        self._call = call
        self._ended = False

    def __iter__(self) -> Iterator[bytes]:
        writer, call = self._writer, self._call
        for piece in self._inner:
            writer.chunk(call, piece)
            yield piece
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._writer.end(self._call)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._end()


class _AsyncTee(httpx.AsyncByteStream):
    """The asynchronous twin of `_SyncTee`."""

    def __init__(self, inner: httpx.AsyncByteStream, writer: Writer, call: Call) -> None:
        self._inner = inner
        self._writer = writer
        self._call = call
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        writer, call = self._writer, self._call
        async for piece in self._inner:
            writer.chunk(call, piece)
            yield piece
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._writer.end(self._call)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._end()


class Transport(_Recorder, httpx.BaseTransport):
    """An httpx transport that records Responses/Conversations API traffic into
    `directory` in the layout `steplens ingest` reads::

        client = OpenAI(http_client=httpx.Client(transport=Transport("exports/")))

    `inner`: the transport that does the work (default `httpx.HTTPTransport()`).
    `redact`/`redact_fields`/`redact_key`: content removed before it is written, with
    the modes of `steplens ingest --redact` (docs/capture.md, "Redaction").
    `max_file_bytes`/`max_file_age`: when the JSON-lines file is closed and made
    visible; `compress`: gzip closed files; `max_pending_bytes`: the most response bytes
    held for the writer before records are dropped (counted in `stats.dropped`).
    """

    def __init__(self, directory: str | os.PathLike, inner: httpx.BaseTransport | None = None,
                 **options) -> None:
        super().__init__(directory, **options)
        self._inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self._attach(request, response, _SyncTee)
        return response

    def close(self) -> None:
        """Close the inner transport, then write what is left and close the files."""
        try:
            self._inner.close()
        finally:
            self._writer.close()


class AsyncTransport(_Recorder, httpx.AsyncBaseTransport):
    """`Transport` for `httpx.AsyncClient` (`AsyncOpenAI(http_client=...)`); `inner`
    defaults to `httpx.AsyncHTTPTransport()`. The writer is a thread: recording a piece
    never awaits, so it cannot stall the event loop."""

    def __init__(self, directory: str | os.PathLike,
                 inner: httpx.AsyncBaseTransport | None = None, **options) -> None:
        super().__init__(directory, **options)
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self._attach(request, response, _AsyncTee)
        return response

    async def aclose(self) -> None:
        """Close the inner transport, then write what is left and close the files (the
        join runs in a thread, off the event loop)."""
        import asyncio

        try:
            await self._inner.aclose()
        finally:
            await asyncio.to_thread(self._writer.close)
