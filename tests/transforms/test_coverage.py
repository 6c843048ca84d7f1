"""transforms/coverage.py: what the decoders read is what `mapped_to` says is captured,
and a batch's last line stays apart so a re-read tail replaces exactly its own counts."""

from __future__ import annotations

import datetime as dt
import json
from unittest import mock

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from steplens.transforms import coverage, rulebook
from steplens.transforms.assistants import spec as assistants_spec
from steplens.transforms.responses import spec as rspec
from tests.support.coverage_walk import walk_paths


def spec_paths(spec: dict, prefix: str = "") -> list[str]:
    """Every path a decoder spec reads (objects and arrays and their leaves)."""
    out = []
    for key, sub in spec.items():
        path = prefix + key
        out.append(path)
        if isinstance(sub, rspec.Required):
            sub = sub.spec
        if isinstance(sub, dict):
            out += spec_paths(sub, path + ".")
        elif isinstance(sub, list):
            out.append(path + "[]")
            out += spec_paths(sub[0], path + "[].")
    return out


# Read by a decoder for its checks only, held by no column (docs/tables.md, "Table reference").
# (runs keep `expires_at`, steps `expired_at`: the shared timestamp list checks them all)
NOT_STORED = {("thread.run", "expired_at"), ("thread.run.step", "started_at"),
              ("thread.run.step", "expires_at")}


def test_every_path_a_decoder_reads_is_mapped():
    shapes = [("assistants", "thread.run", assistants_spec.RUN),
              ("assistants", "thread.run.step", assistants_spec.STEP),
              ("assistants", "thread.run.step.delta", assistants_spec.DELTA),
              ("responses", "response", rspec.RESPONSE),
              ("responses", "function_call", rspec.ITEM),
              ("responses", "response.completed", rspec.EVENT_SPECS["response.completed"]),
              ("responses", "response.output_item.done",
               rspec.EVENT_SPECS["response.output_item.done"])]
    missing = [(obj, p) for api, obj, spec in shapes for p in spec_paths(spec)
               if coverage.mapped_to(api, obj, p) is None
               and (obj, p) not in NOT_STORED
               and p != "sequence_number"]
    assert not missing, missing


def test_sub_paths_of_values_stored_whole_are_covered_by_their_column():
    assert coverage.mapped_to("assistants", "thread.run", "metadata.user.id") == "runs.metadata"
    assert coverage.mapped_to("responses", "response", "output[].arguments.city") == (
        "tool_calls.function_arguments")
    assert coverage.mapped_to("responses", "response", "output[].content[].text") is None
    assert coverage.mapped_to("responses", "response", "output[].phase") == "steps.phase"
    assert coverage.mapped_to("responses", "response.output_item.done", "item.phase") == (
        "steps.phase")
    assert coverage.mapped_to("responses", "message", "phase") == "steps.phase"  # a page's
    # the fields of transforms/extras.py (issue 21), in a response and in its events
    assert coverage.mapped_to("responses", "response", "billing.payer") == "runs.billing_payer"
    assert coverage.mapped_to("responses", "response.completed",
                              "response.tool_usage.image_gen.total_tokens") == (
        "runs.image_gen_total_tokens")
    assert coverage.mapped_to("responses", "response.completed",
                              "response.usage.input_tokens") == "runs.prompt_tokens"


def test_the_last_line_of_a_batch_is_kept_apart():
    lines = [orjson.dumps({"id": f"run_{i}", "object": "thread.run", "created_at": 100 + i,
                           **({"x": 1} if i in (0, 2) else {})}) for i in range(3)]
    frame = coverage.of_lines("/f", 5, lines)
    x = frame.filter(pl.col("path") == "x").sort("line_no")
    assert x["line_no"].to_list() == [5, 7] and x["records"].to_list() == [1, 1]
    ids = frame.filter(pl.col("path") == "id").sort("line_no")
    assert ids["records"].to_list() == [2, 1]
    # dropping the file from its (old, unterminated) last line on drops that line only
    kept = coverage.remove_lines(frame, "/f", 7)
    assert kept.filter(pl.col("path") == "id")["records"].to_list() == [2]
    assert kept.filter(pl.col("path") == "x")["records"].to_list() == [1]
    assert coverage.remove_lines(frame, "/f", 1).height == 0
    assert coverage.remove_lines(frame, "/other", 1).height == frame.height


