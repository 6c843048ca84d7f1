"""Streams: deltas reassembled, raw SSE equal to its JSON twin, order never matters.

The synthetic streams here are built from complete step objects (SDK shapes, checked
below): a stream that reaches its terminal event must give exactly the rows of the
final object; a stream cut off must give an `in_progress` row whose tool calls are the
concatenation of the pieces that were delivered, computed here in plain Python.
"""

from __future__ import annotations

import copy
import json
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from steplens.flows.io.inputs import parse_chunk
from steplens.flows.store.records import Range
from steplens.transforms.parse import ParsedBatch, parse_lines
from steplens.transforms.schemas import ROW_PROVENANCE
from steplens.transforms.tables import build_tables
from tests.support.paths import DATA, real_files

EXAMPLES = DATA / "examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def final_step(i: int, rng: random.Random) -> dict:
    """A completed step with a function call and a code-interpreter call."""
    step = example("step_tool_calls_function_completed")
    step["id"] = f"step_{i:024d}"
    step["created_at"] += i
    step["completed_at"] = step["created_at"] + rng.randint(0, 9)
    step["step_details"]["tool_calls"] = [
        {"id": f"call_f{i:020d}", "type": "function", "function": {
            "name": f"fn_{i % 3}", "arguments": json.dumps({"q": "é" * rng.randint(0, 9), "i": i}),
            "output": None}},
        {"id": f"call_c{i:020d}", "type": "code_interpreter", "code_interpreter": {
            "input": "print(1)\n" * rng.randint(1, 4),
            "outputs": [{"type": "logs", "logs": "1\n" * rng.randint(1, 4)}]}},
    ]
    return step


