"""The scheduled deployment of the ingest flow, and the continuous `watch` loop.

A schedule needs a Prefect server that outlives the command (`prefect server start`,
then `PREFECT_API_URL=http://127.0.0.1:4200/api`): the temporary server Prefect starts
per process cannot schedule anything. No work pool or worker is needed: `serve` runs
the flow in this process when the schedule fires. One ingest at a time per warehouse
(`flows/snapshots.py`), so overlapping runs simply wait their turn.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flows import storage
from flows.ingest import ingest

DEPLOYMENT = "steplens-ingest"


def deployment(paths: list[str], warehouse_dir: str, cron: str | None = None,
               interval: float | None = None, name: str = DEPLOYMENT):
    """The ingest flow as a deployment on a cron or interval schedule."""
    if (cron is None) == (interval is None):
        raise ValueError("give exactly one of cron or interval")
    return ingest.to_deployment(
        name=name,
        cron=cron,
        interval=timedelta(seconds=interval) if interval is not None else None,
        parameters={"paths": [p if storage.is_url(p) else str(Path(p).resolve()) for p in paths],
                    "warehouse_dir": warehouse_dir, "wait": True},
        description="steplens: incremental ingest of exported Assistants data",
        tags=["steplens"],
    )


def serve(paths: list[str], warehouse_dir: str, cron: str | None = None,
          interval: float | None = None) -> None:
    """Serve the deployment until interrupted (needs a running Prefect server)."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment(paths, warehouse_dir, cron, interval),
                  pause_on_shutdown=False)


class StopAfterBatch:
    """First Ctrl-C: finish the current batch, then stop. Second Ctrl-C: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopAfterBatch:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def watch(paths: list[str], warehouse_dir: str, every: float,
          on_batch: Callable[[int, dict], None] | None = None,
          max_batches: int | None = None) -> int:
    """Ingest new data every `every` seconds until Ctrl-C; returns the batches run.

    Each batch is one incremental ingest: a reader of the warehouse sees either the
    previous snapshot or the new one, never a half-written batch.
    """
    batches = 0
    with StopAfterBatch() as stop:
        while not stop.requested:
            summary = ingest(paths=paths, warehouse_dir=warehouse_dir, wait=True)
            batches += 1
            if on_batch is not None:
                on_batch(batches, summary)
            if max_batches is not None and batches >= max_batches:
                break
            deadline = time.monotonic() + every
            while not stop.requested and time.monotonic() < deadline:
                time.sleep(min(0.2, every))
    return batches
