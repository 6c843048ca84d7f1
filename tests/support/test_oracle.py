"""Micro-tests of the oracle itself, on inline inputs of one to a few lines."""

from __future__ import annotations

import datetime as dt
import gzip
import zlib

import duckdb
import orjson
import pytest

from tests.support import oracle
from tests.support.builders import T0, delta, run, step


def write(path, *lines) -> str:
    path.write_bytes(b"".join(
        (x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return path


def compute(tmp_path, *lines, name="in.jsonl"):
    return oracle.compute([write(tmp_path / name, *lines)])


# --------------------------------------------------------------------------- de-duplication


@pytest.mark.parametrize("order", [1, -1], ids=["given-order", "reversed"])
@pytest.mark.parametrize(
    ("loser", "winner"),
    [
        pytest.param(step("in_progress"), step("completed"), id="1-terminal-beats-in-progress"),
        pytest.param(step("cancelled", cancelled_at=T0 + 2), step("completed"),
                     id="2-later-timestamp"),
        pytest.param(step(), step(usage={"prompt_tokens": 1, "completion_tokens": 1,
                                         "total_tokens": 2}), id="3-usage-present"),
        pytest.param(step(metadata={"k": "ab"}), step(metadata={"k": "abc"}),
                     id="4-larger-canonical"),
    ],
)
def test_dedup_ranking(tmp_path, loser, winner, order):
    result = compute(tmp_path, *[loser, winner][::order])
    assert result.steps == compute(tmp_path, winner, name="winner.jsonl").steps
    assert result.steps[0]["created_at"] == dt.datetime(2024, 6, 10, 12, 21, 45)
    assert oracle.step_rank(winner) > oracle.step_rank(loser)
    assert result.counts == {"records_read": 2, "kept": 1, "superseded": 1, "rejected": 0,
                             "skipped": 0}


@pytest.mark.parametrize(
    ("make", "ignored", "counted"),
    [
        pytest.param(step, "started_at", "expired_at", id="step-started_at"),
        pytest.param(run, "expired_at", "started_at", id="run-expired_at"),
        pytest.param(run, "expires_at", "cancelled_at", id="run-expires_at"),
    ],
)
def test_dedup_stage_2_uses_only_the_listed_timestamps(tmp_path, make, ignored, counted):
    # a later stamp in a field that does not count, and a larger canonical size (stage 4):
    # it still loses at stage 2 to the record whose latest counted stamp is later
    late_ignored = make(**{ignored: T0 + 100}, metadata={"k": "a" * 20})
    later = make(completed_at=T0 + 50)
    kind = "step" if make is step else "run"
    assert len(oracle.canonical(late_ignored, kind)) > len(oracle.canonical(later, kind))
    rank = oracle.step_rank if make is step else oracle.run_rank
    assert rank(later) > rank(late_ignored)
    for lines in ((late_ignored, later), (later, late_ignored)):
        result = compute(tmp_path, *lines)
        (row,) = result.steps if make is step else result.runs
        assert row["metadata"] is None and row["completed_at"] == oracle.ts(T0 + 50)
    # the same late stamp in a field that counts wins
    assert rank(make(**{counted: T0 + 100})) > rank(later)


def _step_content(rec: dict) -> dict:
    """docs/ingest.md, "De-duplication": the values `builders.step()` gives its row, written out."""
    return {"step_id": rec["id"], "run_id": "run_A", "thread_id": "thread_A",
            "assistant_id": "asst_A", "type": "tool_calls", "status": rec["status"],
            "created_at": T0, "completed_at": rec["completed_at"], "failed_at": None,
            "cancelled_at": None, "expired_at": None, "last_error_code": None,
            "last_error_message": None, "message_id": None, "prompt_tokens": None,
            "completion_tokens": None, "total_tokens": None, "cached_tokens": None,
            "reasoning_tokens": None, "tool_calls": [],
            "metadata": orjson.dumps(rec["metadata"], option=orjson.OPT_SORT_KEYS).decode()}


def test_dedup_falls_back_to_crc32_of_canonical_bytes(tmp_path):
    a, b = step(metadata={"k": "a"}), step(metadata={"k": "b"})  # same size, same stamps
    canonical = [orjson.dumps(_step_content(x), option=orjson.OPT_SORT_KEYS) for x in (a, b)]
    assert canonical == [oracle.canonical(x, "step") for x in (a, b)]
    assert len(canonical[0]) == len(canonical[1])
    winner = (a, b)[max((0, 1), key=lambda i: zlib.crc32(canonical[i]))]
    for lines in ((a, b), (b, a)):
        (row,) = compute(tmp_path, *lines).steps
        assert row["metadata"] == orjson.dumps(winner["metadata"]).decode()


def test_run_ranking_and_columns(tmp_path):
    result = compute(tmp_path, run("in_progress"), run("requires_action"), run("queued"),
                     run("completed", usage={"prompt_tokens": 5, "completion_tokens": 2,
                                             "total_tokens": 7,
                                             "prompt_token_details": {"cached_tokens": 3}}))
    (row,) = result.runs
    assert row["status"] == "completed"
    assert row["queue_s"] == 1.0 and row["duration_s"] == 10.0
    assert row["cached_tokens"] == 3 and row["reasoning_tokens"] is None
    assert row["day"] == dt.date(2024, 6, 10)
    assert result.counts["superseded"] == 3


def test_step_takes_model_from_winning_run(tmp_path):
    result = compute(tmp_path, step(), run("queued", model="gpt-4"), run("completed"))
    assert result.steps[0]["model"] == "gpt-4o"


# --------------------------------------------------------------------------- deltas


FN_HEAD = {"index": 0, "id": "call_1", "type": "function",
           "function": {"name": "get_weather", "arguments": "", "output": None}}


def fn_piece(text, index=0):
    return {"index": index, "type": "function", "function": {"arguments": text}}


def test_deltas_concatenate_in_line_order(tmp_path):
    result = compute(tmp_path, step("in_progress"), delta(FN_HEAD), delta(fn_piece('{"city"')),
                     delta(fn_piece(': "Zürich"}')))
    (call,) = result.tool_calls
    assert call["function_arguments"] == '{"city": "Zürich"}'
    assert call["arguments_valid_json"] is True
    assert call["function_name"] == "get_weather" and call["tool_call_id"] == "call_1"
    assert call["code_log_chars"] is None  # not a code_interpreter call
    assert result.steps[0]["tool_call_count"] == 1
    assert result.counts["kept"] == 4  # the step and its three deltas


def test_deltas_keyed_by_index_and_outputs_by_their_own_index(tmp_path):
    ci = {"index": 1, "id": "call_2", "type": "code_interpreter",
          "code_interpreter": {"input": "pri", "outputs": []}}
    log = {"index": 1, "type": "code_interpreter", "code_interpreter": {
        "input": "nt(1)", "outputs": [{"index": 0, "type": "logs", "logs": "1"}]}}
    more = {"index": 1, "type": "code_interpreter", "code_interpreter": {
        "outputs": [{"index": 0, "type": "logs", "logs": "é\n"},
                    {"index": 1, "type": "image", "image": {"file_id": "file-1"}}]}}
    result = compute(tmp_path, delta(ci), delta(FN_HEAD), delta(log), delta(fn_piece("{}")),
                     delta(more))
    fn, code = result.tool_calls  # ordered by index
    assert (fn["call_index"], fn["function_arguments"]) == (0, "{}")
    assert code["call_index"] == 1 and code["code_input"] == "print(1)"
    assert code["code_log_chars"] == 3 and code["code_image_count"] == 1
    (row,) = result.steps  # a step known only from deltas
    assert row["status"] == "in_progress" and row["type"] == "tool_calls"
    assert row["run_id"] is None and row["created_at"] is None and row["day"] is None


def test_terminal_object_wins_over_deltas(tmp_path):
    final = step(step_details={"type": "tool_calls", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{}", "output": "sunny"}}]})
    result = compute(tmp_path, delta(FN_HEAD), delta(fn_piece("{ broken")), final)
    (call,) = result.tool_calls
    assert call["function_arguments"] == "{}" and call["function_output"] == "sunny"
    assert result.counts["superseded"] == 2 and result.counts["kept"] == 1


def test_deltas_split_across_files_follow_path_order(tmp_path):
    write(tmp_path / "part-0002.jsonl", delta(fn_piece("2}")))
    write(tmp_path / "part-0001.jsonl", delta(FN_HEAD), delta(fn_piece('{"n": ')))
    for paths in (sorted(tmp_path.iterdir()), sorted(tmp_path.iterdir(), reverse=True),
                  [tmp_path]):
        (call,) = oracle.compute(paths).tool_calls
        assert call["function_arguments"] == '{"n": 2}'


def test_call_index_is_the_raw_delta_index(tmp_path):
    result = compute(tmp_path, step("in_progress"), delta(dict(FN_HEAD, index=3)),
                     delta(fn_piece("{}", index=3)),
                     delta({"id": "call_0", "type": "code_interpreter"},
                           {"id": "call_1", "type": "function"}))  # no index: position
    assert [(c["call_index"], c["tool_call_id"]) for c in result.tool_calls] == [
        (0, "call_0"), (1, "call_1"), (3, "call_1")]
    assert result.tool_calls[2]["function_arguments"] == "{}"
    assert result.tool_calls[2]["function_name"] == "get_weather"


def test_non_terminal_object_takes_type_and_message_id_from_deltas_when_null(tmp_path):
    result = compute(
        tmp_path,
        step("in_progress", type=None, step_details=None),
        delta(step_id="step_A", type="message_creation",
              message_creation={"message_id": "msg_1"}),
        step("in_progress", id="step_B", type="tool_calls"),
        delta(step_id="step_B", type="message_creation", message_creation={"message_id": "m"}),
        step(id="step_C", type=None),  # terminal: its own columns, deltas superseded
        delta(FN_HEAD, step_id="step_C", type="tool_calls"),
    )
    rows = {s["step_id"]: (s["type"], s["message_id"], s["tool_call_count"])
            for s in result.steps}
    assert rows == {"step_A": ("message_creation", "msg_1", 0),
                    "step_B": ("tool_calls", "m", 0), "step_C": (None, None, 0)}
    assert result.counts["kept"] == 5 and result.counts["superseded"] == 1


def test_delta_only_step_has_only_status_type_and_message_id(tmp_path):
    (row,) = compute(tmp_path, delta(FN_HEAD), delta(type=None)).steps
    assert row["status"] == "in_progress" and row["type"] == "tool_calls"
    assert row["tool_call_count"] == 1
    assert {k for k, v in row.items() if v is not None} == {
        "api", "step_id", "status", "type", "tool_call_count"}


def test_delta_only_message_step(tmp_path):
    d = {"id": "step_M", "object": "thread.run.step.delta", "delta": {"step_details": {
        "type": "message_creation", "message_creation": {"message_id": "msg_1"}}}}
    (row,) = compute(tmp_path, {"event": "thread.run.step.delta", "data": d}).steps
    assert (row["type"], row["message_id"], row["tool_call_count"]) == (
        "message_creation", "msg_1", 0)


# --------------------------------------------------------------------------- rejects and skips


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"id": "step_A", "object": "thread.run.step", "created_at": 17', "invalid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (step(created_at=str(T0)), "created_at"),
        (step(created_at=True), "created_at"),
        (step(step_details={"type": "tool_calls", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}]}),
         "arguments"),
        ({k: v for k, v in run().items() if k != "id"}, "missing id"),
        (run(usage={"prompt_tokens": 1.0}), "prompt_tokens"),
        (run(metadata=["a"]), "metadata"),
        (delta(dict(fn_piece("x"), index="0")), "index"),
        (step(created_at=-1), "created_at"),
        (step(created_at=253402300800), "created_at"),  # after 9999-12-31 23:59:59
        (step(expires_at=1.5), "expires_at"),
        (step(started_at=False), "started_at"),
        (run(expired_at="soon"), "expired_at"),
        (run(expires_at=-5), "expires_at"),
        (step(usage={"total_tokens": 2**63}), "total_tokens"),  # beyond signed 64-bit
        (b'{"id": "step_A", "object": "thread.run.step.delta", "delta": {"step_details": '
         b'{"tool_calls": [{"index": 9223372036854775808}]}}}', "index"),
        (step(step_details={"type": 5}), "step_details.type"),
        (step(step_details={"type": "tool_calls", "tool_calls": [
            {"id": "c", "type": "retrieval", "code_interpreter": {"outputs": [
                {"type": "image", "image": {"file_id": 1}}]}}]}), "file_id"),
    ],
)
def test_rejects(tmp_path, line, reason):
    result = compute(tmp_path, step(id="step_ok"), line)
    (reject,) = result.rejects
    assert reject["line_no"] == 2 and reason in reject["reason"]
    assert reject["source_file"] == str((tmp_path / "in.jsonl").absolute())
    assert [s["step_id"] for s in result.steps] == ["step_ok"]


def test_usage_details_check_only_the_keys_that_are_read(tmp_path):
    bad = [
        {"prompt_token_details": {"cached_tokens": "x"}},
        {"prompt_tokens_details": {"cached_tokens": 1.5}},
        {"completion_tokens_details": {"reasoning_tokens": True}},
        {"prompt_tokens_details": []},
        {"completion_tokens_details": 3},
    ]
    ignored = [
        {"prompt_token_details": {"reasoning_tokens": "x"}},
        {"prompt_tokens_details": {"reasoning_tokens": [], "audio_tokens": "x"}},
        {"completion_tokens_details": {"cached_tokens": "x",
                                       "accepted_prediction_tokens": {}}},
    ]
    result = compute(tmp_path, *[step(id=f"bad{i}", usage=u) for i, u in enumerate(bad)],
                     *[step(id=f"ok{i}", usage=u) for i, u in enumerate(ignored)])
    assert [r["line_no"] for r in result.rejects] == [1, 2, 3, 4, 5]
    assert [r["reason"].split(": ", 1)[1].split(" is ")[0] for r in result.rejects] == [
        "usage.prompt_token_details.cached_tokens", "usage.prompt_tokens_details.cached_tokens",
        "usage.completion_tokens_details.reasoning_tokens", "usage.prompt_tokens_details",
        "usage.completion_tokens_details"]
    rows = {s["step_id"]: (s["cached_tokens"], s["reasoning_tokens"]) for s in result.steps}
    assert rows == {"ok0": (None, None), "ok1": (None, None), "ok2": (None, None)}


def test_list_page_items_are_judged_one_by_one(tmp_path):
    page = {"object": "list", "data": [step(), step(id="step_B", created_at="x"), 3],
            "has_more": False}
    result = compute(tmp_path, page, {"object": "list", "data": []}, b"   ")
    assert [(r["line_no"], r["raw"]) for r in result.rejects] == [
        (1, orjson.dumps(page["data"][1]).decode()), (1, "3")]
    assert [r["reason"][:9] for r in result.rejects] == ["data[1]: ", "data[2]: "]
    assert result.counts == {"records_read": 5, "kept": 1, "superseded": 0, "rejected": 2,
                             "skipped": 2}
    assert result.skipped_by_shape == {"blank": 1, "empty_list": 1}


@pytest.mark.parametrize("data", [{"a": 1}, None, "x", 3])
def test_list_page_whose_data_is_not_an_array_is_one_reject(tmp_path, data):
    result = compute(tmp_path, {"object": "list", "data": data})
    (reject,) = result.rejects
    assert reject["raw"] == orjson.dumps({"object": "list", "data": data}).decode()
    assert result.counts["records_read"] == 1
    # without a `data` key it is no list page: a bare object skipped under its name
    assert compute(tmp_path, {"object": "list"}).skipped_by_shape == {"list": 1}


def test_skip_names_and_event_data_status_is_the_truth(tmp_path):
    lines = [
        {"event": "thread.message.created", "data": {"id": "msg_1", "object": "thread.message"}},
        {"event": "error", "data": {"message": "boom", "type": "server_error"}},
        {"event": "done", "data": "[DONE]"},
        {"object": "thread.future.thing", "id": "x"},
        {"event": "thread.run.completed", "data": run("incomplete",
                                                      incomplete_details={"reason": "max_tokens"})},
    ]
    result = compute(tmp_path, *lines)
    assert result.skipped_by_shape == {"done": 1, "error": 1, "thread.future.thing": 1,
                                       "thread.message.created": 1}
    (r,) = result.runs
    assert r["status"] == "incomplete" and r["incomplete_reason"] == "max_tokens"


def test_envelopes_are_skipped_under_their_event_name(tmp_path):
    lines = [
        {"event": "thread.message.delta", "data": {"id": "m", "object": "thread.message.delta"}},
        {"event": "thread.created", "data": {"id": "thread_A", "object": "thread"}},
        {"event": "thread.run.step.created", "data": {"object": "thread.message"}},
        {"event": "x", "data": {"object": "list", "data": [step()]}},  # not expanded
        {"id": "msg_1", "object": "thread.message"},  # bare: under its object
        {"id": "x"}, {"object": None, "event": "thread.run.created", "data": run()},
    ]
    result = compute(tmp_path, *lines)
    assert result.skipped_by_shape == {"thread.created": 1, "thread.message": 1,
                                       "thread.message.delta": 1, "thread.run.step.created": 1,
                                       "unknown": 2, "x": 1}
    assert result.steps == result.runs == result.rejects == []


def test_envelope_data_without_object_is_dispatched_on_the_event_name(tmp_path):
    def bare(obj):
        return {k: v for k, v in obj.items() if k != "object"}

    lines = [
        {"event": "thread.run.step.completed", "data": bare(step())},
        {"event": "thread.run.step.in_progress", "data": dict(step("in_progress", id="s2"),
                                                              object=None)},
        {"event": "thread.run.requires_action", "data": bare(run("requires_action"))},
        {"event": "thread.run.step.delta", "data": bare(delta(FN_HEAD, step_id="s3"))},
        {"event": "thread.run.something.new", "data": {"id": "run_B"}},  # other thread.run.*
        {"event": "thread.message.created", "data": {"id": "msg_1"}},
    ]
    result = compute(tmp_path, *lines)
    assert [(s["step_id"], s["status"]) for s in result.steps] == [
        ("s2", "in_progress"), ("s3", "in_progress"), ("step_A", "completed")]
    assert [(r["run_id"], r["status"]) for r in result.runs] == [
        ("run_A", "requires_action"), ("run_B", None)]
    assert result.tool_calls[0]["step_id"] == "s3"
    assert result.skipped_by_shape == {"thread.message.created": 1}


def test_envelope_data_not_an_object_or_event_not_a_string(tmp_path):
    lines = [
        {"event": "thread.run.created", "data": 5},  # a run event: rejected
        {"event": "thread.run.step.delta", "data": [1]},
        {"event": "thread.run.completed"},
        {"event": "done", "data": "[DONE]"},  # anything else: skipped under its name
        {"event": "error", "data": None},
        {"event": 5, "data": step()},  # event not a string: rejected
    ]
    result = compute(tmp_path, *lines)
    assert [r["line_no"] for r in result.rejects] == [1, 2, 3, 6]
    assert result.rejects[-1]["raw"] == orjson.dumps(lines[-1]).decode()
    assert result.skipped_by_shape == {"done": 1, "error": 1}


def test_raw_is_cut_to_4096_characters(tmp_path):
    (reject,) = compute(tmp_path, b"x" * 5000).rejects
    assert reject["raw"] == "x" * 4096


def test_raw_is_the_line_stripped_of_surrounding_whitespace(tmp_path):
    result = compute(tmp_path, b" \t{broken \r", b"\x0c" + orjson.dumps(step()) + b"\x0b",
                     b"  " + orjson.dumps(step(id="s2", created_at="x")) + b"  ", b"\xff{")
    assert [r["raw"] for r in result.rejects] == [
        "{broken", orjson.dumps(step(id="s2", created_at="x")).decode(), "\ufffd{"]
    assert [s["step_id"] for s in result.steps] == ["step_A"]  # parsed once stripped


# --------------------------------------------------------------------------- SSE


@pytest.mark.parametrize("value", [0, 253402300799])
def test_timestamps_at_the_ends_of_the_range_are_kept(tmp_path, value):
    (row,) = compute(tmp_path, step(created_at=value, completed_at=None)).steps
    assert row["created_at"] == oracle.EPOCH + dt.timedelta(seconds=value)


def test_sse_blocks(tmp_path):
    data = orjson.dumps(step(), option=orjson.OPT_INDENT_2).decode().split("\n")
    text = "\n".join([
        ": keep-alive",
        "event: thread.run.step.completed",
        *("data: " + x for x in data),
        "",
        "event: thread.run.step.delta",
        "data: {not json",
        "",
        "event: done",
        "data: [DONE]",
        "",
    ])
    path = tmp_path / "s.sse"
    path.write_text(text, encoding="utf-8")
    result = oracle.compute([path])
    assert [s["status"] for s in result.steps] == ["completed"]
    assert [(r["line_no"], r["raw"]) for r in result.rejects] == [(3 + len(data) + 2,
                                                                   "{not json")]
    assert result.counts["records_read"] == 3
    assert result.skipped_by_shape == {"done": 1}  # the closing done block
    # any file whose first non-blank line starts with event:/data: is SSE
    sniffed = tmp_path / "sniffed.jsonl"
    sniffed.write_text("\n" + text.split("\n", 1)[1], encoding="utf-8")
    assert [s["step_id"] for s in oracle.compute([sniffed]).steps] == ["step_A"]


def sse_file(tmp_path, text: bytes, name="s.sse"):
    path = tmp_path / name
    path.write_bytes(text)
    return oracle.compute([path])


def test_sse_empty_data_is_null(tmp_path):
    result = sse_file(tmp_path, b"event: thread.message.created\ndata:\n\n"  # lines 1-3
                                b"event: x\ndata:   \ndata:\n\n"  # 4-7: whitespace only
                                b"event: thread.run.completed\ndata:\n\n"  # 8-10: rejected
                                b"data:\n\n"  # 11-12: bare null, rejected
                                b"event: thread.run.step.delta\ndata: \t\n")  # 13-14
    assert result.skipped_by_shape == {"thread.message.created": 1, "x": 1}
    assert [(r["line_no"], r["raw"]) for r in result.rejects] == [(9, ""), (11, ""), (14, "")]
    assert "not a JSON object" in result.rejects[1]["reason"]
    assert result.counts["records_read"] == 5


def test_sse_lines_without_a_colon_are_ignored(tmp_path):
    result = sse_file(tmp_path, b"event: x\ndata\n\n"  # lines 1-3: no data field, no record
                                b"event: thread.run.created\ndata\ndata: 5\n\n"  # 4-7
                                b"event\ndata: {}\n\n"  # 8-10: no event, a bare {}
                                b"event: y\nevent\ndata: {}\n\n")  # 11-13: event stays y
    assert [r["line_no"] for r in result.rejects] == [6]
    assert result.skipped_by_shape == {"unknown": 1, "y": 1}
    assert result.counts["records_read"] == 3


def test_sse_event_name_is_stripped(tmp_path):
    result = sse_file(tmp_path, b"event:  thread.message.created \t\ndata: {}\n\n"
                                b"event:\tthread.created\r\ndata: {}\n\n"
                                b"event:   thread.run.completed  \ndata: "
                                + orjson.dumps(bare_run()) + b"\n\n")
    assert result.skipped_by_shape == {"thread.created": 1, "thread.message.created": 1}
    assert [r["status"] for r in result.runs] == ["completed"]  # by the stripped event name


def bare_run() -> dict:
    return {k: v for k, v in run().items() if k != "object"}


def test_txt_files_are_sniffed_sse_files_by_name(tmp_path):
    block = b"event: thread.run.step.completed\ndata: " + orjson.dumps(step(id="s1")) + b"\n\n"
    (tmp_path / "lines.txt").write_bytes(orjson.dumps(step(id="s2")) + b"\n")
    (tmp_path / "stream.txt").write_bytes(b"\n  \n" + block)
    (tmp_path / "comment-first.txt").write_bytes(b": keep-alive\n\n" + block)
    (tmp_path / "by-name.sse").write_bytes(b": keep-alive\n\n" + block.replace(b"s1", b"s3"))
    (tmp_path / "json-first.txt").write_bytes(orjson.dumps(step(id="s4")) + b"\n" + block)
    result = oracle.compute([tmp_path])
    # comment-first.txt is SSE: a leading SSE comment (":") says so, as event:/data: do;
    # json-first.txt is JSON lines, so its SSE lines are rejects
    assert sorted(s["step_id"] for s in result.steps) == ["s1", "s2", "s3", "s4"]
    assert [(r["source_file"].rsplit("/", 1)[1], r["line_no"]) for r in result.rejects] == [
        ("json-first.txt", 2), ("json-first.txt", 3)]


def test_discovery_suffixes_case_insensitive_gzip_by_content(tmp_path):
    block = b"event: thread.run.step.completed\ndata: " + orjson.dumps(step(id="s1")) + b"\n\n"
    files = {
        "a.sse.gz": gzip.compress(block),
        "b.SSE": block.replace(b"s1", b"s2"),
        "C.JSONL": orjson.dumps(step(id="s3")) + b"\n",
        "d.Json.GZ": gzip.compress(orjson.dumps([step(id="s4")], option=orjson.OPT_INDENT_2)),
        "e.NDJSON.gz": orjson.dumps(step(id="s5")) + b"\n",  # not gzip data: read as it is
        "f.Sse.Gz": block.replace(b"s1", b"s6"),  # not gzip data, SSE by name
        "g.TXT": orjson.dumps(step(id="s7")) + b"\n",
        "h.md": orjson.dumps(step(id="x1")) + b"\n",
        "i.jsonl.bak": orjson.dumps(step(id="x2")) + b"\n",
        ".J.JSONL": orjson.dumps(step(id="x3")) + b"\n",
        "sub/K.Jsonl": orjson.dumps(step(id="s8")) + b"\n",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert [p.name for p in oracle.input_files([tmp_path])] == [
        "C.JSONL", "a.sse.gz", "b.SSE", "d.Json.GZ", "e.NDJSON.gz", "f.Sse.Gz", "g.TXT",
        "K.Jsonl"]
    result = oracle.compute([tmp_path])
    assert result.rejects == []
    assert sorted(s["step_id"] for s in result.steps) == [f"s{i}" for i in range(1, 9)]
    # a file named explicitly is read whatever its name
    assert [s["step_id"] for s in oracle.compute([tmp_path / "h.md"]).steps] == ["x1"]


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([7], 0.9, 7.0), ([1, 2, 3, 4], 0.5, 2.5), ([1, 2, 3, 4], 0.9, 3.7),
     ([0, 0, 10], 0.95, 9.0), ([1, 2], 0.99, 1.99)],
)
def test_quantile_cont(values, q, expected):
    assert oracle.quantile_cont(values, q) == pytest.approx(expected)


