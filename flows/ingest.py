"""The ingest flow: new input → record segments → recomputed rows → a new snapshot.

A handful of coarse Prefect tasks (discover, parse, rebuild, publish, views); the logic
lives in `transforms/` (pure Polars), the storage in `segments.py`, `snapshots.py`,
`views.py`, the row recomputation in `rebuild.py`, the accounting in `summary.py`.
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
from steplens.flows.store.manifest import (
    FileEntry,
    FileRead,
    Manifest,
    file_reads,
    fingerprint,
    plan,
    work_units,
)
from steplens.flows.store.rebuild import STAGING, rebuild_tables
from steplens.flows.store.records import Range, UnitResult
from steplens.flows.store.snapshots import Change
from steplens.flows.store.summary import (
    TOTAL_KEYS,
    batch_counts,
    rows_written,
    skipped_by_shape,
    summary_markdown,
    warehouse_totals,
)


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


def update_manifest(root: Path, manifest: Manifest, reads: list[FileRead],
                    results: list[UnitResult], full: bool = False
                    ) -> tuple[Manifest, pl.Series, pl.Series, pl.Series]:
    """The manifest after this batch, and the (step ids, run ids, call keys) whose rows
    must change (run ids include Responses API response ids; call keys are the call ids
    whose tool-output copies changed, whose winner must be chosen again).

    Rows of rewritten files, and of an unterminated last line that has since grown, are
    removed from the old segments first; then the new segments are added. On a `full`
    build every id changes, and the id lists (millions, at scale) are not built at all.
    """
    segments = dict(manifest.segments)
    removed_steps, removed_runs, removed_calls = [], [], []
    for fr in reads:
        p = fr.plan
        from_line = 1 if p.action == "replace" else p.drop_from_line
        if from_line is not None:
            segments, s_ids, r_ids, c_ids = records.remove_file_rows(root, segments, p.path,
                                                                     from_line)
            removed_steps.append(s_ids)
            removed_runs.append(r_ids)
            removed_calls.append(c_ids)
    new_segments = {info.segment_id: info for r in results for info in r.infos}
    step_ids, run_ids = (records.keys(root, new_segments) if not full else
                         (pl.Series("step_id", [], pl.String), pl.Series("run_id", [], pl.String)))
    call_keys = (records.call_keys(root, new_segments) if not full
                 else pl.Series("call_key", [], pl.String))
    segments.update(new_segments)

    lines_read = Counter()
    for r in results:
        for (path, _start), n in r.lines.items():
            lines_read[path] += n
    files = dict(manifest.files)
    read_again = set().union(*(r.read_again for r in results))
    for fr in reads:
        p = fr.plan
        consumed_lines = fr.consumed_lines if fr.consumed_lines is not None else lines_read[p.path]
        files[p.path] = FileEntry(  # mtime -1: changed while read, so read it again next time
            path=p.path, kind=p.kind, size=p.size,
            mtime_ns=-1 if p.path in read_again else p.mtime_ns,
            consumed_bytes=fr.consumed_bytes, consumed_lines=consumed_lines,
            fingerprint="" if p.path in read_again else fingerprint(p.path, fr.consumed_bytes),
            tail_line=fr.tail_line,
        )
    affected_steps = pl.concat([step_ids, *removed_steps]).unique()
    affected_runs = pl.concat([run_ids, *removed_runs]).unique()
    affected_calls = pl.concat([call_keys, *removed_calls]).unique()
    return Manifest(files, segments), affected_steps, affected_runs, affected_calls


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
            manifest, affected_steps, affected_runs, affected_calls = update_manifest(
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
                              full=prev is None, keep=settings.keep_snapshots,
                              whole=records.billing_tables(root, manifest.segments))
            records.prune(root, set(manifest.segments))
            shutil.rmtree(root / STAGING, ignore_errors=True)
            if settings.remote:
                push_warehouse(root, settings.remote)
        else:
            batch = {"lines_read": 0, "bytes_read": 0, "records_read": 0, "rejected": 0,
                     "skipped": 0, "step_ids_recomputed": 0, "run_ids_recomputed": 0}
            logger.info("no changes: %d files unchanged", actions["unchanged"])
        build_views(settings)
        no_op = not reads and prev is not None
        # A no-op changed nothing: the last summary's warehouse totals still hold.
        last = snapshots.read_json(prev, snapshots.SUMMARY) if no_op else None
        if last and all(k in last for k in (*TOTAL_KEYS, "tables", "skipped_by_shape")):
            totals = {k: last[k] for k in (*TOTAL_KEYS, "tables")}
            shapes = last["skipped_by_shape"]
        else:
            totals = warehouse_totals(root, manifest)
            shapes = skipped_by_shape(root, manifest)
        seconds = time.perf_counter() - started
        summary = {
            "files": len(files),
            **{f"files_{a}": actions[a] for a in ("new", "appended", "replaced", "unchanged")},
            **totals,
            "batch": batch,
            "skipped_by_shape": shapes,
            "seconds": round(seconds, 3),
            "mb_per_s": round(batch["bytes_read"] / 1e6 / seconds, 2) if seconds else None,
            "no_op": no_op,
        }
        summary["files_appended"] = actions["append"]
        summary["files_replaced"] = actions["replace"]
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

