"""The ingest, step by step: new input → record segments → recomputed rows → a snapshot.

One definition of what an ingest does, run two ways (docs/operations.md, "Prefect or direct"):

- as the Prefect flow `steplens-ingest` (`flows/ingest.py`), each step a task: the
  default (`Settings.orchestration == "prefect"`), and always for a scheduled
  deployment, `watch`, `--dask` and the warm runner;
- directly, the steps as plain calls in this process (`run_direct`), with
  `--orchestration direct`: for scripts and small batches where Prefect's start-up
  (5 to 9 s with a temporary server) would cost more than the work.

Both go through `run` below, so they give the same tables, summary and accounting;
tests hold them equal. `run` takes the warehouse lock and makes the plan (`plan_batch`)
once per ingest; the early answer before Prefect starts (`flows/orchestration/
preflight.py`) calls the same `plan_batch` without the lock and writes nothing. The
logic lives in `transforms/` (pure Polars) and the storage engine in `flows/store/`
(record segments, the manifest and what a batch changes, snapshots, views, the row
recomputation, the accounting). Incremental by default (docs/ingest.md, "Incremental
ingestion"): only new files and appended tails are read, and only the rows of the ids
they touch are recomputed. This module never imports Prefect.
"""

from __future__ import annotations

import contextlib
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

from steplens.flows import progress
from steplens.flows.errors import InputError, NoInputFiles
from steplens.flows.faults import checkpoint
from steplens.flows.io import storage
from steplens.flows.io.inputs import discover
from steplens.flows.orchestration.lifeline import die_with_parent
from steplens.flows.settings import PARALLEL_MIN_BYTES, STAGING, Settings
from steplens.flows.store import early_views, integrity, records, remote, snapshots, views
from steplens.flows.store.manifest import (
    FilePlan,
    Manifest,
    after_batch,
    file_reads,
    plan,
    work_units,
)
from steplens.flows.store.rebuild import rebuild_full, rebuild_incremental
from steplens.flows.store.records import Range, UnitResult
from steplens.flows.store.redaction import recorded as recorded_redaction
from steplens.flows.store.redaction import resolve as resolve_redaction
from steplens.flows.store.snapshots import Change
from steplens.flows.store.summary import assemble, batch_counts, rows_written
from steplens.transforms.redact import Redaction

LOGGER = logging.getLogger("steplens.ingest")


INPUT_KINDS = ".jsonl, .ndjson, .json, .jsonl.gz, .sse"


def input_files(paths: list[str], warehouse_root: Path | None = None) -> list[str]:
    """Every input file under `paths`; `InputError` when there is none.

    Files inside the warehouse itself (its manifest and summary are `.json`) are never
    inputs, even when a path given is a parent of the warehouse, such as `data/`.
    """
    files = discover(paths)
    if warehouse_root is not None:
        inside = str(warehouse_root.resolve()) + "/"
        files = [f for f in files if not f.startswith(inside)]
    if not files:
        raise NoInputFiles(f"no input files ({INPUT_KINDS}) under {', '.join(map(str, paths))}: "
                           "give the folder or files of your export")
    return files


def check_readable(files: list[str]) -> None:
    """`InputError` naming the first local file that cannot be opened for reading."""
    for name in files:
        if storage.is_url(name):
            continue  # object storage: checked when read
        try:
            with storage.open_binary(name) as f:  # non-blocking: a FIFO never hangs here
                f.read(1)
        except OSError as e:
            raise InputError(f"cannot read {name}: {e.strerror or e}; fix its permissions "
                             "or leave it out of the paths") from None


def discover_inputs(paths: list[str], warehouse_root: Path | None = None) -> list[str]:
    """Every readable input file under `paths`; an error when there is none, or one
    cannot be read. Nothing is created: a mistake in the paths leaves no warehouse."""
    files = input_files(paths, warehouse_root)
    check_readable(files)
    return files


def unit_size(unit: list[Range]) -> int:
    """The bytes a work unit reads (what progress counts)."""
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


