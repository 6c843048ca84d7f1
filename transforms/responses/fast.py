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

from steplens.transforms.responses import spec
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

head = msgspec.json.Decoder(Head).decode
response = msgspec.json.Decoder(Response).decode
item = msgspec.json.Decoder(Item).decode
event = msgspec.json.Decoder(Event).decode
output_item = msgspec.json.Decoder(OutputItem).decode
request = msgspec.json.Decoder(Request).decode
page_items = msgspec.json.Decoder(list[msgspec.Raw]).decode

# msgspec raises RecursionError, not DecodeError, past its nesting limit.
DECLINED = (msgspec.DecodeError, RecursionError)
