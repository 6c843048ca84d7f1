"""The `steplens` command: ingest, watch, serve, report, sql.

Thin: each command checks its arguments, calls a flow (flows/ingest.py) or the read
side (flows/store/views.py, flows/report/), and prints. User mistakes (missing path, no
input, locked warehouse, bad SQL: every `SteplensError`) print one line and exit
non-zero; tracebacks are for bugs. Heavy imports (Prefect, Polars) happen inside the
commands that need them, so `steplens --help` and `steplens sql` start fast.
"""

from __future__ import annotations

import os

# Before Prefect is imported: no telemetry, patient start-up. (Prefect's console lines
# are silenced by the commands that run flows: orchestration/launch.py quiet_prefect_console.)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")  # Prefect's client-side telemetry: no network
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import contextlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402


def _interrupted_at_start(*_: object) -> None:
    """Ctrl-C while the command still imports (seconds on a busy machine): one line."""
    sys.stderr.write("\ninterrupted: stopped before doing anything; nothing was changed\n")
    sys.stderr.flush()
    os._exit(130)


# Run as the `steplens` command (not imported by a test or a script): from the first
# moment, Ctrl-C is one line and exit 130; `_main` hands it on per command.
_COMMAND = __name__ == "__main__" or os.path.basename(sys.argv[0]) == "steplens"
if _COMMAND:
    signal.signal(signal.SIGINT, _interrupted_at_start)
from enum import StrEnum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from steplens.flows import fidelity  # noqa: E402
from steplens.flows import pull as pull_cli  # noqa: E402
from steplens.flows.errors import SteplensError  # noqa: E402
from steplens.flows.export import cli as export_cli  # noqa: E402
from steplens.flows.report import terminal  # noqa: E402
from steplens.flows.report.terminal import Format  # noqa: E402
from steplens.flows.settings import Settings  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Analytics for OpenAI agent runs: latency, failures, tokens and cost.")
console = Console()  # replaced per invocation: see _main
errors = Console(stderr=True)

WarehouseOpt = Annotated[
    str | None,
    typer.Option("--warehouse", "-w", help="Warehouse directory or s3:// URL "
                 "\\[env STEPLENS_WAREHOUSE; default data/warehouse]"),
]
FLAG = ""  # metavar of a flag: `--full-refresh`, not `--full-refresh <bool>`
PathsArg = Annotated[list[str], typer.Argument(help="Files or directories (or s3:// URLs)")]


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _ingest_errors(settings: Settings, held=None):
    """Every way an ingest can fail that is not a bug, as one `error:` line: a user
    error (`SteplensError`), an environment fault (disk full, `ulimit -f`, read-only,
    quota, permission) or a damaged warehouse file (flows/errors.py describe_fault).
    `held()`: what the warehouse holds now (`_held`), said after an environment fault."""
    from steplens.flows.errors import EnvironmentFault, describe_fault

    try:
        yield
    except EnvironmentFault as e:  # met by the warm runner, already one line
        message = str(e)
        if held is not None and not message.startswith("warehouse damaged"):
            message += f"; {held()}"
        fail(message)
    except SteplensError as e:
        fail(str(e))
    except Exception as e:
        from steplens.flows.store import integrity

        where = str(settings.remote or settings.warehouse)
        message = describe_fault(e, where, integrity.recovery(where))
        if message is None:
            raise  # a bug: its traceback is the report
        if held is not None and not message.startswith("warehouse damaged"):
            message += f"; {held()}"
        fail(message)


def _held(settings: Settings):
    """A function saying, in a sentence, whether this run published a snapshot (the
    current snapshot now against the one when the command started)."""
    from steplens.flows.store import snapshots

    where = settings.remote or settings.warehouse

    def current() -> str:
        try:
            return str(snapshots.current_snapshot(settings.warehouse))
        except Exception:  # noqa: BLE001 - a damaged pointer: say what we can
            return "?"

    before = current()

    def held() -> str:
        if current() == before:
            return f"nothing of this run was published: the warehouse at {where} is unchanged"
        return (f"this run's snapshot was published before it stopped: the warehouse at "
                f"{where} holds it (`steplens check` verifies it)")

    return held


