"""The warehouse as OpenTelemetry traces: OTLP messages, in the file-exporter format.

Which spans, with which attributes, is decided in SQL (`transforms/sql/export/
otel_spans.sql`, one row per span, every dotted column an attribute); here the rows
become `opentelemetry-proto` messages, in batches of at most `batch_spans` spans: one
`TracesData` per batch, written as one JSON line (the OTLP file-exporter format) and/or
posted to a collector (flows/export/otlp_http.py). Rows stream out of DuckDB through an
Arrow reader, so memory is bounded by the batch, not by the warehouse; the query's
order is total and batches are cut by count, so the same warehouse gives the same bytes.

The JSON is protobuf's own (`google.protobuf.json_format`: lowerCamelCase names, int64
as decimal strings, enums as integers with `use_integers_for_enums`), with one change the
OTLP/JSON spec makes: trace and span ids are hex strings, not base64.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import duckdb
from google.protobuf import json_format
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

from steplens.flows.errors import ExportError

SPANS_QUERY = "from otel_spans($since, $include_content)"
# Columns of otel_spans that are not attributes (attributes are the dotted names).
SPAN_KINDS = {"client": Span.SPAN_KIND_CLIENT, "internal": Span.SPAN_KIND_INTERNAL}
KINDS = ("run", "step", "tool_call")
# The OpenTelemetry SDK's BatchSpanProcessor default: collectors accept it everywhere.
DEFAULT_BATCH_SPANS = 512
DEFAULT_SERVICE_NAME = "steplens"
SCOPE_NAME = "steplens"
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


def resource(service_name: str = DEFAULT_SERVICE_NAME) -> Resource:
    return Resource(attributes=[KeyValue(key="service.name",
                                         value=AnyValue(string_value=service_name))])


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


def span_rows(con: duckdb.DuckDBPyConnection, since: datetime | None,
              include_content: bool, chunk_rows: int = 2048) -> Iterator[dict[str, Any]]:
    """Every span row of the warehouse, in export order, streamed in Arrow chunks."""
    rel = con.sql(SPANS_QUERY, params={"since": since, "include_content": include_content})
    reader = rel.to_arrow_reader(chunk_rows)
    for chunk in reader:
        yield from chunk.to_pylist()


@dataclass
class ExportResult:
    """What an export did: spans by kind, and the batches (lines / requests) they filled."""

    spans: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.spans.values())


Sink = Callable[[TracesData, int], None]  # a batch and its span count


def export(con: duckdb.DuckDBPyConnection, sinks: list[Sink], *,
           since: datetime | None = None, include_content: bool = False,
           batch_spans: int = DEFAULT_BATCH_SPANS, service_name: str = DEFAULT_SERVICE_NAME,
           on_batch: Callable[[int], None] | None = None) -> ExportResult:
    """Stream the warehouse's spans to every sink, `batch_spans` spans per batch."""
    if batch_spans < 1:
        raise ExportError(f"batch size must be at least 1 span, not {batch_spans}")
    res, sc = resource(service_name), scope()
    result = ExportResult()
    batch: list[Span] = []

    def flush() -> None:
        data = traces_data(batch, res, sc)
        for sink in sinks:
            sink(data, len(batch))
        result.batches += 1
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()

    for row in span_rows(con, since, include_content):
        batch.append(span(row))
        result.spans[row["kind"]] += 1
        if len(batch) == batch_spans:
            flush()
    if batch:
        flush()
    return result


def span_counts(con: duckdb.DuckDBPyConnection, since: datetime | None) -> dict[str, int]:
    """Spans an export would hold, by kind (for a progress bar, before the export)."""
    rows = con.sql("select kind, count(*) from otel_spans($since, false) group by kind",
                   params={"since": since}).fetchall()
    return {**dict.fromkeys(KINDS, 0), **dict(rows)}


def unplaced_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Steps and tool calls without a `created_at` (known only from stream deltas): no
    span can place them in time, so no export holds them; the CLI says how many."""
    steps, calls = con.sql(
        "select (select count(*) from steps where created_at is null), "
        "(select count(*) from tool_calls t join steps s using (step_id) "
        " where s.created_at is null)").fetchall()[0]
    return {"step": steps, "tool_call": calls}


@contextlib.contextmanager
def jsonl_sink(out: str | Path) -> Iterator[Sink]:
    """A sink writing one JSON line per batch to `out` (`-`: stdout), atomically.

    The lines go to a temporary file beside `out`, renamed over it when the export
    ends; an export that fails leaves whatever `out` held before.
    """
    if str(out) == "-":
        yield _writer(sys.stdout)
        sys.stdout.flush()
        return
    path = Path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        f = open(tmp, "x", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with f:
            yield _writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writer(f: IO[str]) -> Sink:
    def write(data: TracesData, _n: int) -> None:
        f.write(json_line(data))
        f.write("\n")
    return write