@dataclass
class Batch:
    """What one ingest will do, decided from the inputs and the current snapshot."""

    files: list[str]
    current: Path | None  # the snapshot in use, if any
    prev: Path | None  # the snapshot built on: None for a new warehouse or a full refresh
    manifest: Manifest
    redaction: Redaction
    plans: list[FilePlan]
    # an older steplens's tables (`snapshots.outdated`): rebuilt whole from every record
    # segment, never from the inputs alone (files not given keep their rows)
    upgrade: bool = False

    @property
    def whole(self) -> bool:
        """Every table is built whole: a new warehouse, a full refresh or an upgrade."""
        return self.prev is None or self.upgrade

    @property
    def unchanged(self) -> bool:
        """Every input already ingested as it is: nothing to read."""
        return (self.prev is not None and self.plans != []
                and all(p.action == "unchanged" and p.upgrade is None for p in self.plans))


def plan_batch(root: Path, files: list[str], full_refresh: bool = False,
               redact: str | None = None, redact_fields: str | None = None,
               logger: logging.Logger | logging.LoggerAdapter = LOGGER) -> Batch:
    """The plan of one ingest: the snapshot it builds on, the manifest, the redaction
    (the one asked for, consistent with the warehouse's) and each file's action.

    Reads only (a damaged warehouse is refused here, never half-updated). `run` calls it
    under the warehouse lock; the early answer before Prefect starts calls it without.
    """
    current = snapshots.current_snapshot(root)
    upgrade = False
    if not full_refresh and current is not None:
        integrity.verify(root)  # a damaged warehouse is refused, never half-updated
        upgrade = snapshots.outdated(current)
        if upgrade:
            # Never from the inputs alone: an archive no longer at hand keeps its rows.
            logger.info("the warehouse was written by an older steplens (tables without "
                        "a column this one writes, e.g. `api`, `steps.phase`): every table "
                        "is rebuilt from the records it holds, and the inputs given are "
                        "read again to fill the new columns (rows of inputs not given keep "
                        "NULL there)")
    prev = None if full_refresh else current
    manifest = Manifest.from_json(snapshots.read_json(prev, snapshots.MANIFEST))
    redaction = resolve_redaction(redact, redact_fields,
                                  recorded_redaction(current, prev is None), prev is None, root)
    return Batch(files, current, prev, manifest, redaction,
                 plan(files, manifest, full_refresh=full_refresh, reread=upgrade), upgrade)


@dataclass(frozen=True)
class Steps:
    """How each step runs: plain functions (`DIRECT`), or Prefect tasks (flows/ingest.py)."""

    discover: Callable[[list[str], Path | None], list[str]]
    parse: Callable[[Path, list[list[Range]], Settings, Redaction], list[UnitResult]]
    rebuild_full: Callable[[Path, Manifest, str], dict[str, Change]]
    rebuild_incremental: Callable[..., dict[str, Change]]
    pull: Callable[[str, Path], str | None]
    push: Callable[[Path, str], str | None]
    views: Callable[[Settings], str]


DIRECT = Steps(discover=discover_inputs, parse=parse_units, rebuild_full=rebuild_full,
               rebuild_incremental=rebuild_incremental, pull=remote.pull, push=remote.push,
               views=build_views)


def _remove_leftovers(root: Path, manifest: Manifest, early_views_too: bool) -> None:
    """Under the ingest lock: record segments no kept snapshot names (superseded, or
    parsed by a killed ingest), the staging area (rows being rebuilt, records split by
    bucket) and, unless this ingest's own early define is in use, `.views-early/`.
    Segments of every kept snapshot stay (a retained snapshot stays whole)."""
    records.prune(root, set(manifest.segments) | snapshots.live_segments(root))
    shutil.rmtree(root / STAGING, ignore_errors=True)
    if early_views_too:  # a killed ingest's (an early define removes its own)
        shutil.rmtree(root / early_views.EARLY, ignore_errors=True)


def has_leftovers(root: Path, manifest: Manifest) -> bool:
    """Whether a killed ingest left anything `_remove_leftovers` removes: then an ingest
    with nothing to read still runs (preflight), to remove it."""
    if (root / STAGING).exists() or (root / early_views.EARLY).exists():
        return True
    others = {e.name for e in records.unnamed(root, set(manifest.segments))}
    # only then are the other kept snapshots' manifests read
    return bool(others and others - snapshots.live_segments(root))