def _on_interrupt(settings: Settings, runner: dict | None, held) -> None:
    """Ctrl-C from now on: one line saying what the warehouse holds, exit 130 at once
    (flows/interrupt.py)."""
    from steplens.flows import interrupt

    def state() -> str:
        if runner is not None:
            return (f"stopped waiting; the ingest goes on in the runner of `steplens server` "
                    f"({runner['url']}) and publishes to {settings.remote or settings.warehouse}"
                    " when it ends")
        return held()

    interrupt.exit_on_sigint(state)


def _warehouse(warehouse: str | Path | None) -> Settings:
    return Settings.from_env(warehouse=warehouse).resolved()


def _missing(paths: list[str]) -> None:
    from steplens.flows.io import storage

    missing = [p for p in paths if not storage.exists(p)]
    if missing:
        fail(f"no such file or directory: {', '.join(missing)}")


def _warehouse_flag(warehouse: str | None) -> str:
    """` --warehouse X` to repeat in a hint, when the user gave one."""
    import shlex

    return f" --warehouse {shlex.quote(warehouse)}" if warehouse else ""


@contextlib.contextmanager
def _open_readonly(settings: Settings):
    """The warehouse's views in memory (nothing written), or one clear line."""
    from steplens.flows.store import snapshots, views

    if settings.remote:  # query the remote warehouse's current snapshot, mirrored locally
        from steplens.flows.store import remote

        remote.pull(settings.remote, settings.warehouse)
    from steplens.flows.store import integrity

    where = str(settings.remote or settings.warehouse)
    try:
        # the snapshot in use, resolved once: every query of this command reads it
        snapshot = snapshots.current_snapshot(settings.warehouse)
        if snapshot is None:
            fail(f"no warehouse at {where}: run `steplens ingest PATH"
                 f"{_warehouse_flag(where)}` first")
        integrity.verify(settings.warehouse)  # a stat per file: no silent wrong answer
        with _read_errors(settings):  # views bind to the files: a damaged one shows here
            con = views.open_readonly(settings.warehouse, snapshot)
    except SteplensError as e:
        fail(str(e))
    try:
        yield con
    finally:
        con.close()


export_cli.register(app, _open_readonly)  # steplens export otlp (flows/export/cli.py)
pull_cli.register(app)  # steplens pull (flows/pull.py)
fidelity.register(app, _open_readonly, _warehouse)  # steplens show, coverage (flows/fidelity.py)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def print_summary(summary: dict, warehouse: str | None = None) -> None:
    batch = summary["batch"]
    if summary.get("no_op"):
        console.print(f"no changes: {plural(summary['files_unchanged'], 'file')} already "
                      "ingested and unchanged")
    table = Table(title="ingest summary", show_header=True)
    table.add_column("")
    table.add_column("this run", justify="right")
    table.add_column("warehouse", justify="right")
    table.add_row("files", f"{summary['files_new']} new, {summary['files_appended']} grown, "
                  f"{summary['files_replaced']} rewritten",
                  str(summary.get("warehouse_files", summary["files"])))
    for key in ("lines_read", "records_read", "rejected", "skipped"):
        table.add_row(key, str(batch.get(key, "")), str(summary[key]))
    for key in ("kept", "superseded"):
        table.add_row(key, "", str(summary[key]))
    for name, rows in summary["tables"].items():
        table.add_row(f"table {name}", "", str(rows))
    red = summary.get("redaction") or {}
    if red.get("mode", "none") != "none":
        key = f", key {red['key_fingerprint']}" if red.get("key_fingerprint") else ""
        table.add_row("redaction", "", f"{red['mode']} ({len(red['fields'])} fields{key})")
    table.add_row("seconds", str(summary["seconds"]), "")
    table.add_row("MB/s", str(summary["mb_per_s"]), "")
    balanced = "[green]yes[/]" if summary["balanced"] else "[red]NO[/]"
    table.add_row("records = kept + superseded + rejected + skipped", "", balanced)
    console.print(table)
    if summary["rejected"]:
        console.print(f"{plural(summary['rejected'], 'rejected record')}: "
                      f"`steplens sql \"from rejects\"{_warehouse_flag(warehouse)}` shows "
                      "file, line and reason", highlight=False)


