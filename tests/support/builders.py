"""Minimal, valid records for inline test inputs: one step, one run, one delta.

Each builder gives an SDK-shaped object with a fixed id and timestamps; keyword
arguments override any field. Shared by the oracle's own tests and the product-versus-
oracle tests, so both speak of the same records.
"""

from __future__ import annotations

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
