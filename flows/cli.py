"""The `steplens` command: ingest, watch, serve, report, sql.

Thin: each command checks its arguments, calls a flow (flows/ingest.py) or the read
side (flows/store/views.py, flows/report/), and prints. User mistakes (missing path, no
input, locked warehouse, bad SQL: every `SteplensError`) print one line and exit
non-zero; tracebacks are for bugs. Heavy imports (Prefect, Polars) happen inside the
commands that need them, so `steplens --help` and `steplens sql` start fast.
"""

from __future__ import annotations

import os

# Before Prefect is imported: no telemetry, patient start-up, quiet console logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import contextlib  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from enum import StrEnum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from steplens.flows.errors import SteplensError  # noqa: E402
from steplens.flows.export.cli import app as export_app  # noqa: E402
from steplens.flows.report.render import cell_text  # noqa: E402
from steplens.flows.settings import CURRENT, Settings  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Analytics for OpenAI agent runs: latency, failures, tokens and cost.")
# Piped or captured output gets room for the report's wide tables (rich assumes 80).
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)
app.add_typer(export_app, name="export")  # steplens export otlp (flows/export/cli.py)

WarehouseOpt = Annotated[
    str | None,
    typer.Option("--warehouse", "-w", help="Warehouse directory or s3:// URL "
                 "[env STEPLENS_WAREHOUSE; default data/warehouse]"),
]
PathsArg = Annotated[list[str], typer.Argument(help="Files or directories (or s3:// URLs)")]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _warehouse(warehouse: str | Path | None) -> Settings:
    return Settings.from_env(warehouse=warehouse).resolved()


def _missing(paths: list[str]) -> None:
    from steplens.flows.io import storage

    missing = [p for p in paths if not storage.exists(p)]
    if missing:
        fail(f"no such file or directory: {', '.join(missing)}")


def _destination(settings: Settings) -> str:
    """What flows are given as the warehouse: the remote URL, or the local directory."""
    return settings.remote or str(settings.warehouse)


@contextlib.contextmanager
def _open_readonly(settings: Settings):
    """The warehouse's views in memory (nothing written), or one clear line."""
    from steplens.flows.store import views

    if settings.remote:  # query the remote warehouse's current snapshot, mirrored locally
        from steplens.flows.store import remote

        remote.pull(settings.remote, settings.warehouse)
    if not (settings.warehouse / CURRENT).exists():
        fail(f"no warehouse at {settings.remote or settings.warehouse}: "
             "run `steplens ingest PATH` first")
    try:
        con = views.open_readonly(settings.warehouse)
    except SteplensError as e:
        fail(str(e))
    try:
        yield con
    finally:
        con.close()


