"""An independent, plain-Python reading of the docs/ingest.md, "Input" contract.

`compute(paths)` reads input files the way the README describes and returns the expected
tables (`steps`, `runs`, `tool_calls`, `usage`, `rejects`) as lists of dicts, the
accounting counts and the metric views. It uses only the standard library and orjson, and
imports nothing from `flows/` or `transforms/`: it is a second computation to check the
product against, written to be read, not to be fast.

Value types: timestamps are timezone-naive UTC `datetime.datetime`, `day` is a
`datetime.date`, durations are `float` seconds, counts are `int`, `metadata` is
`orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode()`, missing values are `None`.

Choices made where the README is silent or ambiguous (those marked *decided* are final
product decisions; the others: align the product with them, or tell me which to change).
Where the product still differs, tests/test_against_oracle.py holds a strict xfail with a
minimal input (none is open; settled ones stay there as regression cases, `SETTLED`):

Reading files
 1. (*decided*) Directories are searched recursively for names ending `.jsonl`, `.ndjson`,
    `.json`, `.jsonl.gz`, `.ndjson.gz`, `.json.gz`, `.sse`, `.sse.gz` and `.txt`, matched
    case-insensitively (`A.JSONL` is found), skipping hidden files and directories (names
    starting with `.`) below the directory given; a file named explicitly is read whatever
    its name. The same absolute path given twice is read once. Every other name test
    (`.sse`, `.json` below) is case-insensitive too.
 2. A file that starts with the gzip magic bytes `1f 8b` is gunzipped first, whatever its
    name (*decided*: a `.jsonl.gz` that is not gzip is read as it is); a UTF-8
    BOM at the start of the (gunzipped) file is ignored (*decided*). Lines are split on
    `\\n` only (never on U+2028 and friends); a final `\\n` does not start an extra line.
    A line is the record text with surrounding ASCII whitespace stripped (`bytes.strip()`,
    so a trailing `\\r` goes too), parsed with `orjson.loads`; `raw` is that stripped text
    (*decided*), decoded as UTF-8 with invalid bytes replaced. `Result.lines_read` counts
    the lines of every file.
 3. (*decided*) A `.json` (or `.json.gz`) file holding one JSON document over 2+ non-blank
    lines (the whole file, BOM removed, parses with orjson; at most 512 MB on disk) is ONE
    record source at line 1: an object is read like a line, a top-level array like the
    list page `{"object": "list", "data": array}`. Any other `.json` file is read as JSON
    lines. Its lines still count in `lines_read`.
 4. A line that is empty or only whitespace is a record skipped under the shape `blank`.

Shapes and skip names (5 to 8 *decided*)
 5. A JSON object with `"object": "list"` and a `data` key is a list page; with an `event`
    key and no `object` key it is a stream envelope; otherwise it is dispatched on its
    `object` (`thread.run.step`, `thread.run`, `thread.run.step.delta`).
 6. A list page whose `data` is not an array is rejected (one record); one whose `data` is
    empty is one record skipped under `empty_list`. Each item of a non-empty page is one
    record, read as its own line, and the page line itself is not a record. A rejected
    item's reason starts `data[i]: `, its `raw` is `orjson.dumps(item)` (compact), its
    `line_no` the page's line.
 7. Envelopes: an `event` that is not a string is rejected. When `data` is an object, it is
    dispatched on `data.object` (`thread.run.step` / `thread.run` /
    `thread.run.step.delta`); when `data.object` is absent or null, on the event name
    (`thread.run.step.delta` -> delta; `thread.run.step.<created|in_progress|completed|
    failed|cancelled|expired>` -> step; any other `thread.run.*` -> run). Anything else
    (`thread.message.created`, `thread.created`, `error`, a list page as data ...) is
    skipped under the EVENT name. When `data` is not an object, a `thread.run.*` event is
    rejected and any other (`{"event": "done", "data": "[DONE]"}`) is skipped under its
    name.
 8. A bare object that is not a step/run/delta is skipped under its `object` value when
    that is a string (`thread.message`, a future name ...), else under `unknown`.
 9. A line that is valid JSON but not an object (array, number, string, null) is rejected.
    A list item or the data of a raw SSE block without `event:` that is itself a list page
    is read as a list page (the README: "read as if it were its own line"; the product
    skips it under `list`).

Raw SSE
10. (*decided*) A file is raw SSE when its name ends `.sse` (or `.sse.gz`), or when its
    first non-blank line (BOM removed) starts `event:` or `data:`; a `.txt` file is sniffed
    like any other, so a `.txt` of JSON lines is JSON lines. A block ends at a blank (empty
    or whitespace-only) line or at end of file. A `data:` value loses one leading space;
    the event name is the `event:` value with all surrounding ASCII whitespace stripped
    (*decided*). Lines starting `:`, other field names (`id:`, `retry:`) and lines without
    a colon (`data`, `event`: *decided*) are ignored. A block is a record when it has at
    least one `data:` line; a block without one is nothing. `data: [DONE]` lines are
    dropped from the data;
    a block whose only data was `[DONE]` (the closing `event: done` / `data: [DONE]`) is
    a record skipped under its event name (`done` when it has none), so a `.sse` file has
    one more record than its `.jsonl` twin, which has no `done` envelope. A block with data
    but no `event:` line is read as its bare data value, which must be a JSON object
    (*decided*). The joined data text is stripped; when that leaves nothing (`data:` with
    no value) the data is null (*decided*): an `event:` block is then the envelope
    `{"event": NAME, "data": null}` (skipped under NAME, rejected for a `thread.run.*`
    event, see 7), a block without `event:` is rejected as not a JSON object. An
    unparseable block is rejected with `raw` = its joined data text stripped; `line_no` is
    always its first `data:` line.

Rejection (type checks; bool is never an int)
11. Checked on steps, runs and deltas: `id` must be present and a str ("missing id" when
    absent or null). Integers must fit a signed 64-bit integer (*decided*). Timestamps
    `created_at, started_at, completed_at, failed_at, cancelled_at, expired_at,
    expires_at` int in 0..253402300799 or null, on steps and runs alike (*decided*).
    Steps: `run_id, thread_id, assistant_id, type, status` str or null. Runs: `thread_id,
    assistant_id, model, status` str or null; `incomplete_details` object or null and its
    `reason` str or null. Both: `last_error` object or null with `code`, `message` str or
    null; `metadata` object or null (values unchecked); `usage` object or null with
    `prompt_tokens, completion_tokens, total_tokens` int or null, `prompt_token_details`,
    `prompt_tokens_details`, `completion_tokens_details` object or null, and (*decided*)
    only the keys read from them checked: `cached_tokens` of the two prompt details and
    `reasoning_tokens` of `completion_tokens_details` int or null (other keys in them, e.g.
    `reasoning_tokens` in a prompt details object, are ignored).
    (issue 18) Token counts (those five) must be ints in 0..2^53; `id` must be non-empty
    with no control character (U+0000-U+001F, U+007F-U+009F), and so must a step's
    `run_id, thread_id, assistant_id` and a run's `thread_id, assistant_id` when present.
12. `step_details` (of a step, or `delta.step_details` of a delta; `delta` itself object or
    null): object or null; its `type` str or null (*decided*); `message_creation` object or
    null with `message_id` str or null; `tool_calls` list or null whose items must be
    objects with `id`, `type` str or null; `function` object or null with `name,
    arguments, output` str or null; `code_interpreter` object or null with `input` str or
    null and `outputs` list or null of objects with `type`, `logs` str or null and `image`
    object or null with `file_id` str or null; `file_search` object or null with `results`
    list or null. These keys are checked whenever present, whatever the call's `type`
    (*decided*). In deltas the tool-call `index` and output `index` must be int or null.
    Nothing else is checked (unknown keys, `file_search.results` items, `ranking_options`,
    the run's `tools`, `instructions` ...).

De-duplication
13. (*decided*) Stage 2 takes the max of the non-null `created_at, completed_at, failed_at,
    cancelled_at, expired_at` of a step and `created_at, started_at, completed_at,
    failed_at, cancelled_at` of a run (a step's `started_at`, a run's `expired_at` and
    `expires_at` do not count). A record with no such timestamp ranks below any record
    with one at stage 2. (*decided*, changed with the native decoder) Stages 4 and 5 compare
    the canonical *content* of the record, `content()` below: the values it gives its own
    row (and, for a step, its tool calls' rows) as an object with sorted keys, timestamps
    in Unix seconds; unknown keys and the envelope or page around it do not count.

Deltas
14. Deltas are ordered by (absolute source_file, line_no, position in its list page).
    A delta with no tool calls still counts as applied/superseded with its step.
    (*decided*) Duplicate stream exports: for a step whose deltas sit in more than one
    file, each file's sequence of delta contents (`delta_content()`: what each delta
    contributes, in line, item order) is compared; a file whose sequence equals or is a
    proper prefix of another file's is a duplicate and its deltas of that step are dropped
    (counted as superseded); of equal sequences the smallest path is kept.
15. Strings to concatenate start as null; a null piece adds nothing; the result stays null
    only if every piece was null. "Latest non-null" likewise for the overwritten fields; an
    image's `file_id` and an output's `type` are overwritten per output index.
16. (*decided*) Reassembled calls are sorted by `index` and `call_index` is the raw delta
    `index` (a fragment without one: its position in that delta's `tool_calls`).
17. (*decided*) When the winning full object is not terminal but deltas exist, the tool
    calls come from the deltas (even if that makes zero calls), `type` and `message_id` are
    the object's, or when null the deltas' latest non-null ones; every other column comes
    from the object. A delta-only step takes `type` from the latest non-null
    `delta.step_details.type` and `message_id` from the latest non-null
    `delta.step_details.message_creation.message_id`; status `in_progress`, all else null.

Columns
18. `function_name/arguments/output` are filled only for calls whose `type` is
    `function`; `code_input`, `code_log_chars`, `code_image_count` only for
    `code_interpreter` (NULL for other types; 0 counts for a code_interpreter call without
    such outputs); `file_search_result_count` and `file_search_max_score` (the best
    numeric `score` of its results, a float; None when none has one) only for `file_search`;
    each `file_search.results` item must be an object whose `score` is a number or null.
19. `code_log_chars` counts Python characters (code points) of non-null `logs` of outputs
    whose `type` is `logs`. `arguments_valid_json` is whether `orjson.loads` accepts the
    arguments (any JSON value; the empty string is invalid).
20. `cached_tokens` = `prompt_token_details.cached_tokens`, falling back to
    `prompt_tokens_details.cached_tokens` when the first is missing/null.
21. `ended_at`/`latency_s`/`queue_s`/`duration_s` are NULL when either end is NULL; they can
    be negative if the data says so. `day` is NULL when `created_at` is.
22. A run's `expires_at` is a timestamp column; `model` of a step is NULL when its run is
    absent or the step has no `run_id`.

Metrics
23. Every dimension groups with SQL GROUP BY semantics: a NULL value (e.g. `model` of steps
    whose run is missing) is its own group with `value` None, separate from `all`. The
    `all` row always exists, like SQL's empty grouping set: over no rows it has n /
    terminal / steps 0 and every other figure None; other groups exist only with rows.
24. `token_usage` sums skip NULLs and are None when every value in the group is NULL.
    `tool_stats.failure_rate` is None when the group has no call in a terminal step;
    tool type NULL is its own group; function-name rows only where `function_name` is not
    NULL; no rows at all when there are no tool calls.
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

READ_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".sse",
                 ".sse.gz", ".txt")  # matched case-insensitively
SSE_SUFFIXES = (".sse", ".sse.gz")
DOCUMENT_SUFFIXES = (".json", ".json.gz")
RAW_LIMIT = 4096
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
DOCUMENT_MAX_BYTES = 512 * 1024 * 1024
MAX_TIMESTAMP = 253402300799  # 9999-12-31 23:59:59 UTC
INT64 = 1 << 63
TOKEN_LIMIT = 2 ** 53  # the largest token count the API can produce (issue 18)
STEP_EVENTS = tuple("thread.run.step." + s for s in (
    "created", "in_progress", "completed", "failed", "cancelled", "expired"))

# `incomplete`: a Responses API item's ending (issue 12); no Assistants step has it.
STEP_TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
RUN_RANK = {
    "completed": 4,
    "incomplete": 4,
    "failed": 4,
    "cancelled": 4,
    "expired": 4,
    "cancelling": 3,
    "requires_action": 2,
    "in_progress": 1,
    "queued": 0,
}
STEP_RANK_TIMESTAMPS = ("created_at", "completed_at", "failed_at", "cancelled_at", "expired_at")
RUN_RANK_TIMESTAMPS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at")
TIMESTAMPS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
              "expired_at", "expires_at")  # type-checked on steps and runs alike
STEP_END = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
            "expired": "expired_at"}
RUN_END = {"completed": "completed_at", "incomplete": "completed_at", "failed": "failed_at",
           "cancelled": "cancelled_at", "expired": "expires_at"}
EPOCH = dt.datetime(1970, 1, 1)


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    steps: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    usage: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    skipped_by_shape: dict[str, int] = field(default_factory=dict)
    step_latency: list[dict] = field(default_factory=list)
    failure_rate: list[dict] = field(default_factory=list)
    token_usage: list[dict] = field(default_factory=list)
    tool_stats: list[dict] = field(default_factory=list)
    lines_read: int = 0


@dataclass
class _Read:
    """What reading the files gives, before de-duplication."""

    steps: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    runs: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    deltas: dict[str, list[tuple]] = field(default_factory=lambda: defaultdict(list))
    rejects: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    records_read: int = 0
    lines_read: int = 0


# --------------------------------------------------------------------------- type checks


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -INT64 <= v < INT64


def _is_timestamp(v: Any) -> bool:
    return _is_int(v) and 0 <= v <= MAX_TIMESTAMP


def _is_tokens(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= TOKEN_LIMIT


def bad_id(v: str) -> bool:
    """An empty id, or one with a C0/DEL/C1 control character (issue 18)."""
    return v == "" or any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in v)


def _check(obj: dict, keys: tuple[str, ...], ok, what: str, prefix: str) -> str | None:
    for k in keys:
        v = obj.get(k)
        if v is not None and not ok(v):
            return f"wrong type: {prefix}{k} is not {what}"
    return None


def _strs(obj, keys, prefix=""):
    return _check(obj, keys, lambda v: isinstance(v, str), "a string", prefix)


def _ints(obj, keys, prefix=""):
    return _check(obj, keys, _is_int, "an integer", prefix)


def _timestamps(obj, keys, prefix=""):
    return _check(obj, keys, _is_timestamp, "an integer timestamp in range", prefix)


def _dicts(obj, keys, prefix=""):
    return _check(obj, keys, lambda v: isinstance(v, dict), "an object", prefix)


def _lists(obj, keys, prefix=""):
    return _check(obj, keys, lambda v: isinstance(v, list), "a list", prefix)


def _refs(obj, keys) -> str | None:
    """A reference to another record (a run, thread, assistant id): a valid id or null."""
    return _check(obj, keys, lambda v: not isinstance(v, str) or not bad_id(v),
                  "a valid id", "")


def _first_error(*checks) -> str | None:
    for c in checks:
        if c is not None:
            return c
    return None


def _usage_error(rec: dict) -> str | None:
    usage = rec.get("usage")
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return "wrong type: usage is not an object"
    details = ("prompt_token_details", "prompt_tokens_details", "completion_tokens_details")
    err = _first_error(
        _check(usage, ("prompt_tokens", "completion_tokens", "total_tokens"), _is_tokens,
               "a token count", "usage."),
        _dicts(usage, details, "usage."),
    )
    if err:
        return err
    for d, key in zip(details, ("cached_tokens", "cached_tokens", "reasoning_tokens"),
                      strict=True):
        if isinstance(usage.get(d), dict):
            err = _check(usage[d], (key,), _is_tokens, "a token count", f"usage.{d}.")
            if err:
                return err
    return None


def _common_error(rec: dict) -> str | None:
    if not isinstance(rec.get("id"), str):
        return "missing id" if rec.get("id") is None else "wrong type: id is not a string"
    if bad_id(rec["id"]):
        return "invalid id"
    err = _first_error(
        _timestamps(rec, TIMESTAMPS),
        _dicts(rec, ("last_error", "metadata")),
        _usage_error(rec),
    )
    if err:
        return err
    if isinstance(rec.get("last_error"), dict):
        return _strs(rec["last_error"], ("code", "message"), "last_error.")
    return None


def _tool_call_error(call: Any, in_delta: bool, prefix: str) -> str | None:
    if not isinstance(call, dict):
        return f"wrong type: {prefix} is not an object"
    err = _first_error(
        _strs(call, ("id", "type"), prefix + "."),
        _ints(call, ("index",), prefix + ".") if in_delta else None,
        _dicts(call, ("function", "code_interpreter", "file_search"), prefix + "."),
    )
    if err:
        return err
    if isinstance(call.get("function"), dict):
        err = _strs(call["function"], ("name", "arguments", "output"), prefix + ".function.")
        if err:
            return err
    ci = call.get("code_interpreter")
    if isinstance(ci, dict):
        p = prefix + ".code_interpreter."
        err = _first_error(_strs(ci, ("input",), p), _lists(ci, ("outputs",), p))
        if err:
            return err
        for i, out in enumerate(ci.get("outputs") or []):
            po = f"{p}outputs[{i}]"
            if not isinstance(out, dict):
                return f"wrong type: {po} is not an object"
            err = _first_error(
                _strs(out, ("type", "logs"), po + "."),
                _ints(out, ("index",), po + ".") if in_delta else None,
                _dicts(out, ("image",), po + "."),
            )
            if err:
                return err
            if isinstance(out.get("image"), dict):
                err = _strs(out["image"], ("file_id",), po + ".image.")
                if err:
                    return err
    if isinstance(call.get("file_search"), dict):
        err = _lists(call["file_search"], ("results",), prefix + ".file_search.")
        if err:
            return err
        for i, result in enumerate(call["file_search"].get("results") or []):
            where = f"{prefix}.file_search.results[{i}]"
            if not isinstance(result, dict):
                return f"{where} is not an object"
            score = result.get("score")
            if score is not None and (isinstance(score, bool)
                                      or not isinstance(score, int | float)):
                return f"{where}.score is not a number"
    return None


def _step_details_error(sd: Any, in_delta: bool, prefix: str) -> str | None:
    if sd is None:
        return None
    if not isinstance(sd, dict):
        return f"wrong type: {prefix} is not an object"
    err = _first_error(
        _strs(sd, ("type",), prefix + "."),
        _dicts(sd, ("message_creation",), prefix + "."),
        _lists(sd, ("tool_calls",), prefix + "."),
    )
    if err:
        return err
    if isinstance(sd.get("message_creation"), dict):
        err = _strs(sd["message_creation"], ("message_id",), prefix + ".message_creation.")
        if err:
            return err
    for i, call in enumerate(sd.get("tool_calls") or []):
        err = _tool_call_error(call, in_delta, f"{prefix}.tool_calls[{i}]")
        if err:
            return err
    return None


def step_error(rec: dict) -> str | None:
    """Why a `thread.run.step` record must be rejected, or None."""
    return _first_error(
        _common_error(rec),
        _strs(rec, ("run_id", "thread_id", "assistant_id", "type", "status")),
        _refs(rec, ("run_id", "thread_id", "assistant_id")),
        _step_details_error(rec.get("step_details"), False, "step_details"),
    )


def run_error(rec: dict) -> str | None:
    """Why a `thread.run` record must be rejected, or None."""
    err = _first_error(
        _common_error(rec),
        _strs(rec, ("thread_id", "assistant_id", "model", "status")),
        _refs(rec, ("thread_id", "assistant_id")),
        _dicts(rec, ("incomplete_details",)),
    )
    if err is None and isinstance(rec.get("incomplete_details"), dict):
        err = _strs(rec["incomplete_details"], ("reason",), "incomplete_details.")
    return err


def delta_error(rec: dict) -> str | None:
    """Why a `thread.run.step.delta` record must be rejected, or None."""
    if not isinstance(rec.get("id"), str):
        return "missing id" if rec.get("id") is None else "wrong type: id is not a string"
    delta = rec.get("delta")
    if delta is None:
        return None
    if not isinstance(delta, dict):
        return "wrong type: delta is not an object"
    return _step_details_error(delta.get("step_details"), True, "delta.step_details")


# --------------------------------------------------------------------------- reading


def _named(path: Path, suffixes: tuple[str, ...]) -> bool:
    """Whether the file name ends with one of `suffixes`, ignoring case."""
    return path.name.lower().endswith(suffixes)


def input_files(paths) -> list[Path]:
    """Absolute paths of the files to read, sorted, each once."""
    found: set[Path] = set()
    for p in paths:
        p = Path(p).absolute()
        if p.is_dir():
            found.update(f for f in p.rglob("*") if f.is_file() and _named(f, READ_SUFFIXES)
                         and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            found.add(p)
    return sorted(found)


def file_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip data, without a leading BOM."""
    data = path.read_bytes()
    if data.startswith(GZIP_MAGIC):
        data = gzip.decompress(data)
    return data.removeprefix(BOM)


