"""The native fast path of the parser: valid records decoded by msgspec, in C.

Why msgspec, and not DuckDB or Polars (measured on the benchmark export, see
benchmarks/README.md, "Choosing the decoder"): msgspec decodes a line straight into a
typed struct faster than orjson builds dicts, skipping the fields steplens does not
read, and its strict typing *is* the rulebook's: a string is a `str`, an integer an
`int` (never a bool or a float), null is allowed, objects nest, unknown keys are
ignored, and the last of two duplicate keys wins, as with orjson. DuckDB's JSON reader
accepts NaN, Infinity, trailing commas and nesting deeper than orjson allows, takes the
*first* of duplicate keys and coerces types silently; Polars `str.json_decode` was
slower than orjson and fails a whole batch on one bad line. Either would need a second
validator to be exact.

The struct is generated from `record_spec` (the one rulebook), so a field's type here
is, by construction, the type the careful checker demands. A line takes the fast path
only when every step is unambiguous; anything else (a decode error, a missing id, a
nested list page, an envelope inside a page, a metadata that is not an object...)
raises `Fallback` *before anything is recorded*, and the caller hands that line to the
careful Python checker (`parse._Decoder`), which stays the single definition of what is
valid and of every reject reason. tests/transforms/test_decode.py proves both paths give
identical frames on valid, mutated and fuzzed lines.

Two gaps of msgspec against orjson are closed per batch, natively, by `suspects()`:
msgspec does not validate UTF-8 inside fields it skips, nor the range of numbers it
skips (orjson rejects a number that overflows to infinity anywhere in a line). Lines
that might hold either go to the careful path.

Rows are appended as tuples (`Columns`) and turned into Polars columns once per batch.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec
import orjson
import polars as pl

from steplens.transforms import record_spec, schemas
from steplens.transforms.record_spec import ARRAY, ID, INT, MAX_TS, NUM, OBJ, STR, TS

_UNSET = msgspec.UNSET
_NULL = msgspec.Raw(b"null")
_SORT = orjson.OPT_SORT_KEYS
_BUCKET_MASK = schemas.BUCKETS - 1

_LEAVES: dict[record_spec.Kind, Any] = {
    ID: str | None,  # required: checked after decoding (a null id goes careful)
    STR: str | None,
    INT: Annotated[int, msgspec.Meta(ge=-record_spec.I64, le=record_spec.I64 - 1)] | None,
    TS: Annotated[int, msgspec.Meta(ge=0, le=MAX_TS)] | None,
    NUM: int | float | None,
    ARRAY: list | None,
}


def _fields(name: str, spec: dict) -> list[tuple[str, Any, Any]]:
    """msgspec fields accepting exactly what `record_spec.check(·, spec)` accepts.

    `OBJ` leaves (metadata) are kept as raw JSON text and read with orjson, so their
    canonical text is orjson's own.
    """
    fields = []
    for key, sub in spec.items():
        if type(sub) is dict:
            fields.append((key, _struct(f"{name}_{key}", sub) | None, None))
        elif type(sub) is list:
            fields.append((key, list[_struct(f"{name}_{key}", sub[0])] | None, None))
        elif sub is OBJ:
            fields.append((key, msgspec.Raw, _NULL))
        else:
            fields.append((key, _LEAVES[sub], None))
    return fields


def _struct(name: str, spec: dict) -> type:
    return msgspec.defstruct(name, _fields(name, spec), gc=False)


def _union(*specs: dict) -> dict:
    """One spec holding the fields of every shape: the same key never means two things."""
    out: dict = {}
    for spec in specs:
        for key, sub in spec.items():
            if out.get(key, sub) != sub:
                raise AssertionError(f"{key} is checked two ways")
            out[key] = sub
    return out


# Every line is decoded once into this struct, whatever its shape: the fields of steps,
# runs and deltas, and what dispatch looks at (`object`, `event`, `data`: absent is
# UNSET, unlike null). A field that another shape checks and this one ignores can only
# send a line to the careful path, never accept a wrong one.
Record = msgspec.defstruct(
    "Record",
    [*_fields("Record", _union(record_spec.STEP, record_spec.RUN, record_spec.DELTA)),
     ("object", str | None | msgspec.UnsetType, _UNSET),
     ("event", str | None | msgspec.UnsetType, _UNSET),
     ("data", msgspec.Raw | msgspec.UnsetType, _UNSET)],
    gc=False,
)
_RECORD = msgspec.json.Decoder(Record).decode
_PAGE = msgspec.json.Decoder(list[Record]).decode


class Fallback(Exception):
    """This line (or SSE block) must be read by the careful checker."""


# msgspec raises RecursionError, not DecodeError, past its nesting limit (stricter than
# orjson's 1024 levels: such lines are judged by the careful path).
_DECLINED = (msgspec.DecodeError, Fallback, RecursionError)

# ---- batch checks: what msgspec does not check in the fields it skips -------------------

# A number orjson rejects as infinite has an exponent of three or more digits (matched
# here: inside a line a number token always ends at `,`, `}`, `]` or white space), or at
# least 210 digits before an exponent of two (`_long_digit_run`).
_HUGE_EXPONENT = r"[0-9][eE]\+?[0-9]{3,}[,}\]\s]"
_DIGIT_MARKS = bytes(49 if 48 <= i <= 57 else 48 for i in range(256))  # digit -> "1"
_STRIDE = 100
_DEEP = 2000  # bytes a line needs to nest 1000 levels


def _long_digit_run(data: bytes) -> bool:
    """Whether `data` may hold 210 digits in a row: any such run covers two bytes
    `_STRIDE` apart with only digits between them; only those spots are looked at."""
    marks = data[::_STRIDE].translate(_DIGIT_MARKS)
    i = marks.find(b"11")
    while i >= 0:
        if data[i * _STRIDE:(i + 1) * _STRIDE + 1].isdigit():
            return True
        i = marks.find(b"11", i + 1)
    return False


def suspects(raws: Sequence[bytes], joined: bytes | None = None) -> set[int]:
    """Positions in `raws` of lines that may hold invalid UTF-8 or an infinite number.

    Native passes over the batch (`joined`: the lines joined by newlines, when the
    caller has it), a few MB at a time so that the copies Polars makes stay small:
    valid exports almost never trip them, and then no line is looked at individually.
    """
    if not raws:
        return set()
    # msgspec's nesting limit follows Python's recursion limit, which test runners and
    # applications raise: a line that might nest deeper than orjson's 1024 levels (it
    # needs two brackets a level) is judged by the careful path.
    long = itertools.compress(range(len(raws)), map(_DEEP.__le__, map(len, raws)))
    bad = {i for i in long if raws[i].count(b"[") + raws[i].count(b"{") >= _DEEP // 2}
    data = b"\n".join(raws) if joined is None else joined
    start = first = 0
    while start < len(data):
        end = data.find(b"\n", start + _SLICE) + 1 or len(data)
        lines = data.count(b"\n", start, end) + (data[end - 1:end] != b"\n")
        if not _clean(data[start:end]):
            bad.update(first + j for j in _unclean(raws[first:first + lines]))
        start, first = end, first + lines
    return bad


def _unclean(raws: Sequence[bytes]) -> list[int]:
    """Which of `raws` are invalid UTF-8 or hold an infinite number (a slice that failed
    `_clean`: still one native pass for the numbers)."""
    bad = {j for j, raw in enumerate(raws) if not _utf8(raw) or _long_digit_run(raw)}
    valid = pl.Series([b"" if j in bad else raw for j, raw in enumerate(raws)],
                      dtype=pl.Binary).cast(pl.String)
    return sorted(bad | set(valid.str.contains(_HUGE_EXPONENT).arg_true().to_list()))


_SLICE = 4 * 1024 * 1024


def _clean(data: bytes) -> bool:
    """Valid UTF-8 without a number orjson would find infinite (one native pass)."""
    try:  # the cast validates UTF-8
        text = pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:
        return False
    return not (text.str.contains(_HUGE_EXPONENT).item() or _long_digit_run(data))


def _utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---- column storage -------------------------------------------------------------------

class Columns:
    """One record frame being filled, row by row; columns are built once at the end.

    Measured: appending row tuples and transposing them once (`zip`) beat appending to
    one list per column, and one Polars Series per column beat a DataFrame from a dict.
    """

    def __init__(self, schema: pl.Schema) -> None:
        self.schema = schema
        self.rows: list[tuple] = []
        self.add: Callable[[tuple], None] = self.rows.append

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pl.DataFrame:
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(self.schema)
        return pl.DataFrame([pl.Series(name, values, dtype=dtype)
                             for (name, dtype), values in zip(self.schema.items(), columns,
                                                              strict=True)])


# ---- extraction from decoded structs (types already checked by msgspec) -----------------

def _metadata(raw: msgspec.Raw) -> str | None:
    text = bytes(raw)
    if text == b"null":
        return None
    if text == b"{}":
        return "{}"
    if text[:1] != b"{":
        raise Fallback  # not an object: the careful checker names it
    try:
        return orjson.dumps(orjson.loads(text), option=_SORT).decode()
    except (orjson.JSONDecodeError, TypeError):  # TypeError: deeper than orjson writes
        raise Fallback from None


def _usage(u: Any) -> tuple:
    if u is None:
        return (False, None, None, None, None, None)
    spelled, other, done = (u.prompt_token_details, u.prompt_tokens_details,
                            u.completion_tokens_details)
    cached = spelled.cached_tokens if spelled is not None else None
    if cached is None and other is not None:
        cached = other.cached_tokens
    return (True, u.prompt_tokens, u.completion_tokens, u.total_tokens, cached,
            done.reasoning_tokens if done is not None else None)


def _file_search(fs: Any) -> tuple[int | None, float | None]:
    results = fs.results if fs is not None else None
    if results is None:
        return None, None
    scores = [r.score for r in results if r.score is not None]
    return len(results), (float(max(scores)) if scores else None)


def step_row(o: Any) -> tuple:
    """A decoded step's record row (after provenance and bucket), as `parse` builds it."""
    if o.id is None:
        raise Fallback
    details, error = o.step_details, o.last_error
    creation = details.message_creation if details is not None else None
    return (
        o.id, o.run_id, o.thread_id, o.assistant_id, o.type, o.status, o.created_at,
        o.completed_at, o.failed_at, o.cancelled_at, o.expired_at,
        error.code if error is not None else None,
        error.message if error is not None else None,
        creation.message_id if creation is not None else None,
        *_usage(o.usage), _metadata(o.metadata),
    )


