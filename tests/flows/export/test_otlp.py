"""`steplens export otlp`: the file parses back into OTLP `TracesData`, and every span is
checked against the warehouse's Parquet files read here with Polars (not through the
views or SQL the exporter uses): counts, ids, parent links, timestamps, attributes,
error status, usage on the model calls only (summed, it equals the `usage` table);
the Langfuse and OpenInference attributes by their documented names; finished runs only
unless asked; steps without a time placed in their run and flagged; determinism; content
only on request; delivery to a local OTLP/HTTP receiver (a `http.server` on 127.0.0.1
that decodes `ExportTraceServiceRequest`)."""

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

runner = CliRunner()
FAILURE = ("failed", "expired")
# Statuses that will not change any more, as the OpenAI API documents them (written out
# here, not imported: the export's own list is what is under test).
RUN_ENDED = ("completed", "incomplete", "failed", "cancelled", "expired")
STEP_ENDED = ("completed", "failed", "cancelled", "expired", "incomplete")
USAGE_KEYS = ("gen_ai.usage.", "llm.token_count.", "langfuse.observation.usage_details",
              "langfuse.observation.cost_details")


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


def placed(wh: dict, since: dt.datetime | None = None,
           unfinished: bool = False) -> dict[str, list[dict]]:
    """What an export must hold, by plain Python: runs with a created_at that have ended
    (any, with `unfinished`), from `since`, with their steps and calls; a step whose run
    is not in the warehouse by its own time and status, if it has a time."""
    def keep(t: dt.datetime) -> bool:
        return since is None or t >= since

    known = {r["run_id"] for r in wh["runs"] if r["created_at"] is not None}
    runs = [r for r in wh["runs"] if r["created_at"] is not None and keep(r["created_at"])
            and (unfinished or r["status"] in RUN_ENDED)]
    ids = {r["run_id"] for r in runs}
    steps = [s for s in wh["steps"]
             if s["run_id"] in ids
             or (s["run_id"] not in known and s["created_at"] is not None
                 and keep(s["created_at"]) and (unfinished or s["status"] in STEP_ENDED))]
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
    """Spans by gen_ai.operation.name (Responses output items, which have none: 'item')."""
    out = defaultdict(list)
    for s in spans:
        out[attrs(s).get("gen_ai.operation.name", "item")].append(s)
    return out


def trace_of(run_id: str) -> bytes:
    return hashlib.sha256(f"run:{run_id}".encode()).digest()[:16]


# ---- the file -----------------------------------------------------------------------------

@pytest.mark.flow
def test_every_line_is_one_traces_data_with_one_resource_and_scope(exported):
    batches = load(exported["content"])
    assert len(batches) == math.ceil(len(exported["spans"]) / 100)
    for b in batches:
        (rs,) = b.resource_spans
        assert attrs(rs.resource)["service.name"] == "steplens"
        (ss,) = rs.scope_spans
        assert ss.scope.name == "steplens" and ss.scope.version
        assert 0 < len(ss.spans) <= 100


@pytest.mark.flow
def test_span_counts_equal_the_warehouse_runs_steps_and_tool_calls(exported, warehouse):
    want = placed(warehouse)
    got = by_kind(exported["spans"])
    assert len(got["invoke_agent"]) == len(want["run"])
    assert len(got["chat"]) == len(want["step"])
    assert len(got["execute_tool"]) == len(want["tool_call"])
    text = " ".join(exported["output"].split())
    # runs that have not ended are left out by default, and the command says how many
    unfinished = [r for r in warehouse["runs"] if r["status"] not in RUN_ENDED]
    assert unfinished and len(want["run"]) == len(warehouse["runs"]) - len(unfinished)
    assert f"not exported: {len(unfinished)} runs that have not ended" in text
    # the sample holds steps known only from stream deltas (no time, no run): left out,
    # and the command says how many
    unplaced = [s for s in warehouse["steps"] if s["created_at"] is None]
    assert unplaced and all(s["run_id"] is None for s in unplaced)
    assert f"not exported: {len(unplaced)} steps" in text
    # every row once: ids as the API sent them
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["invoke_agent"]) == \
        sorted(r["run_id"] for r in want["run"])
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["chat"]) == \
        sorted(s["step_id"] for s in want["step"])
    assert Counter((attrs(s)["steplens.step.id"], attrs(s).get("gen_ai.tool.call.id"))
                   for s in got["execute_tool"]) == \
        Counter((c["step_id"], c["tool_call_id"]) for c in want["tool_call"])


