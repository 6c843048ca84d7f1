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

The struct is generated from the Assistants specs (`spec.py`) by the rulebook
(`rulebook.struct_fields`), so a field's type here is, by construction, the type the
careful checker (`rulebook.check`) demands. A line takes the fast path
only when every step is unambiguous; anything else (a decode error, a missing id, a
nested list page, an envelope inside a page, a metadata that is not an object...)
raises `Fallback` *before anything is recorded*, and the caller (`transforms/parse.py`)
hands that line to the careful path (`careful.py`), which stays the single definition of
what is valid and of every reject reason. tests/transforms/test_decode.py proves both paths give
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
from typing import Any

import msgspec
import orjson
import polars as pl

from steplens.transforms import config, rulebook, schemas
from steplens.transforms.assistants import spec

_UNSET = msgspec.UNSET
_SORT = orjson.OPT_SORT_KEYS
_BUCKET_MASK = schemas.BUCKETS - 1


# Every record is decoded once into this struct, whatever its shape: the fields of steps,
# runs and deltas, and what dispatch looks at (`object`, `event`, `data`: absent is
# UNSET, unlike null). A field that another shape checks and this one ignores can only
# send a line to the careful path, never accept a wrong one.
_FIELDS = rulebook.struct_fields("Record", rulebook.union(
    spec.STEP, spec.RUN, spec.DELTA))
_DISPATCH = [("object", str | None | msgspec.UnsetType, _UNSET),
             ("event", str | None | msgspec.UnsetType, _UNSET)]
# A list item or a stream envelope's payload: its own `data` only matters when present
# (a nested page, an envelope as an item: the careful path's business).
Record = msgspec.defstruct(
    "Record", [*_FIELDS, *_DISPATCH, ("data", msgspec.Raw | msgspec.UnsetType, _UNSET)],
    gc=False)
# A whole line: a record, a list page (`data` an array of records) or a stream envelope
# (`data` a record, or any other JSON value), in one decode.
Line = msgspec.defstruct(
    "Line", [*_FIELDS, *_DISPATCH,
             ("data", Record | list[Record] | str | int | float | bool | None
              | msgspec.UnsetType, _UNSET)],
    gc=False)
_RECORD = msgspec.json.Decoder(Record).decode
_LINE = msgspec.json.Decoder(Line).decode

_NO_ERROR = rulebook.STRUCTS["Record_last_error"]()
_NO_USAGE = rulebook.STRUCTS["Record_usage"]()
_NO_CACHED = rulebook.STRUCTS["Record_usage_prompt_token_details"]()
_NO_REASONING = rulebook.STRUCTS["Record_usage_completion_tokens_details"]()
_NO_DETAILS = rulebook.STRUCTS["Record_step_details"]()
_NO_CREATION = rulebook.STRUCTS["Record_step_details_message_creation"]()
_NO_FUNCTION = rulebook.STRUCTS["Record_step_details_tool_calls_function"]()
_NO_INCOMPLETE = rulebook.STRUCTS["Record_incomplete_details"]()
_NO_DELTA = rulebook.STRUCTS["Record_delta"]()
_NO_DELTA_DETAILS = rulebook.STRUCTS["Record_delta_step_details"]()
_NO_IMAGE = rulebook.STRUCTS[
    "Record_delta_step_details_tool_calls_code_interpreter_outputs_image"]()


# msgspec raises RecursionError, not DecodeError, past its nesting limit (stricter than
# orjson's 1024 levels: such lines are judged by the careful path).
_DECLINED = (msgspec.DecodeError, RecursionError)

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


# ---- column storage (the careful path's rows) -------------------------------------------

