"""The ingest flow: new input → record segments → recomputed rows → a new snapshot.

A handful of coarse Prefect tasks (discover, parse, rebuild, publish, views); the logic
lives in `transforms/` (pure Polars), the storage engine in `flows/store/` (record
segments in `records.py`, the manifest and what a batch changes in `manifest.py`,
`snapshots.py`, `views.py`, the row recomputation in `rebuild.py`, the accounting in
`summary.py`).
Incremental by default (README, "Incremental ingestion"): only new files and appended
tails are read, and only the rows of the ids they touch are recomputed. Run it as
`steplens ingest PATH...`, or call `ingest(paths=[...])` inside a Prefect context (tests
use `prefect_test_harness`).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from steplens.flows import prefetch, progress
from steplens.flows.artifacts import publish_report_artifacts
from steplens.flows.faults import checkpoint
from steplens.flows.lifeline import die_with_parent
from steplens.flows.preflight import check_readable, input_files
from steplens.flows.settings import PARALLEL_MIN_BYTES, Settings
from steplens.flows.store import integrity, records, remote, snapshots, views
from steplens.flows.store.manifest import Manifest, after_batch, file_reads, plan, work_units
from steplens.flows.store.rebuild import STAGING, rebuild_tables
from steplens.flows.store.records import Range, UnitResult
from steplens.flows.store.snapshots import Change
from steplens.flows.store.summary import assemble, batch_counts, rows_written, summary_markdown


@task(cache_policy=NO_CACHE)
def discover_inputs(paths: list[str], warehouse_root: Path | None = None) -> list[str]:
    """Every readable input file under `paths` (flows/preflight.py); an error when there
    is none, or one cannot be read."""
    files = input_files(paths, warehouse_root)
    check_readable(files)
    return files


def _unit_size(unit: list[Range]) -> int:
    return sum(r.chunk().size for r in unit)


def _unit_cost(unit: list[Range]) -> float:
    """About how long a unit takes to parse: gzip is counted by what it inflates to
    (about 7x in exports), SSE a third more than JSON lines (its blocks are split first)."""
    return sum(r.chunk().size * (7.0 if r.compressed else 1.3 if r.sse else 1.0) for r in unit)


@task(cache_policy=NO_CACHE)
def parse_units(root: Path, units: list[list[Range]], settings: Settings) -> list[UnitResult]:
    """Parse every work unit into a record segment, in parallel processes when it pays."""
    total = sum(_unit_size(u) for u in units)
    progress.start(len({r.path for u in units for r in u}), total)
    ahead = prefetch.claim(root, units)  # started while the server started (prefetch.py)
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
                                   settings.chunk_bytes): i
                       for i in order}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                progress.advance(len({r.path for r in units[i]}), _unit_size(units[i]))
    else:
        for i, unit in enumerate(units):
            results[i] = records.parse_unit(str(root), ids[i], unit, settings.chunk_bytes)
            progress.advance(len({r.path for r in unit}), _unit_size(unit))
    return results  # type: ignore[return-value]


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def parse_remote_unit(ranges: list[Range], max_bytes: int) -> UnitResult:
    """Parse one work unit on any worker (a Dask worker, say) and return its records.

    The worker reads its inputs itself (local paths it can see, or `s3://` URLs) and
    never touches the warehouse: the coordinator writes the returned batches. Retried,
    because reading object storage over the network can fail transiently.
    """
    return records.parse_unit(None, "", ranges, max_bytes)


def parse_distributed(root: Path, units: list[list[Range]], settings: Settings
                      ) -> list[UnitResult]:
    """Fan the work units out through the flow's task runner (e.g. prefect-dask)."""
    from prefect.futures import as_completed as futures_completed

    progress.start(len({r.path for u in units for r in u}), sum(_unit_size(u) for u in units))
    futures = {parse_remote_unit.submit(u, settings.chunk_bytes): i for i, u in enumerate(units)}
    results: list[UnitResult | None] = [None] * len(units)
    for future in futures_completed(list(futures)):
        i = futures[future]
        results[i] = future.result().written(root, records.new_segment_id())
        progress.advance(len({r.path for r in units[i]}), _unit_size(units[i]))
    return results  # type: ignore[return-value]


@task(cache_policy=NO_CACHE)
def rebuild(root: Path, prev: Path | None, manifest: Manifest, affected_steps: pl.Series,
            affected_runs: pl.Series, full: bool, granularity: str,
            affected_calls: pl.Series | None = None) -> dict[str, Change]:
    """Recompute the rows of every affected id (flows/store/rebuild.py)."""
    return rebuild_tables(root, prev, manifest, affected_steps, affected_runs, full,
                          granularity, affected_calls)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def pull_warehouse(url: str, local: Path) -> str | None:
    """Bring the local mirror of a remote warehouse up to date (flows/store/remote.py)."""
    return remote.pull(url, local)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def push_warehouse(local: Path, url: str) -> str | None:
    """Publish the new snapshot to the remote warehouse; `CURRENT` is written last."""
    return remote.push(local, url)


