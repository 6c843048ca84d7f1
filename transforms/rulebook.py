"""The rulebook of both APIs: field kinds, the careful checker, the msgspec structs, the
wording of every reject.

Each API declares its records once, as specs (Assistants in `assistants/spec.py`, Responses
in `responses/spec.py`): a dict of known fields, each a `Kind` (a leaf), a nested dict
("an object or null with these fields"), a one-item list ("an array or null of such
objects") or `Required` ("an object that must be there"); fields not listed are ignored.
This module reads those specs two ways, so that the two paths of a decoder cannot
disagree:

- `check()`, the careful checker, walks a parsed record and names the first field that
  breaks the spec (the reason a line lands in `rejects`);
- `struct()` generates the msgspec struct the fast path decodes into: a field's struct
  type is, by construction, what `check()` accepts (`STRUCT_LEAVES`), so what msgspec
  decodes is valid, and anything else is declined to the careful path.

Every type, range and id reject reason of the Assistants and the Responses decoders is
worded here, in one of three forms (docs/inputs-and-faults.md, "Reject reasons"):

- `<path>: expected <type>, got <JSON type>`: a wrong type, or null where a value is
  required (`id: expected string, got null`); without a path when the whole value is
  meant (a line that is not an object: `expected object, got array`);
- `<path>: <what> out of range (<value>; must be <bounds>)`: a value of the right type
  that the API cannot produce (a negative token count, a timestamp past 9999);
- `<path>: invalid id (<problem>)`: an empty id, or one holding a control character.

`<path>` is the field's place in the record (`usage.prompt_tokens`,
`output[0].call_id`); inside a list page `data[i]: ` stands before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

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


# ---- field kinds ----------------------------------------------------------------------

class Kind(str):
    """A leaf type in a spec."""


ID = Kind("id")  # a string, required: non-empty, no control character (`id_problem`)
REF = Kind("reference")  # the id of another record (a run, a thread...): an ID or null
STR = Kind("string")
INT = Kind("integer")  # a 64-bit signed integer
TOKENS = Kind("token count")  # an integer in 0..MAX_TOKENS
TS = Kind("timestamp")  # integer Unix seconds in 0..MAX_TS (Assistants)
TS_NUM = Kind("number timestamp")  # Unix seconds, int or float (the Responses SDK writes
# 1741476542.0), in 0..MAX_TS
OBJ = Kind("object")  # any object, kept as its JSON text (metadata)
ARRAY = Kind("array")
NUM = Kind("number")
CONV = Kind("conversation")  # an object with a string `id`, or the id itself as a string
ANY = Kind("any")  # read, never checked: a wrong type is NULL in its column, never a reject


@dataclass(frozen=True)
class Required:
    """An object that must be there (a lifecycle event's `response`, an item event's
    `item`): missing or null is a wrong type too."""

    spec: dict


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


# ---- wording --------------------------------------------------------------------------

JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean",
             dict: "object", list: "array", type(None): "null"}

# The bounds of the range kinds, as a reason states them.
TOKEN_BOUNDS = "0..2^53"
INT_BOUNDS = "-2^63..2^63-1"
TS_BOUNDS = f"0..{MAX_TS}"


def type_name(v: object) -> str:
    """The JSON type of a parsed value, as a reason names it."""
    return JSON_TYPE.get(type(v), type(v).__name__)


def wrong_type(path: str, expected: str, value: object) -> str:
    """`<path>: expected <expected>, got <JSON type of value>` (no path: the whole value)."""
    reason = f"expected {expected}, got {type_name(value)}"
    return f"{path}: {reason}" if path else reason


def out_of_range(path: str, what: str, value: object, bounds: str) -> str:
    """`<path>: <what> out of range (<value>; must be <bounds>)`."""
    return f"{path}: {what} out of range ({value}; must be {bounds})"


def invalid_id(path: str, problem: str) -> str:
    """`<path>: invalid id (<problem>)`, `problem` from `id_problem`."""
    return f"{path}: invalid id ({problem})"


# ---- the careful checker --------------------------------------------------------------

_CONV_SPEC = {"id": STR}


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
    if kind is TS_NUM:
        if t is not int and t is not float:
            return wrong_type(where, "number Unix seconds", v)
        return None if 0 <= v <= MAX_TS else out_of_range(where, "timestamp", v, TS_BOUNDS)
    if kind is NUM:
        return None if t is int or t is float else wrong_type(where, "number", v)
    if kind is OBJ:
        return None if t is dict else wrong_type(where, "object", v)
    if kind is ARRAY:
        return None if t is list else wrong_type(where, "array", v)
    if kind is CONV:
        return None if t is str or t is dict else wrong_type(where, "string or object", v)
    if kind is ANY:
        return None
    raise AssertionError(kind)


def check(record: dict, spec: dict, path: str = "", level_by_level: bool = False
          ) -> str | None:
    """The first field of `record` that breaks `spec`, as a reason; None if none.

    `path` goes before every field's name (`response.` inside a lifecycle event). Of two
    problems, the first in spec order is named, depth first (Assistants, docs/ingest.md);
    `level_by_level` (Responses, docs/responses.md) judges every key of an object before
    the objects and lists below it, so the shallower problem is named.
    """
    below: list[tuple[object, object, str]] = []
    for key, sub in spec.items():
        v = record.get(key)
        where = f"{path}{key}"
        if v is None:
            if sub is ID:
                return wrong_type(where, "string", v)
            if type(sub) is Required:
                return wrong_type(where, "object", v)
            continue
        if type(sub) is dict or type(sub) is Required:
            if type(v) is not dict:
                return wrong_type(where, "object", v)
            inner: object = sub if type(sub) is dict else sub.spec
        elif type(sub) is list:
            if type(v) is not list:
                return wrong_type(where, "array", v)
            inner = sub
        else:
            reason = _leaf(v, sub, where)
            if reason:
                return reason
            if sub is not CONV or type(v) is not dict:
                continue
            inner = _CONV_SPEC
        if level_by_level:
            below.append((v, inner, where))
            continue
        reason = _inside(v, inner, where, level_by_level)
        if reason:
            return reason
    for v, inner, where in below:
        reason = _inside(v, inner, where, level_by_level)
        if reason:
            return reason
    return None


def _inside(v: Any, inner: Any, where: str, level_by_level: bool) -> str | None:
    """The first problem inside an object (`inner` its spec) or a list of objects
    (`inner` a one-item list) at `where`."""
    if type(inner) is not list:
        return check(v, inner, where + ".", level_by_level)
    for i, item in enumerate(v):
        at = f"{where}[{i}]"
        if type(item) is not dict:
            return wrong_type(at, "object", item)
        reason = check(item, inner[0], at + ".", level_by_level)
        if reason:
            return reason
    return None


# ---- the fast path's structs ----------------------------------------------------------

UNSET = msgspec.UNSET
NULL = msgspec.Raw(b"null")
RawOrUnset = msgspec.Raw | msgspec.UnsetType

# The msgspec type of each leaf kind: what msgspec decodes is what `check` accepts. An
# ID's null is checked after decoding (it goes careful); an empty or control-character
# one fails the pattern and goes careful, which names it. OBJ and ANY leaves are kept as
# raw JSON text (`struct_fields`), CONV and the objects by their own structs.
STRUCT_LEAVES: dict[Kind, Any] = {
    ID: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None,
    REF: Annotated[str, msgspec.Meta(pattern=ID_PATTERN)] | None,
    STR: str | None,
    INT: Annotated[int, msgspec.Meta(ge=-I64, le=I64 - 1)] | None,
    TOKENS: Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)] | None,
    TS: Annotated[int, msgspec.Meta(ge=0, le=MAX_TS)] | None,
    TS_NUM: (Annotated[int, msgspec.Meta(ge=0, le=MAX_TS)]
             | Annotated[float, msgspec.Meta(ge=0, le=MAX_TS)] | None),
    NUM: int | float | None,
    ARRAY: list | None,
}

# Every struct `struct` generated, by name (a nested one is named `<parent>_<key>`): the
# fast paths take empty instances of nested structs from here, to stand in for an
# absent object.
STRUCTS: dict[str, type] = {}


def struct_fields(name: str, spec: dict) -> list[tuple[str, Any, Any]]:
    """msgspec fields accepting exactly what `check(·, spec)` accepts.

    `OBJ` leaves (metadata) are kept as raw JSON text, read with orjson so that their
    canonical text is orjson's own; `ANY` leaves (a run's configuration, an item's
    arguments) are raw JSON too: any value decodes, so they can never decline a line.
    A `Required` object is raw (its text is needed) and UNSET when absent.
    """
    fields: list[tuple[str, Any, Any]] = []
    for key, sub in spec.items():
        if type(sub) is dict:
            fields.append((key, struct(f"{name}_{key}", sub) | None, None))
        elif type(sub) is list:
            fields.append((key, list[struct(f"{name}_{key}", sub[0])] | None, None))
        elif type(sub) is Required:
            fields.append((key, RawOrUnset, UNSET))
        elif sub is OBJ or sub is ANY:
            fields.append((key, msgspec.Raw, NULL))
        elif sub is CONV:
            fields.append((key, str | struct(f"{name}_{key}", _CONV_SPEC) | None, None))
        else:
            fields.append((key, STRUCT_LEAVES[sub], None))
    return fields


def struct(name: str, spec: dict, extra: tuple = ()) -> type:
    """A struct accepting exactly what `check(·, spec)` accepts (plus the `extra` fields)."""
    out = msgspec.defstruct(name, struct_fields(name, spec) + list(extra), gc=False)
    STRUCTS[name] = out
    return out