@pytest.mark.flow
def test_unfinished_runs_only_on_request(sample_warehouse, warehouse, tmp_path):
    out = tmp_path / "all.jsonl"
    result = run(str(out), "-w", str(sample_warehouse), "--include-unfinished")
    assert result.exit_code == 0, result.output
    assert "runs that have not ended" not in result.output
    got = by_kind(spans_of(load(out)))
    want = placed(warehouse, unfinished=True)
    assert len(want["run"]) == len(warehouse["runs"])
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["invoke_agent"]) == \
        sorted(r["run_id"] for r in want["run"])
    assert sorted(attrs(s)["gen_ai.response.id"] for s in got["chat"]) == \
        sorted(s["step_id"] for s in want["step"])
    assert len(got["execute_tool"]) == len(want["tool_call"])


@pytest.mark.flow
def test_ids_parents_traces_and_sessions(exported, warehouse):
    spans = exported["spans"]
    assert len({s.span_id for s in spans}) == len(spans)
    kinds = by_kind(spans)
    run_span = {attrs(s)["gen_ai.response.id"]: s for s in kinds["invoke_agent"]}
    step_span = {attrs(s)["gen_ai.response.id"]: s for s in kinds["chat"]}
    for run_id, s in run_span.items():
        run = warehouse["run_by_id"][run_id]
        assert s.parent_span_id == b""
        assert s.trace_id == trace_of(run_id)  # one trace per run
    for step_id, s in step_span.items():
        step = warehouse["step_by_id"][step_id]
        parent = run_span.get(step["run_id"])
        assert s.parent_span_id == (parent.span_id if parent else b"")
        assert s.trace_id == trace_of(step["run_id"] or step_id)
    for s in kinds["execute_tool"]:
        parent = step_span[attrs(s)["steplens.step.id"]]
        assert s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id
    # one trace per run, one root per trace
    assert len({s.trace_id for s in spans}) == len(run_span)
    assert Counter(s.trace_id for s in spans if not s.parent_span_id) == \
        Counter({s.trace_id: 1 for s in run_span.values()})
    # the thread is every span's session, under each tool's name for it
    for s in spans:
        a = attrs(s)
        run = warehouse["run_by_id"][a.get("steplens.run.id") or a["gen_ai.response.id"]]
        assert a["session.id"] == a["langfuse.session.id"] == run["thread_id"]
        assert a["gen_ai.conversation.id"] == run["thread_id"]
    threads = {r["thread_id"] for r in placed(warehouse)["run"]}
    assert len({attrs(s)["session.id"] for s in spans}) == len(threads) < len(run_span)


@pytest.mark.flow
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


@pytest.mark.flow
def test_names_kinds_attributes_and_error_status(exported, warehouse):
    kinds = by_kind(exported["spans"])
    for s in kinds["invoke_agent"]:
        a = attrs(s)
        run = warehouse["run_by_id"][a["gen_ai.response.id"]]
        assert s.name == f"invoke_agent {run['assistant_id']}"
        assert s.kind == Span.SPAN_KIND_CLIENT
        assert a["gen_ai.provider.name"] == "openai" and a["steplens.api"] == "assistants"
        assert a["gen_ai.agent.id"] == a["agent.name"] == run["assistant_id"]
        assert a["gen_ai.request.model"] == run["model"]
        assert a["openinference.span.kind"] == "AGENT"
        assert a["langfuse.observation.type"] == "agent"
        # usage is the model calls': none on the run, so no tool counts it twice
        assert not [k for k in a if k.startswith(USAGE_KEYS)]
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
        assert a["openinference.span.kind"] == "LLM"
        assert a["langfuse.observation.type"] == "generation"
        assert a.get("llm.model_name") == step["model"]
        for key in ("gen_ai.usage.input_tokens", "llm.token_count.prompt"):
            assert a.get(key) == step["prompt_tokens"]
        for key in ("gen_ai.usage.output_tokens", "llm.token_count.completion"):
            assert a.get(key) == step["completion_tokens"]
        assert a.get("llm.token_count.total") == step["total_tokens"]
        for key in ("gen_ai.usage.cache_read.input_tokens",
                    "llm.token_count.prompt_details.cache_read"):
            assert a.get(key) == step["cached_tokens"]
        for key in ("gen_ai.usage.reasoning.output_tokens",
                    "llm.token_count.completion_details.reasoning"):
            assert a.get(key) == step["reasoning_tokens"]
        assert s.status.code == (2 if step["status"] in FAILURE else 0)
    tool_type = {"function": "function", "file_search": "datastore", "retrieval": "datastore"}
    calls = {(c["step_id"], c["tool_call_id"]): c for c in warehouse["calls"]}
    for s in kinds["execute_tool"]:
        a = attrs(s)
        call = calls[(a["steplens.step.id"], a.get("gen_ai.tool.call.id"))]
        name = call["function_name"] or call["type"]
        assert s.name == f"execute_tool {name}" and a["gen_ai.tool.name"] == name
        assert a["tool.name"] == name and a["openinference.span.kind"] == "TOOL"
        assert a["langfuse.observation.type"] == "tool"
        assert s.kind == Span.SPAN_KIND_INTERNAL
        assert a["gen_ai.tool.type"] == tool_type.get(call["type"], "extension")
        assert s.status.code == (2 if call["step_status"] in FAILURE else 0)
    # the sample has failures of both kinds, so the checks above had something to check
    assert {s.status.code for s in kinds["invoke_agent"]} == {0, 2}
    assert {s.status.code for s in kinds["execute_tool"]} == {0, 2}


