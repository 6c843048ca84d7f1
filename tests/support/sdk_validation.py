"""Validate exported Assistants records against the pinned openai SDK models (test helper)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep, RunStepDeltaEvent
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
