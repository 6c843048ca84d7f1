"""The record store: parsed records of every ingested file, kept as Parquet segments.

Why keep records and not only the tables: a table row is a function of *all* records of
its id (the winning snapshot, the deltas in stream order). When a batch brings a new
record of a step, or a file is rewritten and its old records must go, the rows of the
ids it touches are recomputed from the records of those ids, so an incremental run
gives exactly the tables of one clean run over the same input.

Layout: `records/<segment id>/<frame>.parquet`, one segment per parsed work unit (a
chunk of a big file, or several small files). A segment directory is written under a
temporary name and renamed when complete; only segments listed in the current
snapshot's manifest are live, anything else is debris of a killed run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl

from steplens.flows.io.inputs import Chunk, parse_chunk_batches
from steplens.flows.settings import RECORDS
from steplens.flows.store.keyed_parquet import KeyedParquet
from steplens.transforms import billing, coverage, schemas
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.redact import Redaction, redact
from steplens.transforms.tables import RESPONSE_FRAMES, STEP_FRAMES

# Each segment's field coverage (transforms/coverage.py), beside its record frames.
COVERAGE_FILE = "field_coverage.parquet"
ROW_GROUP = 16_384  # rows per Parquet row group in segments: the unit a bucket read skips
# As stored: with the lengths kept of redacted content (transforms/redact.py); segments
# written in clear lack those columns, and read them as NULL.
FRAME_SCHEMAS = schemas.STORED_FRAMES
# The id each record frame is keyed (and bucketed) by; rejects and skipped have none.
FRAME_KEYS = {**dict.fromkeys(STEP_FRAMES, "step_id"), "run_records": "run_id",
              **dict.fromkeys(RESPONSE_FRAMES, "response_id"), "response_outputs": "call_key"}


def _file_col(frame: str) -> tuple[str, str]:
    return ("source_file", "line_no") if frame in ("rejects", "skipped") else ("rec_file",
                                                                            "rec_line")


@dataclass(frozen=True)
class Range:
    """Lines `[start, end)` of a file (end -1: to its end), numbered from `first_line`."""

    path: str
    start: int
    end: int
    first_line: int
    compressed: bool = False
    sse: bool = False
    document: bool = False
    # The file's size and modification time when the read was planned (None: unknown):
    # a file read whole that changed by the time it is read is reported (docs/ingest.md, "Input").
    file_size: int | None = None
    file_mtime_ns: int | None = None

    def chunk(self) -> Chunk:
        return Chunk(self.path, self.start, self.end, compressed=self.compressed, sse=self.sse,
                     document=self.document, file_size=self.file_size,
                     file_mtime_ns=self.file_mtime_ns)


@dataclass
class SegmentInfo:
    """What one segment holds: rows per frame, and rows per frame per source file."""

    segment_id: str
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    # Records holding the `response_outputs` rows (a request holds several copies):
    # what the accounting counts (flows/store/summary.py).
    output_records: int = 0

    def to_json(self) -> dict:
        return {"rows": self.rows, "files": self.files, "output_records": self.output_records}

    @classmethod
    def from_json(cls, segment_id: str, data: dict) -> SegmentInfo:
        return cls(segment_id, dict(data["rows"]), {k: dict(v) for k, v in data["files"].items()},
                   data.get("output_records", 0))


@dataclass
class UnitResult:
    """A parsed work unit: its segments, and the lines and bytes each range held.

    A worker that cannot write to the warehouse (a Dask worker on another machine)
    returns its `batches` instead, and the coordinator writes them as segments.
    """

    infos: list[SegmentInfo]
    lines: dict[tuple[str, int], int]  # (path, start) -> lines read
    lines_read: int
    bytes_read: int
    batches: list[ParsedBatch] = field(default_factory=list)
    # Files that vanished or changed while read: the manifest makes the next ingest
    # read them again.
    read_again: set[str] = field(default_factory=set)

    def written(self, root: Path, segment_id: str) -> UnitResult:
        """The same result with its batches written as segments under `root`."""
        infos = [write_segment(root, f"{segment_id}-{i}", b) for i, b in enumerate(self.batches)]
        return UnitResult(self.infos + infos, self.lines, self.lines_read, self.bytes_read,
                          read_again=self.read_again)


def new_segment_id() -> str:
    return uuid.uuid4().hex[:16]


def write_segment(root: Path, segment_id: str, batch: ParsedBatch) -> SegmentInfo:
    """Write a batch's frames as one segment, atomically (temp dir, then rename).

    LZ4, not zstd: segments are internal and read back once per rebuild; measured on a
    32 MB unit, LZ4 wrote in two thirds of zstd's time and read faster, for files half
    again as large.
    """
    base = root / RECORDS
    tmp = base / f".{segment_id}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    info = SegmentInfo(segment_id)
    for name in FRAME_SCHEMAS:
        frame: pl.DataFrame = getattr(batch, name)
        info.rows[name] = frame.height
        if not frame.height:
            continue
        if "bucket" in frame.columns:  # sorted by bucket: a rebuild reads a bucket range
            frame = frame.sort("bucket", maintain_order=True)  # via row-group statistics
        frame.write_parquet(tmp / f"{name}.parquet", compression="lz4", statistics=True,
                            row_group_size=ROW_GROUP)
    if batch.coverage is not None and batch.coverage.height:
        (batch.coverage.group_by("source_file", "line_no", "api", "object", "path")
         .agg(records=pl.col("records").sum(), first_seen=pl.col("first_seen").min(),
              last_seen=pl.col("last_seen").max())
         .select(schemas.FIELD_PATHS.names()).sort("source_file", "line_no", "path")
         .write_parquet(tmp / COVERAGE_FILE, compression="lz4"))
    info.output_records = output_records(batch.response_outputs)
    info.files = _file_stats(batch)
    os.rename(tmp, base / segment_id)
    return info


def output_records(copies: pl.DataFrame) -> int:
    """How many records hold the tool-output copies of a frame."""
    return copies.select(pl.struct(list(schemas.PROVENANCE)).n_unique()).item() if (
        copies.height) else 0


def _file_stats(batch: ParsedBatch) -> dict[str, dict[str, int]]:
    """Per source file: records, rejects and skipped rows (the per-file accounting)."""
    stats: dict[str, dict[str, int]] = {}
    for name in FRAME_SCHEMAS:
        frame = getattr(batch, name)
        if not frame.height:
            continue
        col, _ = _file_col(name)
        for path, n in frame.group_by(col).len().iter_rows():
            stats.setdefault(path, {})[name] = n
    return stats


def parse_unit(root: str | None, segment_id: str, ranges: list[Range],
               max_bytes: int = 32 * 1024 * 1024,
               redaction: Redaction | None = None) -> UnitResult:
    """Worker entry point: parse ranges with their real line numbers into segments.

    A unit normally makes one segment (`segment_id`); a large gzip or SSE file, which
    cannot be split into ranges beforehand, is cut into one segment per `max_bytes` of
    input as it is read, so memory stays bounded. With `root` None nothing is written:
    the batches come back in the result. Content is redacted as `redaction` says before
    anything is written or returned (docs/redaction.md, "Redaction").
    """
    pending: list[ParsedBatch] = []
    infos: list[SegmentInfo] = []
    kept: list[ParsedBatch] = []
    lines: dict[tuple[str, int], int] = {}
    totals = {"lines": 0, "bytes": 0}
    read_again: set[str] = set()

    def flush() -> None:
        if not pending:
            return
        batch = redact(ParsedBatch.concat(pending), redaction or Redaction())
        pending.clear()
        if root is None:
            kept.append(batch)
            return
        sid = segment_id if not infos else f"{segment_id}-{len(infos)}"
        infos.append(write_segment(Path(root), sid, batch))

    for r in ranges:
        seen = 0
        for batch in parse_chunk_batches(r.chunk(), max_bytes):
            pending.append(batch.shift_lines(r.first_line - 1))  # numbered from 1 per range
            seen += batch.lines_read
            if batch.read_again:
                read_again.add(r.path)
            totals["lines"] += batch.lines_read
            totals["bytes"] += batch.bytes_read
            if sum(b.bytes_read for b in pending) >= max_bytes:
                flush()
        lines[(r.path, r.start)] = seen
    flush()
    return UnitResult(infos, lines, totals["lines"], totals["bytes"], kept, read_again)


def frame_paths(root: Path, segments: dict[str, SegmentInfo], frame: str) -> list[str]:
    return [str(root / RECORDS / sid / f"{frame}.parquet")
            for sid, info in sorted(segments.items()) if info.rows.get(frame)]


def scan(root: Path, segments: dict[str, SegmentInfo], frame: str) -> pl.LazyFrame:
    paths = frame_paths(root, segments, frame)
    if not paths:
        return pl.LazyFrame(schema=FRAME_SCHEMAS[frame])
    # extra columns: segments written before December 2026 also hold `canon_size` and
    # `canon_crc`, which ties no longer need (transforms/ranking.py); missing columns:
    # segments written before the configuration columns (docs/views.md, "Assistant versions")
    # read them as NULL until their files are read again (`steplens ingest --full-refresh`)
    return pl.scan_parquet(paths, schema=FRAME_SCHEMAS[frame], extra_columns="ignore",
                           missing_columns="insert")


def keys(root: Path, segments: dict[str, SegmentInfo]) -> tuple[pl.Series, pl.Series]:
    """(step ids, run ids) present in `segments`; run ids include Responses API response
    ids (both are keys of `runs`)."""
    step_ids = pl.concat(
        [scan(root, segments, f).select("step_id") for f in STEP_FRAMES]
    ).unique().collect()["step_id"]
    run_ids = pl.concat(
        [scan(root, segments, "run_records").select("run_id")]
        + [scan(root, segments, f).select(run_id="response_id") for f in RESPONSE_FRAMES]
    ).unique().collect()["run_id"]
    return step_ids, run_ids


def call_keys(root: Path, segments: dict[str, SegmentInfo]) -> pl.Series:
    """The tool-call ids whose output copies are in `segments`."""
    return (scan(root, segments, "response_outputs").select("call_key").unique().collect()
            ["call_key"])


def bucket_range(bucket: int, buckets: int) -> tuple[int, int]:
    """The `bucket` column values [lo, hi) that rebuild bucket `bucket` of `buckets` reads."""
    size = schemas.BUCKETS
    return bucket * size // buckets, (bucket + 1) * size // buckets


def bucket_of(column: str, buckets: int) -> pl.Expr:
    """The rebuild bucket b (of `buckets`) whose `bucket_range(b, buckets)` holds each
    value of `column`: the largest b with b * BUCKETS // buckets at most the value v,
    which is ((v + 1) * buckets - 1) // BUCKETS."""
    return ((pl.col(column).cast(pl.Int64) + 1) * buckets - 1) // schemas.BUCKETS


