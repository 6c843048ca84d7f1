"""Capture: record an application's Responses/Conversations API traffic as the export
`steplens ingest` reads (docs/capture.md).

    import httpx
    from openai import OpenAI
    from steplens.capture import Transport

    client = OpenAI(http_client=httpx.Client(transport=Transport("exports/")))

`AsyncTransport` is the same for `httpx.AsyncClient` / `AsyncOpenAI`. This package
imports httpx and orjson only (Polars only when redaction is asked for), so adding it to
an application costs little at import time.
"""

from steplens.capture.transport import AsyncTransport, Transport, route
from steplens.capture.writer import Stats

__all__ = ["AsyncTransport", "Stats", "Transport", "route"]