def split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def file_lines(path: Path) -> list[bytes]:
    """The file's lines (gunzipped, BOM removed), without `\\n` and a trailing `\\r`."""
    return [line.removesuffix(b"\r") for line in split_lines(file_bytes(path))]


def _is_sse(path: Path, lines: list[bytes]) -> bool:
    """`.sse` (`.sse.gz`) by name; any other file (`.txt` too) by its first non-blank line:
    `event:`, `data:` or an SSE comment (`:`)."""
    if _named(path, SSE_SUFFIXES):
        return True
    for line in lines:
        if line.strip():
            # a JSON line never starts with ":", so a leading SSE comment also says SSE
            return line.startswith((b"event:", b"data:", b":"))
    return False


def _document(path: Path, data: bytes, lines: list[bytes]) -> Any:
    """The parsed value of a `.json` file that is one multi-line document, else None."""
    if not _named(path, DOCUMENT_SUFFIXES) or path.stat().st_size > DOCUMENT_MAX_BYTES:
        return None
    if sum(1 for line in lines if line.strip()) < 2:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


ASCII_SPACE = " \t\n\r\x0b\x0c"  # what `bytes.strip()` strips


def _text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def sse_blocks(lines: list[bytes]):
    """Yield (line_no, event name or None, data text or None) per SSE block with data lines.

    `data: [DONE]` lines are dropped from the data; a block whose only data was `[DONE]`
    yields None as its data text.
    """
    event, data, first = None, [], None
    for line_no, raw in enumerate(lines, start=1):
        line = _text(raw)
        if not line.strip(ASCII_SPACE):
            if first is not None:
                yield first, event, "\n".join(data) if data else None
            event, data, first = None, [], None
            continue
        name, colon, value = line.partition(":")
        if not colon or not name:  # no colon (`data`, `event`): ignored; `:` a comment
            continue
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value.strip(ASCII_SPACE)
        elif name == "data":
            if first is None:
                first = line_no
            if value.strip(ASCII_SPACE) != "[DONE]":
                data.append(value)
    if first is not None:
        yield first, event, "\n".join(data) if data else None