def test_quantile_cont_matches_duckdb():
    values = [0, 0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]
    for q in (0.5, 0.9, 0.95, 0.99):
        (got,) = duckdb.sql(f"select quantile_cont(v, {q}) from unnest({values}) t(v)").fetchall()
        assert oracle.quantile_cont(values, q) == pytest.approx(got[0])


def test_metric_views(tmp_path):
    lines = [
        step(id="s1", completed_at=T0 + 2, usage={"prompt_tokens": 10, "completion_tokens": 1,
                                                  "total_tokens": 11}),
        step(id="s2", completed_at=T0 + 6),
        step("failed", id="s3", failed_at=T0 + 1, type="message_creation",
             step_details={"type": "message_creation", "message_creation": {"message_id": "m"}}),
        step("in_progress", id="s4"),
        run(),
    ]
    result = compute(tmp_path, *lines)
    latency = {(r["dimension"], r["value"]): r for r in result.step_latency}
    assert latency[("all", None)]["n"] == 2 and latency[("all", None)]["p50_s"] == 4.0
    assert latency[("day", "2024-06-10")]["max_s"] == 6.0
    failure = {(r["dimension"], r["value"]): r for r in result.failure_rate}
    assert failure[("all", None)]["terminal"] == 3
    assert failure[("all", None)]["failure_rate"] == pytest.approx(1 / 3)
    assert failure[("type", "message_creation")]["failure_rate"] == 1.0
    usage = {(r["dimension"], r["value"]): r for r in result.token_usage}
    assert usage[("model", "gpt-4o")]["total_tokens"] == 11 and usage[("all", None)]["steps"] == 1