@app.command()
def ingest(
    paths: PathsArg,
    warehouse: WarehouseOpt = None,
    workers: Annotated[int | None, typer.Option(
        help="Parallel parse workers: local processes, or Dask workers with --dask "
        "(default: cores)")] = None,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", metavar=FLAG,
        help="Forget what was ingested and rebuild from these paths (also repairs a "
        "damaged warehouse)")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", metavar=FLAG,
        help="If another ingest runs on this warehouse, wait for it")] = False,
    prices: Annotated[Path | None, typer.Option(
        "--prices", help="CSV of model prices overriding data/prices.csv model by model; "
        "remembered in the warehouse \\[env STEPLENS_PRICES]")] = None,
    dask: Annotated[bool, typer.Option(
        "--dask", metavar=FLAG, help="Parse on a local Dask cluster of --workers processes "
        "(prefect-dask)")] = False,
    dask_address: Annotated[str | None, typer.Option(
        "--dask-address", help="Parse on an existing Dask cluster, e.g. tcp://HOST:8786; "
        "its workers need PREFECT_API_URL of a running Prefect server")] = None,
    orchestration: Annotated[str | None, typer.Option(
        "--orchestration", metavar="prefect|direct",
        help="prefect (default): a Prefect flow run with its tasks and artifacts; direct: "
        "the same steps without Prefect (faster start for small batches) "
        "\\[env STEPLENS_ORCHESTRATION]")] = None,
    redact: Annotated[str | None, typer.Option(
        "--redact", metavar="content|hash|none",
        help="Redact content before anything is written: `content` drops the values "
        "(lengths and JSON validity kept), `hash` keeps a keyed hash (equal values still "
        "group; key \\[env STEPLENS_REDACT_KEY]). Default: as the warehouse was built "
        "(README, Redaction)")] = None,
    redact_fields: Annotated[str | None, typer.Option(
        "--redact-fields", metavar="TABLE.COLUMN,...",
        help="Redact only these content fields (default: all), e.g. "
        "tool_calls.function_arguments,runs.metadata")] = None,
) -> None:
    """Ingest exported Assistants and Responses API data (JSON lines, list pages,
    streams, SSE).

    Incremental: files already ingested and unchanged are not read again; grown files
    are read from where the last run stopped. With nothing to do it returns at once.
    """
    from steplens.flows import interrupt

    interrupt.exit_on_sigint(lambda: "stopped before this run wrote anything: the "
                             "warehouse is unchanged")  # refined by _on_interrupt below
    interrupt.ignore_file_size_signal()  # past `ulimit -f`: EFBIG, reported in one line
    from steplens.flows import progress
    from steplens.flows.orchestration import server

    _missing(paths)
    if dask_address and not _prefect_server_url():
        fail("--dask-address: the cluster's workers report to Prefect; start a server "
             "(`steplens server start`), set PREFECT_API_URL here and on the workers")
    if prices is not None:  # a bad price file fails here, before any parsing
        from steplens.flows.store.prices import read_prices

        try:
            read_prices(prices)
        except SteplensError as e:
            fail(str(e))
    settings = Settings.from_env(warehouse=warehouse, prices=prices,
                                 orchestration=orchestration).resolved()
    prices_path = str(prices.resolve()) if prices is not None else None
    reporter = progress.RichReporter(errors)
    runner = (server.standing_runner() if settings.orchestration == "prefect"
              and not (dask or dask_address) else None)
    held = _held(settings)
    _on_interrupt(settings, runner, held)
    try:
        with _ingest_errors(settings, held):
            summary = _run(paths, settings, runner, reporter, workers=workers,
                           full_refresh=full_refresh, wait=wait, prices_path=prices_path,
                           dask=dask, dask_address=dask_address, redact=redact,
                           redact_fields=redact_fields)
    finally:
        reporter.stop()
    print_summary(summary, warehouse)
    flag = _warehouse_flag(warehouse)
    console.print(f"warehouse: {settings.remote or settings.warehouse}; see `steplens "
                  f"report{flag}`, or query it with `steplens sql \"from step_latency\"{flag}`",
                  highlight=False, soft_wrap=True)  # a path or command is never cut by a newline


