"""The record parser: shapes, rejects with reasons, accounting, SSE."""

from __future__ import annotations

import copy
import json

import orjson
import pytest

from steplens.transforms.parse import RAW_LIMIT, parse_events, parse_lines
from steplens.transforms.sse import sse_events
from tests.support.paths import DATA

EXAMPLES = DATA / "examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def lines(*values: object) -> list[tuple[int, bytes]]:
    out = []
    for i, v in enumerate(values, 1):
        raw = v if isinstance(v, bytes) else orjson.dumps(v)
        out.append((i, raw))
    return out


def test_examples_are_sdk_shapes():
    from openai.types.beta.threads import Run
    from openai.types.beta.threads.runs import RunStep, RunStepDeltaEvent

    RunStep.model_validate(example("step_tool_calls_function_completed"))
    RunStep.model_validate(example("step_code_interpreter_failed"))
    RunStep.model_validate(example("step_message_creation_completed"))
    Run.model_validate(example("run_completed"))
    RunStepDeltaEvent.model_validate(example("event_run_step_delta")["data"])


def test_step_fields_and_tool_calls():
    step = example("step_tool_calls_function_completed")
    batch = parse_lines("f.jsonl", lines(step))
    row = batch.step_records.row(0, named=True)
    assert row["step_id"] == step["id"]
    assert row["status"] == "completed"
    assert row["created_at"] == step["created_at"]
    assert row["total_tokens"] == step["usage"]["total_tokens"]
    assert row["metadata"] == "{}"
    calls = batch.tool_call_records.sort("call_index")
    assert calls["tool_call_id"].to_list() == [c["id"] for c in step["step_details"]["tool_calls"]]
    assert calls["function_arguments"].to_list() == [
        c["function"]["arguments"] for c in step["step_details"]["tool_calls"]
    ]
    assert batch.records_read == 1 and batch.rejects.height == 0


def test_code_interpreter_outputs_counted():
    step = example("step_code_interpreter_failed")
    batch = parse_lines("f.jsonl", lines(step))
    call = batch.tool_call_records.row(0, named=True)
    outputs = step["step_details"]["tool_calls"][0]["code_interpreter"]["outputs"]
    assert call["code_log_chars"] == sum(len(o["logs"]) for o in outputs if o["type"] == "logs")
    assert call["code_image_count"] == sum(o["type"] == "image" for o in outputs)
    assert batch.step_records["last_error_code"].to_list() == ["rate_limit_exceeded"]


def test_list_page_items_and_events_dispatch():
    step = example("step_message_creation_completed")
    run = example("run_completed")
    page = {"object": "list", "data": [step, run], "has_more": False}
    event = {"event": "thread.run.step.completed", "data": step}
    message = {"event": "thread.message.delta", "data": {"object": "thread.message.delta"}}
    batch = parse_lines("f.jsonl", lines(page, event, message, {"object": "list", "data": []}))
    assert batch.step_records.height == 2
    assert batch.run_records.height == 1
    assert batch.step_records["rec_item"].to_list() == [0, -1]
    skipped = batch.skipped_by_shape()
    assert skipped == {"thread.message.delta": 1, "empty_list": 1}
    assert batch.records_read == 5  # two page items, one event, one message, one empty page


def test_event_status_is_the_objects_not_the_events():
    run = dict(example("run_completed"), status="incomplete")
    batch = parse_lines("f.jsonl", lines({"event": "thread.run.completed", "data": run}))
    assert batch.run_records["status"].to_list() == ["incomplete"]


# One wording for both APIs (docs/inputs-and-faults.md, "Reject reasons"): the same fault
# in an Assistants run and in a Responses response, and the reason each must give.
_RUN = {"id": "run_1", "object": "thread.run"}
_RESPONSE = {"id": "resp_1", "object": "response"}


