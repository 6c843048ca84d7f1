"""Field coverage (docs/fidelity.md): every path of every input record, and what holds it.

The archives cannot be fetched again, and the API's shapes drift: a field steplens does
not map is lost without a word unless something counts it. This module walks the input
records of a batch of lines (or SSE blocks) once and counts, per `(api, object, path)`,
the records in which the path holds a non-null value, with the first and last of those
records' own timestamps. `mapped_to` names the `table.column` that captures a path.

Rules (the contract the tests walk independently):

- records: a JSON line (or SSE `data:` payload, or a whole JSON document) that is an
  object; a list page (`object` "list" or "page" with a `data` array) stands for its
  items, nested pages flat; an envelope (`event` without `object`, or an SSE block with
  an `event:` name) stands for its `data` object. Values that are not objects, invalid
  JSON and blank lines hold no record here (they are rejects or skipped).
- `object`: the record's `object` if a string, else its `type` if a string, else the
  envelope's event name, else `request` for a body with `input`, else `unknown`.
- `api`: `assistants` for `thread*` and `assistant` objects, `billing` for `bucket`,
  `page` and `organization.*`, `responses` for everything else.
- `path`: keys joined by `.`, an array step written `[]`; every non-null value has its
  path (objects and arrays too, even empty), so `output`, `output[]`, `output[].type`.
- timestamp: the record's `created_at`, else its `response.created_at`, when a number of
  Unix seconds in 0..9999-12-31; NULL otherwise (stream deltas carry none).

Cost: a line is read by the C scanner `_scan.c` (built with the package; where it could
not be built, `NATIVE` is False and every line takes the orjson path): it returns the
line's kind, time and *skeleton* (the line without its nulls and values, every run of
equal array items once), and lines of one skeleton are counted together, in C; each
skeleton is walked once (cached across batches). What the scanner cannot prove orjson
reads the same way (see `_scan.c`) takes the orjson path: a text seen before in the
batch is one look-up; any other, one `orjson.loads`, and a record's paths come in parts
reused across the batch (`_Shapes`). benchmarks/README.md, "The phases", 8, has what
was measured and tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import polars as pl

from steplens.transforms import extras, schemas
from steplens.transforms.rulebook import MAX_TS

try:
    from steplens.transforms._scan import scan as _scan
    from steplens.transforms._scan import scan_batch as _scan_batch
    from steplens.transforms._scan import scan_block as _scan_block
except ImportError:  # not built (no C compiler at install): the orjson path for every line
    _scan = _scan_batch = _scan_block = None
NATIVE = _scan is not None  # tests/transforms/test_coverage_scan.py requires it built

_PAGES = ("list", "page")


def _object(record: dict, event: Any) -> str:
    o = record.get("object")
    if o.__class__ is str:
        return o
    t = record.get("type")
    if t.__class__ is str:
        return t
    if event.__class__ is str:
        return event
    return "request" if "input" in record else "unknown"


def api_of(obj: str) -> str:
    """Which API an object type belongs to (see the module docstring)."""
    if obj.startswith("thread") or obj == "assistant":
        return "assistants"
    if obj in ("bucket", "page") or obj.startswith("organization."):
        return "billing"
    return "responses"


def records(value: Any, event: str | None = None) -> Iterator[tuple[str, dict]]:
    """(object, record) of every record a JSON value holds (`event`: its SSE event name)."""
    if value.__class__ is not dict:
        return
    if event is None and "event" in value and "object" not in value:
        event, value = value["event"], value.get("data")
        if value.__class__ is not dict:
            return
    elif event is None and value.get("object") in _PAGES and (
            value.get("data").__class__ is list):
        for item in value["data"]:
            yield from records(item)
        return
    yield _object(value, event), value


def _walk(value: dict | list, path: str | None, out: set) -> None:
    """Add to `out` every path under `value` (itself at `path`; None: the record) that
    holds a non-null value: an object's keys joined by `.`, an array's items as `[]`."""
    if value.__class__ is dict:
        prefix = "" if path is None else path + "."
        for key, v in value.items():
            if v is not None:
                p = prefix + key
                out.add(p)
                if v.__class__ is dict or v.__class__ is list:
                    _walk(v, p, out)
    else:
        p = path + "[]"
        for v in value:
            if v is not None:
                out.add(p)
                if v.__class__ is dict or v.__class__ is list:
                    _walk(v, p, out)


def paths(record: dict) -> frozenset[str]:
    """Every path of `record` that holds a non-null value."""
    out: set[str] = set()
    _walk(record, None, out)
    return frozenset(out)


_NONE = type(None)
_TRIES = 32  # a key's subtrees are looked up by content this many times before the
# hit rate decides (see `_Shapes.subtree`)
_LINE_TRIES = 512  # a batch's texts are looked up whole this many times before the hit
# rate decides (1 in 16 found: see `Counter.texts`)


class _Shapes:
    """Path sets of a batch's records, computed once per shape and reused.

    The walk costs a Python step per value; most records of an export repeat a handful
    of shapes, so a record's paths are taken in two exact parts:

    - its own keys: `(keys, type of each value)` (two tuples built in C) determines
      which keys hold a non-null value and which hold an object or array;
    - each object or array under a key: its JSON text (`orjson.dumps`, in C) determines
      its paths, so a subtree seen before (tool definitions, metadata, a truncation
      strategy...) is not walked again. Under a key whose subtrees rarely repeat (usage
      counts, step details with ids), looking them up costs more than it saves: after
      `_TRIES` look-ups with fewer than half found, that key's subtrees are walked.

    A record's shape is the tuple of those parts' frozensets (interned: equal sets are
    one object, so the tuple hashes from their cached hashes); `paths_of` unites them.
    One per batch: the JSON texts looked up stay until the batch is counted (at most
    the batch's own bytes; measured: no change in the pass's peak RSS).
    """

    def __init__(self) -> None:
        self.tops: dict[tuple, tuple[frozenset, tuple]] = {}  # (keys, types) -> paths, nested keys
        self.subtrees: dict[tuple[str, bytes], frozenset] = {}  # (key, JSON) -> paths
        self.tries: dict[str, list[int]] = {}  # key -> [look-ups, found]
        self.interned: dict[frozenset, frozenset] = {}

    def shape(self, record: dict) -> tuple[frozenset, ...]:
        """The parts of `record`'s path set (their union is `paths(record)`)."""
        sig = (tuple(record), tuple(map(type, record.values())))
        top = self.tops.get(sig)
        if top is None:
            top = self.tops[sig] = self._top(*sig)
        own, nested = top
        if not nested:
            return (own,)
        return (own, *[self.subtree(key, record[key]) for key in nested])

    def _top(self, keys: tuple, types: tuple) -> tuple[frozenset, tuple]:
        own = frozenset(k for k, t in zip(keys, types, strict=True) if t is not _NONE)
        nested = tuple(k for k, t in zip(keys, types, strict=True) if t is dict or t is list)
        return self._intern(own), nested

    def subtree(self, key: str, value: dict | list) -> frozenset:
        """The paths under `value` (the object or array under the record's `key`)."""
        tries = self.tries.get(key)
        if tries is None:
            tries = self.tries[key] = [0, 0]
        if tries[0] < _TRIES or 2 * tries[1] >= tries[0]:
            try:
                text = orjson.dumps(value)
            except orjson.JSONEncodeError:  # deeper than orjson writes: walked
                text = None
            if text is not None:
                tries[0] += 1
                found = self.subtrees.get((key, text))
                if found is not None:
                    tries[1] += 1
                    return found
                found = self.subtrees[(key, text)] = self._walked(key, value)
                return found
        return self._walked(key, value)

    def _walked(self, key: str, value: dict | list) -> frozenset:
        out: set[str] = set()
        _walk(value, key, out)
        return self._intern(frozenset(out))

    def _intern(self, paths: frozenset) -> frozenset:
        return self.interned.setdefault(paths, paths)