def _run(paths: list[str], settings: Settings, runner: dict | None, reporter, *,
         workers: int | None, full_refresh: bool, wait: bool, prices_path: str | None,
         dask: bool, dask_address: str | None, redact: str | None,
         redact_fields: str | None) -> dict:
    """The ingest itself: on the standing runner, or in this process."""
    from steplens.flows import progress

    if runner is not None:  # the warm runner beside `steplens server start`
        from steplens.flows.orchestration import runner_client

        summary = runner_client.submit(runner["url"], runner["token"], {
            "paths": [p if "://" in p else str(Path(p).resolve()) for p in paths],
            "warehouse": settings.remote or str(settings.warehouse), "workers": workers,
            "full_refresh": full_refresh, "wait": wait, "prices": prices_path,
            "redact": redact, "redact_fields": redact_fields}, reporter)
    else:
        from steplens.flows.orchestration import launch

        launch.quiet_prefect_console()
        with progress.reporting(reporter):
            summary = launch.run_ingest(
                list(paths), settings, workers=workers, full_refresh=full_refresh,
                wait=wait, prices=prices_path, dask=dask, dask_address=dask_address,
                redact=redact, redact_fields=redact_fields)
    return summary


def _prefect_server_url() -> str | None:
    """A server the user runs: PREFECT_API_URL, or the one `steplens server start` left."""
    from steplens.flows.orchestration import server

    state = server.standing_server()
    return server.configured_url() or (state["url"] if state else None)


