"""Recompute table rows from records, bucket by bucket, into a staging directory.

A batch changes the rows of the step and run ids it touched (`rebuild_incremental`), a
new warehouse or a full refresh every row (`rebuild_full`). Those rows are recomputed
from *every* record of those ids (see `flows/store/records.py`), in hash buckets of ids
sized so that one bucket's records fit comfortably in memory: memory does not grow with
the input. Each bucket is built by the one pure function the tests check too
(transforms/tables.py `build_bucket`). Each bucket's rows are written to
`<warehouse>/.staging/<table>/`, and the snapshot upsert (`flows/store/snapshots.py`)
streams them into the partitions.

A full build has no partitions to merge with: each bucket's rows are appended straight
to the partition files (`<table>/<partition>/part-0.parquet`, one Parquet writer per
partition, a row group per bucket), and publishing moves that directory into the new
snapshot. The rows are written once, not staged and copied.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import polars as pl

from steplens.flows.settings import STAGING
from steplens.flows.store import records, snapshots
from steplens.flows.store.keyed_parquet import KeyedParquet
from steplens.flows.store.manifest import Manifest
from steplens.flows.store.rebuild_responses import responses_full, responses_incremental
from steplens.flows.store.snapshots import Change
from steplens.transforms import schemas
from steplens.transforms.tables import (
    RUN_FRAMES,
    STEP_FRAMES,
    BucketTables,
    Lookups,
    build_bucket,
    run_models,
)

T = TypeVar("T")


def _steps_of_runs(prev: Path | None, run_ids: pl.Series) -> pl.Series:
    """Assistants step ids the current snapshot holds for `run_ids` (their `model` may
    change)."""
    return (
        snapshots.read_table(prev, "steps", schemas.STEPS)
        .filter(pl.col("api") == "assistants")
        .select("step_id", "run_id")
        .filter(pl.col("run_id").is_in(run_ids.implode()))
        .collect()["step_id"]
    )


# Records of at most about this many rows are rebuilt at once; more are split into hash
# buckets of ids, each built and written to staging before the next is read.
ROWS_PER_BUCKET = 250_000


def _buckets(rows: int, ids: pl.Series | None) -> int:
    if ids is not None and ids.len() * 4 < ROWS_PER_BUCKET:
        return 1  # a small incremental batch
    return max(1, -(-rows // ROWS_PER_BUCKET))


def _stage(frame: pl.DataFrame, path: Path, granularity: str) -> None:
    """Write rebuilt rows with their partition, sorted by it so later scans can skip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (frame.with_columns(snapshots.partition_expr(granularity)).sort("_partition")
     .write_parquet(path, compression="zstd", statistics=True, row_group_size=64_000))


# A full build's rows are held back until about this much is pending per table, then
# appended to the partition files: one row group per partition per flush. Writing each
# bucket's rows as they came cost 3 ms a row group, 2 s at 1 GB (20 partitions x 5
# tables x 8 buckets); the tables are a small fraction of the records they come from.
FLUSH_BYTES = 32 * 1024 * 1024
# zstd level 1: measured on the 1 GB tables, a quarter faster than the default level for
# files within 1 % of the size.
ZSTD_LEVEL = 1


class _PartitionFiles:
    """One table's partition files, appended to bucket by bucket (full builds)."""

    def __init__(self, base: Path, schema: pl.Schema, granularity: str,
                 file_name: str = "part-0.parquet") -> None:
        self.granularity = granularity
        self.files = KeyedParquet(schema, lambda part: base / part / file_name,
                                  compression="zstd", compression_level=ZSTD_LEVEL)
        self.pending: list[pl.DataFrame] = []
        self.pending_bytes = 0

    def write(self, frame: pl.DataFrame) -> None:
        self.pending.append(frame)
        self.pending_bytes += frame.estimated_size()
        if self.pending_bytes >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        frame = pl.concat(self.pending, how="vertical")
        self.pending, self.pending_bytes = [], 0
        parts = frame.with_columns(snapshots.partition_expr(self.granularity))
        for (part,), rows in parts.partition_by("_partition", as_dict=True,
                                                maintain_order=True,
                                                include_key=False).items():
            self.files.append(part, rows)

    def close(self) -> None:
        self.flush()
        self.files.close()


def _staged(staging: Path, table: str, schema: pl.Schema) -> pl.LazyFrame:
    files = sorted((staging / table).glob("*.parquet"))
    if not files:
        return schemas.empty(schema).with_columns(_partition=pl.lit(None, pl.String)).lazy()
    return pl.scan_parquet(files)


