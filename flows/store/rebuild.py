"""Recompute table rows from records, bucket by bucket, into a staging directory.

A batch changes the rows of the step and run ids it touched (all of them on a full
build). Those rows are recomputed from *every* record of those ids (see
`flows/store/records.py`), in hash buckets of ids sized so that one bucket's records fit
comfortably in memory: memory does not grow with the input. Each bucket's rows are
written to `<warehouse>/.staging/<table>/`, and the snapshot upsert
(`flows/store/snapshots.py`) streams them into the partitions.

A full build has no partitions to merge with: each bucket's rows are appended straight
to the partition files (`<table>/<partition>/part-0.parquet`, one Parquet writer per
partition, a row group per bucket), and publishing moves that directory into the new
snapshot. The rows are written once, not staged and copied.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow.parquet as pq

from steplens.flows.settings import STAGING
from steplens.flows.store import records, snapshots
from steplens.flows.store.manifest import Manifest
from steplens.flows.store.rebuild_responses import rebuild_responses
from steplens.flows.store.snapshots import Change
from steplens.transforms import schemas
from steplens.transforms.tables import StepTables, build_runs, build_steps

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
        self.base, self.granularity, self.file_name = base, granularity, file_name
        self.arrow_schema = schemas.empty(schema).to_arrow(
            compat_level=pl.CompatLevel.oldest()).schema
        self.writers: dict[str, pq.ParquetWriter] = {}
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
                                                maintain_order=True).items():
            writer = self.writers.get(part)
            if writer is None:
                (self.base / part).mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(self.base / part / self.file_name,
                                          self.arrow_schema, compression="zstd",
                                          compression_level=ZSTD_LEVEL)
                self.writers[part] = writer
            writer.write_table(rows.drop("_partition").to_arrow(
                compat_level=pl.CompatLevel.oldest()))

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


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


# Buckets built at once, in threads: Polars releases the GIL, and much of a bucket's build
# (sorts on one key, group-bys, joins of small frames) keeps one core busy, so two
# buckets would fill two cores, their rows written in bucket order (files the same on
# every run). One at a time, though: measured at 4 GB (direct, quiet 2 cores), two
# buckets at once took the ingest process from 0.99 to 1.40 GB (the process tree with
# Prefect's server to 1.6 GB, over the 1.5 GB bound) for 65 s instead of 72 s; smaller
# buckets did not bring the memory down (1.40 GB), so each building thread keeps its own.
BUCKETS_AHEAD = 1


def _in_order(build: Callable[[int], T], buckets: range) -> Iterator[T]:
    """`build(b)` for every bucket, in order, at most `BUCKETS_AHEAD` building at once."""
    if len(buckets) <= 1:
        yield from map(build, buckets)
        return
    with ThreadPoolExecutor(max_workers=BUCKETS_AHEAD) as pool:
        pending: deque[Future[T]] = deque()
        for b in buckets:
            pending.append(pool.submit(build, b))
            if len(pending) >= BUCKETS_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def rebuild_tables(root: Path, prev: Path | None, manifest: Manifest, affected_steps: pl.Series,
                   affected_runs: pl.Series, full: bool, granularity: str,
                   affected_calls: pl.Series | None = None) -> dict[str, Change]:
    """Recompute the rows of every affected id from all of its records.

    Runs first, then steps (which take `model` from their run), each in hash buckets
    of ids sized so that one bucket's records fit comfortably in memory; every bucket's
    rows go to a staging directory, and the partition upsert streams from there (on a
    full build the staging directory already holds the finished partition files).
    Then the Responses API rows (`rebuild_responses`): `affected_runs` holds the
    response ids too, `affected_calls` the call ids whose tool outputs changed.
    """
    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    segments = manifest.segments
    # Full builds: the Responses API rows go to files of their own beside the Assistants
    # ones (part-1), so that the Assistants runs can be read back before they are written.
    writers = ({t: _PartitionFiles(staging / t, spec.schema, granularity)
                for t, spec in schemas.KEYED.items()} if full else {})
    response_writers = ({t: _PartitionFiles(staging / t, spec.schema, granularity,
                                            "part-1.parquet")
                         for t, spec in schemas.KEYED.items()} if full else {})

    def stage(frame: pl.DataFrame, table: str, bucket: int) -> None:
        if full:
            writers[table].write(frame)
        else:
            _stage(frame, staging / table / f"{bucket:04d}.parquet", granularity)

    def stage_responses(frame: pl.DataFrame, table: str, name: str) -> None:
        if full:
            response_writers[table].write(frame)
        else:
            _stage(frame, staging / table / f"{name}.parquet", granularity)

    try:
        run_ids = None if full else affected_runs
        n_runs = _buckets(records.rows_of(segments, ["run_records"]), run_ids)

        def run_bucket(b: int) -> pl.DataFrame:
            batch = records.load(root, segments, None, run_ids, (b, n_runs), ("run_records",))
            return build_runs(batch.run_records)

        for b, runs_rows in enumerate(_in_order(run_bucket, range(n_runs))):
            stage(runs_rows, "runs", b)
        if full:
            writers["runs"].close()
            runs_models = _laid_out(staging, "runs", schemas.RUNS).select("run_id", "model")
        else:
            runs_models = pl.concat([
                snapshots.read_table(prev, "runs", schemas.RUNS).select("run_id", "model")
                .filter(~pl.col("run_id").is_in(affected_runs.implode())),
                _staged(staging, "runs", schemas.RUNS).select("run_id", "model"),
            ])
        runs_models = runs_models.filter(pl.col("model").is_not_null())

        step_ids = None if full else pl.concat(
            [affected_steps, _steps_of_runs(prev, affected_runs)]).unique()
        n_steps = _buckets(records.rows_of(segments, records.STEP_KEYED), step_ids)

        def step_bucket(b: int) -> StepTables:
            batch = records.load(root, segments, step_ids, None, (b, n_steps),
                                 records.STEP_KEYED)
            needed = batch.step_records["run_id"].drop_nulls().unique().implode()
            # only the runs this bucket's steps belong to: memory stays per bucket
            models = runs_models.filter(pl.col("run_id").is_in(needed)).collect()
            return build_steps(batch, models)

        for b, tables in enumerate(_in_order(step_bucket, range(n_steps))):
            for name in ("steps", "tool_calls", "usage", "step_sources"):
                stage(getattr(tables, name), "_step_sources" if name == "step_sources" else name,
                      b)
            del tables
        response_keys = rebuild_responses(
            root, prev, manifest, None if full else affected_runs,
            None if full else (affected_calls if affected_calls is not None
                               else pl.Series("call_key", [], pl.String)),
            stage_responses)
    finally:
        for writer in [*writers.values(), *response_writers.values()]:
            writer.close()
    keys = affected_steps if step_ids is None else step_ids
    by_table = {"runs": affected_runs, "steps": keys, "tool_calls": keys, "usage": keys,
                "_step_sources": keys}
    for table, extra in response_keys.items():
        base = by_table.get(table)
        by_table[table] = extra if base is None else pl.concat(
            [base.cast(pl.String), extra.cast(pl.String)]).unique()
    return {
        table: Change(by_table.get(table, pl.Series([], dtype=pl.String)),
                      _laid_out(staging, table, spec.schema) if full
                      else _staged(staging, table, spec.schema),
                      laid_out=staging / table if full else None)
        for table, spec in schemas.KEYED.items()
    }
