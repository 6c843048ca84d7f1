"""The careful path of the Responses/Conversations records, and the rows both paths
record (docs/responses.md, "Responses API and Conversations", R1-R11 of the contract).

`Decoder` sits beside the Assistants decoder of one source file (`parse._Decoder`) and
shares its frames, rejects and skips. `Decoder.careful` reads an already parsed JSON
value, checks it with `spec.why` (the rulebook's checker) and is the only place that
rejects; the fast path (`fast.py`, a `Decoder` with the entry points `fast_line` /
`fast_block`) decodes a line or SSE block natively and records the same rows through
the same emission, or declines. Both produce identical rows (tests:
tests/transforms/test_responses_decode.py).

Stream events belong to the response of the latest lifecycle event before them in the
same file (R9): that is `StreamState`, carried across the batches of one file by the
reader (flows/io/inputs.py). A file that holds streams is read whole and in order for
that reason (flows/store/manifest.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from steplens.transforms import config, extras, schemas
from steplens.transforms.responses import spec

_SORT = orjson.OPT_SORT_KEYS
_BUCKET_MASK = schemas.BUCKETS - 1


@dataclass
class StreamState:
    """Where a file's stream stands: the response its item events belong to, and how
    many events of each response it has seen (their `pos`, the key of events without a
    sequence number)."""

    current: str | None = None
    positions: dict[str, int] = field(default_factory=dict)

    def next_position(self, response_id: str) -> int:
        pos = self.positions.get(response_id, 0)
        self.positions[response_id] = pos + 1
        return pos


# ---- values shared by both paths --------------------------------------------------------

def json_text(v: Any) -> str | None:
    """A string as sent; other JSON as compact sorted JSON text; None for null."""
    if v is None or type(v) is str:
        return v
    return orjson.dumps(v, option=_SORT).decode()


def raw_value(raw: msgspec.Raw) -> Any:
    """The JSON value of a raw field (null for an absent one)."""
    data = bytes(raw)
    return None if data == b"null" else orjson.loads(data)


def micros(v: int | float | None) -> int | None:
    """Unix seconds (int, or float as the SDK writes them) as whole microseconds."""
    if v is None:
        return None
    if type(v) is int:
        return v * 1_000_000
    return round(v * 1_000_000)


def error_columns(error: Any) -> tuple[str | None, str | None]:
    """(code, message) of an item's `error`: an object's `code` as text (500 -> "500")
    and `message`, or anything else (a string) as the message."""
    if type(error) is dict:
        return json_text(error.get("code")), json_text(error.get("message"))
    return None, json_text(error)


def bucket(key: str) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) & _BUCKET_MASK


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=_SORT)


def item_row(response_id: str, index: int, v: dict) -> tuple:
    """A `response_items` row (after provenance and bucket) from an item's values:
    id, type, status, call_id, name, code, phase (strings), arguments, input, output, error
    (any JSON), outputs, results (lists of dicts or None)."""
    args = v["arguments"]
    outputs = v["outputs"] or ()
    chars = images = 0
    for out in outputs:
        kind = out["type"]
        if kind == "logs":
            logs = out["logs"]
            if logs is not None:
                chars += len(logs)
        elif kind == "image":
            images += 1
    results = v["results"]
    count = best = None
    if results is not None:
        count = len(results)
        scores = [r for r in results if r is not None]
        if scores:
            best = float(max(scores))
    code, message = error_columns(v["error"])
    return (response_id, index, v["id"], v["type"], v["status"], v["call_id"], v["name"],
            json_text(args), type(args) is str, json_text(v["input"]), v["code"], chars, images,
            count, best, json_text(v["output"]), v["error"] is not None, code, message,
            v["phase"])


def _dict_item(item: dict) -> dict:
    """An output item's values from parsed JSON (after `spec.why`)."""
    g = item.get
    outputs = g("outputs")
    results = g("results")
    return {
        "id": g("id"), "type": g("type"), "status": g("status"), "call_id": g("call_id"),
        "name": g("name"), "code": g("code"), "phase": g("phase"),
        "arguments": g("arguments"), "input": g("input"),
        "output": g("output"), "error": g("error"),
        "outputs": None if outputs is None else [
            {"type": o.get("type"), "logs": o.get("logs")} for o in outputs],
        "results": None if results is None else [r.get("score") for r in results],
    }


