"""The native fast path of the parser: valid records decoded by msgspec, in C.

Why msgspec, and not DuckDB or Polars (measured on the benchmark export, see
benchmarks/README.md, "Choosing the decoder"): msgspec decodes a line straight into typed
structs at about twice orjson's speed, skipping the fields steplens does not read, and
its strict typing *is* the rulebook's: a string is a `str`, an integer an `int` (never a
bool or a float), null is allowed, objects nest, unknown keys are ignored, and the last
of two duplicate keys wins, as with orjson. DuckDB's JSON reader accepts NaN, Infinity,
trailing commas and nesting deeper than orjson allows, takes the *first* of duplicate
keys and coerces types silently; Polars `str.json_decode` was slower than orjson and
fails a whole batch on one bad line. Either would need a second validator to be exact.

The structs are generated from `record_spec` (the one rulebook), so a field's type here
is, by construction, the type the careful checker demands. A line takes the fast path
only when every step is unambiguous; anything else (a decode error, a missing id, a
nested list page, an envelope inside a page, a metadata that is not an object...)
returns False *before anything is recorded*, and the caller hands that line to the
careful Python checker (`parse._Decoder`), which stays the single definition of what is
valid and of every reject reason. tests/transforms/test_decode.py proves both paths give
identical frames on valid, mutated and fuzzed lines.

Two gaps of msgspec against orjson are closed per batch, natively, by `suspects()`:
msgspec does not validate UTF-8 inside fields it skips, nor the range of numbers it
skips (orjson rejects a number that overflows to infinity anywhere in a line). Lines
that might hold either go to the careful path.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
import orjson
import polars as pl

from steplens.transforms import record_spec, schemas
from steplens.transforms.record_spec import (
    ARRAY,
    ID,
    INT,
    MAX_TS,
    NUM,
    OBJ,
    STR,
    TS,
)

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


def _struct(name: str, spec: dict) -> type:
    """A msgspec struct type accepting exactly what `record_spec.check(·, spec)` accepts.

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
    return msgspec.defstruct(name, fields, gc=False)


class Head(msgspec.Struct, gc=False):
    """What dispatch looks at: `object`, `event`, `data` (absent is UNSET, not None)."""

    object: str | None | msgspec.UnsetType = _UNSET
    event: str | None | msgspec.UnsetType = _UNSET
    data: msgspec.Raw | msgspec.UnsetType = _UNSET


_HEAD = msgspec.json.Decoder(Head).decode
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw]).decode
_STEP = msgspec.json.Decoder(_struct("Step", record_spec.STEP)).decode
_RUN = msgspec.json.Decoder(_struct("Run", record_spec.RUN)).decode
_DELTA = msgspec.json.Decoder(_struct("Delta", record_spec.DELTA)).decode


class Fallback(Exception):
    """This line (or SSE block) must be read by the careful checker."""


# ---- batch checks: what msgspec does not check in the fields it skips -------------------

# A number orjson rejects as infinite has an exponent of three or more digits or at least
# 210 digits before its exponent; either way this matches it (and a few harmless others).
# Inside a line a number token always ends at `,`, `}`, `]` or white space.
_HUGE_NUMBER = r"[0-9][eE]\+?[0-9]{3,}[,}\]\s]|[0-9]{200}"


def suspects(raws: Sequence[bytes]) -> set[int]:
    """Positions in `raws` of lines that may hold invalid UTF-8 or an infinite number.

    One native pass over the whole batch (Polars): valid exports almost never trip it,
    and then no line is looked at individually.
    """
    if not raws:
        return set()
    try:  # the cast validates UTF-8
        text = pl.Series([b"\n".join(raws)], dtype=pl.Binary).cast(pl.String)
        if not text.str.contains(_HUGE_NUMBER).item():
            return set()
        bad = set()
    except pl.exceptions.PolarsError:  # invalid UTF-8 somewhere in the batch
        bad = {i for i, raw in enumerate(raws) if not _utf8(raw)}
    valid = [b"" if i in bad else raw for i, raw in enumerate(raws)]
    hits = pl.Series(valid, dtype=pl.Binary).cast(pl.String).str.contains(_HUGE_NUMBER)
    return bad | set(hits.arg_true().to_list())


def _utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
    except orjson.JSONDecodeError:
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


def step_rows(o: Any) -> tuple[tuple, list[tuple]]:
    """(step record row, tool call rows) of a decoded step, as `parse` builds them."""
    step_id = o.id
    if step_id is None:
        raise Fallback
    details = o.step_details
    creation = calls = None
    if details is not None:
        creation, calls = details.message_creation, details.tool_calls
    rows = []
    for i, call in enumerate(calls or ()):
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
    error = o.last_error
    step = (
        step_id, o.run_id, o.thread_id, o.assistant_id, o.type, o.status, o.created_at,
        o.completed_at, o.failed_at, o.cancelled_at, o.expired_at,
        error.code if error is not None else None,
        error.message if error is not None else None,
        creation.message_id if creation is not None else None,
        *_usage(o.usage), _metadata(o.metadata),
    )
    return step, rows


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
_KINDS = ("thread.run.step", "thread.run", "thread.run.step.delta")


