"""Continuous ingestion (`steplens watch`): one incremental ingest every N seconds.

Each batch is one flow run; a reader of the warehouse sees either the previous snapshot
or the new one, never a half-written batch. The first Ctrl-C stops after the current
batch, a second one at once (safe too: crash safety, README).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from steplens.flows.ingest import ingest


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