def read_inputs(paths) -> _Read:
    out = _Read()
    for path in input_files(paths):
        src = str(path)
        data = file_bytes(path)
        lines = file_lines(path)
        out.lines_read += len(lines)
        if _is_sse(path, lines):
            for line_no, event, text in sse_blocks(lines):
                if text is None:  # only `data: [DONE]`
                    _record(out, src, line_no, "[DONE]", skip=event or "done")
                    continue
                text = text.strip(ASCII_SPACE)
                try:
                    value = orjson.loads(text) if text else None  # `data:` alone: null
                except orjson.JSONDecodeError:
                    _record(out, src, line_no, text, reject="invalid JSON")
                    continue
                if event is not None:
                    _read_record(out, {"event": event, "data": value}, src, line_no, (), text)
                else:  # a bare value, read as a line
                    _read_line_value(out, value, src, line_no, (), text)
            continue
        document = _document(path, data, lines)
        if document is not None:
            if isinstance(document, list):
                document = {"object": "list", "data": document}
            _read_line_value(out, document, src, 1, (), _text(data.strip()))
            continue
        for line_no, raw in enumerate(lines, start=1):
            raw = raw.strip()
            text = _text(raw)
            if not raw:
                _record(out, src, line_no, text, skip="blank")
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                _record(out, src, line_no, text, reject="invalid JSON")
                continue
            _read_line_value(out, value, src, line_no, (), text)
    return out


