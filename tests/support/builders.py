"""Minimal, valid records for inline test inputs: one step, one run, one delta.

Each builder gives an SDK-shaped object with a fixed id and timestamps; keyword
arguments override any field. Shared by the oracle's own tests and the product-versus-
oracle tests, so both speak of the same records.
"""

from __future__ import annotations

import orjson

T0 = 1718022105  # 2024-06-10 12:21:45 UTC


def step(status="completed", **fields) -> dict:
    s = {"id": "step_A", "object": "thread.run.step", "created_at": T0, "run_id": "run_A",
         "assistant_id": "asst_A", "thread_id": "thread_A", "type": "tool_calls",
         "status": status, "completed_at": T0 + 4 if status == "completed" else None,
         "step_details": {"type": "tool_calls", "tool_calls": []}, "usage": None}
    s.update(fields)
    return s


def run(status="completed", **fields) -> dict:
    r = {"id": "run_A", "object": "thread.run", "created_at": T0 - 2, "thread_id": "thread_A",
         "assistant_id": "asst_A", "model": "gpt-4o", "status": status, "started_at": T0 - 1,
         "completed_at": T0 + 9 if status == "completed" else None}
    r.update(fields)
    return r


def delta(*calls, step_id="step_A", **details) -> dict:
    sd = {"type": "tool_calls", **details}
    if calls:
        sd["tool_calls"] = list(calls)
    return {"id": step_id, "object": "thread.run.step.delta", "delta": {"step_details": sd}}


# --------------------------------------------------------------------------- Responses API

R0 = 1767225600  # 2026-01-01 00:00:00 UTC


def usage(input_tokens=100, output_tokens=20, cached=0, reasoning=0, **fields) -> dict:
    """A Responses `usage` object (with `cache_write_tokens`, as the API sends since 2026-07)."""
    u = {"input_tokens": input_tokens,
         "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
         "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": reasoning},
         "total_tokens": input_tokens + output_tokens}
    u.update(fields)
    return u


def response(status="completed", *output, **fields) -> dict:
    """A `response` object with a fixed id; usage and completed_at only when terminal."""
    done = status in ("completed", "incomplete", "failed")
    r = {"id": "resp_A", "object": "response", "created_at": R0, "status": status,
         "background": False, "completed_at": R0 + 3 if done else None, "error": None,
         "incomplete_details": None, "instructions": None, "metadata": {},
         "model": "gpt-4.1-2025-04-14", "output": list(output), "parallel_tool_calls": True,
         "previous_response_id": None, "temperature": 1.0, "tool_choice": "auto",
         "tools": [], "top_p": 1.0, "truncation": "disabled",
         "usage": usage() if done else None}
    r.update(fields)
    return r


def message(id="msg_A", text="Hello.", status="completed") -> dict:
    return {"id": id, "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_call(call_id="call_A", name="get_weather", arguments='{"city":"Paris"}',
                  id="fc_A", status="completed") -> dict:
    return {"id": id, "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments}


def function_call_output(call_id="call_A", output="sunny", **fields) -> dict:
    o = {"type": "function_call_output", "call_id": call_id, "output": output}
    o.update(fields)
    return o


def request(*items, **fields) -> dict:
    """A `POST /v1/responses` body whose `input` holds the given items."""
    b = {"model": "gpt-4.1", "input": list(items)}
    b.update(fields)
    return b


def event(type_, seq=None, **fields) -> dict:
    """A Responses stream event; `seq` becomes `sequence_number` when given."""
    e = {"type": type_}
    if seq is not None:
        e["sequence_number"] = seq
    e.update(fields)
    return e


def stream(resp: dict, *items: dict, cut: bool = False, start: int = 0) -> list[dict]:
    """The events of one streamed response: created, in_progress, each item added/done (a
    function call with its arguments in two deltas), completed; `cut` stops before the
    terminal event and the last item's `done`."""
    seq = iter(range(start, start + 10_000))
    pending = dict(resp, status="in_progress", output=[], usage=None, completed_at=None)
    events = [event("response.created", next(seq), response=pending),
              event("response.in_progress", next(seq), response=pending)]
    for i, item in enumerate(items):
        shell = dict(item, status="in_progress")
        if item["type"] == "function_call":
            shell["arguments"] = ""
        events.append(event("response.output_item.added", next(seq), output_index=i,
                            item=shell))
        if item["type"] == "function_call":
            half = len(item["arguments"]) // 2
            for piece in (item["arguments"][:half], item["arguments"][half:]):
                events.append(event("response.function_call_arguments.delta", next(seq),
                                    item_id=item["id"], output_index=i, delta=piece))
        if cut and i == len(items) - 1:
            return events
        events.append(event("response.output_item.done", next(seq), output_index=i,
                            item=item))
    if cut:
        return events
    events.append(event("response.completed", next(seq),
                        response=dict(resp, output=list(items))))
    return events


def sse(events: list[dict]) -> str:
    """Raw SSE text of events: `event: TYPE` / `data: JSON` blocks."""
    return "".join(f"event: {e['type']}\ndata: {orjson.dumps(e).decode()}\n\n"
                   for e in events)
