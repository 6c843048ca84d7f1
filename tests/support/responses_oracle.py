"""An independent, plain-Python reading of the Responses/Conversations side (issue 12).

`compute(paths)` reads a folder that may hold both APIs' exports and returns the expected
Responses-side tables (`runs`, `steps`, `tool_calls`, `usage`, `rejects`, every row with
`api = "responses"`), its accounting, and the Assistants side as computed by
`tests.support.oracle` (`Result.assistants`), so that `Result.total_counts` is the
accounting of the whole ingest. Standard library and orjson only; it imports nothing from
`steplens`: it is a second computation to check the product against. File reading (names,
gzip, BOM, `.json` documents, raw SSE blocks, blank/invalid lines) is the Assistants
oracle's, which is the docs/ingest.md, "Input" contract; what follows is the Responses contract.
Value types are those of `tests.support.oracle` (naive UTC datetimes, `date`, float
seconds, metadata as sorted JSON text, None for NULL).

Shapes (a record is a line, one item of a non-empty list page, or one SSE block)
 R1. `"object": "response"`: a response record (a `POST/GET /v1/responses` body, a cancel
     body, a poll). `"object": "conversation"`: skipped under `conversation` (no table
     holds conversations; a response's own `conversation` gives its thread).
 R2. A stream event: an object without `object` (nor `event`: an object with `event`
     and no `object` is an envelope, contract 5) whose `type` is a string starting
     `response.` or equal to `error`, as a JSON line, as an SSE block's data (the data's
     `type` is the truth, not the `event:` name), or as the `data` of an `{"event", "data"}`
     envelope (an envelope whose data is a `response` or `conversation` object is read as
     that object; any other envelope, e.g. the Assistants `error` event whose data has a
     `type` such as `server_error`, stays an Assistants envelope). Lifecycle events
     (`response.created|queued|in_progress|completed|failed|incomplete`) carry a `response`
     object; every other event is an item event.
 R3. An item: an object without `object`/`event` whose `type` is another string (the items
     of conversation item pages and of response input-item pages, or a bare item). A tool
     output item (type ending `_output`: `function_call_output`, `custom_tool_call_output`,
     `computer_call_output`, `shell_call_output`, `apply_patch_call_output`, ...) keyed by
     its `call_id` (`local_shell_call_output`: by its `id`, which is the call's id) is an
     output record; any other item, or an output item without a key, is skipped under
     `item:<type>` (a conversation's messages and calls are the responses' own items).
 R4. A request body of `POST /v1/responses`: an object without `object`, `event` and
     `type` that has an `input` key. Its `input` items of the tool-output kind (R3) are
     output copies; a request without any is skipped under `request`.
 R5. Anything else goes to the Assistants contract unchanged (`thread.run*` records,
     skips under the `object` value or `unknown`, `response.deleted` and
     `conversation.deleted` skipped under those names, invalid JSON / non-objects
     rejected).

Rejects (reason wording as in the Assistants contract: `<path>: expected <string|integer|
object|array|number|number Unix seconds|string or object>, got <JSON type>` (a missing
`id`: `id: expected string, got null`), `<path>: <token count|integer|timestamp> out of
range (<value>; must be <bounds>)`, `<path>: invalid id (<problem>)`, prefixed `data[i]: `
inside a list page; bool is never a number)
 R6. Response (bare, or the `response` of a lifecycle event, prefix `response.`): `id` a
     string; `created_at`, `completed_at` a number of Unix seconds in 0..253402300799 or
     null (the SDK types them as float and re-serialises `1741476542.0`; fractions are
     kept to the nearest microsecond); `status`, `model`, `previous_response_id` strings
     or null; `error`, `incomplete_details`, `metadata`, `prompt`, `usage` objects or null;
     `error.code|message`, `incomplete_details.reason`, `prompt.id` strings or null;
     `conversation` an object with `id` string or null, or the id as a string, or null;
     `usage.input_tokens|output_tokens|total_tokens` and `usage.input_tokens_details.
     cached_tokens`, `usage.output_tokens_details.reasoning_tokens` integers or null (the
     details objects or null); `output` a list or null whose items are objects with `id`,
     `type`, `status`, `call_id`, `name`, `code` strings or null, `outputs` (code
     interpreter) and `results` (file search) lists or null of objects, `outputs[j].type|
     logs` strings or null, `results[j].score` a number or null. Nothing else is checked
     (`error` and `output` of an item are any JSON; extra keys are ignored). Of several
     problems the first is named, level by level: every key of an object first (in the
     order above), then the objects and lists below it in that same order (so `usage`'s
     fields before `conversation.id`, as the product's checker walks its spec).
 R7. Stream events: `sequence_number`, `output_index` integers or null; `item_id` a string
     or null; lifecycle events: `response` an object, checked as R6; `response.output_item.
     added|done`: `item` an object, checked as an output item (prefix `item.`); the
     `delta` of an argument/input/code delta and the `arguments|input|code` of its `.done`
     strings or null; `error` events: `code`, `message` strings or null.
 R8. Request bodies: `input` a string, a list or null; list items objects; a tool output
     item's `call_id` a string or null. Output items (R3): `call_id`, `id` strings or null.

Streams
 R9. A file holds whole streams one after another, as SSE connections deliver them. An
     item event belongs to the response of the latest preceding lifecycle event of the
     same file (rejected lifecycle events reset that to none); one with none before it is
     skipped under its `type` (so is an `error` event that opens a stream). Lines of
     several streams interleaved in one file cannot be attributed and are not supported.
R10. The same event saved twice (a `.jsonl` and its `.sse` twin, a resumed stream `GET
     ?stream=true&starting_after=N` overlapping the original) is one event: per response
     id, events with the same key are duplicates, the key being `sequence_number` (or,
     for events without one, as recorded up to May 2025, the event's position among that
     response's events in its file); the first by (source_file, line_no, position in a
     list page) is used, the others count `superseded`.
R11. Every remaining lifecycle event's `response` is a response record like a bare one
     (R12). When the winning record is terminal, its `output` is the response's items and
     the item events count `superseded`; otherwise the item events count `kept` and are
     applied in key order on top of the winner's own `output`: `output_item.added|done`
     put the event's item at its `output_index` (replacing an earlier state of the same
     item id); `function_call_arguments.delta`, `mcp_call_arguments.delta` append `delta`
     to the item's `arguments`, `custom_tool_call_input.delta` to `input`,
     `code_interpreter_call_code.delta` to `code` (null + delta = delta); their `.done`
     set the full value; `response.<type>_call.<state>` (`in_progress`, `searching`,
     `interpreting`, `generating`, `completed`, `failed`, `incomplete`) set the status of
     the item of that type; events for an item id never announced change nothing; the
     latest `error` event gives `last_error_code|message` when the winner has no `error`.
     So a stream cut before its terminal event leaves the response `in_progress` (or
     `queued`) with the items seen so far, and a stream plus the same response's object
     export give one response.

De-duplication and accounting
R12. One response per id, chosen exactly like runs: (1) rank: `completed`, `incomplete`,
     `failed`, `cancelled` = 4, `in_progress` = 1, `queued` = 0, anything else -1; (2) the
     latest of `created_at`, `completed_at`; (3) `usage` an object; (4) the larger
     canonical size (`orjson.dumps(record, OPT_SORT_KEYS)` of the response object itself,
     not of the event); (5) the larger crc32 of those bytes. The winner counts `kept`, the
     others `superseded`; the result never depends on file or line order.
R13. Tool outputs: every output copy (R3 records and R4 request items) competes per key,
     by its `output` value's canonical bytes: the larger size, then the larger crc32, then
     the larger bytes; of equal copies the first by (source_file, line_no, position, index
     in the request's input) answers the call (its `status` decides `call_failed`). An
     output record or request is `kept` when it holds a copy equal to the winner of its
     key (so identical copies in several records all count `kept`, and the counts never
     depend on file or line order), else `superseded`.
R14. records_read = kept + superseded + rejected + skipped, per side and in total.

Tables (every row `api = "responses"`; the Assistants columns, in the same meaning,
plus `previous_response_id` on runs and `call_failed` on tool_calls)
R15. runs: one row per response id. `run_id` = id; `thread_id` = the response's
     `conversation` id, else the thread of its `previous_response_id` when that response
     is in the data (recursively), else that `previous_response_id` itself, else its own
     id (so a chain of responses shares the id of its first known response; a cycle takes
     its smallest id); `assistant_id` = `prompt.id`; `model`, `status`, `created_at`,
     `completed_at` as sent; `started_at`, `failed_at`, `cancelled_at`, `expires_at`,
     `queue_s` NULL (the API has none); `ended_at` = `completed_at` for a terminal status,
     else NULL; `duration_s` = `ended_at - created_at`; `last_error_code|message` from
     `error`; `incomplete_reason` = `incomplete_details.reason`; `prompt_tokens` =
     `usage.input_tokens`, `completion_tokens` = `output_tokens`, `total_tokens`,
     `cached_tokens` = `input_tokens_details.cached_tokens`, `reasoning_tokens` =
     `output_tokens_details.reasoning_tokens`; `metadata`; `day`; `previous_response_id`.
R16. steps: one row per output item of each response (keyed by run_id and step_id; item
     ids are unique in real data). `step_id` = item `id` (when null: `<run_id>:<index>`);
     `run_id`, `thread_id`, `assistant_id`, `model` from the response; `type`, `status`
     (NULL where the item has none: reasoning, mcp_list_tools, ...) as sent; `created_at`
     and `day` the response's; items carry no times, so `completed_at`, `failed_at`,
     `cancelled_at`, `expired_at`, `ended_at`, `latency_s` are NULL; `last_error_code|
     message` from the item's `error` (an object's `code` as text and `message`, or a
     string as the message); `message_id` = the item id for `message` items;
     `phase` = the item's `phase` as sent (a string, else the record is rejected, as for
     `status`; NULL where absent or null, and on every Assistants step);
     `tool_call_count` 1 for tool-call items, else 0; token columns and `metadata` NULL.
R17. tool_calls: one row per step whose type ends `_call`. `tool_call_id` = `call_id`,
     else the item id; `call_index` = the item's index in the response's output; `type`
     = the item type without `_call` and then without `_tool` (`function`, `file_search`,
     `web_search`, `code_interpreter`, `computer`, `image_generation`, `mcp`, `custom`,
     `shell`, `local_shell`, `apply_patch`, `tool_search`, ...); `function_name` = `name`;
     `function_arguments` = `arguments` (a string as sent, other JSON as sorted JSON text),
     for `custom` its `input` (likewise); `arguments_valid_json` whether `arguments`
     parses (True for non-string JSON; NULL without arguments and for `custom`, whose
     input is free text);
     `function_output` = the item's own `output` (`mcp`), else the winning output copy of
     its `call_id` (R13: later requests' input, conversation or input-item pages), else
     a tool output item with that `call_id` in the same response's output; a string as
     sent, other JSON as sorted JSON text; `code_input` = `code`, `code_log_chars`,
     `code_image_count` from `outputs` (code_interpreter only); `file_search_result_count`
     = len(`results`) (NULL when null), `file_search_max_score` (file_search only);
     `step_status`, `step_type`, `created_at`, `day` from the step; `call_failed` = the
     item's `status` is `failed`, or its `error` is not null, or the output item that
     answers it (as found for `function_output`) has `status` `failed`.
R18. usage: one row per response whose `usage` is an object: `step_id` NULL, `run_id`,
     `assistant_id`, `model`, `type` = `response`, `day` and the run's token columns.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.support import oracle

API = "responses"
TERMINAL = ("completed", "incomplete", "failed", "cancelled")
RANK = {"completed": 4, "incomplete": 4, "failed": 4, "cancelled": 4, "in_progress": 1,
        "queued": 0}
LIFECYCLE = frozenset("response." + s for s in (
    "created", "queued", "in_progress", "completed", "failed", "incomplete"))
ITEM_EVENTS = ("response.output_item.added", "response.output_item.done")
DELTA_FIELD = {
    "response.function_call_arguments.delta": "arguments",
    "response.mcp_call_arguments.delta": "arguments",
    "response.custom_tool_call_input.delta": "input",
    "response.code_interpreter_call_code.delta": "code",
}
DONE_FIELD = {k.removesuffix("delta") + "done": v for k, v in DELTA_FIELD.items()}
PROGRESS = re.compile(
    r"response\.(\w+_call)\.(in_progress|searching|interpreting|generating|completed|failed"
    r"|incomplete)")
MAX_TIMESTAMP = oracle.MAX_TIMESTAMP

RUN_COLUMNS = (
    "api", "run_id", "thread_id", "assistant_id", "model", "status", "created_at",
    "started_at", "completed_at", "failed_at", "cancelled_at", "expires_at", "ended_at",
    "last_error_code", "last_error_message", "incomplete_reason", "prompt_tokens",
    "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "queue_s",
    "duration_s", "metadata", "day", "previous_response_id",
)
STEP_COLUMNS = oracle.STEP_COLUMNS
USAGE_COLUMNS = oracle.USAGE_COLUMNS


def _canonical(value: object) -> bytes:
    """The canonical bytes of a JSON value: orjson with sorted keys (R12)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    runs: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    usage: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # the Responses side
    skipped_by_shape: dict[str, int] = field(default_factory=dict)
    assistants: oracle.Result | None = None
    total_counts: dict[str, int] = field(default_factory=dict)  # both sides
    lines_read: int = 0