def _record(out: _Read, src, line_no, raw, *, reject=None, skip=None):
    """Count one record that is rejected or skipped."""
    out.records_read += 1
    if reject is not None:
        out.rejects.append({"source_file": src, "line_no": line_no, "reason": reject,
                            "raw": raw[:RAW_LIMIT]})
    else:
        out.skipped[skip] += 1


def _read_line_value(out: _Read, value, src: str, line_no: int, pos: tuple, raw: str,
                     prefix: str = "") -> None:
    """Read one JSON value as if it were its own line: a list page, or one record."""
    if not isinstance(value, dict):
        _record(out, src, line_no, raw, reject=f"{prefix}not a JSON object")
        return
    if value.get("object") == "list" and "data" in value:
        items = value["data"]
        if not isinstance(items, list):
            _record(out, src, line_no, raw, reject=f"{prefix}list page data is not an array")
        elif not items:
            _record(out, src, line_no, raw, skip="empty_list")
        for i, item in enumerate(items if isinstance(items, list) else ()):
            _read_line_value(out, item, src, line_no, pos + (i,), orjson.dumps(item).decode(),
                             f"{prefix}data[{i}]: ")
        return
    _read_record(out, value, src, line_no, pos, raw, prefix)


KINDS = {"thread.run.step": (step_error, "steps"), "thread.run": (run_error, "runs"),
         "thread.run.step.delta": (delta_error, "deltas")}


