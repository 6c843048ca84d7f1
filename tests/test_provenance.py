"""Provenance (docs/fidelity.md): every kept row of `runs`, `steps`, `tool_calls` and
`usage`, of both APIs, names the input line behind it, and that line, read back and
decoded here in plain Python (no steplens reader), gives the row: its id, status and
tokens.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from tests.support.builders import delta, run, step
from tests.support.generate import generate_export
from tests.support.generate_responses import generate_mixed_export
from tests.test_against_oracle import product_tables

TABLES = ("runs", "steps", "tool_calls", "usage")


# ---- an independent reader: a file's line (or SSE block) back to the record ----------

def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.split(b"\n")


def _page_items(page: dict) -> list:
    out = []
    for item in page["data"]:
        if isinstance(item, dict) and item.get("object") == "list" and "data" in item:
            out += _page_items(item)
        else:
            out.append(item)
    return out


def record_at(path: str, line_no: int, item: int) -> dict:
    """The record at `line_no` of `path` (1-based); `item` >= 0: that item of a list page.
    An SSE block starts at its first `data:` line, its `event:` line may come before."""
    lines = _lines(Path(path))
    line = lines[line_no - 1].rstrip(b"\r")
    event = None
    if line.startswith(b"data:"):
        data = []
        for raw in lines[line_no - 1:]:
            raw = raw.rstrip(b"\r")
            if not raw.strip():
                break
            if raw.startswith(b"data:"):
                data.append(raw[5:].removeprefix(b" "))
        for raw in reversed(lines[:line_no - 1]):
            raw = raw.rstrip(b"\r")
            if not raw.strip():
                break
            if raw.startswith(b"event:"):
                event = raw[6:].strip().decode()
        value = orjson.loads(b"\n".join(data))
        if event is not None:
            value = {"event": event, "data": value}
    else:
        value = orjson.loads(line)
    if item >= 0:
        value = _page_items(value)[item]
    return value


def unwrap(value: dict) -> dict:
    """The object a record carries: an envelope's `data`, a stream event's `response`."""
    if "event" in value and "object" not in value:
        value = value["data"]
    if isinstance(value.get("response"), dict) and str(value.get("type", "")).startswith(
            "response."):
        value = value["response"]
    return value


# ---- what a record says about a row ---------------------------------------------------

def _assistants_tokens(obj: dict) -> tuple:
    u = obj.get("usage") or {}
    return (u.get("prompt_tokens"), u.get("completion_tokens"), u.get("total_tokens"))


def _responses_tokens(obj: dict) -> tuple:
    u = obj.get("usage") or {}
    return (u.get("input_tokens"), u.get("output_tokens"), u.get("total_tokens"))


def _row_tokens(row: dict) -> tuple:
    return (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"])


def _item_ids(obj: dict, value: dict) -> set:
    """Ids an item row may take from a Responses record: its output items, or the item of
    an `output_item` event."""
    items = list(obj.get("output") or []) if obj.get("object") == "response" else []
    if isinstance(value.get("item"), dict):
        items.append(value["item"])
    out = set()
    for i, it in enumerate(items):
        if isinstance(it, dict):
            out |= {it.get("id"), it.get("call_id"), f"{obj.get('id')}:{i}"}
    return out - {None}


def check_row(table: str, row: dict) -> str | None:
    """Why `row` is not what its source line says (None: it is)."""
    if row["source_file"] is None or row["line_no"] is None:
        return "no provenance"
    value = record_at(row["source_file"], row["line_no"], row["source_item"])
    if "event" in value and "object" not in value:  # an envelope (an SSE block's event)
        value = value["data"]
    obj = unwrap(value)
    responses = row["api"] == "responses"
    if table in ("runs", "usage") and (responses or table == "runs"):
        if obj.get("id") != row["run_id"]:
            return f"id {obj.get('id')} != {row['run_id']}"
        if table == "runs" and obj.get("status") != row["status"]:
            return f"status {obj.get('status')} != {row['status']}"
        tokens = _responses_tokens(obj) if responses else _assistants_tokens(obj)
        if obj.get("usage") is not None and tokens != _row_tokens(row):
            return f"tokens {tokens} != {_row_tokens(row)}"
        return None
    if responses:  # steps, tool calls: an item of the response (or of an item event)
        key = row["tool_call_id"] if table == "tool_calls" else row["step_id"]
        return None if key in _item_ids(obj, value) else f"{key} not in {value}"[:300]
    # Assistants steps, tool calls, usage: the step record, or (deltas only) a delta
    if obj.get("id") != row["step_id"]:
        return f"step id {obj.get('id')} != {row['step_id']}"
    if obj.get("object") == "thread.run.step.delta":
        if table == "tool_calls":
            calls = ((obj.get("delta") or {}).get("step_details") or {}).get("tool_calls")
            if row["call_index"] not in {c.get("index") for c in calls or []}:
                return f"call {row['call_index']} not in the delta"
        return None
    if table == "steps" and obj.get("status") != row["status"]:
        return f"status {obj.get('status')} != {row['status']}"
    if table == "usage" and _assistants_tokens(obj) != _row_tokens(row):
        return f"tokens {_assistants_tokens(obj)} != {_row_tokens(row)}"
    if table == "tool_calls":
        calls = (obj.get("step_details") or {}).get("tool_calls") or []
        if row["call_index"] >= len(calls) or calls[row["call_index"]].get("id") != row[
                "tool_call_id"]:
            return f"call {row['tool_call_id']} not at {row['call_index']}"
    return None


def check_tables(paths: list[Path]) -> dict[str, int]:
    _, tables = product_tables(paths)
    checked: dict[str, int] = {}
    problems = []
    for name in TABLES:
        for row in getattr(tables, name).to_dicts():
            why = check_row(name, row)
            if why is not None:
                problems.append(f"{name} {row['api']} {row.get('step_id') or row['run_id']} "
                                f"at {row['source_file']}:{row['line_no']}: {why}")
            key = f"{name}/{row['api']}"
            checked[key] = checked.get(key, 0) + 1
    assert not problems, "\n".join(problems[:10]) + f"\n({len(problems)} rows)"
    return checked


def test_assistants_rows_point_at_their_lines(tmp_path):
    out = tmp_path / "export"
    generate_export(out, runs=50, seed=3)
    checked = check_tables([out])
    assert all(checked.get(f"{t}/assistants", 0) > 20 for t in TABLES), checked


def test_responses_rows_point_at_their_lines(tmp_path):
    out = tmp_path / "mixed"
    generate_mixed_export(out, responses=80, seed=5, assistants_runs=10)
    checked = check_tables([out])
    assert all(checked.get(f"{t}/responses", 0) > 20 for t in TABLES), checked


def test_a_wrong_line_is_caught(tmp_path):
    """The check can fail: a row moved to its neighbour's line is reported."""
    out = tmp_path / "export"
    generate_export(out, runs=10, seed=4, streams=False)
    _, tables = product_tables([out])
    rows = tables.runs.to_dicts()
    moved = {**rows[0], "line_no": rows[0]["line_no"] + 1}
    try:
        why = check_row("runs", moved)
    except (orjson.JSONDecodeError, IndexError):
        why = "unreadable"
    assert why is not None


