"""msgspec structs for the Responses shapes, generated from their specs (`spec`).

As for the Assistants fast path (`transforms/assistants/fast.py`), the structs come from the
rulebook's generator (`rulebook.struct`): a field's struct type is, by construction, the
type the careful checker demands, so a record msgspec decodes is one `spec.why` accepts.
Fields the checker leaves unchecked (`ANY`) and objects whose raw text is needed
(`Required`: a lifecycle event's `response`, for its canonical bytes) are kept as
`msgspec.Raw`. Where a struct is stricter than the checker (a field two
shapes type differently), a record simply goes to the careful path.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from steplens.transforms.responses import careful, spec
from steplens.transforms.responses.careful import output_copy, raw_value
from steplens.transforms.rulebook import UNSET, RawOrUnset, struct, union

_SHAPE = (("object", str | None | msgspec.UnsetType, UNSET),
          ("event", RawOrUnset, UNSET))

# What dispatch looks at: `object` and `event` (absent is UNSET, unlike null), `type`,
# whether there is an `input`, and a page's `data`.
Head = msgspec.defstruct("Head", [
    *_SHAPE, ("type", str | None | msgspec.UnsetType, UNSET), ("input", RawOrUnset, UNSET),
    ("data", RawOrUnset, UNSET)], gc=False)
Response = struct("Response", spec.RESPONSE)
Item = struct("Item", spec.ITEM)
# Every event's fields at once: each key is typed one way in every event spec.
Event = struct("Event", union(*spec.EVENT_SPECS.values()), extra=(
    ("type", str, ""),))
OutputItem = struct("OutputItem", spec.OUTPUT_ITEM)
InputItem = struct("InputItem", spec.OUTPUT_ITEM, extra=(("type", Any, None),))
Request = msgspec.defstruct("Request", [("input", list[InputItem] | str | None, None)],
                            gc=False)

decode_head = msgspec.json.Decoder(Head).decode
decode_response = msgspec.json.Decoder(Response).decode
decode_item = msgspec.json.Decoder(Item).decode
decode_event = msgspec.json.Decoder(Event).decode
decode_output_item = msgspec.json.Decoder(OutputItem).decode
decode_request = msgspec.json.Decoder(Request).decode
decode_page_items = msgspec.json.Decoder(list[msgspec.Raw]).decode

# msgspec raises RecursionError, not DecodeError, past its nesting limit.
DECLINED = (msgspec.DecodeError, RecursionError)

_SORT = orjson.OPT_SORT_KEYS


def _struct_item(item: Any) -> dict:
    """An output item's values from a decoded `Item`."""
    outputs = item.outputs
    results = item.results
    return {
        "id": item.id, "type": item.type, "status": item.status, "call_id": item.call_id,
        "name": item.name, "code": item.code, "phase": item.phase,
        "arguments": raw_value(item.arguments),
        "input": raw_value(item.input), "output": raw_value(item.output),
        "error": raw_value(item.error),
        "outputs": None if outputs is None else [
            {"type": o.type, "logs": o.logs} for o in outputs],
        "results": None if results is None else [r.score for r in results],
    }


def _get_attr(o: Any, key: str) -> Any:
    return getattr(o, key)


class Decline(Exception):
    """This record must be read by the careful path."""


# ---- the fast path: msgspec, all or nothing -------------------------------------------