def _read_record(out: _Read, value: dict, src: str, line_no: int, pos: tuple, raw: str,
                 prefix: str = "") -> None:
    """Read one object that is not a list page: an envelope, a step/run/delta, or a skip."""
    if "event" in value and "object" not in value:  # a stream envelope
        event, data = value["event"], value.get("data")
        if not isinstance(event, str):
            _record(out, src, line_no, raw, reject=f"{prefix}event is not a string")
            return
        if not isinstance(data, dict):
            if event.startswith("thread.run."):
                _record(out, src, line_no, raw, reject=f"{prefix}data of {event} is not an object")
            else:
                _record(out, src, line_no, raw, skip=event)
            return
        kind = data.get("object")
        if kind is None:  # no `object`: trust the event name
            kind = ("thread.run.step.delta" if event == "thread.run.step.delta"
                    else "thread.run.step" if event in STEP_EVENTS
                    else "thread.run" if event.startswith("thread.run.") else None)
        if isinstance(kind, str) and kind in KINDS:
            _read_object(out, data, kind, src, line_no, pos, raw, prefix + "data.")
        else:
            _record(out, src, line_no, raw, skip=event)
        return
    kind = value.get("object")
    if isinstance(kind, str) and kind in KINDS:
        _read_object(out, value, kind, src, line_no, pos, raw, prefix)
    else:
        _record(out, src, line_no, raw, skip=kind if isinstance(kind, str) else "unknown")


def _read_object(out: _Read, rec: dict, kind: str, src: str, line_no: int, pos: tuple,
                 raw: str, prefix: str) -> None:
    """A step, run or delta record: rejected, or kept for de-duplication."""
    error_of, bucket = KINDS[kind]
    err = error_of(rec)
    if err:
        _record(out, src, line_no, raw, reject=prefix + err)
        return
    out.records_read += 1
    if bucket == "deltas":
        out.deltas[rec["id"]].append((src, line_no, pos, rec))
    else:
        getattr(out, bucket)[rec["id"]].append(rec)


# --------------------------------------------------------------------------- de-duplication


def content(rec: dict, kind: str) -> dict:
    """The values a step or run record gives the tables on its own (README: its row's
    columns and, for a step, its calls' `tool_calls` columns), timestamps as Unix seconds."""
    err = rec.get("last_error") or {}
    out = {
        "thread_id": rec.get("thread_id"),
        "assistant_id": rec.get("assistant_id"),
        "status": rec.get("status"),
        "created_at": rec.get("created_at"),
        "completed_at": rec.get("completed_at"),
        "failed_at": rec.get("failed_at"),
        "cancelled_at": rec.get("cancelled_at"),
        "last_error_code": err.get("code"),
        "last_error_message": err.get("message"),
        **usage_columns(rec.get("usage")),
        "metadata": metadata_text(rec.get("metadata")),
    }
    if kind == "run":
        out.update(run_id=rec["id"], model=rec.get("model"), started_at=rec.get("started_at"),
                   expires_at=rec.get("expires_at"),
                   incomplete_reason=(rec.get("incomplete_details") or {}).get("reason"))
        return out
    details = rec.get("step_details") or {}
    out.update(step_id=rec["id"], run_id=rec.get("run_id"), type=rec.get("type"),
               expired_at=rec.get("expired_at"),
               message_id=(details.get("message_creation") or {}).get("message_id"),
               tool_calls=[call_values(c) for c in details.get("tool_calls") or []])
    return out


def canonical(rec: dict, kind: str) -> bytes:
    return orjson.dumps(content(rec, kind), option=orjson.OPT_SORT_KEYS)


def rank(rec: dict, state_rank: int, timestamps: tuple[str, ...], kind: str) -> tuple:
    stamps = [rec[k] for k in timestamps if rec.get(k) is not None]
    latest = max(stamps) if stamps else -math.inf
    c = canonical(rec, kind)
    return (state_rank, latest, isinstance(rec.get("usage"), dict), len(c), zlib.crc32(c))


def step_rank(rec: dict) -> tuple:
    return rank(rec, 1 if rec.get("status") in STEP_TERMINAL else 0, STEP_RANK_TIMESTAMPS,
                "step")


def run_rank(rec: dict) -> tuple:
    return rank(rec, RUN_RANK.get(rec.get("status"), -1), RUN_RANK_TIMESTAMPS, "run")


# --------------------------------------------------------------------------- deltas


def _concat(a: str | None, b: str | None) -> str | None:
    if b is None:
        return a
    return b if a is None else a + b