def _laid_out(staging: Path, table: str, schema: pl.Schema) -> pl.LazyFrame:
    files = sorted((staging / table).glob("*/*.parquet"))
    if not files:
        return schemas.empty(schema).lazy()
    return pl.scan_parquet(files, schema=schema)


# One bucket is built at a time, in a thread, while the caller writes the one before:
# Polars releases the GIL, so the build of bucket b + 1 (its records read, ranked and
# joined) runs beside the Parquet writes of bucket b. Rows are still written in bucket
# order (files the same on every run). Two buckets *building* at once was measured at
# 4 GB (direct, quiet 2 cores): the ingest process went from 0.99 to 1.40 GB (the process
# tree with Prefect's server to 1.6 GB, over the 1.5 GB bound) for 65 s instead of 72 s,
# so a bucket's build never overlaps another's; what overlaps is one build and the
# writes of a finished bucket's rows, which are a fraction of its records.


def _in_order(build: Callable[[int], T], buckets: range) -> Iterator[T]:
    """`build(b)` for every bucket, in order; the next bucket builds while the caller
    consumes the previous one, never two builds at once."""
    if len(buckets) <= 1:
        yield from map(build, buckets)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[T] = pool.submit(build, buckets[0])
        for b in buckets[1:]:
            done = pending.result()
            pending = pool.submit(build, b)
            yield done
            del done
        yield pending.result()


class _Staged:
    """Where an incremental build's rows go: a file per bucket per table, for the
    partition upsert to stream from."""

    def __init__(self, staging: Path, granularity: str) -> None:
        self.staging, self.granularity = staging, granularity

    def write(self, frame: pl.DataFrame, table: str, name: str) -> None:
        _stage(frame, self.staging / table / f"{name}.parquet", self.granularity)


class _LaidOut:
    """Where a full build's rows go: straight to every table's partition files, named
    `file_name` (the Responses rows have files of their own beside the Assistants ones,
    so that the Assistants runs can be read back before those are written)."""

    def __init__(self, staging: Path, granularity: str, file_name: str) -> None:
        self.files = {t: _PartitionFiles(staging / t, spec.schema, granularity, file_name)
                      for t, spec in schemas.KEYED.items()}

    def write(self, frame: pl.DataFrame, table: str, name: str) -> None:
        self.files[table].write(frame)

    def close(self, table: str | None = None) -> None:
        """Write out what is pending (of `table`, else of all) and close the files."""
        for t, files in self.files.items():
            if table in (None, t):
                files.close()


Sink = _Staged | _LaidOut
# What each pass writes of a bucket's tables (transforms/tables.py `build_bucket`).
RUN_TABLES = ("runs",)
STEP_TABLES = ("steps", "tool_calls", "usage", "_step_sources")


# A full build of at least this many buckets splits the records by bucket once
# (`records.split_by_bucket`) rather than reading every segment for every bucket: measured
# at 4 GB (28 step buckets) it saves about half the read CPU; below about 8 buckets the
# split costs more than the reads it saves.
SPLIT_BUCKETS = 8
SPLIT = "_split"  # under the staging directory: <pass>/<frame>/<bucket>.parquet


def _run_bucket(root: Path, manifest: Manifest, run_ids: pl.Series | None, buckets: int,
                b: int, split: Path | None = None) -> BucketTables:
    batch = (records.load_split(split, RUN_FRAMES, b) if split is not None else
             records.load(root, manifest.segments, None, run_ids, (b, buckets), RUN_FRAMES))
    return build_bucket(batch)


def _step_bucket(root: Path, manifest: Manifest, step_ids: pl.Series | None,
                 models: pl.LazyFrame, buckets: int, b: int,
                 split: Path | None = None) -> BucketTables:
    batch = (records.load_split(split, STEP_FRAMES, b) if split is not None else
             records.load(root, manifest.segments, step_ids, None, (b, buckets), STEP_FRAMES))
    needed = batch.step_records["run_id"].drop_nulls().unique().implode()
    # only the runs this bucket's steps belong to: memory stays per bucket
    return build_bucket(batch, Lookups(models=models.filter(pl.col("run_id").is_in(needed))
                                       .collect()))


def _build(sink: Sink, tables: tuple[str, ...], bucket: Callable[[int], BucketTables],
           buckets: int) -> None:
    """Every bucket's rows of `tables` to `sink`, in bucket order."""
    for b, built in enumerate(_in_order(bucket, range(buckets))):
        frames = built.keyed()
        for table in tables:
            sink.write(frames[table], table, f"{b:04d}")
        del built, frames


