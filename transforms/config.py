"""An assistant's configuration as a run records it: the seven `runs` configuration columns.

docs/views.md, "Assistant versions": `model` (read with the run), `instructions_hash`, `tools`,
`temperature`, `top_p`, `response_format`, `reasoning_effort`. Both decoders of both APIs
(the msgspec fast paths and the careful paths) call these functions on the JSON values of
a record, so the derivation is written once. Why these rules:

- configuration values are *read*, never checked: a wrong-typed one is NULL, it never
  rejects the run (a run is worth keeping for its status and usage whatever its setup);
- absent or null sampling fields are the API defaults (1.0, `auto`/`text`): runs recorded
  before June 2024 carry none, yet ran at the defaults, and reading NULL would show a
  change on every assistant the day the API started to report them;
- instructions are stored as a hash (they can be long and private), tools by key and a
  response format by schema name (a changed JSON schema under one name is not a change).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

_SORT = orjson.OPT_SORT_KEYS
_NAMED_TOOLS = {"function": "name", "custom": "name", "mcp": "server_label"}
# Column order of the six derived columns (after `model`) in the record frames.
COLUMNS = ("instructions_hash", "tools", "temperature", "top_p", "response_format",
           "reasoning_effort")
# The seven configuration fields, in the order `assistant_versions.changed` lists them.
FIELDS = ("model", *COLUMNS)


def instructions_hash(value: Any) -> str | None:
    """First 16 hex digits of SHA-256 of the instructions' UTF-8 text; of the canonical
    JSON (sorted keys, compact) for a list of input items (a stored prompt)."""
    if type(value) is str:
        data = value.encode("utf-8", "surrogatepass")
    elif type(value) is list:
        data = orjson.dumps(value, option=_SORT)
    else:
        return None
    return hashlib.sha256(data).hexdigest()[:16]


def _tool_key(tool: Any) -> str | None:
    if type(tool) is not dict:
        return None
    kind = tool.get("type")
    if type(kind) is not str:
        return None
    label = _NAMED_TOOLS.get(kind)
    if label is None:
        return kind
    name = None
    if kind == "function":
        fn = tool.get("function")
        if type(fn) is dict:
            name = fn.get("name")
        if type(name) is not str:
            name = tool.get("name")  # the Responses shape: the name at the top level
    else:
        name = tool.get(label)
    return f"{kind}:{name}" if type(name) is str else kind


def tool_set(value: Any) -> list[str] | None:
    """Sorted distinct tool keys (`function:<name>`, `custom:<name>`, `mcp:<label>`, else
    the bare type); NULL when `tools` is not a list."""
    if type(value) is not list:
        return None
    return sorted({k for k in map(_tool_key, value) if k is not None})


def sampling(value: Any) -> float | None:
    """`temperature`/`top_p` as DOUBLE: absent/null is the default 1.0, non-numbers NULL."""
    if value is None:
        return 1.0
    if (type(value) is int or type(value) is float) and math.isfinite(value):
        return float(value)
    return None


def format_name(fmt: Any, schema_name: Any, default: str) -> str | None:
    """A response format: a string as sent, an object's `type` (`json_schema:<name>` for a
    named schema), `default` for absent/null, NULL for anything else."""
    if fmt is None:
        return default
    if type(fmt) is str:
        return fmt
    if type(fmt) is dict:
        kind = fmt.get("type")
        if type(kind) is str:
            if kind == "json_schema" and type(schema_name) is str:
                return f"json_schema:{schema_name}"
            return kind
    return None


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def assistants_response_format(fmt: Any) -> str | None:
    """An Assistants run's `response_format` (default `auto`)."""
    schema = fmt.get("json_schema") if type(fmt) is dict else None
    return format_name(fmt, schema.get("name") if type(schema) is dict else None, "auto")


def assistants(get: Any) -> tuple:
    """The six derived columns of an Assistants run; `get(key)` gives a field's JSON value
    (None when absent)."""
    return (instructions_hash(get("instructions")), tool_set(get("tools")),
            sampling(get("temperature")), sampling(get("top_p")),
            assistants_response_format(get("response_format")), _str(get("reasoning_effort")))


def responses(r: dict) -> tuple:
    """The six derived columns of a Responses response (a parsed JSON object):
    `response_format` from `text.format` (default `text`), `reasoning_effort` from
    `reasoning.effort`."""
    text = r.get("text")
    if text is None:
        response_format: str | None = "text"
    elif type(text) is dict:
        fmt = text.get("format")
        response_format = format_name(fmt, fmt.get("name") if type(fmt) is dict else None,
                                      "text")
    else:
        response_format = None
    reasoning = r.get("reasoning")
    return (instructions_hash(r.get("instructions")), tool_set(r.get("tools")),
            sampling(r.get("temperature")), sampling(r.get("top_p")), response_format,
            _str(reasoning.get("effort")) if type(reasoning) is dict else None)