def paths_of(shape: tuple[frozenset, ...]) -> list[str]:
    """The paths of a record of that shape."""
    return list(shape[0].union(*shape[1:]))


def timestamp(record: dict) -> int | None:
    """The record's own time in Unix microseconds (see the module docstring), or None."""
    ts = record.get("created_at")
    if ts.__class__ is not int and ts.__class__ is not float:
        resp = record.get("response")
        ts = resp.get("created_at") if resp.__class__ is dict else None
        if ts.__class__ is not int and ts.__class__ is not float:
            return None
    if not 0 <= ts <= MAX_TS:  # NaN fails too
        return None
    return int(ts * 1_000_000)


class Counter:
    """Counts of one batch of one file: records grouped by (object, shape), with their
    time range; `frame()` expands the groups to paths. The batch's last line is kept
    apart (see `schemas.FIELD_PATHS`)."""

    def __init__(self, source_file: str) -> None:
        self.source_file = source_file
        self.groups: dict[tuple[str, tuple], list] = {}  # (object, shape) -> [records, first, last]
        self.first_line: int | None = None
        self.last_line: int | None = None
        self.pending: list[tuple[str, tuple, int | None]] = []  # the last line's
        self.shapes = _Shapes()
        # lines the scanner read: kind + b"\n" + skeleton -> [records, first, last]
        self.skeletons: dict[bytes, list] = {}
        self.native = NATIVE

    def texts(self, items: Sequence[tuple[int, bytes, str | None]]) -> list[int] | None:
        """Count the records of a batch's JSON texts: (line number, text, SSE event name),
        in line order, one text a line number. Invalid JSON holds no record.

        Returns the positions in `items` the scanner did not read (as `block`; None
        without the scanner)."""
        if not items:
            return []
        self.first_line, self.last_line = items[0][0], items[-1][0]
        body = items[:-1]
        declined: list[int] = []
        if self.native and body:  # what the scanner reads is counted in C, by skeleton
            events = [event for _, _, event in body]
            declined = self._scan([text for _, text, _ in body],
                                  None if all(e is None for e in events) else events)
            body = [body[i] for i in declined]
        self._read(body)
        self._last(items[-1][1], items[-1][2])
        return [*declined, len(items) - 1] if self.native else None

    def lines(self, first_line: int, raws: list[bytes]) -> None:
        """`texts` of JSON lines numbered from `first_line`, blank ones skipped (without a
        tuple per line: the scanner takes the list as it is)."""
        lo, hi = 0, len(raws) - 1
        while lo <= hi and _blank(raws[lo]):
            lo += 1
        while hi >= lo and _blank(raws[hi]):
            hi -= 1
        if lo > hi:
            return
        if not self.native:
            self.texts([(n, raw, None) for n, raw in enumerate(raws, first_line)
                        if not _blank(raw)])
            return
        self.first_line, self.last_line = first_line + lo, first_line + hi
        body = raws[lo:hi]
        declined = self._scan(body, None)  # a blank line among them is declined
        self._read([(0, body[i], None) for i in declined if not _blank(body[i])])
        self._last(raws[hi], None)

    def block(self, first_line: int, data: bytes) -> list[int]:
        """`lines` of a block of JSON lines, split and scanned in C (`NATIVE` only).

        Returns the positions (in `data.split(b"\n")`) of the lines the scanner did not
        read: every non-blank line but the last that may be invalid UTF-8, hold a number
        orjson finds infinite, nest deeper than 500 levels, or hold anything else it
        cannot prove orjson reads its way (`transforms/parse.py` sends them to the
        careful path), then the last non-blank line, which it does not scan."""
        scanned, declined, first, last, start, end = _scan_block(data)
        if last < 0:
            return []
        self.first_line, self.last_line = first_line + first, first_line + last
        for key, n, first_seen, last_seen in scanned:
            _merge(self.skeletons, key, [n, first_seen, last_seen])
        self._read([(0, data[a:b], None) for _, a, b in declined])
        self._last(data[start:end], None)
        return [i for i, _, _ in declined] + [last]

    def _scan(self, texts: list[bytes], events: list | None) -> list[int]:
        """Count what the scanner reads of `texts`; the indices of those it declines."""
        scanned, declined = _scan_batch(texts, events)
        for key, n, first, last in scanned:
            _merge(self.skeletons, key, [n, first, last])
        return declined

    def _last(self, text: bytes, event: str | None) -> None:
        """The batch's last line, kept apart (see `schemas.FIELD_PATHS`)."""
        self.pending = [(obj, self.shapes.shape(record), timestamp(record))
                        for obj, record in records(_loads(text), event)]

    def _read(self, body: Sequence[tuple[int, bytes, str | None]]) -> None:
        """Count the records of `body` read by orjson (the contract; see `texts`)."""
        groups, shape, loads, bad = self.groups, self.shapes.shape, orjson.loads, (
            orjson.JSONDecodeError)
        # A text seen before in the batch (a run listed again unchanged) counts as it
        # did: its records' groups, each one record more (same time, so same range).
        seen: dict[bytes | tuple[str, bytes], list[list]] = {}
        tries = found_again = 0
        for _, text, event in body:
            if tries < _LINE_TRIES or found_again * 16 >= tries:
                tries += 1
                line_key = text if event is None else (event, text)
                again = seen.get(line_key)
                if again is not None:
                    found_again += 1
                    for g in again:
                        g[0] += 1
                    continue
                counted = seen[line_key] = []
            else:
                counted = []
            try:
                value = loads(text)
            except bad:
                continue
            if value.__class__ is dict and event is None and "object" in value and (
                    value["object"] not in _PAGES) and value["object"].__class__ is str:
                found = ((value["object"], value),)  # a plain record: the usual line
            else:
                found = records(value, event)
            for obj, record in found:
                ts = record.get("created_at")
                ts = ts * 1_000_000 if ts.__class__ is int and 0 <= ts <= MAX_TS else (
                    timestamp(record))
                key = (obj, shape(record))
                g = groups.get(key)
                if g is None:
                    g = groups[key] = [1, ts, ts]
                else:
                    g[0] += 1
                    if ts is not None:
                        if g[1] is None or ts < g[1]:
                            g[1] = ts
                        if g[2] is None or ts > g[2]:
                            g[2] = ts
                counted.append(g)

    def frame(self) -> pl.DataFrame:
        """One row per (line group, api, object, path) (see `schemas.FIELD_PATHS`)."""
        # groups of one path set merged first: skeletons differ where their paths do not
        # (key order, array lengths), and a row per path is the costly part
        merged: dict[tuple[int | None, str, frozenset], list] = {}
        sets: dict[tuple, frozenset] = {}
        for (obj, shape), g in self.groups.items():
            path_set = sets.get(shape)
            if path_set is None:
                path_set = sets[shape] = frozenset(paths_of(shape))
            _merge(merged, (self.first_line, obj, path_set), g)
        for key, g in self.skeletons.items():
            kind, _, skeleton = key.partition(b"\n")
            _merge(merged, (self.first_line, kind.decode(), _skeleton_paths(skeleton)), g)
        for obj, shape, ts in self.pending:
            _merge(merged, (self.last_line, obj, frozenset(paths_of(shape))), [1, ts, ts])
        if not merged:
            return empty()
        # a row per (group, path), made of path ids in NumPy (each path set's ids cached),
        # joined to the groups' own columns and summed by path in Polars
        _PathIds.bound()
        groups = list(merged.items())
        ids = [_PathIds.of(path_set) for (_, _, path_set), _ in groups]
        lens = np.fromiter((a.size for a in ids), dtype=np.int64, count=len(ids))
        by_group = pl.DataFrame({
            "g": pl.Series(np.repeat(np.arange(len(groups), dtype=np.uint32), lens)),
            "path_id": pl.Series(np.concatenate(ids))})
        group_rows = pl.DataFrame({
            "g": pl.Series(np.arange(len(groups), dtype=np.uint32)),
            "line_no": [k[0] for k, _ in groups], "object": [k[1] for k, _ in groups],
            "records": [g[0] for _, g in groups], "first_seen": [g[1] for _, g in groups],
            "last_seen": [g[2] for _, g in groups]},
            schema_overrides={"line_no": pl.Int64, "object": pl.String, "records": pl.Int64,
                              "first_seen": pl.Int64, "last_seen": pl.Int64})
        apis = {o: api_of(o) for o in set(group_rows["object"])}
        rows = (by_group.lazy().join(group_rows.lazy(), on="g")
                .group_by("line_no", "object", "path_id")
                .agg(pl.col("records").sum(), pl.col("first_seen").min(),
                     pl.col("last_seen").max())
                .collect())
        return (rows.with_columns(path=_PathIds.names().gather(rows["path_id"]))
                .with_columns(source_file=pl.lit(self.source_file),
                              api=pl.col("object").replace_strict(apis, return_dtype=pl.String),
                              first_seen=pl.from_epoch("first_seen", time_unit="us"),
                              last_seen=pl.from_epoch("last_seen", time_unit="us"))
                .select(schemas.FIELD_PATHS.names()).cast(dict(schemas.FIELD_PATHS)))


