"""Micro-tests of the Responses oracle itself (tests/support/responses_oracle.py): one rule
of its docstring each (R1..R18), on inline inputs of one to a few lines, with the expected
values worked out by hand."""

from __future__ import annotations

import datetime as dt
import itertools

import orjson
import pytest

from tests.support import responses_oracle as ro
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
    step,
    stream,
    usage,
)


def write(path, *lines):
    path.write_bytes(b"".join(
        (x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


def compute(tmp_path, *lines, name="in.jsonl"):
    return ro.compute([write(tmp_path / name, *lines)])


def utc(seconds):
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)


def one_run(result):
    (row,) = result.runs
    return row


def balanced(result):
    c = result.counts
    assert c["records_read"] == c["kept"] + c["superseded"] + c["rejected"] + c["skipped"]
    t = result.total_counts
    assert t["records_read"] == t["kept"] + t["superseded"] + t["rejected"] + t["skipped"]
    return c


# --------------------------------------------------------------------------- shapes R1-R5


def test_r1_a_response_object_is_one_run_and_a_conversation_is_skipped(tmp_path):
    conv = {"id": "conv_A", "object": "conversation", "created_at": R0, "metadata": {}}
    result = compute(tmp_path, response(), conv)
    assert [r["run_id"] for r in result.runs] == ["resp_A"]
    assert result.skipped_by_shape == {"conversation": 1}
    assert balanced(result) == {"records_read": 2, "kept": 1, "superseded": 0, "rejected": 0,
                                "skipped": 1}


@pytest.mark.parametrize("form", ["jsonl", "sse", "envelope"])
def test_r2_stream_events_in_every_form_give_the_same_run(tmp_path, form):
    events = stream(response(), message())
    path = tmp_path / ("in.sse" if form == "sse" else "in.jsonl")
    if form == "sse":
        path.write_text(sse(events))
    elif form == "jsonl":
        write(path, *events)
    else:  # an {"event", "data"} envelope whose name disagrees: the data's type is the truth
        write(path, *[{"event": "thread.message.delta", "data": e} for e in events])
    result = ro.compute([path])
    assert one_run(result)["status"] == "completed"
    assert [s["step_id"] for s in result.steps] == ["msg_A"]
    assert result.assistants.counts["records_read"] == 0
    assert balanced(result)["records_read"] == len(events)


def test_r3_items_of_a_conversation_page_feed_outputs_and_others_are_skipped(tmp_path):
    page = {"object": "list", "data": [message(id="msg_U"), function_call(),
                                       function_call_output(output="12 C", id="fco_1")],
            "first_id": "msg_U", "last_id": "fco_1", "has_more": False}
    result = compute(tmp_path, response("completed", function_call()), page)
    (call,) = result.tool_calls
    assert call["function_output"] == "12 C"
    assert result.skipped_by_shape == {"item:function_call": 1, "item:message": 1}
    # the response, the output item: kept; two items: skipped
    assert balanced(result) == {"records_read": 4, "kept": 2, "superseded": 0, "rejected": 0,
                                "skipped": 2}


def test_r3_an_output_item_without_a_call_id_is_skipped(tmp_path):
    result = compute(tmp_path, {"type": "function_call_output", "output": "x"})
    assert result.skipped_by_shape == {"item:function_call_output": 1}


def test_r3_local_shell_call_output_answers_by_its_id(tmp_path):
    call = {"id": "lsh_1", "type": "local_shell_call", "call_id": "call_L", "status": "completed",
            "action": {"type": "exec", "command": ["ls"], "env": {}}}
    out = {"id": "call_L", "type": "local_shell_call_output", "output": "a.txt"}
    result = compute(tmp_path, response("completed", call), request(out))
    (row,) = result.tool_calls
    assert (row["type"], row["function_output"]) == ("local_shell", "a.txt")


def test_r4_a_request_feeds_outputs_and_one_without_is_skipped(tmp_path):
    first = response("completed", function_call())
    plain = request({"role": "user", "content": "hi"})
    answer = request(function_call_output(output="sunny"), previous_response_id="resp_A")
    result = compute(tmp_path, first, plain, answer, request(input="just text"))
    assert result.tool_calls[0]["function_output"] == "sunny"
    assert result.skipped_by_shape == {"request": 2}
    assert balanced(result)["kept"] == 2


def test_r5_assistants_records_go_to_the_assistants_side(tmp_path):
    result = compute(tmp_path, response(), run(), step(), b"not json", {"object": "thread"},
                     {"object": "response.deleted", "id": "resp_Z", "deleted": True})
    assert [r["run_id"] for r in result.runs] == ["resp_A"]
    assert [r["run_id"] for r in result.assistants.runs] == ["run_A"]
    assert len(result.assistants.steps) == 1
    assert result.assistants.skipped_by_shape == {"response.deleted": 1, "thread": 1}
    assert [r["reason"] for r in result.assistants.rejects] == ["invalid JSON"]
    assert result.counts["records_read"] == 1
    assert balanced(result) and result.total_counts == {
        "records_read": 6, "kept": 3, "superseded": 0, "rejected": 1, "skipped": 2}


# --------------------------------------------------------------------------- rejects R6-R8


@pytest.mark.parametrize(("record", "reason"), [
    (response(id=None), "id: expected string, got null"),
    (response(id=7), "id: expected string, got integer"),
    (response(created_at="2026-01-01"),
     "created_at: expected number Unix seconds, got string"),
    (response(created_at=True), "created_at: expected number Unix seconds, got boolean"),
    (response(completed_at=-1),
     "completed_at: timestamp out of range (-1; must be 0..253402300799)"),
    (response(status=3), "status: expected string, got integer"),
    (response(previous_response_id=["resp_0"]),
     "previous_response_id: expected string, got array"),
    (response(error="boom"), "error: expected object, got string"),
    (response(error={"code": 500, "message": "x"}), "error.code: expected string, got integer"),
    (response(incomplete_details={"reason": 1}),
     "incomplete_details.reason: expected string, got integer"),
    (response(conversation=5), "conversation: expected string or object, got integer"),
    (response(conversation={"id": 5}), "conversation.id: expected string, got integer"),
    (response(prompt={"id": 1}), "prompt.id: expected string, got integer"),
    (response(metadata=[]), "metadata: expected object, got array"),
    (response(usage=dict(usage(), input_tokens="100")),
     "usage.input_tokens: expected integer, got string"),
    (response(usage=usage(output_tokens_details={"reasoning_tokens": 1.5})),
     "usage.output_tokens_details.reasoning_tokens: expected integer, got number"),
    (response(output={}), "output: expected array, got object"),
    (response("completed", "msg"), "output[0]: expected object, got string"),
    (response("completed", message(id=9)), "output[0].id: expected string, got integer"),
    (response("completed", {"id": "ci_1", "type": "code_interpreter_call", "outputs": [1]}),
     "output[0].outputs[0]: expected object, got integer"),
    (response("completed", {"id": "fs_1", "type": "file_search_call",
                            "results": [{"score": "high"}]}),
     "output[0].results[0].score: expected number, got string"),
])
def test_r6_response_type_checks(tmp_path, record, reason):
    result = compute(tmp_path, record, response(id="resp_ok"))
    assert [r["reason"] for r in result.rejects] == [reason]
    assert result.rejects[0]["line_no"] == 1
    assert result.rejects[0]["raw"] == orjson.dumps(record).decode()
    assert [r["run_id"] for r in result.runs] == ["resp_ok"]  # the rest still goes through


def test_r6_float_timestamps_as_the_sdk_writes_them_are_kept_to_the_microsecond(tmp_path):
    row = one_run(compute(tmp_path, response(created_at=R0 + 0.0, completed_at=R0 + 2.25)))
    assert row["created_at"] == utc(R0) and row["completed_at"] == utc(R0) + dt.timedelta(
        seconds=2.25)
    assert row["duration_s"] == 2.25


def test_r6_inside_a_list_page_the_reason_names_the_item(tmp_path):
    page = {"object": "list", "data": [response(id="resp_ok"), response(id=None)]}
    result = compute(tmp_path, page)
    assert [(r["line_no"], r["reason"]) for r in result.rejects] == [
        (1, "data[1]: id: expected string, got null")]


@pytest.mark.parametrize(("ev", "reason"), [
    (event("response.created", 0, response="resp_A"), "response: expected object, got string"),
    (event("response.created", 0, response=response(id=None)),
     "response.id: expected string, got null"),
    (event("response.completed", 0, response=response(usage={"total_tokens": "9"})),
     "response.usage.total_tokens: expected integer, got string"),
    (event("response.output_item.added", 0, output_index=0, item="x"),
     "item: expected object, got string"),
    (event("response.output_item.done", 0, output_index=0, item=message(status=1)),
     "item.status: expected string, got integer"),
    (event("response.output_text.delta", "3", item_id="msg_A", delta="x"),
     "sequence_number: expected integer, got string"),
    (event("response.function_call_arguments.delta", 0, item_id="fc_A", delta=1),
     "delta: expected string, got integer"),
    (event("response.function_call_arguments.done", 0, item_id="fc_A", arguments={}),
     "arguments: expected string, got object"),
    (event("error", 0, code=500, message="x"), "code: expected string, got integer"),
])
def test_r7_event_type_checks(tmp_path, ev, reason):
    result = compute(tmp_path, ev)
    assert [r["reason"] for r in result.rejects] == [reason]


@pytest.mark.parametrize(("body", "reason"), [
    (request(input=5), "input: expected string or array, got integer"),
    (request("hello"), "input[0]: expected object, got string"),
    (request(function_call_output(call_id=7)), "input[0].call_id: expected string, got integer"),
])
def test_r8_request_type_checks(tmp_path, body, reason):
    result = compute(tmp_path, body)
    assert [r["reason"] for r in result.rejects] == [reason]


def test_r8_output_item_type_checks(tmp_path):
    result = compute(tmp_path, function_call_output(call_id=["call_A"]))
    assert [r["reason"] for r in result.rejects] == ["call_id: expected string, got array"]


# --------------------------------------------------------------------------- streams R9-R11


def test_r9_events_before_any_lifecycle_event_are_skipped_under_their_type(tmp_path):
    events = stream(response(), message())
    lines = [event("error", code="server_error", message="boom"),
             event("response.output_text.delta", item_id="msg_A", delta="x"), *events]
    result = compute(tmp_path, *lines)
    assert result.skipped_by_shape == {"error": 1, "response.output_text.delta": 1}
    assert one_run(result)["last_error_code"] is None


def test_r9_item_events_follow_the_latest_lifecycle_event_of_their_file(tmp_path):
    a = stream(response(id="resp_A"), function_call(id="fc_A", call_id="call_A"), cut=True)
    b = stream(response(id="resp_B"), function_call(id="fc_B", call_id="call_B"), cut=True)
    result = compute(tmp_path, *a, *b)
    assert sorted((s["run_id"], s["step_id"]) for s in result.steps) == [
        ("resp_A", "fc_A"), ("resp_B", "fc_B")]


def test_r9_a_rejected_lifecycle_event_leaves_its_item_events_unattributed(tmp_path):
    good = stream(response(id="resp_A"), message(), cut=True)
    bad = [event("response.created", 0, response=response(id="resp_B", model=1)),
           event("response.output_item.added", 1, output_index=0, item=message(id="msg_B"))]
    result = compute(tmp_path, *good, *bad)
    assert [s["step_id"] for s in result.steps] == ["msg_A"]
    assert result.skipped_by_shape == {"response.output_item.added": 1}
    assert len(result.rejects) == 1


def test_r10_the_same_stream_saved_twice_is_read_once(tmp_path):
    events = stream(response(), function_call(), cut=True)
    write(tmp_path / "a.jsonl", *events)
    (tmp_path / "a.sse").write_text(sse(events))
    both = ro.compute([tmp_path])
    single = ro.compute([tmp_path / "a.jsonl"])
    assert both.tool_calls == single.tool_calls
    assert single.tool_calls[0]["function_arguments"] == '{"city":"Paris"}'
    assert both.counts["superseded"] == single.counts["superseded"] + len(events)


def test_r10_a_resumed_stream_overlapping_the_original_adds_nothing_twice(tmp_path):
    events = stream(response(), function_call())
    write(tmp_path / "original.jsonl", *events[:5])  # cut inside the arguments
    write(tmp_path / "resumed.jsonl", *events[1:])  # starting_after=0: in_progress first
    result = ro.compute([tmp_path])
    assert one_run(result)["status"] == "completed"
    assert result.tool_calls[0]["function_arguments"] == '{"city":"Paris"}'


def test_r10_events_without_sequence_number_are_keyed_by_position(tmp_path):
    events = [{k: v for k, v in e.items() if k != "sequence_number"}
              for e in stream(response(), function_call(), cut=True)]
    write(tmp_path / "a.jsonl", *events)
    (tmp_path / "b.sse").write_text(sse(events))
    result = ro.compute([tmp_path])
    assert result.tool_calls[0]["function_arguments"] == '{"city":"Paris"}'  # not doubled


def test_r11_a_cut_stream_leaves_the_response_in_progress_with_the_items_seen(tmp_path):
    events = stream(response(), message(), function_call(), cut=True)
    result = compute(tmp_path, *events)
    row = one_run(result)
    assert (row["status"], row["ended_at"], row["prompt_tokens"]) == ("in_progress", None, None)
    assert [(s["step_id"], s["status"]) for s in result.steps] == [
        ("msg_A", "completed"), ("fc_A", "in_progress")]
    assert result.tool_calls[0]["function_arguments"] == '{"city":"Paris"}'  # from deltas
    lifecycle = 2
    assert result.counts == {"records_read": len(events), "kept": 1 + len(events) - lifecycle,
                             "superseded": lifecycle - 1, "rejected": 0, "skipped": 0}


def test_r11_a_stream_and_the_object_export_give_one_response(tmp_path):
    events = stream(response(), function_call())
    result = compute(tmp_path, *events, response("completed", function_call()))
    assert [r["status"] for r in result.runs] == ["completed"]
    assert len(result.steps) == 1
    # one winner; the other 2 lifecycle responses and the object lose; item events superseded
    assert result.counts == {"records_read": len(events) + 1, "kept": 1,
                             "superseded": len(events), "rejected": 0, "skipped": 0}


def test_r11_a_cut_stream_beside_a_queued_poll_still_shows_its_items(tmp_path):
    events = stream(response(), message(), cut=True)
    result = compute(tmp_path, response("queued", background=True), *events)
    assert one_run(result)["status"] == "in_progress"
    assert [s["step_id"] for s in result.steps] == ["msg_A"]


@pytest.mark.parametrize(("kind", "field", "value"), [
    ("function_call_arguments", "arguments", '{"a":1}'),
    ("mcp_call_arguments", "arguments", '{"q":"x"}'),
    ("custom_tool_call_input", "input", "print(1)"),
    ("code_interpreter_call_code", "code", "x = 1"),
])
def test_r11_deltas_append_and_done_sets_the_full_value(tmp_path, kind, field, value):
    item_type = {"function_call_arguments": "function_call", "mcp_call_arguments": "mcp_call",
                 "custom_tool_call_input": "custom_tool_call",
                 "code_interpreter_call_code": "code_interpreter_call"}[kind]
    item = {"id": "it_1", "type": item_type, "call_id": "call_1", "name": "t", field: None}
    base = [event("response.created", 0, response=response("in_progress")),
            event("response.output_item.added", 1, output_index=0, item=item)]
    deltas = [event(f"response.{kind}.delta", 2, item_id="it_1", delta=value[:2]),
              event(f"response.{kind}.delta", 3, item_id="it_1", delta=value[2:])]
    done = event(f"response.{kind}.done", 4, item_id="it_1", **{field: value + "!"})
    column = "code_input" if field == "code" else "function_arguments"
    assert compute(tmp_path, *base, *deltas).tool_calls[0][column] == value
    assert compute(tmp_path, *base, *deltas, done).tool_calls[0][column] == value + "!"


def test_r11_progress_events_set_the_status_of_an_item_of_their_type(tmp_path):
    ws = {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}
    lines = [event("response.created", 0, response=response("in_progress")),
             event("response.output_item.added", 1, output_index=0, item=ws),
             event("response.web_search_call.searching", 2, item_id="ws_1", output_index=0),
             event("response.web_search_call.completed", 3, item_id="ws_1", output_index=0),
             event("response.file_search_call.failed", 4, item_id="ws_1", output_index=0),
             event("response.output_text.delta", 5, item_id="nope", delta="x")]
    (s,) = compute(tmp_path, *lines).steps
    assert s["status"] == "completed"  # the file_search event is not for a web_search item


def test_r11_an_error_event_fills_the_error_of_a_cut_stream(tmp_path):
    events = stream(response(), message(), cut=True)
    err = event("error", len(events), code="server_error", message="The server had an error")
    row = one_run(compute(tmp_path, *events, err))
    assert (row["status"], row["last_error_code"], row["last_error_message"]) == (
        "in_progress", "server_error", "The server had an error")


def test_r11_a_terminal_winner_ignores_item_events(tmp_path):
    events = stream(response(), function_call(arguments='{"city":"Oslo"}'), cut=True)
    final = response("completed", function_call(arguments='{"city":"Rome"}'))
    result = compute(tmp_path, *events, final)
    assert result.tool_calls[0]["function_arguments"] == '{"city":"Rome"}'


# --------------------------------------------------------------------------- dedup R12-R14


POLLS = [response("queued", background=True), response("in_progress", background=True),
         response("completed", message(), background=True)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_r12_the_terminal_poll_wins_in_any_order(tmp_path, order):
    result = compute(tmp_path, *[POLLS[i] for i in order])
    assert one_run(result)["status"] == "completed"
    assert result.counts["kept"] == 1 and result.counts["superseded"] == 2


@pytest.mark.parametrize(("loser", "winner"), [
    (response("completed"), response("cancelled")),  # rank ties at 4: then later timestamp
    (response("in_progress", completed_at=None), response("in_progress", completed_at=R0 + 5)),
    (response("in_progress", usage=None), response("in_progress", usage=usage())),
    (response("in_progress", metadata={}), response("in_progress", metadata={"k": "v"})),
    (response("bogus"), response("queued")),
], ids=["terminal-tie", "timestamp", "usage", "size", "unknown-status"])
def test_r12_ranking_stages(tmp_path, loser, winner):
    if winner["status"] == "cancelled":
        winner["completed_at"] = R0 + 9
    for lines in ([loser, winner], [winner, loser]):
        assert one_run(compute(tmp_path, *lines))["status"] == winner["status"]
        assert compute(tmp_path, *lines).runs == compute(tmp_path, winner).runs


def test_r13_the_larger_output_copy_wins_and_its_holder_is_kept(tmp_path):
    short = request(function_call_output(output="ok"))
    long = {"object": "list", "data": [function_call_output(output="ok, 12 C", id="fco_1")]}
    for lines in ([short, long], [long, short]):
        result = compute(tmp_path, response("completed", function_call()), *lines)
        assert result.tool_calls[0]["function_output"] == "ok, 12 C"
        assert (result.counts["kept"], result.counts["superseded"]) == (2, 1)


def test_r13_equal_copies_are_all_kept_wherever_they_are(tmp_path):
    same = request(function_call_output(output="ok"))
    write(tmp_path / "b.jsonl", same)
    write(tmp_path / "a.jsonl", response("completed", function_call()), same)
    result = ro.compute([tmp_path])
    assert (result.counts["kept"], result.counts["superseded"]) == (3, 0)
    assert result.tool_calls[0]["function_output"] == "ok"


def test_r13_a_request_holding_one_winning_copy_is_kept(tmp_path):
    calls = response("completed", function_call(id="fc_1", call_id="call_1"),
                     function_call(id="fc_2", call_id="call_2"))
    both = request(function_call_output("call_1", "a"), function_call_output("call_2", "b"))
    better = request(function_call_output("call_1", "a, longer"))
    result = compute(tmp_path, calls, both, better)
    assert [c["function_output"] for c in result.tool_calls] == ["a, longer", "b"]
    assert (result.counts["kept"], result.counts["superseded"]) == (3, 0)
    result = compute(tmp_path, calls, request(function_call_output("call_1", "a")), better)
    assert (result.counts["kept"], result.counts["superseded"]) == (2, 1)


def test_r14_counts_balance_on_a_mixed_file(tmp_path):
    lines = [*POLLS, *stream(response(id="resp_B"), message(id="msg_B"), cut=True), run(),
             b"{", b"", request(function_call_output()), {"type": "message", "id": "m"}]
    result = compute(tmp_path, *lines)
    assert result.total_counts["records_read"] == len(lines)
    balanced(result)


# --------------------------------------------------------------------------- tables R15-R18


def test_r15_run_columns_map_field_by_field(tmp_path):
    rec = response("incomplete", message(status="incomplete"),
                   incomplete_details={"reason": "max_output_tokens"},
                   usage=usage(input_tokens=70, output_tokens=30, cached=40, reasoning=8),
                   prompt={"id": "pmpt_1", "version": "2"}, metadata={"b": 1, "a": "x"},
                   error=None, previous_response_id=None)
    row = one_run(compute(tmp_path, rec))
    assert row == {
        "api": "responses", "run_id": "resp_A", "thread_id": "resp_A",
        "assistant_id": "pmpt_1", "model": "gpt-4.1-2025-04-14", "status": "incomplete",
        "created_at": utc(R0), "started_at": None, "completed_at": utc(R0 + 3),
        "failed_at": None, "cancelled_at": None, "expires_at": None, "ended_at": utc(R0 + 3),
        "last_error_code": None, "last_error_message": None,
        "incomplete_reason": "max_output_tokens", "prompt_tokens": 70,
        "completion_tokens": 30, "total_tokens": 100, "cached_tokens": 40,
        "reasoning_tokens": 8, "queue_s": None, "duration_s": 3.0,
        "metadata": '{"a":"x","b":1}', "day": dt.date(2026, 1, 1),
        "previous_response_id": None,
        # issue 21: billed apart from tokens (the builder's usage sends cache writes: 0)
        "cache_write_tokens": 0, **dict.fromkeys(ro.BILLED_USAGE_COLUMNS[1:]),
        **dict.fromkeys(("billing_payer", "prompt_cache_retention", "reasoning_context",
                         "reasoning_mode", "text_verbosity", "safety_identifier"))}


def test_issue21_billed_usage_and_serving_fields(tmp_path):
    """Tool usage, cache writes and serving fields map field by field; a wrong type is
    NULL (never a reject)."""
    rec = response(usage=usage(input_tokens=70, output_tokens=30),
                   tool_usage={"image_gen": {"input_tokens": 5, "output_tokens": 7,
                                             "total_tokens": 12,
                                             "input_tokens_details": {"text_tokens": 5,
                                                                      "image_tokens": 0},
                                             "output_tokens_details": {"image_tokens": 7,
                                                                       "text_tokens": 0}},
                               "web_search": {"num_requests": True}},
                   billing={"payer": "developer"}, prompt_cache_retention="24h",
                   reasoning={"effort": "low", "mode": 3}, text={"verbosity": "low"})
    row = one_run(compute(tmp_path, rec))
    assert {k: row[k] for k in ro.BILLED_USAGE_COLUMNS} == {
        "cache_write_tokens": 0, "web_search_requests": None, "image_gen_input_tokens": 5,
        "image_gen_input_text_tokens": 5, "image_gen_input_image_tokens": 0,
        "image_gen_output_tokens": 7, "image_gen_output_text_tokens": 0,
        "image_gen_output_image_tokens": 7, "image_gen_total_tokens": 12}
    assert (row["billing_payer"], row["prompt_cache_retention"], row["reasoning_mode"],
            row["text_verbosity"], row["safety_identifier"]) == (
        "developer", "24h", None, "low", None)


def test_r15_error_and_a_non_terminal_status_without_end(tmp_path):
    failed = response("failed", id="resp_F", error={"code": "server_error", "message": "m"})
    queued = response("queued", id="resp_Q", completed_at=R0 + 5)
    rows = {r["run_id"]: r for r in compute(tmp_path, failed, queued).runs}
    assert (rows["resp_F"]["last_error_code"], rows["resp_F"]["last_error_message"]) == (
        "server_error", "m")
    assert rows["resp_Q"]["ended_at"] is None and rows["resp_Q"]["duration_s"] is None


def test_r15_thread_ids(tmp_path):
    lines = [
        response(id="resp_1"),
        response(id="resp_2", previous_response_id="resp_1"),
        response(id="resp_3", previous_response_id="resp_2"),
        response(id="resp_4", previous_response_id="resp_gone"),  # not in the data
        response(id="resp_5", previous_response_id="resp_4"),
        response(id="resp_6", conversation={"id": "conv_1"}),
        response(id="resp_7", previous_response_id="resp_6"),  # inherits the conversation
        response(id="resp_8", conversation="conv_2"),
        response(id="resp_x", previous_response_id="resp_y"),  # a cycle
        response(id="resp_y", previous_response_id="resp_x"),
    ]
    threads = {r["run_id"]: r["thread_id"] for r in compute(tmp_path, *lines).runs}
    assert threads == {"resp_1": "resp_1", "resp_2": "resp_1", "resp_3": "resp_1",
                       "resp_4": "resp_gone", "resp_5": "resp_gone", "resp_6": "conv_1",
                       "resp_7": "conv_1", "resp_8": "conv_2", "resp_x": "resp_x",
                       "resp_y": "resp_x"}


def test_r16_step_columns(tmp_path):
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": []}
    failed = {"id": "mcp_1", "type": "mcp_call", "status": "failed", "name": "search",
              "arguments": "{}", "server_label": "s", "output": None,
              "error": {"code": 500, "type": "http_error", "message": "unknown"}}
    anonymous = {"type": "custom_tool_call", "call_id": "call_C", "name": "py", "input": "1+"}
    result = compute(tmp_path, response("completed", reasoning, message(), failed, anonymous))
    rows = {s["step_id"]: s for s in result.steps}
    assert list(rows) == ["rs_1", "msg_A", "mcp_1", "resp_A:3"]
    assert rows["rs_1"]["status"] is None and rows["rs_1"]["tool_call_count"] == 0
    assert rows["msg_A"]["message_id"] == "msg_A" and rows["rs_1"]["message_id"] is None
    assert (rows["mcp_1"]["last_error_code"], rows["mcp_1"]["last_error_message"]) == (
        "500", "unknown")
    for s in rows.values():
        assert s["created_at"] == utc(R0) and s["day"] == dt.date(2026, 1, 1)
        assert s["ended_at"] is s["latency_s"] is s["prompt_tokens"] is s["metadata"] is None
        assert s["api"] == "responses" and s["run_id"] == "resp_A"


@pytest.mark.parametrize(("item_type", "expected"), [
    ("function_call", "function"), ("file_search_call", "file_search"),
    ("web_search_call", "web_search"), ("code_interpreter_call", "code_interpreter"),
    ("computer_call", "computer"), ("image_generation_call", "image_generation"),
    ("mcp_call", "mcp"), ("custom_tool_call", "custom"), ("shell_call", "shell"),
    ("local_shell_call", "local_shell"), ("apply_patch_call", "apply_patch"),
    ("tool_search_call", "tool_search"), ("future_thing_call", "future_thing"),
])
def test_r17_tool_type_is_the_item_type_without_call(tmp_path, item_type, expected):
    item = {"id": "it_1", "type": item_type, "status": "completed"}
    (row,) = compute(tmp_path, response("completed", item)).tool_calls
    assert row["type"] == expected


def test_r17_items_that_are_not_calls_make_no_tool_call_rows(tmp_path):
    items = [message(), {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "s",
                         "tools": []},
             {"id": "mcpr_1", "type": "mcp_approval_request", "name": "x", "arguments": "{}",
              "server_label": "s"}, function_call_output(id="fco_1")]
    result = compute(tmp_path, response("completed", *items))
    assert len(result.steps) == 4 and result.tool_calls == []


def test_r17_arguments_and_outputs(tmp_path):
    items = [
        function_call(call_id="call_1", id="fc_1", arguments='{"city":'),  # does not parse
        {"id": "mcp_1", "type": "mcp_call", "name": "ask", "arguments": '{"q":1}',
         "server_label": "s", "output": "answer", "error": None},
        {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_3", "name": "py",
         "input": "print(1)"},
        {"id": "ts_1", "type": "tool_search_call", "call_id": "call_4", "status": "completed",
         "arguments": {"query": "x"}},
        {"id": "cu_1", "type": "computer_call", "call_id": "call_5", "status": "completed",
         "action": {"type": "screenshot"}, "pending_safety_checks": []},
        {"type": "custom_tool_call_output", "call_id": "call_3", "output": "1"},  # same resp.
    ]
    later = request(
        function_call_output(call_id="call_1", output="no"),
        {"type": "computer_call_output", "call_id": "call_5",
         "output": {"type": "computer_screenshot", "image_url": "data:,"}, "status": "failed"})
    rows = {c["step_id"]: c for c in compute(tmp_path, response("completed", *items),
                                             later).tool_calls}
    got = {k: (r["tool_call_id"], r["function_name"], r["function_arguments"],
               r["arguments_valid_json"], r["function_output"], r["call_failed"])
           for k, r in rows.items()}
    assert got == {
        "fc_1": ("call_1", "get_weather", '{"city":', False, "no", False),
        "mcp_1": ("mcp_1", "ask", '{"q":1}', True, "answer", False),
        "ctc_1": ("call_3", "py", "print(1)", None, "1", False),
        "ts_1": ("call_4", None, '{"query":"x"}', True, None, False),
        "cu_1": ("call_5", None, None, None,
                 '{"image_url":"data:,","type":"computer_screenshot"}', True),
    }
    assert [r["call_index"] for r in rows.values()] == [0, 1, 2, 3, 4]


def test_r17_code_interpreter_and_file_search_columns(tmp_path):
    ci = {"id": "ci_1", "type": "code_interpreter_call", "status": "completed",
          "code": "print('hé')", "container_id": "cntr_1",
          "outputs": [{"type": "logs", "logs": "hé\n"}, {"type": "image", "url": "u"},
                      {"type": "logs", "logs": "ok"}]}
    fs = {"id": "fs_1", "type": "file_search_call", "status": "completed", "queries": ["q"],
          "results": [{"file_id": "f", "score": 0.25}, {"file_id": "g", "score": 0.75},
                      {"file_id": "h"}]}
    fs_none = {"id": "fs_2", "type": "file_search_call", "status": "completed",
               "queries": [], "results": None}
    rows = {c["step_id"]: c for c in compute(tmp_path, response("completed", ci, fs,
                                                                fs_none)).tool_calls}
    assert (rows["ci_1"]["code_input"], rows["ci_1"]["code_log_chars"],
            rows["ci_1"]["code_image_count"]) == ("print('hé')", 5, 1)
    assert (rows["fs_1"]["file_search_result_count"], rows["fs_1"]["file_search_max_score"]) == (
        3, 0.75)
    assert rows["fs_2"]["file_search_result_count"] is None
    assert rows["fs_1"]["code_input"] is rows["ci_1"]["file_search_result_count"] is None


def test_r18_usage_is_one_row_per_response_with_usage(tmp_path):
    result = compute(tmp_path, response(id="resp_1", usage=usage(10, 5, cached=4, reasoning=2)),
                     response("queued", id="resp_2"))
    assert result.usage == [{
        "api": "responses", "step_id": None, "run_id": "resp_1", "assistant_id": None,
        "model": "gpt-4.1-2025-04-14", "type": "response", "day": dt.date(2026, 1, 1),
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cached_tokens": 4,
        "reasoning_tokens": 2, "cache_write_tokens": 0,
        **dict.fromkeys(ro.BILLED_USAGE_COLUMNS[1:])}]


def test_summary_counts_what_the_issue_compares(tmp_path):
    lines = [response(id="resp_1", usage=usage(10, 5)),
             response("completed", function_call(), message(id="msg_B"), id="resp_2",
                      usage=usage(1, 2, reasoning=1)),
             response("queued", id="resp_3")]
    s = ro.summary(compute(tmp_path, *lines))
    assert s["responses_per_status"] == {"completed": 2, "queued": 1}
    assert s["items_per_type"] == {"function_call": 1, "message": 1}
    assert s["tool_calls_per_function"] == {("function", "get_weather"): 1}
    assert s["tokens"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                           "cached_tokens": 0, "reasoning_tokens": 1}