class _RichProgress:
    """Files and MB done, with rate, on stderr."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.files_done = 0
        self.total_files = 0
        self.bar = Progress(
            TextColumn("[bold]parsing[/] {task.fields[files]}"), BarColumn(),
            DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=errors, transient=True,
        )
        self.task = None

    def start(self, total_files: int, total_bytes: int) -> None:
        self.total_files = total_files
        self.bar.start()
        self.task = self.bar.add_task("parse", total=total_bytes, files=f"0/{total_files} files")

    def advance(self, files: int, nbytes: int) -> None:
        self.files_done += files
        self.bar.update(self.task, advance=nbytes,
                        files=f"{self.files_done}/{self.total_files} files")

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


def print_summary(summary: dict) -> None:
    batch = summary["batch"]
    if summary.get("no_op"):
        console.print(f"no changes: {summary['files_unchanged']} files already ingested "
                      "and unchanged")
    table = Table(title="ingest summary", show_header=True)
    table.add_column("")
    table.add_column("this run", justify="right")
    table.add_column("warehouse", justify="right")
    table.add_row("files", f"{summary['files_new']} new, {summary['files_appended']} grown, "
                  f"{summary['files_replaced']} rewritten", str(summary["files"]))
    for key in ("lines_read", "records_read", "rejected", "skipped"):
        table.add_row(key, str(batch.get(key, "")), str(summary[key]))
    for key in ("kept", "superseded"):
        table.add_row(key, "", str(summary[key]))
    for name, rows in summary["tables"].items():
        table.add_row(f"table {name}", "", str(rows))
    table.add_row("seconds", str(summary["seconds"]), "")
    table.add_row("MB/s", str(summary["mb_per_s"]), "")
    balanced = "[green]yes[/]" if summary["balanced"] else "[red]NO[/]"
    table.add_row("records = kept + superseded + rejected + skipped", "", balanced)
    console.print(table)
    if summary["rejected"]:
        console.print(f"{summary['rejected']} rejected records: "
                      "`steplens sql \"from rejects\"` shows file, line and reason")


@app.command()
def ingest(
    paths: PathsArg,
    warehouse: WarehouseOpt = None,
    workers: Annotated[int | None, typer.Option(
        help="Parallel parse workers: local processes, or Dask workers with --dask "
        "(default: cores)")] = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Forget what was ingested and rebuild from these paths")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another ingest runs on this warehouse, wait for it")] = False,
    prices: Annotated[Path | None, typer.Option(
        "--prices", help="CSV of model prices overriding data/prices.csv model by model; "
        "remembered in the warehouse [env STEPLENS_PRICES]")] = None,
    dask: Annotated[bool, typer.Option(
        "--dask", help="Parse on a local Dask cluster of --workers processes "
        "(prefect-dask)")] = False,
    dask_address: Annotated[str | None, typer.Option(
        "--dask-address", help="Parse on an existing Dask cluster, e.g. tcp://HOST:8786; "
        "its workers need PREFECT_API_URL of a running Prefect server")] = None,
) -> None:
    """Ingest exported Assistants data (JSON lines, list pages, streams, SSE).

    Incremental: files already ingested and unchanged are not read again; grown files
    are read from where the last run stopped.
    """
    from steplens.flows import progress

    _missing(paths)
    if dask_address and not _prefect_server_url():
        fail("--dask-address: the cluster's workers report to Prefect; start a server "
             "(`prefect server start`), set PREFECT_API_URL here and on the workers")
    if prices is not None:  # a bad price file fails here, before any parsing
        from steplens.flows.store.prices import read_prices

        try:
            read_prices(prices)
        except SteplensError as e:
            fail(str(e))
    settings = _warehouse(warehouse)
    from steplens.flows.ingest import ingest as ingest_flow

    reporter = _RichProgress()
    try:
        with progress.reporting(reporter), _runner(dask, dask_address, workers) as flow:
            summary = (flow or ingest_flow)(
                paths=list(paths), warehouse_dir=_destination(settings), workers=workers,
                full_refresh=full_refresh, wait=wait,
                prices=str(prices) if prices is not None else None,
                distributed=flow is not None)
    except SteplensError as e:
        fail(str(e))
    finally:
        reporter.stop()
    print_summary(summary)
    console.print(f"warehouse: {settings.warehouse} (`steplens report`, "
                  f"`duckdb -readonly {settings.duckdb_path}`)")


@contextlib.contextmanager
def _runner(dask: bool, address: str | None, workers: int | None):
    """The ingest flow on a Dask task runner (flows/dask.py), or None: local processes."""
    if not dask and not address:
        yield None
        return
    from steplens.flows.dask import dask_ingest
    from steplens.flows.ingest import ingest as ingest_flow

    with dask_ingest(ingest_flow, workers, address) as flow:
        yield flow


def _prefect_server_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@app.command()
def serve(
    paths: PathsArg,
    warehouse: WarehouseOpt = None,
    cron: Annotated[str | None, typer.Option(help='Cron schedule, e.g. "*/15 * * * *"')] = None,
    interval: Annotated[float | None, typer.Option(help="Or: run every N seconds")] = None,
) -> None:
    """Serve a scheduled Prefect deployment of the ingest (needs `prefect server start`)."""
    if (cron is None) == (interval is None):
        fail("give exactly one of --cron or --interval")
    _missing(paths)
    if not _prefect_server_url():
        fail("a schedule needs a running Prefect server: start one with `prefect server "
             "start` and set PREFECT_API_URL=http://127.0.0.1:4200/api")
    from steplens.flows import deployment

    settings = _warehouse(warehouse)
    console.print(f"serving deployment {deployment.DEPLOYMENT!r} "
                  f"({'cron ' + cron if cron else f'every {interval:g} s'}); Ctrl-C stops")
    deployment.serve(list(paths), _destination(settings), cron, interval)


@app.command()
def watch(
    paths: PathsArg,
    warehouse: WarehouseOpt = None,
    every: Annotated[float, typer.Option(help="Seconds between batches")] = 30.0,
    max_batches: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Ingest new data in micro-batches until Ctrl-C (which stops after the current batch)."""
    from steplens.flows import watch as watching

    _missing(paths)
    settings = _warehouse(warehouse)

    def report(n: int, summary: dict) -> None:
        batch = summary["batch"]
        what = ("no changes" if summary["no_op"] else
                f"{batch['records_read']} records from {batch['lines_read']} lines")
        console.print(f"batch {n}: {what}; warehouse {summary['tables']['steps']} steps, "
                      f"{summary['tables']['runs']} runs", highlight=False)

    console.print(f"watching {', '.join(map(str, paths))} every {every:g} s; Ctrl-C stops "
                  "after the current batch")
    try:
        n = watching.watch(list(paths), _destination(settings), every,
                           on_batch=report, max_batches=max_batches)
    except SteplensError as e:
        fail(str(e))
    except KeyboardInterrupt:
        console.print("interrupted")
        raise typer.Exit(130) from None
    console.print(f"stopped after {n} batches")