def test_records_pages_envelopes_and_events():
    page = {"object": "list", "data": [{"id": "a", "object": "thread.run"},
                                       {"object": "list", "data": [{"id": "b",
                                                                    "object": "thread.run"}]},
                                       5]}
    assert [o for o, _ in coverage.records(page)] == ["thread.run", "thread.run"]
    env = {"event": "thread.run.step.delta", "data": {"id": "s", "delta": {}}}
    assert [o for o, _ in coverage.records(env)] == ["thread.run.step.delta"]
    assert [o for o, _ in coverage.records({"type": "response.output_text.delta"})] == [
        "response.output_text.delta"]
    assert [o for o, _ in coverage.records({"input": []})] == ["request"]
    assert coverage.paths({"a": [None, {"b": None, "c": [1]}], "d": {}, "e": None}) == {
        "a", "a[]", "a[].c", "a[].c[]", "d"}


def _shaped_lines() -> list[dict]:
    """Records whose shapes repeat with small differences: a nested value the same but
    for one null deep down, repeated tool definitions, usage that differs in every
    record, the same keys with a value turning null or into an array, one record nested
    deeper than `orjson.dumps` writes (255 levels)."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "string"}}}}}]
    out = []
    for i in range(120):
        run = {"id": f"run_{i}", "object": "thread.run", "created_at": 1_700_000_000 + i,
               "tools": tools if i % 7 else [*tools, {"type": "code_interpreter"}],
               "usage": {"prompt_tokens": i, "completion_tokens": None if i % 3 else i,
                         "details": {"cached": [None, i] if i % 4 else [None]}},
               "metadata": {} if i % 5 else {"k": None if i % 10 else "v"},
               "last_error": None if i % 6 else {"code": "x", "message": [i]}}
        out.append(run)
    deep: dict = {"leaf": 1}
    for _ in range(300):
        deep = {"n": deep, "z": None}
    out += [{"object": "thread.run", "deep": deep}, {"object": "thread.run", "deep": deep}]
    return out


@pytest.mark.parametrize("tries", [0, 3, 32])
def test_reused_shapes_count_exactly_what_a_plain_walk_counts(monkeypatch, tries):
    """Every (object, path) count and time range of a batch equals a plain walk of each
    record, whichever way the shapes are reused (`_TRIES` switches a key from lookups
    by JSON text to walking it)."""
    monkeypatch.setattr(coverage, "_TRIES", tries)
    recs = _shaped_lines()
    lines = [orjson.dumps(r) if "deep" not in r else json.dumps(r).encode() for r in recs]
    expected: dict = {}
    for r in recs:
        found: set = set()
        walk_paths(r, "", found)
        ts = r.get("created_at")
        for p in found:
            row = expected.setdefault(p, [0, None, None])
            row[0] += 1
            if ts is not None:
                ts = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=r["created_at"])
                row[1] = ts if row[1] is None else min(row[1], ts)
                row[2] = ts if row[2] is None else max(row[2], ts)
    got = (coverage.of_lines("/f", 1, lines).group_by("path")
           .agg(pl.col("records").sum(), pl.col("first_seen").min(), pl.col("last_seen").max()))
    assert {p: [n, f, last] for p, n, f, last in got.iter_rows()} == expected


# ---- any lines against a plain walk ------------------------------------------------------
# JSON texts written here by hand (so keys may repeat, numbers may be written oddly), then
# read by orjson, the contract's parser: what it rejects holds no record.

_KEYS = st.sampled_from(["a", "b", "object", "type", "event", "data", "created_at",
                         "response", "input", "id", "x.y", "é"])
_NUMBERS = st.sampled_from([b"0", b"-0", b"1.5", b"1E5", b"1e400", b"-1e400", b"2.5e-400",
                            b"1700000000", b"1700000000.25", b"253402300800",
                            b"18446744073709551616", b"9223372036854775808",
                            b"1" + b"0" * 320, b"-1"])
_STRINGS = st.sampled_from([b'"list"', b'"page"', b'"thread.run"', b'"response"',
                            b'"response.completed"', b'"x"', b'""', b'"\\ud800"',
                            b'"a\\"b"', b'"\xc3\xa9"', b'"\xff"', b'"\\u0041"'])


def _object_text(pairs: list[tuple[str, bytes]]) -> bytes:
    return b"{" + b",".join(orjson.dumps(k) + b":" + v for k, v in pairs) + b"}"


_JSON = st.recursive(
    st.one_of(st.just(b"null"), st.just(b"true"), st.just(b"false"), _NUMBERS, _STRINGS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: b"[" + b",".join(xs) + b"]"),
        st.lists(st.tuples(_KEYS, inner), max_size=5).map(_object_text)),
    max_leaves=25)
_LINE = st.one_of(
    st.lists(st.tuples(_KEYS, _JSON), max_size=6).map(_object_text),  # a record, mostly
    _JSON,  # any value
    st.tuples(_STRINGS, _JSON).map(  # an envelope
        lambda t: _object_text([("event", t[0]), ("data", t[1])])),
    st.lists(_JSON, max_size=4).map(  # a page
        lambda xs: _object_text([("object", b'"list"'), ("data", b"[" + b",".join(xs) + b"]")])),
    st.sampled_from([b"", b"   ", b"{", b"{]", b'{"a":1}x', b'{"a":1} ', b'\t{"a" : [1 ,2]}']))


def _records(value, event):
    """(object, record) per the module docstring's rules, written out plainly."""
    if not isinstance(value, dict):
        return []
    if event is None and "event" in value and "object" not in value:
        data = value.get("data")
        return _records_of(data, value["event"]) if isinstance(data, dict) else []
    if event is None and value.get("object") in ("list", "page") and isinstance(
            value.get("data"), list):
        return [r for item in value["data"] for r in _records(item, None)]
    return _records_of(value, event)


