"""Split raw server-sent-event text into events (README, "Streams and deltas").

Users saved streams both as the SDK's JSON envelopes and as the raw `text/event-stream`
body. This turns the raw body into the same (line number, event name, data) triples the
parser reads, so both forms give the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

SSE_PREFIXES = (b"event:", b"data:")


def looks_like_sse(first_line: bytes) -> bool:
    """Whether a file whose first non-blank line is `first_line` is raw SSE text."""
    return first_line.lstrip(b"\xef\xbb\xbf").lstrip().startswith(SSE_PREFIXES)


def _field(line: bytes, name: bytes) -> bytes:
    value = line[len(name) + 1 :]
    return value[1:] if value.startswith(b" ") else value


def sse_events(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, str | None, bytes]]:
    """Yield (line of the first `data:` line, event name, joined data) per SSE block.

    A block ends at a blank line (or the end of input). Blocks without `data:` lines
    yield nothing; `:` comment lines and other fields (`id:`, `retry:`) are ignored.
    """
    event: str | None = None
    data: list[bytes] = []
    first = 0
    for line_no, raw in lines:
        line = raw.rstrip(b"\r\n")
        if line_no == 1:
            line = line.lstrip(b"\xef\xbb\xbf")
        if not line.strip():
            if data:
                yield first, event, b"\n".join(data)
            event, data = None, []
        elif line.startswith(b"data:"):
            if not data:
                first = line_no
            data.append(_field(line, b"data"))
        elif line.startswith(b"event:"):
            event = _field(line, b"event").strip().decode("utf-8", "replace")
    if data:
        yield first, event, b"\n".join(data)
