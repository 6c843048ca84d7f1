"""Every Polars schema steplens uses, declared once.

Inference never decides a column's type: on real mixed exports Polars' inference
either raises ("got non-null value for NULL-typed column") or picks types from the
first rows only. Record schemas describe what the parser emits (one row per object
occurrence, before de-duplication); table schemas are the public contract (README,
"Tables").
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

Str = pl.String
Int = pl.Int64
TS = pl.Datetime("us")  # naive, holds UTC: DuckDB reads it as TIMESTAMP
Day = pl.Date

# Where a record came from: the file's absolute path, its 1-based line number, and
# the item position inside a list page (-1 for a record that is the whole line).
PROVENANCE: dict[str, pl.DataType] = {"rec_file": Str, "rec_line": Int, "rec_item": Int}

# Which of 65,536 buckets the record's id falls in (crc32 of the id, low 16 bits): a
# stable hash, so record segments written years apart agree, and segments sorted by it
# let a rebuild read one range of buckets without scanning every row (flows/store/rebuild.py).
BUCKETS = 1 << 16
BUCKET: dict[str, pl.DataType] = {"bucket": Int}

USAGE_FIELDS: dict[str, pl.DataType] = {
    "usage_present": pl.Boolean,
    "prompt_tokens": Int,
    "completion_tokens": Int,
    "total_tokens": Int,
    "cached_tokens": Int,
    "reasoning_tokens": Int,
}

STEP_RECORDS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "step_id": Str,
        "run_id": Str,
        "thread_id": Str,
        "assistant_id": Str,
        "type": Str,
        "status": Str,
        "created_at": Int,
        "completed_at": Int,
        "failed_at": Int,
        "cancelled_at": Int,
        "expired_at": Int,
        "last_error_code": Str,
        "last_error_message": Str,
        "message_id": Str,
        **USAGE_FIELDS,
        "metadata": Str,
    }
)

# Tool calls carried by full step objects; joined to their step record by provenance.
TOOL_CALL_RECORDS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "step_id": Str,
        "call_index": Int,
        "tool_call_id": Str,
        "type": Str,
        "function_name": Str,
        "function_arguments": Str,
        "function_output": Str,
        "code_input": Str,
        "code_log_chars": Int,
        "code_image_count": Int,
        "file_search_result_count": Int,
        "file_search_max_score": pl.Float64,
    }
)

RUN_RECORDS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "run_id": Str,
        "thread_id": Str,
        "assistant_id": Str,
        "model": Str,
        "status": Str,
        "created_at": Int,
        "started_at": Int,
        "completed_at": Int,
        "failed_at": Int,
        "cancelled_at": Int,
        "expires_at": Int,
        "last_error_code": Str,
        "last_error_message": Str,
        "incomplete_reason": Str,
        **USAGE_FIELDS,
        "metadata": Str,
    }
)

# One row per `thread.run.step.delta` event.
DELTA_EVENTS = pl.Schema(
    {**PROVENANCE, **BUCKET, "step_id": Str, "step_type": Str, "message_id": Str}
)

# One row per tool-call fragment inside a delta event (`pos` = position in its list).
DELTA_CALLS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "pos": Int,
        "step_id": Str,
        "call_index": Int,
        "tool_call_id": Str,
        "type": Str,
        "function_name": Str,
        "function_arguments": Str,
        "function_output": Str,
        "code_input": Str,
        "file_search_result_count": Int,
        "file_search_max_score": pl.Float64,
    }
)

# One row per code-interpreter output fragment inside a tool-call delta.
DELTA_OUTPUTS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "pos": Int,
        "step_id": Str,
        "call_index": Int,
        "output_index": Int,
        "output_type": Str,
        "logs": Str,
        "image_file_id": Str,
    }
)

REJECTS = pl.Schema({"source_file": Str, "line_no": Int, "reason": Str, "raw": Str})

# One row per record counted and skipped (blank line, message event, unknown object...).
SKIPPED = pl.Schema({"source_file": Str, "line_no": Int, "shape": Str})

# Every frame a parsed batch holds, in order (`transforms.parse.ParsedBatch`).
RECORD_FRAMES: dict[str, pl.Schema] = {
    "step_records": STEP_RECORDS,
    "tool_call_records": TOOL_CALL_RECORDS,
    "run_records": RUN_RECORDS,
    "delta_events": DELTA_EVENTS,
    "delta_calls": DELTA_CALLS,
    "delta_outputs": DELTA_OUTPUTS,
    "rejects": REJECTS,
    "skipped": SKIPPED,
}

# ---- public tables (README, "Tables") ------------------------------------------------

STEPS = pl.Schema(
    {
        "step_id": Str,
        "run_id": Str,
        "thread_id": Str,
        "assistant_id": Str,
        "model": Str,
        "type": Str,
        "status": Str,
        "created_at": TS,
        "completed_at": TS,
        "failed_at": TS,
        "cancelled_at": TS,
        "expired_at": TS,
        "ended_at": TS,
        "latency_s": pl.Float64,
        "last_error_code": Str,
        "last_error_message": Str,
        "message_id": Str,
        "tool_call_count": Int,
        "prompt_tokens": Int,
        "completion_tokens": Int,
        "total_tokens": Int,
        "cached_tokens": Int,
        "reasoning_tokens": Int,
        "metadata": Str,
        "day": Day,
    }
)

RUNS = pl.Schema(
    {
        "run_id": Str,
        "thread_id": Str,
        "assistant_id": Str,
        "model": Str,
        "status": Str,
        "created_at": TS,
        "started_at": TS,
        "completed_at": TS,
        "failed_at": TS,
        "cancelled_at": TS,
        "expires_at": TS,
        "ended_at": TS,
        "last_error_code": Str,
        "last_error_message": Str,
        "incomplete_reason": Str,
        "prompt_tokens": Int,
        "completion_tokens": Int,
        "total_tokens": Int,
        "cached_tokens": Int,
        "reasoning_tokens": Int,
        "queue_s": pl.Float64,
        "duration_s": pl.Float64,
        "metadata": Str,
        "day": Day,
    }
)

TOOL_CALLS = pl.Schema(
    {
        "tool_call_id": Str,
        "step_id": Str,
        "run_id": Str,
        "thread_id": Str,
        "assistant_id": Str,
        "model": Str,
        "call_index": Int,
        "type": Str,
        "function_name": Str,
        "function_arguments": Str,
        "function_output": Str,
        "arguments_valid_json": pl.Boolean,
        "code_input": Str,
        "code_log_chars": Int,
        "code_image_count": Int,
        "file_search_result_count": Int,
        "file_search_max_score": pl.Float64,
        "step_status": Str,
        "step_type": Str,
        "created_at": TS,
        "day": Day,
    }
)

USAGE = pl.Schema(
    {
        "step_id": Str,
        "run_id": Str,
        "assistant_id": Str,
        "model": Str,
        "type": Str,
        "day": Day,
        "prompt_tokens": Int,
        "completion_tokens": Int,
        "total_tokens": Int,
        "cached_tokens": Int,
        "reasoning_tokens": Int,
    }
)

# Internal, per step: where its row came from. Kept beside the tables so that the
# warehouse-wide accounting balances after any number of incremental batches.
STEP_SOURCES = pl.Schema({
    "step_id": pl.String,
    "day": pl.Date,
    "n_records": pl.Int64,
    "n_deltas": pl.Int64,
    "deltas_applied": pl.Int64,
})


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table: everything the storage, the rebuild and the SQL need to know.

    `key`: the id whose rows a batch replaces together (None: the table is rewritten
    whole each batch). `partitioned`: stored in `month=`/`day=` directories of `day`, so
    a batch rewrites only the partitions holding its ids. `public`: a DuckDB view of the
    same name reads it (internal tables start with `_`).
    """

    name: str
    schema: pl.Schema
    key: str | None
    partitioned: bool
    public: bool = True


# The one table registry: snapshots, rebuild, accounting and the SQL base views use it.
REGISTRY: tuple[TableSpec, ...] = (
    TableSpec("runs", RUNS, "run_id", partitioned=True),
    TableSpec("steps", STEPS, "step_id", partitioned=True),
    TableSpec("tool_calls", TOOL_CALLS, "step_id", partitioned=True),
    TableSpec("usage", USAGE, "step_id", partitioned=True),
    TableSpec("rejects", REJECTS, None, partitioned=False),
    TableSpec("_step_sources", STEP_SOURCES, "step_id", partitioned=True, public=False),
)
TABLES: dict[str, TableSpec] = {t.name: t for t in REGISTRY}
# Tables whose rows are recomputed per id and stored in partitions.
KEYED: dict[str, TableSpec] = {t.name: t for t in REGISTRY if t.partitioned}
PUBLIC_TABLES: tuple[str, ...] = tuple(t.name for t in REGISTRY if t.public)


def empty(schema: pl.Schema) -> pl.DataFrame:
    """An empty frame of `schema` (tables are written even when empty, so views bind)."""
    return pl.DataFrame(schema=schema)
