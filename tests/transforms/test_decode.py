"""The native fast path (transforms/assistants/fast.py) against the careful path
(assistants/careful.py, dispatched by parse.py).

One rulebook: whatever the fast path accepts, the careful path must accept with the same
values, and whatever the careful path rejects or skips, the fast path must leave to it.
The property tests feed both the same valid, mutated and fuzzed lines (and SSE blocks)
and require identical frames, reject reasons and counts. The shape tests check, one
decode shape at a time, that the fast path itself (not the fallback) recorded the line,
with values read here from the JSON in plain Python.
"""

from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from steplens.transforms.assistants import fast as assistants_fast
from steplens.transforms.parse import ParsedBatch, parse_block, parse_events, parse_lines
from steplens.transforms.rulebook import MAX_TS
from steplens.transforms.sse import sse_events
from tests.support.builders import T0, delta, run, step
from tests.support.paths import real_files

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_same(fast: ParsedBatch, careful: ParsedBatch) -> None:
    for name in ParsedBatch.FRAMES:
        assert_frame_equal(getattr(fast, name), getattr(careful, name))
    assert (fast.lines_read, fast.records_read, fast.bytes_read) == (
        careful.lines_read, careful.records_read, careful.bytes_read)


# ---- generated records: right and wrong types, at every level ---------------------------

text = st.text(max_size=12)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                        st.floats(allow_nan=False, allow_infinity=False), text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=6)


