"""The ingest, step by step: new input → record segments → recomputed rows → a snapshot.

One definition of what an ingest does, run two ways (README, "Prefect or direct"):

- as the Prefect flow `steplens-ingest` (`flows/ingest.py`), each step a task: what
  `steplens ingest` runs for a large batch, a scheduled deployment, `watch`, `--dask`,
  and whenever a Prefect API is configured;
- directly, the steps as plain calls in this process (`run_direct`): what `steplens
  ingest` runs for a small batch when no Prefect API is configured. Importing Prefect
  and starting its temporary API server costs 5 to 9 s here, ten times the work of a
  typical daily export; a flow run on a temporary server that stops with the command
  would record nothing a user could look at later anyway.

Both go through `run` below, so they give the same tables, summary and accounting;
tests hold them equal. The logic lives in `transforms/` (pure Polars) and the storage
engine in `flows/store/` (record segments, the manifest and what a batch changes,
snapshots, views, the row recomputation, the accounting). Incremental by default
(README, "Incremental ingestion"): only new files and appended tails are read, and only
the rows of the ids they touch are recomputed. This module never imports Prefect.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from steplens.flows import prefetch, progress
from steplens.flows.faults import checkpoint
from steplens.flows.lifeline import die_with_parent
from steplens.flows.preflight import check_readable, input_files
from steplens.flows.settings import PARALLEL_MIN_BYTES, STAGING, Settings
from steplens.flows.store import integrity, records, remote, snapshots, views
from steplens.flows.store.manifest import Manifest, after_batch, file_reads, plan, work_units
from steplens.flows.store.rebuild import rebuild_tables
from steplens.flows.store.records import Range, UnitResult
from steplens.flows.store.redaction import recorded as recorded_redaction
from steplens.flows.store.redaction import resolve as resolve_redaction
from steplens.flows.store.snapshots import Change
from steplens.flows.store.summary import assemble, batch_counts, rows_written
from steplens.transforms.redact import Redaction

LOGGER = logging.getLogger("steplens.ingest")


def discover_inputs(paths: list[str], warehouse_root: Path | None = None) -> list[str]:
    """Every readable input file under `paths` (flows/preflight.py); an error when there
    is none, or one cannot be read."""
    files = input_files(paths, warehouse_root)
    check_readable(files)
    return files


def unit_size(unit: list[Range]) -> int:
    return sum(r.chunk().size for r in unit)


def _unit_cost(unit: list[Range]) -> float:
    """About how long a unit takes to parse: gzip is counted by what it inflates to
    (about 7x in exports), SSE a third more than JSON lines (its blocks are split first)."""
    return sum(r.chunk().size * (7.0 if r.compressed else 1.3 if r.sse else 1.0) for r in unit)


def unit_files(unit: list[Range]) -> int:
    return len({r.path for r in unit})


def parse_units(root: Path, units: list[list[Range]], settings: Settings,
                redaction: Redaction | None = None) -> list[UnitResult]:
    """Parse every work unit into a record segment, in parallel processes when it pays;
    content redacted as `redaction` says before it is written."""
    total = sum(unit_size(u) for u in units)
    progress.start(len({r.path for u in units for r in u}), total)
    # started while the server started (prefetch.py)
    ahead = prefetch.claim(root, units, redaction or Redaction())
    if ahead is not None:
        try:
            return ahead.results(progress.advance)
        finally:
            ahead.close()
    ids = [records.new_segment_id() for _ in units]
    workers = min(settings.parse_workers, len(units))
    results: list[UnitResult | None] = [None] * len(units)
    if workers > 1 and total >= PARALLEL_MIN_BYTES:
        context = multiprocessing.get_context("spawn")  # fork is unsafe beside Prefect's threads
        # the costliest units first (a whole gzip or SSE file cannot be split): the last
        # ones to finish are then small, and no worker waits long on another
        order = sorted(range(len(units)), key=lambda i: -_unit_cost(units[i]))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                 initializer=die_with_parent,  # even on kill -9
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(records.parse_unit, str(root), ids[i], units[i],
                                   settings.chunk_bytes, redaction): i
                       for i in order}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                progress.advance(unit_files(units[i]), unit_size(units[i]))
    else:
        for i, unit in enumerate(units):
            results[i] = records.parse_unit(str(root), ids[i], unit, settings.chunk_bytes,
                                            redaction)
            progress.advance(unit_files(unit), unit_size(unit))
    return results  # type: ignore[return-value]


def build_views(settings: Settings) -> str:
    """Create or refresh the DuckDB views and macros over the snapshot."""
    return str(views.build_duckdb(settings.warehouse, settings.prices))


@dataclass(frozen=True)
class Steps:
    """How each step runs: plain functions (`DIRECT`), or Prefect tasks (flows/ingest.py)."""

    discover: Callable[[list[str], Path | None], list[str]]
    parse: Callable[[Path, list[list[Range]], Settings, Redaction], list[UnitResult]]
    rebuild: Callable[..., dict[str, Change]]
    pull: Callable[[str, Path], str | None]
    push: Callable[[Path, str], str | None]
    views: Callable[[Settings], str]


DIRECT = Steps(discover=discover_inputs, parse=parse_units, rebuild=rebuild_tables,
               pull=remote.pull, push=remote.push, views=build_views)


def run(paths: list[str], settings: Settings, steps: Steps, logger: logging.Logger
        | logging.LoggerAdapter, full_refresh: bool = False, wait: bool = False,
        redact: str | None = None, redact_fields: str | None = None) -> dict:
    """One ingest of `paths` into `settings.warehouse` (resolved); the summary.

    Its `totals` cover everything the warehouse holds and balance: `records_read = kept
    + superseded + rejected + skipped`; `batch` is what this run read. `redact` and
    `redact_fields` (README, "Redaction"): None goes on as the warehouse was built.
    """
    root = settings.warehouse
    started = time.perf_counter()
    files = steps.discover(paths, root)  # before the lock: no input, nothing created
    with snapshots.ingest_lock(root, wait=wait):
        if settings.remote:
            steps.pull(settings.remote, root)
        current = snapshots.current_snapshot(root)
        if not full_refresh and current is not None and snapshots.outdated(current):
            logger.info("the warehouse was written by an older steplens (tables without "
                        "`api`): rebuilding it whole from the inputs")
            full_refresh = True
        prev = None if full_refresh else current
        if prev is not None:  # a damaged warehouse is refused, never half-updated
            integrity.verify(root)
        manifest = Manifest.from_json(snapshots.read_json(prev, snapshots.MANIFEST))
        redaction = resolve_redaction(redact, redact_fields,
                                      recorded_redaction(current, prev is None),
                                      prev is None, root)
        plans = plan(files, manifest, full_refresh=full_refresh)
        actions = Counter(p.action for p in plans)
        reads = prefetch.planned_reads(root, plans) or file_reads(plans, settings.chunk_bytes)
        if reads or prev is None:
            units = work_units(reads, settings.chunk_bytes)
            results = steps.parse(root, units, settings, redaction)
            checkpoint("after_parse")
            manifest, affected_steps, affected_runs, affected_calls = after_batch(
                root, manifest, reads, results, full=prev is None)
            manifest.redaction = redaction.record() if redaction.active else None
            checkpoint("after_remove")
            changes = steps.rebuild(root, prev, manifest, affected_steps, affected_runs,
                                    full=prev is None, granularity=settings.partition,
                                    affected_calls=affected_calls)
            batch = batch_counts(results)
            batch.update(step_ids_recomputed=rows_written(changes["steps"]),
                         run_ids_recomputed=rows_written(changes["runs"]))
            snapshots.publish(root, changes, records.rejects(root, manifest.segments),
                              manifest.to_json(), {}, settings.partition,
                              full=prev is None, keep=settings.keep_snapshots,
                              whole={**records.billing_tables(root, manifest.segments),
                                     "field_coverage": records.coverage_table(
                                         root, manifest.segments)})
            records.prune(root, set(manifest.segments))
            shutil.rmtree(root / STAGING, ignore_errors=True)
            if settings.remote:
                steps.push(root, settings.remote)
        else:
            batch = {**batch_counts([]), "step_ids_recomputed": 0, "run_ids_recomputed": 0}
            logger.info("no changes: %d files unchanged", actions["unchanged"])
        steps.views(settings)
        no_op = not reads and prev is not None
        summary = assemble(root, manifest, prev, len(files), actions, batch, no_op,
                           time.perf_counter() - started)
        summary["redaction"] = redaction.record()
        snapshots.write_summary(root, summary)
    logger.info("ingest summary: %s", {k: v for k, v in summary.items()
                                       if k != "skipped_by_shape"})
    if not summary["balanced"]:
        logger.error("accounting does not balance: %s", summary)
    return summary


def run_direct(paths: list[str], settings: Settings, full_refresh: bool = False,
               wait: bool = False, redact: str | None = None,
               redact_fields: str | None = None) -> dict:
    """The ingest without Prefect: every step a plain call in this process."""
    summary = run(paths, settings.resolved(), DIRECT, LOGGER, full_refresh, wait, redact,
                  redact_fields)
    summary["orchestration"] = "direct"
    return summary