def test_metric_views_over_no_rows(tmp_path):
    result = compute(tmp_path, step("in_progress"))
    assert result.step_latency == [{"dimension": "all", "value": None, "n": 0, "mean_s": None,
                                    "p50_s": None, "p90_s": None, "p95_s": None,
                                    "p99_s": None, "max_s": None}]
    (fr,) = result.failure_rate
    assert fr["terminal"] == 0 and fr["failure_rate"] is None
    assert result.token_usage == [{"dimension": "all", "value": None, "steps": 0,
                                   "prompt_tokens": None, "completion_tokens": None,
                                   "total_tokens": None}]
    assert result.tool_stats == []


# --------------------------------------------------------------------------- duplicate streams


def test_a_stream_exported_twice_is_read_once(tmp_path):
    head, body = delta(FN_HEAD), delta(fn_piece("{}"))
    write(tmp_path / "b.jsonl", head, body)
    write(tmp_path / "a.jsonl", {"event": "thread.run.step.delta", "data": head},
          {"object": "list", "data": [body]})  # same delta objects, other wrappers
    result = oracle.compute([tmp_path])
    (call,) = result.tool_calls
    assert call["function_arguments"] == "{}"
    assert result.counts == {"records_read": 4, "kept": 2, "superseded": 2, "rejected": 0,
                             "skipped": 0}