@pytest.mark.parametrize(("fault", "assistants", "responses"), [
    ({"status": 5}, "status: expected string, got integer",
     "status: expected string, got integer"),
    ({"created_at": "2025"}, "created_at: expected integer Unix seconds, got string",
     "created_at: expected number Unix seconds, got string"),
    ({"created_at": -1}, "created_at: timestamp out of range (-1; must be 0..253402300799)",
     "created_at: timestamp out of range (-1; must be 0..253402300799)"),
    ({"id": None}, "id: expected string, got null", "id: expected string, got null"),
    ({"id": ""}, "id: invalid id (empty string)", "id: invalid id (empty string)"),
    ({"metadata": [1]}, "metadata: expected object, got array",
     "metadata: expected object, got array"),
    ({"usage": {"total_tokens": -5}},
     "usage.total_tokens: token count out of range (-5; must be 0..2^53)",
     "usage.total_tokens: token count out of range (-5; must be 0..2^53)"),
    ({"usage": {"total_tokens": True}}, "usage.total_tokens: expected integer, got boolean",
     "usage.total_tokens: expected integer, got boolean"),
])
@pytest.mark.parametrize("careful", [False, True])
def test_both_apis_word_a_reject_alike(fault, assistants, responses, careful):
    batch = parse_lines("f.jsonl", lines({**_RUN, **fault}, {**_RESPONSE, **fault},
                                         {"object": "list", "data": [{**_RUN, **fault}]}),
                        careful=careful)
    assert batch.rejects["reason"].to_list() == [assistants, responses,
                                                 f"data[0]: {assistants}"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"id": "step_1", "object": "thread.run.step", "created_at": "2024', "invalid JSON"),
        (b"[1, 2]", "expected object, got array"),
        (b'{"id": "step_1", "object": "thread.run.step", "created_at": "yesterday"}',
         "created_at: expected integer"),
        (b'{"object": "thread.run.step", "created_at": 1}', "id: expected string"),
        (b'{"id": "s", "object": "thread.run.step", "step_details": {"tool_calls": '
         b'[{"type": "function", "function": {"arguments": {"a": 1}}}]}}',
         "step_details.tool_calls[0].function.arguments: expected string, got object"),
        (b'{"event": "thread.run.step.completed", "data": {"object": "thread.run.step", '
         b'"id": "s", "usage": {"total_tokens": "9"}}}', "data.usage.total_tokens"),
        (b'{"id": "run_1", "object": "thread.run", "created_at": 99999999999999}',
         "created_at: timestamp out of range (99999999999999; must be 0..253402300799)"),
        # values in range (issue 18): token counts 0..2^53, ids non-empty without controls
        (b'{"id": "s", "object": "thread.run.step", "usage": {"total_tokens": '
         b'9223372036854775807}}', "usage.total_tokens: token count out of range"),
        (b'{"id": "s", "object": "thread.run.step", "usage": {"prompt_tokens": -5}}',
         "usage.prompt_tokens: token count out of range (-5; must be 0..2^53)"),
        (b'{"id": "r", "object": "thread.run", "usage": {"completion_tokens_details": '
         b'{"reasoning_tokens": 9007199254740993}}}',
         "usage.completion_tokens_details.reasoning_tokens: token count out of range"),
        (b'{"id": "", "object": "thread.run.step"}', "id: invalid id (empty string)"),
        (b'{"id": "s\\u0000x", "object": "thread.run.step"}',
         "id: invalid id (control character U+0000)"),
        (b'{"event": "thread.run.completed", "data": {"id": "r\\u001b", '
         b'"object": "thread.run"}}', "data.id: invalid id (control character U+001B)"),
        (b'{"id": "s", "object": "thread.run.step", "run_id": ""}',
         "run_id: invalid id (empty string)"),
        (b'{"id": "r", "object": "thread.run", "thread_id": "t\\n"}',
         "thread_id: invalid id (control character U+000A)"),
    ],
)
@pytest.mark.parametrize("careful", [False, True])
def test_bad_records_are_rejected_with_reason(raw, reason, careful):
    good = example("step_message_creation_completed")
    batch = parse_lines("/x/f.jsonl", lines(good, raw, good), careful=careful)
    assert batch.rejects.height == 1
    reject = batch.rejects.row(0, named=True)
    assert reject["source_file"] == "/x/f.jsonl"
    assert reject["line_no"] == 2
    assert reason in reject["reason"]
    assert batch.step_records.height == 2  # the rest still goes through


def test_one_bad_list_item_keeps_the_others():
    good = example("step_message_creation_completed")
    bad = copy.deepcopy(good)
    bad["id"] = 7
    batch = parse_lines("f", lines({"object": "list", "data": [good, bad, "x"]}))
    assert batch.step_records.height == 1
    assert sorted(batch.rejects["reason"].to_list()) == [
        "data[1]: id: expected string, got integer",
        "data[2]: expected object, got string",
    ]


def test_blank_lines_unknown_shapes_and_long_raw():
    long = b'{"broken": "' + b"x" * (RAW_LIMIT * 3)
    batch = parse_lines("f", lines(b"", b"   ", {"object": "thread.created"}, {"foo": 1}, long))
    skipped = batch.skipped_by_shape()
    assert skipped == {"blank": 2, "thread.created": 1, "unknown": 1}
    assert len(batch.rejects["raw"][0]) == RAW_LIMIT
    assert batch.records_read == 5


