"""Span rows as OpenTelemetry messages: one batch of rows to one `TracesData`, encoded.

Which spans, with which attributes, is decided in SQL (`transforms/sql/export/
otel_spans.sql`: one row per span, every dotted column an attribute); here a batch of
those rows becomes `opentelemetry-proto` messages, then one line of the OTLP
file-exporter format and/or the binary `ExportTraceServiceRequest` a collector takes.
`encode` is what the export's worker processes run (flows/export/stream.py), so this
module stays light: no DuckDB, no CLI.

The JSON is protobuf's own (`google.protobuf.json_format`: lowerCamelCase names, int64
as decimal strings, enums as integers with `use_integers_for_enums`), with the one change
the OTLP/JSON spec makes: trace and span ids are hex strings, not base64.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import (
    ResourceSpans,
    ScopeSpans,
    Span,
    Status,
    TracesData,
)

SPAN_KINDS = {"client": Span.SPAN_KIND_CLIENT, "internal": Span.SPAN_KIND_INTERNAL}
# span kinds of otel_spans: runs, Responses model calls, steps (Assistants model calls or
# Responses output items), tool calls
KINDS = ("run", "response", "step", "tool_call")
# The OpenTelemetry SDK's BatchSpanProcessor default: collectors accept it everywhere.
DEFAULT_BATCH_SPANS = 512
DEFAULT_SERVICE_NAME = "steplens"
SCOPE_NAME = "steplens"
# The resource attribute naming the Arize Phoenix project the spans go to (OpenInference).
PROJECT_ATTRIBUTE = "openinference.project.name"
ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _value(v: Any) -> AnyValue:
    """An attribute value: bool, int, float, str, or a list of those."""
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_value(x) for x in v if x is not None]))
    return AnyValue(string_value=str(v))


def span(row: dict[str, Any]) -> Span:
    """One row of otel_spans as an OTLP span."""
    s = Span(
        trace_id=bytes.fromhex(row["trace_id"]),
        span_id=bytes.fromhex(row["span_id"]),
        name=row["name"],
        kind=SPAN_KINDS[row["span_kind"]],
        start_time_unix_nano=row["start_ns"],
        end_time_unix_nano=row["end_ns"],
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in row.items()
                    if v is not None and "." in k],
    )
    if row["parent_span_id"]:
        s.parent_span_id = bytes.fromhex(row["parent_span_id"])
    if row["is_error"]:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR,
                                 message=row["status_message"] or ""))
    return s


@functools.cache
def resource(service_name: str = DEFAULT_SERVICE_NAME, project: str | None = None) -> Resource:
    """The exported resource: `service.name`, and the Phoenix project when one is named."""
    attributes = [KeyValue(key="service.name", value=AnyValue(string_value=service_name))]
    if project:
        attributes.append(KeyValue(key=PROJECT_ATTRIBUTE, value=AnyValue(string_value=project)))
    return Resource(attributes=attributes)


@functools.cache
def scope() -> InstrumentationScope:
    return InstrumentationScope(name=SCOPE_NAME, version=version("steplens"))


def traces_data(spans: Iterable[Span], res: Resource, sc: InstrumentationScope) -> TracesData:
    """One batch: a single resource and scope holding the spans."""
    return TracesData(resource_spans=[ResourceSpans(
        resource=res, scope_spans=[ScopeSpans(scope=sc, spans=spans)])])


def _hex_ids(obj: dict[str, Any]) -> None:
    for key in ID_FIELDS:
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()


def json_line(data: TracesData) -> str:
    """`data` as one line of the OTLP file-exporter format (no trailing newline)."""
    doc = json_format.MessageToDict(data, use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for sp in ss.get("spans", ()):
                _hex_ids(sp)
                for link in sp.get("links", ()):
                    _hex_ids(link)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Encoded:
    """One batch, encoded for the sinks that asked: a JSON line and/or request bytes."""

    spans: int
    kinds: dict[str, int]
    line: str | None = None
    request: bytes | None = None
    traces: dict[str, int] = field(default_factory=dict)  # spans per trace id (hex)


def encode(rows: list[pa.RecordBatch], *, want_line: bool, want_request: bool,
           service_name: str = DEFAULT_SERVICE_NAME, project: str | None = None) -> Encoded:
    """A batch of otel_spans rows (Arrow slices, in order) as one `TracesData`, encoded."""
    records = [r for batch in rows for r in batch.to_pylist()]
    data = traces_data([span(r) for r in records], resource(service_name, project), scope())
    kinds = dict.fromkeys(KINDS, 0)
    traces: dict[str, int] = {}
    for r in records:
        kinds[r["kind"]] += 1
        traces[r["trace_id"]] = traces.get(r["trace_id"], 0) + 1
    request = None
    if want_request:
        request = ExportTraceServiceRequest(resource_spans=data.resource_spans
                                            ).SerializeToString()
    return Encoded(len(records), kinds, json_line(data) if want_line else None, request,
                   traces)