def _bucket(record_id: str) -> int:
    return zlib.crc32(record_id.encode("utf-8", "surrogatepass")) & _BUCKET_MASK


class FastPath:
    """Decodes lines into the row lists of a `parse._Decoder`, or declines them.

    `rows` is the decoder's dict of row lists (one per record frame); every method
    returns True when the line was fully recorded, False when nothing was recorded and
    the careful checker must read it. Counters (`records_read`...) stay the decoder's.
    """

    def __init__(self, source_file: str, rows: dict[str, list[tuple]]) -> None:
        self.source_file = source_file
        self.steps = rows["step_records"]
        self.calls = rows["tool_call_records"]
        self.runs = rows["run_records"]
        self.delta_events = rows["delta_events"]
        self.delta_calls = rows["delta_calls"]
        self.delta_outputs = rows["delta_outputs"]
        self.skipped = rows["skipped"]

    def record(self, line_no: int, item: int, kind: str, text: bytes | msgspec.Raw
               ) -> list:
        """Decode one step/run/delta; the rows to append, as (list, row) pairs."""
        head = (self.source_file, line_no, item)
        if kind == "thread.run.step":
            step, calls = step_rows(_STEP(text))
            head += (_bucket(step[0]),)
            out = [(self.steps, head + step)]
            out += [(self.calls, head + c) for c in calls]
            return out
        if kind == "thread.run":
            run = run_row(_RUN(text))
            return [(self.runs, head + (_bucket(run[0]),) + run)]
        event, calls, outputs = delta_rows(_DELTA(text))
        head += (_bucket(event[0]),)
        out = [(self.delta_events, head + event)]
        out += [(self.delta_calls, head + c) for c in calls]
        out += [(self.delta_outputs, head + o) for o in outputs]
        return out

    def _commit(self, pending: list) -> None:
        for target, row in pending:
            target.append(row)

    def value(self, line_no: int, text: bytes | msgspec.Raw) -> int:
        """A whole line or bare SSE payload; returns the records it counted (0: declined)."""
        try:
            h = _HEAD(text)
            kind = h.object
            if kind == "list" and h.data is not _UNSET:
                return self._page(line_no, h.data)
            if h.event is not _UNSET and kind is _UNSET:
                pending = self._envelope(line_no, h.event, h.data)
            elif kind.__class__ is str and kind in _KINDS:
                pending = self.record(line_no, -1, kind, text)
            else:
                pending = [(self.skipped, (self.source_file, line_no,
                                           kind if kind.__class__ is str else "unknown"))]
        except (msgspec.DecodeError, Fallback):
            return 0
        self._commit(pending)
        return 1

    def envelope(self, line_no: int, event: str, data: bytes) -> bool:
        """A raw SSE block with an `event:` name (`data` stripped); False: declined.

        Only object payloads: they are the ones the decoding below validates as JSON.
        """
        if data[:1] != b"{":
            return False
        try:
            pending = self._envelope(line_no, event, data)
        except (msgspec.DecodeError, Fallback):
            return False
        self._commit(pending)
        return True

    def _envelope(self, line_no: int, event: object, data: object) -> list:
        if event.__class__ is not str:
            raise Fallback  # rejected: the careful checker says why
        if data is _UNSET or memoryview(data)[:1] != b"{":
            if event.startswith("thread.run."):
                raise Fallback  # rejected: data is not an object
            return [(self.skipped, (self.source_file, line_no, event))]
        kind = _HEAD(data).object
        if kind is None or kind is _UNSET:  # exporters that dropped `object`
            if event == "thread.run.step.delta":
                kind = "thread.run.step.delta"
            elif event in STEP_EVENTS:
                kind = "thread.run.step"
            elif event.startswith("thread.run."):
                kind = "thread.run"
        if kind.__class__ is str and kind in _KINDS:
            return self.record(line_no, -1, kind, data)
        return [(self.skipped, (self.source_file, line_no, event))]

    def _page(self, line_no: int, data: msgspec.Raw) -> int:
        items = _ITEMS(data)  # not an array: DecodeError -> careful
        if not items:
            self.skipped.append((self.source_file, line_no, "empty_list"))
            return 1
        pending = []
        for n, item in enumerate(items):
            h = _HEAD(item)
            kind = h.object
            if (kind == "list" and h.data is not _UNSET) or (
                    h.event is not _UNSET and kind is _UNSET):
                raise Fallback  # nested page, or an envelope as an item: rare
            if kind.__class__ is str and kind in _KINDS:
                pending += self.record(line_no, n, kind, item)
            else:
                pending.append((self.skipped, (self.source_file, line_no,
                                               kind if kind.__class__ is str else "unknown")))
        self._commit(pending)
        return len(items)
