"""Helpers of the capture tests: clients over the replay server, reading what a capture
wrote, and ingesting it (directly, without Prefect)."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import openai
import polars as pl

from steplens.capture import AsyncTransport, Transport
from steplens.flows.pipeline import run_direct
from steplens.flows.settings import Settings
from steplens.flows.store import snapshots
from steplens.transforms import schemas

BASE = "https://api.openai.com/v1"
SECRET = "sk-capture-test-0123456789abcdef"  # the API key the test clients send
TABLES = {"runs": ["run_id"], "steps": ["run_id", "step_id"],
          "tool_calls": ["run_id", "step_id", "call_index"], "usage": ["run_id", "step_id"]}


def client(handler, directory: Path | None = None, **options) -> openai.OpenAI:
    """An SDK client over the mock `handler`, recording into `directory` (None: plain)."""
    inner = httpx.MockTransport(handler)
    transport = inner if directory is None else Transport(directory, inner=inner, **options)
    return openai.OpenAI(api_key=SECRET, base_url=BASE, max_retries=0,
                         http_client=httpx.Client(transport=transport))


def async_client(handler, directory: Path, **options) -> openai.AsyncOpenAI:
    transport = AsyncTransport(directory, inner=httpx.MockTransport(handler), **options)
    return openai.AsyncOpenAI(api_key=SECRET, base_url=BASE, max_retries=0,
                              http_client=httpx.AsyncClient(transport=transport))


def transport_of(c: openai.OpenAI | openai.AsyncOpenAI):
    return c._client._transport  # noqa: SLF001 - the transport the test installed


def visible(directory: Path) -> list[Path]:
    """The files an ingest would read (not hidden), in name order."""
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def content(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def records(directory: Path) -> list[bytes]:
    """Every JSON line the capture wrote, files in name order."""
    out: list[bytes] = []
    for p in visible(directory):
        if ".jsonl" in p.name:
            out += content(p).splitlines()
    return out


def streams(directory: Path) -> list[bytes]:
    """Every stream file's text, in name order."""
    return [content(p) for p in visible(directory) if ".sse" in p.name]


def everything(directory: Path) -> bytes:
    """All bytes of every file the capture left, hidden ones too, decompressed."""
    return b"".join(content(p) for p in sorted(directory.rglob("*")) if p.is_file())


def ingest(paths: list[Path], warehouse: Path, **kw) -> dict:
    return run_direct([str(p) for p in paths], Settings(warehouse=warehouse, workers=1), **kw)


def tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    snap = snapshots.current_snapshot(warehouse)
    # without the provenance columns: the same rows come from other files and lines
    return {t: pl.read_parquet(snap / t / "**" / "*.parquet")
            .drop(schemas.ROW_PROVENANCE, strict=False).sort(k, nulls_last=True)
            for t, k in TABLES.items()}
