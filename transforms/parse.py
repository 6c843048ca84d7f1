"""Decode exported lines into typed record frames: the one place that touches raw JSON.

Why a Python loop over `orjson` rather than Polars' `str.json_decode`: measured here on
steps with nested tool calls, `json_decode` with a full struct dtype read 42 MB/s and
raises for the whole batch on the first malformed line or wrong-typed field. This loop
reads several times faster and rejects one record with a reason naming the field,
keeping the rest. Everything after this module is Polars expressions.

Two passes, one rulebook (`record_spec`). The fast pass extracts values without
checking their types, then checks each column in bulk (`set(map(type, column))`) and the
timestamp ranges with Polars: on valid data, which is nearly all data, that is the only
work. Structural surprises (a string where an object belongs) raise inside the
extractor and send that one record to `record_spec.check`, which names the field. If a
bulk check fails, the chunk is decoded again in the careful pass, where every record is
checked field by field before it is extracted. Both passes give identical frames on
valid input (tests/test_parse.py checks it).

Output: `ParsedBatch`, frames matching the `transforms.schemas` record schemas, plus the
counts the ingest summary balances (README, "Accounting").
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson
import polars as pl

from steplens.transforms import record_spec, schemas
from steplens.transforms.record_spec import MAX_TS, type_name

RAW_LIMIT = 4096  # characters of an offending line kept in `rejects.raw`
_SORT = orjson.OPT_SORT_KEYS
_EMPTY: dict = {}
_NONE = type(None)

STEP_EVENTS = frozenset(
    "thread.run.step." + s
    for s in ("created", "in_progress", "completed", "failed", "cancelled", "expired")
)
_SPECS = {"thread.run.step": record_spec.STEP, "thread.run": record_spec.RUN,
          "thread.run.step.delta": record_spec.DELTA}


class BadRecord(ValueError):
    """A record that cannot be kept; the message is the reason shown in `rejects`."""


class _BulkCheckFailed(Exception):
    """A column of the fast pass holds a value of the wrong type: decode carefully."""


# ---- extraction (no type checks: see the module docstring) ------------------------------

def _dict(v: object) -> dict:
    """`v` if it is an object, {} for null; anything else raises (-> careful check)."""
    if v is None:
        return _EMPTY
    if v.__class__ is not dict:
        raise BadRecord
    return v


def _array(v: object) -> list | tuple:
    if v is None:
        return ()
    if v.__class__ is not list:
        raise BadRecord
    return v


def _canon(o: dict) -> tuple[int, int]:
    b = orjson.dumps(o, option=_SORT)
    return len(b), zlib.crc32(b)


def _metadata(o: dict) -> str | None:
    m = o.get("metadata")
    if m is None:
        return None
    if m.__class__ is not dict:
        raise BadRecord
    return orjson.dumps(m, option=_SORT).decode()


def _usage(o: dict, extra_int: list) -> tuple:
    """(usage_present, prompt, completion, total, cached, reasoning)."""
    u = o.get("usage")
    if u is None:
        return (False, None, None, None, None, None)
    if u.__class__ is not dict:
        raise BadRecord
    spelled = _dict(u.get("prompt_token_details"))  # how the API spells it
    other = _dict(u.get("prompt_tokens_details"))
    cached = spelled.get("cached_tokens")
    if cached is None:
        cached = other.get("cached_tokens")
    else:
        extra_int.append(other.get("cached_tokens"))
    return (True, u.get("prompt_tokens"), u.get("completion_tokens"), u.get("total_tokens"),
            cached, _dict(u.get("completion_tokens_details")).get("reasoning_tokens"))


def _call(call: dict) -> tuple:
    """(id, type, name, arguments, output, code input, outputs, file_search result count,
    best file_search score)"""
    fn = _dict(call.get("function"))
    ci = _dict(call.get("code_interpreter"))
    results = _dict(call.get("file_search")).get("results")
    count = best = None
    if results is not None:
        if results.__class__ is not list:
            raise BadRecord
        count = len(results)
        scores = [s for s in (r.get("score") for r in results) if s is not None]
        if scores:
            if not set(map(type, scores)) <= _NUM_TYPES:
                raise BadRecord
            best = float(max(scores))
    return (call.get("id"), call.get("type"), fn.get("name"), fn.get("arguments"),
            fn.get("output"), ci.get("input"), _array(ci.get("outputs")), count, best)


def _code_outputs(outputs: list | tuple, extra_str: list) -> tuple[int, int]:
    """(log characters, image count) of code-interpreter outputs."""
    chars = images = 0
    for out in outputs:
        kind = out.get("type")
        logs = out.get("logs")
        extra_str.append(kind)
        extra_str.append(_dict(out.get("image")).get("file_id"))
        if kind == "logs":
            if logs is not None:
                if logs.__class__ is not str:
                    raise BadRecord
                chars += len(logs)
        else:
            extra_str.append(logs)
        if kind == "image":
            images += 1
    return chars, images


# ---- the decoder ------------------------------------------------------------------------

def _is_page(value: object) -> bool:
    return value.__class__ is dict and value.get("object") == "list" and "data" in value


def _page_items(page: dict, where: str):
    """(reason prefix, item, problem or None) for every item of a page, nested pages flat."""
    data = page["data"]
    if data.__class__ is not list:
        yield where, page, f"list page: data is {type_name(data)}, not an array"
        return
    for i, item in enumerate(data):
        at = f"{where}data[{i}]: "
        if _is_page(item):
            yield from _page_items(item, at)
        elif item.__class__ is not dict:
            yield at, item, f"expected object, got {type_name(item)}"
        else:
            yield at, item, None


_NUM_TYPES = {int, float}
_STR_TYPES = {str, _NONE}
_INT_TYPES = {int, _NONE}


class _Decoder:
    """One pass over one source file's records; `careful` checks every record first."""

    def __init__(self, source_file: str, careful: bool) -> None:
        self.source_file = source_file
        self.careful = careful
        self.lines_read = 0
        self.records_read = 0
        self.bytes_read = 0
        self.rows: dict[str, list[tuple]] = {name: [] for name in _FRAME_SCHEMAS}
        # Values checked but not stored (a step's `expires_at`, an image's file id...).
        self.extra_str: list = []
        self.extra_int: list = []
        self.extra_ts: list = []

    # ---- entry points ---------------------------------------------------------------

    def line(self, line_no: int, raw: bytes) -> None:
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
        self._top(line_no, value, text)

    def event(self, line_no: int, event: str | None, data: bytes) -> None:
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
            self.records_read -= 1  # _top counts it (or its page's items)
            self._top(line_no, payload, text)
            return
        self._value(line_no, -1, {"event": event, "data": payload}, text)

    # ---- dispatch -------------------------------------------------------------------

    def _skip(self, line_no: int, shape: str) -> None:
        self.rows["skipped"].append((self.source_file, line_no, shape))

    def _reject(self, line_no: int, reason: str, raw: bytes | str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self.rows["rejects"].append((self.source_file, line_no, reason, text[:RAW_LIMIT]))

    def _top(self, line_no: int, value: object, text: bytes) -> None:
        """A whole line (or bare SSE payload): a list page, or one record."""
        if _is_page(value):
            self._list_page(line_no, value, text)  # counts one record per item
            return
        self.records_read += 1
        if value.__class__ is not dict:
            self._reject(line_no, f"not a JSON object (got {type_name(value)})", text)
            return
        self._value(line_no, -1, value, text)

    def _list_page(self, line_no: int, page: dict, text: bytes) -> None:
        """Each item of a list page is read as if it were its own line (pages nest)."""
        items = list(_page_items(page, ""))
        if not items:
            self.records_read += 1
            self._skip(line_no, "empty_list")
            return
        for n, (where, item, problem) in enumerate(items):
            self.records_read += 1
            if problem is not None:
                self._reject(line_no, f"{where}{problem}",
                             text if where == "" else orjson.dumps(item))
            else:
                self._value(line_no, n, item, None, prefix=where)

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
        if event.__class__ is not str:
            raise BadRecord(f"event: expected string, got {type_name(event)}")
        data = env.get("data")
        if data.__class__ is not dict:
            if event.startswith("thread.run."):
                raise BadRecord(f"{event}: data is {type_name(data)}, not an object")
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
        if kind.__class__ is str and kind in _EXTRACTORS:
            self._object(line_no, item, data, kind, prefix="data.")
        else:
            self._skip(line_no, event)

    def _object(self, line_no: int, item: int, o: dict, kind: object, prefix: str = "") -> None:
        extract = _EXTRACTORS.get(kind) if kind.__class__ is str else None
        if extract is None:
            self._skip(line_no, kind if kind.__class__ is str else "unknown")
            return
        spec = _SPECS[kind]
        reason = record_spec.check(o, spec) if self.careful else None
        if reason is None:
            try:
                rows = extract(self, o)
            except Exception as e:  # noqa: BLE001 - any surprise: let the rulebook explain
                reason = record_spec.check(o, spec) or f"unexpected shape ({type(e).__name__})"
        if reason is not None:
            raise BadRecord(f"{prefix}{reason}")
        head = (self.source_file, line_no, item,
                zlib.crc32(o["id"].encode("utf-8", "surrogatepass")) & (schemas.BUCKETS - 1))
        for name, frame_rows in rows:
            frame = self.rows[name]
            for row in frame_rows:
                frame.append(head + row)

    # ---- result ---------------------------------------------------------------------

    def frames(self) -> dict[str, pl.DataFrame]:
        """Build the frames; in the fast pass, raise `_BulkCheckFailed` on a wrong type."""
        frames = {}
        for name, schema in _FRAME_SCHEMAS.items():
            rows = self.rows[name]
            # One pass over the rows (zip), not one per column: rows sit scattered among
            # the parsed objects, and every extra pass pays the cache misses again.
            columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
            cols = {col: list(values) for col, values in zip(schema.names(), columns,
                                                             strict=True)}
            if not self.careful:
                for col, dtype in schema.items():
                    allowed = _STR_TYPES if dtype == pl.String else (
                        _INT_TYPES if dtype == pl.Int64 else None)
                    if allowed is not None and not set(map(type, cols[col])) <= allowed:
                        raise _BulkCheckFailed(f"{name}.{col}")
            try:
                frames[name] = pl.DataFrame(cols, schema=schema, strict=True)
            except (TypeError, OverflowError, pl.exceptions.PolarsError) as e:
                raise _BulkCheckFailed(f"{name}: {e}") from None
        if not self.careful:
            if not (set(map(type, self.extra_str)) <= _STR_TYPES
                    and set(map(type, self.extra_int)) <= _INT_TYPES
                    and set(map(type, self.extra_ts)) <= _INT_TYPES):
                raise _BulkCheckFailed("unstored fields")
            ints = [v for v in self.extra_int if v is not None]
            stamps = [v for v in self.extra_ts if v is not None]
            if (ints and not -record_spec.I64 <= min(ints) <= max(ints) < record_spec.I64) or (
                    stamps and not 0 <= min(stamps) <= max(stamps) <= MAX_TS):
                raise _BulkCheckFailed("range")
            for name, cols in _TIMESTAMP_COLUMNS.items():
                bad = frames[name].select(
                    pl.any_horizontal((pl.col(c) < 0) | (pl.col(c) > MAX_TS) for c in cols).any()
                ).item()
                if bad:
                    raise _BulkCheckFailed(f"{name}: timestamp out of range")
        return frames

    def result(self) -> ParsedBatch:
        return ParsedBatch(**self.frames(), lines_read=self.lines_read,
                           records_read=self.records_read, bytes_read=self.bytes_read)


def _step(d: _Decoder, o: dict) -> list[tuple[str, list[tuple]]]:
    g = o.get
    details = _dict(g("step_details"))
    d.extra_str.append(details.get("type"))
    creation = _dict(details.get("message_creation"))
    calls = []
    for i, call in enumerate(_array(details.get("tool_calls"))):
        call_id, kind, name, args, output, code, outputs, results, score = _call(call)
        chars, images = _code_outputs(outputs, d.extra_str)
        calls.append((o["id"], i, call_id, kind, name, args, output, code, chars, images,
                      results, score))
    error = _dict(g("last_error"))
    d.extra_ts.append(g("started_at"))
    d.extra_ts.append(g("expires_at"))
    step = (
        g("id"), g("run_id"), g("thread_id"), g("assistant_id"), g("type"), g("status"),
        g("created_at"), g("completed_at"), g("failed_at"), g("cancelled_at"),
        g("expired_at"), error.get("code"), error.get("message"), creation.get("message_id"),
        *_usage(o, d.extra_int), _metadata(o), *_canon(o),
    )
    if step[0].__class__ is not str:
        raise BadRecord
    return [("step_records", [step]), ("tool_call_records", calls)]


def _run(d: _Decoder, o: dict) -> list[tuple[str, list[tuple]]]:
    g = o.get
    error = _dict(g("last_error"))
    d.extra_ts.append(g("expired_at"))
    run = (
        g("id"), g("thread_id"), g("assistant_id"), g("model"), g("status"),
        g("created_at"), g("started_at"), g("completed_at"), g("failed_at"),
        g("cancelled_at"), g("expires_at"), error.get("code"), error.get("message"),
        _dict(g("incomplete_details")).get("reason"),
        *_usage(o, d.extra_int), _metadata(o), *_canon(o),
    )
    if run[0].__class__ is not str:
        raise BadRecord
    return [("run_records", [run])]


def _delta(d: _Decoder, o: dict) -> list[tuple[str, list[tuple]]]:
    step_id = o.get("id")
    if step_id.__class__ is not str:
        raise BadRecord
    details = _dict(_dict(o.get("delta")).get("step_details"))
    calls, outputs = [], []
    for pos, call in enumerate(_array(details.get("tool_calls"))):
        index = call.get("index")
        index = pos if index is None else index
        call_id, kind, name, args, output, code, outs, results, score = _call(call)
        for opos, out in enumerate(outs):
            oindex = out.get("index")
            outputs.append((opos, step_id, index, opos if oindex is None else oindex,
                            out.get("type"), out.get("logs"),
                            _dict(out.get("image")).get("file_id")))
        calls.append((pos, step_id, index, call_id, kind, name, args, output, code, results,
                      score))
    event = (step_id, details.get("type"),
             _dict(details.get("message_creation")).get("message_id"), _canon(o)[1])
    return [("delta_events", [event]), ("delta_calls", calls), ("delta_outputs", outputs)]


_EXTRACTORS: dict[str, Callable] = {
    "thread.run.step": _step,
    "thread.run": _run,
    "thread.run.step.delta": _delta,
}
_FRAME_SCHEMAS = schemas.RECORD_FRAMES
_TIMESTAMP_COLUMNS = {
    "step_records": ["created_at", "completed_at", "failed_at", "cancelled_at", "expired_at"],
    "run_records": ["created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
                    "expires_at"],
}


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
            return _Decoder("", careful=False).result()
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


def _decode(source_file: str, feed: Callable[[_Decoder], None]) -> ParsedBatch:
    """Run `feed` in the fast pass; on a failed bulk check, again in the careful pass."""
    enabled = gc.isenabled()
    gc.disable()  # millions of small dicts: the collector would triple the cost
    try:
        decoder = _Decoder(source_file, careful=False)
        feed(decoder)
        try:
            return decoder.result()
        except _BulkCheckFailed:
            decoder = _Decoder(source_file, careful=True)
            feed(decoder)
            return decoder.result()
    finally:
        if enabled:
            gc.enable()


def parse_lines(source_file: str, lines: Iterable[tuple[int, bytes]],
                careful: bool = False) -> ParsedBatch:
    """Decode (line number, raw bytes) pairs of one file into record frames."""
    lines = list(lines)

    def feed(decoder: _Decoder) -> None:
        for line_no, raw in lines:
            decoder.line(line_no, raw)

    if careful:
        decoder = _Decoder(source_file, careful=True)
        feed(decoder)
        return decoder.result()
    return _decode(source_file, feed)


def parse_events(source_file: str, events: Iterable[tuple[int, str | None, bytes]]
                 ) -> ParsedBatch:
    """Decode raw SSE blocks (line number, event name, data bytes) of one file."""
    events = list(events)

    def feed(decoder: _Decoder) -> None:
        for line_no, event, data in events:
            decoder.event(line_no, event, data)

    return _decode(source_file, feed)


def parse_document(source_file: str, data: bytes) -> ParsedBatch:
    """Decode a whole pretty-printed JSON document: an object, or an array of objects.

    It is read as if it were one line (line 1); an array is read like a list page.
    """
    text = data.removeprefix(b"\xef\xbb\xbf")
    value = orjson.loads(text)
    line = orjson.dumps({"object": "list", "data": value}) if type(value) is list else text
    batch = parse_lines(source_file, [(1, line)])
    batch.lines_read = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    batch.bytes_read = len(data)
    return batch
