"""OTLP/HTTP: the export's batches posted to a collector as binary protobuf.

What the OTLP specification asks of an exporter, and this one does: `POST` of an
`ExportTraceServiceRequest` with `Content-Type: application/x-protobuf` to the traces
URL, given whole (`--endpoint`: Langfuse's `/api/public/otel/v1/traces`, Phoenix's
`/v1/traces`, a Collector's `:4318/v1/traces`); optional gzip body; `200` accepted, its
`ExportTraceServiceResponse.partial_success` counting the spans the collector dropped;
`429`, `502`, `503`, `504` and network errors retried with exponential backoff (or the
`Retry-After` the server gave); any other status fails the export with what the
collector said. Headers come from `OTEL_EXPORTER_OTLP_HEADERS`, then
`OTEL_EXPORTER_OTLP_TRACES_HEADERS`, then `--header` (later wins, per name): the
environment's `key=value,key2=value2` with percent-encoded values, as the OpenTelemetry
SDKs read it.
"""

from __future__ import annotations

import email.utils
import gzip
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from steplens.flows.errors import ExportError
from steplens.flows.export.otlp import Encoded
from steplens.flows.settings import ENV_OTLP_HEADERS, ENV_OTLP_TRACES_HEADERS

RETRYABLE = frozenset({429, 502, 503, 504})
COMPRESSIONS = ("none", "gzip")


def parse_header_list(text: str, source: str) -> dict[str, str]:
    """`key=value,key2=value2` (values percent-encoded), as OTEL_EXPORTER_OTLP_HEADERS."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ExportError(f"{source}: {item.strip()!r} is not key=value")
        out[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return out


def parse_header(text: str) -> tuple[str, str]:
    """One `--header`: `key=value` or `Key: value`, taken literally (no decoding)."""
    eq, colon = text.find("="), text.find(":")
    cut = min(i for i in (eq, colon) if i >= 0) if max(eq, colon) >= 0 else -1
    if cut <= 0 or not text[:cut].strip():
        raise ExportError(f"--header {text!r}: expected key=value (or 'Key: value')")
    return text[:cut].strip(), text[cut + 1:].strip()


def headers(env: Mapping[str, str], options: list[str]) -> dict[str, str]:
    """The request headers: the environment's, then each `--header` (later wins)."""
    out: dict[str, str] = {}
    for name in (ENV_OTLP_HEADERS, ENV_OTLP_TRACES_HEADERS):
        if env.get(name):
            out.update(parse_header_list(env[name], name))
    for text in options:
        key, value = parse_header(text)
        out[key] = value
    return {k.lower(): v for k, v in out.items()}  # one entry per name, whatever its case


def check_endpoint(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExportError(f"--endpoint {url!r}: expected an http:// or https:// URL of the "
                          "collector's traces path, e.g. http://127.0.0.1:4318/v1/traces")
    return url


@dataclass
class HttpSink:
    """Posts each batch to `url`; counts what was delivered and what the collector refused."""

    wants = "request"  # the binary ExportTraceServiceRequest of each batch
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    compression: str = "none"
    timeout_s: float = 10.0
    retries: int = 5
    backoff_s: float = 1.0
    max_wait_s: float = 30.0
    requests: int = 0
    delivered_spans: int = 0
    rejected_spans: int = 0
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_endpoint(self.url)
        if self.compression not in COMPRESSIONS:
            raise ExportError(f"compression {self.compression!r}: expected one of "
                              f"{', '.join(COMPRESSIONS)}")

    def __call__(self, batch: Encoded) -> None:
        body, spans = batch.request, batch.spans
        head = {"user-agent": f"steplens/{version('steplens')}", **self.headers,
                "content-type": "application/x-protobuf"}
        if self.compression == "gzip":
            body = gzip.compress(body, mtime=0)
            head["content-encoding"] = "gzip"
        status, content_type, answer = self._post(body, head, spans)
        self.requests += 1
        self.delivered_spans += spans
        rejected, message = _partial_success(content_type, answer)
        if rejected or message:
            self.rejected_spans += rejected
            self.delivered_spans -= rejected
            if message and message not in self.messages:
                self.messages.append(message)

    def _post(self, body: bytes, head: dict[str, str], spans: int) -> tuple[int, str, bytes]:
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url, data=body, headers=head, method="POST")
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return resp.status, resp.headers.get("content-type", ""), resp.read()
            except urllib.error.HTTPError as e:
                detail = e.read()[:300].decode("utf-8", "replace").strip()
                if e.code not in RETRYABLE or attempt == self.retries:
                    raise ExportError(self._failure(f"HTTP {e.code} {e.reason}"
                                                    + (f": {detail}" if detail else ""),
                                                    spans)) from None
                retry_after = _retry_after(e.headers.get("retry-after"))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.retries:
                    reason = getattr(e, "reason", e)
                    raise ExportError(self._failure(f"cannot reach it ({reason})", spans)
                                      ) from None
            wait = retry_after if retry_after is not None else self.backoff_s * 2 ** attempt
            time.sleep(min(max(wait, 0.0), self.max_wait_s))
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, what: str, spans: int) -> str:
        tries = f" after {self.retries + 1} attempts" if self.retries else ""
        return (f"collector at {self.url}: {what}{tries}; {self.delivered_spans} spans "
                f"in {self.requests} requests were delivered before this batch of {spans}")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delay seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (when - datetime.now(UTC)).total_seconds()


def _partial_success(content_type: str, body: bytes) -> tuple[int, str]:
    """Spans the collector says it rejected, and its message (an empty body: none)."""
    if not body:
        return 0, ""
    response = ExportTraceServiceResponse()
    try:
        if "json" in content_type:
            json_format.Parse(body, response, ignore_unknown_fields=True)
        else:
            response.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError):
        return 0, ""  # a 200 with a body we cannot read: accepted, nothing more known
    partial = response.partial_success
    return partial.rejected_spans, partial.error_message