def _check_cron(cron: str) -> None:
    """A bad cron expression is one line, before anything needs a server."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError:
        fail(f"--cron {cron!r} is not a valid cron expression: five fields, minute hour "
             'day-of-month month day-of-week, e.g. "*/15 * * * *"')


@app.command()
def serve(
    paths: PathsArg,
    warehouse: WarehouseOpt = None,
    cron: Annotated[str | None, typer.Option(help='Cron schedule, e.g. "*/15 * * * *"')] = None,
    interval: Annotated[float | None, typer.Option(help="Or: run every N seconds")] = None,
) -> None:
    """Serve a scheduled Prefect deployment of the ingest (needs a running Prefect server:
    `steplens server start`)."""
    if (cron is None) == (interval is None):
        fail("give exactly one of --cron or --interval")
    if interval is not None and interval <= 0:
        fail(f"--interval {interval:g}: give a number of seconds above 0")
    _missing(paths)
    if cron is not None:
        _check_cron(cron)
    url = _prefect_server_url()
    if not url:
        fail("a schedule needs a running Prefect server: start one with `steplens server "
             "start` (or `prefect server start` and PREFECT_API_URL=http://127.0.0.1:4200/api)")
    os.environ["PREFECT_API_URL"] = url
    from steplens.flows import deployment

    settings = _warehouse(warehouse)
    console.print(f"serving deployment {deployment.DEPLOYMENT!r} "
                  f"({'cron ' + cron if cron else f'every {interval:g} s'}); Ctrl-C stops")
    deployment.serve(list(paths), settings.destination, cron, interval)


@app.command()
def watch(
    paths: PathsArg,
    warehouse: WarehouseOpt = None,
    every: Annotated[float, typer.Option(help="Seconds between batches")] = 30.0,
    max_batches: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Ingest new data in micro-batches until Ctrl-C (which stops after the current batch)."""
    from steplens.flows.orchestration import launch

    _missing(paths)
    if every <= 0:
        fail(f"--every {every:g}: give a number of seconds above 0")
    launch.quiet_prefect_console()
    from steplens.flows import watch as watching

    settings = _warehouse(warehouse)

    def report(n: int, summary: dict | None) -> None:
        if summary is None:
            console.print(f"batch {n}: no input files yet", highlight=False)
            return
        batch = summary["batch"]
        what = ("no changes" if summary["no_op"] else
                f"{batch['records_read']} records from {batch['lines_read']} lines")
        console.print(f"batch {n}: {what}; warehouse {summary['tables']['steps']} steps, "
                      f"{summary['tables']['runs']} runs", highlight=False)

    console.print(f"watching {', '.join(map(str, paths))} every {every:g} s; Ctrl-C stops "
                  "after the current batch")
    try:
        with _ingest_errors(settings):
            n = watching.watch(list(paths), settings, every, on_batch=report,
                               max_batches=max_batches)
    except KeyboardInterrupt:
        console.print("interrupted")
        raise typer.Exit(130) from None
    console.print(f"stopped after {n} batches")


@contextlib.contextmanager
def _read_errors(settings: Settings):
    """A damaged Parquet file or bad SQL met while reading: one line naming what to do."""
    import duckdb

    from steplens.flows.store import integrity

    try:
        yield
    except duckdb.Error as e:
        first = str(e).splitlines()[0]
        damaged = integrity.damaged_file_in(e, settings.warehouse)
        if damaged:
            fail(f"warehouse damaged: {damaged} cannot be read ({first}); "
                 f"{integrity.recovery(settings.remote or settings.warehouse)}")
        fail(first)


def _query(con, query: str, settings: Settings) -> tuple[list[str], list[tuple]]:
    with _read_errors(settings):
        rel = con.sql(query)
        return list(rel.columns), rel.fetchall()


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


@app.command()
def report(
    section: Annotated[str | None, typer.Argument(
        metavar="SECTION", help="Print only this section (a view name: step_latency, "
        "failure_rate, token_usage, tool_stats, run_lifecycle_stats, run_failure_funnel, "
        "step_failure_funnel, failing_step_tools, tool_analytics, usage_cost, tool_cost, "
        "unpriced_models, unpriced_tools, migration, threads, version_comparison, "
        "cost_reconciliation, or "
        "any report_* view)")] = None,
    warehouse: WarehouseOpt = None,
    section_opt: Annotated[str | None, typer.Option(
        "--section", "-s", help="The same as SECTION")] = None,
    every: Annotated[bool, typer.Option(
        "--all", "-a", help="Every section in full, laid out for the terminal's width",
        metavar=FLAG)] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write one self-contained HTML page with charts to this file")] = None,
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--format", "-f", help="Print every section (or SECTION) as tables, markdown or "
        "json")] = None,
) -> None:
    """One screen: volume, health, speed and money (--all, SECTION, --format for more)."""
    from steplens.flows.report import html as page
    from steplens.flows.report import render, screen, sections

    if html is not None and not html.parent.is_dir():
        fail(f"cannot write {html}: no directory {html.parent}")
    if section and section_opt and section != section_opt:
        fail(f"two sections named: {section} and --section {section_opt}")
    name = section or section_opt
    settings = _warehouse(warehouse)
    with _open_readonly(settings) as con:
        wanted = sections.SECTIONS
        if name is not None:
            wanted = (_section(name),)
        if html is not None:
            with _read_errors(settings):
                text = page.html(con, source=str(settings.warehouse))
            try:
                html.write_text(text, encoding="utf-8")
            except OSError as e:
                fail(f"cannot write {html}: {e.strerror or e}")
            errors.print(f"wrote {html} ({len(text.encode()) // 1024} KiB)", highlight=False)
            if fmt is None and name is None and not every:
                return
        if fmt is ReportFormat.markdown:
            sys.stdout.write(render.markdown(_sections(con, settings, wanted)))
        elif fmt is ReportFormat.json:
            sys.stdout.write(render.json_text(_sections(con, settings, wanted)))
        elif every or name is not None or fmt is ReportFormat.table:
            for s in wanted:
                columns, rows = _query(con, s.query, settings)
                rows, note = render.summarise_series(columns, rows)
                terminal.render(console, columns, rows, s.title, Format.table, note)
        else:
            with _read_errors(settings):
                data = screen.load(con)
            source = settings.remote or str(settings.warehouse)
            for line in screen.lines(data, console.width, source, _warehouse_flag(warehouse)):
                console.print(line, markup=False, highlight=False, crop=False,
                              style="bold" if line.isupper() else None)