def reassemble(deltas: list[dict]) -> tuple[list[tuple[int, dict]], str | None, str | None]:
    """Merge a step's deltas (already in order) into ((index, call) list, type, message_id).

    The calls are sorted by index; the index (a fragment's `index`, or its position in its
    delta's `tool_calls` when it has none) becomes the call's `call_index`.
    """
    calls: dict[int, dict] = {}
    step_type = message_id = None
    for d in deltas:
        sd = (d.get("delta") or {}).get("step_details") or {}
        if sd.get("type") is not None:
            step_type = sd["type"]
        if (sd.get("message_creation") or {}).get("message_id") is not None:
            message_id = sd["message_creation"]["message_id"]
        for pos, piece in enumerate(sd.get("tool_calls") or []):
            key = piece["index"] if piece.get("index") is not None else pos
            call = calls.setdefault(key, {"id": None, "type": None})
            for k in ("id", "type"):
                if piece.get(k) is not None:
                    call[k] = piece[k]
            fn = piece.get("function")
            if fn is not None:
                acc = call.setdefault("function", {"name": None, "arguments": None,
                                                   "output": None})
                if fn.get("name") is not None:
                    acc["name"] = fn["name"]
                acc["arguments"] = _concat(acc["arguments"], fn.get("arguments"))
                acc["output"] = _concat(acc["output"], fn.get("output"))
            ci = piece.get("code_interpreter")
            if ci is not None:
                acc = call.setdefault("code_interpreter", {"input": None, "outputs": {}})
                acc["input"] = _concat(acc["input"], ci.get("input"))
                for opos, o in enumerate(ci.get("outputs") or []):
                    okey = o["index"] if o.get("index") is not None else opos
                    oacc = acc["outputs"].setdefault(okey, {"type": None, "logs": None,
                                                            "image": None})
                    if o.get("type") is not None:
                        oacc["type"] = o["type"]
                    oacc["logs"] = _concat(oacc["logs"], o.get("logs"))
                    if (o.get("image") or {}).get("file_id") is not None:
                        oacc["image"] = {"file_id": o["image"]["file_id"]}
            fs = piece.get("file_search")
            if fs is not None:
                acc = call.setdefault("file_search", {})
                if fs.get("results") is not None:
                    acc["results"] = fs["results"]
    result = []
    for key in sorted(calls):
        call = calls[key]
        if "code_interpreter" in call:
            outs = call["code_interpreter"]["outputs"]
            call["code_interpreter"]["outputs"] = [outs[k] for k in sorted(outs)]
        result.append((key, call))
    return result, step_type, message_id


def delta_content(d: dict) -> tuple:
    """What a delta contributes: its step type and message id, and each tool-call fragment
    (position, index, id, type, function name/arguments/output, code input, file_search
    result count and best score) and code output fragment (position, call index, index,
    type, logs, image file id), in order."""
    sd = (d.get("delta") or {}).get("step_details") or {}
    calls, outputs = [], []
    for pos, c in enumerate(sd.get("tool_calls") or []):
        index = c["index"] if c.get("index") is not None else pos
        fn, ci = c.get("function") or {}, c.get("code_interpreter") or {}
        results = (c.get("file_search") or {}).get("results")
        calls.append((pos, index, c.get("id"), c.get("type"), fn.get("name"),
                      fn.get("arguments"), fn.get("output"), ci.get("input"),
                      None if results is None else len(results),
                      _best_score(c.get("file_search"))))
        for opos, o in enumerate(ci.get("outputs") or []):
            outputs.append((opos, index, o["index"] if o.get("index") is not None else opos,
                            o.get("type"), o.get("logs"), (o.get("image") or {}).get("file_id")))
    return (sd.get("type"), (sd.get("message_creation") or {}).get("message_id"), calls,
            outputs)


def without_duplicate_streams(deltas: list[tuple]) -> list[tuple]:
    """A step's (src, line_no, pos, delta) entries in order, minus duplicate stream files.

    Per file, the sequence of the deltas' contents (in line, item order); a file whose
    sequence equals another's or is a proper prefix of another's is dropped; of equal
    sequences the smallest path stays.
    """
    deltas = sorted(deltas, key=lambda d: d[:3])
    seqs: dict[str, list[tuple]] = defaultdict(list)
    for src, _, _, d in deltas:
        seqs[src].append(delta_content(d))
    files = sorted(seqs)
    dropped = set()
    for f in files:
        for g in files:
            if g == f:
                continue
            a, b = seqs[f], seqs[g]
            if (len(a) < len(b) and b[:len(a)] == a) or (a == b and g < f):
                dropped.add(f)
    return [d for d in deltas if d[0] not in dropped]


# --------------------------------------------------------------------------- rows


def ts(v: int | None) -> dt.datetime | None:
    return None if v is None else EPOCH + dt.timedelta(seconds=v)


def seconds(end: int | None, start: int | None) -> float | None:
    return None if end is None or start is None else float(end - start)


def metadata_text(m: dict | None) -> str | None:
    return None if m is None else orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode()


def usage_columns(usage: dict | None) -> dict:
    u = usage or {}
    prompt = u.get("prompt_token_details") or {}
    cached = prompt.get("cached_tokens")
    if cached is None:
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens")
    return {
        "prompt_tokens": u.get("prompt_tokens"),
        "completion_tokens": u.get("completion_tokens"),
        "total_tokens": u.get("total_tokens"),
        "cached_tokens": cached,
        "reasoning_tokens": (u.get("completion_tokens_details") or {}).get("reasoning_tokens"),
    }


def content_chars(row: dict) -> dict:
    """Lengths (code points) of a `tool_calls` row's content columns, NULL for NULL."""
    return {f"{c}_chars": None if row[c] is None else len(row[c])
            for c in ("function_arguments", "function_output", "code_input")}


def valid_json(text: str | None) -> bool | None:
    if text is None:
        return None
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _best_score(fs: dict | None) -> float | None:
    """The highest `score` among file_search results, None when none carries one."""
    scores = [r["score"] for r in (fs or {}).get("results") or [] if r.get("score") is not None]
    return float(max(scores)) if scores else None