def call_rows(o: Any) -> list[tuple]:
    """A decoded step's tool call rows (after provenance and bucket)."""
    details = o.step_details
    calls = details.tool_calls if details is not None else None
    if not calls:
        return []
    step_id, rows = o.id, []
    for i, call in enumerate(calls):
        fn, ci = call.function, call.code_interpreter
        chars = images = 0
        code = None
        if ci is not None:
            code = ci.input
            for out in ci.outputs or ():
                kind = out.type
                if kind == "logs":
                    if out.logs is not None:
                        chars += len(out.logs)
                elif kind == "image":
                    images += 1
        count, best = _file_search(call.file_search)
        if fn is None:
            rows.append((step_id, i, call.id, call.type, None, None, None, code, chars, images,
                         count, best))
        else:
            rows.append((step_id, i, call.id, call.type, fn.name, fn.arguments, fn.output,
                         code, chars, images, count, best))
    return rows


def run_row(o: Any) -> tuple:
    if o.id is None:
        raise Fallback
    error, incomplete = o.last_error, o.incomplete_details
    return (
        o.id, o.thread_id, o.assistant_id, o.model, o.status, o.created_at, o.started_at,
        o.completed_at, o.failed_at, o.cancelled_at, o.expires_at,
        error.code if error is not None else None,
        error.message if error is not None else None,
        incomplete.reason if incomplete is not None else None,
        *_usage(o.usage), _metadata(o.metadata),
    )


