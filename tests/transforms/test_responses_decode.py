"""The Responses fast path (transforms/responses/fast.py, `Decoder.fast_*`) against the
careful checker (`Decoder.careful`, `spec.why`): one rulebook, identical frames.

Property tests feed both the same valid, mistyped, mutated and fuzzed Responses records
(response objects, every kind of stream event, output items, request bodies, pages,
envelopes), as JSON lines and as raw SSE blocks, mixed with Assistants records, and
require identical frames, reject reasons and counts. The shape tests check that the
fast path itself (not the fallback) recorded each shape, with values read here from
the JSON in plain Python.
"""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from steplens.transforms.assistants import fast as assistants_fast
from steplens.transforms.parse import ParsedBatch, parse_block, parse_events, parse_lines
from steplens.transforms.rulebook import MAX_TS
from steplens.transforms.sse import sse_events
from tests.support.builders import (
    R0,
    event,
    function_call,
    function_call_output,
    message,
    request,
    response,
    run,
    sse,
    stream,
    usage,
)
from tests.support.paths import REAL_RESPONSES
from tests.transforms.test_decode import (
    FUZZ,
    assert_same,
    json_value,
    maybe,
    mutate,
    serialize,
)

ints = st.one_of(st.integers(0, 10**6), st.integers(-(2**64), 2**64),
                 st.sampled_from([-1, -5, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1]))
stamps = st.one_of(st.integers(R0 - 10**6, R0 + 10**6), st.integers(-5, MAX_TS + 5),
                   st.floats(R0 - 10.0, R0 + 10.0), st.floats(-1.0, MAX_TS + 1.0),
                   st.booleans())
strs = st.one_of(st.sampled_from(["completed", "in_progress", "failed", "queued", "incomplete",
                                  "function_call", "message", "mcp_call", "logs", "image",
                                  "resp_A", "resp_B", "call_A", "é", "\u2028"]),
                 st.text(max_size=8))
ids = st.sampled_from(["resp_A", "resp_B", "resp_C", "", "resp\x00", "r\x1b", "r\x9f",
                      "resp_A\n"])
scores = st.one_of(st.floats(allow_nan=False, allow_infinity=False), ints)

ITEM_TYPES = ["message", "reasoning", "function_call", "custom_tool_call", "mcp_call",
              "code_interpreter_call", "file_search_call", "web_search_call", "computer_call",
              "function_call_output", "local_shell_call_output", "mcp_list_tools"]
EVENT_TYPES = ["response.created", "response.in_progress", "response.completed",
               "response.queued", "response.failed", "response.incomplete",
               "response.output_item.added", "response.output_item.done",
               "response.function_call_arguments.delta", "response.function_call_arguments.done",
               "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
               "response.code_interpreter_call_code.delta", "response.mcp_call_arguments.done",
               "response.web_search_call.searching", "response.mcp_call.failed",
               "response.output_text.delta", "response.reasoning_summary_text.delta", "error"]