class Columns:
    """One record frame being filled row by row (the careful path); built once at the end.

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
        return _frame(self.schema, columns)


def _frame(schema: pl.Schema, columns: Sequence[Sequence | pl.Series]) -> pl.DataFrame:
    return pl.DataFrame([values.alias(name) if isinstance(values, pl.Series)
                         else pl.Series(name, values, dtype=dtype)
                         for (name, dtype), values in zip(schema.items(), columns,
                                                          strict=True)])


def _shared_lists(values: Sequence[list | None], dtype: pl.DataType) -> pl.Series:
    """A LIST column whose rows share a few list objects (a run's tools, from the
    configuration cache): each distinct object is converted once and gathered. Polars
    builds a Series per Python list otherwise: measured, a third of the decode time of
    the benchmark export."""
    index: dict[int, int] = {}
    distinct: list = []
    codes = []
    for v in values:
        code = index.get(id(v))
        if code is None:
            code = index[id(v)] = len(distinct)
            distinct.append(v)
        codes.append(code)
    return pl.Series(distinct, dtype=dtype).gather(pl.Series(codes, dtype=pl.UInt32))


# ---- decoding a batch: one msgspec call per line, Python only to dispatch ---------------

STEP_EVENTS = frozenset(
    "thread.run.step." + s
    for s in ("created", "in_progress", "completed", "failed", "cancelled", "expired")
)
STEP, RUN, DELTA = "thread.run.step", "thread.run", "thread.run.step.delta"
_KIND = {STEP: 0, RUN: 1, DELTA: 2}


def _implied(event: str) -> str | None:
    """The kind of an envelope's payload that has no `object`, from the event name."""
    if event == DELTA:
        return DELTA
    if event in STEP_EVENTS:
        return STEP
    if event.startswith("thread.run."):
        return RUN
    return None


def _decode_all(decode: Callable[[bytes], Any], raws: Sequence[bytes]) -> list:
    """`decode` of every item, None where it raises a `_DECLINED` error.

    `list.extend(map(...))` keeps what it appended before an exception, so a batch of
    valid lines costs one C-level loop, and a bad line only restarts it after itself.
    """
    out: list = []
    while True:
        try:
            out.extend(map(decode, itertools.islice(raws, len(out), None)))
            return out
        except _DECLINED:
            out.append(None)


class _Taken:
    """The records the fast path took from one batch, by kind, before their columns are
    built: the decoded structs, their position in the batch and their list-page item."""

    def __init__(self) -> None:
        self.records: tuple[list, list, list] = ([], [], [])  # steps, runs, deltas
        self.pos: tuple[list, list, list] = ([], [], [])
        self.item: tuple[list, list, list] = ([], [], [])
        self.skip_pos: list[int] = []
        self.skip_shape: list[str] = []
        self.pages: dict[int, int] = {}  # position -> records counted, where not 1

    def add(self, k: int, record: Any, pos: int, item: int = -1) -> None:
        """Take `record` (of kind `k`), from the line at `pos` (list-page item `item`)."""
        self.records[k].append(record)
        self.pos[k].append(pos)
        self.item[k].append(item)

    def skip(self, pos: int, shape: object) -> None:
        """Skip the line at `pos`: a shape steplens does not read (`unknown` unnamed)."""
        self.skip_pos.append(pos)
        self.skip_shape.append(shape if shape.__class__ is str else "unknown")

    def drop(self, declined: set[int]) -> None:
        """Forget every record of the `declined` positions (rare: a late decline)."""
        for k in range(3):
            keep = [j for j, p in enumerate(self.pos[k]) if p not in declined]
            for lst in (self.records[k], self.pos[k], self.item[k]):
                lst[:] = [lst[j] for j in keep]
        keep = [j for j, p in enumerate(self.skip_pos) if p not in declined]
        self.skip_pos[:] = [self.skip_pos[j] for j in keep]
        self.skip_shape[:] = [self.skip_shape[j] for j in keep]
        for p in declined:
            self.pages.pop(p, None)


