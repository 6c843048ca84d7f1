"""Parsing that starts while Prefect's temporary server is still starting.

A flow run needs the Prefect API before its first task, and a temporary API server takes
about 5 s to answer. For a large batch, `steplens ingest` (flows/launch.py) therefore
plans the work units itself, exactly as the flow will (same manifest, same plan, same
ranges), and starts parsing them in worker processes at once; the flow's parse task
then `claim`s those workers instead of starting its own, waits for what is left and
records the results. The records are the same either way (`records.parse_unit` on the
same ranges); only the start moves earlier. If the flow plans differently (a file
changed in between), the prefetch is dropped and its segments are pruned as debris.

Only for batches big enough to be parsed in parallel anyway (`PARALLEL_MIN_BYTES`), and
only while a temporary server starts: with a running server there is nothing to hide.
Off unless `STEPLENS_OVERLAP_PARSE=1` (`Settings.overlap_parse` says what was measured).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from steplens.flows.lifeline import die_with_parent
from steplens.flows.settings import PARALLEL_MIN_BYTES, Settings
from steplens.flows.store import records, snapshots
from steplens.flows.store.manifest import (
    FilePlan,
    FileRead,
    Manifest,
    file_reads,
    plan,
    work_units,
)
from steplens.flows.store.records import Range, UnitResult
from steplens.transforms.redact import Redaction


def unit_size(unit: list[Range]) -> int:
    return sum(r.chunk().size for r in unit)


@dataclass
class Prefetch:
    """Work units being parsed in `pool` since before the flow run started."""

    root: Path
    units: list[list[Range]]
    futures: list[Future]
    pool: ProcessPoolExecutor
    plans: list[FilePlan] | None = None
    reads: list[FileRead] | None = None
    redaction: Redaction = field(default_factory=Redaction)

    def results(self, advance: Callable[[int, int], None]) -> list[UnitResult]:
        """Every unit's result, in unit order; `advance(files, bytes)` as each is done."""
        out: list[UnitResult | None] = [None] * len(self.units)
        index = {f: i for i, f in enumerate(self.futures)}
        for future in as_completed(self.futures):
            i = index[future]
            out[i] = future.result()
            advance(len({r.path for r in self.units[i]}), unit_size(self.units[i]))
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_offered: Prefetch | None = None

# The early workers once ran at a lower priority (nice 10), so that the server's start kept
# its CPU; but a process cannot raise its priority again, and they parse the whole batch:
# on a shared machine that doubled a 4 GB ingest (143 s against 67 s). Normal priority.
NICE = 0


def _worker_start(parent: int) -> None:
    die_with_parent(parent)
    if NICE:
        os.nice(NICE)


def start(paths_files: list[str], settings: Settings, full_refresh: bool,
          redaction: Redaction | None = None) -> Prefetch | None:
    """Plan the batch as the flow will and start parsing it, when that pays."""
    global _offered
    root = settings.warehouse
    prev = None if full_refresh else snapshots.current_snapshot(root)
    manifest = Manifest.from_json(snapshots.read_json(prev, snapshots.MANIFEST))
    plans = plan(paths_files, manifest, full_refresh=full_refresh)
    reads = file_reads(plans, settings.chunk_bytes)
    units = work_units(reads, settings.chunk_bytes)
    workers = min(settings.parse_workers, len(units))
    if workers <= 1 or sum(unit_size(u) for u in units) < PARALLEL_MIN_BYTES:
        return None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(
        "spawn"), initializer=_worker_start, initargs=(os.getpid(),))
    redaction = redaction or Redaction()
    futures = [pool.submit(records.parse_unit, str(root), records.new_segment_id(), u,
                           settings.chunk_bytes, redaction) for u in units]
    _offered = Prefetch(root, units, futures, pool, plans, reads, redaction)
    return _offered


def planned_reads(root: Path, plans: list[FilePlan]) -> list[FileRead] | None:
    """The ranges the prefetch cut for exactly these plans (the same files, sizes and
    times), so that the flow does not count every line of the batch a second time
    (about 1 s at 1 GB); None if there is no such prefetch."""
    offered = _offered
    if offered is None or offered.root != root or offered.plans != plans:
        return None
    return offered.reads


def claim(root: Path, units: list[list[Range]], redaction: Redaction | None = None
          ) -> Prefetch | None:
    """The prefetch of exactly these units under the same redaction, taken over by the
    caller; else None (and a prefetch of other units is stopped)."""
    global _offered
    offered, _offered = _offered, None
    if offered is None:
        return None
    if (offered.root == root and offered.units == units
            and offered.redaction == (redaction or Redaction())):
        return offered
    offered.close()
    return None


def close() -> None:
    """Stop a prefetch nobody claimed (the flow failed or planned differently)."""
    global _offered
    offered, _offered = _offered, None
    if offered is not None:
        offered.close()