def usage_rows(wh: Path) -> list[dict]:
    return table(wh, "usage")


@pytest.mark.flow
def test_usage_once_on_the_model_calls_sums_to_the_usage_table(sample_warehouse, tmp_path):
    """Every usage row on exactly one span: tokens summed over all spans (as Phoenix and
    Langfuse add them up) equal the `usage` table, in total and per run."""
    out = tmp_path / "all.jsonl"
    assert run(str(out), "-w", str(sample_warehouse), "--include-unfinished").exit_code == 0
    spans = spans_of(load(out))
    usage = [u for u in usage_rows(sample_warehouse) if u["total_tokens"] is not None]
    assert usage
    for key, column in (("llm.token_count.total", "total_tokens"),
                        ("gen_ai.usage.input_tokens", "prompt_tokens"),
                        ("gen_ai.usage.output_tokens", "completion_tokens"),
                        ("gen_ai.usage.cache_read.input_tokens", "cached_tokens"),
                        ("gen_ai.usage.reasoning.output_tokens", "reasoning_tokens")):
        assert sum(attrs(s).get(key, 0) for s in spans) == \
            sum(u[column] or 0 for u in usage), key
    per_run = Counter()
    for u in usage:
        per_run[u["run_id"]] += u["total_tokens"]
    got = Counter()
    for s in spans:
        if "llm.token_count.total" in attrs(s):
            assert attrs(s)["openinference.span.kind"] == "LLM"
            got[attrs(s)["steplens.run.id"]] += attrs(s)["llm.token_count.total"]
    assert got == per_run


@pytest.mark.flow
def test_langfuse_attributes_by_their_documented_names(exported, warehouse):
    """Langfuse's OpenTelemetry mapping (langfuse/langfuse packages/shared/src/server/otel:
    attributes.ts, ObservationTypeMapper.ts, OtelIngestionProcessor.ts; docs
    https://langfuse.com/integrations/native/opentelemetry#property-mapping and
    https://langfuse.com/docs/observability/features/token-and-cost-tracking):
    `langfuse.observation.type` one of its types; `langfuse.session.id` the session;
    `langfuse.observation.usage_details` a JSON object of usage types (taken instead of the
    gen_ai.usage.* / llm.token_count.* keys, which it would otherwise both read) whose
    types other than `total` add up to the total, so its sum of usage types counts no
    token twice; `langfuse.observation.cost_details` JSON with the USD `total`."""
    documented_types = {"span", "generation", "event", "embedding", "agent", "tool", "chain",
                        "retriever", "guardrail", "evaluator"}
    seen = 0
    for s in exported["spans"]:
        a = attrs(s)
        assert a["langfuse.observation.type"] in documented_types
        assert a["langfuse.session.id"]
        if a["langfuse.observation.type"] != "generation":
            assert "langfuse.observation.usage_details" not in a
            continue
        step = warehouse["step_by_id"][a["gen_ai.response.id"]]
        if step["prompt_tokens"] is None:
            assert "langfuse.observation.usage_details" not in a
            continue
        usage = json.loads(a["langfuse.observation.usage_details"])
        assert all(isinstance(v, int) and v >= 0 for v in usage.values())
        assert usage["input"] + usage["input_cached_tokens"] == step["prompt_tokens"]
        assert usage["output"] + usage["output_reasoning_tokens"] == step["completion_tokens"]
        assert usage["input_cached_tokens"] == (step["cached_tokens"] or 0)
        assert usage["output_reasoning_tokens"] == (step["reasoning_tokens"] or 0)
        assert usage["total"] == step["total_tokens"] == \
            sum(v for k, v in usage.items() if k != "total")
        seen += bool(usage["input_cached_tokens"]) and bool(usage["output_reasoning_tokens"])
        cost = a.get("langfuse.observation.cost_details")
        if step["prompt_tokens"] and cost is not None:
            assert json.loads(cost) == {"total": a["steplens.cost_usd"]}
    assert seen  # the cache and reasoning splits were exercised