@dataclass
class _Where:
    src: str
    line_no: int
    pos: tuple

    def key(self) -> tuple:
        return (self.src, self.line_no, self.pos)


@dataclass
class _Read:
    responses: dict[str, list[tuple[dict, _Where]]] = field(
        default_factory=lambda: defaultdict(list))
    events: dict[str, list[tuple[tuple, _Where, dict]]] = field(
        default_factory=lambda: defaultdict(list))
    # (call key, output item, where the holding record is, index inside it)
    copies: list[tuple[str, dict, _Where, int]] = field(default_factory=list)
    output_records: set[tuple] = field(default_factory=set)  # where-keys of output holders
    rejects: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    records_read: int = 0


@dataclass
class _File:
    """Per-file stream state: the current response and each response's event count."""

    current: str | None = None
    positions: Counter = field(default_factory=Counter)


# --------------------------------------------------------------------------- type checks


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_timestamp(v: Any) -> bool:
    return _is_number(v) and 0 <= v <= MAX_TIMESTAMP


def _is_tokens(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= oracle.TOKEN_LIMIT


_JSON = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
         list: "array", type(None): "null"}


def _got(path: str, what: str, v: Any) -> str:
    """A wrong type: `<path>: expected <what>, got <JSON type>`."""
    return f"{path}: expected {what}, got {_JSON[type(v)]}"


