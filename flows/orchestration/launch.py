"""One ingest as the `steplens` command runs it: the early answer, then the flow.

Every ingest that does work is a Prefect flow run by default (`Settings.orchestration`,
docs/operations.md "Prefect or direct"); `--orchestration direct` runs the same steps without
Prefect (`flows/pipeline.py`).

1. `preflight` (no Prefect): inputs found and readable, no other ingest holding the
   warehouse (said at once; `--wait` waits in the ingest instead), warehouse whole, the
   plan. With nothing to do it returns the last summary at once: no server, no flow run.
2. The Prefect API (`server.py`): a configured or standing server, or a temporary one
   started now, tied to this process, so its start-up overlaps the imports below.
3. The flow run (`flows/ingest.py`), with all its tasks and artifacts, once the API
   answers. The ingest takes the warehouse lock and plans under it (`pipeline.run`).

`steplens ingest`, `steplens watch`, the warm runner and the benchmark all go through
`run_ingest`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace

from steplens.flows import pipeline
from steplens.flows.errors import InputError
from steplens.flows.faults import checkpoint
from steplens.flows.orchestration import server
from steplens.flows.orchestration.preflight import Preflight, preflight
from steplens.flows.settings import ORCHESTRATIONS, Settings


def run_ingest(paths: list[str], settings: Settings, *, workers: int | None = None,
               full_refresh: bool = False, wait: bool = False, prices: str | None = None,
               dask: bool = False, dask_address: str | None = None,
               api: server.Api | None = None, redact: str | None = None,
               redact_fields: str | None = None) -> dict:
    """Ingest `paths` into `settings.warehouse`; the summary (see `flows/ingest.py`).

    `api`: an API the caller already holds (`watch` keeps one for all its batches);
    otherwise one is found or started for this call and stopped at its end.
    """
    distributed = dask or bool(dask_address)
    pre = preflight(paths, settings, full_refresh, redact, redact_fields, wait)
    prefect = use_prefect(pre, distributed)
    if pre.no_op and prices is None:
        return pre.summary()
    if not prefect:
        return pipeline.run_direct(
            paths, replace(settings, workers=workers if workers is not None
                           else settings.workers), full_refresh, wait, redact, redact_fields)
    with _api(api) as held:
        checkpoint("api_starting")
        from steplens.flows.ingest import ingest as ingest_flow  # while the server starts

        with server.active(held), _runner(ingest_flow, dask, dask_address, workers) as flow:
            return flow(paths=list(paths), warehouse_dir=settings.destination,
                        workers=workers, full_refresh=full_refresh, wait=wait,
                        prices=prices, distributed=distributed,
                        redact=redact, redact_fields=redact_fields)


def use_prefect(pre: Preflight, distributed: bool) -> bool:
    """Whether this batch runs as the Prefect flow (the default), or directly
    (`settings.orchestration`, docs/operations.md, "Prefect or direct").

    Every ingest that does work is a flow run unless the user asks for `direct`: the
    flow run is the record of what ran (tasks, logs, artifacts) that a scheduled or
    watched warehouse is operated by. `direct` runs the same steps without importing
    Prefect, for scripts and small batches where Prefect's start-up (5 to 9 s with a
    temporary server) would cost more than the work.
    """
    mode = pre.settings.orchestration
    if mode not in ORCHESTRATIONS:
        raise InputError(f"orchestration {mode!r}: give one of {', '.join(ORCHESTRATIONS)}")
    if mode == "direct" and distributed:
        raise InputError("--dask/--dask-address run through Prefect: leave out "
                         "--orchestration direct (STEPLENS_ORCHESTRATION)")
    return mode == "prefect"


@contextlib.contextmanager
def _api(api: server.Api | None) -> Iterator[server.Api]:
    if api is not None:
        yield api
        return
    with server.prefect_api() as started:
        yield started


@contextlib.contextmanager
def _runner(flow, dask: bool, address: str | None, workers: int | None) -> Iterator:
    """The ingest flow, on a Dask task runner with `--dask`/`--dask-address`."""
    if not dask and not address:
        yield flow
        return
    from steplens.flows.orchestration.dask import dask_ingest

    with dask_ingest(flow, workers, address) as on_dask:
        yield on_dask


def quiet_prefect_console() -> None:
    """Before Prefect is imported: its console shows nothing below CRITICAL.

    The command prints its own summary and one line per user error; Prefect's
    INFO/ERROR lines (with tracebacks for a flow that failed on a user error) still go
    to the API, i.e. the flow run's logs in the UI. A bug still ends in a traceback:
    the exception leaves the flow call.
    """
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