def test_usage_details_and_legacy_spellings():
    step = example("step_message_creation_completed")
    step["usage"]["prompt_token_details"] = {"cached_tokens": 5}
    step["usage"]["completion_tokens_details"] = {"reasoning_tokens": 3}
    old = dict(example("step_message_creation_completed"), id="step_old")
    old["usage"] = dict(old["usage"], prompt_tokens_details={"cached_tokens": 2})
    legacy = dict(example("step_message_creation_completed"), id="step_legacy")
    del legacy["usage"]
    batch = parse_lines("f", lines(step, old, legacy)).step_records
    assert batch["cached_tokens"].to_list() == [5, 2, None]
    assert batch["reasoning_tokens"].to_list() == [3, None, None]
    assert batch["usage_present"].to_list() == [True, True, False]


def test_delta_fragments():
    event = example("event_run_step_delta")
    batch = parse_lines("f", lines(event))
    assert batch.delta_events["step_id"].to_list() == [event["data"]["id"]]
    call = batch.delta_calls.row(0, named=True)
    assert call["call_index"] == 1
    assert call["function_arguments"] == '{"city": "Ber'


def test_sse_blocks_match_envelopes():
    step = example("step_message_creation_completed")
    text = (
        b": keep-alive\n"
        b"event: thread.run.step.created\n"
        b"data: " + orjson.dumps(step) + b"\n\n"
        b"event: thread.message.delta\n"
        b'data: {"id": "msg_1",\n'
        b'data:  "object": "thread.message.delta"}\n\n'
        b"event: done\n"
        b"data: [DONE]\n\n"
    )
    numbered = list(enumerate(text.split(b"\n"), 1))
    events = list(sse_events(numbered))
    assert [(n, e) for n, e, _ in events] == [
        (3, "thread.run.step.created"), (6, "thread.message.delta"), (10, "done"),
    ]
    batch = parse_events("f.sse", events)
    assert batch.step_records["step_id"].to_list() == [step["id"]]
    skipped = batch.skipped_by_shape()
    assert skipped == {"thread.message.delta": 1, "done": 1}


def test_sse_block_without_event_name_is_a_bare_value():
    step = example("step_message_creation_completed")
    events = [(1, None, orjson.dumps(step)), (3, None, b"[1]")]
    batch = parse_events("f.sse", events)
    assert batch.step_records["step_id"].to_list() == [step["id"]]
    assert batch.rejects["line_no"].to_list() == [3]


def test_pretty_printed_json_document(tmp_path):
    from steplens.flows.io.inputs import parse_chunk
    from steplens.flows.store.manifest import file_kind
    from steplens.flows.store.records import Range

    page = {"object": "list", "data": [example("step_message_creation_completed"),
                                       example("run_completed")]}
    doc = tmp_path / "page.json"
    doc.write_text(json.dumps(page, indent=2))
    kind, gz, sse, is_doc = file_kind(doc)
    assert (kind, is_doc) == ("whole", True)
    batch = parse_chunk(Range(str(doc), 0, -1, 1, gz, sse, is_doc).chunk())
    assert (batch.step_records.height, batch.run_records.height, batch.rejects.height) == (1, 1, 0)
    assert batch.lines_read == doc.read_text().count("\n") + 1

    array = tmp_path / "steps.json"
    array.write_text(json.dumps([example("step_message_creation_completed")], indent=1))
    batch = parse_chunk(Range(str(array), 0, -1, 1, document=True).chunk())
    assert batch.step_records.height == 1

    lines = tmp_path / "lines.json"
    lines.write_text(json.dumps(example("run_completed")) + "\n" + json.dumps(page) + "\n")
    assert file_kind(lines)[0] == "lines"


def test_fast_and_careful_passes_agree():
    """The fast pass (bulk type checks) must give exactly what field-by-field checks give."""
    import random

    from polars.testing import assert_frame_equal

    from tests.support.paths import real_files

    lines = []
    for path in real_files("*/*.jsonl"):
        lines += path.read_bytes().splitlines()
    rng = random.Random(3)
    bad = [b'{"id": "step_b", "object": "thread.run.step", "created_at": true}',
           b'{"id": "run_b", "object": "thread.run", "usage": {"total_tokens": 1.5}}',
           b'{"id": "step_c", "object": "thread.run.step", "expires_at": -1}']
    for sample in (lines, lines[:300] + bad + lines[300:600]):
        numbered = list(enumerate(sample, 1))
        rng.shuffle(numbered)
        fast, careful = parse_lines("f", numbered), parse_lines("f", numbered, careful=True)
        for name in fast.FRAMES:
            assert_frame_equal(getattr(fast, name), getattr(careful, name))
    assert fast.rejects.height == 3