def _strategies(m):
    """The Responses shapes with each field drawn by `m(right)` (`right` alone: valid)."""
    item = st.fixed_dictionaries({"type": m(st.sampled_from(ITEM_TYPES))}, optional={
        "id": m(st.sampled_from(["it_1", "it_2", "call_L", "msg_A"])), "status": m(strs),
        "call_id": m(st.sampled_from(["call_A", "call_B"])), "name": m(strs),
        "code": m(strs), "arguments": json_value, "input": json_value, "output": json_value,
        "error": json_value, "phase": m(st.one_of(st.sampled_from(["commentary",
                                                                  "final_answer"]), strs)),
        "outputs": m(st.lists(m(st.fixed_dictionaries({}, optional={
            "type": m(st.sampled_from(["logs", "image"])), "logs": m(strs)})),
            max_size=3)),
        "results": m(st.lists(m(st.fixed_dictionaries({}, optional={
            "score": m(scores)})), max_size=4)),
        "extra": json_value,
    })
    usage_object = st.fixed_dictionaries({}, optional={
        "input_tokens": m(ints), "output_tokens": m(ints), "total_tokens": m(ints),
        "input_tokens_details": m(st.fixed_dictionaries({}, optional={
            "cached_tokens": m(ints), "cache_write_tokens": ints})),
        "output_tokens_details": m(st.fixed_dictionaries({}, optional={
            "reasoning_tokens": m(ints)})),
    })
    response_object = st.fixed_dictionaries({"object": st.just("response")}, optional={
        "id": m(ids), "created_at": m(stamps), "completed_at": m(stamps),
        "status": m(strs), "model": m(strs), "previous_response_id": m(ids),
        "error": m(st.fixed_dictionaries({}, optional={"code": m(strs), "message": m(strs)})),
        "incomplete_details": m(st.fixed_dictionaries({}, optional={"reason": m(strs)})),
        "metadata": m(st.dictionaries(st.text(max_size=4), json_value, max_size=3)),
        "prompt": m(st.fixed_dictionaries({}, optional={"id": m(strs)})),
        "conversation": m(st.one_of(strs, st.fixed_dictionaries(
            {}, optional={"id": m(strs)}))),
        "usage": m(usage_object),
        "output": m(st.lists(m(item), max_size=3)),
        # the configuration columns (docs/views.md, "Assistant versions"): read, never checked
        "tools": m(st.lists(m(st.fixed_dictionaries({"type": m(st.sampled_from(
            ["function", "mcp", "web_search", "custom"]))}, optional={
                "name": m(strs), "server_label": m(strs)})), max_size=3)),
        "instructions": m(st.one_of(strs, st.lists(json_value, max_size=2))),
        "temperature": m(st.one_of(st.floats(0, 2), ints)),
        "top_p": m(st.floats(0, 1)),
        "text": m(st.fixed_dictionaries({}, optional={"format": m(st.fixed_dictionaries(
            {"type": m(st.sampled_from(["text", "json_schema", "json_object"]))},
            optional={"name": m(strs)}))})),
        "reasoning": m(st.fixed_dictionaries({}, optional={"effort": m(strs)})),
    })
    stream_event = st.fixed_dictionaries({"type": st.sampled_from(EVENT_TYPES)}, optional={
        "sequence_number": m(ints), "output_index": m(ints),
        "item_id": m(st.sampled_from(["it_1", "it_2", "msg_A"])),
        "response": m(response_object), "item": m(item), "delta": m(strs),
        "arguments": m(strs), "input": m(strs), "code": m(strs),
        "message": m(strs), "logprobs": json_value,
    })
    output_item = st.fixed_dictionaries({"type": st.sampled_from(
        ["function_call_output", "custom_tool_call_output", "local_shell_call_output",
         "message", "function_call"])}, optional={
        "call_id": m(st.sampled_from(["call_A", "call_B"])), "id": m(strs),
        "output": json_value, "status": m(strs)})
    request_body = st.fixed_dictionaries({"model": strs}, optional={
        "input": m(st.one_of(strs, st.lists(st.one_of(
            output_item, output_item, st.fixed_dictionaries({"role": strs, "content": strs}),
            m(output_item)), max_size=4))),
        "previous_response_id": m(ids)})
    return response_object, stream_event, output_item, request_body


