"""Decode exported lines into typed record frames: the one place that touches raw JSON,
and the dispatcher of both APIs.

Each API has two paths over one rulebook (`transforms/rulebook.py`, reading the API's
specs: `assistants/spec.py`, `responses/spec.py`):

- the fast paths (`assistants/fast.py`, then `responses/fast.py` for what it declines)
  decode valid lines natively with msgspec structs generated from the rulebook,
  straight into the row lists of the frames;
- what they decline (a decode error, a wrong type, an odd shape, a line a batch check
  flags) is parsed here with orjson, dispatched by shape (list pages, envelopes, billing
  exports, the Responses records) and read by the careful path of its API
  (`assistants/careful.py`, `responses/careful.py`), which checks it field by field with
  `rulebook.check` and is the only place that decides a reject and its reason.

A declined line costs the careful path's price (about ten times the fast one); on real
exports that is a handful of lines. Both paths give identical frames on valid, mutated
and fuzzed lines (tests/transforms/test_decode.py, test_responses_decode.py). Output:
`ParsedBatch`, frames matching the `transforms.schemas` record schemas, plus the counts
the ingest summary balances (docs/ingest.md, "Accounting").
"""

from __future__ import annotations

import contextlib
import gc
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson
import polars as pl

from steplens.transforms import billing, rulebook, schemas
from steplens.transforms.assistants import careful as assistants_careful
from steplens.transforms.assistants import fast as assistants_fast
from steplens.transforms.assistants.careful import BadRecord
from steplens.transforms.responses import fast as responses_fast
from steplens.transforms.responses.careful import StreamState
from steplens.transforms.responses.spec import claimed

RAW_LIMIT = 4096  # characters of an offending line kept in `rejects.raw`

STEP_EVENTS = assistants_fast.STEP_EVENTS


# ---- the decoder ------------------------------------------------------------------------

