"""transforms/_sse.c splits raw SSE text into the events `sse_events` (the Python
reference) gives, and so does the piece-wise reader on either path: on generated texts
cut into pieces anywhere a line ends, and on the real recordings in tests/data/.

The reference itself is checked against hand-written streams in test_decode.py and
test_responses_decode.py; here only agreement with it is proven, never a number copied
from the C code's output."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steplens.transforms import sse
from tests.support.paths import DATA

# Lines an SSE body holds, and the odd ones: CRs, white space, a BOM, comments, other
# fields, [DONE] in its spellings, empty and spaced fields, invalid UTF-8 in a name.
_LINES = [b"", b" ", b"\t \x0c", b"\r", b"data: {\"a\":1}", b"data:{\"b\":2}\r\r",
          b"data:  x", b"data:", b"data: ", b"data: [DONE]", b"data:[DONE] ",
          b"data: {[DONE]", b"data: \x0b[DONE]\x0b", b"event: thread.run.step.delta",
          b"event:done", b"event:  spaced  ", b"event: \xff\xfe", b"event:", b": keep-alive",
          b"id: 7", b"retry: 10", b"\xef\xbb\xbfdata: {}", b"\xef\xbb\xbfevent: x",
          b"\xef\xbb\xbf", b"dat", b"data", b"eventx: y", b"data: \xc3\xa9"]

_TEXTS = st.lists(st.sampled_from(_LINES), max_size=40).map(b"\n".join)


def _reference(text: bytes) -> list:
    return list(sse.sse_events(enumerate(sse._lines(text), 1)))


def _pieces(text: bytes, cuts: list[int]) -> list[bytes]:
    """`text` cut after the newlines at `cuts` (as the ingest reads it: every piece
    but the last ends with a newline)."""
    ends = [i + 1 for i, c in enumerate(text) if c == 10]
    at = sorted({ends[c % len(ends)] for c in cuts}) if ends else []
    return [text[a:b] for a, b in zip([0, *at], [*at, len(text)], strict=True) if a < b]


def _agree(text: bytes, cuts: list[int]) -> None:
    expected = _reference(text)
    lines = len(sse._lines(text))
    assert list(sse.sse_events_of_pieces([text])) == expected
    for native in (True, False):
        counted = [0]
        got = list(sse.sse_events_of_pieces(_pieces(text, cuts), counted, native=native))
        assert got == expected
        assert counted[0] == lines


def test_the_splitter_is_built():
    """The package builds it (setup.py); without it SSE text is split in Python."""
    assert sse.NATIVE


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS, st.booleans(), st.lists(st.integers(0, 100), max_size=6))
def test_any_text_in_any_pieces_splits_as_the_reference_does(text, newline, cuts):
    _agree(text + b"\n" if newline else text, cuts)


def test_real_streams_split_as_the_reference_does():
    paths = [p for p in sorted(DATA.glob("real*/**/*.sse")) if p.is_file()]
    assert len(paths) >= 3
    rng = random.Random(3)
    for path in paths:
        text = path.read_bytes()
        assert _reference(text), path
        _agree(text, [rng.randrange(1000) for _ in range(5)])
        _agree(text.replace(b"\n", b"\r\n"), [7])
