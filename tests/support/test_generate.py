"""tests/support/generate.py: deterministic, covers every shape the README and FORMAT.md list,
valid against the SDK outside a known legacy/bad subset, honours target_bytes."""

from __future__ import annotations

import gzip
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.support import oracle
from tests.support.generate import KNOWN_INVALID_TOOL_TYPES, generate_export
from tests.support.paths import SAMPLE
from tests.support.sdk_validation import errors, json_lines, records

TERMINAL_STEP_EVENTS = {f"thread.run.step.{s}" for s in oracle.STEP_TERMINAL}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    counts = generate_export(out)
    return out, counts


def files_of(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def data_files(out: Path) -> list[Path]:
    """Every file but bad_lines.jsonl and the raw SSE twin."""
    return [p for p in files_of(out) if p.name != "bad_lines.jsonl" and p.suffix != ".sse"]


def all_records(out: Path) -> list[tuple[str, str, dict]]:
    """(file name, SDK model name, record) for every record of the data files."""
    return [(p.name, model, rec) for p in data_files(out) for value in json_lines(p)
            for model, rec in records(value)]


def tool_calls_of(obj: dict) -> list[dict]:
    sd = obj.get("step_details") or (obj.get("delta") or {}).get("step_details") or {}
    return sd.get("tool_calls") or []


def known_invalid(model: str, rec: dict) -> bool:
    """The documented subset that does not validate: legacy runs, legacy/future tool types."""
    if model == "AssistantStreamEvent":
        return isinstance(rec["data"], dict) and known_invalid(
            oracle_model(rec["data"]), rec["data"])
    if model == "Run":
        return "parallel_tool_calls" not in rec
    return any(c.get("type") in KNOWN_INVALID_TOOL_TYPES for c in tool_calls_of(rec))


def oracle_model(obj: dict) -> str:
    return {"thread.run": "Run", "thread.run.step": "RunStep",
            "thread.run.step.delta": "RunStepDeltaEvent"}.get(obj.get("object"), "")


# --------------------------------------------------------------------------- determinism & size


def test_same_seed_same_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert generate_export(a, runs=80, seed=11) == generate_export(b, runs=80, seed=11)
    generate_export(c, runs=80, seed=12)
    names = [p.relative_to(a) for p in files_of(a)]
    assert names == [p.relative_to(b) for p in files_of(b)]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "runs_and_steps.jsonl").read_bytes() != (c / "runs_and_steps.jsonl").read_bytes()


def test_target_bytes_is_roughly_honoured(tmp_path):
    target = 6_000_000
    counts = generate_export(tmp_path, target_bytes=target, seed=5)
    on_disk = sum(p.stat().st_size for p in files_of(tmp_path))
    assert counts["bytes"] == on_disk
    assert 0.97 * target <= on_disk <= 1.1 * target
    assert counts["runs"] > 300  # the default would have stopped at 300


def test_counts_and_options(tmp_path, export):
    out, counts = export
    assert counts["runs"] == 300 and counts["threads"] >= 100
    assert counts["bytes"] == sum(p.stat().st_size for p in files_of(out))
    assert set(counts["files"]) >= {"runs_and_steps.jsonl", "list_pages.jsonl.gz",
                                    "streams.jsonl", "streams.sse", "bare_events.ndjson",
                                    "bad_lines.jsonl", "stream_parts/part-0001.jsonl"}
    plain = generate_export(tmp_path, runs=40, bad_lines=False, streams=False)
    assert set(plain["files"]) == {"runs_and_steps.jsonl", "list_pages.jsonl.gz"}
    assert plain["stream_events"] == 0


# --------------------------------------------------------------------------- SDK validation


def test_everything_validates_except_the_known_subset(export):
    out, _ = export
    seen = Counter()
    for name, model, rec in all_records(out):
        invalid = known_invalid(model, rec)
        errs = errors(model, rec)
        assert bool(errs) == invalid, (name, model, rec.get("id"), errs)
        seen[(model, invalid)] += 1
    for model in ("Run", "RunStep", "RunStepDeltaEvent", "AssistantStreamEvent"):
        assert seen[(model, False)] > 50, model
    assert seen[("Run", True)] and seen[("RunStep", True)]


