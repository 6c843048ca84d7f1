"""The capture transport against the real recordings, through the real openai SDK.

The recordings of tests/data/real-responses are replayed by a mock API (tests/capture/
replay.py) to an `OpenAI` client whose HTTP client records through `Transport`. What the
capture wrote must ingest with no reject into the same rows as the recordings
themselves, the caller must get what it gets without the capture, and the files must
hold the stream text exactly as served."""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path

import httpx
import orjson
import pytest
from polars.testing import assert_frame_equal

from steplens.capture import route
from steplens.capture import writer as writer_module
from tests.capture.replay import Server, directories, drive, drive_async, script
from tests.capture.support import (
    TABLES,
    async_client,
    client,
    ingest,
    records,
    streams,
    tables,
    transport_of,
    visible,
)


def replay(dirs: list[Path], capture: Path | None, **options) -> tuple[list, dict]:
    """Every directory's exchanges through one SDK client; what the SDK returned, and
    the capture's stats (None without capture)."""
    server: list[Server] = []
    c = client(lambda r: server[-1](r), capture, **options)
    out = []
    for d in dirs:
        steps = script(d)
        server.append(Server(steps))
        out.append(drive(c, steps))
        assert not server[-1].steps, d.name  # every scripted exchange was asked for
    stats = transport_of(c).stats if capture is not None else None
    c.close()
    return out, stats


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> dict:
    """The recordings replayed once without and once with the capture."""
    root = tmp_path_factory.mktemp("capture")
    dirs = directories()
    plain, _ = replay(dirs, None)
    got, stats = replay(dirs, root / "exports")
    return {"dirs": dirs, "plain": plain, "got": got, "stats": stats,
            "exports": root / "exports", "root": root}


def test_the_caller_gets_the_same_objects_and_events_with_the_capture(captured):
    assert captured["got"] == captured["plain"]
    assert captured["stats"].errors == 0 and captured["stats"].dropped == 0


def test_each_stream_is_written_exactly_as_served(captured):
    want = [(d / "stream.sse").read_bytes() for d in captured["dirs"]
            if (d / "stream.sse").exists()]
    assert streams(captured["exports"]) == want