def _right(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(strategy, strategy, strategy, strategy, st.none())


VALID = _strategies(_right)
LOOSE = _strategies(maybe)
response_object, stream_event, output_item, request_body = (
    st.one_of(v, v, lo) for v, lo in zip(VALID, LOOSE, strict=True))
conversation = st.fixed_dictionaries({"object": st.just("conversation")}, optional={
    "id": json_value, "metadata": json_value})
records = st.one_of(response_object, stream_event, stream_event, stream_event, output_item,
                    request_body, conversation,
                    st.fixed_dictionaries({"object": st.just("thread.run")}, optional={
                        "id": maybe(st.just("run_A")), "status": maybe(strs)}))


def _corpus() -> list[dict]:
    """Valid records to start from: the builders' streams, and real recorded lines."""
    fs = {"id": "fs_1", "type": "file_search_call", "status": "completed", "queries": ["q"],
          "results": [{"score": 0.1}, {"score": 2}, {"file_id": "f"}, {"score": 0.9375}]}
    ci = {"id": "ci_1", "type": "code_interpreter_call", "status": "completed", "code": "1",
          "outputs": [{"type": "logs", "logs": "é\n"}, {"type": "image", "url": "u"}]}
    built = [*stream(response(), function_call(), message(), cut=True),
             response("completed", fs, ci, created_at=R0 + 0.5),
             event("response.output_item.done", 7, output_index=0, item=fs),
             *stream(response(id="resp_B", usage=usage(cached=30)), message(id="msg_B")),
             request(function_call_output()), response("queued")]
    real = [orjson.loads(x) for path in sorted(REAL_RESPONSES.glob("*/*.jsonl"))[:12]
            for x in path.read_bytes().splitlines()[:25]]
    return built + real


CORPUS = _corpus()


@st.composite
def values(draw) -> object:
    """A Responses record, an envelope around one, a page of them, or odd JSON."""
    kind = draw(st.integers(0, 11))
    if kind >= 10:
        return draw(st.sampled_from(CORPUS))
    if kind <= 5:
        return draw(records)
    if kind == 6:
        return {"event": draw(st.one_of(st.sampled_from(EVENT_TYPES), json_value)),
                "data": draw(st.one_of(records, json_value))}
    if kind <= 8:
        items = draw(st.lists(st.one_of(output_item, output_item, response_object, records,
                                        json_value), max_size=4))
        return {"object": "list", "data": items, "has_more": False}
    return draw(json_value)


# Item events are only recorded after a lifecycle event of their file: most generated
# lists start with one.
START = event("response.created", 0, response=response("in_progress"))


@st.composite
def value_lists(draw, max_size: int) -> list:
    items = draw(st.lists(values(), min_size=1, max_size=max_size))
    return [START, *items] if draw(st.integers(0, 3)) else items


@FUZZ
@given(value_lists(12), st.randoms(use_true_random=False))
def test_fast_path_equals_careful_path_on_generated_lines(items, rng):
    lines = [(n, mutate(serialize(v, rng), rng)) for n, v in enumerate(items, 1)]
    assert_same(parse_lines("/x/f.jsonl", lines), parse_lines("/x/f.jsonl", lines, careful=True))
    data = b"\n".join(raw for _, raw in lines) + b"\n"
    assert_same(parse_block("/x/f.jsonl", 1, data),
                parse_lines("/x/f.jsonl", list(enumerate(data.split(b"\n")[:-1], 1)),
                            careful=True))


@FUZZ
@given(value_lists(8), st.randoms(use_true_random=False))
def test_fast_path_equals_careful_path_on_sse_blocks(items, rng):
    blocks = []
    for value in items:
        data = mutate(serialize(value, rng), rng)
        name = value.get("type") if isinstance(value, dict) else None
        if isinstance(name, str) and rng.random() < 0.8:
            if rng.random() < 0.2:
                name = "thread.message.delta"  # the data's type is the truth, not the name
            blocks.append(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")
        else:
            blocks.append(b"data: " + data + b"\n\n")
    lines = list(enumerate(b"".join(blocks).split(b"\n"), 1))
    events = list(sse_events(lines))
    assert_same(parse_events("/x/f.sse", events), parse_events("/x/f.sse", events, careful=True))


def _real_lines() -> list[bytes]:
    return [line for path in sorted(REAL_RESPONSES.glob("*/*.jsonl"))
            for line in path.read_bytes().splitlines()]


def test_fast_path_equals_careful_path_on_the_real_recordings():
    numbered = list(enumerate(_real_lines(), 1))
    fast = parse_lines("f", numbered)
    assert_same(fast, parse_lines("f", numbered, careful=True))
    assert fast.response_records.height and fast.response_items.height
    assert fast.response_events.height and fast.response_outputs.height
    for path in sorted(REAL_RESPONSES.glob("*/stream.sse")):
        events = list(sse_events(enumerate(path.read_bytes().split(b"\n"), 1)))
        assert_same(parse_events(str(path), events),
                    parse_events(str(path), events, careful=True))


def _recorded_phases(path) -> dict[str, set]:
    """Plain Python: per item id, the `phase` values (None: absent or null) of the message
    items of a recorded file's responses, lifecycle events and output_item events; request
    inputs and page items are not steps."""
    found: dict[str, set] = {}

    def seen(items) -> None:
        for item in items or ():
            if isinstance(item, dict) and item.get("type") == "message":
                found.setdefault(item.get("id"), set()).add(item.get("phase"))

    for line in path.read_bytes().splitlines():
        rec = orjson.loads(line)
        if isinstance(rec, dict) and "event" in rec and "object" not in rec:
            rec = rec.get("data")  # an SSE envelope written as a JSON line
        if not isinstance(rec, dict):
            continue
        if rec.get("object") == "response":
            seen(rec.get("output"))
        elif isinstance(rec.get("response"), dict):
            seen(rec["response"].get("output"))
        elif rec.get("type") in ("response.output_item.added", "response.output_item.done"):
            seen([rec.get("item")])
    return found


@pytest.mark.parametrize("careful", [False, True], ids=["fast", "careful"])
def test_steps_phase_is_the_recorded_phase(careful):
    """`steps.phase` of every message step of the real recordings is the `phase` its item
    was recorded with (issue 21), read by either path."""
    from steplens.transforms.tables import build_tables

    expected: dict[str, set] = {}
    batches = []
    for path in sorted(REAL_RESPONSES.glob("*/*.jsonl")):
        for item_id, phases in _recorded_phases(path).items():
            expected.setdefault(item_id, set()).update(phases)
        lines = list(enumerate(path.read_bytes().splitlines(), 1))
        batches.append(parse_lines(str(path), lines, careful=careful))
    steps = build_tables(ParsedBatch.concat(batches)).steps
    messages = {r["step_id"]: r["phase"] for r in steps.filter(
        (pl.col("api") == "responses") & (pl.col("type") == "message")).iter_rows(named=True)}
    assert messages.keys() == expected.keys()
    assert all(len(p) == 1 for p in expected.values())  # one phase per item in these files
    assert messages == {k: next(iter(p)) for k, p in expected.items()}
    assert sorted(p for p in messages.values() if p) == [  # 4 items carry one
        "commentary", "final_answer", "final_answer", "final_answer"]
    assert steps.filter(pl.col("type") != "message")["phase"].null_count() == (
        steps.filter(pl.col("type") != "message").height)


def test_the_real_recordings_take_the_fast_path():
    """Every real line is recorded by a fast path, none by the careful checker, but for
    the lines the batch checks send there by design (`assistants_fast.suspects`: a digit run too
    long for a number both paths read alike, say)."""
    lines = _real_lines()
    plain = [(n, raw) for n, raw in enumerate(lines, 1) if not assistants_fast.suspects([raw])]
    assert len(plain) > len(lines) / 2
    assert parse_lines("f", plain).careful_read == 0, [  # which ones, only on a failure
        raw[:200] for n, raw in plain if parse_lines("f", [(n, raw)]).careful_read]


# ---- one test per shape: the fast path itself records it ---------------------------------


def fast_only(*lines: bytes) -> ParsedBatch:
    """Decode with the Responses fast path; fail if it declines any line."""
    batch = parse_lines("/x/f.jsonl", list(enumerate(lines, 1)))
    assert batch.careful_read == 0, batch.rejects
    return batch


def test_shape_response():
    rec = response("incomplete", message(status="incomplete"),
                   {"id": "ci_1", "type": "code_interpreter_call", "status": "completed",
                    "code": "x", "outputs": [{"type": "logs", "logs": "ab"},
                                             {"type": "image", "url": "u"}]},
                   created_at=R0 + 0.25, metadata={"b": 1, "a": "é"},
                   usage=usage(70, 30, cached=40, reasoning=8), prompt={"id": "pmpt_1"},
                   conversation="conv_1", incomplete_details={"reason": "max_output_tokens"})
    batch = fast_only(orjson.dumps(rec))
    row = batch.response_records.row(0, named=True)
    assert (row["response_id"], row["status"], row["created_us"], row["completed_us"]) == (
        "resp_A", "incomplete", R0 * 1_000_000 + 250_000, (R0 + 3) * 1_000_000)
    assert (row["prompt_id"], row["conversation_id"], row["incomplete_reason"]) == (
        "pmpt_1", "conv_1", "max_output_tokens")
    assert (row["prompt_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (70, 40, 8)
    assert row["metadata"] == '{"a":"é","b":1}' and row["is_event"] is False
    assert row["canon_size"] == len(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS))
    items = batch.response_items.rows(named=True)
    assert [(i["item_index"], i["type"]) for i in items] == [
        (0, "message"), (1, "code_interpreter_call")]
    assert (items[1]["code_log_chars"], items[1]["code_image_count"]) == (2, 1)
    assert [i["phase"] for i in items] == [None, None]


def test_shape_phase_of_a_message_in_a_response_and_in_item_events():
    said = {**message(), "phase": "commentary"}
    batch = fast_only(orjson.dumps(response("completed", said,
                                            {**message("msg_B"), "phase": "final_answer"})),
                      *[orjson.dumps(e) for e in stream(response(id="resp_B"), said)])
    items = batch.response_items.rows(named=True)
    assert [(i["response_id"], i["item_index"], i["phase"]) for i in items] == [
        ("resp_A", 0, "commentary"), ("resp_A", 1, "final_answer"),
        *[("resp_B", i, "commentary") for i in (-1, -1, 0)]]


def test_generated_message_with_phase_is_valid_for_the_sdk_and_read_by_both_paths():
    """The SDK (openai 3.57.0) declares `phase` on output messages; a generated item with
    each value validates, and both paths read it; a value the SDK does not list is still a
    string, kept as sent (the rulebook checks types only)."""
    from openai.types.responses import ResponseOutputMessage

    from tests.support.sdk_validation import known_rejection, responses_errors

    assert "phase" in ResponseOutputMessage.model_fields
    items = [{**message(f"msg_{i}"), "phase": p}
             for i, p in enumerate(("commentary", "final_answer", None))]
    for item in items:
        ResponseOutputMessage.model_validate(item)
    record = response("completed", *items)
    assert all(known_rejection(e) for e in responses_errors("Response", record))
    with pytest.raises(ValueError):
        ResponseOutputMessage.model_validate({**message(), "phase": "later"})
    lines = [(1, orjson.dumps(record)),
             (2, orjson.dumps(response("completed", {**message(), "phase": "later"},
                                       id="resp_B")))]
    for careful in (False, True):
        got = parse_lines("/x/f.jsonl", lines, careful=careful).response_items
        assert got["phase"].to_list() == ["commentary", "final_answer", None, "later"]


def test_a_cut_stream_replays_the_phase_of_its_item_events():
    """A stream cut before its terminal event: its steps are the items of its events
    (replayed), each with the `phase` its last event gave it."""
    from steplens.transforms.tables import build_tables

    events = stream(response(), {**message(), "phase": "commentary"},
                    {**message("msg_B"), "phase": "final_answer"}, cut=True)
    for careful in (False, True):
        batch = parse_lines("/x/f.jsonl", [(n, orjson.dumps(e)) for n, e in
                                           enumerate(events, 1)], careful=careful)
        steps = build_tables(batch).steps
        assert steps.select("step_id", "status", "phase").rows() == [
            ("msg_A", "completed", "commentary"), ("msg_B", "in_progress", "final_answer")]


@pytest.mark.parametrize("careful", [False, True], ids=["fast", "careful"])
def test_a_phase_that_is_not_a_string_is_rejected_like_a_status(careful):
    lines = [orjson.dumps(response("completed", {**message(), "phase": 1})),
             orjson.dumps(event("response.output_item.done", 3, output_index=0,
                                item={**message(), "phase": ["final_answer"]})),
             orjson.dumps(response("completed", {**message(), "status": 1}))]
    batch = parse_lines("/x/f.jsonl", list(enumerate(lines, 1)), careful=careful)
    assert batch.rejects["reason"].to_list() == [
        "output[0].phase: expected string, got integer",
        "item.phase: expected string, got array",
        "output[0].status: expected string, got integer"]


def test_shape_stream_events():
    events = stream(response(), cut=True)[:2] + [event(
        "response.output_item.added", 2, output_index=0,
        item=function_call(arguments={"city": "Paris"}))]
    batch = fast_only(*[orjson.dumps(e) for e in events],
                      orjson.dumps(event("error", 9, code="server_error", message="m")))
    assert batch.response_records["seq"].to_list() == [0, 1]
    assert batch.response_records["pos"].to_list() == [0, 1]
    rows = batch.response_events.rows(named=True)
    assert [(r["type"], r["seq"], r["pos"]) for r in rows] == [
        ("response.output_item.added", 2, 2), ("error", 9, 3)]
    assert (rows[1]["error_code"], rows[1]["error_message"]) == ("server_error", "m")
    (it,) = batch.response_items.rows(named=True)
    assert (it["item_index"], it["arguments"], it["arguments_is_text"]) == (
        -1, '{"city":"Paris"}', False)


def test_shape_outputs_requests_and_pages():
    page = {"object": "list", "data": [message(id="msg_U"),
                                       function_call_output("call_B", {"t": 1}, id="fco_1")]}
    body = request(function_call_output(output="sunny", status="failed"),
                   {"role": "user", "content": "hi"})
    batch = fast_only(orjson.dumps(body), orjson.dumps(page),
                      orjson.dumps(request(input="just text")),
                      orjson.dumps({"object": "conversation", "id": "conv_1"}))
    rows = batch.response_outputs.rows(named=True)
    assert [(r["call_key"], r["output_canon"], r["failed"], r["rec_item"]) for r in rows] == [
        ("call_A", b'"sunny"', True, -1), ("call_B", b'{"t":1}', False, 1)]
    assert batch.skipped["shape"].to_list() == ["item:message", "request", "conversation"]
    assert batch.records_read == 5


def test_shape_sse_block():
    text = sse(stream(response(), message()))
    events = list(sse_events(enumerate(text.encode().split(b"\n"), 1)))
    batch = parse_events("/x/f.sse", events)
    assert batch.careful_read == 0
    assert batch.response_records["rec_line"].to_list() == [2, 5, 14]


@pytest.mark.parametrize("line", [
    orjson.dumps(response(id=None)),
    orjson.dumps(response(created_at=True)),
    orjson.dumps(response(metadata=[])),
    orjson.dumps(response(usage={"input_tokens": 1.0})),
    orjson.dumps(event("response.created", 0, response=None)),
    orjson.dumps(event("response.output_item.added", 0, item="x")),
    orjson.dumps(request(function_call_output(call_id=5))),
    orjson.dumps({"object": "list", "data": [run(), function_call_output()]}),
    orjson.dumps({"event": "response.created", "data": event("response.created",
                                                            response=response())}),
])
def test_the_fast_path_leaves_what_it_cannot_judge_to_the_careful_checker(line):
    assert parse_lines("f", [(1, line)]).careful_read == 1
    assert_same(parse_lines("f", [(1, line)]), parse_lines("f", [(1, line)], careful=True))


@pytest.mark.parametrize(("line", "field", "problem"), [
    (orjson.dumps(response("completed", message(id="msg\x1bX"))), "output[0].id",
     "control character U+001B"),
    (orjson.dumps(response("completed", function_call(call_id=""))), "output[0].call_id",
     "empty string"),
    (orjson.dumps(function_call_output(call_id="call\x00")), "call_id",
     "control character U+0000"),
    (orjson.dumps(request(function_call_output(id="\x85"))), "input[0].id",
     "control character U+0085"),
])
def test_an_item_or_call_id_that_cannot_be_an_id_is_a_reject_naming_it(line, field, problem):
    """Item and call ids may be absent (null), but a present one is an id: non-empty, no
    control character (as the Assistants ids), on both paths."""
    fast, careful = parse_lines("f", [(1, line)]), parse_lines("f", [(1, line)], careful=True)
    assert_same(fast, careful)
    (reason,) = fast.rejects["reason"].to_list()
    assert reason == f"{field}: invalid id ({problem})"
