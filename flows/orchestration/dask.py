"""Parsing on a Dask cluster (prefect-dask), and the Prefect API its workers report to.

With nothing configured, Prefect starts a temporary API server inside each process that
needs one. Dask worker processes would then each start their own (seconds apiece, and
their task runs land in separate databases). Before a Dask cluster is created, this
starts that temporary server once, in the parent, and exports its URL through
`PREFECT_API_URL`, which the worker processes inherit. With `PREFECT_API_URL` already
set (a `prefect server start` somewhere), it does nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def shared_api() -> Iterator[str]:
    """Yield a Prefect API URL usable by child processes for the duration of the block."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    url = PREFECT_API_URL.value()
    if url:
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url  # a harness or profile setting: export it
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)


@contextlib.contextmanager
def dask_ingest(flow, workers: int | None, address: str | None) -> Iterator:
    """`flow` on a Dask task runner: a local cluster of `workers` processes, or the
    cluster at `address`.

    A local cluster's worker processes report their task runs to the parent's Prefect
    API (`shared_api`), so none of them starts a server of its own.
    """
    from prefect_dask import DaskTaskRunner

    if address:
        runner = DaskTaskRunner(address=address)
    else:
        runner = DaskTaskRunner(cluster_kwargs={
            "n_workers": workers or os.cpu_count() or 1, "threads_per_worker": 1,
            "processes": True, "dashboard_address": None})
    with shared_api():
        yield flow.with_options(task_runner=runner)