def run(paths: list[str], settings: Settings, steps: Steps, logger: logging.Logger
        | logging.LoggerAdapter, full_refresh: bool = False, wait: bool = False,
        redact: str | None = None, redact_fields: str | None = None) -> dict:
    """One ingest of `paths` into `settings.warehouse` (resolved); the summary.

    Its `totals` cover everything the warehouse holds and balance: `records_read = kept
    + superseded + rejected + skipped`; `batch` is what this run read. `redact` and
    `redact_fields` (docs/redaction.md, "Redaction"): None goes on as the warehouse was built.
    """
    root = settings.warehouse
    started = time.perf_counter()
    files = steps.discover(paths, root)  # before the lock: no input, nothing created
    # the one lock of an ingest; what the ingest starts for itself ends before it is released
    with snapshots.ingest_lock(root, wait=wait), contextlib.ExitStack() as own:
        if settings.remote:
            steps.pull(settings.remote, root)
        batch_plan = plan_batch(root, files, full_refresh, redact, redact_fields, logger)
        prev, manifest, redaction = batch_plan.prev, batch_plan.manifest, batch_plan.redaction
        plans = batch_plan.plans
        actions = Counter(p.action for p in plans)
        reads = file_reads(plans, settings.chunk_bytes)
        whole = batch_plan.whole
        if reads or whole:
            # a warehouse with no `steplens.duckdb` to re-pin: its views bound meanwhile
            early = (own.enter_context(early_views.EarlyViews(root, settings.prices))
                     if early_views.needed(root, settings.prices) else None)
            if prev is not None:  # the segments the rebuild reads again are whole
                integrity.verify_segments(root)
            units = work_units(reads, settings.chunk_bytes)
            results = steps.parse(root, units, settings, redaction)
            checkpoint("after_parse")
            manifest, affected_steps, affected_runs, affected_calls = after_batch(
                root, manifest, reads, results, full=whole)
            manifest.redaction = redaction.record() if redaction.active else None
            checkpoint("after_remove")
            if whole:
                changes = steps.rebuild_full(root, manifest, settings.partition)
            else:
                changes = steps.rebuild_incremental(root, prev, manifest, affected_steps,
                                                    affected_runs, affected_calls,
                                                    settings.partition)
            batch = batch_counts(results)
            batch.update(step_ids_recomputed=rows_written(changes["steps"]),
                         run_ids_recomputed=rows_written(changes["runs"]))
            no_op = False
            published: dict = {}

            def summarize(staged: Path) -> dict:
                # counted over the staged snapshot and written inside it before it is
                # published: no state where the snapshot in use has no summary
                published.update(assemble(root, manifest, prev, len(files), actions, batch,
                                          False, time.perf_counter() - started,
                                          snapshot=staged))
                published["redaction"] = redaction.record()
                return published

            snapshots.publish(
                root, changes, records.rejects(root, manifest.segments), manifest.to_json(),
                summarize, settings.partition, full=whole,
                keep=settings.keep_snapshots, whole={
                    **records.billing_tables(root, manifest.segments),
                    "field_coverage": records.coverage_table(root, manifest.segments)},
                retention=settings.snapshot_retention_seconds, prices_file=settings.prices,
                early_views=early.take if early is not None else None)
            _remove_leftovers(root, manifest, early_views_too=early is None)
            if settings.remote:
                steps.push(root, settings.remote)
        else:
            batch = {**batch_counts([]), "step_ids_recomputed": 0, "run_ids_recomputed": 0}
            logger.info("no changes: %d files unchanged", actions["unchanged"])
            no_op = True
            # a killed ingest's leftovers go now, not at the next ingest that publishes
            _remove_leftovers(root, manifest, early_views_too=True)
        steps.views(settings)
        if no_op:
            summary = assemble(root, manifest, prev, len(files), actions, batch, no_op,
                               time.perf_counter() - started)
            summary["redaction"] = redaction.record()
            snapshots.write_summary(root, summary)
        else:
            summary = published
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