def _range(path: str, what: str, v: Any, bounds: str) -> str:
    return f"{path}: {what} out of range ({v}; must be {bounds})"


def _is_integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tokens(obj, keys, prefix=""):
    """Token counts: an integer (else a wrong type) in 0..2^53 (else out of range)."""
    for k in keys:
        v = obj.get(k)
        if v is not None and not _is_tokens(v):
            if _is_integer(v):
                return _range(f"{prefix}{k}", "token count", v, "0..2^53")
            return _got(f"{prefix}{k}", "integer", v)
    return None


def _check(obj: dict, keys, ok, what: str, prefix: str) -> str | None:
    for k in keys:
        v = obj.get(k)
        if v is not None and not ok(v):
            if what == "integer" and _is_integer(v):
                return _range(f"{prefix}{k}", "integer", v, "-2^63..2^63-1")
            if what == "number Unix seconds" and _is_number(v):
                return _range(f"{prefix}{k}", "timestamp", v, f"0..{MAX_TIMESTAMP}")
            return _got(f"{prefix}{k}", what, v)
    return None


def _strs(obj, keys, prefix=""):
    return _check(obj, keys, lambda v: isinstance(v, str), "string", prefix)


def _ints(obj, keys, prefix=""):
    return _check(obj, keys, _is_int, "integer", prefix)