def load(root: Path, segments: dict[str, SegmentInfo], step_ids: pl.Series | None,
         run_ids: pl.Series | None, bucket: tuple[int, int] | None = None,
         frames: tuple[str, ...] | None = None, response_ids: pl.Series | None = None,
         call_keys: pl.Series | None = None) -> ParsedBatch:
    """Every record of the given ids (None: all ids) from the live segments.

    With `bucket=(b, n)`, only ids in hash bucket b of n: the rebuild of a large batch
    goes bucket by bucket so that memory does not grow with the input. `frames` limits
    which record frames are read (the others come back empty). Responses API frames are
    keyed by `response_ids` and (tool outputs) `call_keys`.
    """
    out = {}
    by_key = {"step_id": step_ids, "run_id": run_ids, "response_id": response_ids,
              "call_key": call_keys}
    for name, schema in FRAME_SCHEMAS.items():
        key = FRAME_KEYS.get(name)
        ids = by_key.get(key)
        if key is None or (frames is not None and name not in frames):
            # rejects and skipped are not needed to build rows; nor are frames not asked
            # for (scanning them, even for no rows, opened every segment's file)
            out[name] = pl.DataFrame(schema=schema)
            continue
        lf = scan(root, segments, name)
        if bucket is not None:
            lo, hi = bucket_range(*bucket)
            lf = lf.filter(pl.col("bucket").is_between(lo, hi, closed="left"))
        if ids is not None:
            lf = lf.filter(pl.col(key).is_in(ids.implode()))
        out[name] = lf
    names = [n for n, v in out.items() if isinstance(v, pl.LazyFrame)]
    for name, frame in zip(names, pl.collect_all([out[n] for n in names]), strict=True):
        out[name] = frame
    return ParsedBatch(**out)