def _call(index, **fields) -> dict:
    return {"index": index, "type": "function", **fields}


def test_rows_from_deltas_and_cut_streams_point_at_their_first_fragment(tmp_path):
    """A step known only from deltas, calls rebuilt from deltas of a non-terminal step,
    and the items of a cut Responses stream (replayed from its events)."""
    from tests.support.builders import function_call, response, sse, stream

    lines = [
        run(),
        {"event": "thread.run.step.delta", "data": delta(
            _call(0, id="call_1", function={"name": "f", "arguments": "{"}), step_id="step_D")},
        {"event": "thread.run.step.delta", "data": delta(
            _call(0, function={"arguments": "}"}), step_id="step_D")},
        step("in_progress", id="step_P"),
        delta(_call(0, id="call_2", function={"name": "g", "arguments": "{}"}),
              step_id="step_P"),
    ]
    (tmp_path / "a.jsonl").write_bytes(b"".join(orjson.dumps(v) + b"\n" for v in lines))
    cut = stream(response(id="resp_C"), function_call(id="fc_1", call_id="call_C"), cut=True)
    (tmp_path / "r.sse").write_text(sse(cut))
    _, tables = product_tables([tmp_path])
    steps = {r["step_id"]: r for r in tables.steps.to_dicts()}
    calls = {r["tool_call_id"]: r for r in tables.tool_calls.to_dicts()}
    a = str(tmp_path / "a.jsonl")
    assert (steps["step_D"]["source_file"], steps["step_D"]["line_no"]) == (a, 2)
    assert (calls["call_1"]["source_file"], calls["call_1"]["line_no"]) == (a, 2)
    assert (steps["step_P"]["line_no"], calls["call_2"]["line_no"]) == (4, 5)
    # the cut stream: the response from its latest lifecycle event, the item from the
    # `output_item.added` event that brought it (SSE: the line of its `data:`)
    assert steps["fc_1"]["line_no"] == 8 and calls["call_C"]["line_no"] == 8  # 3rd block
    for table in TABLES:
        for row in getattr(tables, table).to_dicts():
            assert check_row(table, row) is None, (table, row)
