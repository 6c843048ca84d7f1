"""Split raw server-sent-event text into events (docs/ingest.md, "Streams and deltas").

Users saved streams both as the SDK's JSON envelopes and as the raw `text/event-stream`
body. This turns the raw body into the same (line number, event name, data) triples the
parser reads, so both forms give the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