def _dicts(obj, keys, prefix=""):
    return _check(obj, keys, lambda v: isinstance(v, dict), "object", prefix)


def _lists(obj, keys, prefix=""):
    return _check(obj, keys, lambda v: isinstance(v, list), "array", prefix)


def _first(*errors) -> str | None:
    return next((e for e in errors if e is not None), None)


def item_error(item: Any, prefix: str) -> str | None:
    """Why an output item (of a response or an `output_item.*` event) is rejected."""
    if not isinstance(item, dict):
        return _got(prefix.rstrip("."), "object", item)
    err = _first(_strs(item, ("id", "type", "status", "call_id", "name", "code", "phase"),
                       prefix),
                 _lists(item, ("outputs", "results"), prefix))
    if err:
        return err
    for key in ("outputs", "results"):
        for j, sub in enumerate(item.get(key) or []):
            where = f"{prefix}{key}[{j}]"
            if not isinstance(sub, dict):
                return _got(where, "object", sub)
            if key == "outputs":
                err = _strs(sub, ("type", "logs"), where + ".")
            else:
                err = _check(sub, ("score",), _is_number, "number", where + ".")
            if err:
                return err
    return None


def response_error(rec: dict, prefix: str = "") -> str | None:
    """Why a response object is rejected (R6), or None."""
    if not isinstance(rec.get("id"), str):
        return _got(f"{prefix}id", "string", rec.get("id"))
    rid = rec["id"]
    if rid == "":
        return f"{prefix}id: invalid id (empty string)"
    for c in rid:
        if ord(c) < 32 or 127 <= ord(c) <= 159:
            return f"{prefix}id: invalid id (control character U+{ord(c):04X})"
    conv = rec.get("conversation")
    err = _first(
        _check(rec, ("created_at", "completed_at"), _is_timestamp,
               "number Unix seconds", prefix),
        _strs(rec, ("status", "model", "previous_response_id"), prefix),
        _dicts(rec, ("error", "incomplete_details", "metadata", "prompt", "usage"), prefix),
        None if conv is None or isinstance(conv, str | dict)
        else _got(f"{prefix}conversation", "string or object", conv),
        _lists(rec, ("output",), prefix),
    )
    if err:
        return err
    sub = {"error": ("code", "message"), "incomplete_details": ("reason",), "prompt": ("id",)}
    for key, names in sub.items():
        if isinstance(rec.get(key), dict):
            err = _strs(rec[key], names, f"{prefix}{key}.")
            if err:
                return err
    usage = rec.get("usage")
    if isinstance(usage, dict):
        p = prefix + "usage."
        err = _first(_tokens(usage, ("input_tokens", "output_tokens", "total_tokens"), p),
                     _dicts(usage, ("input_tokens_details", "output_tokens_details"), p))
        if err:
            return err
        for key, name in (("input_tokens_details", "cached_tokens"),
                          ("output_tokens_details", "reasoning_tokens")):
            if isinstance(usage.get(key), dict):
                err = _tokens(usage[key], (name,), f"{p}{key}.")
                if err:
                    return err
    if isinstance(conv, dict):
        err = _strs(conv, ("id",), f"{prefix}conversation.")
        if err:
            return err
    for i, item in enumerate(rec.get("output") or []):
        err = item_error(item, f"{prefix}output[{i}].")
        if err:
            return err
    return None


def event_error(ev: dict) -> str | None:
    """Why a stream event is rejected (R7), or None."""
    t = ev["type"]
    err = _first(_ints(ev, ("sequence_number", "output_index")), _strs(ev, ("item_id",)))
    if err:
        return err
    if t in LIFECYCLE:
        if not isinstance(ev.get("response"), dict):
            return _got("response", "object", ev.get("response"))
        return response_error(ev["response"], "response.")
    if t in ITEM_EVENTS:
        return item_error(ev.get("item"), "item.")
    if t in DELTA_FIELD:
        return _strs(ev, ("delta",))
    if t in DONE_FIELD:
        return _strs(ev, (DONE_FIELD[t],))
    if t == "error":
        return _strs(ev, ("code", "message"))
    return None


def output_key(item: dict) -> str | None:
    """The call an output item answers: its `call_id` (`local_shell_call_output`: `id`)."""
    key = item.get("call_id")
    if key is None and item.get("type") == "local_shell_call_output":
        key = item.get("id")
    return key if isinstance(key, str) else None


def is_output_item(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("type"), str)
            and item["type"].endswith("_output"))


# --------------------------------------------------------------------------- reading


def is_stream_event(value: Any) -> bool:
    return (isinstance(value, dict) and "object" not in value and "event" not in value
            and isinstance(value.get("type"), str)
            and (value["type"].startswith("response.") or value["type"] == "error"))


def is_responses_record(value: Any) -> bool:
    """Whether a JSON object (not a list page) is read by the Responses contract."""
    if not isinstance(value, dict):
        return False
    if value.get("object") in ("response", "conversation"):
        return True
    if "object" in value or "event" in value:
        return False
    return isinstance(value.get("type"), str) or "input" in value