def test_legacy_runs_are_the_pre_june_2024_shape(export):
    out, _ = export
    for _, model, rec in all_records(out):
        if model == "Run" and "parallel_tool_calls" not in rec:
            assert rec["created_at"] < datetime(2024, 6, 6, tzinfo=UTC).timestamp()
            assert "file_ids" in rec and "truncation_strategy" not in rec


# --------------------------------------------------------------------------- coverage


def test_covers_assistants_models_days_and_statuses(export):
    out, _ = export
    result = oracle.compute([out])
    assert len({r["assistant_id"] for r in result.runs}) >= 4
    assert {r["model"] for r in result.runs} >= {
        "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "gpt-4-turbo", "gpt-3.5-turbo",
        "o3-mini", "gpt-4.1"}
    days = {s["day"] for s in result.steps if s["day"] is not None}
    assert len(days) >= 10 and {d.year for d in days} == {2024, 2025}
    assert {r["status"] for r in result.runs} >= {
        "completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
    assert Counter(r["status"] for r in result.runs).most_common(1)[0][0] == "completed"
    assert {s["status"] for s in result.steps} == {
        "completed", "failed", "cancelled", "expired", "in_progress"}
    assert {s["type"] for s in result.steps} == {"message_creation", "tool_calls"}
    assert {s["last_error_code"] for s in result.steps} >= {"server_error",
                                                            "rate_limit_exceeded"}
    assert {r["incomplete_reason"] for r in result.runs} >= {"max_completion_tokens",
                                                             "max_prompt_tokens"}
    # a step only ever seen through deltas
    assert any(s["run_id"] is None and s["tool_call_count"] for s in result.steps)


def test_covers_every_tool_type_and_payload(export):
    out, _ = export
    calls = [c for _, model, rec in all_records(out) if model == "RunStep"
             for c in tool_calls_of(rec)]
    by_type = defaultdict(list)
    for c in calls:
        by_type[c["type"]].append(c)
    assert set(by_type) == {"function", "code_interpreter", "file_search", "retrieval", "mcp"}
    fns = [c["function"] for c in by_type["function"]]
    assert len({f["name"] for f in fns}) >= 5
    assert {f["output"] is None for f in fns} == {True, False}
    valid = Counter(oracle.valid_json(f["arguments"]) for f in fns)
    assert valid[True] > 10 * valid[False] > 0
    assert any(ord(ch) > 127 for f in fns for ch in f["arguments"])
    outputs = [o for c in by_type["code_interpreter"] for o in c["code_interpreter"]["outputs"]]
    assert {o["type"] for o in outputs} == {"logs", "image"}
    assert any(not c["code_interpreter"]["outputs"] for c in by_type["code_interpreter"])
    assert any(len(c["code_interpreter"]["input"]) > 10_000 for c in by_type["code_interpreter"])
    assert any(len(o.get("logs", "")) > 10_000 for o in outputs)
    fs = [c["file_search"] for c in by_type["file_search"]]
    assert {} in fs
    assert any(f.get("results") and "ranking_options" in f for f in fs)
    assert any(r.get("content") for f in fs for r in f.get("results") or [])
    assert all(c["retrieval"] == {} for c in by_type["retrieval"])
    assert all(c["mcp"] for c in by_type["mcp"])


def test_covers_step_shapes_of_the_real_api(export):
    out, _ = export
    steps = [rec for _, model, rec in all_records(out) if model == "RunStep"]
    assert all("expires_at" in s for s in steps)
    expired = [s for s in steps if s["status"] == "expired"]
    assert any("expired_at" not in s for s in expired)
    assert any(s.get("expired_at") for s in expired)
    usage_state = Counter("absent" if "usage" not in s else "null" if s["usage"] is None
                          else "set" for s in steps)
    assert usage_state["absent"] and usage_state["null"] and usage_state["set"]
    details = [s["usage"] for s in steps if s.get("usage") and "prompt_token_details" in s["usage"]]
    assert details and any(u["completion_tokens_details"]["reasoning_tokens"] for u in details)
    assert any(u["prompt_token_details"]["cached_tokens"] for u in details)
    meta = Counter("missing" if "metadata" not in s else "null" if s["metadata"] is None
                   else "set" for s in steps)
    assert meta["missing"] and meta["null"] and meta["set"]
    tool_steps_in_progress = [s for s in steps if s["status"] == "in_progress"
                              and s["type"] == "tool_calls"]
    assert any(s["step_details"]["tool_calls"] == [] for s in tool_steps_in_progress)
    runs = [rec for _, model, rec in all_records(out) if model == "Run"]
    assert {"missing" if "metadata" not in r else "null" if r["metadata"] is None else "set"
            for r in runs} == {"missing", "null", "set"}
    assert any("usage" not in r for r in runs)


def test_polled_file_repeats_snapshots(export):
    out, _ = export
    statuses = defaultdict(list)
    for value in json_lines(out / "runs_and_steps.jsonl"):
        statuses[value["id"]].append(value["status"])
    run_paths = [s for k, s in statuses.items() if k.startswith("run_")]
    assert any(s[0] == "queued" and "in_progress" in s and "requires_action" in s
               and s[-1] == "completed" for s in run_paths)
    assert any(len(s) > len(set(s)) for s in run_paths)  # the same state polled again
    assert any(s[0] == "in_progress" and s[-1] == "completed"
               for k, s in statuses.items() if k.startswith("step_"))


def test_list_pages_are_newest_first_and_overlap(export):
    out, _ = export
    raw = gzip.decompress((out / "list_pages.jsonl.gz").read_bytes())
    pages = [orjson.loads(line) for line in raw.splitlines()]
    assert all(p["object"] == "list" and set(p) == {"object", "data", "first_id", "last_id",
                                                    "has_more"} for p in pages)
    assert any(p["data"] == [] for p in pages)
    kinds = Counter(p["data"][0]["object"] for p in pages if p["data"])
    assert kinds["thread.run.step"] and kinds["thread.run"]
    for p in pages:
        stamps = [x["created_at"] for x in p["data"]]
        assert stamps == sorted(stamps, reverse=True)
    assert any({x["id"] for x in a["data"]} & {x["id"] for x in b["data"]}
               for a, b in zip(pages, pages[1:], strict=False) if a["has_more"])


def test_streams_interleave_and_some_are_cut_off(export):
    out, _ = export
    envelopes = list(json_lines(out / "streams.jsonl"))
    events = Counter(e["event"] for e in envelopes)
    assert events["thread.run.step.delta"] and events["thread.message.delta"]
    assert events["thread.message.created"] and events["thread.message.completed"]
    assert events["thread.created"] and events["error"]
    step_run = {e["data"]["id"]: e["data"]["run_id"] for e in envelopes
                if e["data"].get("object") == "thread.run.step"}
    lines_of_run = defaultdict(list)
    for i, e in enumerate(envelopes):
        d = e["data"]
        run_id = {"thread.run": d.get("id"), "thread.run.step": d.get("run_id"),
                  "thread.run.step.delta": step_run.get(d.get("id"))}.get(d.get("object"))
        if run_id:
            lines_of_run[run_id].append(i)
    spans = sorted((min(v), max(v)) for v in lines_of_run.values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))  # interleaved
    with_deltas = {e["data"]["id"] for e in envelopes if e["event"] == "thread.run.step.delta"}
    terminal = {e["data"]["id"] for e in envelopes if e["event"] in TERMINAL_STEP_EVENTS}
    assert with_deltas - terminal  # cut off before the terminal step event
    pieces = [c for e in envelopes if e["event"] == "thread.run.step.delta"
              for c in tool_calls_of(e["data"])]
    assert all("index" in c for c in pieces)
    assert any("arguments" in (c.get("function") or {}) and "id" not in c for c in pieces)
    assert any("input" in (c.get("code_interpreter") or {}) and "id" not in c for c in pieces)
    assert any((c.get("code_interpreter") or {}).get("outputs") for c in pieces)
    incomplete_as_completed = [e for e in envelopes if e["event"] == "thread.run.completed"
                               and e["data"]["status"] == "incomplete"]
    assert events["thread.run.incomplete"] or incomplete_as_completed


