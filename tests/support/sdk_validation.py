"""Validate exported records against the pinned openai SDK models (test helper): the
Assistants side (`records`, `errors`) and the Responses side (`responses_records`,
`responses_errors`, with the real shapes the SDK rejects listed in `KNOWN_REJECTIONS`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep, RunStepDeltaEvent
from openai.types.conversations import Conversation, ConversationItemList
from openai.types.responses import Response, ResponseItemList, ResponseStreamEvent
from pydantic import TypeAdapter, ValidationError

from tests.support.oracle import file_lines

VALIDATORS = {
    "AssistantStreamEvent": TypeAdapter(AssistantStreamEvent).validate_python,
    "Run": Run.model_validate,
    "RunStep": RunStep.model_validate,
    "RunStepDeltaEvent": RunStepDeltaEvent.model_validate,
}
MODEL_OF_OBJECT = {
    "thread.run": "Run",
    "thread.run.step": "RunStep",
    "thread.run.step.delta": "RunStepDeltaEvent",
}


def json_lines(path: Path) -> Iterator[object]:
    """Every non-blank line of a (possibly gzipped) JSON-lines file, parsed."""
    for line in file_lines(path):
        if line.strip():
            yield orjson.loads(line)


def records(value: object) -> Iterator[tuple[str, dict]]:
    """(SDK model name, record) for everything in one line that an SDK model describes."""
    if isinstance(value, dict) and "event" in value:
        yield "AssistantStreamEvent", value
        value = value.get("data")
    if not isinstance(value, dict):
        return
    if value.get("object") == "list":
        for item in value.get("data") or []:
            yield from records(item)
    elif value.get("object") in MODEL_OF_OBJECT:
        yield MODEL_OF_OBJECT[value["object"]], value


def errors(model: str, record: dict) -> list[str]:
    """Validation errors as `Model.field error_type` strings; empty when it validates."""
    try:
        VALIDATORS[model](record)
    except ValidationError as e:
        return [f"{model}.{'.'.join(map(str, err['loc']))} {err['type']}" for err in e.errors()]
    return []


# --------------------------------------------------------------------------- Responses API
#
# Responses-side records: `response` and `conversation` objects, list pages of items, and
# stream events (bare `{"type": "response.*" | "error", ...}` objects, or the data of an
# SSE block). The SDK's unions carry no pydantic discriminator, so a failing union member
# reports the errors of every member; `errors()` keeps only the member whose `type` literal
# matches the value (the others fail on `type` with `literal_error`), as the recordings'
# README does. An item page does not say whether it came from `/v1/conversations/{id}/items`
# or `/v1/responses/{id}/input_items`: it is validated with both models (`ItemList`).

EVENT_ADAPTER = TypeAdapter(ResponseStreamEvent)
RESPONSES_VALIDATORS = {
    "Response": Response.model_validate,
    "ResponseStreamEvent": EVENT_ADAPTER.validate_python,
    "Conversation": Conversation.model_validate,
    "ConversationItemList": ConversationItemList.model_validate,
    "ResponseItemList": ResponseItemList.model_validate,
}
VALIDATORS.update(RESPONSES_VALIDATORS)
ITEM_LIST_MODELS = ("ConversationItemList", "ResponseItemList")

# The real shapes openai 3.57.0 rejects, kept in the fixtures as recorded. A failure label
# (see `responses_errors`) must match one of these; anything else is a new kind of failure.
KNOWN_REJECTIONS = {
    # declared required in 3.57.0; the API only sends it since July 2026
    "cache_write_tokens missing": re.compile(
        r"(?:response\.)?usage\.input_tokens_details\.cache_write_tokens missing"),
    # web_search_call sources of type "api" ({"type": "api", "name": ...}); SDK: url only
    # (in a response's output, an output_item event, or a page of conversation items)
    "web_search source of type api": re.compile(
        r"(?:response\.)?(?:output\.\d+\.|item\.|data\.\d+\.)ResponseFunctionWebSearch\.action\."
        r"ActionSearch\.sources\.\d+\.(?:type literal_error|url missing)"),
    # a web_search_call announced by response.output_item.added has no action yet
    "web_search_call without action": re.compile(
        r"item\.ResponseFunctionWebSearch\.action missing"),
    # streams recorded up to May 2025 carry no sequence_number
    "sequence_number missing": re.compile(r"sequence_number missing"),
    # March 2025 streams: no logprobs on output_text delta/done
    "logprobs missing": re.compile(r"logprobs missing"),
}


def known_rejection(label: str) -> str | None:
    """The known kind of SDK rejection a failure label is (the `KNOWN_REJECTIONS` key)."""
    where, _, rest = label.partition(":")
    for kind, pattern in KNOWN_REJECTIONS.items():
        if pattern.fullmatch(rest):
            if kind == "web_search_call without action" and "output_item.added" not in where:
                continue
            return kind
    return None


def is_stream_event(value: object) -> bool:
    """A Responses stream event: an object whose `type` is `response.*` or `error`."""
    return (isinstance(value, dict) and "object" not in value
            and isinstance(value.get("type"), str)
            and (value["type"].startswith("response.") or value["type"] == "error"))


def responses_records(value: object) -> Iterator[tuple[str, dict]]:
    """(SDK model name, record) for every Responses-side record in one line.

    Item pages are named `ItemList` (validated with both item-list models); request
    bodies are not SDK models (the SDK types them as TypedDicts) and yield nothing.
    """
    if not isinstance(value, dict):
        return
    kind = value.get("object")
    if kind == "response":
        yield "Response", value
    elif kind == "conversation":
        yield "Conversation", value
    elif kind == "list" and isinstance(value.get("data"), list) and not any(
            isinstance(item, dict) and "object" in item for item in value["data"]):
        yield "ItemList", value
    elif is_stream_event(value):
        yield "ResponseStreamEvent", value


def _member_filtered(errs: list[dict], value: object) -> list[dict]:
    """Drop the errors of union members whose `type` literal does not match the value.

    A union member appears in an error's `loc` as a name that is not a key (or index) of
    the value at that point; when another error says that member's own `type` is a
    `literal_error`, the member is not the one the value is.
    """
    wrong_members = set()
    for err in errs:
        if err["type"] == "literal_error" and len(err["loc"]) >= 2 and err["loc"][-1] == "type":
            wrong_members.add(tuple(err["loc"][:-1]))
    kept = []
    for err in errs:
        loc, node, dropped = err["loc"], value, False
        for i, part in enumerate(loc):
            in_dict = isinstance(node, dict) and part in node
            if in_dict or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
                node = node[part]
            elif tuple(loc[:i + 1]) in wrong_members:  # a union member that is not this value
                dropped = True
                break
        if not dropped:
            kept.append(err)
    return kept


def _label(model: str, record: dict, err: dict) -> str:
    loc = list(err["loc"])
    if model == "ResponseStreamEvent":  # `ResponseStreamEvent(<type>):` instead of the member
        return f"{model}({record.get('type')}):{'.'.join(map(str, loc[1:]))} {err['type']}"
    return f"{model}:{'.'.join(map(str, loc))} {err['type']}"


def responses_errors(model: str, record: dict) -> list[str]:
    """Failure labels `Model:path error_type` (events: `ResponseStreamEvent(type):path ...`)
    of one Responses-side record; empty when it validates."""
    models = ITEM_LIST_MODELS if model == "ItemList" else (model,)
    labels: list[str] = []
    for name in models:  # an item page is valid when either item-list model accepts it
        try:
            RESPONSES_VALIDATORS[name](record)
        except ValidationError as e:
            labels += [_label(name, record, err)
                       for err in _member_filtered(e.errors(), record)]
        else:
            return []
    return labels


def responses_failures(paths) -> tuple[Counter, Counter, Counter]:
    """(passed, failed, failure labels) per model over JSON-lines files of the Responses side."""
    passed, failed, labels = Counter(), Counter(), Counter()
    for path in paths:
        for value in json_lines(path):
            for model, record in responses_records(value):
                errs = responses_errors(model, record)
                if errs:
                    failed[model] += 1
                    labels.update(errs)
                else:
                    passed[model] += 1
    return passed, failed, labels