@pytest.mark.flow
def test_content_only_with_the_flag(exported, warehouse):
    plain = exported["plain"].read_text(encoding="utf-8")
    assert "gen_ai.tool.call.arguments" not in plain and "gen_ai.tool.call.result" not in plain
    assert "input.value" not in plain and "output.value" not in plain
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
    # the same content where OpenInference (Phoenix) and Langfuse read it
    for a in with_content:
        assert a.get("input.value") == a.get("gen_ai.tool.call.arguments")
        assert a.get("output.value") == a.get("gen_ai.tool.call.result")
        if "input.value" in a:
            assert a["input.mime_type"] in ("application/json", "text/plain")
    # apart from content, the same spans
    plain_spans = spans_of(load(exported["plain"]))
    strip = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "input.value",
             "input.mime_type", "output.value", "output.mime_type")
    assert [(s.span_id, {k: v for k, v in attrs(s).items() if k not in strip})
            for s in exported["spans"]] == [(s.span_id, attrs(s)) for s in plain_spans]


@pytest.mark.flow
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


@pytest.mark.flow
def test_worker_processes_give_the_same_file(sample_warehouse, exported, tmp_path):
    out = tmp_path / "parallel.jsonl"
    result = run(str(out), "-w", str(sample_warehouse), "--batch-size", "100",
                 "--include-content", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == exported["content"].read_bytes()


@pytest.mark.flow
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


@pytest.mark.flow
def test_responses_usage_sits_on_a_chat_child_of_the_run(mixed_warehouse, tmp_path):
    """A Responses response: its run span (AGENT, no usage), one `chat` child (LLM) with
    the response's usage, its output items (CHAIN) under that, their tool calls under
    them; tokens over all spans equal the `usage` table for both APIs together."""
    out = tmp_path / "mixed.jsonl"
    result = run(str(out), "-w", str(mixed_warehouse), "--include-unfinished")
    assert result.exit_code == 0, result.output
    spans = spans_of(load(out))
    runs = {r["run_id"]: r for r in table(mixed_warehouse, "runs")}
    steps = {s["step_id"]: s for s in table(mixed_warehouse, "steps")}
    responses = {k: r for k, r in runs.items() if r["api"] == "responses"}
    assert responses and len(responses) < len(runs)
    by_id = {s.span_id: s for s in spans}
    root = {attrs(s)["gen_ai.response.id"]: s for s in spans
            if attrs(s).get("gen_ai.operation.name") == "invoke_agent"}
    chats = [s for s in spans if attrs(s).get("steplens.api") == "responses"
             and attrs(s).get("gen_ai.operation.name") == "chat"]
    assert sorted(attrs(s)["gen_ai.response.id"] for s in chats) == sorted(responses)
    for s in chats:
        a = attrs(s)
        r = responses[a["gen_ai.response.id"]]
        assert by_id[s.parent_span_id] is root[r["run_id"]]
        assert s.trace_id == trace_of(r["run_id"])
        assert a["openinference.span.kind"] == "LLM" and s.name == f"chat {r['model']}"
        assert a.get("llm.token_count.prompt") == r["prompt_tokens"]
        assert a.get("llm.token_count.completion") == r["completion_tokens"]
        assert a.get("llm.token_count.total") == r["total_tokens"]
        assert a.get("llm.token_count.prompt_details.cache_read") == r["cached_tokens"]
        assert a.get("llm.token_count.completion_details.reasoning") == r["reasoning_tokens"]
        assert a["session.id"] == r["thread_id"]  # the conversation
        assert s.status.code == (2 if r["status"] in FAILURE else 0)
        assert not [k for k in attrs(root[r["run_id"]]) if k.startswith(USAGE_KEYS)]
    chat_of = {attrs(s)["gen_ai.response.id"]: s for s in chats}
    items = [s for s in spans if "gen_ai.operation.name" not in attrs(s)]
    assert len(items) == sum(1 for s in steps.values()
                             if s["api"] == "responses" and s["run_id"] in responses)
    for s in items:
        a = attrs(s)
        step = steps[a["steplens.step.id"]]
        assert a["openinference.span.kind"] == "CHAIN" and s.name == step["type"]
        assert a["langfuse.observation.type"] == "span"
        assert by_id[s.parent_span_id] is chat_of[step["run_id"]]
        assert not [k for k in a if k.startswith(USAGE_KEYS)]
    # a tool call hangs under its output item, and is an error when it failed itself or
    # its item failed
    calls = {(c["step_id"], c["tool_call_id"]): c for c in table(mixed_warehouse, "tool_calls")}
    tools = [s for s in spans if attrs(s).get("gen_ai.operation.name") == "execute_tool"
             and attrs(s)["steplens.api"] == "responses"]
    assert tools
    for s in tools:
        a = attrs(s)
        assert attrs(by_id[s.parent_span_id])["steplens.step.id"] == a["steplens.step.id"]
        call = calls[(a["steplens.step.id"], a.get("gen_ai.tool.call.id"))]
        assert (s.status.code == 2) == (bool(call["call_failed"])
                                        or steps[call["step_id"]]["status"] in FAILURE)
    usage = table(mixed_warehouse, "usage")
    assert sum(attrs(s).get("llm.token_count.total", 0) for s in spans) == \
        sum(u["total_tokens"] or 0 for u in usage)
    assert {u["api"] for u in usage} == {"assistants", "responses"}


@pytest.mark.flow
def test_a_step_without_a_time_is_placed_in_its_run_and_flagged(sample_warehouse, warehouse,
                                                                tmp_path):
    """Steps whose `created_at` is lost (a stream delta seen without its step) but whose
    run is known: exported at their run's start, inside the run's span, flagged."""
    wh = tmp_path / "wh"
    shutil.copytree(sample_warehouse, wh, symlinks=True)
    ended = {r["run_id"] for r in warehouse["runs"] if r["status"] in RUN_ENDED}
    with_calls = {c["step_id"] for c in warehouse["calls"]}
    chosen = sorted(s["step_id"] for s in warehouse["steps"]
                    if s["run_id"] in ended and s["step_id"] in with_calls)[:3]
    assert len(chosen) == 3
    for part in (wh / "current" / "steps").rglob("*.parquet"):
        frame = pl.read_parquet(part)
        part.unlink()  # the snapshot's files are hard links: write a new one
        frame.with_columns(created_at=pl.when(pl.col("step_id").is_in(chosen))
                           .then(None).otherwise(pl.col("created_at"))).write_parquet(part)
    (wh / "current" / INVENTORY).unlink()  # files changed by hand: as before inventories
    shutil.rmtree(wh / "inventories")  # (and before HEAD: only the `current` link)
    (wh / "HEAD").unlink()
    out = tmp_path / "placed.jsonl"
    result = run(str(out), "-w", str(wh))
    assert result.exit_code == 0, result.output
    spans = spans_of(load(out))
    by_id = {s.span_id: s for s in spans}
    flagged = [s for s in spans if attrs(s).get("steplens.time_estimated")]
    steps = {attrs(s)["gen_ai.response.id"]: s for s in flagged
             if attrs(s).get("gen_ai.operation.name") == "chat"}
    assert sorted(steps) == chosen
    calls = [s for s in flagged if attrs(s).get("gen_ai.operation.name") == "execute_tool"]
    assert len(calls) == sum(1 for c in warehouse["calls"] if c["step_id"] in chosen)
    for step_id, s in steps.items():
        step = warehouse["step_by_id"][step_id]
        parent = by_id[s.parent_span_id]
        assert attrs(parent)["gen_ai.response.id"] == step["run_id"]
        assert s.start_time_unix_nano == ns(warehouse["run_by_id"][step["run_id"]]["created_at"])
        assert parent.start_time_unix_nano <= s.start_time_unix_nano <= \
            s.end_time_unix_nano <= parent.end_time_unix_nano
    assert all("steplens.time_estimated" not in attrs(s) for s in spans
               if attrs(s).get("steplens.step.id", attrs(s).get("gen_ai.response.id"))
               not in chosen)


@pytest.mark.flow
def test_project_names_the_phoenix_project_on_the_resource(sample_warehouse, tmp_path):
    out = tmp_path / "project.jsonl"
    assert run(str(out), "-w", str(sample_warehouse), "--project", "agents-prod"
               ).exit_code == 0
    for b in load(out):
        res = attrs(b.resource_spans[0].resource)
        assert res == {"service.name": "steplens", "openinference.project.name": "agents-prod"}


# ---- OTLP/HTTP ----------------------------------------------------------------------------

class Receiver:
    """A local OTLP/HTTP traces receiver: decodes each request, answers as scripted.

    Its `/graphql` answers 404, as a plain collector's would; with `phoenix=True` it
    answers the two questions the export asks Phoenix (projects; spans per trace id),
    from the spans it received, filed by project as Phoenix does (the `x-project-name`
    header, else the `openinference.project.name` resource attribute, else 'default')."""

    def __init__(self, phoenix: bool = False) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, bytes]] = []  # answers before the default 200
        self.graphql_queries: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path.endswith("/graphql"):
                    self.graphql(json.loads(body)["query"])
                    return
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

            def graphql(self, query: str) -> None:
                receiver.graphql_queries.append(query)
                if not phoenix:
                    self.send_error(404)
                    return
                stored = receiver.stored_by_project()
                if "projects" in query:
                    data = {"projects": {"edges": [{"node": {"id": f"P:{name}", "name": name}}
                                                   for name in stored]}}
                else:
                    project = re.search(r'node\(id: "P:([^"]+)"\)', query).group(1)
                    data = {"node": {
                        alias: ({"numSpans": stored[project][trace]}
                                if trace in stored[project] else None)
                        for alias, trace in re.findall(r'(t\d+): trace\(traceId: "(\w+)"\)',
                                                       query)}}
                answer = json.dumps({"data": data}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stored_by_project(self) -> dict[str, Counter]:
        """Spans per trace id (hex), per project, of the requests received."""
        out: dict[str, Counter] = defaultdict(Counter)
        for r in self.requests:
            header = {k.lower(): v for k, v in r["headers"].items()}.get("x-project-name")
            for rs in r["request"].resource_spans:
                project = header or attrs(rs.resource).get("openinference.project.name",
                                                           "default")
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        out[project][sp.trace_id.hex()] += 1
        return out

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


@pytest.mark.flow
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


@pytest.mark.flow
def test_stored_is_asked_of_phoenix_only(sample_warehouse, exported):
    """Sent to a Phoenix (here: a stand-in answering its GraphQL from what it received),
    the command says how many spans are stored, in the project they went to; a plain
    collector (404 on /graphql) is asked once and nothing is said."""
    n = len(exported["spans"])
    with Receiver(phoenix=True) as rx:
        result = run("-w", str(sample_warehouse), "--endpoint", rx.url, "--project", "mine")
        assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"stored: {n:,} of the {n:,} spans sent, in Phoenix project 'mine'" in text
    with Receiver(phoenix=True) as rx:  # the header wins over --project, as in Phoenix
        result = run("-w", str(sample_warehouse), "--endpoint", rx.url, "--project", "mine",
                     "-H", "x-project-name=theirs")
    assert "in Phoenix project 'theirs'" in " ".join(result.output.split())
    with Receiver() as rx:
        result = run("-w", str(sample_warehouse), "--endpoint", rx.url)
        assert result.exit_code == 0, result.output
    assert "stored" not in result.output and len(rx.graphql_queries) == 1
    with Receiver(phoenix=True) as rx:
        result = run("-w", str(sample_warehouse), "--endpoint", rx.url, "--no-check-stored")
    assert "stored" not in result.output and not rx.graphql_queries


@pytest.mark.flow
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


@pytest.mark.flow
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


@pytest.mark.flow
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


@pytest.mark.flow
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


@pytest.mark.flow
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