def _records_of(record: dict, event) -> list:
    kind = next((v for v in (record.get("object"), record.get("type"), event)
                 if type(v) is str), "request" if "input" in record else "unknown")
    return [(kind, record)]


def _micros(record: dict):
    ts = record.get("created_at")
    if type(ts) not in (int, float):
        response = record.get("response")
        ts = response.get("created_at") if isinstance(response, dict) else None
        if type(ts) not in (int, float):
            return None
    if not 0 <= ts <= rulebook.MAX_TS:
        return None
    return ts * 1_000_000 if type(ts) is int else int(ts * 1_000_000)


def _expected(texts: list[bytes]) -> dict:
    out: dict = {}
    for text in texts:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        for kind, record in _records(value, None):
            found: set = set()
            walk_paths(record, "", found)
            us = _micros(record)
            when = None if us is None else dt.datetime(1970, 1, 1) + dt.timedelta(
                microseconds=us)
            for p in found:
                row = out.setdefault((kind, p), [0, None, None])
                row[0] += 1
                if when is not None:
                    row[1] = when if row[1] is None else min(row[1], when)
                    row[2] = when if row[2] is None else max(row[2], when)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, max_size=12), st.lists(st.integers(0, 11), max_size=6))
def test_any_lines_count_what_a_plain_walk_counts(lines, again):
    """Nulls, nested arrays and objects, repeated keys, numbers orjson rejects or reads
    as floats, envelopes, pages, blank and invalid lines, lines repeated: per (object,
    path) the records and time range of a plain walk of each line (orjson's reading),
    and the batch's last line alone on its own line number."""
    lines = lines + [lines[i] for i in again if i < len(lines)]
    frame = coverage.of_lines("/f", 1, lines)
    with mock.patch.object(coverage, "_LINE_TRIES", 0):  # texts looked up once, then not
        assert_frame_equal(coverage.of_lines("/f", 1, lines), frame, check_row_order=False)
    got = (frame.group_by("object", "path")
           .agg(pl.col("records").sum(), pl.col("first_seen").min(),
                pl.col("last_seen").max()))
    kept = [t for t in lines if t and not t.isspace()]
    assert {(o, p): [n, f, last] for o, p, n, f, last in got.iter_rows()} == _expected(kept)
    if kept:
        last = max(n for n, t in enumerate(lines, 1) if t and not t.isspace())
        alone = frame.filter(pl.col("line_no") == last)
        assert {(o, p): [n, f, x] for o, p, n, f, x in alone.select(
            "object", "path", "records", "first_seen", "last_seen").iter_rows()} == (
            _expected([lines[last - 1]]))
