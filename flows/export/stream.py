"""The export's pipeline: span rows out of DuckDB, encoded in parallel, to the sinks in order.

DuckDB runs `otel_spans` (sorted: a total order, so the output never depends on
threads or chunking) and streams it through an Arrow reader; the rows are cut into
batches of exactly `batch_spans` spans, whatever DuckDB's chunk sizes. Encoding a batch
(protobuf messages, then protobuf's JSON) is pure Python and the slow part, so batches
are encoded by `workers` processes while the next ones are read, and handed to the
sinks (the JSON Lines file, the OTLP/HTTP sender) in their original order. At most
`2 * workers` batches are in flight, so memory is bounded by the batch size, not by the
warehouse. Worker processes end with the export, and on their own if the exporting
process dies (they watch their parent).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import secrets
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

from steplens.flows.errors import ExportError
from steplens.flows.export.otlp import (
    DEFAULT_BATCH_SPANS,
    DEFAULT_SERVICE_NAME,
    KINDS,
    Encoded,
    encode,
)

SPANS_QUERY = "from otel_spans($since, $include_content, $include_unfinished)"
# The counts, in transforms/sql/export/ (SQL with logic lives in .sql files)
COUNTS_QUERY = "from otel_span_counts($since, $include_unfinished)"
LEFT_OUT_QUERY = "from otel_left_out($since)"
# Below this many spans, worker processes cost more to start than they save.
PARALLEL_FROM_SPANS = 8 * DEFAULT_BATCH_SPANS


class Sink(Protocol):
    """Where encoded batches go; `wants` says which encoding it needs."""

    wants: str  # "line" (the JSON line) or "request" (ExportTraceServiceRequest bytes)

    def __call__(self, batch: Encoded) -> None: ...


@dataclass
class ExportResult:
    """What an export did: spans by kind, the batches (lines / requests) they filled, and
    spans per trace id (to ask a backend how many of them it has stored)."""

    spans: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0
    traces: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.spans.values())


def span_counts(con: duckdb.DuckDBPyConnection, since: datetime | None,
                include_unfinished: bool = False) -> dict[str, int]:
    """Spans an export would hold, by kind (for the progress bar and the worker choice)."""
    rows = con.sql(COUNTS_QUERY, params={"since": since,
                                         "include_unfinished": include_unfinished}).fetchall()
    return {**dict.fromkeys(KINDS, 0), **dict(rows)}


def skipped_rows(con: duckdb.DuckDBPyConnection, since: datetime | None) -> dict[str, int]:
    """What an export leaves out, for the CLI to say: steps (and their tool calls) with
    neither a `created_at` nor a run to place them in, and runs that have not ended."""
    steps, calls, unfinished = con.sql(LEFT_OUT_QUERY, params={"since": since}).fetchall()[0]
    return {"step": steps, "tool_call": calls, "unfinished_run": unfinished}


def row_batches(con: duckdb.DuckDBPyConnection, since: datetime | None,
                include_content: bool, size: int,
                include_unfinished: bool = False) -> Iterator[list[pa.RecordBatch]]:
    """The span rows in export order, as lists of Arrow slices of exactly `size` rows
    (the last one shorter)."""
    rel = con.sql(SPANS_QUERY, params={"since": since, "include_content": include_content,
                                       "include_unfinished": include_unfinished})
    pending: list[pa.RecordBatch] = []
    held = 0
    for chunk in rel.to_arrow_reader(max(size, 2048)):
        while chunk.num_rows:
            take = min(size - held, chunk.num_rows)
            pending.append(chunk.slice(0, take))
            held += take
            chunk = chunk.slice(take)
            if held == size:
                yield pending
                pending, held = [], 0
    if pending:
        yield pending


def export(con: duckdb.DuckDBPyConnection, sinks: list[Sink], *,
           since: datetime | None = None, include_content: bool = False,
           include_unfinished: bool = False, project: str | None = None,
           batch_spans: int = DEFAULT_BATCH_SPANS, service_name: str = DEFAULT_SERVICE_NAME,
           workers: int = 1, on_batch: Callable[[int], None] | None = None) -> ExportResult:
    """Stream the warehouse's spans to every sink, `batch_spans` spans per batch, encoded
    by `workers` processes (1: in this process). Runs that have not ended are left out
    unless `include_unfinished`; `project` names the Phoenix project (a resource
    attribute)."""
    if batch_spans < 1:
        raise ExportError(f"batch size must be at least 1 span, not {batch_spans}")
    wants = {s.wants for s in sinks}
    job = partial(encode, want_line="line" in wants, want_request="request" in wants,
                  service_name=service_name, project=project)
    result = ExportResult()
    batches = row_batches(con, since, include_content, batch_spans, include_unfinished)
    with _encoder(workers) as submit:
        in_flight: deque[Future[Encoded]] = deque()
        for rows in batches:
            in_flight.append(submit(job, rows))
            if len(in_flight) >= 2 * workers:
                _deliver(in_flight.popleft().result(), sinks, result, on_batch)
        while in_flight:
            _deliver(in_flight.popleft().result(), sinks, result, on_batch)
    return result


def _deliver(batch: Encoded, sinks: list[Sink], result: ExportResult,
             on_batch: Callable[[int], None] | None) -> None:
    for sink in sinks:
        sink(batch)
    for kind, n in batch.kinds.items():
        result.spans[kind] += n
    for trace, n in batch.traces.items():
        result.traces[trace] = result.traces.get(trace, 0) + n
    result.batches += 1
    if on_batch is not None:
        on_batch(batch.spans)


@contextlib.contextmanager
def _encoder(workers: int) -> Iterator[Callable[..., Future]]:
    """`submit(fn, *args)`: run in this process (workers <= 1) or in a process pool."""
    if workers <= 1:
        def submit(fn, *args) -> Future:
            future: Future = Future()
            future.set_result(fn(*args))
            return future

        yield submit
        return
    context = multiprocessing.get_context("spawn")  # no fork of DuckDB's threads
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_watch_parent, initargs=(os.getpid(),))
    try:
        yield pool.submit
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _watch_parent(parent: int) -> None:
    """In a worker: exit when the exporting process is gone (even killed with -9), rather
    than wait forever on a queue nobody will write to."""
    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="steplens-parent-watch").start()


class JsonLinesSink:
    """Writes each batch as one line to `out` (`-`: stdout), atomically.

    The lines go to a temporary file beside `out`, renamed over it by `commit` when the
    export ends; `abort` (an export that failed) removes it and leaves whatever `out`
    held before.
    """

    wants = "line"

    def __init__(self, out: str | Path) -> None:
        self.out = str(out)
        self.tmp: Path | None = None
        if self.out == "-":
            self.file = sys.stdout
            return
        path = Path(out)
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            self.file = open(self.tmp, "x", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as e:
            raise ExportError(f"cannot write {path}: {e.strerror or e}") from None

    def __call__(self, batch: Encoded) -> None:
        self.file.write(batch.line)
        self.file.write("\n")

    def commit(self) -> None:
        self.file.flush()
        if self.tmp is None:
            return
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        if self.tmp is not None:
            self.file.close()
            self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def jsonl_sink(out: str | Path) -> Iterator[JsonLinesSink]:
    """A `JsonLinesSink` committed when the block ends normally, aborted otherwise."""
    sink = JsonLinesSink(out)
    try:
        yield sink
    except BaseException:
        sink.abort()
        raise
    sink.commit()