def delta_rows(o: Any) -> tuple[tuple, list[tuple], list[tuple]]:
    """(delta event row, tool call fragment rows, code output fragment rows)."""
    step_id = o.id
    if step_id is None:
        raise Fallback
    body = o.delta
    details = body.step_details if body is not None else None
    calls, outputs = [], []
    step_type = message_id = None
    if details is not None:
        step_type = details.type
        if details.message_creation is not None:
            message_id = details.message_creation.message_id
        for pos, call in enumerate(details.tool_calls or ()):
            index = pos if call.index is None else call.index
            fn, ci = call.function, call.code_interpreter
            code = None
            if ci is not None:
                code = ci.input
                for opos, out in enumerate(ci.outputs or ()):
                    image = out.image
                    outputs.append((opos, step_id, index, opos if out.index is None else out.index,
                                    out.type, out.logs,
                                    image.file_id if image is not None else None))
            count, best = _file_search(call.file_search)
            if fn is None:
                calls.append((pos, step_id, index, call.id, call.type, None, None, None, code,
                              count, best))
            else:
                calls.append((pos, step_id, index, call.id, call.type, fn.name, fn.arguments,
                              fn.output, code, count, best))
    return (step_id, step_type, message_id), calls, outputs


# ---- dispatch -------------------------------------------------------------------------