def call_values(call: dict) -> dict:
    """A call's own `tool_calls` columns (NULL where its type does not use them)."""
    kind = call.get("type")
    fn = (call.get("function") or {}) if kind == "function" else {}
    ci = (call.get("code_interpreter") or {}) if kind == "code_interpreter" else None
    fs = (call.get("file_search") or {}) if kind == "file_search" else None
    outputs = (ci or {}).get("outputs") or []
    return {
        "tool_call_id": call.get("id"),
        "type": kind,
        "function_name": fn.get("name"),
        "function_arguments": fn.get("arguments"),
        "function_output": fn.get("output"),
        "code_input": None if ci is None else ci.get("input"),
        "code_log_chars": None if ci is None else sum(
            len(o.get("logs") or "") for o in outputs if o.get("type") == "logs"),
        "code_image_count": None if ci is None else sum(
            1 for o in outputs if o.get("type") == "image"),
        "file_search_result_count": (
            None if fs is None or fs.get("results") is None else len(fs["results"])),
        "file_search_max_score": _best_score(fs),
    }


def tool_call_row(call: dict, call_index: int, step: dict) -> dict:
    values = call_values(call)
    row = {
        "tool_call_id": values["tool_call_id"],
        "step_id": step["step_id"],
        "run_id": step["run_id"],
        "thread_id": step["thread_id"],
        "assistant_id": step["assistant_id"],
        "model": step["model"],
        "call_index": call_index,
        "type": values["type"],
        "function_name": values["function_name"],
        "function_arguments": values["function_arguments"],
        "function_output": values["function_output"],
        "arguments_valid_json": valid_json(values["function_arguments"]),
        "code_input": values["code_input"],
        "code_log_chars": values["code_log_chars"],
        "code_image_count": values["code_image_count"],
        "file_search_result_count": values["file_search_result_count"],
        "file_search_max_score": values["file_search_max_score"],
        "step_status": step["status"],
        "step_type": step["type"],
        "created_at": step["created_at"],
        "day": step["day"],
        "api": "assistants",
        "call_failed": step["status"] == "failed",  # a call fails with its step
        **content_chars(values),
    }
    return row


def _coalesce(a, b):
    return b if a is None else a


def step_row(step_id: str, rec: dict | None, models: dict[str, str | None],
             delta_type: str | None, delta_message_id: str | None) -> dict:
    if rec is None:  # a step known only from its deltas
        row = dict.fromkeys(STEP_COLUMNS)
        row.update(api="assistants", step_id=step_id, status="in_progress", type=delta_type,
                   message_id=delta_message_id, tool_call_count=0)
        return row
    status = rec.get("status")
    ended = rec.get(STEP_END[status]) if status in STEP_END else None
    err = rec.get("last_error") or {}
    details = rec.get("step_details") or {}
    created = rec.get("created_at")
    row = {
        "api": "assistants",
        "step_id": step_id,
        "run_id": rec.get("run_id"),
        "thread_id": rec.get("thread_id"),
        "assistant_id": rec.get("assistant_id"),
        "model": models.get(rec.get("run_id")),
        "type": _coalesce(rec.get("type"), delta_type),
        "status": status,
        "created_at": ts(created),
        "completed_at": ts(rec.get("completed_at")),
        "failed_at": ts(rec.get("failed_at")),
        "cancelled_at": ts(rec.get("cancelled_at")),
        "expired_at": ts(rec.get("expired_at")),
        "ended_at": ts(ended),
        "latency_s": seconds(ended, created),
        "last_error_code": err.get("code"),
        "last_error_message": err.get("message"),
        "message_id": _coalesce((details.get("message_creation") or {}).get("message_id"),
                                delta_message_id),
        "phase": None,  # a Responses message item's only
        "tool_call_count": 0,
        **usage_columns(rec.get("usage")),
        "metadata": metadata_text(rec.get("metadata")),
        "day": ts(created).date() if created is not None else None,
    }
    return row


STEP_COLUMNS = (
    "api", "step_id", "run_id", "thread_id", "assistant_id", "model", "type", "status",
    "created_at", "completed_at", "failed_at", "cancelled_at", "expired_at", "ended_at",
    "latency_s", "last_error_code", "last_error_message", "message_id", "phase",
    "tool_call_count",
    "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens",
    "metadata", "day",
)
# Columns only the Responses API fills (issue 21): NULL on Assistants rows.
BILLED_USAGE = ("cache_write_tokens", "web_search_requests", "image_gen_input_tokens",
                "image_gen_input_text_tokens", "image_gen_input_image_tokens",
                "image_gen_output_tokens", "image_gen_output_text_tokens",
                "image_gen_output_image_tokens", "image_gen_total_tokens")
RESPONSES_ONLY = (*BILLED_USAGE, "billing_payer", "prompt_cache_retention",
                  "reasoning_context", "reasoning_mode", "text_verbosity", "safety_identifier")
USAGE_COLUMNS = (
    "api", "step_id", "run_id", "assistant_id", "model", "type", "day", "prompt_tokens",
    "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens",
)


def run_row(rec: dict) -> dict:
    status = rec.get("status")
    ended = rec.get(RUN_END[status]) if status in RUN_END else None
    err = rec.get("last_error") or {}
    created, started = rec.get("created_at"), rec.get("started_at")
    return {
        "api": "assistants",
        "run_id": rec["id"],
        "thread_id": rec.get("thread_id"),
        "assistant_id": rec.get("assistant_id"),
        "model": rec.get("model"),
        "status": status,
        "created_at": ts(created),
        "started_at": ts(started),
        "completed_at": ts(rec.get("completed_at")),
        "failed_at": ts(rec.get("failed_at")),
        "cancelled_at": ts(rec.get("cancelled_at")),
        "expires_at": ts(rec.get("expires_at")),
        "ended_at": ts(ended),
        "last_error_code": err.get("code"),
        "last_error_message": err.get("message"),
        "incomplete_reason": (rec.get("incomplete_details") or {}).get("reason"),
        **usage_columns(rec.get("usage")),
        "queue_s": seconds(started, created),
        "duration_s": seconds(ended, started),
        "metadata": metadata_text(rec.get("metadata")),
        "day": ts(created).date() if created is not None else None,
        "previous_response_id": None,
        **dict.fromkeys(RESPONSES_ONLY),
    }


