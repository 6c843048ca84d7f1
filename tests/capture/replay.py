"""Replaying the recordings of tests/data/real-responses through the real openai SDK.

Each recording directory becomes a script of HTTP exchanges in recorded order (its
stream first, then the bodies of `responses.jsonl`: the README there says a directory
holds its stream plus the bodies recorded after it), with the request bodies of
`requests.jsonl` given back to the `POST /v1/responses` calls they were sent with (the
stream's POST takes the first; each response id seen for the first time takes the next;
README: line k is the request of the k-th successful POST). A mock transport serves the
scripted bodies byte for byte, in pieces, and `drive` makes the SDK calls that fetch
them: `responses.create` (streamed or not), `responses.retrieve` (also a resumed stream),
`responses.cancel`, `responses.input_items.list`, `conversations.retrieve`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from tests.support.paths import REAL_RESPONSES

README = (REAL_RESPONSES / "README.md").read_text()
# The pydantic-ai conversation cassettes share placeholder ids: read one at a time.
SHARED_IDS = ("pydantic-ai-conversation-id-",)


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body served in pieces of `size` bytes (a network delivers it so)."""

    def __init__(self, data: bytes, size: int = 997) -> None:
        self.data = data
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.data), self.size):
            yield self.data[i:i + self.size]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece


@dataclass
class Step:
    """One exchange: what the SDK is asked to do, and the body the server returns."""

    action: str  # create | stream | resume | retrieve | cancel | input_items | conversation
    body: bytes  # the response body served (JSON, or SSE text)
    request: dict | None = None  # the POST /v1/responses body
    target: str = ""  # the response or conversation id the call names
    query: dict = field(default_factory=dict)  # resume: stream / starting_after


def _stream_call(directory: Path) -> tuple[str, str] | None:
    section = re.search(r"### `" + re.escape(directory.name) + r"/`.*?(?=\n### |\Z)", README,
                        re.S)
    assert section is not None, directory.name
    m = re.search(r"stream\.sse / stream\.jsonl: `(\w+) ([^`]+)`", section.group(0))
    return (m[1], m[2]) if m else None


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def script(directory: Path) -> list[Step]:
    """The exchanges of one recording directory, in recorded order."""
    requests = [orjson.loads(line) for line in _lines(directory / "requests.jsonl")]
    steps: list[Step] = []
    seen: set[str] = set()
    call = _stream_call(directory)
    if call is not None:
        sse = (directory / "stream.sse").read_bytes()
        first = orjson.loads(_lines(directory / "stream.jsonl")[0])
        rid = (first.get("response") or {}).get("id")
        if call[0] == "POST":
            steps.append(Step("stream", sse, requests.pop(0) if requests else {}))
        else:
            url = urlsplit(call[1])
            rid = url.path.rsplit("/", 1)[-1]
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            steps.append(Step("resume", sse, target=rid, query=query))
        if rid:
            seen.add(rid)
    for raw in _lines(directory / "responses.jsonl"):
        body = orjson.loads(raw)
        obj = body.get("object")
        if obj == "response":
            rid = body["id"]
            if rid not in seen and requests:
                steps.append(Step("create", raw, requests.pop(0)))
            elif body.get("status") == "cancelled":
                steps.append(Step("cancel", raw, target=rid))
            else:
                steps.append(Step("retrieve", raw, target=rid))
            seen.add(rid)
        elif obj == "list":
            steps.append(Step("input_items", raw, target="resp_any"))
        elif obj == "conversation":
            steps.append(Step("conversation", raw, target=body["id"]))
    return steps


class Server:
    """The mock API: answers each request with the next scripted body, checking that
    the SDK asked for what the script expects."""

    def __init__(self, steps: list[Step], piece: int = 997) -> None:
        self.steps = list(steps)
        self.piece = piece
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        step = self.steps.pop(0)
        method = "POST" if step.action in ("create", "stream", "cancel") else "GET"
        assert request.method == method, (request.method, step.action)
        sse = step.action in ("stream", "resume")
        ctype = "text/event-stream; charset=utf-8" if sse else "application/json"
        return httpx.Response(200, headers={"content-type": ctype, "x-request-id": "req_1"},
                              stream=Pieces(step.body, self.piece))


def plain(obj) -> dict:
    """What the SDK handed the caller, as plain data (its models are built without
    validation, so real payloads the types do not declare come through too)."""
    return obj.to_dict(warnings=False)


def create_kwargs(client, body: dict) -> dict:
    """A request body as `responses.create` keyword arguments (unknown keys in
    `extra_body`, as an application passing them would)."""
    params = set(inspect.signature(client.responses.create).parameters)
    known = {k: v for k, v in body.items() if k in params}
    extra = {k: v for k, v in body.items() if k not in params}
    if extra:
        known["extra_body"] = extra
    return known


def drive(client, steps: list[Step]) -> list:
    """Make the SDK calls of `steps`; what the SDK returned for each (objects, or the
    list of stream events)."""
    out: list = []
    for step in steps:
        if step.action == "stream":
            kw = create_kwargs(client, step.request or {})
            kw["stream"] = True
            out.append([plain(e) for e in client.responses.create(**kw)])
        elif step.action == "resume":
            kw = {"stream": True}
            if "starting_after" in step.query:
                kw["starting_after"] = int(step.query["starting_after"])
            out.append([plain(e) for e in client.responses.retrieve(step.target, **kw)])
        elif step.action == "create":
            kw = create_kwargs(client, step.request or {})
            assert not kw.get("stream")
            out.append(plain(client.responses.create(**kw)))
        elif step.action == "retrieve":
            out.append(plain(client.responses.retrieve(step.target)))
        elif step.action == "cancel":
            out.append(plain(client.responses.cancel(step.target)))
        elif step.action == "input_items":
            out.append(plain(client.responses.input_items.list(step.target)))
        elif step.action == "conversation":
            out.append(plain(client.conversations.retrieve(step.target)))
    return out


async def drive_async(client, steps: list[Step]) -> list:
    """`drive` for `AsyncOpenAI`."""
    out: list = []
    for step in steps:
        if step.action == "stream":
            kw = create_kwargs(client, step.request or {})
            kw["stream"] = True
            out.append([plain(e) async for e in await client.responses.create(**kw)])
        elif step.action == "resume":
            kw = {"stream": True}
            if "starting_after" in step.query:
                kw["starting_after"] = int(step.query["starting_after"])
            stream = await client.responses.retrieve(step.target, **kw)
            out.append([plain(e) async for e in stream])
        elif step.action == "create":
            kw = create_kwargs(client, step.request or {})
            assert not kw.get("stream")
            out.append(plain(await client.responses.create(**kw)))
        elif step.action == "retrieve":
            out.append(plain(await client.responses.retrieve(step.target)))
        elif step.action == "cancel":
            out.append(plain(await client.responses.cancel(step.target)))
        elif step.action == "input_items":
            out.append(plain(await client.responses.input_items.list(step.target)))
        elif step.action == "conversation":
            out.append(plain(await client.conversations.retrieve(step.target)))
    return out


def directories(shared: bool = False) -> list[Path]:
    """The recording directories (without, or only, those sharing placeholder ids)."""
    dirs = sorted(p for p in REAL_RESPONSES.iterdir() if p.is_dir())
    return [d for d in dirs if d.name.startswith(SHARED_IDS) == shared]