def test_a_cut_off_copy_of_a_stream_is_dropped(tmp_path):
    write(tmp_path / "a-complete.jsonl", delta(FN_HEAD), delta(fn_piece('{"n": ')),
          delta(fn_piece("1}")))
    write(tmp_path / "b-cut.jsonl", delta(FN_HEAD), delta(fn_piece('{"n": ')))
    result = oracle.compute([tmp_path])
    assert result.tool_calls[0]["function_arguments"] == '{"n": 1}'
    assert (result.counts["kept"], result.counts["superseded"]) == (3, 2)


def test_stream_parts_and_other_steps_are_not_duplicates(tmp_path):
    write(tmp_path / "part-1.jsonl", delta(FN_HEAD), delta(fn_piece("[1")),
          delta(FN_HEAD, step_id="step_B"))
    write(tmp_path / "part-2.jsonl", delta(fn_piece("]")), delta(FN_HEAD, step_id="step_B"),
          delta(fn_piece("2"), step_id="step_B"))
    result = oracle.compute([tmp_path])
    args = {c["step_id"]: c["function_arguments"] for c in result.tool_calls}
    # step_A: two parts of one stream; step_B: part-1 holds a prefix of part-2's sequence
    assert args == {"step_A": "[1]", "step_B": "2"}
    assert result.counts["superseded"] == 1


