"""What a Responses/Conversations record must look like: the shapes and their checks.

The Responses side's specs (docs/responses.md, "Responses API and Conversations"), as
`assistants/spec.py` holds the Assistants ones: declarative specs of the known fields, read by
the one rulebook (`transforms/rulebook.py`: field kinds, checker, struct generator), and
the dispatch predicates that say which shape a JSON value is. The fast path (`fast.py`)
builds its msgspec structs from these same specs, so it cannot accept what the checker
rejects; the careful path (`careful.py`) calls `why`, the rulebook's checker. Reasons
are worded by the rulebook, as the Assistants ones: `<path>: expected <type>, got <JSON
type>`, `<path>: <what> out of range (<value>; must be <bounds>)`, `<path>: invalid id
(<problem>)`.

Fields are checked level by level: every key of an object first (in spec order), then
the objects and lists below it, in the same order. So a record with two problems names
the shallower one, whatever order its keys were written in.
"""

from __future__ import annotations

import re
from typing import Any

from steplens.transforms import rulebook
from steplens.transforms.rulebook import (
    ANY,
    CONV,
    ID,
    INT,
    NUM,
    OBJ,
    REF,
    STR,
    TOKENS,
    TS_NUM,
    Required,
    wrong_type,
)

ITEM = {
    "id": REF, "type": STR, "status": STR, "call_id": REF, "name": STR, "code": STR,
    "phase": STR,  # a message's: "commentary" or "final_answer" (steps.phase)
    "outputs": [{"type": STR, "logs": STR}],  # code interpreter
    "results": [{"score": NUM}],  # file search
    "arguments": ANY, "input": ANY, "output": ANY, "error": ANY,
}
USAGE = {  # token counts: integers in 0..2^53 (rulebook.MAX_TOKENS)
    "input_tokens": TOKENS, "output_tokens": TOKENS, "total_tokens": TOKENS,
    "input_tokens_details": {"cached_tokens": TOKENS},
    "output_tokens_details": {"reasoning_tokens": TOKENS},
}
RESPONSE = {
    "id": ID, "created_at": TS_NUM, "completed_at": TS_NUM,
    "status": STR, "model": STR, "previous_response_id": STR,
    "error": {"code": STR, "message": STR},
    "incomplete_details": {"reason": STR},
    "metadata": OBJ,
    "prompt": {"id": STR},
    "usage": USAGE,
    "conversation": CONV,
    "output": [ITEM],
}

# ---- stream events --------------------------------------------------------------------

TERMINAL_EVENTS = ("completed", "failed", "incomplete")
LIFECYCLE = frozenset("response." + s for s in ("created", "queued", "in_progress",
                                                "completed", "failed", "incomplete"))
ITEM_EVENTS = frozenset(("response.output_item.added", "response.output_item.done"))
# Argument/input/code deltas append to this field of their item; their `.done` sets it.
DELTA_FIELD = {
    "response.function_call_arguments.delta": "arguments",
    "response.mcp_call_arguments.delta": "arguments",
    "response.custom_tool_call_input.delta": "input",
    "response.code_interpreter_call_code.delta": "code",
}
DONE_FIELD = {k.removesuffix("delta") + "done": v for k, v in DELTA_FIELD.items()}
# `response.<item type>.<state>`: the status of the item of that type.
PROGRESS = re.compile(r"response\.(\w+_call)\.(in_progress|searching|interpreting|generating"
                      r"|completed|failed|incomplete)")

EVENT_COMMON = {"sequence_number": INT, "output_index": INT, "item_id": STR}
EVENT_SPECS: dict[str, dict] = {
    **{t: {**EVENT_COMMON, "response": Required(RESPONSE)} for t in LIFECYCLE},
    **{t: {**EVENT_COMMON, "item": Required(ITEM)} for t in ITEM_EVENTS},
    **{t: {**EVENT_COMMON, "delta": STR} for t in DELTA_FIELD},
    **{t: {**EVENT_COMMON, f: STR} for t, f in DONE_FIELD.items()},
    "error": {**EVENT_COMMON, "code": STR, "message": STR},
}

# A tool output item (R3): bare, an item of a conversation / input-item page, or in a
# request's `input`.
OUTPUT_ITEM = {"call_id": REF, "id": REF, "output": ANY, "status": ANY}


def event_spec(event_type: str) -> dict:
    return EVENT_SPECS.get(event_type, EVENT_COMMON)


def progress(event_type: str) -> tuple[str, str] | None:
    """(item type, status) of a `response.<type>_call.<state>` event, else None."""
    m = PROGRESS.fullmatch(event_type)
    return (m[1], m[2]) if m else None


# ---- the checker ----------------------------------------------------------------------

def why(record: dict, spec: dict, prefix: str = "") -> str | None:
    """The reason `record` breaks `spec` (level by level), or None."""
    return rulebook.check(record, spec, prefix, level_by_level=True)


def request_error(body: dict) -> str | None:
    """Why a `POST /v1/responses` body is rejected (R8), or None."""
    items = body.get("input")
    if items is not None and type(items) is not str and type(items) is not list:
        return wrong_type("input", "string or array", items)
    for i, item in enumerate(items if type(items) is list else ()):
        if type(item) is not dict:
            return wrong_type(f"input[{i}]", "object", item)
        if is_output_item(item):
            reason = why(item, OUTPUT_ITEM, f"input[{i}].")
            if reason:
                return reason
    return None


# ---- shapes ---------------------------------------------------------------------------

OBJECTS = ("response", "conversation")


def is_stream_event(value: Any) -> bool:
    """A Responses stream event: no `object` (nor `event`: that is an envelope), a `type`
    starting `response.` or equal to `error`."""
    if type(value) is not dict or "object" in value or "event" in value:
        return False
    t = value.get("type")
    return type(t) is str and (t.startswith("response.") or t == "error")


def is_responses_record(value: Any) -> bool:
    """Whether a JSON object (not a list page) is read by the Responses contract (R1-R4)."""
    if type(value) is not dict:
        return False
    if value.get("object") in OBJECTS:
        return True
    if "object" in value or "event" in value:
        return False
    return type(value.get("type")) is str or "input" in value


def claimed(value: Any) -> dict | None:
    """The Responses record a JSON value is read as (the data of an envelope around a
    Responses event or object), or None when the Assistants contract reads it."""
    if type(value) is dict and "event" in value and "object" not in value:
        data = value.get("data")
        if is_stream_event(data) or (type(data) is dict and data.get("object") in OBJECTS):
            return data
        return None
    return value if is_responses_record(value) else None


def is_output_item(item: Any) -> bool:
    """A tool output item: its `type` ends `_output` (function_call_output, ...)."""
    if type(item) is not dict:
        return False
    t = item.get("type")
    return type(t) is str and t.endswith("_output")


def output_key(item: dict) -> str | None:
    """The call an output item answers: its `call_id` (`local_shell_call_output`: its
    `id`, which is the call's id)."""
    key = item.get("call_id")
    if key is None and item.get("type") == "local_shell_call_output":
        key = item.get("id")
    return key if type(key) is str else None


def conversation_id(conv: Any) -> str | None:
    if type(conv) is str:
        return conv
    if type(conv) is dict:
        return conv.get("id")
    return None


def tool_type(item_type: str) -> str:
    """`function_call` -> `function`, `custom_tool_call` -> `custom` (R17)."""
    return item_type.removesuffix("_call").removesuffix("_tool")