class Decoder(careful.Decoder):
    """The Responses side of one source file's decoder: the careful path's (`careful.
    Decoder`: emission, `careful`), plus the fast entry points, which record exactly the
    rows the careful path would, or decline (return 0) having recorded nothing."""

    def fast_line(self, line_no: int, raw: bytes) -> int:
        """A whole line (or a bare SSE payload): records counted, 0 when declined."""
        try:
            h = decode_head(raw)
            if h.object == "list" and h.data is not UNSET:
                return self._fast_page(line_no, h.data)
            if h.event is not UNSET and h.object is UNSET:
                return 0  # an envelope as a JSON line: rare, read carefully
            return self._fast_record(line_no, -1, h, raw)
        except (*DECLINED, Decline):
            return 0

    def fast_block(self, line_no: int, event: str | None, data: bytes) -> int:
        """A raw SSE block: its data, read as a line (no `event:`) or as the data of the
        envelope `{"event": NAME, "data": ...}`; records counted, 0 when declined."""
        if event is None:
            return self.fast_line(line_no, data)
        if data[:1] != b"{":
            return 0
        try:
            h = decode_head(data)
            envelope_data = (h.object in spec.OBJECTS) or (
                h.object is UNSET and h.event is UNSET and type(h.type) is str
                and (h.type.startswith("response.") or h.type == "error"))
            if not envelope_data:
                return 0  # the Assistants contract reads this envelope
            return self._fast_record(line_no, -1, h, data)
        except (*DECLINED, Decline):
            return 0

    def _fast_record(self, line_no: int, item: int, h: Any, raw: bytes) -> int:
        """One record whose head is `h`; raises Decline (nothing recorded) if it cannot."""
        kind = h.object
        if kind == "conversation":
            self._skip(line_no, "conversation")
            return 1
        if kind == "response":
            r = decode_response(raw)
            row, items = self._struct_response(r, raw, False, None, None)
            self._emit_response(line_no, item, row, items)
            return 1
        if kind is not UNSET or h.event is not UNSET:
            raise Decline  # not a Responses record: the Assistants contract's
        t = h.type
        if type(t) is str:
            if t.startswith("response.") or t == "error":
                return self._fast_event(line_no, item, raw)
            if t.endswith("_output"):
                o = decode_output_item(raw)
                key = o.call_id
                if key is None and t == "local_shell_call_output":
                    key = o.id
                if key is not None:
                    self._emit_copies(line_no, item, [output_copy(key, 0, raw_value(o.output),
                                                            raw_value(o.status))])
                    return 1
            self._skip(line_no, f"item:{t}")
            return 1
        if h.input is UNSET:
            raise Decline
        body = decode_request(raw)
        copies = []
        for n, i in enumerate(body.input if type(body.input) is list else ()):
            t = i.type
            if type(t) is str and t.endswith("_output"):
                key = i.call_id
                if key is None and t == "local_shell_call_output":
                    key = i.id
                if key is not None:
                    copies.append(output_copy(key, n, raw_value(i.output), raw_value(i.status)))
        if not copies:
            self._skip(line_no, "request")
        else:
            self._emit_copies(line_no, item, copies)
        return 1

    def _struct_response(self, r: Any, raw: bytes | msgspec.Raw, is_event: bool,
                         seq: int | None, pos: int | None) -> tuple[tuple, list[dict]]:
        if r.id is None:
            raise Decline
        metadata = bytes(r.metadata)
        if metadata == b"null":
            text = None
        elif metadata[:1] == b"{":
            text = orjson.dumps(orjson.loads(metadata), option=_SORT).decode()
        else:
            raise Decline  # not an object: the careful checker names it
        conv = r.conversation
        conversation = conv if conv is None or type(conv) is str else conv.id
        row = careful.response_row(r, _get_attr, text, conversation, is_event, seq, pos,
                           orjson.loads(bytes(raw)))
        return row, [_struct_item(i) for i in r.output or ()]

    def _fast_event(self, line_no: int, item: int, raw: bytes) -> int:
        ev = decode_event(raw)
        t = ev.type
        lifecycle = t in spec.LIFECYCLE
        values = None
        if lifecycle:
            if ev.response is UNSET or bytes(ev.response)[:1] != b"{":
                raise Decline  # missing, null or not an object: rejected
            row, items = self._struct_response(decode_response(ev.response), ev.response, True,
                                               ev.sequence_number, None)
        elif t in spec.ITEM_EVENTS:
            if ev.item is UNSET or bytes(ev.item)[:1] != b"{":
                raise Decline
            values = _struct_item(decode_item(ev.item))
        # accepted: from here on it is recorded
        where = self._attribute(t, row[0] if lifecycle else None)
        if where is None:
            self._skip(line_no, t)
            return 1
        rid, pos = where
        if lifecycle:
            self._emit_response(line_no, item, row[:3] + (pos,) + row[4:], items)
            return 1
        done = spec.DONE_FIELD.get(t)
        self._emit_event(
            line_no, item, rid, pos, t, ev.sequence_number, ev.output_index, ev.item_id,
            values, ev.delta if t in spec.DELTA_FIELD else None,
            getattr(ev, done) if done is not None else None,
            ev.code if t == "error" else None, ev.message if t == "error" else None)
        return 1

    def _fast_page(self, line_no: int, data: msgspec.Raw) -> int:
        """A list page of Responses items or objects (conversation items, input items):
        every item recorded, or none (an Assistants item, a stream event, a nested page
        or an envelope: the careful path reads the page)."""
        items = decode_page_items(data)
        if not items:
            raise Decline  # the Assistants contract's `empty_list`
        pending = _Pending()
        decoder = Decoder(self.source_file, pending, self._reject, self.state)
        for n, raw in enumerate(items):
            raw = bytes(raw)
            if raw[:1] != b"{":
                raise Decline
            h = decode_head(raw)
            if (h.object == "list" or (h.object is UNSET and h.event is not UNSET)
                    or (type(h.type) is str and h.object is UNSET
                        and (h.type.startswith("response.") or h.type == "error"))):
                raise Decline
            decoder._fast_record(line_no, n, h, raw)
        for name, frame in (("response_records", self.records), ("response_items", self.items),
                            ("response_outputs", self.outputs), ("skipped", self.skipped)):
            for row in pending[name].rows:
                frame.add(row)
        return len(items)


class _Rows:
    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.add = self.rows.append


class _Pending(dict):
    """Frames that only collect rows: a page is recorded all or nothing."""

    def __init__(self) -> None:
        super().__init__({name: _Rows() for name in (
            "response_records", "response_items", "response_events", "response_outputs",
            "rejects", "skipped")})