def _render(con, query: str, title: str | None, fmt: Format) -> None:
    rel = con.sql(query)
    columns = rel.columns
    rows = rel.fetchall()
    if fmt is Format.json:
        sys.stdout.write(json.dumps([dict(zip(columns, r, strict=True)) for r in rows],
                                    default=str) + "\n")
    elif fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        table = Table(title=title)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*(escape(cell_text(v)) for v in r))
        console.print(table)


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


@app.command()
def report(
    warehouse: WarehouseOpt = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write one self-contained HTML page with charts to this file")] = None,
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--format", "-f", help="Print as tables (default without --html), markdown or "
        "json")] = None,
) -> None:
    """The metric views: latency, run lifecycle, failures, tools, tokens and cost."""
    from steplens.flows.report import html as page
    from steplens.flows.report import render, sections

    if html is not None and not html.parent.is_dir():
        fail(f"cannot write {html}: no directory {html.parent}")
    settings = _warehouse(warehouse)
    with _open_readonly(settings) as con:
        if html is not None:
            text = page.html(con, source=str(settings.warehouse))
            try:
                html.write_text(text, encoding="utf-8")
            except OSError as e:
                fail(f"cannot write {html}: {e.strerror or e}")
            errors.print(f"wrote {html} ({len(text.encode()) // 1024} KiB)", highlight=False)
            if fmt is None:
                return
        if fmt is ReportFormat.markdown:
            sys.stdout.write(render.markdown(sections.sections(con)))
        elif fmt is ReportFormat.json:
            sys.stdout.write(render.json_text(sections.sections(con)))
        else:
            for section in sections.SECTIONS:
                _render(con, section.query, section.title, Format.table)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the warehouse views")],
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Run ad-hoc SQL on the warehouse (read-only)."""
    import duckdb

    settings = _warehouse(warehouse)
    with _open_readonly(settings) as con:
        try:
            _render(con, query, None, fmt)
        except duckdb.Error as e:
            fail(str(e).splitlines()[0])


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"steplens {version('steplens')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit")] = False,
) -> None:
    """Analytics for OpenAI agent runs: latency, failures, tokens and cost."""


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
