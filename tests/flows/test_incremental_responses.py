"""Incremental ingestion of Responses API data: what one batch brings changes rows that
depend on it across ids (a late terminal poll, a stream that grows, a tool output sent
in a later request, the parent of a chain arriving after its child), and each batch must
end where a clean ingest of the same final input ends: same tables, same accounting."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.flows.ingest import ingest
from steplens.flows.store import snapshots
from tests.support.builders import (
    R0,
    function_call,
    function_call_output,
    message,
    request,
    response,
    run,
    stream,
)

pytestmark = pytest.mark.flow

KEYS = {"runs": ["run_id"], "steps": ["run_id", "step_id"], "tool_calls": ["run_id", "step_id"],
        "usage": ["run_id", "step_id"], "rejects": ["source_file", "line_no", "reason"]}
TOTALS = ("records_read", "kept", "superseded", "rejected", "skipped", "lines_read",
          "responses")


def tables(wh: Path) -> dict[str, pl.DataFrame]:
    snap = snapshots.current_snapshot(wh)
    return {t: pl.read_parquet(snap / t / "**" / "*.parquet").sort(k, nulls_last=True)
            for t, k in KEYS.items()}


def assert_like_clean_run(wh: Path, export: Path, tmp_path: Path, summary: dict,
                          n: int) -> dict[str, pl.DataFrame]:
    clean_wh = tmp_path / f"clean-{n}"
    clean = ingest(paths=[str(export)], warehouse_dir=str(clean_wh))
    got, want = tables(wh), tables(clean_wh)
    for name, frame in want.items():
        assert_frame_equal(got[name], frame, check_row_order=False)
    for key in TOTALS:
        assert summary[key] == clean[key], key
    assert summary["balanced"] == 1
    return got


def write(path: Path, *records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def append(path: Path, *records) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in records))


def test_batches_that_change_other_responses_rows(prefect_server, tmp_path):
    export, wh = tmp_path / "export", tmp_path / "wh"
    child = response("completed", message(id="msg_C"), id="resp_C",
                     previous_response_id="resp_P", created_at=R0 + 60)
    grandchild = response("completed", function_call(), id="resp_G",
                          previous_response_id="resp_C", created_at=R0 + 120)
    events = stream(response(id="resp_S"), function_call(id="fc_S", call_id="call_S"),
                    message(id="msg_S"))
    # batch 1: a queued poll, a chain without its root, a stream cut after 4 events,
    # an Assistants run beside it
    write(export / "polls.jsonl", response("queued", id="resp_Q", background=True))
    write(export / "chain.jsonl", child, grandchild)
    write(export / "stream.jsonl", *events[:4])
    write(export / "assistants.jsonl", run())
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    got = assert_like_clean_run(wh, export, tmp_path, summary, 1)
    threads = dict(got["runs"].select("run_id", "thread_id").iter_rows())
    assert threads["resp_C"] == threads["resp_G"] == "resp_P"
    assert dict(got["runs"].select("run_id", "status").iter_rows())["resp_S"] == "in_progress"

    # batch 2: the terminal poll, the root of the chain (in a conversation), the rest of
    # the stream, the output of the grandchild's call in a later request
    append(export / "polls.jsonl", response("completed", message(id="msg_Q"), id="resp_Q",
                                            background=True))
    write(export / "root.jsonl", response("completed", id="resp_P",
                                          conversation={"id": "conv_1"}))
    append(export / "stream.jsonl", *events[4:])
    write(export / "requests.jsonl", request(function_call_output(output="12 C"),
                                             previous_response_id="resp_G"))
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    got = assert_like_clean_run(wh, export, tmp_path, summary, 2)
    runs = {r["run_id"]: r for r in got["runs"].to_dicts()}
    assert runs["resp_Q"]["status"] == runs["resp_S"]["status"] == "completed"
    assert runs["resp_C"]["thread_id"] == runs["resp_G"]["thread_id"] == "conv_1"
    calls = {r["step_id"]: r for r in got["tool_calls"].to_dicts()}
    assert calls["fc_A"]["function_output"] == "12 C"
    assert calls["fc_A"]["thread_id"] == "conv_1"

    # batch 3: a longer copy of the output elsewhere wins; the root's file is rewritten
    # without it (the chain falls back to its id); the stream file is rewritten, cut
    write(export / "items.jsonl", {"object": "list", "data": [
        function_call_output(output="12 C, windy", id="fco_1")]})
    write(export / "root.jsonl", response("completed", id="resp_other"))
    write(export / "stream.jsonl", *events[:3])
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    got = assert_like_clean_run(wh, export, tmp_path, summary, 3)
    runs = {r["run_id"]: r for r in got["runs"].to_dicts()}
    assert runs["resp_G"]["thread_id"] == "resp_P"
    assert runs["resp_S"]["status"] == "in_progress"
    (call,) = got["tool_calls"].filter(pl.col("step_id") == "fc_A").to_dicts()
    assert call["function_output"] == "12 C, windy"