# Segments read at once while splitting: about 3 MB of decoded records a frame each.
SPLIT_SEGMENTS = 16


def split_by_bucket(root: Path, segments: dict[str, SegmentInfo], frames: tuple[str, ...],
                    buckets: int, into: Path) -> None:
    """Every record of `frames` split once into `buckets` files a frame
    (`into/<frame>/<bucket>.parquet`), for `load_split` to read one bucket at a time.

    Why: a segment's file is one or two row groups, so a bucket read (`load` with
    `bucket`) decodes every segment whole and keeps 1/n of it; n buckets decode the
    records n times. Measured at 4 GB (9 run and 28 step buckets), the full rebuild went
    from 26.8 s, 45.3 CPU-s and 1,057 MB to 22.7 s, 32.8 CPU-s and 881 MB with this
    split. Segments written with a row group per slice of the hash space were slower
    still (a bucket read then touches hundreds of small row groups). Segments are read in
    `load`'s order, a few at a time, and each bucket's rows appended in that order:
    `load_split` gives what `load` gives (tests/flows/store/test_records.py).
    """
    for name in frames:
        # read once, whole: no dictionary or statistics to build (measured: 0.55 ->
        # 0.31 s a 134 MB frame)
        files = KeyedParquet(FRAME_SCHEMAS[name], partial(_split_file, into, name),
                             compression="lz4", use_dictionary=False,
                             write_statistics=False)
        live = [sid for sid, info in sorted(segments.items()) if info.rows.get(name)]
        try:
            for i in range(0, len(live), SPLIT_SEGMENTS):
                group = {sid: segments[sid] for sid in live[i:i + SPLIT_SEGMENTS]}
                rows = scan(root, group, name).with_columns(
                    _bucket=bucket_of("bucket", buckets)).collect()
                for (b,), part in rows.partition_by("_bucket", as_dict=True,
                                                    maintain_order=True,
                                                    include_key=False).items():
                    files.append(b, part)
        finally:
            files.close()