_RESPONSES_OBJECTS = ("response", "conversation")
# Objects of the organization Usage/Costs API exports (and a `page` with `data`).
_BILLING = frozenset(("bucket", "organization.usage.completions.result",
                      "organization.costs.result"))


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
    """Decodes a batch of lines (or SSE blocks) into record frames, or declines lines.

    A declined line has recorded nothing; the caller reads it with the careful checker.
    Rows are built a column at a time from the decoded structs (list comprehensions
    over one attribute, then one Polars Series per column): measured 3x cheaper than a
    row tuple per record and a transpose.
    """

    def __init__(self, source_file: str) -> None:
        self.source_file = source_file
        self.buckets: dict[str, int] = {}
        self.metadata: dict[bytes, str] = {}
        self.configs: dict[bytes, tuple] = {}

    # ---- entry points -----------------------------------------------------------------

    def lines(self, line_nos: Sequence[int], raws: Sequence[bytes], flagged: set[int]
              ) -> Result:
        """Whole lines (`line_nos[i]` is the number of `raws[i]`); `flagged` positions are
        declined unread."""
        taken, declined = self._take(_decode_all(_LINE, _without(raws, flagged)), None)
        result = self._result(line_nos, taken, declined, raws)
        result.lines = len(raws) - len(result.declined)
        result.bytes = sum(map(len, raws)) + len(raws) - sum(
            len(raws[p]) + 1 for p in result.declined)
        return result

    def events(self, line_nos: Sequence[int], names: Sequence[str | None],
               datas: Sequence[bytes], flagged: set[int]) -> Result:
        """Raw SSE blocks: `event:` name (None: a bare value, read as a line) and their
        joined `data:` payload. Only JSON object payloads (stripped) are taken here."""
        texts = [d if d[:1] == b"{" else d.strip() for d in datas]
        bare = [p for p, name in enumerate(names) if name is None and p not in flagged
                and texts[p] and texts[p] != b"[DONE]"]
        named = [p for p, name in enumerate(names) if name is not None and p not in flagged
                 and texts[p][:1] == b"{"]
        objs: list = [None] * len(datas)
        for positions, decode in ((bare, _LINE), (named, _RECORD)):
            for p, o in zip(positions, _decode_all(decode, [texts[p] for p in positions]),
                            strict=True):
                objs[p] = o
        taken, declined = self._take(objs, names)
        result = self._result(line_nos, taken, declined, datas)
        result.bytes = sum(map(len, datas)) - sum(len(datas[p]) for p in result.declined)
        return result

    def _take(self, objs: list, names: Sequence[str | None] | None) -> tuple[_Taken, set[int]]:
        """Dispatch every decoded line (None: declined already). The common shapes, a
        record and an envelope around one, are handled inline: this loop runs once per
        line. `names`: SSE event names, where a named block's payload is `objs[i]`."""
        taken = _Taken()
        adds = [(r.append, p.append, i.append)
                for r, p, i in zip(taken.records, taken.pos, taken.item, strict=True)]
        kinds, declined = _KIND, set()
        for pos, o in enumerate(objs):
            if o is None:
                declined.add(pos)
                continue
            k = None  # the kind of record taken from this line, if it is one
            event = names[pos] if names is not None else None
            if event is None:
                kind = o.object
                k = kinds.get(kind)
                if k is None:
                    if kind is not _UNSET or o.event is _UNSET:
                        if not self._line(taken, pos, o):  # pages, skipped shapes
                            declined.add(pos)
                        continue
                    event, o = o.event, o.data  # an envelope: its payload, below
            if k is None and event.__class__ is str and o.__class__ is Record:
                kind = o.object
                k = kinds.get(kind)
                if k is None and (kind is None or kind is _UNSET):
                    if _responses_event(o):
                        declined.add(pos)  # the Responses decoder's
                        continue
                    k = kinds.get(_implied(event))
            if k is None:
                if not self._envelope(taken, pos, event, o):
                    declined.add(pos)
            elif o.id is None:
                declined.add(pos)
            else:
                add = adds[k]
                add[0](o), add[1](pos), add[2](-1)
        return taken, declined

    # ---- dispatch: what each line holds (False: declined, nothing taken) -------------

    def _line(self, taken: _Taken, pos: int, o: Any) -> bool:
        kind = o.object
        k = _KIND.get(kind)
        if k is not None:
            if o.id is None:
                return False
            taken.add(k, o, pos)
            return True
        if kind == "list" and o.data is not _UNSET:
            return self._page(taken, pos, o.data)
        if o.event is not _UNSET and kind is _UNSET:
            return self._envelope(taken, pos, o.event, o.data)
        if _responses_shaped(o):
            return False  # the Responses decoder's
        if kind in _BILLING or (kind == "page" and o.data is not _UNSET):
            return False  # a Usage/Costs API export: read carefully (transforms/billing.py)
        taken.skip(pos, kind)
        return True

    def _envelope(self, taken: _Taken, pos: int, event: object, data: object) -> bool:
        if event.__class__ is not str:
            return False  # rejected: the careful checker says why
        if data.__class__ is not Record:
            if event.startswith("thread.run."):
                return False  # rejected: data is not an object
            taken.skip(pos, event)
            return True
        if _responses_event(data):
            return False  # the Responses decoder's
        kind = data.object
        if kind is None or kind is _UNSET:  # exporters that dropped `object`
            kind = _implied(event)
        k = _KIND.get(kind)
        if k is None:
            taken.skip(pos, event)
            return True
        if data.id is None:
            return False
        taken.add(k, data, pos)
        return True

    def _page(self, taken: _Taken, pos: int, items: object) -> bool:
        if items.__class__ is not list:
            return False  # not an array: the careful checker names it
        if not items:
            taken.skip(pos, "empty_list")
            return True
        kinds = []
        for o in items:  # all or nothing: look at every item before taking one
            kind = o.object
            if (kind == "list" and o.data is not _UNSET) or (
                    o.event is not _UNSET and kind is _UNSET):
                return False  # a nested page, or an envelope as an item: rare
            if _responses_shaped(o):
                return False  # the Responses decoder's
            if kind == "bucket":
                return False  # billing buckets in a JSON array (transforms/billing.py)
            k = _KIND.get(kind)
            if k is not None and o.id is None:
                return False
            kinds.append(k)
        for n, (o, k) in enumerate(zip(items, kinds, strict=True)):
            if k is None:
                taken.skip(pos, o.object)
            else:
                taken.add(k, o, pos, n)
        if len(items) != 1:
            taken.pages[pos] = len(items)
        return True

    # ---- columns ----------------------------------------------------------------------

    def _result(self, line_nos: Sequence[int], taken: _Taken, declined: set[int],
                raws: Sequence[bytes]) -> Result:
        steps, runs, _ = taken.records
        late = set()
        step_meta, bad = self._metadata(steps)
        late.update(taken.pos[0][j] for j in bad)
        run_meta, bad = self._metadata(runs)
        late.update(taken.pos[1][j] for j in bad)
        configs, bad = self._configs(runs)
        late.update(taken.pos[1][j] for j in bad)
        if late:
            declined |= late
            taken.drop(late)
            step_meta, _ = self._metadata(steps)
            run_meta, _ = self._metadata(runs)
            configs, _ = self._configs(runs)
        result = Result(declined=sorted(declined))
        fast_lines = len(raws) - len(declined)
        result.records = fast_lines + sum(taken.pages.values()) - len(taken.pages)
        heads = [self._head(line_nos, taken, k) for k in range(3)]
        frames = result.frames
        frames["step_records"], frames["tool_call_records"] = _step_frames(
            heads[0], steps, step_meta)
        frames["run_records"] = _run_frame(heads[1], runs, run_meta, configs)
        (frames["delta_events"], frames["delta_calls"],
         frames["delta_outputs"]) = _delta_frames(heads[2], taken.records[2])
        frames["skipped"] = _frame(schemas.SKIPPED, [
            [self.source_file] * len(taken.skip_pos),
            [line_nos[p] for p in taken.skip_pos], taken.skip_shape])
        return result

    def _head(self, line_nos: Sequence[int], taken: _Taken, k: int) -> tuple:
        """(file, line, item, bucket) columns of one kind's records."""
        records = taken.records[k]
        ids = [o.id for o in records]
        buckets = self.buckets
        for i in set(ids).difference(buckets):
            buckets[i] = zlib.crc32(i.encode("utf-8", "surrogatepass")) & _BUCKET_MASK
        return ([self.source_file] * len(ids),
                [line_nos[p] for p in taken.pos[k]], taken.item[k],
                [buckets[i] for i in ids], ids)

    def _metadata(self, records: list) -> tuple[list, list[int]]:
        """The canonical text of each record's metadata (orjson, sorted keys), and the
        indices of records whose metadata the careful checker must judge."""
        cache, out, bad = self.metadata, [], []
        for j, o in enumerate(records):
            text = bytes(o.metadata)
            value = cache.get(text)
            if value is None:
                value = _canonical(text)
                if value is None:
                    bad.append(j)
                else:
                    cache[text] = value
            out.append(value if value is not _NONE else None)
        return out, bad


    def _configs(self, runs: list) -> tuple[list[tuple], list[int]]:
        """The configuration columns of each run (transforms/config.py), computed once
        per distinct raw text (an assistant's runs mostly repeat one configuration), and
        the indices of runs whose values orjson refuses (the careful path judges them)."""
        cache, out, bad = self.configs, [], []
        if len(cache) > _CONFIG_CACHE:
            cache.clear()
        join = _SEPARATOR.join
        for j, o in enumerate(runs):
            # one key of the six raw texts (no JSON text holds a NUL byte: a control
            # character must be escaped in a string, and cannot appear outside one)
            key = join((o.instructions, o.tools, o.temperature, o.top_p, o.response_format,
                        o.reasoning_effort))
            value = cache.get(key)
            if value is None:
                try:
                    values = dict(zip(_CONFIG_KEYS, map(_json, key.split(_SEPARATOR)),
                                      strict=True))
                except orjson.JSONDecodeError:
                    bad.append(j)
                    value = _NO_CONFIG
                else:
                    value = cache[key] = config.assistants(values.get)
            out.append(value)
        return out, bad


