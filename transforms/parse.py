"""Decode exported lines into typed record frames: the one place that touches raw JSON.

Why a Python loop over `orjson` rather than Polars' `str.json_decode`: measured here on
steps with nested tool calls, `json_decode` with a full struct dtype read 42 MB/s and
raises for the whole batch on the first malformed line or wrong-typed field, while this
loop (orjson, garbage collector paused, values appended to column lists) reads about
85 MB/s per core and can reject one line with a reason naming the field, keeping the
rest. Everything after this module is Polars expressions.

Output: `ParsedBatch`, frames matching `transforms.schemas` record schemas, plus the
counts the ingest summary balances (README, "Accounting").
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import polars as pl

from transforms import schemas

RAW_LIMIT = 4096  # characters of an offending line kept in `rejects.raw`
_MAX_TS = 253402300799  # 9999-12-31T23:59:59Z: beyond it a timestamp cannot be stored
_I64 = 1 << 63
_SORT = orjson.OPT_SORT_KEYS

STEP_EVENTS = frozenset(
    "thread.run.step." + s
    for s in ("created", "in_progress", "completed", "failed", "cancelled", "expired")
)


class BadRecord(ValueError):
    """A record that cannot be kept; the message is the reason shown in `rejects`."""


_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean",
              dict: "object", list: "array", type(None): "null"}


def _tname(v: object) -> str:
    return _JSON_TYPE.get(type(v), type(v).__name__)


def _int(o: dict, key: str, where: str = "") -> int | None:
    v = o.get(key)
    if v is None:
        return None
    if type(v) is int and -_I64 <= v < _I64:
        return v
    if type(v) is int:
        raise BadRecord(f"{where}{key}: integer out of range")
    raise BadRecord(f"{where}{key}: expected integer, got {_tname(v)}")


def _ts(o: dict, key: str, where: str = "") -> int | None:
    v = o.get(key)
    if v is None:
        return None
    if type(v) is int and 0 <= v <= _MAX_TS:
        return v
    if type(v) is int:
        raise BadRecord(f"{where}{key}: timestamp out of range ({v})")
    raise BadRecord(f"{where}{key}: expected integer Unix seconds, got {_tname(v)}")


def _str(o: dict, key: str, where: str = "") -> str | None:
    v = o.get(key)
    if v is None or type(v) is str:
        return v
    raise BadRecord(f"{where}{key}: expected string, got {_tname(v)}")


def _obj(o: dict | None, key: str, where: str = "") -> dict | None:
    if o is None:
        return None
    v = o.get(key)
    if v is None or type(v) is dict:
        return v
    raise BadRecord(f"{where}{key}: expected object, got {_tname(v)}")


def _list(o: dict | None, key: str, where: str = "") -> list | None:
    if o is None:
        return None
    v = o.get(key)
    if v is None or type(v) is list:
        return v
    raise BadRecord(f"{where}{key}: expected array, got {_tname(v)}")


def _item(seq: list, i: int, where: str) -> dict:
    v = seq[i]
    if type(v) is not dict:
        raise BadRecord(f"{where}[{i}]: expected object, got {_tname(v)}")
    return v


TIMESTAMP_FIELDS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
                    "expired_at", "expires_at")


def _timestamps(o: dict) -> dict[str, int | None]:
    """Every timestamp field a step or run may carry, checked whether used or not."""
    return {k: _ts(o, k) for k in TIMESTAMP_FIELDS}


def _usage(o: dict) -> tuple:
    """(usage_present, prompt, completion, total, cached, reasoning)."""
    u = _obj(o, "usage")
    if u is None:
        return (False, None, None, None, None, None)
    spelled = _obj(u, "prompt_token_details", "usage.")  # how the API spells it
    details = spelled or _obj(u, "prompt_tokens_details", "usage.")
    if spelled:
        _obj(u, "prompt_tokens_details", "usage.")
    completion_details = _obj(u, "completion_tokens_details", "usage.")
    return (
        True,
        _int(u, "prompt_tokens", "usage."),
        _int(u, "completion_tokens", "usage."),
        _int(u, "total_tokens", "usage."),
        _int(details, "cached_tokens", "usage.prompt_token_details.") if details else None,
        _int(completion_details, "reasoning_tokens", "usage.completion_tokens_details.")
        if completion_details
        else None,
    )


def _error(o: dict) -> tuple[str | None, str | None]:
    e = _obj(o, "last_error")
    if e is None:
        return None, None
    return _str(e, "code", "last_error."), _str(e, "message", "last_error.")


def _metadata(o: dict) -> str | None:
    m = o.get("metadata")
    if m is None:
        return None
    if type(m) is not dict:
        raise BadRecord(f"metadata: expected object, got {_tname(m)}")
    return orjson.dumps(m, option=_SORT).decode()


def _canon(o: dict) -> tuple[int, int]:
    b = orjson.dumps(o, option=_SORT)
    return len(b), zlib.crc32(b)


def _code_outputs(outputs: list | None, where: str) -> tuple[int, int]:
    """(log characters, image count) of code-interpreter outputs."""
    chars = images = 0
    for i in range(len(outputs or ())):
        out = _item(outputs, i, where)
        kind = _str(out, "type", f"{where}[{i}].")
        logs = _str(out, "logs", f"{where}[{i}].")
        image = _obj(out, "image", f"{where}[{i}].")
        if image:
            _str(image, "file_id", f"{where}[{i}].image.")
        if kind == "logs":
            chars += len(logs or "")
        elif kind == "image":
            images += 1
    return chars, images


def _results_count(call: dict, where: str) -> int | None:
    fs = _obj(call, "file_search", where)
    results = _list(fs, "results", f"{where}file_search.")
    return None if results is None else len(results)


def _call_fields(call: dict, where: str) -> tuple:
    """(id, type, name, arguments, output, code input, code outputs, file_search results)

    Every known sub-object is type-checked whatever the call's `type` says; which of
    these columns a call keeps is decided by its type later (`transforms.steps`).
    """
    fn = _obj(call, "function", where)
    ci = _obj(call, "code_interpreter", where)
    fn_where, ci_where = where + "function.", where + "code_interpreter."
    return (
        _str(call, "id", where), _str(call, "type", where),
        _str(fn, "name", fn_where) if fn else None,
        _str(fn, "arguments", fn_where) if fn else None,
        _str(fn, "output", fn_where) if fn else None,
        _str(ci, "input", ci_where) if ci else None,
        _list(ci, "outputs", ci_where),
        _results_count(call, where),
    )


class _Columns:
    """Column-oriented buffer for one record schema."""

    def __init__(self, schema: pl.Schema) -> None:
        self.schema = schema
        self.names = list(schema.names())
        self.cols: list[list] = [[] for _ in self.names]

    def add(self, row: tuple) -> None:
        for col, v in zip(self.cols, row, strict=True):
            col.append(v)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(dict(zip(self.names, self.cols, strict=True)), schema=self.schema)


@dataclass
class ParsedBatch:
    """Record frames decoded from some lines, with the counts that must balance."""

    step_records: pl.DataFrame
    tool_call_records: pl.DataFrame
    run_records: pl.DataFrame
    delta_events: pl.DataFrame
    delta_calls: pl.DataFrame
    delta_outputs: pl.DataFrame
    rejects: pl.DataFrame
    skipped: pl.DataFrame
    lines_read: int = 0
    records_read: int = 0
    bytes_read: int = 0

    def skipped_by_shape(self) -> dict[str, int]:
        counts = self.skipped.group_by("shape").len().sort("shape")
        return dict(zip(counts["shape"], counts["len"], strict=True))

    FRAMES = ("step_records", "tool_call_records", "run_records", "delta_events",
              "delta_calls", "delta_outputs", "rejects", "skipped")

    def shift_lines(self, offset: int) -> ParsedBatch:
        """The same batch with every line number moved by `offset` (for split files)."""
        if offset == 0:
            return self
        frames = {}
        for name in self.FRAMES:
            frame = getattr(self, name)
            col = "line_no" if name in ("rejects", "skipped") else "rec_line"
            frames[name] = (frame.with_columns(pl.col(col) + offset)
                            if col in frame.columns else frame)
        return ParsedBatch(**frames, lines_read=self.lines_read,
                           records_read=self.records_read, bytes_read=self.bytes_read)

    @classmethod
    def concat(cls, batches: Iterable[ParsedBatch]) -> ParsedBatch:
        batches = list(batches)
        if not batches:
            return Parser("").result()
        frames = {
            name: pl.concat([getattr(b, name) for b in batches], how="vertical")
            for name in cls.FRAMES
        }
        return cls(
            **frames,
            lines_read=sum(b.lines_read for b in batches),
            records_read=sum(b.records_read for b in batches),
            bytes_read=sum(b.bytes_read for b in batches),
        )


@dataclass
class Parser:
    """Feed it lines (or SSE events) of one source file; `result()` gives the frames."""

    source_file: str
    lines_read: int = 0
    records_read: int = 0
    bytes_read: int = 0

    def __post_init__(self) -> None:
        self._steps = _Columns(schemas.STEP_RECORDS)
        self._calls = _Columns(schemas.TOOL_CALL_RECORDS)
        self._runs = _Columns(schemas.RUN_RECORDS)
        self._devents = _Columns(schemas.DELTA_EVENTS)
        self._dcalls = _Columns(schemas.DELTA_CALLS)
        self._douts = _Columns(schemas.DELTA_OUTPUTS)
        self._rejects = _Columns(schemas.REJECTS)
        self._skipped = _Columns(schemas.SKIPPED)

    # ---- entry points -----------------------------------------------------------------

    def feed_lines(self, lines: Iterable[tuple[int, bytes]]) -> None:
        """Decode JSON lines given as (1-based line number, raw bytes)."""
        enabled = gc.isenabled()
        gc.disable()  # millions of small dicts: the collector would triple the cost
        try:
            for line_no, raw in lines:
                self.feed_line(line_no, raw)
        finally:
            if enabled:
                gc.enable()

    def feed_line(self, line_no: int, raw: bytes) -> None:
        self.lines_read += 1
        self.bytes_read += len(raw) + 1
        text = raw.strip()
        if not text:
            self.records_read += 1
            self._skip(line_no, "blank")
            return
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            self.records_read += 1
            self._reject(line_no, f"invalid JSON: {e}", text)
            return
        value_is_page = type(value) is dict and value.get("object") == "list" and "data" in value
        if value_is_page:
            self._list_page(line_no, value, text)  # counts one record per item
            return
        self.records_read += 1
        if type(value) is not dict:
            self._reject(line_no, f"not a JSON object (got {_tname(value)})", text)
            return
        self._value(line_no, -1, value, text)

    def feed_event(self, line_no: int, event: str | None, data: bytes) -> None:
        """One raw SSE block: `event: NAME` and its (joined) `data:` payload."""
        self.records_read += 1
        self.bytes_read += len(data)
        text = data.strip()
        if text == b"[DONE]":
            self._skip(line_no, event or "done")
            return
        try:
            payload = orjson.loads(text) if text else None
        except orjson.JSONDecodeError as e:
            self._reject(line_no, f"invalid JSON in SSE data: {e}", text)
            return
        if event is None:  # a block with no `event:` field carries a bare value
            if type(payload) is not dict:
                self._reject(line_no, f"SSE data is not a JSON object (got {_tname(payload)})",
                             text)
                return
            self._value(line_no, -1, payload, text)
            return
        self._value(line_no, -1, {"event": event, "data": payload}, text)

    def result(self) -> ParsedBatch:
        return ParsedBatch(
            step_records=self._steps.frame(),
            tool_call_records=self._calls.frame(),
            run_records=self._runs.frame(),
            delta_events=self._devents.frame(),
            delta_calls=self._dcalls.frame(),
            delta_outputs=self._douts.frame(),
            rejects=self._rejects.frame(),
            skipped=self._skipped.frame(),
            lines_read=self.lines_read,
            records_read=self.records_read,
            bytes_read=self.bytes_read,
        )

    # ---- dispatch ---------------------------------------------------------------------

    def _skip(self, line_no: int, shape: str) -> None:
        self._skipped.add((self.source_file, line_no, shape))

    def _reject(self, line_no: int, reason: str, raw: bytes | str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self._rejects.add((self.source_file, line_no, reason, text[:RAW_LIMIT]))

    def _list_page(self, line_no: int, page: dict, text: bytes) -> None:
        data = page["data"]
        if type(data) is not list:
            self.records_read += 1
            self._reject(line_no, f"list page: data is {_tname(data)}, not an array", text)
            return
        if not data:
            self.records_read += 1
            self._skip(line_no, "empty_list")
            return
        for i, item in enumerate(data):
            self.records_read += 1
            if type(item) is not dict:
                self._reject(line_no, f"data[{i}]: expected object, got {_tname(item)}",
                             orjson.dumps(item))
                continue
            self._value(line_no, i, item, None, prefix=f"data[{i}]: ")

    def _value(self, line_no: int, item: int, value: dict, text: bytes | None,
               prefix: str = "") -> None:
        """Dispatch one record (a line, a list item or an SSE block) by its shape."""
        try:
            if "event" in value and "object" not in value:
                self._envelope(line_no, item, value)
            else:
                self._object(line_no, item, value, value.get("object"))
        except BadRecord as e:
            raw = text if text is not None else orjson.dumps(value)
            self._reject(line_no, f"{prefix}{e}", raw)

    def _envelope(self, line_no: int, item: int, env: dict) -> None:
        event = env.get("event")
        if type(event) is not str:
            raise BadRecord(f"event: expected string, got {_tname(event)}")
        data = env.get("data")
        if type(data) is not dict:
            if event.startswith("thread.run."):
                raise BadRecord(f"{event}: data is {_tname(data)}, not an object")
            self._skip(line_no, event)
            return
        kind = data.get("object")
        if kind is None:  # exporters that dropped `object`: trust the event name
            if event == "thread.run.step.delta":
                kind = "thread.run.step.delta"
            elif event in STEP_EVENTS:
                kind = "thread.run.step"
            elif event.startswith("thread.run."):
                kind = "thread.run"
        if type(kind) is str and kind in _HANDLERS:
            self._object(line_no, item, data, kind, prefix="data.")
        else:
            self._skip(line_no, event)

    def _object(self, line_no: int, item: int, o: dict, kind: object, prefix: str = "") -> None:
        handler = _HANDLERS.get(kind) if type(kind) is str else None
        if handler is None:
            self._skip(line_no, kind if type(kind) is str else "unknown")
            return
        try:
            handler(self, line_no, item, o)
        except BadRecord as e:
            raise BadRecord(f"{prefix}{e}") from None

    # ---- record handlers --------------------------------------------------------------

    def _step(self, line_no: int, item: int, o: dict) -> None:
        step_id = o.get("id")
        if type(step_id) is not str:
            raise BadRecord(f"id: expected string, got {_tname(step_id)}")
        details = _obj(o, "step_details")
        if details:
            _str(details, "type", "step_details.")
        creation = _obj(details, "message_creation", "step_details.")
        calls = _list(details, "tool_calls", "step_details.")
        code, message = _error(o)
        ts = _timestamps(o)
        call_rows = [
            self._tool_call(line_no, item, step_id, i, _item(calls, i, "step_details.tool_calls"))
            for i in range(len(calls or ()))
        ]
        row = (
            self.source_file, line_no, item, step_id,
            _str(o, "run_id"), _str(o, "thread_id"), _str(o, "assistant_id"),
            _str(o, "type"), _str(o, "status"),
            ts["created_at"], ts["completed_at"], ts["failed_at"], ts["cancelled_at"],
            ts["expired_at"], code, message,
            _str(creation, "message_id", "step_details.message_creation.") if creation else None,
            *_usage(o), _metadata(o), *_canon(o),
        )
        self._steps.add(row)
        for r in call_rows:
            self._calls.add(r)

    def _tool_call(self, line_no: int, item: int, step_id: str, i: int, call: dict) -> tuple:
        where = f"step_details.tool_calls[{i}]."
        call_id, kind, name, args, output, code, outputs, results = _call_fields(call, where)
        chars, images = _code_outputs(outputs, where + "code_interpreter.outputs")
        return (self.source_file, line_no, item, step_id, i, call_id, kind, name, args,
                output, code, chars, images, results)

    def _run(self, line_no: int, item: int, o: dict) -> None:
        run_id = o.get("id")
        if type(run_id) is not str:
            raise BadRecord(f"id: expected string, got {_tname(run_id)}")
        code, message = _error(o)
        incomplete = _obj(o, "incomplete_details")
        ts = _timestamps(o)
        self._runs.add((
            self.source_file, line_no, item, run_id,
            _str(o, "thread_id"), _str(o, "assistant_id"), _str(o, "model"), _str(o, "status"),
            ts["created_at"], ts["started_at"], ts["completed_at"], ts["failed_at"],
            ts["cancelled_at"], ts["expires_at"],
            code, message,
            _str(incomplete, "reason", "incomplete_details.") if incomplete else None,
            *_usage(o), _metadata(o), *_canon(o),
        ))

    def _delta(self, line_no: int, item: int, o: dict) -> None:
        step_id = o.get("id")
        if type(step_id) is not str:
            raise BadRecord(f"id: expected string, got {_tname(step_id)}")
        delta = _obj(o, "delta")
        details = _obj(delta, "step_details", "delta.")
        creation = _obj(details, "message_creation", "delta.step_details.")
        calls = _list(details, "tool_calls", "delta.step_details.") or []
        call_rows, output_rows = [], []
        for pos in range(len(calls)):
            where = f"delta.step_details.tool_calls[{pos}]."
            call = _item(calls, pos, "delta.step_details.tool_calls")
            index = _int(call, "index", where)
            index = pos if index is None else index
            call_id, kind, name, args, output, code, outputs, results = _call_fields(call, where)
            for opos in range(len(outputs or ())):
                owhere = f"{where}code_interpreter.outputs[{opos}]."
                out = _item(outputs, opos, where + "code_interpreter.outputs")
                oindex = _int(out, "index", owhere)
                image = _obj(out, "image", owhere)
                output_rows.append((
                    self.source_file, line_no, item, opos, step_id, index,
                    opos if oindex is None else oindex,
                    _str(out, "type", owhere), _str(out, "logs", owhere),
                    _str(image, "file_id", owhere + "image.") if image else None,
                ))
            call_rows.append((self.source_file, line_no, item, pos, step_id, index, call_id,
                              kind, name, args, output, code, results))
        self._devents.add((
            self.source_file, line_no, item, step_id,
            _str(details, "type", "delta.step_details.") if details else None,
            _str(creation, "message_id", "delta.step_details.message_creation.")
            if creation else None,
            _canon(o)[1],
        ))
        for r in call_rows:
            self._dcalls.add(r)
        for r in output_rows:
            self._douts.add(r)


_HANDLERS = {
    "thread.run.step": Parser._step,
    "thread.run": Parser._run,
    "thread.run.step.delta": Parser._delta,
}


def parse_lines(source_file: str, lines: Iterable[tuple[int, bytes]]) -> ParsedBatch:
    """Decode (line number, raw bytes) pairs of one file into record frames."""
    parser = Parser(source_file)
    parser.feed_lines(lines)
    return parser.result()


def parse_document(source_file: str, data: bytes) -> ParsedBatch:
    """Decode a whole pretty-printed JSON document: an object, or an array of objects.

    It is read as if it were one line (line 1); an array is read like a list page.
    """
    parser = Parser(source_file)
    text = data.removeprefix(b"\xef\xbb\xbf")
    value = orjson.loads(text)
    if type(value) is list:
        parser.feed_line(1, orjson.dumps({"object": "list", "data": value}))
    else:
        parser.feed_line(1, text)
    parser.lines_read = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    parser.bytes_read = len(data)
    return parser.result()


def parse_events(source_file: str, events: Iterable[tuple[int, str | None, bytes]]) -> ParsedBatch:
    """Decode raw SSE blocks (line number, event name, data bytes) of one file."""
    parser = Parser(source_file)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for line_no, event, data in events:
            parser.feed_event(line_no, event, data)
    finally:
        if enabled:
            gc.enable()
    return parser.result()