def read_inputs(paths) -> tuple[oracle._Read, _Read]:
    """Read every file once: (Assistants-side read, Responses-side read)."""
    a, r = oracle._Read(), _Read()
    for path in oracle.input_files(paths):
        src = str(path)
        data = oracle.file_bytes(path)
        lines = oracle.file_lines(path)
        a.lines_read += len(lines)
        state = _File()
        if oracle._is_sse(path, lines):
            for line_no, event, text in oracle.sse_blocks(lines):
                if text is None:
                    oracle._record(a, src, line_no, "[DONE]", skip=event or "done")
                    continue
                text = text.strip(oracle.ASCII_SPACE)
                try:
                    value = orjson.loads(text) if text else None
                except orjson.JSONDecodeError:
                    oracle._record(a, src, line_no, text, reject="invalid JSON")
                    continue
                if event is not None:
                    value = {"event": event, "data": value}
                _read_value(a, r, state, value, _Where(src, line_no, ()), text)
            continue
        document = oracle._document(path, data, lines)
        if document is not None:
            if isinstance(document, list):
                document = {"object": "list", "data": document}
            _read_value(a, r, state, document, _Where(src, 1, ()), oracle._text(data.strip()))
            continue
        for line_no, raw in enumerate(lines, start=1):
            raw = raw.strip()
            text = oracle._text(raw)
            if not raw:
                oracle._record(a, src, line_no, text, skip="blank")
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                oracle._record(a, src, line_no, text, reject="invalid JSON")
                continue
            _read_value(a, r, state, value, _Where(src, line_no, ()), text)
    return a, r


def _read_value(a, r: _Read, state: _File, value, where: _Where, raw: str,
                prefix: str = "") -> None:
    """One JSON value read as a line: a list page, a Responses record, or the Assistants'."""
    if isinstance(value, dict) and value.get("object") == "list" and isinstance(
            value.get("data"), list) and value["data"]:
        for i, item in enumerate(value["data"]):
            _read_value(a, r, state, item, _Where(where.src, where.line_no, where.pos + (i,)),
                        orjson.dumps(item).decode(), f"{prefix}data[{i}]: ")
        return
    if isinstance(value, dict) and "event" in value and "object" not in value:
        data = value.get("data")
        if is_stream_event(data) or (isinstance(data, dict) and data.get("object") in (
                "response", "conversation")):
            value = data  # an envelope around a Responses event or object: read the data
    if is_responses_record(value):
        _read_record(r, state, value, where, raw, prefix)
    elif isinstance(value, dict) and value.get("object") != "list":
        oracle._read_record(a, value, where.src, where.line_no, where.pos, raw, prefix)
    else:  # not an object, or a list page the Assistants contract judges (bad or empty)
        oracle._read_line_value(a, value, where.src, where.line_no, where.pos, raw, prefix)


def _reject(r: _Read, where: _Where, raw: str, reason: str) -> None:
    r.records_read += 1
    r.rejects.append({"source_file": where.src, "line_no": where.line_no, "reason": reason,
                      "raw": raw[:oracle.RAW_LIMIT]})


def _skip(r: _Read, name: str) -> None:
    r.records_read += 1
    r.skipped[name] += 1


def _read_record(r: _Read, state: _File, rec: dict, where: _Where, raw: str,
                 prefix: str) -> None:
    kind = rec.get("object")
    if kind == "conversation":
        _skip(r, "conversation")
    elif kind == "response":
        err = response_error(rec)
        if err:
            _reject(r, where, raw, prefix + err)
            return
        r.records_read += 1
        r.responses[rec["id"]].append((rec, where))
    elif is_stream_event(rec):
        _read_event(r, state, rec, where, raw, prefix)
    elif isinstance(rec.get("type"), str):
        _read_item(r, rec, where, raw, prefix)
    else:
        _read_request(r, rec, where, raw, prefix)


def _read_event(r: _Read, state: _File, ev: dict, where: _Where, raw: str,
                prefix: str) -> None:
    err = event_error(ev)
    if err:
        if ev["type"] in LIFECYCLE:
            state.current = None
        _reject(r, where, raw, prefix + err)
        return
    if ev["type"] in LIFECYCLE:
        state.current = ev["response"]["id"]
    rid = state.current
    if rid is None:
        _skip(r, ev["type"])
        return
    seq = ev.get("sequence_number")
    key = (0, seq) if seq is not None else (1, state.positions[rid])
    state.positions[rid] += 1
    r.records_read += 1
    r.events[rid].append((key, where, ev))


def _read_item(r: _Read, item: dict, where: _Where, raw: str, prefix: str) -> None:
    if is_output_item(item):
        err = _strs(item, ("call_id", "id"))
        if err:
            _reject(r, where, raw, prefix + err)
            return
        key = output_key(item)
        if key is not None:
            r.records_read += 1
            r.copies.append((key, item, where, 0))
            r.output_records.add(where.key())
            return
    _skip(r, f"item:{item['type']}")


