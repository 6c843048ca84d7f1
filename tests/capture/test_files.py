"""What a reader beside the capture sees: whole records only, while files grow, under
threads and asyncio, and after a crash at any moment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

from steplens.capture import Transport
from steplens.flows.io.inputs import Chunk, discover, is_document, is_gzip, is_sse, parse_chunk
from tests.capture.replay import Pieces
from tests.capture.support import (
    BASE,
    SECRET,
    async_client,
    client,
    ingest,
    records,
    streams,
    transport_of,
    visible,
)
from tests.support.paths import REAL_RESPONSES, ROOT

SSE = (REAL_RESPONSES / "openai-dotnet-streamingresponses" / "stream.sse").read_bytes()
BODY = (REAL_RESPONSES / "pydantic-ai-simple-response" / "responses.jsonl").read_bytes().strip()


def handler(request: httpx.Request) -> httpx.Response:
    """Stateless: a stream for `stream: true`, else one response object."""
    body = orjson.loads(request.content) if request.content else {}
    if body.get("stream"):
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              stream=Pieces(SSE, 311))
    return httpx.Response(200, headers={"content-type": "application/json"},
                          stream=Pieces(BODY, 500))


def test_threads_share_one_transport(tmp_path):
    c = client(handler, tmp_path, max_file_bytes=20_000)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(12):
                if i % 3 == 0:
                    with c.responses.with_streaming_response.create(
                            model="m", input=f"t{t}-{i}", stream=True) as r:
                        assert b"".join(r.iter_bytes()) == SSE
                else:
                    assert c.responses.create(model="m", input=f"t{t}-{i}").id
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.close()
    assert not errors
    lines = [orjson.loads(x) for x in records(tmp_path)]
    inputs = sorted(x["input"] for x in lines if "input" in x)
    assert inputs == sorted(f"t{t}-{i}" for t in range(8) for i in range(12))
    assert sum(x.get("object") == "response" for x in lines) == 8 * 8
    assert streams(tmp_path) == [SSE] * (8 * 4)
    assert transport_of(c).stats.dropped == 0


def test_asyncio_tasks_share_one_transport(tmp_path):
    async def main() -> None:
        c = async_client(handler, tmp_path)

        async def one(i: int) -> None:
            if i % 2:
                async with c.responses.with_streaming_response.create(
                        model="m", input=f"a{i}", stream=True) as r:
                    assert b"".join([p async for p in r.iter_bytes()]) == SSE
            else:
                assert (await c.responses.create(model="m", input=f"a{i}")).id

        await asyncio.gather(*(one(i) for i in range(40)))
        await c.close()

    asyncio.run(main())
    lines = [orjson.loads(x) for x in records(tmp_path)]
    assert sorted(x["input"] for x in lines if "input" in x) == sorted(f"a{i}" for i in range(40))
    assert streams(tmp_path) == [SSE] * 20


def read_like_an_ingest(directory: Path) -> tuple[int, int]:
    """(records read, rejects) of every input file as an ingest reads it right now."""
    read = rejected = 0
    for path in discover([directory]):
        try:
            chunk = Chunk(path, 0, -1, compressed=is_gzip(path), sse=is_sse(path),
                          document=is_document(path))
        except FileNotFoundError:
            continue
        batch = parse_chunk(chunk)
        read += batch.records_read
        rejected += batch.rejects.height
    return read, rejected


def test_a_reader_beside_the_capture_never_sees_half_a_record(tmp_path):
    out = tmp_path / "exports"
    c = client(handler, out, max_file_bytes=3_000, max_file_age=0.05)
    stop = threading.Event()

    def capture() -> None:
        i = 0
        while not stop.is_set() and i < 120:
            if i % 4 == 0:
                for _ in c.responses.create(model="m", input=f"x{i}", stream=True):
                    pass
            else:
                c.responses.create(model="m", input=f"x{i}" * 200)  # long lines
            i += 1
            time.sleep(0.01)  # an application's pace: files rotate (by age) meanwhile

    writer = threading.Thread(target=capture)
    writer.start()
    try:
        reads = ingests = 0
        while writer.is_alive():
            if out.exists():
                read, rejected = read_like_an_ingest(out)
                assert rejected == 0
                reads += read > 0
                if reads >= 3 and not ingests:  # a real ingest, while the capture goes on
                    ingests += 1
                    assert ingest([out], tmp_path / "wh")["rejected"] == 0
            time.sleep(0.02)  # leave the writer the interpreter: reading is O(files)
    finally:
        stop.set()
        writer.join()
        c.close()
    assert reads >= 3
    summary = ingest([out], tmp_path / "wh")  # incremental, after the capture closed
    assert summary["rejected"] == 0 and summary["balanced"] == 1


CRASHING = """
import os, sys, httpx, openai
sys.path.insert(0, {root!r})
from tests.capture.test_files import handler
from steplens.capture import Transport
t = Transport({out!r}, inner=httpx.MockTransport(handler), compress={compress})
c = openai.OpenAI(api_key="sk-x", base_url="https://api.openai.com/v1",
                  http_client=httpx.Client(transport=t), max_retries=0)
for i in range(3):
    c.responses.create(model="m", input=f"before-{{i}}")