_CONFIG_KEYS = ("instructions", "tools", "temperature", "top_p", "response_format",
                "reasoning_effort")
_NO_CONFIG = (None,) * len(config.COLUMNS)
_SEPARATOR = b"\x00"
_CONFIG_CACHE = 4096  # distinct configurations kept per file before the cache restarts


def _json(raw: bytes) -> Any:
    return None if raw == b"null" else orjson.loads(raw)


_NONE = ""  # cached canonical text of a null metadata (identity-compared)


def _canonical(text: bytes) -> str | None:
    """orjson's sorted text of a metadata object, `_NONE` for null; None: decline."""
    if text == b"null":
        return _NONE
    if text[:1] != b"{":
        return None  # not an object: the careful checker names it
    try:
        return orjson.dumps(orjson.loads(text), option=_SORT).decode()
    except (orjson.JSONDecodeError, TypeError):  # TypeError: deeper than orjson writes
        return None


class Result:
    """What the fast path made of a batch: frames, counts, and the declined positions."""

    def __init__(self, declined: list[int]) -> None:
        self.declined = declined
        self.frames: dict[str, pl.DataFrame] = {}
        self.lines = 0
        self.bytes = 0
        self.records = 0


def _without(raws: Sequence[bytes], flagged: set[int]) -> Sequence[bytes]:
    """`raws` with the `flagged` lines replaced by text msgspec refuses."""
    if not flagged:
        return raws
    out = list(raws)
    for p in flagged:
        out[p] = b""
    return out


