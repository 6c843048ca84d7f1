"""`steplens pull` against a local HTTP server (127.0.0.1) that serves the recordings:
stored responses, input items and conversation items in pages of two, a 429 before
some answers, and 404 for an id the server does not have."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from steplens.flows.cli import app
from steplens.flows.pull import pull
from tests.capture.replay import README, directories
from tests.capture.support import TABLES, ingest, records, tables

PAGE = 2  # the server's page size, whatever the client asks
OWNER = re.compile(r"/v1/(?:responses/(resp_\w+)/input_items|conversations/(conv_\w+)/items)"
                   r"(?:\?|`|$)")


def store() -> dict:
    """What the server holds: the last state of every recorded response and
    conversation, and the items of every recorded item page, by owner id (the README's
    interactions say which page was whose)."""
    responses: dict[str, bytes] = {}
    conversations: dict[str, bytes] = {}
    items: dict[str, dict[str, dict]] = {}
    for d in directories():
        path = d / "responses.jsonl"
        if not path.exists():
            continue
        section = re.search(r"### `" + re.escape(d.name) + r"/`.*?(?=\n### |\Z)", README,
                            re.S).group(0)
        interactions = section.split("- Interactions (in order): ", 1)[1].split("\n", 1)[0]
        owners = [a or b for a, b in OWNER.findall(interactions)]
        for line in path.read_bytes().splitlines():
            body = orjson.loads(line)
            if body["object"] == "response":
                responses[body["id"]] = line
            elif body["object"] == "conversation":
                conversations[body["id"]] = line
            else:
                owner = owners.pop(0)
                for item in body["data"]:
                    items.setdefault(owner, {})[item["id"]] = item
    return {"responses": responses, "conversations": conversations,
            "items": {k: list(v.values()) for k, v in items.items()}}


class Api(BaseHTTPRequestHandler):
    data: dict
    log: list[str]
    throttled: set[str]

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        self.log.append(self.path)
        assert self.headers["authorization"] == "Bearer sk-pull-test"
        if url.path not in self.throttled and len(self.throttled) < 3:  # the first three
            self.throttled.add(url.path)
            return self._send(429, b'{"error": {"message": "Rate limit reached"}}',
                              {"retry-after-ms": "5"})
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")[1:]
        d = self.data
        if len(parts) == 2 and parts[0] == "responses" and parts[1] in d["responses"]:
            return self._send(200, d["responses"][parts[1]])
        if len(parts) == 2 and parts[0] == "conversations" and parts[1] in d["conversations"]:
            return self._send(200, d["conversations"][parts[1]])
        if len(parts) == 3 and parts[2] in ("input_items", "items") and (
                parts[1] in d["responses"] or parts[1] in d["conversations"]):
            assert query.get("order") == "asc"
            return self._send(200, page(d["items"].get(parts[1], []), query.get("after")))
        return self._send(404, b'{"error": {"message": "No such object", "type": '
                               b'"invalid_request_error"}}')


def page(items: list[dict], after: str | None) -> bytes:
    start = 0 if after is None else [i["id"] for i in items].index(after) + 1
    data = items[start:start + PAGE]
    return orjson.dumps({"object": "list", "data": data,
                         "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None,
                         "has_more": start + PAGE < len(items)})


@pytest.fixture
def api():
    handler = type("Handler", (Api,), {"data": store(), "log": [], "throttled": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def served(data: dict, path: Path) -> Path:
    """What the server holds, written as one JSON-lines file by hand (one list page per
    owner): the independent side of the comparison."""
    lines = [*data["responses"].values(), *data["conversations"].values()]
    for items in data["items"].values():
        lines.append(orjson.dumps({"object": "list", "data": items}))
    path.mkdir()
    (path / "served.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_pull_fetches_everything_into_the_rows_of_what_was_served(api, tmp_path,
                                                                  monkeypatch):
    handler, url = api
    monkeypatch.setenv("OPENAI_API_KEY", "sk-pull-test")
    data = handler.data
    ids = [*data["responses"], *data["conversations"], "resp_gone00000000000000"]
    s = pull(ids, tmp_path / "pulled", base_url=url, max_retries=3)
    assert s.failed == {}
    assert s.missing == ["resp_gone00000000000000"]
    assert s.responses == len(data["responses"])
    unfinished = sum(orjson.loads(b)["status"] not in ("completed", "incomplete", "failed",
                                                       "cancelled")
                     for b in data["responses"].values())
    assert s.unfinished == unfinished
    assert s.conversations == len(data["conversations"])
    assert len(handler.throttled) == 3  # three 429s, each retried by the client
    # pages of two: every owner's items took ceil(n / 2) pages (at least one)
    paged = [i for i in data["items"].values() if len(i) > PAGE]
    assert paged
    summary = ingest([tmp_path / "pulled"], tmp_path / "a")
    assert summary["rejected"] == 0
    ingest([served(data, tmp_path / "served")], tmp_path / "b")
    got, want = tables(tmp_path / "a"), tables(tmp_path / "b")
    for name in TABLES:
        assert want["runs"].height > 50
        assert_frame_equal(got[name], want[name])
    terminal = {k for k, b in data["responses"].items()
                if orjson.loads(b)["status"] in ("completed", "incomplete", "failed",
                                                 "cancelled")} | set(data["conversations"])
    pages = [body for line in records(tmp_path / "pulled")
             if (body := orjson.loads(line)).get("object") == "list"]
    assert sorted(i["id"] for p in pages for i in p["data"]) == sorted(
        i["id"] for owner, items in data["items"].items() if owner in terminal for i in items)
    assert all(len(p["data"]) <= PAGE for p in pages)


def test_a_second_pull_asks_only_for_what_is_new(api, tmp_path, monkeypatch):
    handler, url = api
    monkeypatch.setenv("OPENAI_API_KEY", "sk-pull-test")
    data = handler.data
    (conv,) = [c for c in data["items"] if c.startswith("conv_")][:1]
    done = [r for r, b in data["responses"].items()
            if orjson.loads(b)["status"] == "completed"][:5]
    pull([*done, conv], tmp_path, base_url=url)
    handler.log.clear()
    s = pull([*done, conv], tmp_path, base_url=url)
    assert s.already == 5 and s.responses == 0
    last = data["items"][conv][-1]["id"]
    assert not any("/responses/" in p for p in handler.log)
    assert any(f"after={last}" in p for p in handler.log)  # items after the last one only
    new = {"id": "msg_new_item_0001", "type": "message", "role": "user", "status":
           "completed", "content": [{"type": "input_text", "text": "one more"}]}
    data["items"][conv].append(new)
    before = len(records(tmp_path))
    pull([conv], tmp_path, base_url=url)
    added = [orjson.loads(x) for x in records(tmp_path)[before:]]
    pages = [x for x in added if x.get("object") == "list"]
    assert [i["id"] for p in pages for i in p["data"]] == ["msg_new_item_0001"]


def test_the_command_pulls_the_ids_a_capture_saw(api, tmp_path, monkeypatch):
    handler, url = api
    monkeypatch.setenv("OPENAI_API_KEY", "sk-pull-test")
    rid = next(iter(handler.data["responses"]))
    capture = tmp_path / "capture"
    capture.mkdir()
    (capture / "seen.jsonl").write_text(f'{{"object": "response", "id": "{rid}"}}\n')
    result = CliRunner().invoke(app, ["pull", str(tmp_path / "out"), "--from", str(capture),
                                      "--base-url", url])
    assert result.exit_code == 0, result.output
    assert "responses: 1 pulled" in result.output
    assert [orjson.loads(x)["id"] for x in records(tmp_path / "out")
            if orjson.loads(x).get("object") == "response"] == [rid]
    result = CliRunner().invoke(app, ["pull", str(tmp_path / "out"), "nope_1"])
    assert result.exit_code == 1 and "not a response or conversation id: nope_1" in \
        result.output
