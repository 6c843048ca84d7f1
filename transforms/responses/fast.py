"""msgspec structs for the Responses shapes, generated from the rulebook (`spec`).

As for the Assistants fast path (`transforms/decode.py`): a field's struct type is, by
construction, the type the careful checker demands, so a record msgspec decodes is one
`spec.why` accepts. Fields the checker leaves unchecked (`ANY`) and objects whose raw
text is needed (`Required`: a lifecycle event's `response`, for its canonical bytes)
are kept as `msgspec.Raw`. Where a struct is stricter than the checker (a field two
shapes type differently), a record simply goes to the careful path.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from steplens.transforms.record_spec import MAX_TS, OBJ, STR, STRUCT_LEAVES, union
from steplens.transforms.responses import spec
from steplens.transforms.responses.spec import ANY, CONV, TS_NUM, Required

UNSET = msgspec.UNSET
NULL = msgspec.Raw(b"null")
RawOrUnset = msgspec.Raw | msgspec.UnsetType

# The rulebook's leaves, and the Responses timestamp (Unix seconds, int or float)
_LEAVES: dict[Any, Any] = {
    **STRUCT_LEAVES,
    TS_NUM: (Annotated[int, msgspec.Meta(ge=0, le=MAX_TS)]
             | Annotated[float, msgspec.Meta(ge=0, le=MAX_TS)] | None),
}


def _field(name: str, key: str, sub: object) -> tuple[str, Any, Any]:
    if type(sub) is dict:
        return (key, struct(f"{name}_{key}", sub) | None, None)
    if type(sub) is list:
        return (key, list[struct(f"{name}_{key}", sub[0])] | None, None)
    if type(sub) is Required:
        return (key, RawOrUnset, UNSET)
    if sub is OBJ or sub is ANY:
        return (key, msgspec.Raw, NULL)
    if sub is CONV:
        return (key, str | struct(f"{name}_{key}", {"id": STR}) | None, None)
    return (key, _LEAVES[sub], None)


def struct(name: str, fields: dict, extra: tuple = ()) -> type:
    """A struct accepting exactly what `spec.why(·, fields)` accepts (plus `extra`)."""
    return msgspec.defstruct(name, [_field(name, k, v) for k, v in fields.items()] + list(extra),
                             gc=False)


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

head = msgspec.json.Decoder(Head).decode
response = msgspec.json.Decoder(Response).decode
item = msgspec.json.Decoder(Item).decode
event = msgspec.json.Decoder(Event).decode
output_item = msgspec.json.Decoder(OutputItem).decode
request = msgspec.json.Decoder(Request).decode
page_items = msgspec.json.Decoder(list[msgspec.Raw]).decode

# msgspec raises RecursionError, not DecodeError, past its nesting limit.
DECLINED = (msgspec.DecodeError, RecursionError)
