"""Split raw server-sent-event text into events (docs/ingest.md, "Streams and deltas").

Users saved streams both as the SDK's JSON envelopes and as the raw `text/event-stream`
body. This turns the raw body into the same (line number, event name, data) triples the
parser reads, so both forms give the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

try:  # built by setup.py with the package; optional (the Python reader below otherwise)
    from steplens.transforms._sse import sse_split as _sse_split
except ImportError:  # pragma: no cover - only where no C compiler was at hand
    _sse_split = None

NATIVE = _sse_split is not None

# A JSON line never starts with ":", so a leading SSE comment (": keep-alive") says SSE too.
SSE_PREFIXES = (b"event:", b"data:", b":")


def looks_like_sse(first_line: bytes) -> bool:
    """Whether a file whose first non-blank line is `first_line` is raw SSE text."""
    return first_line.removeprefix(b"\xef\xbb\xbf").startswith(SSE_PREFIXES)


def sse_events(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, str | None, bytes]]:
    """Yield (line of the first `data:` line, event name, joined data) per SSE block.

    A block ends at a blank line (or the end of input). Blocks without `data:` lines
    yield nothing; `:` comment lines and other fields (`id:`, `retry:`) are ignored.
    `data: [DONE]` lines are dropped; a block holding nothing else (the stream's closing
    `event: done` block) yields `[DONE]` as its data, to be counted and skipped.
    (Written for speed: one pass, no allocation for the common lines.)
    """
    event: str | None = None
    data: list[bytes] = []
    first = 0
    done = False
    for line_no, raw in lines:
        line = raw.rstrip(b"\r") if raw[-1:] == b"\r" else raw
        if line_no == 1 and line[:3] == b"\xef\xbb\xbf":
            line = line[3:]
        if not line or line.isspace():
            if data or done:
                yield first, event, b"\n".join(data) if data else b"[DONE]"
            event, data, done = None, [], False
        elif line[:5] == b"data:":
            value = line[6:] if line[5:6] == b" " else line[5:]
            if not data and not done:
                first = line_no
            if value[:1] != b"{" and value.strip() == b"[DONE]":
                done = True
            else:
                data.append(value)
        elif line[:6] == b"event:":
            value = line[7:] if line[6:7] == b" " else line[6:]
            event = value.strip().decode("utf-8", "replace")
    if data or done:
        yield first, event, b"\n".join(data) if data else b"[DONE]"


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def sse_events_of_pieces(pieces: Iterable[bytes], counted: list[int] | None = None,
                         native: bool = NATIVE
                         ) -> Iterator[tuple[int, str | None, bytes]]:
    """`sse_events` of a file's text given in pieces that end at a newline (the last
    one may not), lines numbered from 1. `counted[0]` grows by each piece's lines as
    the piece is read (the ingest's per-batch line count).

    Native (`_sse.c`, the same rules): a piece is split in C up to its last blank
    line, and what follows is read again with the next piece."""
    counter = counted if counted is not None else [0]
    if not native:
        def numbered() -> Iterator[tuple[int, bytes]]:
            n = 0
            for data in pieces:
                lines = _lines(data)
                counter[0] += len(lines)
                yield from enumerate(lines, n + 1)
                n += len(lines)

        yield from sse_events(numbered())
        return
    rest, line = b"", 1
    for data in pieces:
        counter[0] += data.count(b"\n") + (1 if data and data[-1:] != b"\n" else 0)
        text = rest + data if rest else data
        events, consumed, lines = _sse_split(text, line, False)
        yield from events
        rest, line = text[consumed:], line + lines
    if rest:
        yield from _sse_split(rest, line, True)[0]
