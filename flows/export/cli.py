"""`steplens export`: the warehouse in other tools' formats (a Typer sub-app of flows/cli.py).

`steplens export otlp [OUT.jsonl] [--endpoint URL]`: OpenTelemetry traces, as a file in
the OTLP file-exporter format and/or posted to a collector over OTLP/HTTP. Read-only: the
warehouse is opened the way `steplens sql` opens it (in-memory views), so an export runs
beside an ingest and on a read-only warehouse. Heavy imports (DuckDB, protobuf) happen
inside the command, so `steplens --help` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from steplens.flows.errors import SteplensError
from steplens.flows.settings import ENV_OTEL_SERVICE_NAME, Settings

if TYPE_CHECKING:
    import duckdb

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Write the warehouse in other tools' formats (OpenTelemetry traces).")
errors = Console(stderr=True)

# DuckDB's buffers for the export's sort, spilled to a temporary directory beyond this:
# the memory of an export does not grow with the warehouse.
MEMORY_LIMIT = "1GB"


class Compression(StrEnum):
    none = "none"
    gzip = "gzip"


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# How `steplens` opens a warehouse read-only (flows/cli.py `_open_readonly`: remote
# mirror, integrity check, one clear line for a missing or damaged warehouse), handed
# over by `register` so that this module need not import the main command.
Opener = Callable[[Settings], "AbstractContextManager[duckdb.DuckDBPyConnection]"]
_open_readonly: Opener | None = None


def register(parent: typer.Typer, open_readonly: Opener) -> None:
    """Add `steplens export` to the main command, reading through its warehouse opener."""
    global _open_readonly
    _open_readonly = open_readonly
    parent.add_typer(app, name="export")


@contextlib.contextmanager
def _warehouse(warehouse: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse's views, read-only, with DuckDB's memory capped for the export's
    sort (it spills to a temporary directory, removed afterwards)."""
    assert _open_readonly is not None, "flows/cli.py registers the export commands"
    settings = Settings.from_env(warehouse=warehouse).resolved()
    spill = tempfile.mkdtemp(prefix="steplens-export-")
    try:
        with _open_readonly(settings) as con:
            con.execute("set enable_progress_bar = false")  # ours is on stderr
            con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
            con.execute("set temp_directory = $dir", {"dir": spill})
            yield con
    finally:
        shutil.rmtree(spill, ignore_errors=True)


@app.command("otlp")
def otlp(
    out: Annotated[str | None, typer.Argument(
        metavar="OUT.jsonl", help="File to write, in the OTLP file-exporter format (JSON "
        "Lines, one TracesData per line); '-' for stdout. Optional with --endpoint.")] = None,
    warehouse: Annotated[str | None, typer.Option(
        "--warehouse", "-w", help="Warehouse directory or s3:// URL "
        "(env STEPLENS_WAREHOUSE; default data/warehouse)")] = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
        help="Only runs created at or after this UTC date or time, with their steps and "
        "tool calls")] = None,
    include_content: Annotated[bool, typer.Option(
        "--include-content", help="Add tool call arguments and results "
        "(gen_ai.tool.call.arguments / .result, input.value / output.value); left out by "
        "default")] = False,
    include_unfinished: Annotated[bool, typer.Option(
        "--include-unfinished", help="Also send runs that have not ended (queued, in "
        "progress, requires_action). Left out by default: a tracing backend keeps the first "
        "copy of a span, so a run sent unfinished would never show its end")] = False,
    project: Annotated[str | None, typer.Option(
        help="Arize Phoenix project for the spans (resource attribute "
        "openinference.project.name; default: Phoenix's 'default'). Langfuse picks the "
        "project by the API key in the Authorization header")] = None,
    endpoint: Annotated[str | None, typer.Option(
        help="Also send the spans over OTLP/HTTP (protobuf) to this traces URL, e.g. "
        "http://127.0.0.1:4318/v1/traces")] = None,
    header: Annotated[list[str] | None, typer.Option(
        "--header", "-H", help="HTTP header for --endpoint, key=value (repeatable); added "
        "to OTEL_EXPORTER_OTLP_HEADERS")] = None,
    compression: Annotated[Compression, typer.Option(
        help="Body compression for --endpoint")] = Compression.none,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for the collector, per request")] = 10.0,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Spans per line of the file and per request")] = 512,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Processes encoding batches (default: cores; small exports use "
        "one)")] = None,
    service_name: Annotated[str | None, typer.Option(
        help="service.name of the exported resource (env OTEL_SERVICE_NAME; default "
        "steplens)")] = None,
    check_stored: Annotated[bool, typer.Option(
        "--check-stored/--no-check-stored", help="With --endpoint of an Arize Phoenix "
        "server: ask its GraphQL how many of the spans sent it has stored, waiting up to "
        "--stored-timeout")] = True,
    stored_timeout: Annotated[float, typer.Option(
        min=0, help="Seconds to wait for Phoenix to store the spans sent")] = 120.0,
) -> None:
    """OpenTelemetry traces: a trace per run (the thread or conversation as its session), a
    span per run, model call, step and tool call.

    GenAI semantic conventions with OpenInference (Arize Phoenix) and Langfuse attributes
    beside them; token usage only on the model calls. The same warehouse always gives the
    same file.
    """
    from steplens.flows.export import otlp_http, stream
    from steplens.flows.export.otlp import DEFAULT_SERVICE_NAME

    if out is None and endpoint is None:
        fail("give OUT.jsonl (a file, or - for stdout), --endpoint URL, or both")
    if out not in (None, "-") and not Path(out).parent.is_dir():
        fail(f"cannot write {out}: no directory {Path(out).parent}")
    sinks = []
    http = None
    try:
        if endpoint is not None:
            http = otlp_http.HttpSink(endpoint, otlp_http.headers(os.environ, header or []),
                                      compression=compression.value, timeout_s=timeout)
            sinks.append(http)
    except SteplensError as e:
        fail(str(e))
    name = service_name or os.environ.get(ENV_OTEL_SERVICE_NAME) or DEFAULT_SERVICE_NAME
    with _warehouse(warehouse) as con:
        total = sum(stream.span_counts(con, since, include_unfinished).values())
        skipped = stream.skipped_rows(con, since)
        if workers is None:
            workers = (os.cpu_count() or 1) if total >= stream.PARALLEL_FROM_SPANS else 1
        try:
            with _progress(total) as advance, \
                    (stream.jsonl_sink(out) if out is not None
                     else contextlib.nullcontext()) as file_sink:
                result = stream.export(
                    con, ([file_sink] if file_sink else []) + sinks, since=since,
                    include_content=include_content, include_unfinished=include_unfinished,
                    project=project, batch_spans=batch_size, service_name=name,
                    workers=workers, on_batch=advance)
        except SteplensError as e:
            fail(str(e))
    _summary(result, out, http, skipped, include_unfinished)
    if http is not None and check_stored and result.total:
        _report_stored(http, result, project, stored_timeout, timeout)