def _merge(merged: dict, key: tuple, g: list) -> None:
    """Add group `g` ([records, first, last]) to `merged[key]`."""
    m = merged.get(key)
    if m is None:
        merged[key] = list(g)
        return
    m[0] += g[0]
    if g[1] is not None and (m[1] is None or g[1] < m[1]):
        m[1] = g[1]
    if g[2] is not None and (m[2] is None or g[2] > m[2]):
        m[2] = g[2]


_SKELETONS: dict[bytes, frozenset] = {}  # skeleton -> its paths, across batches
_SKELETONS_MAX = 8192  # about 5 MB of skeletons; cleared when full


def _skeleton_paths(skeleton: bytes) -> frozenset:
    """The paths of a record of that skeleton (a skeleton holds no null: every key's
    path is a path of the record)."""
    found = _SKELETONS.get(skeleton)
    if found is None:
        if len(_SKELETONS) >= _SKELETONS_MAX:
            _SKELETONS.clear()
        found = _SKELETONS[skeleton] = paths(orjson.loads(skeleton))
    return found


class _PathIds:
    """Every path seen by this process, numbered; each path set's ids as a NumPy array.
    Process-wide (a worker counts many batches): bounded, cleared between batches."""

    ids: dict[str, int] = {}
    paths: list[str] = []
    sets: dict[frozenset, np.ndarray] = {}
    series: pl.Series | None = None
    MAX = 200_000  # paths (user-named keys: metadata, tool parameters) before a reset

    @classmethod
    def bound(cls) -> None:
        if len(cls.paths) > cls.MAX or len(cls.sets) > _SKELETONS_MAX:
            cls.ids, cls.paths, cls.sets, cls.series = {}, [], {}, None

    @classmethod
    def of(cls, path_set: frozenset) -> np.ndarray:
        found = cls.sets.get(path_set)
        if found is None:
            ids, paths = cls.ids, cls.paths
            out = []
            for p in path_set:
                i = ids.get(p)
                if i is None:
                    i = ids[p] = len(paths)
                    paths.append(p)
                out.append(i)
            found = cls.sets[path_set] = np.array(out, dtype=np.uint32)
        return found

    @classmethod
    def names(cls) -> pl.Series:
        """The paths by id (a Series rebuilt only when paths were added)."""
        if cls.series is None or len(cls.series) != len(cls.paths):
            cls.series = pl.Series(cls.paths, dtype=pl.String)
        return cls.series