# ---- building the frames from decoded structs (types already checked by msgspec) ---------

def _empty(name: str) -> Any:
    """An instance of a generated nested struct with every field null: stands in for an
    absent object so that a column is one attribute read per record."""
    return rulebook.STRUCTS[name]()


def _usage_columns(records: list) -> list[list]:
    usages = [o.usage for o in records]
    present = [u is not None for u in usages]
    us = [u if u is not None else _NO_USAGE for u in usages]
    spelled = [(u.prompt_token_details or _NO_CACHED).cached_tokens for u in us]
    other = [(u.prompt_tokens_details or _NO_CACHED).cached_tokens for u in us]
    return [present, [u.prompt_tokens for u in us], [u.completion_tokens for u in us],
            [u.total_tokens for u in us],
            [a if a is not None else b for a, b in zip(spelled, other, strict=True)],
            [(u.completion_tokens_details or _NO_REASONING).reasoning_tokens for u in us]]


def _file_search(calls: list) -> tuple[list, list]:
    """(result count, best score) per call: None, None without file_search results."""
    counts: list = [None] * len(calls)
    best: list = [None] * len(calls)
    for j, call in enumerate(calls):
        fs = call.file_search
        results = fs.results if fs is not None else None
        if results is not None:
            counts[j] = len(results)
            scores = [r.score for r in results if r.score is not None]
            if scores:
                best[j] = float(max(scores))
    return counts, best


def _pick(values: list, index: list[int]) -> list:
    return [values[j] for j in index]


def _tool_calls(details: list) -> tuple[list[int], list[int], list]:
    """Every tool call of the step details (a step's, or a delta's), flattened: for each,
    the index of its details in `details`, its position in their list, the call."""
    owner, positions, calls = [], [], []
    for j, d in enumerate(details):
        if d.tool_calls:
            for pos, call in enumerate(d.tool_calls):
                owner.append(j)
                positions.append(pos)
                calls.append(call)
    return owner, positions, calls


