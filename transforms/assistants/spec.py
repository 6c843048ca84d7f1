"""What an Assistants step, run or delta must look like to be kept: the known fields and
their types (docs/ingest.md, "Input": known fields).

Only the specs live here; `transforms/rulebook.py` reads them, as it reads the Responses
ones: its careful checker (`rulebook.check`, called by `careful.py`) names the first field
of the wrong type (the reason a line lands in `rejects`), and its struct generator gives
the fast path (`fast.py`) structs that accept exactly what the checker accepts.
"""

from __future__ import annotations

from steplens.transforms.rulebook import ANY, ID, INT, NUM, OBJ, REF, STR, TOKENS, TS

TIMESTAMP_FIELDS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
                    "expired_at", "expires_at")
TIMESTAMPS = dict.fromkeys(TIMESTAMP_FIELDS, TS)

USAGE = {
    "prompt_tokens": TOKENS,
    "completion_tokens": TOKENS,
    "total_tokens": TOKENS,
    "prompt_token_details": {"cached_tokens": TOKENS},  # how the API spells it
    "prompt_tokens_details": {"cached_tokens": TOKENS},
    "completion_tokens_details": {"reasoning_tokens": TOKENS},
}
ERROR = {"code": STR, "message": STR}
OUTPUT = {"type": STR, "logs": STR, "image": {"file_id": STR}}
CALL = {
    "id": STR,
    "type": STR,
    "function": {"name": STR, "arguments": STR, "output": STR},
    "code_interpreter": {"input": STR, "outputs": [OUTPUT]},
    "file_search": {"results": [{"score": NUM}]},
}
DELTA_CALL = {**CALL, "index": INT,
              "code_interpreter": {"input": STR, "outputs": [{**OUTPUT, "index": INT}]}}


def _details(call: dict) -> dict:
    return {"type": STR, "message_creation": {"message_id": STR}, "tool_calls": [call]}


STEP = {
    "id": ID,
    "run_id": REF,
    "thread_id": REF,
    "assistant_id": REF,
    "type": STR,
    "status": STR,
    **TIMESTAMPS,
    "last_error": ERROR,
    "usage": USAGE,
    "metadata": OBJ,
    "step_details": _details(CALL),
}
RUN = {
    "id": ID,
    "thread_id": REF,
    "assistant_id": REF,
    "model": STR,
    "status": STR,
    **TIMESTAMPS,
    "last_error": ERROR,
    "incomplete_details": {"reason": STR},
    "usage": USAGE,
    "metadata": OBJ,
    # The configuration (docs/views.md, "Assistant versions"; transforms/config.py): read, never
    # checked, so that a surprising value is NULL and never costs the run.
    "instructions": ANY,
    "tools": ANY,
    "temperature": ANY,
    "top_p": ANY,
    "response_format": ANY,
    "reasoning_effort": ANY,
}
DELTA = {"id": ID, "delta": {"step_details": _details(DELTA_CALL)}}