STEP_EVENTS = frozenset(
    "thread.run.step." + s
    for s in ("created", "in_progress", "completed", "failed", "cancelled", "expired")
)
STEP, RUN, DELTA = "thread.run.step", "thread.run", "thread.run.step.delta"
_KINDS = (STEP, RUN, DELTA)
_RESPONSES_OBJECTS = ("response", "conversation")


def _responses_shaped(o: Any) -> bool:
    """A record the Responses API contract reads (transforms/responses): a `response` or
    `conversation` object, or an object with neither `object` nor `event` (an item, a
    stream event, a request body). This path leaves it to that decoder."""
    kind = o.object
    return kind in _RESPONSES_OBJECTS or (kind is _UNSET and o.event is _UNSET)


def _responses_event(o: Any) -> bool:
    """The data of an envelope that is a Responses object or stream event."""
    kind, t = o.object, o.type
    return kind in _RESPONSES_OBJECTS or (
        kind is _UNSET and o.event is _UNSET and t.__class__ is str
        and (t.startswith("response.") or t == "error"))


class FastPath:
    """Decodes lines into a `parse._Decoder`'s columns, or declines them.

    `value` and `envelope` either record everything a line holds and return how many
    records it counted, or raise nothing and return 0 / False having recorded nothing:
    the caller then reads the line with the careful checker. Counters (`records_read`
    ...) stay the decoder's.
    """

    def __init__(self, source_file: str, columns: dict[str, Columns]) -> None:
        self.source_file = source_file
        self.steps = columns["step_records"]
        self.calls = columns["tool_call_records"]
        self.runs = columns["run_records"]
        self.delta_events = columns["delta_events"]
        self.delta_calls = columns["delta_calls"]
        self.delta_outputs = columns["delta_outputs"]
        self.skip_add = columns["skipped"].add
        self.buckets: dict[str, int] = {}

    def _bucket(self, record_id: str) -> int:
        bucket = self.buckets.get(record_id)
        if bucket is None:
            bucket = zlib.crc32(record_id.encode("utf-8", "surrogatepass")) & _BUCKET_MASK
            self.buckets[record_id] = bucket
        return bucket

    # ---- one record: `_prepare` may decline, `_emit` only appends -------------------

    def _prepare(self, kind: str, o: Any) -> tuple:
        if kind == STEP:
            return (STEP, step_row(o), call_rows(o))
        if kind == RUN:
            return (RUN, run_row(o))
        return (DELTA, *delta_rows(o))

    def _emit(self, line_no: int, item: int, prepared: tuple) -> None:
        kind = prepared[0]
        row = prepared[1]
        head = (self.source_file, line_no, item, self._bucket(row[0]))
        if kind == RUN:
            self.runs.add(head + row)
        elif kind == STEP:
            self.steps.add(head + row)
            for call in prepared[2]:
                self.calls.add(head + call)
        else:
            self.delta_events.add(head + row)
            for call in prepared[2]:
                self.delta_calls.add(head + call)
            for out in prepared[3]:
                self.delta_outputs.add(head + out)

    def _skip(self, line_no: int, shape: str) -> None:
        self.skip_add((self.source_file, line_no, shape))

    # ---- entry points -----------------------------------------------------------------

    def lines(self, first_line: int, raws: Sequence[bytes], flagged: set[int],
              careful: Callable[[int, bytes], None]) -> tuple[int, int, int]:
        """Every line of a batch, in order: recorded here, or handed to `careful`.

        Returns the (lines, bytes, records) recorded here; `careful` counts its own.
        """
        decode, prepare, emit = _RECORD, self._prepare, self._emit
        n_lines = n_bytes = n_records = 0
        line_no = first_line - 1
        for i, raw in enumerate(raws):
            line_no += 1
            if flagged and i in flagged:
                careful(line_no, raw)
                continue
            try:
                o = decode(raw)
                kind = o.object
                if kind.__class__ is str and kind in _KINDS:
                    emit(line_no, -1, prepare(kind, o))
                    n = 1
                elif kind == "list" and o.data is not _UNSET:
                    n = self._page(line_no, o.data)
                elif o.event is not _UNSET and kind is _UNSET:
                    n = int(self._envelope(line_no, o.event, o.data))
                elif _responses_shaped(o):
                    raise Fallback
                else:
                    self._skip(line_no, kind if kind.__class__ is str else "unknown")
                    n = 1
            except _DECLINED:
                careful(line_no, raw)
                continue
            n_lines += 1
            n_bytes += len(raw) + 1
            n_records += n
        return n_lines, n_bytes, n_records

    def value(self, line_no: int, text: bytes) -> int:
        """A whole line or bare SSE payload; the records it counted (0: declined)."""
        try:
            o = _RECORD(text)
            kind = o.object
            if kind == "list" and o.data is not _UNSET:
                return self._page(line_no, o.data)
            if o.event is not _UNSET and kind is _UNSET:
                return int(self._envelope(line_no, o.event, o.data))
            if kind.__class__ is str and kind in _KINDS:
                prepared = self._prepare(kind, o)
            elif _responses_shaped(o):
                return 0
            else:
                self._skip(line_no, kind if kind.__class__ is str else "unknown")
                return 1
        except _DECLINED:
            return 0
        self._emit(line_no, -1, prepared)
        return 1

    def envelope(self, line_no: int, event: str, data: bytes) -> bool:
        """A raw SSE block with an `event:` name (`data` stripped); False: declined.

        Only object payloads: they are the ones the decoding below validates as JSON.
        """
        if data[:1] != b"{":
            return False
        try:
            return self._envelope(line_no, event, data)
        except _DECLINED:
            return False

    def _envelope(self, line_no: int, event: object, data: object) -> bool:
        if event.__class__ is not str:
            raise Fallback  # rejected: the careful checker says why
        if data is _UNSET or memoryview(data)[:1] != b"{":
            if event.startswith("thread.run."):
                raise Fallback  # rejected: data is not an object
            self._skip(line_no, event)
            return True
        o = _RECORD(data)
        if _responses_event(o):
            raise Fallback
        kind = o.object
        if kind is None or kind is _UNSET:  # exporters that dropped `object`
            if event == DELTA:
                kind = DELTA
            elif event in STEP_EVENTS:
                kind = STEP
            elif event.startswith("thread.run."):
                kind = RUN
        if kind.__class__ is str and kind in _KINDS:
            self._emit(line_no, -1, self._prepare(kind, o))
        else:
            self._skip(line_no, event)
        return True

    def _page(self, line_no: int, data: msgspec.Raw) -> int:
        items = _PAGE(data)  # not an array, or an item not an object: careful
        if not items:
            self._skip(line_no, "empty_list")
            return 1
        pending = []
        for o in items:
            kind = o.object
            if (kind == "list" and o.data is not _UNSET) or (
                    o.event is not _UNSET and kind is _UNSET):
                raise Fallback  # a nested page, or an envelope as an item: rare
            if _responses_shaped(o):
                raise Fallback
            if kind.__class__ is str and kind in _KINDS:
                pending.append(self._prepare(kind, o))
            else:
                pending.append(kind if kind.__class__ is str else "unknown")
        for n, prepared in enumerate(pending):
            if prepared.__class__ is str:
                self._skip(line_no, prepared)
            else:
                self._emit(line_no, n, prepared)
        return len(items)