def _split(root: Path, manifest: Manifest, frames: tuple[str, ...], buckets: int,
           name: str) -> Path | None:
    """Where `frames` were split by bucket for this pass (`SPLIT_BUCKETS`), or None."""
    if buckets < SPLIT_BUCKETS:
        return None
    into = root / STAGING / SPLIT / name
    records.split_by_bucket(root, manifest.segments, frames, buckets, into)
    return into


def rebuild_full(root: Path, manifest: Manifest, granularity: str) -> dict[str, Change]:
    """Every row, from every record of the live segments (a new warehouse, a full
    refresh): laid out straight as the new snapshot's partition files.

    Runs first, then steps (which take `model` from their run), then the Responses API
    rows (flows/store/rebuild_responses.py), each in hash buckets of ids sized so that
    one bucket's records fit comfortably in memory.
    """
    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    rows = _LaidOut(staging, granularity, "part-0.parquet")
    response_rows = _LaidOut(staging, granularity, "part-1.parquet")
    try:
        n_runs = _buckets(records.rows_of(manifest.segments, RUN_FRAMES), None)
        split = _split(root, manifest, RUN_FRAMES, n_runs, "runs")
        _build(rows, RUN_TABLES, partial(_run_bucket, root, manifest, None, n_runs,
                                         split=split), n_runs)
        rows.close("runs")
        models = run_models(_laid_out(staging, "runs", schemas.RUNS))
        n_steps = _buckets(records.rows_of(manifest.segments, STEP_FRAMES), None)
        split = _split(root, manifest, STEP_FRAMES, n_steps, "steps")
        _build(rows, STEP_TABLES, partial(_step_bucket, root, manifest, None, models, n_steps,
                                          split=split), n_steps)
        shutil.rmtree(staging / SPLIT, ignore_errors=True)
        responses_full(root, manifest, response_rows.write)
    finally:
        rows.close()
        response_rows.close()
        shutil.rmtree(staging / SPLIT, ignore_errors=True)
    return {table: Change(pl.Series([], dtype=pl.String), _laid_out(staging, table, spec.schema),
                          laid_out=staging / table)
            for table, spec in schemas.KEYED.items()}


def rebuild_incremental(root: Path, prev: Path, manifest: Manifest, affected_steps: pl.Series,
                        affected_runs: pl.Series, affected_calls: pl.Series | None,
                        granularity: str) -> dict[str, Change]:
    """Recompute the rows of every affected id from all of its records, on top of the
    snapshot `prev`: staged bucket by bucket, for the partition upsert to stream in.

    As `rebuild_full`, for the ids touched: runs, then steps (those of the runs touched
    too: their `model` may change), then the Responses API rows (`affected_runs` holds
    the response ids too, `affected_calls` the call ids whose tool outputs changed).
    """
    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    rows = _Staged(staging, granularity)
    n_runs = _buckets(records.rows_of(manifest.segments, RUN_FRAMES), affected_runs)
    _build(rows, RUN_TABLES, partial(_run_bucket, root, manifest, affected_runs, n_runs),
           n_runs)
    models = run_models(pl.concat([
        snapshots.read_table(prev, "runs", schemas.RUNS).select("run_id", "model")
        .filter(~pl.col("run_id").is_in(affected_runs.implode())),
        _staged(staging, "runs", schemas.RUNS).select("run_id", "model"),
    ]))
    step_ids = pl.concat([affected_steps, _steps_of_runs(prev, affected_runs)]).unique()
    n_steps = _buckets(records.rows_of(manifest.segments, STEP_FRAMES), step_ids)
    _build(rows, STEP_TABLES, partial(_step_bucket, root, manifest, step_ids, models, n_steps),
           n_steps)
    response_keys = responses_incremental(
        root, prev, manifest, affected_runs,
        affected_calls if affected_calls is not None else pl.Series("call_key", [], pl.String),
        rows.write)
    by_table = {"runs": affected_runs, "steps": step_ids, "tool_calls": step_ids,
                "usage": step_ids, "_step_sources": step_ids}
    for table, extra in response_keys.items():
        base = by_table.get(table)
        by_table[table] = extra if base is None else pl.concat(
            [base.cast(pl.String), extra.cast(pl.String)]).unique()
    return {table: Change(by_table.get(table, pl.Series([], dtype=pl.String)),
                          _staged(staging, table, spec.schema))
            for table, spec in schemas.KEYED.items()}