# --------------------------------------------------------------------------- metrics


def quantile_cont(sorted_values: list[float], q: float) -> float:
    """DuckDB `quantile_cont`: linear interpolation between closest ranks."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    a, b = sorted_values[lo], sorted_values[hi]
    return float(a) if lo == hi else a + (pos - lo) * (b - a)


def dimension_values(row: dict) -> list[tuple[str, str | None]]:
    day = row["day"]
    return [
        ("all", None),
        ("assistant_id", row["assistant_id"]),
        ("model", row["model"]),
        ("day", None if day is None else day.isoformat()),
        ("type", row["type"]),
        ("api", row["api"]),
    ]


def group_by_dimension(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows per (dimension, value); the `all` group exists even when there are no rows."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    groups[("all", None)] = []
    for row in rows:
        for key in dimension_values(row):
            groups[key].append(row)
    return groups


def step_latency(steps: list[dict]) -> list[dict]:
    done = [s for s in steps if s["status"] == "completed" and s["latency_s"] is not None]
    out = []
    for (dim, value), rows in group_by_dimension(done).items():
        lat = sorted(r["latency_s"] for r in rows)
        row = {"dimension": dim, "value": value, "n": len(lat), "mean_s": None, "p50_s": None,
               "p90_s": None, "p95_s": None, "p99_s": None, "max_s": None}
        if lat:
            row.update(mean_s=sum(lat) / len(lat), p50_s=quantile_cont(lat, 0.5),
                       p90_s=quantile_cont(lat, 0.9), p95_s=quantile_cont(lat, 0.95),
                       p99_s=quantile_cont(lat, 0.99), max_s=lat[-1])
        out.append(row)
    return out


def failure_rate(steps: list[dict]) -> list[dict]:
    terminal = [s for s in steps if s["status"] in STEP_TERMINAL]
    out = []
    for (dim, value), rows in group_by_dimension(terminal).items():
        n = Counter(r["status"] for r in rows)
        total = len(rows)
        out.append({
            "dimension": dim, "value": value, "terminal": total,
            "completed": n["completed"], "failed": n["failed"],
            "cancelled": n["cancelled"], "expired": n["expired"],
            "incomplete": n["incomplete"],
            "failure_rate": n["failed"] / total if total else None,
            "cancelled_rate": n["cancelled"] / total if total else None,
            "expired_rate": n["expired"] / total if total else None,
            "incomplete_rate": n["incomplete"] / total if total else None,
        })
    return out


def _sum_or_none(values) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def token_usage(usage: list[dict]) -> list[dict]:
    out = []
    for (dim, value), rows in group_by_dimension(usage).items():
        out.append({
            "dimension": dim, "value": value, "steps": len(rows),
            **{k: _sum_or_none(r[k] for r in rows)
               for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
        })
    return out


def tool_stats(tool_calls: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in tool_calls:
        groups[(c["api"], c["type"], None)].append(c)
    by_name: dict[tuple, list[dict]] = defaultdict(list)
    for c in tool_calls:
        if c["function_name"] is not None:
            by_name[(c["api"], c["type"], c["function_name"])].append(c)
    out = []
    for (api, kind, name), rows in list(groups.items()) + list(by_name.items()):
        in_terminal = sum(1 for r in rows if r["step_status"] in STEP_TERMINAL
                          or r["call_failed"])
        failed = sum(1 for r in rows if r["call_failed"])
        out.append({
            "api": api, "tool_type": kind, "function_name": name, "calls": len(rows),
            "failed_calls": failed,
            "failure_rate": failed / in_terminal if in_terminal else None,
        })
    return out


# --------------------------------------------------------------------------- main entry


def compute(paths) -> Result:
    """Expected tables, counts and metrics for the given files/directories."""
    return compute_read(read_inputs(paths))


def compute_read(read: _Read) -> Result:
    """Expected tables, counts and metrics from records already read (the Responses oracle
    reads mixed exports itself and hands the Assistants side here)."""
    kept = superseded = 0

    runs: dict[str, dict] = {}
    for run_id, recs in read.runs.items():
        runs[run_id] = max(recs, key=run_rank)
        kept += 1
        superseded += len(recs) - 1
    models = {run_id: rec.get("model") for run_id, rec in runs.items()}

    result = Result(runs=[run_row(r) for r in runs.values()], rejects=read.rejects,
                    lines_read=read.lines_read)
    for step_id in sorted(set(read.steps) | set(read.deltas)):
        recs = read.steps.get(step_id, [])
        all_deltas = read.deltas.get(step_id, [])
        deltas = [d[3] for d in without_duplicate_streams(all_deltas)]
        superseded += len(all_deltas) - len(deltas)
        winner = max(recs, key=step_rank) if recs else None
        if recs:
            kept += 1
            superseded += len(recs) - 1
        delta_type = delta_message_id = None
        calls = list(enumerate(((winner or {}).get("step_details") or {}).get("tool_calls")
                               or []))
        if winner is not None and winner.get("status") in STEP_TERMINAL:
            superseded += len(deltas)
        elif deltas:
            kept += len(deltas)
            calls, delta_type, delta_message_id = reassemble(deltas)
        step = step_row(step_id, winner, models, delta_type, delta_message_id)
        rows = [tool_call_row(call, i, step) for i, call in calls]
        step["tool_call_count"] = len(rows)
        result.steps.append(step)
        result.tool_calls.extend(rows)
        if winner is not None and isinstance(winner.get("usage"), dict):
            result.usage.append({**{k: step[k] for k in USAGE_COLUMNS},
                                 **dict.fromkeys(BILLED_USAGE)})

    skipped = sum(read.skipped.values())
    result.counts = {
        "records_read": read.records_read,
        "kept": kept,
        "superseded": superseded,
        "rejected": len(read.rejects),
        "skipped": skipped,
    }
    assert read.records_read == kept + superseded + len(read.rejects) + skipped
    result.skipped_by_shape = dict(sorted(read.skipped.items()))
    result.step_latency = step_latency(result.steps)
    result.failure_rate = failure_rate(result.steps)
    result.token_usage = token_usage(result.usage)
    result.tool_stats = tool_stats(result.tool_calls)
    return result