def _split_file(into: Path, frame: str, bucket: int) -> Path:
    return into / frame / f"{bucket:05d}.parquet"


def load_split(into: Path, frames: tuple[str, ...], bucket: int) -> ParsedBatch:
    """`load(root, segments, None, None, (bucket, n), frames)`, from the files
    `split_by_bucket(..., n, into)` wrote."""
    out = {}
    for name, schema in FRAME_SCHEMAS.items():
        path = _split_file(into, name, bucket)
        out[name] = (pl.read_parquet(path, schema=schema) if name in frames and path.exists()
                     else pl.DataFrame(schema=schema))
    return ParsedBatch(**out)


def rows_of(segments: dict[str, SegmentInfo], names: Iterable[str]) -> int:
    return sum(info.rows.get(n, 0) for info in segments.values() for n in names)


def rejects(root: Path, segments: dict[str, SegmentInfo]) -> pl.DataFrame:
    return scan(root, segments, "rejects").collect().sort("source_file", "line_no", "reason")


def coverage_table(root: Path, segments: dict[str, SegmentInfo]) -> pl.DataFrame:
    """`field_coverage` from every live segment's coverage (segments written before it
    existed have none: their files count again once read again, `--full-refresh`)."""
    files = [p for sid in sorted(segments)
             if (p := root / RECORDS / sid / COVERAGE_FILE).exists()]
    return coverage.table(pl.scan_parquet(p, schema=schemas.FIELD_PATHS) for p in files)