def _read_request(r: _Read, body: dict, where: _Where, raw: str, prefix: str) -> None:
    items = body.get("input")
    if items is not None and not isinstance(items, str | list):
        _reject(r, where, raw, prefix + _got("input", "string or array", items))
        return
    copies = []
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if not isinstance(item, dict):
            _reject(r, where, raw, prefix + _got(f"input[{i}]", "object", item))
            return
        if is_output_item(item):
            err = _strs(item, ("call_id", "id"), f"input[{i}].")
            if err:
                _reject(r, where, raw, prefix + err)
                return
            if output_key(item) is not None:
                copies.append((output_key(item), item, where, i))
    if not copies:
        _skip(r, "request")
        return
    r.records_read += 1
    r.copies.extend(copies)
    r.output_records.add(where.key())


# --------------------------------------------------------------------------- de-duplication


def response_rank(rec: dict) -> tuple:
    """R12: state rank, latest timestamp, usage present, canonical size, crc32."""
    stamps = [rec[k] for k in ("created_at", "completed_at") if rec.get(k) is not None]
    c = _canonical(rec)
    return (RANK.get(rec.get("status"), -1), max(stamps) if stamps else -math.inf,
            isinstance(rec.get("usage"), dict), len(c), zlib.crc32(c))


def unique_events(events: list[tuple[tuple, _Where, dict]]) -> tuple[list[dict], int]:
    """R10: a response's events in key order, one per key; and how many were duplicates."""
    first: dict[tuple, tuple[tuple, dict]] = {}
    for key, where, ev in events:
        if key not in first or where.key() < first[key][0]:
            first[key] = (where.key(), ev)
    return [first[k][1] for k in sorted(first)], len(events) - len(first)


def apply_events(output: list, events: list[dict]) -> tuple[list[dict], tuple | None]:
    """R11: the items of a non-terminal response after its item events, and the latest
    `error` event's (code, message)."""
    items: dict[Any, list] = {}  # item key -> [index, order, item]
    for i, item in enumerate(output):
        key = item["id"] if item.get("id") is not None else ("index", i)
        items[key] = [i, len(items), dict(item)]
    error = None
    for ev in events:
        t = ev["type"]
        if t in ITEM_EVENTS:
            item = dict(ev["item"])
            index = ev.get("output_index")
            key = item.get("id") if item.get("id") is not None else ("index", index)
            if index is None:
                index = items[key][0] if key in items else len(items)
            order = items[key][1] if key in items else len(items)
            items[key] = [index, order, item]
            continue
        if t == "error":
            error = (ev.get("code"), ev.get("message"))
            continue
        entry = items.get(ev.get("item_id"))
        if entry is None:
            continue
        item = entry[2]
        if t in DELTA_FIELD and ev.get("delta") is not None:
            name = DELTA_FIELD[t]
            item[name] = (item.get(name) or "") + ev["delta"]
        elif t in DONE_FIELD and ev.get(DONE_FIELD[t]) is not None:
            item[DONE_FIELD[t]] = ev[DONE_FIELD[t]]
        elif (m := PROGRESS.fullmatch(t)) and item.get("type") == m[1]:
            item["status"] = m[2]
    return [e[2] for e in sorted(items.values(), key=lambda e: (e[0], e[1]))], error


# --------------------------------------------------------------------------- rows


def ts(v: int | float | None) -> dt.datetime | None:
    if v is None:
        return None
    if isinstance(v, int):
        return oracle.ts(v)
    return oracle.EPOCH + dt.timedelta(microseconds=round(v * 1_000_000))


def seconds(end: dt.datetime | None, start: dt.datetime | None) -> float | None:
    return None if end is None or start is None else (end - start).total_seconds()


def json_text(v: Any) -> str | None:
    """A string as sent; other JSON as compact sorted JSON text; None for null."""
    if v is None or isinstance(v, str):
        return v
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()


def conversation_id(rec: dict) -> str | None:
    conv = rec.get("conversation")
    return conv if isinstance(conv, str) else (conv or {}).get("id")


def thread_ids(responses: dict[str, dict]) -> dict[str, str]:
    """R15: per response id, its conversation or the first known id of its chain."""
    out: dict[str, str] = {}
    for rid in responses:
        path, cur = [], rid
        while True:
            rec = responses.get(cur)
            if rec is None:
                thread = cur
                break
            if conversation_id(rec) is not None:
                thread = conversation_id(rec)
                break
            prev = rec.get("previous_response_id")
            if prev is None:
                thread = cur
                break
            if prev in path or prev == cur:
                cycle = path[path.index(prev):] + [cur] if prev in path else [cur]
                thread = min(cycle)
                break
            path.append(cur)
            cur = prev
        out[rid] = thread
    return out


def usage_columns(usage: dict | None) -> dict:
    u = usage or {}
    return {
        "prompt_tokens": u.get("input_tokens"),
        "completion_tokens": u.get("output_tokens"),
        "total_tokens": u.get("total_tokens"),
        "cached_tokens": (u.get("input_tokens_details") or {}).get("cached_tokens"),
        "reasoning_tokens": (u.get("output_tokens_details") or {}).get("reasoning_tokens"),
    }


def _at(rec: Any, *keys: str) -> Any:
    for k in keys:
        rec = rec.get(k) if isinstance(rec, dict) else None
    return rec


def _integer(v: Any) -> int | None:
    return v if type(v) is int and -(2 ** 63) <= v < 2 ** 63 else None


def _text(v: Any) -> str | None:
    return v if type(v) is str else None