def _without_credentials(value):
    """What the recordings hold with the values of MCP tools' `headers` and
    `authorization` replaced (the one kind of credential they carry)."""
    if isinstance(value, dict):
        return {k: "<scrubbed>" if k.lower() in ("headers", "authorization") and v is not None
                else _without_credentials(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_credentials(v) for v in value]
    return value


def test_every_body_and_request_is_one_line_in_call_order(captured):
    """Independent of the capture: the bodies the script served (compact JSON already)
    and the request bodies the SDK sent, in the order they were sent."""
    want = []
    for d in captured["dirs"]:
        for step in script(d):
            if step.request is not None and "input" in step.request:
                want.append(_without_credentials(step.request))
            if step.action not in ("stream", "resume"):
                want.append(_without_credentials(orjson.loads(step.body)))
    got = [orjson.loads(line) for line in records(captured["exports"])]
    assert got == want
    assert b'"<scrubbed>"' in b"".join(records(captured["exports"]))  # MCP tool headers


def test_the_captured_directory_ingests_into_the_rows_of_the_recordings(captured):
    root = captured["root"]
    recorded = ingest(captured["dirs"], root / "wh-recordings")
    summary = ingest([captured["exports"]], root / "wh-capture")
    assert summary["rejected"] == 0 and recorded["rejected"] == 0
    assert summary["balanced"] == 1
    want, got = tables(root / "wh-recordings"), tables(root / "wh-capture")
    for name in TABLES:
        assert want[name].height > 0, name
        assert_frame_equal(got[name], want[name])


@pytest.mark.parametrize("directory", directories(shared=True), ids=lambda d: d.name)
def test_recordings_with_placeholder_ids_one_at_a_time(tmp_path, directory):
    replay([directory], tmp_path / "exports")
    assert ingest([tmp_path / "exports"], tmp_path / "a")["rejected"] == 0
    ingest([directory], tmp_path / "b")
    want, got = tables(tmp_path / "b"), tables(tmp_path / "a")
    for name in TABLES:
        assert_frame_equal(got[name], want[name])


def test_asyncio_capture_writes_what_the_sync_one_wrote(captured, tmp_path):
    async def main() -> list:
        server: list[Server] = []
        c = async_client(lambda r: server[-1](r), tmp_path)
        out = []
        for d in captured["dirs"]:
            steps = script(d)
            server.append(Server(steps))
            out.append(await drive_async(c, steps))
        await c.close()
        return out

    assert asyncio.run(main()) == captured["plain"]
    assert records(tmp_path) == records(captured["exports"])
    assert streams(tmp_path) == streams(captured["exports"])


def _one(name: str) -> Path:
    (d,) = [d for d in directories() if d.name == name]
    return d


def test_raw_bytes_are_identical_with_and_without_capture(tmp_path):
    """The bytes the SDK hands a caller who reads the raw response."""
    d = _one("openai-dotnet-streamingresponses")
    (step,) = script(d)
    sse = (d / "stream.sse").read_bytes()
    got = []
    for capture in (None, tmp_path / "exports"):
        c = client(Server([step]), capture)
        with c.responses.with_streaming_response.create(
                model="gpt-4.1-nano", input="hi", stream=True) as r:
            got.append(b"".join(r.iter_bytes()))
        c.close()
    assert got == [sse, sse]
    assert streams(tmp_path / "exports") == [sse]


def test_a_body_read_before_the_transport_saw_it_is_recorded(tmp_path):
    """A mock or a middleware may build its response with `content=`: already read."""
    body = (_one("pydantic-ai-simple-response") / "responses.jsonl").read_bytes().strip()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    c = client(handler, tmp_path)
    c.responses.retrieve("resp_x")
    c.close()
    assert records(tmp_path) == [body]


def test_gzip_encoded_bodies_are_recorded_decoded(tmp_path):
    import gzip

    body = (_one("pydantic-ai-simple-response") / "responses.jsonl").read_bytes().strip()
    from tests.capture.replay import Pieces

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Pieces(gzip.compress(body), 100), headers={
            "content-type": "application/json", "content-encoding": "gzip"})

    c = client(handler, tmp_path)
    assert c.responses.retrieve("resp_x").to_dict(warnings=False) == orjson.loads(body)
    c.close()
    assert records(tmp_path) == [body]


@pytest.mark.parametrize(("method", "path", "want"), [
    ("POST", "/v1/responses", "create"),
    ("GET", "/v1/responses/resp_1", "retrieve"),
    ("POST", "/v1/responses/resp_1/cancel", "cancel"),
    ("GET", "/v1/responses/resp_1/input_items", "input_items"),
    ("POST", "/v1/conversations", "conversation"),
    ("GET", "/v1/conversations/conv_1", "conversation"),
    ("POST", "/v1/conversations/conv_1", "conversation"),
    ("GET", "/v1/conversations/conv_1/items", "conversation_items"),
    ("POST", "/v1/conversations/conv_1/items", "conversation_items"),
    ("GET", "/v1/conversations/conv_1/items/msg_1", "conversation_item"),
    ("GET", "/openai/v1/responses/resp_1", "retrieve"),  # a proxy's prefix
    ("DELETE", "/v1/responses/resp_1", None),
    ("DELETE", "/v1/conversations/conv_1", None),
    ("POST", "/v1/responses/compact", None),
    ("POST", "/v1/responses/input_tokens", None),
    ("GET", "/v1/responses", None),
    ("POST", "/v1/chat/completions", None),
    ("POST", "/v1/files", None),
    ("GET", "/v1/models", None),
])
def test_which_calls_are_recorded(method, path, want):
    assert route(method, path) == want