def test_sse_twin_holds_the_same_envelopes(export):
    out, _ = export
    lines = oracle.file_lines(out / "streams.sse")
    blocks = [b for b in oracle.sse_blocks(lines) if b[1:] != ("done", None)]
    assert [{"event": ev, "data": orjson.loads(data)} for _, ev, data in blocks] == list(
        json_lines(out / "streams.jsonl"))
    assert any("\n" in data for _, _, data in blocks)  # JSON spread over several data: lines
    assert [x for x in lines if x.strip()][-2:] == [b"event: done", b"data: [DONE]"]
    assert lines.count(b"data: [DONE]") > 1


def test_bare_ndjson_and_parts(export):
    out, _ = export
    objects = Counter(v.get("object") for v in json_lines(out / "bare_events.ndjson"))
    assert objects["thread.run.step.delta"] and objects["thread.run.step"]
    assert objects["thread.run"] and objects["thread.message"]
    parts = sorted((out / "stream_parts").glob("part-*.jsonl"))
    assert len(parts) >= 2
    assert all("event" in v for p in parts for v in json_lines(p))


def test_bad_lines(export):
    out, _ = export
    path = out / "bad_lines.jsonl"
    raw = path.read_bytes()
    assert not raw.endswith(b"\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw.rsplit(b"\n", 1)[1])
    result = oracle.compute([path])
    reasons = " | ".join(r["reason"] for r in result.rejects)
    for expected in ("invalid JSON", "not a JSON object", "missing id",
                     "created_at is not an integer", "arguments is not a string",
                     "index is not an integer", "prompt_tokens is not a token count"):
        assert expected in reasons
    assert sum("invalid JSON" in r["reason"] for r in result.rejects) >= 4
    assert set(result.skipped_by_shape) >= {"blank", "empty_list", "thread.message",
                                            "thread.created", "error", "done",
                                            "thread.run.step.annotation"}


# --------------------------------------------------------------------------- the oracle on it


def test_oracle_on_the_export(export):
    out, _ = export
    result = oracle.compute([out])
    assert {Path(r["source_file"]).name for r in result.rejects} == {"bad_lines.jsonl"}
    c = result.counts
    assert c["records_read"] == c["kept"] + c["superseded"] + c["rejected"] + c["skipped"]
    assert c["superseded"] > c["kept"]
    assert {t["type"] for t in result.tool_calls} == {
        "function", "code_interpreter", "file_search", "retrieval", "mcp"}
    assert {r["dimension"] for r in result.step_latency} == {
        "all", "assistant_id", "model", "day", "type", "api"}
    assert all(r["failure_rate"] is not None for r in result.tool_stats
               if r["function_name"] is None and r["tool_type"] == "function")


def test_oracle_same_tables_for_sse_and_jsonl_streams(export):
    out, _ = export
    a, b = oracle.compute([out / "streams.sse"]), oracle.compute([out / "streams.jsonl"])
    assert (a.steps, a.runs, a.tool_calls, a.usage) == (b.steps, b.runs, b.tool_calls, b.usage)
    done = oracle.file_lines(out / "streams.sse").count(b"data: [DONE]")
    assert a.skipped_by_shape == dict(b.skipped_by_shape, done=done)
    assert a.counts["records_read"] == b.counts["records_read"] + done
    parts = sorted((out / "stream_parts").glob("*.jsonl"))
    forward, backward = oracle.compute(parts), oracle.compute(parts[::-1])
    assert forward.tool_calls == backward.tool_calls


# --------------------------------------------------------------------------- data/sample


def test_data_sample_is_what_its_readme_command_makes(export):
    """data/sample = the defaults, with some files gzipped afterwards (see its README)."""
    out, _ = export
    assert (SAMPLE / "README.md").exists()
    for path in files_of(out):
        rel = path.relative_to(out)
        committed = SAMPLE / rel
        if not committed.exists():
            committed = SAMPLE / (str(rel) + ".gz")
        assert committed.exists(), rel
        want = path.read_bytes()
        have = committed.read_bytes()
        if committed.name.endswith(".gz"):
            have = gzip.decompress(have)
            if path.name.endswith(".gz"):
                want = gzip.decompress(want)
        assert have == want, rel
    assert sum(p.stat().st_size for p in files_of(SAMPLE)) < 3_000_000