@contextlib.contextmanager
def _progress(total: int) -> Iterator:
    """Spans done of `total`, on stderr (only when it is a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("[bold]exporting spans[/]"), BarColumn(), MofNCompleteColumn(),
                   console=errors, transient=True, disable=not sys.stderr.isatty())
    with bar:
        task = bar.add_task("export", total=total)
        yield lambda n: bar.advance(task, n)


def _summary(result, out: str | None, http, skipped: dict[str, int],
             include_unfinished: bool) -> None:
    spans = result.spans
    what = (f"{result.total:,} spans ({spans['run']:,} runs, {spans['response']:,} "
            f"responses' model calls, {spans['step']:,} steps, {spans['tool_call']:,} "
            "tool calls)")
    if out is not None:
        where = "stdout" if out == "-" else out
        errors.print(f"wrote {what} in {result.batches:,} lines to {where}", highlight=False)
    if http is not None:
        errors.print(f"sent {what} in {http.requests:,} requests to {http.url} (sent: the "
                     "collector accepted them; a backend may store them later)",
                     highlight=False)
    if skipped["unfinished_run"] and not include_unfinished:
        errors.print(f"not exported: {skipped['unfinished_run']:,} runs that have not ended, "
                     "with their steps (--include-unfinished sends them)", highlight=False)
    if skipped["step"] or skipped["tool_call"]:
        errors.print(f"not exported: {skipped['step']:,} steps and {skipped['tool_call']:,} "
                     "tool calls with neither a created_at nor a run (steps known only from "
                     "stream deltas cannot be placed in time)", highlight=False)
    if http is not None and http.rejected_spans:
        message = "; ".join(http.messages) or "no reason given"
        fail(f"the collector rejected {http.rejected_spans:,} of {result.total:,} spans: "
             f"{message}")


def _report_stored(http, result, project: str | None, timeout_s: float,
                   request_timeout_s: float) -> None:
    """Where the endpoint is an Arize Phoenix server: how many of the spans it has stored
    (polled up to `timeout_s`). Other collectors cannot be asked: nothing is said."""
    from steplens.flows.export import phoenix

    url = phoenix.graphql_url(http.url)
    if url is None:
        return
    client = phoenix.PhoenixClient(url, http.headers, timeout_s=request_timeout_s)
    name = http.headers.get(phoenix.PROJECT_HEADER) or project or phoenix.DEFAULT_PROJECT
    try:
        stored = phoenix.wait_stored(client, name, result.traces, timeout_s=timeout_s)
    except phoenix.AskError as e:
        errors.print(f"[bold yellow]warning:[/] could not ask Phoenix ({url}) how many spans "
                     f"it stored: {e}", highlight=False)
        return
    if stored is None:
        return
    errors.print(f"stored: {stored.spans:,} of the {stored.sent:,} spans sent, in Phoenix "
                 f"project {stored.project!r} (asked its GraphQL at {url}; "
                 f"{stored.waited_s:.0f} s)", highlight=False)
    if not stored.complete:
        errors.print(f"[bold yellow]warning:[/] {stored.sent - stored.spans:,} spans not "
                     f"stored after {timeout_s:.0f} s: Phoenix may still be storing them "
                     "(--stored-timeout waits longer), or refused them (see its log)",
                     highlight=False)