def _usage(u: Any, get: Callable) -> tuple:
    if u is None:
        return (False, None, None, None, None, None)
    i, o = get(u, "input_tokens_details"), get(u, "output_tokens_details")
    return (True, get(u, "input_tokens"), get(u, "output_tokens"), get(u, "total_tokens"),
            None if i is None else get(i, "cached_tokens"),
            None if o is None else get(o, "reasoning_tokens"))


def _get_dict(o: dict, key: str) -> Any:
    return o.get(key)


def response_row(r: Any, get: Callable, metadata: str | None, conversation: str | None,
                 is_event: bool, seq: int | None, pos: int | None, value: dict) -> tuple:
    """A `response_records` row (after provenance and bucket) from a checked response
    (a dict with `get=_get_dict`, a `fast.Response` with `get=fast._get_attr`) and its JSON
    `value` (for the canonical bytes and the configuration, transforms/config.py)."""
    canon = canonical(value)
    error, incomplete, prompt = get(r, "error"), get(r, "incomplete_details"), get(r, "prompt")
    return (
        get(r, "id"), is_event, seq, pos, get(r, "status"), get(r, "model"),
        micros(get(r, "created_at")), micros(get(r, "completed_at")),
        get(r, "previous_response_id"), conversation,
        None if prompt is None else get(prompt, "id"),
        error is not None, None if error is None else get(error, "code"),
        None if error is None else get(error, "message"),
        None if incomplete is None else get(incomplete, "reason"),
        *_usage(get(r, "usage"), get), metadata,
        len(canon), zlib.crc32(canon), *config.responses(value), *extras.values(value),
    )


# ---- the decoder ------------------------------------------------------------------------