events = iter(c.responses.create(model="m", input="cut", stream=True))
for _ in range(10):  # a stream being read when the process dies
    next(events)
import glob, time  # what was read is written, as a writer keeps up (it polls its inbox:
for _ in range(200):  # give it the moment it takes, then go on)
    t._writer.flush(close_file=False)
    if any(os.path.getsize(p) > 40 for p in glob.glob({out!r} + "/.*.sse*.part")):
        break
    time.sleep(0.01)
print("ready", flush=True)
if {kill}:
    import time
    i = 0
    while True:
        c.responses.create(model="m", input=f"loop-{{i}}")
        i += 1
os._exit(1)  # a crash: no close, no atexit
"""


def _crash(out: Path, kill: bool, compress: bool = True) -> None:
    code = CRASHING.format(root=str(ROOT), out=str(out), kill=kill, compress=compress)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            cwd=str(ROOT))
    assert proc.stdout.readline().strip() == b"ready"
    if kill:
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_crash_leaves_part_files_that_the_next_capture_closes(tmp_path):
    out = tmp_path / "exports"
    _crash(out, kill=False)
    parts = sorted(p.name for p in out.iterdir() if p.name.endswith(".part"))
    assert len(parts) == 2  # the JSON-lines file and the cut stream
    # a half line, as a crash of the machine (not just the process) could leave
    (jsonl,) = [out / p for p in parts if ".jsonl" in p]
    with open(jsonl, "ab") as f:
        f.write(b'{"object": "response", "id": "resp_half')
    assert visible(out) == []
    Transport(out).close()  # the next capture on the directory
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    lines = [orjson.loads(x) for x in records(out)]
    assert [x["input"] for x in lines if "input" in x] == ["before-0", "before-1", "before-2",
                                                            "cut"]
    (cut,) = streams(out)
    assert SSE.startswith(cut) and cut.endswith(b"\n\n") and len(cut) < len(SSE)
    summary = ingest([out], tmp_path / "wh")
    assert summary["rejected"] == 0


def test_a_kill_at_any_moment_leaves_whole_records(tmp_path):
    out = tmp_path / "exports"
    _crash(out, kill=True, compress=False)
    Transport(out).close()
    read, rejected = read_like_an_ingest(out)
    assert read > 4 and rejected == 0


def test_a_live_writers_part_file_is_not_taken(tmp_path):
    """Recovery closes only files whose writer is gone (their lock is free)."""
    a = client(handler, tmp_path)
    a.responses.create(model="m", input="a")
    transport_of(a).flush(timeout=0)  # not waiting: the file may still be open
    b = Transport(tmp_path)
    a.responses.create(model="m", input="b")
    b.close()
    a.close()
    lines = [orjson.loads(x) for x in records(tmp_path)]
    assert [x["input"] for x in lines if "input" in x] == ["a", "b"]


def test_credentials_never_reach_the_files(tmp_path):
    """The API key travels in the Authorization header; an MCP tool's token in the body."""
    token = "mcp-token-do-not-keep-42"
    c = client(handler, tmp_path)
    c.responses.create(model="m", input="hi", tools=[{
        "type": "mcp", "server_label": "x", "server_url": "https://x", "authorization": token,
        "headers": {"X-Api-Key": token}, "require_approval": "never"}],
        extra_headers={"X-Custom-Auth": SECRET})
    for _ in c.responses.create(model="m", input="hi", stream=True):
        pass
    c.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    import gzip

    text = b"".join(gzip.decompress(p.read_bytes()) for p in visible(tmp_path))
    for secret in (SECRET.encode(), token.encode(), b"Bearer", BASE.encode()):
        assert secret not in text and secret not in data
    assert b'"authorization":"<scrubbed>"' in text


EXITING = """
import sys, httpx, openai
sys.path.insert(0, {root!r})
from tests.capture.test_files import handler
from steplens.capture import Transport
t = Transport({out!r}, inner=httpx.MockTransport(handler))
c = openai.OpenAI(api_key="sk-x", base_url="https://api.openai.com/v1",
                  http_client=httpx.Client(transport=t), max_retries=0)
c.responses.create(model="m", input="at exit")
for _ in c.responses.create(model="m", input="streamed", stream=True):
    pass
"""  # and no close: the interpreter's exit closes the files


def test_an_application_that_never_closes_its_client_still_gets_its_files(tmp_path):
    subprocess.run([sys.executable, "-c", EXITING.format(root=str(ROOT), out=str(tmp_path))],
                   check=True, cwd=str(ROOT))
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    lines = [orjson.loads(x) for x in records(tmp_path)]
    assert [x["input"] for x in lines if "input" in x] == ["at exit", "streamed"]
    assert streams(tmp_path) == [SSE]


def test_a_forked_worker_records_its_own_calls(tmp_path):
    c = client(handler, tmp_path)
    c.responses.create(model="m", input="parent before")
    pid = os.fork()
    if pid == 0:  # the child: a worker of a pre-forking server
        try:
            c.responses.create(model="m", input="child")
            c.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    c.responses.create(model="m", input="parent after")
    c.close()
    lines = [orjson.loads(x) for x in records(tmp_path)]
    assert sorted(x["input"] for x in lines if "input" in x) == [
        "child", "parent after", "parent before"]
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []
