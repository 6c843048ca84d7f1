"""transforms/_scan.c, the coverage pass's C scanner: whatever it accepts, it reads as
orjson does (the contract of transforms/coverage.py); what it declines goes to orjson.

Checked against orjson and a plain walk (tests/support/coverage_walk.py), never against
the scanner's own output: on hand-written JSON texts, on every line of the real
recordings in tests/data/ and on those lines mutated byte by byte."""

from __future__ import annotations

import random
from pathlib import Path
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from steplens.transforms import coverage
from steplens.transforms.assistants import fast as assistants_fast
from steplens.transforms.parse import parse_block, parse_events, parse_lines
from tests.support.coverage_walk import walk_paths
from tests.transforms.test_coverage import _JSON, _LINE, _micros, _object_text, _records
from tests.transforms.test_decode import assert_same

DATA = Path(__file__).parents[1] / "data"


def _real_lines() -> list[bytes]:
    out = []
    for path in sorted(DATA.glob("real*/**/*")):
        if path.is_file() and path.suffix in (".jsonl", ".ndjson", ".json", ".sse"):
            for line in path.read_bytes().split(b"\n"):
                line = line.removeprefix(b"data: ").removeprefix(b"data:")
                if line.strip():
                    out.append(line)
    return out


REAL = _real_lines()


def _paths(value) -> set[str]:
    found: set = set()
    walk_paths(value, "", found)
    return found


def _agrees(text: bytes, plain: bool) -> None:
    """If the scanner reads `text`, it reads what orjson reads (kind, paths, time)."""
    scanned = coverage._scan(text, plain)
    if scanned is None:
        return
    value = orjson.loads(text)  # raises if the scanner accepted what orjson refuses
    # the records, by the test's own reading of the rules (an SSE block's event name is
    # unknown to the scanner, so it needs `object` or `type`)
    found = _records(value, None if plain else "?")
    assert len(scanned) == 2 * len(found)
    for (kind, record), key, micros in zip(found, scanned[::2], scanned[1::2], strict=True):
        assert kind != "?"
        got_kind, _, skeleton = key.partition(b"\n")
        assert got_kind.decode() == kind
        assert _paths(orjson.loads(skeleton)) == _paths(record)
        assert micros == _micros(record)


def test_the_scanner_is_built():
    """The package builds it (setup.py); without it every line costs an orjson read."""
    assert coverage.NATIVE


def test_real_lines_read_as_orjson_reads_them_and_mostly_by_the_scanner():
    assert len(REAL) > 1000
    scanned = 0
    for text in REAL:
        for plain in (True, False):
            _agrees(text, plain)
        scanned += coverage._scan(text, True) is not None
    # the point of the scanner: the usual line is read in C (all but the SSE `event:`
    # lines here)
    assert scanned / len(REAL) > 0.65, scanned / len(REAL)


_MUTATIONS = [b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\", b'"', b"null", b",",
              b"}", b"]", b"{", b"[", b"1e400", b"-", b"\\ud800", b"\\u0041", b"\t", b"\n",
              b"01", b".", b'"a":1,', b'"id":null,', b'"object":"list",', b'"event":1,',
              b'"created_at":1.5,', b'"created_at":-1,', b'"created_at":253402300800,']


@pytest.mark.parametrize("seed", range(4))
def test_mutated_real_lines_read_as_orjson_reads_them(seed):
    """Bytes inserted, replaced or removed anywhere: invalid UTF-8, escapes, repeated
    keys, overflowing numbers, nulls, kinds and times changed."""
    rng = random.Random(seed)
    for text in rng.sample(REAL, 400):
        for _ in range(5):
            at = rng.randrange(len(text) + 1)
            cut = at + rng.choice((0, 0, 1, 2, 8))
            mutated = text[:at] + rng.choice(_MUTATIONS) + text[cut:]
            for plain in (True, False):
                _agrees(mutated, plain)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_LINE, st.lists(st.tuples(st.sampled_from(
    ["object", "type", "created_at", "response", "a"]), _JSON), max_size=6).map(_object_text)),
    st.booleans())
def test_any_text_reads_as_orjson_reads_it(text, plain):
    _agrees(text, plain)


def _sse_like(lines: list[bytes]) -> list[tuple[int, bytes, str | None]]:
    return [(n, t, "thread.run.step" if n % 3 else None) for n, t in enumerate(lines, 1)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_LINE, st.sampled_from(REAL)), max_size=15))
def test_a_batch_counts_the_same_with_and_without_the_scanner(lines):
    """The frame of a batch (lines, and texts with event names as SSE blocks have) is the
    same whether the scanner reads what it can or orjson reads every line."""
    with_scan = coverage.of_lines("/f", 1, lines)
    with mock.patch.object(coverage, "NATIVE", False):
        without = coverage.of_lines("/f", 1, lines)
    assert_frame_equal(with_scan, without, check_row_order=False)
    # a block split in C (`scan_block`), as the ingest reads it, with and without a
    # newline at its end
    for block in (b"\n".join(lines), b"\n".join(lines) + b"\n"):
        assert_frame_equal(coverage.of_block("/f", 1, block), without, check_row_order=False)
    events = [(n, name, t) for n, t, name in _sse_like(lines) if t.strip()]
    with_scan = coverage.of_events("/f", events)
    with mock.patch.object(coverage, "NATIVE", False):
        without = coverage.of_events("/f", events)
    assert_frame_equal(with_scan, without, check_row_order=False)


# ---- the parser's batch check, narrowed to what the scanner did not read ------------------

def _assert_unread_covers_suspects(lines: list[bytes]) -> None:
    """A line the parser's batch check flags (`assistants_fast.suspects`: maybe invalid
    UTF-8, a number orjson finds infinite, deep nesting) and the scanner read is one
    orjson reads (the check also flags long digit runs inside strings), and a block
    parsed with the check narrowed to the unread lines equals the careful parse."""
    for block in (b"\n".join(lines), b"\n".join(lines) + b"\n"):
        raws = block.split(b"\n")
        if raws[-1] == b"":
            raws.pop()
        _, unread = coverage.scan_block("/f", 1, block)
        for i in set(assistants_fast.suspects(raws)).difference(unread):
            orjson.loads(raws[i])
        careful = parse_lines("/f", enumerate(raws, 1), careful=True)
        assert_same(parse_block("/f", 1, block, unread=unread), careful)
    # SSE blocks, some named, some bare, some without JSON
    events = [(n, name, t) for n, t, name in _sse_like(lines + [b"", b" [DONE] "])]
    _, unread = coverage.scan_events("/f", events)
    for i in set(assistants_fast.suspects([t for _, _, t in events])).difference(unread):
        orjson.loads(events[i][2])
    assert_same(parse_events("/f", events, unread=unread),
                parse_events("/f", events, careful=True))


def test_the_scanner_leaves_every_suspect_line_unread_on_mutated_real_lines():
    rng = random.Random(11)
    lines = []
    for text in rng.sample(REAL, 300):
        at = rng.randrange(len(text) + 1)
        lines.append(text[:at] + rng.choice(_MUTATIONS + [b"1" * 240, b"9e999"]) + text[at:])
    lines += [b"[" * 1100 + b"]" * 1100, b'{"a":' * 600 + b"1" + b"}" * 600]
    rng.shuffle(lines)
    for start in range(0, len(lines), 40):
        _assert_unread_covers_suspects(lines[start:start + 40])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_LINE, st.sampled_from(REAL)), min_size=1, max_size=12))
def test_the_scanner_leaves_every_suspect_line_unread(lines):
    _assert_unread_covers_suspects(lines)