def _section(name: str):
    """The section called `name`: a report section's key, or any `report_*` view."""
    from steplens.flows.report import sections
    from steplens.flows.store import views

    if name in sections.BY_KEY:
        return sections.BY_KEY[name]
    report_views = {m.name for m in views.sql_models()
                    if m.layer == "report" and "create or replace view" in m.text}
    if name in report_views:
        return sections.Section(name)
    fail(f"no section {name!r}: one of {', '.join(sections.BY_KEY)}, or a report_* view "
         f"({', '.join(sorted(report_views))})")


def _sections(con, settings: Settings, wanted=None):
    """The report sections (all of them by default); a damaged file is one line (see
    `_query`)."""
    from steplens.flows.report import sections

    return {s.key: sections.Table(s.title, s.note, *_query(con, s.query, settings))
            for s in (wanted or sections.SECTIONS)}


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the warehouse views")],
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Run ad-hoc SQL on the warehouse (read-only)."""
    settings = _warehouse(warehouse)
    with _open_readonly(settings) as con:
        if fmt is Format.csv:
            with _read_errors(settings):
                sys.stdout.write(terminal.duckdb_csv(con, query))
            return
        columns, rows = _query(con, query, settings)
        terminal.render(console, columns, rows, None, fmt)


@app.command()
def check(warehouse: WarehouseOpt = None,
          repair: Annotated[bool, typer.Option(
              "--repair", help="Repair what can be repaired without the inputs: a lost or "
              "broken HEAD (back to the newest complete snapshot whose files match their "
              "checksums), a missing inventory copy, steplens.duckdb; says what it did"
          )] = False) -> None:
    """Validate a warehouse end to end: the snapshot pointer, both inventory copies,
    every file present with its checksum and row count, manifest and summary intact,
    accounting balanced (counted again), views answer, steplens.duckdb sound
    (docs/guarantees.md, "What check verifies")."""
    from steplens.flows.errors import WarehouseDamaged
    from steplens.flows.store import integrity, pointer, snapshots, summary

    settings = _warehouse(warehouse)
    if settings.remote:
        from steplens.flows.store import remote

        remote.pull(settings.remote, settings.warehouse)
    root = settings.warehouse
    where = settings.remote or root
    if not root.is_dir():
        fail(f"no warehouse at {where}: run `steplens ingest PATH"
             f"{_warehouse_flag(warehouse)}` first")
    if repair:
        try:
            with snapshots.ingest_lock(root):
                for line in integrity.repair(root, settings.prices):
                    console.print(f"repaired: {escape(line)}", highlight=False,
                                  soft_wrap=True)
        except SteplensError as e:
            fail(str(e))
    try:
        empty = pointer.read(root) is None
    except WarehouseDamaged:
        empty = False
    if empty:
        fail(f"no warehouse at {where}: run `steplens ingest PATH"
             f"{_warehouse_flag(warehouse)}` first")
    checks = integrity.check(root)
    notes: list[str] = []
    if not any(c.problems for c in checks):
        snapshot = snapshots.current_snapshot(root)
        checks.append(summary.accounting_check(root, snapshot))
        checks.append(integrity.check_views(root))
        if not checks[-1].problems:
            duck, note = integrity.check_duckdb(root, settings.prices)
            checks.append(duck)
            notes += [note] if note else []
    damaged = 0
    for c in checks:
        mark = "[green]ok[/]  " if not c.problems else "[red]FAIL[/]"
        console.print(f"{mark} {escape(c.what)}", highlight=False)
        for f in c.problems:
            damaged += 1
            console.print(f"       {escape(str(f.path))} {escape(f.problem)}",
                          highlight=False, soft_wrap=True)
    for note in notes:
        console.print(f"note {escape(note)}", highlight=False, soft_wrap=True)
    if damaged:
        fail(f"warehouse damaged ({plural(damaged, 'problem')}); "
             + (f"`steplens check --repair{_warehouse_flag(str(where))}` repairs what it can "
                "without the inputs, else " if not repair else "")
             + integrity.recovery(where))
    console.print(f"warehouse {where} is whole", highlight=False, soft_wrap=True)


server_app = typer.Typer(no_args_is_help=True, help="A Prefect server that keeps running "
                         "(UI, schedules, run history): no start-up cost per command.")
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 4200) -> None:
    """Start a Prefect server in the background, and the warm ingest runner beside it
    (flow runs without Prefect's start-up); steplens commands then use them."""
    from steplens.flows.orchestration import server

    try:
        state = server.start_standing(port)
    except SteplensError as e:
        fail(str(e))
    ui = state["url"].removesuffix("/api")
    console.print(f"Prefect server {'already ' if state.get('already') else ''}running at "
                  f"{state['url']} (pid {state['pid']}; UI {ui}), with the ingest runner "
                  "that takes steplens ingest's flow runs; steplens commands use them until "
                  "`steplens server stop`", highlight=False)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the server `steplens server start` started."""
    from steplens.flows.orchestration import server

    state = server.stop_standing()
    console.print(f"stopped the Prefect server at {state['url']}" if state else
                  "no server started by `steplens server start`", highlight=False)


@server_app.command("status")
def server_status() -> None:
    """Which Prefect API steplens commands report to."""
    from steplens.flows.orchestration import server

    configured = server.configured_url()
    state = server.standing_server()
    if configured:
        up = "answers" if server.healthy(configured) else "does NOT answer"
        console.print(f"PREFECT_API_URL={configured} ({up})", highlight=False)
    elif state:
        runner = server.standing_runner()
        console.print(f"steplens server at {state['url']} (pid {state['pid']}); ingest runner "
                      + (f"at {runner['url']}" if runner else
                         "not answering: ingests run in-process"), highlight=False)
    else:
        console.print("no server running: each ingest that has work starts a temporary "
                      "one (about 5 s); `steplens server start` removes that cost",
                      highlight=False)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"steplens {version('steplens')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit")] = False,
) -> None:
    """Analytics for OpenAI agent runs: latency, failures, tokens and cost."""
    global console
    # Per invocation, so COLUMNS set after import (a test, a wrapper script) counts.
    console = Console(width=_width())
    if _COMMAND and ctx.invoked_subcommand != "ingest":  # ingest: flows/interrupt.py
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _width() -> int | None:
    """The terminal's width or COLUMNS; output piped to a file with neither gets 160."""
    return None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160


def main() -> None:  # pragma: no cover - console entry point
    from steplens.flows import interrupt

    interrupt.enabled = True  # Ctrl-C: one line, exit 130 (flows/interrupt.py)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