def _show(value: object) -> bytes:
    """A list item as text for `rejects.raw`: orjson writes at most 255 levels deep (it
    reads 1024), and a reject must never stop the batch."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return b"(not shown: nested too deeply)"


def _is_page(value: object) -> bool:
    return value.__class__ is dict and value.get("object") == "list" and "data" in value


def _page_items(page: dict, where: str):
    """(reason prefix, item, problem or None) for every item of a page, nested pages flat."""
    data = page["data"]
    if data.__class__ is not list:
        yield where, page, rulebook.wrong_type("data", "array", data)
        return
    for i, item in enumerate(data):
        at = f"{where}data[{i}]: "
        if _is_page(item):
            yield from _page_items(item, at)
        elif item.__class__ is not dict:
            yield at, item, rulebook.wrong_type("", "object", item)
        else:
            yield at, item, None


class _Decoder:
    """One pass over one source file's records: the fast path first, the careful checker
    for whatever it declines (or for everything, with `fast=False`)."""

    def __init__(self, source_file: str, fast: bool = True,
                 stream: StreamState | None = None) -> None:
        self.source_file = source_file
        self.lines_read = 0
        self.records_read = 0
        self.bytes_read = 0
        self.careful_read = 0
        self.columns = {name: assistants_fast.Columns(schema)
                        for name, schema in _FRAME_SCHEMAS.items()}
        self.fast = assistants_fast.FastPath(source_file) if fast else None
        self.fast_frames: list[dict[str, pl.DataFrame]] = []
        # The Responses API side (transforms/responses/): what the Assistants fast path declines is
        # tried by its own fast path, then read carefully; both dispatch there.
        self.responses = responses_fast.Decoder(source_file, self.columns, self._reject, stream)
        # Usage and Costs API exports (docs/billing.md, "Reconciling estimated cost with
        # the bill"): read here only, the fast paths decline them (a few lines a day).
        self.billing = billing.Reader(
            lambda line_no, item: (source_file, line_no, item),
            self.columns["billing_usage_records"].add,
            self.columns["billing_costs_records"].add, self._reject, self._skip)

    # ---- entry points ---------------------------------------------------------------

    def lines(self, line_nos: Sequence[int], raws: Sequence[bytes], flagged: set[int]) -> None:
        """Lines numbered `line_nos` (increasing); those in `flagged` (positions) go careful."""
        if self.fast is None:
            for line_no, raw in zip(line_nos, raws, strict=True):
                self._careful_line(line_no, raw)
            return
        result = self.fast.lines(line_nos, raws, flagged)
        self._took(result)
        for pos in result.declined:
            self._declined(line_nos[pos], raws[pos], pos in flagged)

    def _declined(self, line_no: int, raw: bytes, careful: bool) -> None:
        """A line the Assistants fast path left: the Responses fast path, else careful."""
        if not careful:
            n = self.responses.fast_line(line_no, raw)
            if n:
                self.lines_read += 1
                self.bytes_read += len(raw) + 1
                self.records_read += n
                return
        self._careful_line(line_no, raw)

    def events(self, line_nos: Sequence[int], names: Sequence[str | None],
               datas: Sequence[bytes], flagged: set[int]) -> None:
        """Raw SSE blocks (see `event`); those in `flagged` (positions) go careful.

        The Assistants fast path takes what it can in one batch; the blocks it declines
        are then read in order (the Responses stream state depends on it), by the
        Responses fast path where they are not flagged, else carefully."""
        if self.fast is None:
            declined: Iterable[int] = range(len(datas))
        else:
            result = self.fast.events(line_nos, names, datas, flagged)
            self._took(result)
            declined = result.declined
        for pos in declined:
            line_no, name, data = line_nos[pos], names[pos], datas[pos]
            if self.fast is not None and pos not in flagged:
                text = data.strip()
                n = (self.responses.fast_block(line_no, name, text)
                     if text and text != b"[DONE]" else 0)
                if n:
                    self.records_read += n
                    self.bytes_read += len(data)
                    continue
            self.event(line_no, name, data)

    def _took(self, result: assistants_fast.Result) -> None:
        self.lines_read += result.lines
        self.bytes_read += result.bytes
        self.records_read += result.records
        self.fast_frames.append(result.frames)

    def _careful_line(self, line_no: int, raw: bytes) -> None:
        self.lines_read += 1
        self.careful_read += 1
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
        """One raw SSE block, careful: `event: NAME` and its (joined) `data:` payload."""
        text = data.strip()
        self.records_read += 1
        self.bytes_read += len(data)
        self.careful_read += 1
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
        self.columns["skipped"].add((self.source_file, line_no, shape))

    def _reject(self, line_no: int, reason: str, raw: bytes | str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self.columns["rejects"].add((self.source_file, line_no, reason, text[:RAW_LIMIT]))

    def _top(self, line_no: int, value: object, text: bytes) -> None:
        """A whole line (or bare SSE payload): a list page, or one record."""
        if billing.is_billing(value) and not _is_page(value):
            self.records_read += self.billing.value(line_no, value, text)
            return
        if _is_page(value):
            self._list_page(line_no, value, text)  # counts one record per item
            return
        self.records_read += 1
        if value.__class__ is not dict:
            self._reject(line_no, rulebook.wrong_type("", "object", value), text)
            return
        self._value(line_no, -1, value, text)

    def _list_page(self, line_no: int, page: dict, text: bytes) -> None:
        """Each item of a list page is read as if it were its own line (pages nest)."""
        items = list(_page_items(page, ""))
        if not items:
            self.records_read += 1
            self._skip(line_no, "empty_list")
            return
        buckets = billing.has_buckets(page["data"])
        context = billing.container_kind(page["data"]) if buckets else None
        for n, (where, item, problem) in enumerate(items):
            if buckets and problem is None and item.get("object") == "bucket":
                self.records_read += self.billing.bucket(line_no, n, item, context, where)
                continue
            self.records_read += 1
            if problem is not None:
                self._reject(line_no, f"{where}{problem}", text if where == "" else _show(item))
            else:
                self._value(line_no, n, item, None, prefix=where)

    def _value(self, line_no: int, item: int, value: dict, text: bytes | None,
               prefix: str = "") -> None:
        """Dispatch one record (a line, a list item or an SSE block) by its shape."""
        record = claimed(value)
        # a Responses API record (docs/responses.md, "Responses API and Conversations")
        if record is not None:
            self.responses.careful(line_no, item, record,
                                   text if text is not None else _show(value), prefix)
            return
        try:
            if "event" in value and "object" not in value:
                self._envelope(line_no, item, value)
            else:
                self._object(line_no, item, value, value.get("object"))
        except BadRecord as e:
            raw = text if text is not None else _show(value)
            self._reject(line_no, f"{prefix}{e}", raw)

    def _envelope(self, line_no: int, item: int, env: dict) -> None:
        event = env.get("event")
        if event.__class__ is not str:
            raise BadRecord(rulebook.wrong_type("event", "string", event))
        data = env.get("data")
        if data.__class__ is not dict:
            if event.startswith("thread.run."):
                raise BadRecord(rulebook.wrong_type("data", "object", data))
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
        if kind.__class__ is str and kind in assistants_careful.EXTRACTORS:
            self._object(line_no, item, data, kind, prefix="data.")
        else:
            self._skip(line_no, event)

    def _object(self, line_no: int, item: int, o: dict, kind: object, prefix: str = "") -> None:
        if kind.__class__ is not str or kind not in assistants_careful.EXTRACTORS:
            self._skip(line_no, kind if kind.__class__ is str else "unknown")
            return
        rows = assistants_careful.records(kind, o, prefix, f"{self.source_file}:{line_no}")
        head = (self.source_file, line_no, item,
                zlib.crc32(o["id"].encode("utf-8", "surrogatepass")) & (schemas.BUCKETS - 1))
        for name, frame_rows in rows:
            frame = self.columns[name]
            for row in frame_rows:
                frame.add(head + row)

    # ---- result ---------------------------------------------------------------------

    def frames(self) -> dict[str, pl.DataFrame]:
        """The fast path's frames and the careful rows, in line order (a line is read
        whole by one path or the other, so a stable sort on the line interleaves them)."""
        out = {}
        for name, columns in self.columns.items():
            parts = [f[name] for f in self.fast_frames if name in f and f[name].height]
            if len(columns) or not parts:
                parts.append(columns.frame())
            frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
            if len(columns) and len(parts) > 1:
                frame = frame.sort("line_no" if name in ("rejects", "skipped") else "rec_line",
                                   maintain_order=True)
            out[name] = frame
        return out

    def result(self) -> ParsedBatch:
        return ParsedBatch(**self.frames(), lines_read=self.lines_read,
                           records_read=self.records_read, bytes_read=self.bytes_read,
                           careful_read=self.careful_read)


_FRAME_SCHEMAS = schemas.RECORD_FRAMES


@dataclass
class ParsedBatch:
    """Record frames decoded from some lines, with the counts that must balance."""

    step_records: pl.DataFrame
    tool_call_records: pl.DataFrame
    run_records: pl.DataFrame
    delta_events: pl.DataFrame
    delta_calls: pl.DataFrame
    delta_outputs: pl.DataFrame
    response_records: pl.DataFrame
    response_items: pl.DataFrame
    response_events: pl.DataFrame
    response_outputs: pl.DataFrame
    billing_usage_records: pl.DataFrame
    billing_costs_records: pl.DataFrame
    rejects: pl.DataFrame
    skipped: pl.DataFrame
    lines_read: int = 0
    records_read: int = 0
    bytes_read: int = 0
    # Lines (SSE blocks) the fast paths left to the careful checker: what the tests of
    # the fast paths check is 0 on the shapes they must take, and what a benchmark can
    # watch; the frames are the same either way.
    careful_read: int = 0
    # The file vanished, shrank or changed while it was read: the next ingest must
    # read it again (docs/ingest.md, "Input").
    read_again: bool = False
    # Field coverage of the batch's lines (transforms/coverage.py), set by the reader
    # that had the raw lines (flows/io/inputs.py); None: not computed.
    coverage: pl.DataFrame | None = None

    def skipped_by_shape(self) -> dict[str, int]:
        counts = self.skipped.group_by("shape").len().sort("shape")
        return dict(zip(counts["shape"], counts["len"], strict=True))

    FRAMES = tuple(schemas.RECORD_FRAMES)

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
                           records_read=self.records_read, bytes_read=self.bytes_read,
                           careful_read=self.careful_read, read_again=self.read_again,
                           coverage=None if self.coverage is None else self.coverage
                           .with_columns(pl.col("line_no") + offset))

    @classmethod
    def concat(cls, batches: Iterable[ParsedBatch]) -> ParsedBatch:
        batches = list(batches)
        if not batches:
            return _Decoder("", fast=False).result()
        frames = {
            name: pl.concat([getattr(b, name) for b in batches], how="vertical")
            for name in cls.FRAMES
        }
        return cls(
            **frames,
            lines_read=sum(b.lines_read for b in batches),
            records_read=sum(b.records_read for b in batches),
            bytes_read=sum(b.bytes_read for b in batches),
            careful_read=sum(b.careful_read for b in batches),
            read_again=any(b.read_again for b in batches),
            coverage=_coverage([b.coverage for b in batches]),
        )


def _coverage(frames: list[pl.DataFrame | None]) -> pl.DataFrame | None:
    """The batches' field coverage together (None when none was computed)."""
    present = [f for f in frames if f is not None]
    return pl.concat(present, how="vertical") if present else None


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Millions of short-lived rows: the cyclic collector would triple the cost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_lines(source_file: str, lines: Iterable[tuple[int, bytes]],
                careful: bool = False) -> ParsedBatch:
    """Decode (line number, raw bytes) pairs of one file, line numbers increasing, into
    record frames.

    `careful=True` reads every line with the careful checker (the reference the fast
    path is tested against).
    """
    pairs = list(lines)
    line_nos = [n for n, _ in pairs]
    raws = [raw for _, raw in pairs]
    decoder = _Decoder(source_file, fast=not careful)
    flagged = set() if careful else assistants_fast.suspects(raws)
    with _no_gc():
        decoder.lines(line_nos, raws, flagged)
        return decoder.result()