def maybe(right: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the right type, sometimes absent-as-null or anything at all."""
    return st.one_of(right, right, right, st.none(), json_value)


# token counts past what the API can produce (issue 18): negative, just past 2^53, 2^63-1
ints = st.one_of(st.integers(0, 10**6), st.integers(-(2**64), 2**64),
                 st.sampled_from([-1, -5, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63]))
stamps = st.one_of(st.integers(T0 - 10**6, T0 + 10**6), st.integers(-5, MAX_TS + 5))
strs = st.one_of(st.sampled_from(["completed", "in_progress", "failed", "tool_calls",
                                  "function", "code_interpreter", "file_search", "logs",
                                  "image", "é", "\u2028", "a\x00b"]), text)
cached = st.fixed_dictionaries({"cached_tokens": maybe(ints)})
usage_fields = {
    "prompt_tokens": maybe(ints), "completion_tokens": maybe(ints), "total_tokens": maybe(ints),
    "prompt_token_details": maybe(cached), "prompt_tokens_details": maybe(cached),
    "completion_tokens_details": maybe(st.fixed_dictionaries(
        {"reasoning_tokens": maybe(ints)})),
}
usage = st.one_of(st.fixed_dictionaries({}, optional=usage_fields),
                  st.fixed_dictionaries(usage_fields))  # every key: both spellings at once
output = st.fixed_dictionaries({}, optional={
    "type": maybe(strs), "logs": maybe(strs), "index": maybe(ints),
    "image": maybe(st.fixed_dictionaries({}, optional={"file_id": maybe(strs)}))})
call = st.fixed_dictionaries({}, optional={
    "id": maybe(strs), "type": maybe(strs), "index": maybe(ints),
    "function": maybe(st.fixed_dictionaries({}, optional={
        "name": maybe(strs), "arguments": maybe(strs), "output": maybe(strs)})),
    "code_interpreter": maybe(st.fixed_dictionaries({}, optional={
        "input": maybe(strs), "outputs": maybe(st.lists(maybe(output), max_size=3))})),
    "file_search": maybe(st.fixed_dictionaries({}, optional={"results": maybe(st.lists(
        maybe(st.fixed_dictionaries({}, optional={"score": maybe(st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), ints))})), max_size=3))})),
    "extra": json_value,
})
details = st.fixed_dictionaries({}, optional={
    "type": maybe(strs), "tool_calls": maybe(st.lists(maybe(call), max_size=3)),
    "message_creation": maybe(st.fixed_dictionaries({}, optional={"message_id": maybe(strs)})),
})
common = {
    "id": maybe(st.sampled_from(["step_A", "step_B", "run_A", "é_id", "", "a\x00b", "x\x1f",
                                 "del\x7f", "c1\x85", "nl\n"])),
    "thread_id": maybe(strs), "assistant_id": maybe(strs), "status": maybe(strs),
    **{k: maybe(stamps) for k in ("created_at", "started_at", "completed_at", "failed_at",
                                  "cancelled_at", "expired_at", "expires_at")},
    "last_error": maybe(st.fixed_dictionaries({}, optional={"code": maybe(strs),
                                                            "message": maybe(strs)})),
    "usage": maybe(usage),
    "metadata": maybe(st.dictionaries(text, json_value, max_size=4)),
    "unknown": json_value,
}
# A run's configuration (docs/views.md, "Assistant versions"): any value is read, none rejects.
config = {
    "instructions": maybe(st.one_of(strs, st.lists(json_value, max_size=2))),
    "tools": maybe(st.lists(maybe(st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["function", "code_interpreter", "file_search"]))},
        optional={"function": maybe(st.fixed_dictionaries({}, optional={
            "name": maybe(strs), "parameters": json_value}))})), max_size=3)),
    "temperature": maybe(st.one_of(st.floats(0, 2), ints)),
    "top_p": maybe(st.floats(0, 1)),
    "response_format": maybe(st.one_of(st.just("auto"), st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["text", "json_schema"]))}, optional={
            "json_schema": maybe(st.fixed_dictionaries({}, optional={"name": maybe(strs)}))}))),
    "reasoning_effort": maybe(strs),
}
records = st.one_of(
    st.fixed_dictionaries({"object": st.just("thread.run.step")}, optional={
        **common, "run_id": maybe(strs), "type": maybe(strs), "step_details": maybe(details)}),
    st.fixed_dictionaries({"object": st.just("thread.run")}, optional={
        **common, "model": maybe(strs), **config,
        "incomplete_details": maybe(st.fixed_dictionaries({}, optional={"reason": maybe(strs)}))}),
    st.fixed_dictionaries({"object": st.just("thread.run.step.delta")}, optional={
        "id": maybe(st.sampled_from(["step_A", "step_B", "", "s\x00"])),
        "delta": maybe(st.fixed_dictionaries({}, optional={"step_details": maybe(details)}))}),
    st.fixed_dictionaries({}, optional={"object": json_value, "id": json_value}),
)
EVENTS = ["thread.run.step.created", "thread.run.step.completed", "thread.run.step.delta",
          "thread.run.created", "thread.run.completed", "thread.message.delta", "done"]


@st.composite
def values(draw) -> object:
    """A record, a stream envelope around one, a list page of them, or odd JSON."""
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return draw(records)
    if kind <= 6:
        data = draw(records)
        if draw(st.booleans()):
            data.pop("object", None)  # exporters that dropped `object`
        return {"event": draw(st.one_of(st.sampled_from(EVENTS), json_value)),
                "data": draw(st.one_of(st.just(data), st.just(data), json_value))}
    if kind <= 8:
        items = draw(st.lists(st.one_of(records, records, json_value), max_size=4))
        if draw(st.integers(0, 9)) == 0:
            items.append({"object": "list", "data": draw(st.lists(records, max_size=2))})
        return {"object": "list", "data": items, "has_more": False}
    return draw(json_value)


# ---- text-level mutations: what the JSON reader must judge exactly like orjson -----------

def _duplicate_key(line: bytes, rng: random.Random) -> bytes:
    """The same key twice in the top object: orjson keeps the last."""
    if not line.startswith(b"{") or line == b"{}":
        return line
    key = rng.choice([b"id", b"object", b"created_at", b"usage", b"data", b"event",
                      b"metadata", b"status"])
    value = rng.choice([b"5", b'"x"', b"null", b"{}", b"[1]", b'"thread.run.step"'])
    return b'{"' + key + b'":' + value + b"," + line[1:] if rng.random() < 0.5 else (
        line[:-1] + b',"' + key + b'":' + value + b"}")


MUTATIONS = [
    lambda b, r: b.replace(b"}", b",}", 1),                    # trailing comma
    lambda b, r: b.replace(b":null", b":NaN", 1),              # not JSON for orjson
    lambda b, r: b.replace(b":null", b":Infinity", 1),
    lambda b, r: b.replace(b":null", b":1e400", 1),            # infinite number
    lambda b, r: b.replace(b":null", b":" + b"9" * 320, 1),    # infinite without exponent
    lambda b, r: b.replace(b":null", b":1e309 ", 1),
    lambda b, r: b.replace(b":null", b":12345678901234567890123", 1),
    lambda b, r: b.replace(b":null", b":1e100", 1),            # finite, but a batch check
    lambda b, r: b.replace(b":null", b":-2.5E-300 ", 1),       # sends it careful: kept

    lambda b, r: b.replace(b'"', b'"\xff', 1),                 # invalid UTF-8
    lambda b, r: b.replace(b'"', b'"\xed\xa0\x80', 1),         # an encoded surrogate
    lambda b, r: b.replace(b'"id"', b'"\\u0069d"', 1),         # an escaped key
    lambda b, r: b.replace(b'"', b'"\\ud800', 1),              # a lone surrogate escape
    lambda b, r: b.replace(b":null", b":" + b"[" * 1030 + b"]" * 1030, 1),  # too deep
    lambda b, r: b.replace(b":null", b":" + b"[" * 500 + b"]" * 500, 1),
    lambda b, r: b"\x0c" + b + b"\x0b",                        # whitespace orjson refuses
    lambda b, r: b" \t" + b + b"\r",
    lambda b, r: b[: r.randrange(len(b) + 1)],                 # truncated
    lambda b, r: b.replace(b":", b": ", 3).replace(b",", b", ", 3),
    _duplicate_key,
]


def mutate(line: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.5:
        return line
    if roll < 0.9:
        return rng.choice(MUTATIONS)(line, rng)
    out = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out).replace(b"\n", b" ")


def serialize(value: object, rng: random.Random) -> bytes:
    if rng.random() < 0.7:
        try:
            return orjson.dumps(value)
        except TypeError:  # an integer beyond 64 bits
            pass
    return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()  # spaces, \u escapes


@FUZZ
@given(st.lists(values(), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_fast_path_equals_careful_path_on_generated_lines(items, rng):
    lines = [(n, mutate(serialize(v, rng), rng)) for n, v in enumerate(items, 1)]
    if rng.random() < 0.2:
        lines.append((len(lines) + 1, b""))
    assert_same(parse_lines("/x/f.jsonl", lines), parse_lines("/x/f.jsonl", lines, careful=True))
    # and through the batch reader, whose checks run on the joined bytes
    data = b"\n".join(raw for _, raw in lines) + b"\n"
    assert_same(parse_block("/x/f.jsonl", 1, data),
                parse_lines("/x/f.jsonl", list(enumerate(data.split(b"\n")[:-1], 1)),
                            careful=True))


@FUZZ
@given(st.lists(values(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_fast_path_equals_careful_path_on_sse_blocks(items, rng):
    blocks = []
    for value in items:
        if isinstance(value, dict) and "event" in value and "object" not in value:
            name = value["event"] if isinstance(value["event"], str) else "x"
            data = mutate(serialize(value["data"], rng), rng)
            blocks.append(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")
        else:
            data = mutate(serialize(value, rng), rng)
            if rng.random() < 0.3:  # pretty-printed over several data: lines
                data = b"\ndata: ".join(data.split(b","))
            blocks.append(b"data: " + data + b"\n\n")
        if rng.random() < 0.2:
            blocks.append(rng.choice([b": keep-alive\n\n", b"event: done\ndata: [DONE]\n\n",
                                      b"data: \n\n", b"event: thread.run.step.created\ndata:\n\n"]))
    lines = list(enumerate(b"".join(blocks).split(b"\n"), 1))
    events = list(sse_events(lines))
    assert_same(parse_events("/x/f.sse", events), parse_events("/x/f.sse", events, careful=True))


def test_fast_path_equals_careful_path_on_the_real_recordings():
    lines = []
    for path in real_files("*/*.jsonl"):
        lines += path.read_bytes().splitlines()
    numbered = list(enumerate(lines, 1))
    fast = parse_lines("f", numbered)
    assert_same(fast, parse_lines("f", numbered, careful=True))
    assert fast.step_records.height and fast.run_records.height and fast.delta_events.height


# ---- one test per decode shape: the fast path itself records it ------------------------

def fast_only(*lines: bytes, first: int = 1, source: str = "/x/f.jsonl") -> ParsedBatch:
    """Decode with the fast path; fail if it hands any line to the careful checker."""
    declined = assistants_fast.FastPath(source).lines(range(first, first + len(lines)), lines,
                                             set()).declined
    assert declined == [], [lines[p] for p in declined]
    batch = parse_lines(source, list(enumerate(lines, first)))
    assert batch.careful_read == 0, assistants_fast.suspects(list(lines))
    return batch


FULL_STEP = step(
    "completed", metadata={"b": "é", "a": "1"},
    usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
           "prompt_token_details": {"cached_tokens": 3},  # how the API spells it: wins
           "prompt_tokens_details": {"cached_tokens": 4},
           "completion_tokens_details": {"reasoning_tokens": 2}},
    last_error=None, expired_at=None,
    step_details={"type": "tool_calls", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": "{\"q\": 1}", "output": "ok"}},
        {"id": "call_2", "type": "code_interpreter", "code_interpreter": {
            "input": "print(1)", "outputs": [{"type": "logs", "logs": "ünï\n"},
                                             {"type": "image", "image": {"file_id": "f1"}},
                                             {"type": "logs", "logs": None}]}},
        {"id": "call_3", "type": "file_search", "file_search": {
            "results": [{"score": 0.25}, {"score": 1}, {"file_id": "x"}]}},
    ]})


def test_shape_step():
    batch = fast_only(orjson.dumps(FULL_STEP))
    row = batch.step_records.row(0, named=True)
    usage = FULL_STEP["usage"]
    assert (row["step_id"], row["status"], row["created_at"], row["completed_at"]) == (
        "step_A", "completed", T0, T0 + 4)
    assert (row["prompt_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (
        usage["prompt_tokens"], usage["prompt_token_details"]["cached_tokens"], 2)
    assert row["metadata"] == '{"a":"1","b":"é"}' and row["usage_present"] is True
    calls = batch.tool_call_records.rows(named=True)
    assert [c["tool_call_id"] for c in calls] == ["call_1", "call_2", "call_3"]
    assert calls[0]["function_arguments"] == '{"q": 1}' and calls[0]["function_output"] == "ok"
    assert (calls[1]["code_log_chars"], calls[1]["code_image_count"]) == (len("ünï\n"), 1)
    assert (calls[2]["file_search_result_count"], calls[2]["file_search_max_score"]) == (3, 1.0)


def test_shape_run():
    record = run("incomplete", incomplete_details={"reason": "max_prompt_tokens"},
                 last_error={"code": "x", "message": "y"}, expires_at=T0 + 600,
                 tools=[{"type": "function", "function": {"name": "n", "parameters": {}}}])
    row = fast_only(orjson.dumps(record)).run_records.row(0, named=True)
    assert (row["run_id"], row["model"], row["status"], row["incomplete_reason"]) == (
        "run_A", "gpt-4o", "incomplete", "max_prompt_tokens")
    assert (row["last_error_code"], row["expires_at"], row["usage_present"]) == ("x", T0 + 600,
                                                                              False)


def test_shape_delta():
    record = delta({"index": 2, "id": "call_9", "type": "code_interpreter",
                    "code_interpreter": {"input": "pr", "outputs": [
                        {"index": 1, "type": "logs", "logs": "a"}]}},
                   {"type": "function", "function": {"arguments": "{\""}},
                   message_creation={"message_id": "msg_1"})
    batch = fast_only(orjson.dumps(record))
    assert batch.delta_events.select("step_id", "step_type", "message_id").rows() == [
        ("step_A", "tool_calls", "msg_1")]
    assert batch.delta_calls.select("pos", "call_index", "tool_call_id",
                                    "function_arguments").rows() == [
        (0, 2, "call_9", None), (1, 1, None, "{\"")]
    assert batch.delta_outputs.select("call_index", "output_index", "logs").rows() == [(2, 1, "a")]


def test_shape_list_page():
    page = {"object": "list", "data": [FULL_STEP, run(), {"object": "thread.message"}],
            "first_id": "step_A", "has_more": False}
    batch = fast_only(orjson.dumps(page))
    assert batch.step_records["rec_item"].to_list() == [0]
    assert batch.run_records["rec_item"].to_list() == [1]
    assert batch.skipped.select("line_no", "shape").rows() == [(1, "thread.message")]
    assert batch.records_read == 3
    empty = fast_only(b'{"object":"list","data":[]}')
    assert empty.skipped["shape"].to_list() == ["empty_list"] and empty.records_read == 1


def test_shape_stream_envelope():
    lines = [orjson.dumps({"event": "thread.run.step.completed", "data": FULL_STEP}),
             orjson.dumps({"event": "thread.run.completed",
                           "data": {k: v for k, v in run().items() if k != "object"}}),
             orjson.dumps({"event": "thread.message.delta", "data": {"object": "x"}}),
             orjson.dumps({"event": "done", "data": "[DONE]"})]
    batch = fast_only(*lines)
    assert batch.step_records["step_id"].to_list() == ["step_A"]
    assert batch.run_records["run_id"].to_list() == ["run_A"]  # kind from the event name
    assert batch.skipped["shape"].to_list() == ["thread.message.delta", "done"]


def test_shape_sse_block():
    text = (b"event: thread.run.step.completed\ndata: " + orjson.dumps(FULL_STEP) + b"\n\n"
            b"event: thread.run.step.delta\ndata: " + orjson.dumps(delta())[:-1]
            + b"\ndata: }\n\n")
    events = list(sse_events(enumerate(text.split(b"\n"), 1)))
    assert assistants_fast.FastPath("/x/f.sse").events(
        *zip(*events, strict=True), set()).declined == []
    batch = parse_events("/x/f.sse", events)
    assert batch.careful_read == 0
    assert batch.step_records["rec_line"].to_list() == [2]
    assert batch.delta_events["rec_line"].to_list() == [5]


def test_shape_bare_event():
    # bare stream objects (no envelope), as in data/sample/bare_events.ndjson, and an SSE
    # block without `event:` (its data is read as a line)
    lines = [orjson.dumps(delta(step_id="step_B")),
             orjson.dumps({"id": "msg_1", "object": "thread.message.delta", "delta": {
                 "content": [{"index": 0, "type": "text", "text": {"value": "hi"}}]}})]
    batch = fast_only(*lines)
    assert batch.delta_events["step_id"].to_list() == ["step_B"]
    assert batch.skipped["shape"].to_list() == ["thread.message.delta"]
    assert fast_only(orjson.dumps(run()), first=3, source="/x/f.sse").run_records[
        "rec_line"].to_list() == [3]


@pytest.mark.parametrize("line", [
    b'{"object":"thread.run.step","id":"s","created_at":1,"created_at":"x"}',  # last wins
    b'{"object":"thread.run.step","id":"s","metadata":{"a":1e400}}',
    b'{"object":"thread.run.step","id":"s","tools":[1,]}',
    b'{"object":"thread.run.step","id":"s","x":NaN}',
    b'{"object":"thread.run.step","id":"s","x":"\xff"}',
    b'{"object":"thread.run.step","id":"s","created_at":true}',
    b'{"object":"thread.run.step","id":"s","usage":{"total_tokens":1.0}}',
    b'{"object":"thread.run.step","id":"s","metadata":[]}',
    b'{"object":"thread.run.step","id":null}',
    b'{"object":"list","data":[{"object":"list","data":[]}]}',
])
def test_the_fast_path_leaves_what_it_cannot_judge_to_the_careful_checker(line):
    suspect = assistants_fast.suspects([line])
    taken = not assistants_fast.FastPath("f").lines([1], [line], set()).declined and not suspect
    assert not taken
    assert parse_lines("f", [(1, line)]).careful_read == 1
    assert_same(parse_lines("f", [(1, line)]), parse_lines("f", [(1, line)], careful=True))


def test_lines_the_fast_path_declines_late_keep_their_place():
    """A record can be declined after its line was dispatched (a metadata orjson cannot
    write back): its whole line (every item of its page) goes careful, the rest stays
    fast, and the frames interleave both in line order."""
    deep = b'{"object":"thread.run","id":"run_deep","metadata":' + b'{"a":' * 300 + b"1" + (
        b"}" * 301)  # orjson reads it, but writes at most 255 levels
    page = b'{"object":"list","data":[' + orjson.dumps(run(id="run_ok")) + b"," + deep + b"]}"
    finite = orjson.dumps(step("completed", id="step_B")).replace(
        b'"usage":null', b'"usage":null,"x":1e100')
    assert b"1e100" in finite
    lines = [orjson.dumps(step(id="step_A")), page, finite, orjson.dumps(step(id="step_C"))]
    declined = assistants_fast.FastPath("f").lines(range(1, 5), lines,
                                                   assistants_fast.suspects(lines)).declined
    assert declined == [1, 2]  # the flagged line (never decoded), the page (late)
    fast = parse_lines("f", list(enumerate(lines, 1)))
    assert fast.careful_read == 2
    assert_same(fast, parse_lines("f", list(enumerate(lines, 1)), careful=True))
    assert fast.step_records.select("rec_line", "step_id").rows() == [
        (1, "step_A"), (3, "step_B"), (4, "step_C")]
    assert fast.rejects["line_no"].to_list() == [2]  # the deep metadata, as careful says
