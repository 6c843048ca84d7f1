"""Continuous ingestion (`steplens watch`): one incremental ingest every N seconds.

Each batch that finds new data is one flow run; a batch that finds nothing new costs a
manifest check and no flow run (flows/orchestration/launch.py), and a folder that holds
no input file yet is waited on. One Prefect API serves every batch. A reader of the warehouse sees
either the previous snapshot or the new one, never a half-written batch. The first
Ctrl-C stops after the current batch, a second one at once (safe too: crash safety,
README).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from steplens.flows.errors import NoInputFiles
from steplens.flows.orchestration import server
from steplens.flows.orchestration.launch import run_ingest
from steplens.flows.settings import Settings


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


def watch(paths: list[str], settings: Settings, every: float,
          on_batch: Callable[[int, dict | None], None] | None = None,
          max_batches: int | None = None) -> int:
    """Ingest new data every `every` seconds until Ctrl-C; returns the batches run.

    `on_batch(n, summary)` after each batch; `summary` is None while the paths hold no
    input file.
    """
    batches = 0
    with StopAfterBatch() as stop, server.prefect_api() as api:
        while not stop.requested:
            try:
                summary: dict | None = run_ingest(paths, settings, wait=True, api=api)
            except NoInputFiles:
                summary = None
            batches += 1
            if on_batch is not None:
                on_batch(batches, summary)
            if max_batches is not None and batches >= max_batches:
                break
            deadline = time.monotonic() + every
            while not stop.requested and time.monotonic() < deadline:
                time.sleep(min(0.2, every))
    return batches