def parse_block(source_file: str, first_line: int, data: bytes,
                stream: StreamState | None = None, unread: list[int] | None = None
                ) -> ParsedBatch:
    """Decode the lines of `data` (whole lines; the last one may lack its newline),
    numbered from `first_line`. `stream`: where the file's Responses streams stood after
    the previous batch.

    The batch checks (`assistants_fast.suspects`) run once over `data` itself, or, given
    `unread` (the positions of the lines the field-coverage scanner did not read,
    `coverage.scan_block`), over those lines alone: the scanner proved every other line
    valid UTF-8, free of numbers orjson finds infinite and no deeper than 500 levels
    (tests/transforms/test_coverage_scan.py)."""
    raws = data.split(b"\n")
    if raws[-1] == b"":
        raws.pop()
    decoder = _Decoder(source_file, stream=stream)
    flagged = _flagged(raws, unread, joined=data)
    with _no_gc():
        decoder.lines(range(first_line, first_line + len(raws)), raws, flagged)
        return decoder.result()


def _flagged(raws: list[bytes], unread: list[int] | None, joined: bytes | None = None
             ) -> set[int]:
    """The batch check (`assistants_fast.suspects`) of `raws` (`joined`: as it takes
    it), or of its `unread` lines alone when the coverage scanner proved the others
    clean."""
    if unread is None:
        return assistants_fast.suspects(raws, joined=joined)
    unread = [i for i in unread if i < len(raws)]
    return {unread[j] for j in assistants_fast.suspects([raws[i] for i in unread])}


def parse_events(source_file: str, events: Iterable[tuple[int, str | None, bytes]],
                 careful: bool = False, stream: StreamState | None = None,
                 unread: list[int] | None = None) -> ParsedBatch:
    """Decode raw SSE blocks (line number, event name, data bytes) of one file.
    `unread`: as `parse_block`'s (`coverage.scan_events`)."""
    events = list(events)
    datas = [data for _, _, data in events]
    decoder = _Decoder(source_file, fast=not careful, stream=stream)
    flagged = set() if careful else _flagged(datas, unread)
    with _no_gc():
        decoder.events([n for n, _, _ in events], [e for _, e, _ in events], datas, flagged)
        return decoder.result()


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
