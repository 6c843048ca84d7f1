"""`steplens export otlp`: the file parses back into OTLP `TracesData`, and every span is
checked against the warehouse's Parquet files read here with Polars (not through the
views or SQL the exporter uses): counts, ids, parent links, timestamps, attributes,
error status; determinism; content only on request; delivery to a local OTLP/HTTP
receiver (a `http.server` on 127.0.0.1 that decodes `ExportTraceServiceRequest`)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import math
import re
import shutil
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData
from typer.testing import CliRunner

from steplens.flows.cli import app
from steplens.flows.errors import ExportError
from steplens.flows.export import otlp_http
from steplens.flows.export.otlp import Encoded
from steplens.flows.settings import INVENTORY

pytestmark = pytest.mark.flow
runner = CliRunner()
FAILURE = ("failed", "expired")


def run(*args: str, env: dict | None = None):
    return runner.invoke(app, ["export", "otlp", *args], env=env, catch_exceptions=False)


# ---- reading the file back ----------------------------------------------------------------

def parse_line(line: str) -> TracesData:
    """One line of the file, through protobuf's JSON parser (strict: unknown fields fail).

    OTLP/JSON writes ids as hex where protobuf's JSON mapping of `bytes` is base64, so
    they are converted first, as an OTLP receiver does."""
    doc = json.loads(line)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                assert isinstance(sp["kind"], int)  # enums as integers
                assert re.fullmatch(r"\d+", sp["startTimeUnixNano"])  # int64 as a string
                for key, width in (("traceId", 32), ("spanId", 16), ("parentSpanId", 16)):
                    if key in sp:
                        assert re.fullmatch(rf"[0-9a-f]{{{width}}}", sp[key]), sp[key]
                        sp[key] = base64.b64encode(bytes.fromhex(sp[key])).decode()
    return json_format.Parse(json.dumps(doc), TracesData())


def load(path: Path) -> list[TracesData]:
    return [parse_line(line) for line in path.read_text(encoding="utf-8").splitlines()]


def spans_of(batches: list[TracesData]) -> list[Span]:
    return [s for b in batches for rs in b.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def attrs(span: Span) -> dict:
    out = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        out[kv.key] = ([getattr(v, v.WhichOneof("value")) for v in kv.value.array_value.values]
                       if which == "array_value" else getattr(kv.value, which))
    return out


# ---- the warehouse, read independently ----------------------------------------------------

def table(wh: Path, name: str) -> list[dict]:
    return pl.read_parquet(wh / "current" / name / "**" / "*.parquet",
                           hive_partitioning=False).to_dicts()


def ns(ts: dt.datetime | None) -> int | None:
    if ts is None:
        return None
    return int((ts - dt.datetime(1970, 1, 1)).total_seconds()) * 10**9 + ts.microsecond * 1000


@pytest.fixture(scope="module")
def warehouse(sample_warehouse) -> dict:
    runs = table(sample_warehouse, "runs")
    steps = table(sample_warehouse, "steps")
    calls = table(sample_warehouse, "tool_calls")
    return {"runs": runs, "steps": steps, "calls": calls,
            "run_by_id": {r["run_id"]: r for r in runs},
            "step_by_id": {s["step_id"]: s for s in steps}}


def placed(wh: dict, since: dt.datetime | None = None) -> dict[str, list[dict]]:
    """What an export must hold, by plain Python: rows with a created_at; with `since`,
    runs created from then, with their steps and calls (an orphan step: its own time)."""
    def start_of(step: dict) -> dt.datetime:
        run = wh["run_by_id"].get(step["run_id"])
        return run["created_at"] if run and run["created_at"] else step["created_at"]

    def keep(t: dt.datetime) -> bool:
        return since is None or t >= since

    runs = [r for r in wh["runs"] if r["created_at"] is not None and keep(r["created_at"])]
    steps = [s for s in wh["steps"] if s["created_at"] is not None and keep(start_of(s))]
    kept = {s["step_id"] for s in steps}
    calls = [c for c in wh["calls"] if c["step_id"] in kept]
    return {"run": runs, "step": steps, "tool_call": calls}


@pytest.fixture(scope="module")
def exported(sample_warehouse, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("otlp")
    plain, content = out / "plain.jsonl", out / "content.jsonl"
    result = run(str(plain), "-w", str(sample_warehouse), "--batch-size", "100")
    assert result.exit_code == 0, result.output
    result = run(str(content), "-w", str(sample_warehouse), "--batch-size", "100",
                 "--include-content")
    assert result.exit_code == 0, result.output
    return {"plain": plain, "content": content, "output": result.output,
            "spans": spans_of(load(content))}


def by_kind(spans: list[Span]) -> dict[str, list[Span]]:
    out = defaultdict(list)
    for s in spans:
        out[attrs(s)["gen_ai.operation.name"]].append(s)
    return out


# ---- the file -----------------------------------------------------------------------------

def test_every_line_is_one_traces_data_with_one_resource_and_scope(exported):
    batches = load(exported["content"])
    assert len(batches) == math.ceil(len(exported["spans"]) / 100)
    for b in batches:
        (rs,) = b.resource_spans
        assert attrs(rs.resource)["service.name"] == "steplens"
        (ss,) = rs.scope_spans
        assert ss.scope.name == "steplens" and ss.scope.version
        assert 0 < len(ss.spans) <= 100


def test_span_counts_equal_the_warehouse_runs_steps_and_tool_calls(exported, warehouse):
    want = placed(warehouse)
    got = by_kind(exported["spans"])
    assert len(got["invoke_agent"]) == len(want["run"]) == len(warehouse["runs"])
    assert len(got["chat"]) == len(want["step"])
    assert len(got["execute_tool"]) == len(want["tool_call"])
    # the sample holds steps known only from stream deltas (no time, no run): left out,
    # and the command says how many
    unplaced = [s for s in warehouse["steps"] if s["created_at"] is None]
    assert unplaced
    assert f"not exported: {len(unplaced)} steps" in " ".join(exported["output"].split())
    # every row once: ids as the API sent them
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["invoke_agent"]) == \
        sorted(r["run_id"] for r in want["run"])
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["chat"]) == \
        sorted(s["step_id"] for s in want["step"])
    assert Counter((attrs(s)["steplens.step.id"], attrs(s).get("gen_ai.tool.call.id"))
                   for s in got["execute_tool"]) == \
        Counter((c["step_id"], c["tool_call_id"]) for c in want["tool_call"])


def test_ids_parents_and_traces(exported, warehouse):
    spans = exported["spans"]
    assert len({s.span_id for s in spans}) == len(spans)
    kinds = by_kind(spans)
    run_span = {attrs(s)["gen_ai.response.id"]: s for s in kinds["invoke_agent"]}
    step_span = {attrs(s)["gen_ai.response.id"]: s for s in kinds["chat"]}
    for run_id, s in run_span.items():
        run = warehouse["run_by_id"][run_id]
        assert s.parent_span_id == b""
        assert s.trace_id == hashlib.sha256(f"thread:{run['thread_id']}".encode()
                                            ).digest()[:16]
    for step_id, s in step_span.items():
        step = warehouse["step_by_id"][step_id]
        parent = run_span.get(step["run_id"])
        assert s.parent_span_id == (parent.span_id if parent else b"")
        assert s.trace_id == hashlib.sha256(f"thread:{step['thread_id']}".encode()
                                            ).digest()[:16]
    for s in kinds["execute_tool"]:
        parent = step_span[attrs(s)["steplens.step.id"]]
        assert s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id
    # one trace per thread: as many traces as threads with exported rows
    threads = {r["thread_id"] for r in warehouse["runs"]}
    assert len({s.trace_id for s in spans}) == len(threads)


def test_timestamps(exported, warehouse):
    def end(row: dict) -> int:
        return max(ns(row["ended_at"] or row["created_at"]), ns(row["created_at"]))

    kinds = by_kind(exported["spans"])
    last_step_end = defaultdict(int)  # a run's span also covers its steps
    for step in placed(warehouse)["step"]:
        last_step_end[step["run_id"]] = max(last_step_end[step["run_id"]], end(step))
    for s in kinds["invoke_agent"]:
        run = warehouse["run_by_id"][attrs(s)["gen_ai.response.id"]]
        assert (s.start_time_unix_nano, s.end_time_unix_nano) == (
            ns(run["created_at"]), max(end(run), last_step_end[run["run_id"]]))
    for s in kinds["chat"]:
        step = warehouse["step_by_id"][attrs(s)["gen_ai.response.id"]]
        assert (s.start_time_unix_nano, s.end_time_unix_nano) == (ns(step["created_at"]),
                                                                  end(step))
    for s in kinds["execute_tool"]:
        step = warehouse["step_by_id"][attrs(s)["steplens.step.id"]]
        assert (s.start_time_unix_nano, s.end_time_unix_nano) == (ns(step["created_at"]),
                                                                  end(step))
    assert all(s.end_time_unix_nano >= s.start_time_unix_nano for s in exported["spans"])
    # children inside their parents' time
    by_id = {s.span_id: s for s in exported["spans"]}
    for s in exported["spans"]:
        if s.parent_span_id:
            parent = by_id[s.parent_span_id]
            assert parent.start_time_unix_nano <= s.start_time_unix_nano
            assert s.end_time_unix_nano <= parent.end_time_unix_nano


def test_names_kinds_attributes_and_error_status(exported, warehouse):
    kinds = by_kind(exported["spans"])
    for s in kinds["invoke_agent"]:
        a = attrs(s)
        run = warehouse["run_by_id"][a["gen_ai.response.id"]]
        assert s.name == f"invoke_agent {run['assistant_id']}"
        assert s.kind == Span.SPAN_KIND_CLIENT
        assert a["gen_ai.provider.name"] == "openai" and a["steplens.api"] == "assistants"
        assert a["gen_ai.agent.id"] == run["assistant_id"]
        assert a["gen_ai.conversation.id"] == run["thread_id"]
        assert a["gen_ai.request.model"] == run["model"]
        assert a.get("gen_ai.usage.input_tokens") == run["prompt_tokens"]
        assert a.get("gen_ai.usage.output_tokens") == run["completion_tokens"]
        assert a.get("gen_ai.usage.cache_read.input_tokens") == run["cached_tokens"]
        assert a.get("gen_ai.usage.reasoning.output_tokens") == run["reasoning_tokens"]
        failed = run["status"] in FAILURE
        assert s.status.code == (2 if failed else 0)
        assert a.get("error.type") == ((run["last_error_code"] or run["status"]) if failed
                                       else None)
        if failed:
            assert s.status.message == (run["last_error_message"] or "")
    for s in kinds["chat"]:
        a = attrs(s)
        step = warehouse["step_by_id"][a["gen_ai.response.id"]]
        assert s.name == (f"chat {step['model']}" if step["model"] else "chat")
        assert a["steplens.step.type"] == step["type"]
        assert a.get("gen_ai.usage.input_tokens") == step["prompt_tokens"]
        assert a.get("gen_ai.usage.output_tokens") == step["completion_tokens"]
        assert s.status.code == (2 if step["status"] in FAILURE else 0)
    tool_type = {"function": "function", "file_search": "datastore", "retrieval": "datastore"}
    calls = {(c["step_id"], c["tool_call_id"]): c for c in warehouse["calls"]}
    for s in kinds["execute_tool"]:
        a = attrs(s)
        call = calls[(a["steplens.step.id"], a.get("gen_ai.tool.call.id"))]
        name = call["function_name"] or call["type"]
        assert s.name == f"execute_tool {name}" and a["gen_ai.tool.name"] == name
        assert s.kind == Span.SPAN_KIND_INTERNAL
        assert a["gen_ai.tool.type"] == tool_type.get(call["type"], "extension")
        assert s.status.code == (2 if call["step_status"] in FAILURE else 0)
    # the sample has failures of both kinds, so the checks above had something to check
    assert {s.status.code for s in kinds["invoke_agent"]} == {0, 2}
    assert {s.status.code for s in kinds["execute_tool"]} == {0, 2}


def test_content_only_with_the_flag(exported, warehouse):
    plain = exported["plain"].read_text(encoding="utf-8")
    assert "gen_ai.tool.call.arguments" not in plain and "gen_ai.tool.call.result" not in plain
    long_args = [c["function_arguments"] for c in warehouse["calls"]
                 if c["function_arguments"] and len(c["function_arguments"]) > 20]
    assert long_args
    assert not any(json.dumps(v)[1:-1] in plain for v in long_args)
    with_content = [attrs(s) for s in by_kind(exported["spans"])["execute_tool"]]
    calls = {(c["step_id"], c["tool_call_id"]): c for c in warehouse["calls"]}
    seen = 0
    for a in with_content:
        call = calls[(a["steplens.step.id"], a.get("gen_ai.tool.call.id"))]
        assert a.get("gen_ai.tool.call.arguments") == (call["function_arguments"]
                                                       or call["code_input"])
        assert a.get("gen_ai.tool.call.result") == call["function_output"]
        seen += a.get("gen_ai.tool.call.result") is not None
    assert seen
    # apart from content, the same spans
    plain_spans = spans_of(load(exported["plain"]))
    strip = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")
    assert [(s.span_id, {k: v for k, v in attrs(s).items() if k not in strip})
            for s in exported["spans"]] == [(s.span_id, attrs(s)) for s in plain_spans]


def test_exporting_twice_gives_identical_files(sample_warehouse, exported, tmp_path):
    again = tmp_path / "again.jsonl"
    assert run(str(again), "-w", str(sample_warehouse), "--batch-size", "100",
               "--include-content").exit_code == 0
    assert again.read_bytes() == exported["content"].read_bytes()
    # another batch size cuts other lines but holds the same spans in the same order
    other = tmp_path / "other.jsonl"
    assert run(str(other), "-w", str(sample_warehouse), "--batch-size", "7",
               "--include-content").exit_code == 0
    assert [s.SerializeToString() for s in spans_of(load(other))] == \
        [s.SerializeToString() for s in exported["spans"]]


def test_worker_processes_give_the_same_file(sample_warehouse, exported, tmp_path):
    out = tmp_path / "parallel.jsonl"
    result = run(str(out), "-w", str(sample_warehouse), "--batch-size", "100",
                 "--include-content", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == exported["content"].read_bytes()


def test_since_keeps_runs_from_that_day_with_their_steps_and_calls(sample_warehouse, warehouse,
                                                                   tmp_path):
    days = sorted({r["created_at"].date() for r in warehouse["runs"]})
    since = dt.datetime.combine(days[len(days) // 2], dt.time())
    out = tmp_path / "since.jsonl"
    result = run(str(out), "-w", str(sample_warehouse), "--since", since.date().isoformat())
    assert result.exit_code == 0, result.output
    got = by_kind(spans_of(load(out)))
    want = placed(warehouse, since)
    assert 0 < len(want["run"]) < len(warehouse["runs"])
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["invoke_agent"]) == \
        sorted(r["run_id"] for r in want["run"])
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["chat"]) == \
        sorted(s["step_id"] for s in want["step"])
    assert len(got["execute_tool"]) == len(want["tool_call"])


def test_an_api_column_maps_the_same_way(sample_warehouse, exported, tmp_path):
    """Responses API rows (issue 12 adds `api` to every table) export through the same
    mapping: a response is an invoke_agent span, its items chat / execute_tool spans."""
    wh = tmp_path / "wh"
    shutil.copytree(sample_warehouse, wh, symlinks=True)
    new_columns = {"runs": {"api": pl.lit("responses")}, "steps": {"api": pl.lit("responses")},
                   # the call's own failure, as Responses items report it
                   "tool_calls": {"call_failed": pl.col("call_index") == 0}}
    for name, columns in new_columns.items():
        for part in (wh / "current" / name).rglob("*.parquet"):
            frame = pl.read_parquet(part)
            part.unlink()  # the snapshot's files are hard links: write a new one
            frame.with_columns(**columns).write_parquet(part)
    (wh / "current" / INVENTORY).unlink()  # files changed by hand: as before inventories
    shutil.rmtree(wh / "inventories")  # (and before HEAD: only the `current` link)
    (wh / "HEAD").unlink()
    out = tmp_path / "api.jsonl"
    assert run(str(out), "-w", str(wh)).exit_code == 0
    spans = spans_of(load(out))
    assert {attrs(s)["steplens.api"] for s in spans} == {"responses"}
    assert [s.span_id for s in spans] == [s.span_id for s in exported["spans"]]
    # a call is an error when it failed itself or its step failed
    step_failed = {r["step_id"]: r["status"] in FAILURE for r in table(wh, "steps")}
    erred = {(c["step_id"], c["tool_call_id"]): c["call_index"] == 0 or step_failed[c["step_id"]]
             for c in table(wh, "tool_calls")}
    tools = by_kind(spans)["execute_tool"]
    assert [s.status.code == 2 for s in tools] == [
        erred[(attrs(s)["steplens.step.id"], attrs(s).get("gen_ai.tool.call.id"))]
        for s in tools]
    # both causes occur, so the check can tell them apart
    assert any(c["call_index"] == 0 and not step_failed[c["step_id"]]
               for c in table(wh, "tool_calls"))
    assert any(c["call_index"] != 0 and step_failed[c["step_id"]]
               for c in table(wh, "tool_calls"))


# ---- OTLP/HTTP ----------------------------------------------------------------------------

class Receiver:
    """A local OTLP/HTTP traces receiver: decodes each request, answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, bytes]] = []  # answers before the default 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.requests.append({
                    "path": self.path, "headers": dict(self.headers.items()),
                    "request": ExportTraceServiceRequest.FromString(body)})
                status, head, answer = (receiver.script.pop(0) if receiver.script else
                                        (200, {}, ExportTraceServiceResponse()
                                         .SerializeToString()))
                self.send_response(status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                for k, v in head.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted_spans(self) -> list[Span]:
        return [s for r in self.requests for rs in r["request"].resource_spans
                for ss in rs.scope_spans for s in ss.spans]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_endpoint_delivers_the_same_spans_with_headers(sample_warehouse, exported, tmp_path):
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme%20corp,authorization=Basic%20old"}
    with Receiver() as rx:
        result = run("-w", str(sample_warehouse), "--include-content", "--batch-size", "100",
                     "--endpoint", rx.url, "--header", "Authorization=Basic cGs6c2s=",
                     "-H", "x-extra: 1", env=env)
        assert result.exit_code == 0, result.output
    assert len(rx.requests) == math.ceil(len(exported["spans"]) / 100)
    assert [s.SerializeToString() for s in rx.accepted_spans()] == \
        [s.SerializeToString() for s in exported["spans"]]
    for r in rx.requests:
        h = {k.lower(): v for k, v in r["headers"].items()}
        assert r["path"] == "/v1/traces"
        assert h["content-type"] == "application/x-protobuf"
        assert h["authorization"] == "Basic cGs6c2s="  # --header wins over the environment
        assert h["x-tenant"] == "acme corp" and h["x-extra"] == "1"
    assert f"sent {len(exported['spans']):,} spans" in " ".join(result.output.split())


def test_endpoint_and_file_together_gzip_and_a_retried_503(sample_warehouse, exported,
                                                           tmp_path):
    out = tmp_path / "both.jsonl"
    with Receiver() as rx:
        rx.script.append((503, {"retry-after": "0"}, b"busy"))
        result = run(str(out), "-w", str(sample_warehouse), "--include-content",
                     "--batch-size", "100", "--endpoint", rx.url, "--compression", "gzip")
        assert result.exit_code == 0, result.output
    assert all({k.lower(): v for k, v in r["headers"].items()}["content-encoding"] == "gzip"
               for r in rx.requests)
    accepted = rx.accepted_spans()[len(rx.requests[0]["request"].resource_spans[0]
                                       .scope_spans[0].spans):]  # the 503'd copy first
    assert [s.SerializeToString() for s in accepted] == \
        [s.SerializeToString() for s in exported["spans"]]
    assert out.read_bytes() == exported["content"].read_bytes()


def test_a_refused_batch_fails_in_one_line_and_writes_no_file(sample_warehouse, tmp_path):
    out = tmp_path / "refused.jsonl"
    with Receiver() as rx:
        rx.script.append((200, {}, ExportTraceServiceResponse().SerializeToString()))
        rx.script.append((401, {}, b'{"error":"bad key"}'))
        result = run(str(out), "-w", str(sample_warehouse), "--batch-size", "100",
                     "--endpoint", rx.url)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "HTTP 401" in text and "bad key" in text and "100 spans in 1 requests" in text
    assert "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.iterdir())  # no file, no temporary left


def test_spans_the_collector_rejects_are_reported(sample_warehouse):
    partial = ExportTraceServiceResponse()
    partial.partial_success.rejected_spans = 3
    partial.partial_success.error_message = "spans too old"
    with Receiver() as rx:
        rx.script.append((200, {}, partial.SerializeToString()))
        result = run("-w", str(sample_warehouse), "--endpoint", rx.url)
    assert result.exit_code == 1
    assert "rejected 3 of" in result.output and "spans too old" in result.output


def test_an_unreachable_collector_is_retried_then_named(tmp_path):
    with Receiver() as rx:
        url = rx.url  # a port that was just closed: nothing listens there any more
    sink = otlp_http.HttpSink(url, retries=2, backoff_s=0.01)
    with pytest.raises(ExportError, match=r"cannot reach it .* after 3 attempts"):
        sink(Encoded(spans=0, kinds={}, request=b""))


def test_command_line_mistakes_are_one_line(sample_warehouse, tmp_path):
    cases = [
        ((), "give OUT.jsonl"),
        ((str(tmp_path / "no" / "dir" / "x.jsonl"),), "cannot write"),
        (("--endpoint", "ftp://example.org/v1/traces"), "expected an http:// or https://"),
        (("--endpoint", "http://127.0.0.1:9/v1/traces", "-H", "novalue"), "expected key=value"),
        ((str(tmp_path / "x.jsonl"), "-w", str(tmp_path / "none")), "no warehouse at"),
    ]
    for args, message in cases:
        wh = () if "-w" in args else ("-w", str(sample_warehouse))
        result = run(*args, *wh)
        assert result.exit_code == 1, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output
    bad = run("--endpoint", "http://127.0.0.1:9/v1/traces", "-w", str(sample_warehouse),
              env={"OTEL_EXPORTER_OTLP_HEADERS": "novalue"})
    assert bad.exit_code == 1 and "OTEL_EXPORTER_OTLP_HEADERS" in bad.output


def test_header_parsing():
    assert otlp_http.parse_header_list("a=1, b = x%3Dy ,,c=", "ENV") == \
        {"a": "1", "b": "x=y", "c": ""}
    assert otlp_http.parse_header("Authorization=Basic YTpi==") == ("Authorization",
                                                                    "Basic YTpi==")
    assert otlp_http.parse_header("X-Key: v=1") == ("X-Key", "v=1")
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "A=1,b=2", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "B=3"}
    assert otlp_http.headers(env, ["a=9"]) == {"a": "9", "b": "3"}
    for bad in ("=x", "novalue", ": v"):
        with pytest.raises(ExportError):
            otlp_http.parse_header(bad)


def children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_worker_processes_do_not_outlive_a_killed_export(sample_warehouse, tmp_path):
    """SIGKILL of the exporting process mid-way: its encoding workers exit on their own."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys; from steplens.flows.cli import app; "
            "sys.argv = ['steplens'] + sys.argv[1:]; app()")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "export", "otlp", str(tmp_path / "killed.jsonl"),
         "-w", str(sample_warehouse), "--workers", "2", "--batch-size", "1",
         "--include-content"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            workers = children(proc.pid)
            time.sleep(0.02)
        assert len(workers) >= 2, "the export ended before its workers were seen"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if alive(w)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (tmp_path / "killed.jsonl").exists()
