"""Flattening: de-duplication, order independence, deltas, derived columns."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.transforms import schemas
from steplens.transforms.parse import ParsedBatch, parse_lines
from steplens.transforms.schemas import ROW_PROVENANCE
from steplens.transforms.tables import (
    COUNTS,
    RESPONSE_FRAMES,
    RUN_FRAMES,
    STEP_FRAMES,
    Lookups,
    balance,
    build_bucket,
    build_tables,
    run_models,
)
from tests.support.paths import DATA, REAL_RESPONSES, real_files

EXAMPLES = DATA / "examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def tables_of(files: dict[str, list[bytes]]):
    batches = [parse_lines(name, list(enumerate(raw, 1))) for name, raw in files.items()]
    return build_tables(ParsedBatch.concat(batches))


def assert_same_tables(a, b):
    """The same tables but for provenance (the lines moved)."""
    for name, frame in a.frames().items():
        if name == "rejects":
            continue
        assert_frame_equal(frame.drop(ROW_PROVENANCE, strict=False),
                           b.frames()[name].drop(ROW_PROVENANCE, strict=False),
                           check_row_order=True)


def real_lines() -> list[bytes]:
    out = []
    for path in real_files("*/*.jsonl"):
        out += [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return out


def test_real_payloads_lose_nothing():
    lines = real_lines()
    tables = tables_of({"all.jsonl": lines})
    acc = tables.accounting
    assert acc["rejected"] == 0
    assert acc["balanced"] == 1
    step_ids = set()
    run_ids = set()
    for raw in lines:
        obj = orjson.loads(raw)
        items = obj["data"] if obj.get("object") == "list" else [obj]
        for item in items:
            data = item.get("data", item) if "event" in item else item
            if not isinstance(data, dict):
                continue
            if data.get("object") == "thread.run.step":
                step_ids.add(data["id"])
            elif data.get("object") == "thread.run":
                run_ids.add(data["id"])
    assert set(tables.steps["step_id"]) == step_ids
    assert set(tables.runs["run_id"]) == run_ids


def test_shuffled_lines_and_files_give_identical_tables():
    lines = real_lines()
    reference = tables_of({"/a.jsonl": lines})
    rng = random.Random(11)
    for _ in range(3):
        shuffled = lines[:]
        rng.shuffle(shuffled)
        cut1, cut2 = sorted(rng.sample(range(len(shuffled)), 2))
        files = {"/z.jsonl": shuffled[:cut1], "/b.jsonl": shuffled[cut1:cut2],
                 "/m.jsonl": shuffled[cut2:]}
        assert_same_tables(reference, tables_of(files))


def _step(status: str, **changes) -> dict:
    step = example("step_tool_calls_function_completed")
    step.update(status=status, **changes)
    return step


@pytest.mark.parametrize("order", [0, 1])
def test_terminal_state_beats_in_progress(order):
    running = _step("in_progress", completed_at=None, usage=None)
    running["step_details"]["tool_calls"] = running["step_details"]["tool_calls"][:1]
    done = _step("completed")
    records = [running, done] if order == 0 else [done, running]
    tables = tables_of({"f": [orjson.dumps(r) for r in records]})
    row = tables.steps.row(0, named=True)
    assert tables.steps.height == 1
    assert row["status"] == "completed"
    assert row["tool_call_count"] == 2
    assert tables.tool_calls.height == 2
    assert row["latency_s"] == done["completed_at"] - done["created_at"]
    assert tables.accounting["superseded"] == 1


def test_more_information_wins_between_equal_states():
    bare = _step("completed", usage=None)
    full = _step("completed")
    for records in ([bare, full], [full, bare]):
        tables = tables_of({"f": [orjson.dumps(r) for r in records]})
        assert tables.usage.height == 1
        assert tables.steps["total_tokens"].to_list() == [full["usage"]["total_tokens"]]


def test_model_comes_from_the_run_and_missing_runs_leave_null():
    step = example("step_message_creation_completed")
    run = example("run_completed")
    orphan = dict(step, id="step_orphan", run_id="run_missing")
    tables = tables_of({"f": [orjson.dumps(x) for x in (step, run, orphan)]})
    models = dict(zip(tables.steps["step_id"], tables.steps["model"], strict=True))
    assert models == {step["id"]: run["model"], "step_orphan": None}
    assert tables.usage.filter(pl.col("step_id") == step["id"])["model"].to_list() == [run["model"]]


def test_run_columns():
    run = example("run_completed")
    queued = dict(run, status="queued", started_at=None, completed_at=None, usage=None)
    tables = tables_of({"f": [orjson.dumps(queued), orjson.dumps(run)]})
    row = tables.runs.row(0, named=True)
    assert row["status"] == "completed"
    assert row["queue_s"] == run["started_at"] - run["created_at"]
    assert row["duration_s"] == run["completed_at"] - run["started_at"]
    assert row["total_tokens"] == run["usage"]["total_tokens"]
    assert row["created_at"].isoformat() == "2024-06-10T12:21:43"
    assert str(row["day"]) == "2024-06-10"


def test_cut_off_stream_keeps_an_in_progress_step_with_calls_from_deltas():
    step = _step("in_progress", completed_at=None, usage=None)
    step["step_details"]["tool_calls"] = []
    created = {"event": "thread.run.step.created", "data": step}

    def delta(**call):
        return {"event": "thread.run.step.delta", "data": {
            "id": step["id"], "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}}}}

    lines = [
        created,
        delta(index=0, id="call_a", type="function", function={"name": "f", "arguments": ""}),
        delta(index=1, id="call_b", type="code_interpreter",
              code_interpreter={"input": "pri", "outputs": []}),
        delta(index=0, type="function", function={"arguments": '{"x": '}),
        delta(index=1, type="code_interpreter", code_interpreter={"input": "nt(1)", "outputs": [
            {"index": 0, "type": "logs", "logs": "1\n"}]}),
        delta(index=0, type="function", function={"arguments": "1}"}),
    ]
    tables = tables_of({"s.jsonl": [orjson.dumps(x) for x in lines]})
    row = tables.steps.row(0, named=True)
    assert (row["status"], row["tool_call_count"]) == ("in_progress", 2)
    calls = tables.tool_calls.rows_by_key("call_index", named=True, unique=True)
    assert calls[0]["function_arguments"] == '{"x": 1}'
    assert calls[0]["arguments_valid_json"] is True
    assert calls[1]["code_input"] == "print(1)"
    assert calls[1]["code_log_chars"] == 2
    assert tables.accounting["deltas_applied"] == 5
    assert tables.accounting["balanced"] == 1

    completed = {"event": "thread.run.step.completed", "data": _step("completed")}
    final = tables_of({"s.jsonl": [orjson.dumps(x) for x in [*lines, completed]]})
    assert final.steps["status"].to_list() == ["completed"]
    assert final.tool_calls["function_name"].to_list() == ["get_weather", "get_weather"]
    assert final.accounting["deltas_applied"] == 0
    assert final.accounting["superseded"] == 6


def test_a_stream_saved_twice_is_not_concatenated_twice():
    """The .jsonl and .sse twins of one cut-off stream: deltas count once."""
    from steplens.flows.io.inputs import parse_chunk
    from steplens.flows.store.records import Range

    folder = DATA / "real" / "openai-dotnet-stream-streamingtoolcall-create-thread-and-run"
    jsonl = parse_chunk(Range(str(folder / "stream.jsonl"), 0, -1, 1).chunk())
    sse = parse_chunk(Range(str(folder / "stream.sse"), 0, -1, 1, sse=True).chunk())
    once = build_tables(jsonl)
    twice = build_tables(ParsedBatch.concat([jsonl, sse]))
    assert once.tool_calls["function_arguments"].to_list() == ["{}"]
    assert_same_tables(once, twice)
    assert twice.accounting["superseded"] - once.accounting["superseded"] == (
        sse.delta_events.height + sse.step_records.height + sse.run_records.height)


def test_a_stream_split_across_files_is_concatenated_in_path_order():
    step = _step("in_progress", completed_at=None, usage=None)

    def delta(piece: str) -> bytes:
        return orjson.dumps({"event": "thread.run.step.delta", "data": {
            "id": step["id"], "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [
                {"index": 0, "type": "function", "function": {"arguments": piece}}]}}}})

    pieces = ['{"ci', 'ty": "Par', 'is"}']
    files = {"/x/part-0002.jsonl": [delta(pieces[2])],
             "/x/part-0001.jsonl": [orjson.dumps(step), delta(pieces[0]), delta(pieces[1])]}
    tables = tables_of(files)
    assert tables.tool_calls["function_arguments"].to_list() == ["".join(pieces)]
    assert tables.accounting["deltas_applied"] == 3


def _only(batch: ParsedBatch, frames: tuple[str, ...]) -> ParsedBatch:
    """`batch` with every record frame but `frames` emptied: what an ingest's bucket of
    one kind of id holds."""
    return replace(batch, **{f: getattr(batch, f).clear() for f in ParsedBatch.FRAMES
                             if f not in frames})


def test_buckets_of_each_kind_of_id_give_the_whole_build():
    """The ingest builds runs, then steps, then responses, each in buckets of its own ids
    (flows/store/rebuild.py), passing in what crosses them: together, the whole build."""
    from steplens.transforms.responses import tables as responses

    files = [*real_files("*/*.jsonl"), *sorted(REAL_RESPONSES.glob("*/*.jsonl"))]
    batch = ParsedBatch.concat(parse_lines(str(f), list(enumerate(
        [line for line in f.read_bytes().split(b"\n") if line.strip()], 1))) for f in files)
    whole = build_tables(batch)
    assert whole.runs["api"].n_unique() == 2 and whole.response_sources.height

    runs = build_bucket(_only(batch, RUN_FRAMES))
    steps = build_bucket(_only(batch, STEP_FRAMES),
                         Lookups(models=run_models(runs.runs.lazy()).collect()))
    threads = responses.thread_ids(responses.heads(responses.winners(
        batch.response_records, batch.response_events)))
    answers = responses.answers(responses.output_copies(batch.response_outputs))
    answered = build_bucket(_only(batch, RESPONSE_FRAMES), Lookups(answers=answers,
                                                                   threads=threads))
    for name, frame in whole.keyed().items():
        key = schemas.KEYED[name].key
        parts = pl.concat([runs.keyed()[name], steps.keyed()[name], answered.keyed()[name]])
        assert_frame_equal(parts.sort(key, nulls_last=True), frame.sort(key, nulls_last=True),
                           check_row_order=False)


def test_the_accounting_takes_every_count_and_no_other():
    counts = dict.fromkeys(COUNTS, 0)
    assert balance(counts)["balanced"] == 1
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['bytes_read'\]"):
        balance({**counts, "bytes_read": 1})
    with pytest.raises(ValueError, match=r"missing \['billing_rows'\], unexpected \[\]"):
        balance({k: v for k, v in counts.items() if k != "billing_rows"})