def test_deltas_are_compared_by_what_they_contribute():
    a = delta(FN_HEAD)
    b = dict(reversed(list(a.items())))  # same object, other key order
    files = [("/x/a.jsonl", 1, (), a), ("/x/b.jsonl", 1, (), b)]
    assert oracle.without_duplicate_streams(files) == [files[0]]
    c = dict(a, object=None, created_at=1)  # keys steplens does not read do not count
    files = [("/x/a.jsonl", 1, (), a), ("/x/c.jsonl", 1, (), c)]
    assert oracle.without_duplicate_streams(files) == [files[0]]
    other = [("/x/a.jsonl", 1, (), a), ("/x/b.jsonl", 1, (), delta(fn_piece("x")))]
    assert oracle.without_duplicate_streams(other[::-1]) == other


# --------------------------------------------------------------------------- files


def test_pretty_printed_json_document_is_one_record_source(tmp_path):
    array = tmp_path / "steps.json"
    array.write_bytes(orjson.dumps([step(), run(), 3], option=orjson.OPT_INDENT_2) + b"\n")
    result = oracle.compute([array])
    assert [r["line_no"] for r in result.rejects] == [1]
    assert result.rejects[0]["reason"].startswith("data[2]: ")
    assert (len(result.steps), len(result.runs), result.counts["records_read"]) == (1, 1, 3)
    assert result.lines_read == len(array.read_bytes().splitlines())
    obj = tmp_path / "one.json"
    text = orjson.dumps(step(created_at="x"), option=orjson.OPT_INDENT_2)
    obj.write_bytes(text)
    (reject,) = oracle.compute([obj]).rejects
    assert (reject["line_no"], reject["raw"]) == (1, text.decode())
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"[\n]\n")
    assert oracle.compute([empty]).skipped_by_shape == {"empty_list": 1}


