"""The rulebook of both APIs: how a record that breaks a rule is worded in `rejects`.

Every type, range and id reject reason of the Assistants and the Responses decoders is
made here, in one of three forms (docs/inputs-and-faults.md, "Reject reasons"):

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

JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean",
             dict: "object", list: "array", type(None): "null"}

# The bounds of the range kinds, as a reason states them.
TOKEN_BOUNDS = "0..2^53"
INT_BOUNDS = "-2^63..2^63-1"
TS_BOUNDS = "0..253402300799"


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
