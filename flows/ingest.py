"""The ingest flow: files → parsed records → tables → a new warehouse snapshot.

A handful of coarse Prefect tasks (discover, parse, flatten, publish, build views); the
logic lives in `transforms/`. Run it as `steplens ingest PATH...`, as a plain call
`ingest(paths=[...])` inside a Prefect context, or without Prefect as `ingest.fn(...)`.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import progress, warehouse
from flows.settings import Settings
from flows.sources import Chunk, InputError, discover, parse_chunk, plan_chunks
from transforms.parse import ParsedBatch
from transforms.tables import Tables, build_tables

# Below this much input, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024


@task(cache_policy=NO_CACHE)
def discover_inputs(paths: list[str]) -> list[Path]:
    """Every input file under `paths`; an error when there is none."""
    files = discover(paths)
    if not files:
        raise InputError(f"no input files (.jsonl, .ndjson, .jsonl.gz, .sse) under: "
                         f"{', '.join(map(str, paths))}")
    return files


def _parse_parallel(chunks: list[Chunk], workers: int) -> list[ParsedBatch]:
    results: list[ParsedBatch | None] = [None] * len(chunks)
    context = multiprocessing.get_context("spawn")  # fork is unsafe beside Prefect's threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(parse_chunk, c): i for i, c in enumerate(chunks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            progress.advance(int(chunks[i].end in (-1, _file_size(chunks[i]))),
                             chunks[i].size)
    return results  # type: ignore[return-value]


def _file_size(chunk: Chunk) -> int:
    return Path(chunk.path).stat().st_size


def _renumber(chunks: list[Chunk], batches: list[ParsedBatch]) -> list[ParsedBatch]:
    """Give chunks of a split file their real line numbers (chunks are in file order)."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for chunk, batch in zip(chunks, batches, strict=True):
        out.append(batch.shift_lines(seen[chunk.path]))
        seen[chunk.path] += batch.lines_read
    return out


@task(cache_policy=NO_CACHE)
def parse_files(files: list[Path], settings: Settings) -> ParsedBatch:
    """Decode every file into record frames, in parallel processes when it pays."""
    chunks = [c for f in files for c in plan_chunks(f, settings.chunk_bytes)]
    total = sum(c.size for c in chunks)
    progress.start(len(files), total)
    workers = min(settings.parse_workers, len(chunks))
    if workers > 1 and total >= PARALLEL_MIN_BYTES:
        batches = _parse_parallel(chunks, workers)
    else:
        batches = []
        for chunk in chunks:
            batches.append(parse_chunk(chunk))
            progress.advance(int(chunk.end in (-1, _file_size(chunk))), chunk.size)
    return ParsedBatch.concat(_renumber(chunks, batches))


@task(cache_policy=NO_CACHE)
def flatten(batch: ParsedBatch) -> Tables:
    """Records → public tables (pure Polars, `transforms.tables.build_tables`)."""
    return build_tables(batch)


@task(cache_policy=NO_CACHE)
def publish_snapshot(tables: Tables, summary: dict, settings: Settings) -> str:
    """Write the tables as a new snapshot and swap it in atomically."""
    root = settings.warehouse
    path = warehouse.publish(root, tables.frames(), summary, keep=settings.keep_snapshots)
    return str(path)


@task(cache_policy=NO_CACHE)
def build_views(settings: Settings) -> str:
    """Create or refresh the DuckDB views and macros over the snapshot."""
    return str(warehouse.build_duckdb(settings.warehouse))


def summarize(files: list[Path], tables: Tables, seconds: float) -> dict:
    """The ingest summary: accounting that balances, table sizes, throughput."""
    acc = dict(tables.accounting)
    skipped = {}
    if tables.skipped is not None:
        counts = tables.skipped.group_by("shape").len().sort("shape")
        skipped = dict(zip(counts["shape"], counts["len"], strict=True))
    return {
        "files": len(files),
        **acc,
        "skipped_by_shape": skipped,
        "tables": {name: frame.height for name, frame in tables.frames().items()},
        "seconds": round(seconds, 3),
        "mb_per_s": round(acc["bytes_read"] / 1e6 / seconds, 2) if seconds > 0 else None,
    }


def summary_markdown(summary: dict) -> str:
    lines = [
        "| measure | value |", "|---|---|",
        *(f"| {k} | {summary[k]} |" for k in (
            "files", "lines_read", "records_read", "kept", "superseded", "rejected",
            "skipped", "balanced", "seconds", "mb_per_s")),
    ]
    lines += ["", "| table | rows |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary["tables"].items()]
    if summary["skipped_by_shape"]:
        lines += ["", "| skipped shape | records |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary["skipped_by_shape"].items()]
    return "\n".join(lines)


@flow(name="steplens-ingest", log_prints=False)
def ingest(paths: list[str], warehouse_dir: str | None = None, workers: int | None = None,
           chunk_mb: int | None = None) -> dict:
    """Ingest exported Assistants data under `paths` into the warehouse.

    Returns the summary (also logged and published as the `ingest-summary` artifact):
    `records_read = kept + superseded + rejected + skipped` must hold.
    """
    logger = get_run_logger()
    settings = Settings.from_env(
        warehouse=warehouse_dir, workers=workers,
        chunk_bytes=chunk_mb * 1024 * 1024 if chunk_mb else None,
    ).resolved()
    started = time.perf_counter()
    files = discover_inputs(paths)
    batch = parse_files(files, settings)
    tables = flatten(batch)
    summary = summarize(files, tables, time.perf_counter() - started)
    publish_snapshot(tables, summary, settings)
    build_views(settings)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    logger.info("ingest summary: %s", {k: v for k, v in summary.items()
                                       if k not in ("skipped_by_shape",)})
    if not summary["balanced"]:
        logger.error("accounting does not balance: %s", summary)
    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary),
                             description="steplens ingest accounting")
    return summary
