"""What a step, run or delta must look like to be kept: the known fields and their types.

One declarative description, used two ways: `check()` walks a record and names the
first field of the wrong type (the reason a line lands in `rejects`), and the parser's
fast path relies on it being the *only* place such rules live (docs/ingest.md, "Input": known
fields). A nested dict is "an object or null with these fields", a one-item list is "an
array or null of such objects"; fields not listed are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from steplens.transforms.rulebook import (
    INT_BOUNDS,
    TOKEN_BOUNDS,
    TS_BOUNDS,
    invalid_id,
    out_of_range,
    wrong_type,
)

MAX_TS = 253402300799  # 9999-12-31T23:59:59Z: beyond it a timestamp cannot be stored
I64 = 1 << 63
# A token count the API can produce: 0..2^53 (docs/inputs-and-faults.md, "Values in
# range"). Negative counts are impossible, and past 2^53 a count is not even exact as a
# JSON number in most clients; such a line is rejected naming the field, so that no
# single line can overflow a sum in a report (a kept count fits 2^53, and 2^10 of them
# per row still fit in an Int64).
MAX_TOKENS = 1 << 53
# What an id may not hold: C0 controls (NUL included), DEL and C1 controls. An id is a
# key that joins tables, is printed in reports and written to OTLP: an empty or
# control-character id is an exporter's fault, never a real API id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ID_PATTERN = r"\A[^\x00-\x1f\x7f-\x9f]+\Z"  # the same rule for msgspec (re.search;
# `\Z`, not `$`, which also matches before a final newline)


def id_problem(v: str) -> str | None:
    """Why the string `v` cannot be an id (empty, or holding a control character)."""
    if not v:
        return "empty string"
    m = _CONTROL.search(v)
    return None if m is None else f"control character U+{ord(m[0]):04X}"


class Kind(str):
    """A leaf type in the spec."""


ID = Kind("id")  # a string, required: non-empty, no control character (`id_problem`)
REF = Kind("reference")  # the id of another record (a run, a thread...): an ID or null
STR = Kind("string")
INT = Kind("integer")
TOKENS = Kind("token count")  # an integer in 0..MAX_TOKENS
TS = Kind("timestamp")
OBJ = Kind("object")
ARRAY = Kind("array")
NUM = Kind("number")
ANY = Kind("any")  # read, never checked: a wrong type is NULL in its column, never a reject

# The msgspec type of each leaf kind, from which both fast paths generate their structs
# (transforms/decode.py, transforms/responses/fast.py): what msgspec decodes is what the
# careful checkers accept. An ID's null is checked after decoding (it goes careful); an
# empty or control-character one fails the pattern and goes careful, which names it.
STRUCT_LEAVES: dict[Kind, Any] = {
    ID: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None,
    REF: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None,
    STR: str | None,
    INT: Annotated[int, msgspec.Meta(ge=-I64, le=I64 - 1)] | None,
    TOKENS: Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)] | None,
    TS: Annotated[int, msgspec.Meta(ge=0, le=MAX_TS)] | None,
    NUM: int | float | None,
    ARRAY: list | None,
}


def union(*specs: dict) -> dict:
    """One spec holding the fields of every shape (a fast path decodes every shape into
    one struct): the same key never means two things."""
    out: dict = {}
    for spec in specs:
        for key, sub in spec.items():
            if out.get(key, sub) != sub:
                raise AssertionError(f"{key} is checked two ways")
            out[key] = sub
    return out


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


def _leaf(v: object, kind: Kind, where: str) -> str | None:
    """Why `v` (not None) at `where` is not of `kind`, or None."""
    t = type(v)
    if kind is STR:
        return None if t is str else wrong_type(where, "string", v)
    if kind is ID or kind is REF:
        if t is not str:
            return wrong_type(where, "string", v)
        problem = id_problem(v)
        return None if problem is None else invalid_id(where, problem)
    if kind is TOKENS:
        if t is not int:
            return wrong_type(where, "integer", v)
        return (None if 0 <= v <= MAX_TOKENS
                else out_of_range(where, "token count", v, TOKEN_BOUNDS))
    if kind is INT:
        if t is not int:
            return wrong_type(where, "integer", v)
        return None if -I64 <= v < I64 else out_of_range(where, "integer", v, INT_BOUNDS)
    if kind is TS:
        if t is not int:
            return wrong_type(where, "integer Unix seconds", v)
        return None if 0 <= v <= MAX_TS else out_of_range(where, "timestamp", v, TS_BOUNDS)
    if kind is NUM:
        return None if t is int or t is float else wrong_type(where, "number", v)
    if kind is OBJ:
        return None if t is dict else wrong_type(where, "object", v)
    if kind is ARRAY:
        return None if t is list else wrong_type(where, "array", v)
    if kind is ANY:
        return None
    raise AssertionError(kind)


def first_in_objects(items: list, spec: dict, where: str,
                     check: Callable[[dict, dict, str], str | None],
                     not_object: Callable[[str, Any], str]) -> str | None:
    """The first problem of a list that must hold objects of `spec` (both careful
    checkers' rule): `not_object(path, element)` at the first
    element that is not an object, else the first reason `check(element, spec, path + ".")`
    gives, `path` being `where[i]`; None when every element passes."""
    for i, item in enumerate(items):
        if type(item) is not dict:
            return not_object(f"{where}[{i}]", item)
        reason = check(item, spec, f"{where}[{i}].")
        if reason:
            return reason
    return None


def not_an_object(path: str, v: object) -> str:
    return wrong_type(path, "object", v)


def check(record: dict, spec: dict, path: str = "") -> str | None:
    """The first field of `record` that breaks `spec`, as `path: reason`; None if none."""
    for key, sub in spec.items():
        v = record.get(key)
        where = f"{path}{key}"
        if v is None:
            if sub is ID:
                return wrong_type(where, "string", None)
            continue
        if type(sub) is dict:
            if type(v) is not dict:
                return wrong_type(where, "object", v)
            reason = check(v, sub, where + ".")
        elif type(sub) is list:
            if type(v) is not list:
                return wrong_type(where, "array", v)
            reason = first_in_objects(v, sub[0], where, check, not_an_object)
        else:
            reason = _leaf(v, sub, where)
        if reason:
            return reason
    return None