def test_other_endpoints_and_errors_pass_through_unrecorded(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/responses"):
            return httpx.Response(429, json={"error": {"message": "slow down"}})
        return httpx.Response(200, json={"object": "list", "data": []})

    c = client(handler, tmp_path)
    assert c.models.list().to_dict() == {"object": "list", "data": []}
    with pytest.raises(Exception, match="slow down"):
        c.responses.create(model="m", input="x")
    c.close()
    assert transport_of(c).stats.calls == 0
    assert list(tmp_path.iterdir()) == []


# ---- never hurting the application ---------------------------------------------------

def _mixed(n: int) -> list[Path]:
    """A few directories with streams, background polls, pages and conversations."""
    names = ["openai-dotnet-streamingresponses", "pydantic-ai-background-mode-vcr",
             "openai-dotnet-getinputitemswithafteridpagination",
             "openai-dotnet-cancreategetupdateanddeleteconversation",
             "openllmetry-responses-streaming-1"]
    return [_one(x) for x in names[:n]]


def test_a_directory_that_cannot_be_made_leaves_calls_working(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    dirs = _mixed(5)
    plain, _ = replay(dirs, None)
    with caplog.at_level(logging.WARNING, logger="steplens.capture"):
        got, stats = replay(dirs, blocker / "exports")
    assert got == plain
    assert stats.errors > 0 and stats.files == 0
    warnings = [r for r in caplog.records if r.name == "steplens.capture"]
    assert 1 <= len(warnings) <= 3  # once per kind of failure, not once per call


def test_a_full_disk_leaves_calls_working_and_no_half_line(tmp_path, monkeypatch, caplog):
    """Every file creation fails with ENOSPC; then writes fail half way."""
    dirs = _mixed(5)
    plain, _ = replay(dirs, None)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer_module, "os_open", full)
    with caplog.at_level(logging.WARNING, logger="steplens.capture"):
        got, stats = replay(dirs, tmp_path / "a")
    assert got == plain and stats.errors > 0
    assert sum(r.name == "steplens.capture" for r in caplog.records) <= 3
    monkeypatch.undo()

    calls = {"n": 0}
    real = writer_module._write_all

    def half(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] % 3 == 0:  # every third write stops half way: the disk filled up
            real(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(writer_module, "_write_all", half)
    got, stats = replay(dirs, tmp_path / "b")
    assert got == plain and stats.errors > 0 and stats.dropped > 0
    for line in records(tmp_path / "b"):
        orjson.loads(line)  # every line whole
    for text in streams(tmp_path / "b"):
        assert text.endswith(b"\n\n")  # whole blocks
    summary = ingest([tmp_path / "b"], tmp_path / "wh")
    assert summary["rejected"] == 0


def test_a_memory_bound_drops_and_counts_never_blocks(tmp_path):
    dirs = _mixed(5)
    plain, _ = replay(dirs, None)
    got, stats = replay(dirs, tmp_path, max_pending_bytes=1)
    assert got == plain
    assert stats.dropped > 0


def test_rotation_by_size_keeps_call_order_in_name_order(tmp_path, captured):
    replay(captured["dirs"][:12], tmp_path, max_file_bytes=1_500, compress=False)
    files = [p for p in visible(tmp_path) if p.name.endswith(".jsonl")]
    assert len(files) > 5
    assert all(p.stat().st_size < 1_500 + 400_000 for p in files)
    want = [orjson.loads(x) for x in records(_capture_of(captured["dirs"][:12], tmp_path))]
    assert [orjson.loads(x) for x in records(tmp_path)] == want


def _capture_of(dirs: list[Path], tmp_path: Path) -> Path:
    out = tmp_path.parent / (tmp_path.name + "-one-file")
    replay(dirs, out)
    return out


def test_rotation_by_age_makes_a_file_visible_without_close(tmp_path):
    import time

    server = Server(script(_one("pydantic-ai-simple-response")))
    c = client(server, tmp_path, max_file_age=0.2)
    c.responses.create(model="gpt-4o", input="hi")
    deadline = time.monotonic() + 10
    while not visible(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.name.endswith(".jsonl.gz") for p in visible(tmp_path)] == [True]
    c.close()