def billed_usage_columns(rec: dict) -> dict:
    """Usage billed apart from the model's tokens (issue 21): cache writes, web search
    requests and image generation tokens, integers or NULL."""
    img = ("tool_usage", "image_gen")
    return {
        "cache_write_tokens": _integer(_at(rec, "usage", "input_tokens_details",
                                           "cache_write_tokens")),
        "web_search_requests": _integer(_at(rec, "tool_usage", "web_search", "num_requests")),
        "image_gen_input_tokens": _integer(_at(rec, *img, "input_tokens")),
        "image_gen_input_text_tokens": _integer(_at(rec, *img, "input_tokens_details",
                                                    "text_tokens")),
        "image_gen_input_image_tokens": _integer(_at(rec, *img, "input_tokens_details",
                                                     "image_tokens")),
        "image_gen_output_tokens": _integer(_at(rec, *img, "output_tokens")),
        "image_gen_output_text_tokens": _integer(_at(rec, *img, "output_tokens_details",
                                                     "text_tokens")),
        "image_gen_output_image_tokens": _integer(_at(rec, *img, "output_tokens_details",
                                                      "image_tokens")),
        "image_gen_total_tokens": _integer(_at(rec, *img, "total_tokens")),
    }


def served_columns(rec: dict) -> dict:
    """How the response was served (issue 21): texts or NULL."""
    return {
        "billing_payer": _text(_at(rec, "billing", "payer")),
        "prompt_cache_retention": _text(rec.get("prompt_cache_retention")),
        "reasoning_context": _text(_at(rec, "reasoning", "context")),
        "reasoning_mode": _text(_at(rec, "reasoning", "mode")),
        "text_verbosity": _text(_at(rec, "text", "verbosity")),
        "safety_identifier": _text(rec.get("safety_identifier")),
    }


BILLED_USAGE_COLUMNS = tuple(billed_usage_columns({}))


def run_row(rec: dict, thread_id: str) -> dict:
    status = rec.get("status")
    created = ts(rec.get("created_at"))
    completed = ts(rec.get("completed_at"))
    ended = completed if status in TERMINAL else None
    err = rec.get("error") or {}
    return {
        "api": API, "run_id": rec["id"], "thread_id": thread_id,
        "assistant_id": (rec.get("prompt") or {}).get("id"), "model": rec.get("model"),
        "status": status, "created_at": created, "started_at": None, "completed_at": completed,
        "failed_at": None, "cancelled_at": None, "expires_at": None, "ended_at": ended,
        "last_error_code": err.get("code"), "last_error_message": err.get("message"),
        "incomplete_reason": (rec.get("incomplete_details") or {}).get("reason"),
        **usage_columns(rec.get("usage")),
        "queue_s": None, "duration_s": seconds(ended, created),
        "metadata": oracle.metadata_text(rec.get("metadata")),
        "day": None if created is None else created.date(),
        "previous_response_id": rec.get("previous_response_id"),
        **billed_usage_columns(rec), **served_columns(rec),
    }


def tool_type(item_type: str) -> str:
    return item_type.removesuffix("_call").removesuffix("_tool")


def is_tool_call(item: dict) -> bool:
    return isinstance(item.get("type"), str) and item["type"].endswith("_call")


def item_error_columns(error: Any) -> tuple[str | None, str | None]:
    """(code, message) of an item's `error`: an object's `code` as text (500 -> "500") and
    `message`, or a string (other JSON as text) as the message."""
    if isinstance(error, dict):
        return json_text(error.get("code")), json_text(error.get("message"))
    return None, json_text(error)


def step_row(item: dict, index: int, run: dict) -> dict:
    code, message = item_error_columns(item.get("error"))
    row = dict.fromkeys(STEP_COLUMNS)
    row.update(
        api=API, step_id=item["id"] if item.get("id") is not None else f"{run['run_id']}:{index}",
        run_id=run["run_id"], thread_id=run["thread_id"], assistant_id=run["assistant_id"],
        model=run["model"], type=item.get("type"), status=item.get("status"),
        created_at=run["created_at"], last_error_code=code, last_error_message=message,
        message_id=item.get("id") if item.get("type") == "message" else None,
        phase=item.get("phase"), tool_call_count=1 if is_tool_call(item) else 0, day=run["day"])
    return row


def tool_call_row(item: dict, index: int, step: dict, output: Any, output_failed: bool) -> dict:
    kind = tool_type(item["type"])
    if kind == "custom":
        arguments, valid = json_text(item.get("input")), None
    else:
        arguments = json_text(item.get("arguments"))
        valid = (None if item.get("arguments") is None else oracle.valid_json(arguments)
                 if isinstance(item["arguments"], str) else True)
    outputs = item.get("outputs") or []
    results = item.get("results")
    ci, fs = kind == "code_interpreter", kind == "file_search"
    row = {
        "api": API,
        "tool_call_id": item.get("call_id") if item.get("call_id") is not None else item.get(
            "id"),
        "step_id": step["step_id"], "run_id": step["run_id"], "thread_id": step["thread_id"],
        "assistant_id": step["assistant_id"], "model": step["model"], "call_index": index,
        "type": kind, "function_name": item.get("name"), "function_arguments": arguments,
        "function_output": json_text(output), "arguments_valid_json": valid,
        "code_input": item.get("code") if ci else None,
        "code_log_chars": sum(len(o.get("logs") or "") for o in outputs
                              if o.get("type") == "logs") if ci else None,
        "code_image_count": sum(1 for o in outputs if o.get("type") == "image") if ci else None,
        "file_search_result_count": None if not fs or results is None else len(results),
        "file_search_max_score": oracle._best_score(item) if fs else None,
        "step_status": step["status"], "step_type": step["type"],
        "created_at": step["created_at"], "day": step["day"],
        "call_failed": (item.get("status") == "failed" or item.get("error") is not None
                        or output_failed),
    }
    return {**row, **oracle.content_chars(row)}