def test_json_file_that_is_not_one_document_is_json_lines(tmp_path):
    lines = write(tmp_path / "lines.json", step(), run())
    assert oracle.compute([lines]).counts["kept"] == 2
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{\n  "id": \n')
    assert len(oracle.compute([broken]).rejects) == 2


def test_bom_and_gzip_by_content(tmp_path):
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(step()) + b"\n")
    doc = tmp_path / "bom.json"
    doc.write_bytes(b"\xef\xbb\xbf" + orjson.dumps([step(id="s2")], option=orjson.OPT_INDENT_2))
    sse = tmp_path / "bom.txt"
    sse.write_bytes(b"\xef\xbb\xbfevent: thread.run.completed\ndata: " + orjson.dumps(run()))
    plain_gz = tmp_path / "plain.jsonl.gz"  # not gzip data despite its name
    plain_gz.write_bytes(orjson.dumps(step(id="s3")) + b"\n")
    gz = tmp_path / "packed.jsonl.gz"
    gz.write_bytes(gzip.compress(orjson.dumps(step(id="s4")) + b"\n"))
    result = oracle.compute([tmp_path])
    assert result.rejects == []
    assert sorted(s["step_id"] for s in result.steps) == ["s2", "s3", "s4", "step_A"]
    assert [r["run_id"] for r in result.runs] == ["run_A"]


def test_sse_block_without_event_is_a_bare_value(tmp_path):
    path = tmp_path / "bare.sse"
    path.write_bytes(b"data: " + orjson.dumps(step()) + b"\n\ndata: 5\n\n"
                     b"data: " + orjson.dumps({"event": "thread.run.completed", "data": run()})
                     + b"\n\n")
    result = oracle.compute([path])
    assert [(r["line_no"], r["raw"]) for r in result.rejects] == [(3, "5")]
    assert len(result.steps) == len(result.runs) == 1
    assert result.lines_read == 6
