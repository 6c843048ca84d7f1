"""Micro-tests of the oracle itself, on inline inputs of one to a few lines."""

from __future__ import annotations

import datetime as dt
import zlib

import oracle
import orjson
import pytest

T0 = 1718022105  # 2024-06-10 12:21:45 UTC


def step(status="completed", **fields) -> dict:
    s = {"id": "step_A", "object": "thread.run.step", "created_at": T0, "run_id": "run_A",
         "assistant_id": "asst_A", "thread_id": "thread_A", "type": "tool_calls",
         "status": status, "completed_at": T0 + 4 if status == "completed" else None,
         "step_details": {"type": "tool_calls", "tool_calls": []}, "usage": None}
    s.update(fields)
    return s


def run(status="completed", **fields) -> dict:
    r = {"id": "run_A", "object": "thread.run", "created_at": T0 - 2, "thread_id": "thread_A",
         "assistant_id": "asst_A", "model": "gpt-4o", "status": status, "started_at": T0 - 1,
         "completed_at": T0 + 9 if status == "completed" else None}
    r.update(fields)
    return r


def delta(*calls, step_id="step_A", **details) -> dict:
    sd = {"type": "tool_calls", **details}
    if calls:
        sd["tool_calls"] = list(calls)
    return {"id": step_id, "object": "thread.run.step.delta", "delta": {"step_details": sd}}


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


def test_dedup_falls_back_to_crc32_of_canonical_bytes(tmp_path):
    a, b = step(metadata={"k": "a"}), step(metadata={"k": "b"})  # same size, same stamps
    canonical = [orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in (a, b)]
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
    ],
)
def test_rejects(tmp_path, line, reason):
    result = compute(tmp_path, step(id="step_ok"), line)
    (reject,) = result.rejects
    assert reject["line_no"] == 2 and reason in reject["reason"]
    assert reject["source_file"] == str((tmp_path / "in.jsonl").absolute())
    assert [s["step_id"] for s in result.steps] == ["step_ok"]


def test_list_page_items_are_judged_one_by_one(tmp_path):
    page = {"object": "list", "data": [step(), step(id="step_B", created_at="x"), 3],
            "has_more": False}
    result = compute(tmp_path, page, {"object": "list", "data": []}, b"   ")
    assert [(r["line_no"], r["raw"]) for r in result.rejects] == [
        (1, orjson.dumps(page["data"][1]).decode()), (1, "3")]
    assert result.counts == {"records_read": 5, "kept": 1, "superseded": 0, "rejected": 2,
                             "skipped": 2}
    assert result.skipped_by_shape == {"blank": 1, "list": 1}


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
                                       "thread.message": 1}
    (r,) = result.runs
    assert r["status"] == "incomplete" and r["incomplete_reason"] == "max_tokens"


def test_raw_is_cut_to_4096_characters(tmp_path):
    (reject,) = compute(tmp_path, b"x" * 5000).rejects
    assert reject["raw"] == "x" * 4096


# --------------------------------------------------------------------------- SSE


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
    path = tmp_path / "s.txt"
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


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([7], 0.9, 7.0), ([1, 2, 3, 4], 0.5, 2.5), ([1, 2, 3, 4], 0.9, 3.7),
     ([0, 0, 10], 0.95, 9.0), ([1, 2], 0.99, 1.99)],
)
def test_quantile_cont(values, q, expected):
    assert oracle.quantile_cont(values, q) == pytest.approx(expected)


def test_quantile_cont_matches_duckdb():
    duckdb = pytest.importorskip("duckdb")
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