@task(cache_policy=NO_CACHE)
def build_views(settings: Settings) -> str:
    """Create or refresh the DuckDB views and macros over the snapshot."""
    return str(views.build_duckdb(settings.warehouse, settings.prices))


@flow(name="steplens-ingest")
def ingest(paths: list[str], warehouse_dir: str | None = None, workers: int | None = None,
           chunk_mb: int | None = None, full_refresh: bool = False, wait: bool = False,
           prices: str | None = None, distributed: bool = False) -> dict:
    """Ingest exported Assistants data under `paths` into the warehouse, incrementally.

    Returns the summary (also logged, written beside the snapshot and published as the
    `ingest-summary` artifact). Its `totals` cover everything the warehouse holds and
    balance: `records_read = kept + superseded + rejected + skipped`; `batch` is what
    this run read. With `distributed`, parsing fans out through the flow's task runner
    (run it as `ingest.with_options(task_runner=DaskTaskRunner(...))`), else through
    local processes. `prices` is a CSV overriding the shipped model prices
    (`flows/store/prices.py`); the key metric views are published as table artifacts too
    (`flows/artifacts.py`).
    """
    logger = get_run_logger()
    settings = Settings.from_env(
        warehouse=warehouse_dir, workers=workers,
        chunk_bytes=chunk_mb * 1024 * 1024 if chunk_mb else None, prices=prices,
    ).resolved()
    root = settings.warehouse
    started = time.perf_counter()
    files = discover_inputs(paths, root)  # before the lock: no input, nothing created
    with snapshots.ingest_lock(root, wait=wait):
        if settings.remote:
            pull_warehouse(settings.remote, root)
        current = snapshots.current_snapshot(root)
        if not full_refresh and current is not None and snapshots.outdated(current):
            logger.info("the warehouse was written by an older steplens (tables without "
                        "`api`): rebuilding it whole from the inputs")
            full_refresh = True
        prev = None if full_refresh else current
        if prev is not None:  # a damaged warehouse is refused, never half-updated
            integrity.verify(root)
        manifest = Manifest.from_json(snapshots.read_json(prev, snapshots.MANIFEST))
        plans = plan(files, manifest, full_refresh=full_refresh)
        actions = Counter(p.action for p in plans)
        reads = prefetch.planned_reads(root, plans) or file_reads(plans, settings.chunk_bytes)
        if reads or prev is None:
            units = work_units(reads, settings.chunk_bytes)
            results = (parse_distributed(root, units, settings) if distributed
                       else parse_units(root, units, settings))
            checkpoint("after_parse")
            manifest, affected_steps, affected_runs, affected_calls = after_batch(
                root, manifest, reads, results, full=prev is None)
            checkpoint("after_remove")
            changes = rebuild(root, prev, manifest, affected_steps, affected_runs,
                              full=prev is None, granularity=settings.partition,
                              affected_calls=affected_calls)
            batch = batch_counts(results)
            batch.update(step_ids_recomputed=rows_written(changes["steps"]),
                         run_ids_recomputed=rows_written(changes["runs"]))
            snapshots.publish(root, changes, records.rejects(root, manifest.segments),
                              manifest.to_json(), {}, settings.partition,
                              full=prev is None, keep=settings.keep_snapshots)
            records.prune(root, set(manifest.segments))
            shutil.rmtree(root / STAGING, ignore_errors=True)
            if settings.remote:
                push_warehouse(root, settings.remote)
        else:
            batch = {**batch_counts([]), "step_ids_recomputed": 0, "run_ids_recomputed": 0}
            logger.info("no changes: %d files unchanged", actions["unchanged"])
        build_views(settings)
        no_op = not reads and prev is not None
        summary = assemble(root, manifest, prev, len(files), actions, batch, no_op,
                           time.perf_counter() - started)
        snapshots.write_summary(root, summary)
    logger.info("ingest summary: %s", {k: v for k, v in summary.items()
                                       if k != "skipped_by_shape"})
    if not summary["balanced"]:
        logger.error("accounting does not balance: %s", summary)
    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary),
                             description="steplens ingest accounting")
    if not summary["no_op"] or prices:  # otherwise the published tables are still current
        publish_report_artifacts(str(settings.duckdb_path))
    return summary