def _loads(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _blank(raw: bytes) -> bool:
    return not raw or raw.isspace()


def of_lines(source_file: str, first_line: int, raws: Iterable[bytes]) -> pl.DataFrame:
    """Coverage of JSON lines numbered from `first_line` (blank lines hold no record)."""
    counter = Counter(source_file)
    counter.lines(first_line, raws if isinstance(raws, list) else list(raws))
    return counter.frame()


def of_block(source_file: str, first_line: int, data: bytes) -> pl.DataFrame:
    """Coverage of a block of whole JSON lines (the last may lack its newline)."""
    return scan_block(source_file, first_line, data)[0]


def scan_block(source_file: str, first_line: int, data: bytes
               ) -> tuple[pl.DataFrame, list[int] | None]:
    """`of_block`, and the lines the scanner left to orjson (`Counter.block`; None
    without the scanner): the parser's batch check needs to look at those alone."""
    counter = Counter(source_file)
    if counter.native:
        unread = counter.block(first_line, data)
    else:
        counter.lines(first_line, data.split(b"\n"))
        unread = None
    return counter.frame(), unread


def of_events(source_file: str, events: Iterable[tuple[int, str | None, bytes]]
              ) -> pl.DataFrame:
    """Coverage of raw SSE blocks: (line of the first `data:` line, event name, data)."""
    return scan_events(source_file, list(events))[0]


def scan_events(source_file: str, events: Sequence[tuple[int, str | None, bytes]]
                ) -> tuple[pl.DataFrame, list[int] | None]:
    """`of_events`, and the positions in `events` of the blocks the scanner did not read
    (as `scan_block`; blocks holding no JSON text are not among them)."""
    counter = Counter(source_file)
    kept = [p for p, (_, _, data) in enumerate(events)
            if (text := data.strip()) and text != b"[DONE]"]
    unread = counter.texts([(events[p][0], events[p][2].strip(), events[p][1])
                            for p in kept])
    return counter.frame(), None if unread is None else [kept[i] for i in unread]


def of_document(source_file: str, data: bytes) -> pl.DataFrame:
    """Coverage of a whole JSON document (line 1): an object, or an array read as a page."""
    counter = Counter(source_file)
    value = _loads(data.removeprefix(b"\xef\xbb\xbf"))
    page = {"object": "list", "data": value} if value.__class__ is list else value
    counter.first_line = counter.last_line = 1
    counter.pending = [(obj, counter.shapes.shape(record), timestamp(record))
                       for obj, record in records(page)]
    return counter.frame()


def empty() -> pl.DataFrame:
    return schemas.empty(schemas.FIELD_PATHS)


def remove_lines(frame: pl.DataFrame, path: str, from_line: int) -> pl.DataFrame:
    """`frame` without the rows of `path` from line `from_line` on (see FIELD_PATHS)."""
    return frame.filter(~((pl.col("source_file") == path) & (pl.col("line_no") >= from_line)))


def table(frames: Iterable[pl.LazyFrame | pl.DataFrame]) -> pl.DataFrame:
    """The `field_coverage` table from every segment's rows."""
    frames = [f.lazy() for f in frames]
    if not frames:
        return schemas.empty(schemas.FIELD_COVERAGE)
    out = (pl.concat(frames).group_by("api", "object", "path")
           .agg(records=pl.col("records").sum(), first_seen=pl.col("first_seen").min(),
                last_seen=pl.col("last_seen").max())
           .collect())
    mapped = [mapped_to(a, o, p) for a, o, p in out.select("api", "object", "path").iter_rows()]
    return (out.with_columns(mapped_to=pl.Series(mapped, dtype=pl.String))
            .select(schemas.FIELD_COVERAGE.names()).cast(dict(schemas.FIELD_COVERAGE))
            .sort("api", "object", "path"))


# ---- what captures a path -------------------------------------------------------------
# Per record shape: path -> `table.column`. A column ending `*` stores the value whole
# (JSON text, a hash, a set): the path's sub-paths are covered by it too. The record's
# own discriminator (`object`, or `type` of an item or event) is held by
# `field_coverage.object` itself.

_USAGE_A = {
    "usage": "usage.total_tokens",
    "usage.prompt_tokens": "{t}.prompt_tokens",
    "usage.completion_tokens": "{t}.completion_tokens",
    "usage.total_tokens": "{t}.total_tokens",
    "usage.prompt_token_details": "{t}.cached_tokens",
    "usage.prompt_token_details.cached_tokens": "{t}.cached_tokens",
    "usage.prompt_tokens_details": "{t}.cached_tokens",
    "usage.prompt_tokens_details.cached_tokens": "{t}.cached_tokens",
    "usage.completion_tokens_details": "{t}.reasoning_tokens",
    "usage.completion_tokens_details.reasoning_tokens": "{t}.reasoning_tokens",
}


def _fill(m: dict[str, str], table: str) -> dict[str, str]:
    return {k: v.replace("{t}", table) for k, v in m.items()}


RUN = {
    "object": "field_coverage.object", "id": "runs.run_id", "thread_id": "runs.thread_id",
    "assistant_id": "runs.assistant_id", "model": "runs.model", "status": "runs.status",
    **{c: f"runs.{c}" for c in ("created_at", "started_at", "completed_at", "failed_at",
                                "cancelled_at", "expires_at")},
    "last_error": "runs.last_error_code", "last_error.code": "runs.last_error_code",
    "last_error.message": "runs.last_error_message",
    "incomplete_details": "runs.incomplete_reason",
    "incomplete_details.reason": "runs.incomplete_reason",
    **_fill(_USAGE_A, "runs"),
    "metadata": "runs.metadata*", "instructions": "runs.instructions_hash*",
    "tools": "runs.tools*", "temperature": "runs.temperature", "top_p": "runs.top_p",
    "response_format": "runs.response_format*", "reasoning_effort": "runs.reasoning_effort",
}

_CALL = {
    "": "tool_calls.call_index", ".id": "tool_calls.tool_call_id",
    ".type": "tool_calls.type", ".function": "tool_calls.function_name",
    ".function.name": "tool_calls.function_name",
    ".function.arguments": "tool_calls.function_arguments",
    ".function.output": "tool_calls.function_output",
    ".code_interpreter": "tool_calls.code_input",
    ".code_interpreter.input": "tool_calls.code_input",
    ".code_interpreter.outputs": "tool_calls.code_image_count",
    ".code_interpreter.outputs[]": "tool_calls.code_image_count",
    ".code_interpreter.outputs[].type": "tool_calls.code_image_count",
    ".code_interpreter.outputs[].logs": "tool_calls.code_log_chars",
    ".code_interpreter.outputs[].image": "tool_calls.code_image_count",
    ".code_interpreter.outputs[].image.file_id": "tool_calls.code_image_count",
    ".file_search": "tool_calls.file_search_result_count",
    ".file_search.results": "tool_calls.file_search_result_count",
    ".file_search.results[]": "tool_calls.file_search_result_count",
    ".file_search.results[].score": "tool_calls.file_search_max_score",
}


def _details(prefix: str, delta: bool) -> dict[str, str]:
    calls = f"{prefix}step_details.tool_calls[]"
    out = {f"{prefix}step_details": "steps.type", f"{prefix}step_details.type": "steps.type",
           f"{prefix}step_details.message_creation": "steps.message_id",
           f"{prefix}step_details.message_creation.message_id": "steps.message_id",
           f"{prefix}step_details.tool_calls": "steps.tool_call_count",
           **{calls + k: v for k, v in _CALL.items()}}
    if delta:
        out[f"{calls}.index"] = "tool_calls.call_index"
        out[f"{calls}.code_interpreter.outputs[].index"] = "tool_calls.code_image_count"
    return out


STEP = {
    "object": "field_coverage.object", "id": "steps.step_id", "run_id": "steps.run_id",
    "thread_id": "steps.thread_id", "assistant_id": "steps.assistant_id",
    "type": "steps.type", "status": "steps.status",
    **{c: f"steps.{c}" for c in ("created_at", "completed_at", "failed_at", "cancelled_at",
                                 "expired_at")},
    "last_error": "steps.last_error_code", "last_error.code": "steps.last_error_code",
    "last_error.message": "steps.last_error_message",
    **_fill(_USAGE_A, "steps"), "metadata": "steps.metadata*",
    **_details("", delta=False),
}
STEP_DELTA = {"object": "field_coverage.object", "id": "steps.step_id",
              "delta": "steps.type", **_details("delta.", delta=True)}

ITEM = {
    "type": "field_coverage.object", "id": "steps.step_id", "status": "steps.status",
    "call_id": "tool_calls.tool_call_id", "name": "tool_calls.function_name",
    "code": "tool_calls.code_input", "outputs": "tool_calls.code_image_count",
    "outputs[]": "tool_calls.code_image_count",
    "outputs[].type": "tool_calls.code_image_count",
    "outputs[].logs": "tool_calls.code_log_chars",
    "results": "tool_calls.file_search_result_count",
    "results[]": "tool_calls.file_search_result_count",
    "results[].score": "tool_calls.file_search_max_score",
    "arguments": "tool_calls.function_arguments*", "input": "tool_calls.function_arguments*",
    "output": "tool_calls.function_output*", "error": "steps.last_error_code*",
    "phase": "steps.phase",
}
RESPONSE = {
    "object": "field_coverage.object", "id": "runs.run_id", "created_at": "runs.created_at",
    "completed_at": "runs.completed_at", "status": "runs.status", "model": "runs.model",
    "previous_response_id": "runs.previous_response_id",
    "error": "runs.last_error_code", "error.code": "runs.last_error_code",
    "error.message": "runs.last_error_message",
    "incomplete_details": "runs.incomplete_reason",
    "incomplete_details.reason": "runs.incomplete_reason",
    "metadata": "runs.metadata*", "prompt": "runs.assistant_id",
    "prompt.id": "runs.assistant_id",
    "usage": "usage.total_tokens", "usage.input_tokens": "runs.prompt_tokens",
    "usage.output_tokens": "runs.completion_tokens",
    "usage.total_tokens": "runs.total_tokens",
    "usage.input_tokens_details": "runs.cached_tokens",
    "usage.input_tokens_details.cached_tokens": "runs.cached_tokens",
    "usage.output_tokens_details": "runs.reasoning_tokens",
    "usage.output_tokens_details.reasoning_tokens": "runs.reasoning_tokens",
    "conversation": "runs.thread_id", "conversation.id": "runs.thread_id",
    "instructions": "runs.instructions_hash*", "tools": "runs.tools*",
    "temperature": "runs.temperature", "top_p": "runs.top_p",
    "text": "runs.response_format", "text.format": "runs.response_format*",
    "reasoning": "runs.reasoning_effort", "reasoning.effort": "runs.reasoning_effort",
    "output": "steps.step_id", "output[]": "steps.step_id",
    **{f"output[].{k}": v for k, v in ITEM.items() if k != "type"},
    "output[].type": "steps.type",
}

def _extras() -> dict[str, str]:
    """The paths of `transforms/extras.py` (runs columns), and the objects above them."""
    out: dict[str, str] = {}
    for column, path in extras.PATHS.items():
        for n in range(1, len(path) + 1):
            out.setdefault(".".join(path[:n]), f"runs.{column}")
        out[".".join(path)] = f"runs.{column}"
    return out


RESPONSE.update({k: v for k, v in _extras().items() if k not in RESPONSE})
_EVENT = {"type": "field_coverage.object", "item_id": "steps.step_id",
          "output_index": "steps.step_id"}
_LIFECYCLE = {**_EVENT, "response": "runs.run_id",
              **{f"response.{k}": v for k, v in RESPONSE.items() if k != "object"}}
_ITEM_EVENT = {**_EVENT, "item": "steps.step_id",
               **{f"item.{k}": v for k, v in ITEM.items() if k != "type"},
               "item.type": "steps.type"}
_FRAGMENT = {**_EVENT, "delta": "tool_calls.function_arguments",
             "arguments": "tool_calls.function_arguments",
             "input": "tool_calls.function_arguments", "code": "tool_calls.code_input"}
_ERROR_EVENT = {**_EVENT, "code": "runs.last_error_code", "message": "runs.last_error_message"}
REQUEST = {"input": "tool_calls.function_output", "input[]": "tool_calls.function_output",
           "input[].call_id": "tool_calls.tool_call_id",
           "input[].output": "tool_calls.function_output*",
           "input[].status": "tool_calls.call_failed",
           "input[].type": "tool_calls.function_output"}
BILLING_BUCKET = {
    "object": "field_coverage.object", "start_time": "billing_usage.start_time",
    "end_time": "billing_usage.end_time", "results": "billing_usage.num_model_requests",
}


def _shape(api: str, obj: str) -> dict[str, str]:
    if api == "assistants":
        return {"thread.run": RUN, "thread.run.step": STEP,
                "thread.run.step.delta": STEP_DELTA}.get(obj, {})
    if api == "billing":
        return BILLING_BUCKET if obj == "bucket" else {}
    if obj == "response":
        return RESPONSE
    if obj == "request":
        return REQUEST
    if obj.startswith("response.output_item."):
        return _ITEM_EVENT
    if obj in ("response.created", "response.queued", "response.in_progress",
               "response.completed", "response.failed", "response.incomplete"):
        return _LIFECYCLE
    if obj.endswith((".delta", ".done")) and obj.startswith("response."):
        return _FRAGMENT
    if obj == "error":
        return _ERROR_EVENT
    if obj.startswith("response."):
        return _EVENT
    return ITEM  # an item of an input-items or conversation page, by its type


def mapped_to(api: str, obj: str, path: str) -> str | None:
    """The `table.column` that holds `path` of `obj` records, or None."""
    shape = _shape(api, obj)
    column = shape.get(path)
    if column is not None:
        return column.rstrip("*")
    # a sub-path of a value stored whole
    cut = len(path)
    while True:
        cut = max(path.rfind(".", 0, cut), path.rfind("[", 0, cut))
        if cut <= 0:
            return None
        column = shape.get(path[:cut])
        if column is not None and column.endswith("*"):
            return column.rstrip("*")
