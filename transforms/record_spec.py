"""What a step, run or delta must look like to be kept: the known fields and their types.

One declarative description, used two ways: `check()` walks a record and names the
first field of the wrong type (the reason a line lands in `rejects`), and the parser's
fast path relies on it being the *only* place such rules live (docs/ingest.md, "Input": known
fields). A nested dict is "an object or null with these fields", a one-item list is "an
array or null of such objects"; fields not listed are ignored.
"""

from __future__ import annotations

MAX_TS = 253402300799  # 9999-12-31T23:59:59Z: beyond it a timestamp cannot be stored
I64 = 1 << 63


class Kind(str):
    """A leaf type in the spec."""


ID = Kind("id")  # a string, required
STR = Kind("string")
INT = Kind("integer")
TS = Kind("timestamp")
OBJ = Kind("object")
ARRAY = Kind("array")
NUM = Kind("number")
ANY = Kind("any")  # read, never checked: a wrong type is NULL in its column, never a reject

JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean",
             dict: "object", list: "array", type(None): "null"}


def type_name(v: object) -> str:
    return JSON_TYPE.get(type(v), type(v).__name__)


TIMESTAMP_FIELDS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
                    "expired_at", "expires_at")
TIMESTAMPS = dict.fromkeys(TIMESTAMP_FIELDS, TS)

USAGE = {
    "prompt_tokens": INT,
    "completion_tokens": INT,
    "total_tokens": INT,
    "prompt_token_details": {"cached_tokens": INT},  # how the API spells it
    "prompt_tokens_details": {"cached_tokens": INT},
    "completion_tokens_details": {"reasoning_tokens": INT},
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
    "run_id": STR,
    "thread_id": STR,
    "assistant_id": STR,
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
    "thread_id": STR,
    "assistant_id": STR,
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


def _leaf(v: object, kind: Kind) -> str | None:
    """Why `v` (not None) is not of `kind`, or None."""
    t = type(v)
    if kind is STR or kind is ID:
        return None if t is str else f"expected string, got {type_name(v)}"
    if kind is INT:
        if t is not int:
            return f"expected integer, got {type_name(v)}"
        return None if -I64 <= v < I64 else "integer out of range"
    if kind is TS:
        if t is not int:
            return f"expected integer Unix seconds, got {type_name(v)}"
        return None if 0 <= v <= MAX_TS else f"timestamp out of range ({v})"
    if kind is NUM:
        return None if t is int or t is float else f"expected number, got {type_name(v)}"
    if kind is OBJ:
        return None if t is dict else f"expected object, got {type_name(v)}"
    if kind is ARRAY:
        return None if t is list else f"expected array, got {type_name(v)}"
    if kind is ANY:
        return None
    raise AssertionError(kind)


def check(record: dict, spec: dict, path: str = "") -> str | None:
    """The first field of `record` that breaks `spec`, as `path: reason`; None if none."""
    for key, sub in spec.items():
        v = record.get(key)
        where = f"{path}{key}"
        if v is None:
            if sub is ID:
                return f"{where}: expected string, got null"
            continue
        if type(sub) is dict:
            if type(v) is not dict:
                return f"{where}: expected object, got {type_name(v)}"
            reason = check(v, sub, where + ".")
        elif type(sub) is list:
            if type(v) is not list:
                return f"{where}: expected array, got {type_name(v)}"
            reason = None
            for i, item in enumerate(v):
                if type(item) is not dict:
                    return f"{where}[{i}]: expected object, got {type_name(item)}"
                reason = check(item, sub[0], f"{where}[{i}].")
                if reason:
                    break
        else:
            reason = _leaf(v, sub)
            if reason:
                reason = f"{where}: {reason}"
        if reason:
            return reason
    return None