def _step_frames(head: tuple, steps: list, metadata: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    files, lines, items, buckets, ids = head
    errors = [o.last_error or _NO_ERROR for o in steps]
    details = [o.step_details or _NO_DETAILS for o in steps]
    step = _frame(schemas.STEP_RECORDS, [
        files, lines, items, buckets, ids, [o.run_id for o in steps],
        [o.thread_id for o in steps], [o.assistant_id for o in steps],
        [o.type for o in steps], [o.status for o in steps], [o.created_at for o in steps],
        [o.completed_at for o in steps], [o.failed_at for o in steps],
        [o.cancelled_at for o in steps], [o.expired_at for o in steps],
        [e.code for e in errors], [e.message for e in errors],
        [(d.message_creation or _NO_CREATION).message_id for d in details],
        *_usage_columns(steps), metadata])
    owner, index, calls = _tool_calls(details)
    fns = [c.function or _NO_FUNCTION for c in calls]
    chars, images = [0] * len(calls), [0] * len(calls)
    code: list = [None] * len(calls)
    for j, call in enumerate(calls):
        ci = call.code_interpreter
        if ci is not None:
            code[j] = ci.input
            n_chars = n_images = 0
            for out in ci.outputs or ():
                kind = out.type
                if kind == "logs":
                    if out.logs is not None:
                        n_chars += len(out.logs)
                elif kind == "image":
                    n_images += 1
            chars[j], images[j] = n_chars, n_images
    counts, best = _file_search(calls)
    tool_calls = _frame(schemas.TOOL_CALL_RECORDS, [
        _pick(files, owner), _pick(lines, owner),
        _pick(items, owner), _pick(buckets, owner), _pick(ids, owner), index,
        [c.id for c in calls], [c.type for c in calls], [f.name for f in fns],
        [f.arguments for f in fns], [f.output for f in fns], code, chars, images, counts,
        best])
    return step, tool_calls


def _run_frame(head: tuple, runs: list, metadata: list, configs: list[tuple]
               ) -> pl.DataFrame:
    files, lines, items, buckets, ids = head
    errors = [o.last_error or _NO_ERROR for o in runs]
    config_columns: list = list(zip(*configs, strict=True)) if configs else [()] * len(
        config.COLUMNS)
    config_columns[1] = _shared_lists(config_columns[1], schemas.CONFIG_FIELDS["tools"])
    return _frame(schemas.RUN_RECORDS, [
        files, lines, items, buckets, ids, [o.thread_id for o in runs],
        [o.assistant_id for o in runs], [o.model for o in runs], [o.status for o in runs],
        [o.created_at for o in runs], [o.started_at for o in runs],
        [o.completed_at for o in runs], [o.failed_at for o in runs],
        [o.cancelled_at for o in runs], [o.expires_at for o in runs],
        [e.code for e in errors], [e.message for e in errors],
        [(o.incomplete_details or _NO_INCOMPLETE).reason for o in runs],
        *_usage_columns(runs), metadata, *config_columns])


def _delta_frames(head: tuple, deltas: list) -> tuple[pl.DataFrame, pl.DataFrame,
                                                        pl.DataFrame]:
    files, lines, items, buckets, ids = head
    details = [(o.delta or _NO_DELTA).step_details or _NO_DELTA_DETAILS for o in deltas]
    events = _frame(schemas.DELTA_EVENTS, [
        files, lines, items, buckets, ids, [d.type for d in details],
        [(d.message_creation or _NO_CREATION).message_id for d in details]])
    owner, positions, calls = _tool_calls(details)
    index = [pos if c.index is None else c.index
             for pos, c in zip(positions, calls, strict=True)]
    fns = [c.function or _NO_FUNCTION for c in calls]
    cis = [c.code_interpreter for c in calls]
    counts, best = _file_search(calls)
    delta_calls = _frame(schemas.DELTA_CALLS, [
        _pick(files, owner), _pick(lines, owner),
        _pick(items, owner), _pick(buckets, owner), positions, _pick(ids, owner), index,
        [c.id for c in calls], [c.type for c in calls], [f.name for f in fns],
        [f.arguments for f in fns], [f.output for f in fns],
        [ci.input if ci is not None else None for ci in cis], counts, best])
    out_owner, out_rows = [], []
    for j, ci in enumerate(cis):
        if ci is not None and ci.outputs:
            for opos, out in enumerate(ci.outputs):
                out_owner.append(owner[j])
                out_rows.append((opos, index[j], out))
    outs = [out for _, _, out in out_rows]
    delta_outputs = _frame(schemas.DELTA_OUTPUTS, [
        _pick(files, out_owner), _pick(lines, out_owner),
        _pick(items, out_owner), _pick(buckets, out_owner), [r[0] for r in out_rows],
        _pick(ids, out_owner), [r[1] for r in out_rows],
        [r[0] if r[2].index is None else r[2].index for r in out_rows],
        [o.type for o in outs], [o.logs for o in outs],
        [(o.image or _NO_IMAGE).file_id for o in outs]])
    return events, delta_calls, delta_outputs