# --------------------------------------------------------------------------- main entry


def winning_outputs(copies: list[tuple[str, dict, _Where, int]]) -> tuple[dict, set]:
    """R13: per call key, the winning output item; and the where-keys of the records that
    hold a copy equal to the winner of its key."""
    best: dict[str, tuple] = {}
    for key, item, where, index in copies:
        c = _canonical(item.get("output"))
        score = (len(c), zlib.crc32(c), c)
        # equal scores: the first copy by (source_file, line_no, position, index in input)
        if key not in best or score > best[key][0] or (
                score == best[key][0] and (where.key(), index) < best[key][2]):
            best[key] = (score, item, (where.key(), index))
    holders = {where.key() for key, item, where, _ in copies
               if _canonical(item.get("output")) == best[key][0][2]}
    return {key: item for key, (_, item, _) in best.items()}, holders


def compute(paths) -> Result:
    """Expected Responses-side tables and accounting (and the Assistants side) for paths."""
    a_read, read = read_inputs(paths)
    kept = superseded = 0

    winners: dict[str, dict] = {}
    for rid in sorted(set(read.responses) | set(read.events)):
        events, duplicates = unique_events(read.events.get(rid, []))
        superseded += duplicates
        candidates = [rec for rec, _ in read.responses.get(rid, [])]
        candidates += [ev["response"] for ev in events if ev["type"] in LIFECYCLE]
        item_events = [ev for ev in events if ev["type"] not in LIFECYCLE]
        winner = max(candidates, key=response_rank)
        kept += 1
        superseded += len(candidates) - 1
        if winner.get("status") in TERMINAL or not item_events:
            superseded += len(item_events)
        else:
            kept += len(item_events)
            output, error = apply_events(winner.get("output") or [], item_events)
            winner = dict(winner, output=output)
            if error is not None and winner.get("error") is None:
                winner["error"] = {"code": error[0], "message": error[1]}
        winners[rid] = winner

    outputs, holders = winning_outputs(read.copies)
    for where_key in read.output_records:
        if where_key in holders:
            kept += 1
        else:
            superseded += 1

    result = Result(rejects=read.rejects, lines_read=a_read.lines_read)
    threads = thread_ids(winners)
    for rid, rec in winners.items():
        run = run_row(rec, threads[rid])
        result.runs.append(run)
        items = rec.get("output") or []
        same_response = {}
        for item in items:
            if is_output_item(item) and output_key(item) is not None:
                same_response.setdefault(output_key(item), item)
        for index, item in enumerate(items):
            step = step_row(item, index, run)
            result.steps.append(step)
            if is_tool_call(item):
                call = item.get("call_id")
                answer = outputs.get(call, same_response.get(call)) or {}
                output = item["output"] if item.get("output") is not None else answer.get(
                    "output")
                result.tool_calls.append(tool_call_row(item, index, step, output,
                                                       answer.get("status") == "failed"))
        if isinstance(rec.get("usage"), dict):
            result.usage.append({
                "api": API, "step_id": None, "run_id": rid, "assistant_id": run["assistant_id"],
                "model": run["model"], "type": "response", "day": run["day"],
                **{k: run[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens",
                                       "cached_tokens", "reasoning_tokens",
                                       *BILLED_USAGE_COLUMNS)}})

    skipped = sum(read.skipped.values())
    result.counts = {"records_read": read.records_read, "kept": kept, "superseded": superseded,
                     "rejected": len(read.rejects), "skipped": skipped}
    assert read.records_read == kept + superseded + len(read.rejects) + skipped
    result.skipped_by_shape = dict(sorted(read.skipped.items()))
    result.assistants = oracle.compute_read(a_read)
    result.total_counts = {k: result.counts[k] + result.assistants.counts[k]
                           for k in result.counts}
    return result


# --------------------------------------------------------------------------- summaries


def summary(result: Result) -> dict[str, Any]:
    """The counts issue 12 compares: responses per status, items per type, tool calls per
    type and function name, token sums (None when no response has usage)."""
    def total(key):
        values = [r[key] for r in result.runs if r[key] is not None]
        return sum(values) if values else None

    return {
        "responses": len(result.runs),
        "responses_per_status": Counter(r["status"] for r in result.runs),
        "items_per_type": Counter(s["type"] for s in result.steps),
        "tool_calls_per_type": Counter(c["type"] for c in result.tool_calls),
        "tool_calls_per_function": Counter((c["type"], c["function_name"])
                                           for c in result.tool_calls
                                           if c["function_name"] is not None),
        "tokens": {k: total(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens",
                                         "cached_tokens", "reasoning_tokens")},
    }


def responses_files(directory: Path) -> list[Path]:
    """The JSON-lines/SSE files of a directory, sorted (for per-recording computations)."""
    return sorted(p for p in Path(directory).iterdir() if p.suffix in (".jsonl", ".sse"))