def billing_tables(root: Path, segments: dict[str, SegmentInfo]) -> dict[str, pl.DataFrame]:
    """`billing_usage` and `billing_costs` from every billing record of the live segments
    (a few rows a day: rebuilt whole by each ingest, like `rejects`)."""
    return {"billing_usage": billing.usage_table(
                scan(root, segments, "billing_usage_records").collect()),
            "billing_costs": billing.costs_table(
                scan(root, segments, "billing_costs_records").collect())}


def remove_file_rows(root: Path, segments: dict[str, SegmentInfo], path: str,
                     from_line: int = 1
                     ) -> tuple[dict[str, SegmentInfo], pl.Series, pl.Series, pl.Series]:
    """Drop the rows of `path` at or after `from_line` from the segments that hold them.

    Returns the replacement segment map and the (step ids, run ids, call keys) whose
    records were removed: those rows must be recomputed (run ids include Responses API
    response ids). Segments are never modified in place: a segment that keeps other rows
    is rewritten under a new id.
    """
    out = dict(segments)
    removed_steps: list[pl.Series] = []
    removed_runs: list[pl.Series] = []
    removed_calls: list[pl.Series] = []
    for sid, info in segments.items():
        if path not in info.files:
            continue
        kept_frames, gone_frames = {}, {}
        for name in FRAME_SCHEMAS:
            if not info.rows.get(name):
                kept_frames[name] = pl.DataFrame(schema=FRAME_SCHEMAS[name])
                continue
            frame = pl.read_parquet(root / RECORDS / sid / f"{name}.parquet")
            file_col, line_col = _file_col(name)
            gone = (pl.col(file_col) == path) & (pl.col(line_col) >= from_line)
            kept_frames[name] = frame.filter(~gone)
            gone_frames[name] = frame.filter(gone)
        for name in STEP_FRAMES:
            if name in gone_frames:
                removed_steps.append(gone_frames[name]["step_id"])
        if "run_records" in gone_frames:
            removed_runs.append(gone_frames["run_records"]["run_id"])
        for name in RESPONSE_FRAMES:
            if name in gone_frames:
                removed_runs.append(gone_frames[name]["response_id"].alias("run_id"))
        if "response_outputs" in gone_frames:
            removed_calls.append(gone_frames["response_outputs"]["call_key"])
        cov_path = root / RECORDS / sid / COVERAGE_FILE
        kept_cov = (coverage.remove_lines(pl.read_parquet(cov_path), path, from_line)
                    if cov_path.exists() else None)
        del out[sid]
        if any(f.height for f in kept_frames.values()):
            batch = ParsedBatch(**kept_frames, coverage=kept_cov)
            new = write_segment(root, new_segment_id(), batch)
            out[new.segment_id] = new
    steps = pl.concat(removed_steps) if removed_steps else pl.Series("step_id", [], pl.String)
    runs = pl.concat(removed_runs) if removed_runs else pl.Series("run_id", [], pl.String)
    calls = pl.concat(removed_calls) if removed_calls else pl.Series("call_key", [], pl.String)
    return out, steps.unique(), runs.unique(), calls.unique()


def unnamed(root: Path, named: set[str]) -> list[Path]:
    """The entries of the records folder not in `named` (segment ids): segments written
    by an ingest that never published, or superseded, and folders cut short."""
    base = root / RECORDS
    return [e for e in base.iterdir() if e.name not in named] if base.exists() else []


def prune(root: Path, live: set[str]) -> None:
    """Delete segments no snapshot refers to (superseded, or left by a killed run)."""
    for entry in unnamed(root, live):
        shutil.rmtree(entry, ignore_errors=True)