def pieces(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), min(3, len(text) - 1))) if len(text) > 1 else []
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def delta_event(step_id: str, call: dict) -> dict:
    return {"event": "thread.run.step.delta", "data": {
        "id": step_id, "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}}}}


def stream_of(step: dict, rng: random.Random, cut_after: int | None = None) -> list[dict]:
    """created, deltas (pieces), completed; cut off after `cut_after` deltas if given."""
    created = copy.deepcopy(step)
    created.update(status="in_progress", completed_at=None, usage=None)
    created["step_details"]["tool_calls"] = []
    events = [{"event": "thread.run.step.created", "data": created}]
    fn, ci = step["step_details"]["tool_calls"]
    deltas = [delta_event(step["id"], {"index": 0, "id": fn["id"], "type": "function",
                                       "function": {"name": fn["function"]["name"],
                                                    "arguments": "", "output": None}})]
    deltas += [delta_event(step["id"], {"index": 0, "type": "function",
                                        "function": {"arguments": p}})
               for p in pieces(fn["function"]["arguments"], rng)]
    deltas.append(delta_event(step["id"], {"index": 1, "id": ci["id"], "type": "code_interpreter",
                                           "code_interpreter": {"input": "", "outputs": []}}))
    deltas += [delta_event(step["id"], {"index": 1, "type": "code_interpreter",
                                        "code_interpreter": {"input": p}})
               for p in pieces(ci["code_interpreter"]["input"], rng)]
    deltas += [delta_event(step["id"], {"index": 1, "type": "code_interpreter",
                                        "code_interpreter": {"outputs": [
                                            {"index": 0, "type": "logs", "logs": p}]}})
               for p in pieces(ci["code_interpreter"]["outputs"][0]["logs"], rng)]
    if cut_after is not None:
        return events + deltas[:cut_after]
    return [*events, *deltas, {"event": "thread.run.step.completed", "data": step}]


def test_synthetic_streams_are_sdk_shapes():
    from openai.types.beta import AssistantStreamEvent
    from pydantic import TypeAdapter

    adapter = TypeAdapter(AssistantStreamEvent)
    for event in stream_of(final_step(1, random.Random(1)), random.Random(2)):
        adapter.validate_python(event)


def lines_of(events: list[dict]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def tables_from(files: dict[str, list[bytes]]):
    return build_tables(ParsedBatch.concat(
        parse_lines(name, list(enumerate(lines, 1))) for name, lines in files.items()))


def expected_cut_off_calls(events: list[dict]) -> dict[int, dict]:
    """Plain-Python reassembly of the delivered deltas: the independent computation."""
    calls: dict[int, dict] = {}
    for e in events:
        if e["event"] != "thread.run.step.delta":
            continue
        for call in e["data"]["delta"]["step_details"]["tool_calls"]:
            c = calls.setdefault(call["index"], {"args": None, "code": None, "logs": 0})
            c["type"] = call.get("type", c.get("type"))
            if "function" in call and call["function"].get("arguments") is not None:
                c["args"] = (c["args"] or "") + call["function"]["arguments"]
            if "function" in call and call["function"].get("name"):
                c["name"] = call["function"]["name"]
            ci = call.get("code_interpreter", {})
            if ci.get("input") is not None:
                c["code"] = (c["code"] or "") + ci["input"]
            for out in ci.get("outputs", []):
                c["logs"] += len(out.get("logs") or "")
    return calls


def test_interleaved_streams_match_final_objects_and_cut_offs_keep_their_deltas():
    rng = random.Random(5)
    finals = [final_step(i, rng) for i in range(8)]
    streams = [stream_of(s, rng, cut_after=(3 + i if i % 3 == 0 else None))
               for i, s in enumerate(finals)]
    queues = [list(s) for s in streams]
    interleaved = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        interleaved.append(q.pop(0))
    streamed = tables_from({"/s/streams.jsonl": lines_of(interleaved)})
    completed = [s for i, s in enumerate(finals) if i % 3 != 0]
    reference = tables_from({"/s/final.jsonl": lines_of(completed)})

    done_ids = {s["id"] for s in completed}
    done = streamed.steps.filter(streamed.steps["step_id"].is_in(done_ids))
    # the same rows but for provenance (another file, other lines)
    assert_frame_equal(done.drop(ROW_PROVENANCE), reference.steps.drop(ROW_PROVENANCE))
    assert_frame_equal(
        streamed.tool_calls.filter(streamed.tool_calls["step_id"].is_in(done_ids))
        .drop(ROW_PROVENANCE), reference.tool_calls.drop(ROW_PROVENANCE))

    for i in range(0, 8, 3):
        step_id = finals[i]["id"]
        row = streamed.steps.filter(streamed.steps["step_id"] == step_id).row(0, named=True)
        assert row["status"] == "in_progress"
        expected = expected_cut_off_calls(streams[i])
        calls = streamed.tool_calls.filter(streamed.tool_calls["step_id"] == step_id)
        assert row["tool_call_count"] == len(expected) == calls.height
        for call in calls.iter_rows(named=True):
            exp = expected[call["call_index"]]
            assert call["type"] == exp["type"]
            if exp["type"] == "function":
                assert call["function_arguments"] == exp["args"]
                assert call["function_name"] == exp.get("name")
            else:
                assert call["code_input"] == exp["code"]
                assert call["code_log_chars"] == exp["logs"]
    assert streamed.accounting["balanced"] == 1


@given(seed=st.integers(0, 10_000), n_files=st.integers(1, 4), per_stream=st.booleans())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_tables_do_not_depend_on_interleaving_or_file_order(seed, n_files, per_stream):
    rng = random.Random(seed)
    finals = [final_step(i, rng) for i in range(rng.randint(1, 5))]
    streams = [stream_of(s, rng, cut_after=rng.choice([None, rng.randint(0, 6)]))
               for s in finals]
    sequential = tables_from({"/s/all.jsonl": lines_of([e for s in streams for e in s])})

    queues = [list(s) for s in streams]
    interleaved = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        interleaved.append((queues.index(q), q.pop(0)))
    if per_stream:  # each stream in its own file, random names
        names = rng.sample(range(100), len(streams))
        files: dict[str, list[bytes]] = {}
        for k, event in interleaved:
            files.setdefault(f"/s/{names[k]:03d}.jsonl", []).append(orjson.dumps(event))
    else:  # one interleaved stream cut into parts whose names sort in stream order
        cuts = sorted(rng.choices(range(len(interleaved) + 1), k=n_files - 1))
        bounds = [0, *cuts, len(interleaved)]
        files = {f"/s/part-{i:04d}.jsonl": [orjson.dumps(e) for _, e in interleaved[a:b]]
                 for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))}
    order = list(files)
    rng.shuffle(order)  # the order files are found in must not matter
    got = tables_from({name: files[name] for name in order})
    # the same rows but for provenance (the records sit in other files and lines)
    for table in ("steps", "tool_calls"):
        assert_frame_equal(getattr(got, table).drop(ROW_PROVENANCE),
                           getattr(sequential, table).drop(ROW_PROVENANCE))
    assert got.accounting["balanced"] == 1


@pytest.mark.parametrize("sse", real_files("*/stream.sse"), ids=lambda p: p.parent.name)
def test_real_sse_gives_the_same_tables_as_its_jsonl_twin(sse):
    from_sse = build_tables(parse_chunk(Range(str(sse), 0, -1, 1, sse=True).chunk()))
    twin = sse.with_name("stream.jsonl")
    from_jsonl = build_tables(parse_chunk(Range(str(twin), 0, -1, 1).chunk()))
    for name, frame in from_jsonl.frames().items():
        if name != "rejects":  # the same rows but for provenance (the twin's lines)
            frame = frame.drop(ROW_PROVENANCE, strict=False)
        other = from_sse.frames()[name]
        if name != "rejects":
            other = other.drop(ROW_PROVENANCE, strict=False)
        assert_frame_equal(other, frame, check_row_order=False)
    assert from_sse.rejects.height == 0
    # the .sse file has one more record: the closing `event: done` block
    assert from_sse.accounting["skipped"] == from_jsonl.accounting["skipped"] + 1


def _mutate(value, rng: random.Random):
    """Replace one random field somewhere in a JSON value by a value of another type."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        if rng.random() < 0.5 and isinstance(value[key], dict | list):
            value[key] = _mutate(value[key], rng)
        else:
            value[key] = rng.choice([None, 1, -5, 2**70, "x", 1.5, True, [], {}, "é" * 50])
    elif isinstance(value, list) and value:
        i = rng.randrange(len(value))
        value[i] = _mutate(value[i], rng)
    return value


def fuzzed_lines(seed: int, lines: list[bytes]) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for line in lines:
        roll = rng.random()
        if roll < 0.1:
            out.append(line[: rng.randrange(len(line) + 1)])  # truncated
        elif roll < 0.2:
            b = bytearray(line)
            for _ in range(rng.randint(1, 5)):
                if b:
                    b[rng.randrange(len(b))] = rng.randrange(256)  # random bytes
            out.append(bytes(b).replace(b"\n", b" "))
        elif roll < 0.45:
            try:
                mutated = _mutate(orjson.loads(line), rng)
                out.append(json.dumps(mutated, ensure_ascii=False).encode())
            except orjson.JSONDecodeError:
                out.append(line)
        elif roll < 0.5:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
                       .replace(b"\n", b""))
        else:
            out.append(line)
    return out


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_input_never_crashes_and_every_line_is_accounted_for(seed):
    lines = []
    for path in real_files("*/*.jsonl")[:8]:
        lines += path.read_bytes().splitlines()
    lines = fuzzed_lines(seed, lines[:400])
    batch = parse_lines("/f/fuzz.jsonl", list(enumerate(lines, 1)))
    careful = parse_lines("/f/fuzz.jsonl", list(enumerate(lines, 1)), careful=True)
    for name in batch.FRAMES:  # the fast pass never differs from field-by-field checks
        assert_frame_equal(getattr(batch, name), getattr(careful, name))
    tables = build_tables(batch)
    assert batch.lines_read == len(lines)
    assert tables.accounting["balanced"] == 1
    records = (batch.step_records.height + batch.run_records.height
               + batch.delta_events.height + batch.rejects.height + batch.skipped.height)
    assert records == batch.records_read


@pytest.mark.flow
def test_fuzzed_export_through_the_whole_flow(prefect_server, tmp_path):
    import gzip

    from steplens.flows.ingest import ingest
    from tests.support.generate import generate_export

    src = tmp_path / "gen"
    generate_export(src, runs=30, seed=3)
    export = tmp_path / "fuzzed"
    export.mkdir()
    total_lines = 0
    for i, path in enumerate(sorted(p for p in src.rglob("*") if p.is_file())):
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if path.suffix == ".sse":  # raw SSE: flip bytes without touching line structure
            rng = random.Random(i)
            data = bytearray(raw)
            for _ in range(20):
                pos = rng.randrange(len(data))
                if data[pos] != 0x0A:
                    data[pos] = rng.choice(b"{}[]\",:x\xff")
            out = bytes(data)
        else:
            out = b"\n".join(fuzzed_lines(i, raw.split(b"\n")))
        target = export / path.name
        if path.suffix == ".gz":
            target.write_bytes(gzip.compress(out))
        else:
            target.write_bytes(out)
        total_lines += out.count(b"\n") + (0 if out.endswith(b"\n") or not out else 1)
    summary = ingest(paths=[str(export)], warehouse_dir=str(tmp_path / "wh"))
    assert summary["balanced"] == 1
    assert summary["rejected"] > 0
    assert summary["lines_read"] == total_lines