class Decoder:
    """The Responses side of one source file's decoder, careful path only (see the module
    docstring; `fast.Decoder` adds the fast path)."""

    def __init__(self, source_file: str, columns: dict, reject: Callable[[int, str, Any], None],
                 state: StreamState | None = None) -> None:
        self.source_file = source_file
        self.state = state if state is not None else StreamState()
        self._reject = reject  # the Assistants decoder's: one wording of `raw`, one limit
        self.records = columns["response_records"]
        self.items = columns["response_items"]
        self.events = columns["response_events"]
        self.outputs = columns["response_outputs"]
        self.rejects = columns["rejects"]
        self.skipped = columns["skipped"]

    # ---- shared emission --------------------------------------------------------------

    def _head(self, line_no: int, item: int, key: str) -> tuple:
        return (self.source_file, line_no, item, bucket(key))

    def _skip(self, line_no: int, shape: str) -> None:
        self.skipped.add((self.source_file, line_no, shape))

    def _emit_response(self, line_no: int, item: int, row: tuple, items: list[dict]) -> None:
        head = self._head(line_no, item, row[0])
        self.records.add(head + row)
        for i, values in enumerate(items):
            self.items.add(head + item_row(row[0], i, values))

    def _attribute(self, event_type: str, lifecycle_id: str | None) -> tuple | None:
        """(response id, position) of an accepted event, or None: skipped (R9)."""
        if lifecycle_id is not None:
            self.state.current = lifecycle_id
        rid = self.state.current
        if rid is None:
            return None
        return rid, self.state.next_position(rid)

    def _emit_event(self, line_no: int, item: int, rid: str, pos: int, t: str,
                    seq: int | None, output_index: int | None, item_id: str | None,
                    values: dict | None, delta: str | None, done: str | None,
                    code: str | None, message: str | None) -> None:
        head = self._head(line_no, item, rid)
        self.events.add(head + (rid, seq, pos, t, output_index, item_id, delta, done, code,
                                message))
        if values is not None:
            self.items.add(head + item_row(rid, -1, values))

    def _emit_copies(self, line_no: int, item: int,
                     copies: list[tuple[str, int, bytes, bool]]) -> None:
        for key, index, canon, failed in copies:
            self.outputs.add((self.source_file, line_no, item, bucket(key), key, index, canon,
                              failed))

    # ---- the careful path: parsed JSON, checked field by field --------------------------

    def careful(self, line_no: int, item: int, rec: dict, raw: bytes | str,
                prefix: str = "") -> None:
        """One Responses record (`spec.claimed` said so); counted by the caller."""
        kind = rec.get("object")
        if kind == "conversation":
            self._skip(line_no, "conversation")
        elif kind == "response":
            reason = spec.why(rec, spec.RESPONSE)
            if reason:
                self._reject(line_no, prefix + reason, raw)
                return
            self._emit_response(line_no, item, self._dict_response(rec, False, None, None),
                                [_dict_item(i) for i in rec.get("output") or ()])
        elif spec.is_stream_event(rec):
            self._careful_event(line_no, item, rec, raw, prefix)
        elif type(rec.get("type")) is str:
            self._careful_item(line_no, item, rec, raw, prefix)
        else:
            reason = spec.request_error(rec)
            if reason:
                self._reject(line_no, prefix + reason, raw)
                return
            copies = [_dict_copy(i, n) for n, i in enumerate(
                rec["input"] if type(rec.get("input")) is list else ())]
            copies = [c for c in copies if c is not None]
            if not copies:
                self._skip(line_no, "request")
                return
            self._emit_copies(line_no, item, copies)

    def _dict_response(self, r: dict, is_event: bool, seq: int | None, pos: int | None
                       ) -> tuple:
        m = r.get("metadata")
        metadata = None if m is None else orjson.dumps(m, option=_SORT).decode()
        return response_row(r, _get_dict, metadata, spec.conversation_id(r.get("conversation")),
                            is_event, seq, pos, r)

    def _careful_event(self, line_no: int, item: int, ev: dict, raw: bytes | str,
                       prefix: str) -> None:
        t = ev["type"]
        reason = spec.why(ev, spec.event_spec(t))
        if reason:
            if t in spec.LIFECYCLE:
                self.state.current = None
            self._reject(line_no, prefix + reason, raw)
            return
        lifecycle = t in spec.LIFECYCLE
        where = self._attribute(t, ev["response"]["id"] if lifecycle else None)
        if where is None:
            self._skip(line_no, t)
            return
        rid, pos = where
        seq = ev.get("sequence_number")
        if lifecycle:
            r = ev["response"]
            self._emit_response(line_no, item, self._dict_response(r, True, seq, pos),
                                [_dict_item(i) for i in r.get("output") or ()])
            return
        self._emit_event(
            line_no, item, rid, pos, t, seq, ev.get("output_index"), ev.get("item_id"),
            _dict_item(ev["item"]) if t in spec.ITEM_EVENTS else None,
            ev.get("delta") if t in spec.DELTA_FIELD else None,
            ev.get(spec.DONE_FIELD[t]) if t in spec.DONE_FIELD else None,
            ev.get("code") if t == "error" else None,
            ev.get("message") if t == "error" else None)

    def _careful_item(self, line_no: int, item: int, rec: dict, raw: bytes | str,
                      prefix: str) -> None:
        if spec.is_output_item(rec):
            reason = spec.why(rec, spec.OUTPUT_ITEM)
            if reason:
                self._reject(line_no, prefix + reason, raw)
                return
            copy = _dict_copy(rec, 0)
            if copy is not None:
                self._emit_copies(line_no, item, [copy])
                return
        self._skip(line_no, f"item:{rec['type']}")

def output_copy(key: str, index: int, output: Any, status: Any) -> tuple[str, int, bytes, bool]:
    return (key, index, canonical(output), status == "failed")


def _dict_copy(item: Any, index: int) -> tuple[str, int, bytes, bool] | None:
    """The output copy an input/page item holds (R3, R13), or None."""
    if not spec.is_output_item(item):
        return None
    key = spec.output_key(item)
    if key is None:
        return None
    return output_copy(key, index, item.get("output"), item.get("status"))
