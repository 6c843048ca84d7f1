"""Every Polars schema steplens uses, declared once.

Inference never decides a column's type: on real mixed exports Polars' inference
either raises ("got non-null value for NULL-typed column") or picks types from the
first rows only. Record schemas describe what the parser emits (one row per object
occurrence, before de-duplication); table schemas are the public contract
(docs/tables.md, "Tables").
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

# An assistant's configuration as a run records it, after `model` (docs/views.md,
# "Assistant versions"; derived by transforms/config.py from the record's JSON values).
CONFIG_FIELDS: dict[str, pl.DataType] = {
    "instructions_hash": Str,
    "tools": pl.List(Str),
    "temperature": pl.Float64,
    "top_p": pl.Float64,
    "response_format": Str,
    "reasoning_effort": Str,
}

# What a Responses record holds beyond the decoders' specs that the user pays for, or that
# says how the response was served (docs/fidelity.md; transforms/extras.py reads them from
# the record's JSON on both decoders). NULL on Assistants rows and where a record has none.
BILLED_USAGE: dict[str, pl.DataType] = {
    "cache_write_tokens": Int,  # usage.input_tokens_details.cache_write_tokens
    "web_search_requests": Int,  # tool_usage.web_search.num_requests
    "image_gen_input_tokens": Int,  # tool_usage.image_gen.*
    "image_gen_input_text_tokens": Int,
    "image_gen_input_image_tokens": Int,
    "image_gen_output_tokens": Int,
    "image_gen_output_text_tokens": Int,
    "image_gen_output_image_tokens": Int,
    "image_gen_total_tokens": Int,
}
SERVED: dict[str, pl.DataType] = {
    "billing_payer": Str,  # billing.payer
    "prompt_cache_retention": Str,
    "reasoning_context": Str,  # reasoning.context
    "reasoning_mode": Str,  # reasoning.mode
    "text_verbosity": Str,  # text.verbosity
    "safety_identifier": Str,
}
RESPONSE_EXTRAS: dict[str, pl.DataType] = {**BILLED_USAGE, **SERVED}

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

# What a tool call says, whole (a step object's) or in fragments (a delta's).
CALL_FIELDS = {
    "step_id": Str,
    "call_index": Int,
    "tool_call_id": Str,
    "type": Str,
    "function_name": Str,
    "function_arguments": Str,
    "function_output": Str,
    "code_input": Str,
}

# Tool calls carried by full step objects; joined to their step record by provenance.
TOOL_CALL_RECORDS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        **CALL_FIELDS,
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
        **CONFIG_FIELDS,
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
        **CALL_FIELDS,
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

# ---- Responses API record frames (transforms/responses) ------------------------------
# Bucket: of `response_id` (records, items, events) or of `call_key` (outputs).

# One row per response object read: a bare one (a POST/GET/cancel body, a poll) or the
# `response` of a lifecycle stream event (`is_event`, with the event's `seq`uence number
# and `pos`ition among that response's events in its file). Timestamps in microseconds
# (the SDK writes float seconds); `canon_*`: size and crc32 of the object's canonical bytes.
RESPONSE_RECORDS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "response_id": Str,
        "is_event": pl.Boolean,
        "seq": Int,
        "pos": Int,
        "status": Str,
        "model": Str,
        "created_us": Int,
        "completed_us": Int,
        "previous_response_id": Str,
        "conversation_id": Str,
        "prompt_id": Str,
        "error_present": pl.Boolean,
        "error_code": Str,
        "error_message": Str,
        "incomplete_reason": Str,
        **USAGE_FIELDS,
        "metadata": Str,
        "canon_size": Int,
        "canon_crc": Int,
        **CONFIG_FIELDS,
        **RESPONSE_EXTRAS,
    }
)

# One row per output item: of a response record (`item_index` its position in `output`)
# or of a `response.output_item.added|done` event (`item_index` -1; same provenance as
# the event). JSON values that may be anything are kept as text: a string as sent, other
# JSON as sorted JSON text.
RESPONSE_ITEMS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "response_id": Str,
        "item_index": Int,
        "item_id": Str,
        "type": Str,
        "status": Str,
        "call_id": Str,
        "name": Str,
        "arguments": Str,
        "arguments_is_text": pl.Boolean,
        "input": Str,
        "code": Str,
        "code_log_chars": Int,
        "code_image_count": Int,
        "results_count": Int,
        "results_max_score": pl.Float64,
        "output": Str,
        "error_present": pl.Boolean,
        "error_code": Str,
        "error_message": Str,
        "phase": Str,  # a message item's `phase` (commentary, final_answer)
    }
)

# One row per stream event that is not a lifecycle event, attributed to the response of
# the latest lifecycle event before it in its file.
RESPONSE_EVENTS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "response_id": Str,
        "seq": Int,
        "pos": Int,
        "type": Str,
        "output_index": Int,
        "item_id": Str,
        "delta": Str,
        "done_value": Str,
        "error_code": Str,
        "error_message": Str,
    }
)

# One row per copy of a tool output (R13): an output item of a request's `input`
# (`copy_index` its position there), of a conversation / input-item page, or bare.
# `output_canon`: the canonical JSON bytes of its `output`; `failed`: its status.
RESPONSE_OUTPUTS = pl.Schema(
    {
        **PROVENANCE,
        **BUCKET,
        "call_key": Str,
        "copy_index": Int,
        "output_canon": pl.Binary,
        "failed": pl.Boolean,
    }
)

# ---- billing records (transforms/billing.py): one row per Usage/Costs API result ---------
# Bucket times in Unix seconds; `canon_*`: size and crc32 of the row's canonical content
# (the last tie-break between duplicates). An empty bucket is a row (`empty_bucket`).

_BUCKET_TIMES: dict[str, pl.DataType] = {"start_s": Int, "end_s": Int,
                                          "empty_bucket": pl.Boolean}
_USAGE_VALUES: dict[str, pl.DataType] = {
    "model": Str, "project_id": Str, "user_id": Str, "api_key_id": Str, "batch": pl.Boolean,
    "service_tier": Str, "api_source": Str, "num_model_requests": Int, "input_tokens": Int,
    "output_tokens": Int, "input_cached_tokens": Int, "input_audio_tokens": Int,
    "output_audio_tokens": Int,
}
_COSTS_VALUES: dict[str, pl.DataType] = {
    "line_item": Str, "model": Str, "cost_kind": Str, "project_id": Str, "user_id": Str,
    "api_key_id": Str, "api_source": Str, "amount_value": pl.Float64, "currency": Str,
    "quantity": pl.Float64, "quantity_unit": Str,
}
_CANON: dict[str, pl.DataType] = {"canon_size": Int, "canon_crc": Int}
BILLING_USAGE_RECORDS = pl.Schema({**PROVENANCE, **_BUCKET_TIMES, **_USAGE_VALUES, **_CANON})
BILLING_COSTS_RECORDS = pl.Schema({**PROVENANCE, **_BUCKET_TIMES, **_COSTS_VALUES, **_CANON})

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
    "response_records": RESPONSE_RECORDS,
    "response_items": RESPONSE_ITEMS,
    "response_events": RESPONSE_EVENTS,
    "response_outputs": RESPONSE_OUTPUTS,
    "billing_usage_records": BILLING_USAGE_RECORDS,
    "billing_costs_records": BILLING_COSTS_RECORDS,
    "rejects": REJECTS,
    "skipped": SKIPPED,
}

# ---- public tables (docs/tables.md, "Tables") ------------------------------------------------

# Which API a row comes from: `assistants` or `responses` (docs/tables.md, "Tables").
API = ("assistants", "responses")

# Where a kept row came from (docs/fidelity.md): the record that won its de-duplication
# (for a step or call rebuilt from stream deltas only, its first delta): absolute path,
# 1-based line number, and the item position inside a list page (-1: the whole line or
# SSE block). `steplens show ID` reads the line back. Byte offsets are not tracked: the
# readers split by lines, and counting bytes per record would cost a pass.
ROW_PROVENANCE: dict[str, pl.DataType] = {"source_file": Str, "line_no": Int,
                                          "source_item": Int}


def row_provenance() -> list[pl.Expr]:
    """A record frame's provenance (`rec_*`) under the table names (`ROW_PROVENANCE`)."""
    return [pl.col(rec).alias(row) for rec, row in zip(PROVENANCE, ROW_PROVENANCE,
                                                       strict=True)]

STEPS = pl.Schema(
    {
        "api": Str,
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
        # a Responses message item's `phase` (commentary, final_answer); NULL on
        # Assistants steps and on items without one (docs/fidelity.md)
        "phase": Str,
        "tool_call_count": Int,
        "prompt_tokens": Int,
        "completion_tokens": Int,
        "total_tokens": Int,
        "cached_tokens": Int,
        "reasoning_tokens": Int,
        "metadata": Str,
        "day": Day,
        **ROW_PROVENANCE,
    }
)

RUNS = pl.Schema(
    {
        "api": Str,
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
        "previous_response_id": Str,
        **CONFIG_FIELDS,
        **RESPONSE_EXTRAS,
        **ROW_PROVENANCE,
    }
)

TOOL_CALLS = pl.Schema(
    {
        "api": Str,
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
        "call_failed": pl.Boolean,
        # lengths in characters of the content columns, kept when they are redacted
        "function_arguments_chars": Int,
        "function_output_chars": Int,
        "code_input_chars": Int,
        **ROW_PROVENANCE,
    }
)

USAGE = pl.Schema(
    {
        "api": Str,
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
        **BILLED_USAGE,
        **ROW_PROVENANCE,
    }
)

# Billing exports (docs/billing.md, "Reconciling estimated cost with the bill"): one row per bucket
# x grouping (x line item), de-duplicated; `day` is the UTC date of `start_time`.
_BILLED_TIMES: dict[str, pl.DataType] = {"start_time": TS, "end_time": TS, "day": Day,
                                         "bucket_width_s": Int, "empty_bucket": pl.Boolean}
BILLING_USAGE = pl.Schema({**_BILLED_TIMES, **_USAGE_VALUES})
BILLING_COSTS = pl.Schema({**_BILLED_TIMES, **_COSTS_VALUES})

# Field coverage (docs/fidelity.md): per input path, how many records held a non-null
# value there, between which of the records' own timestamps. Per segment, one row per
# (file, path) and batch; rows of a batch's last line apart (`line_no` that line, else the
# batch's first line), so dropping a file's lines from its old unterminated last line on
# (flows/store/records.py `remove_file_rows`) drops exactly theirs.
FIELD_PATHS = pl.Schema({
    "source_file": Str, "line_no": Int, "api": Str, "object": Str, "path": Str,
    "records": Int, "first_seen": TS, "last_seen": TS,
})
# The `field_coverage` table: the segments' rows summed per (api, object, path), with the
# `table.column` that captures the path (NULL: nothing does).
FIELD_COVERAGE = pl.Schema({
    "api": Str, "object": Str, "path": Str, "records": Int, "first_seen": TS,
    "last_seen": TS, "mapped_to": Str,
})

# Internal, per step: where its row came from. Kept beside the tables so that the
# warehouse-wide accounting balances after any number of incremental batches.
STEP_SOURCES = pl.Schema({
    "step_id": pl.String,
    "day": pl.Date,
    "n_records": pl.Int64,
    "n_deltas": pl.Int64,
    "deltas_applied": pl.Int64,
})

# Internal, per response id: how its records and stream events were counted.
RESPONSE_SOURCES = pl.Schema({
    "run_id": Str,
    "day": Day,
    "n_records": Int,
    "kept": Int,
    "superseded": Int,
})

# Internal, per tool-output key (a call id): every copy of it, which copies equal the
# winning one (R13), and the winner's output text and failure. A record holding copies
# is kept when one of its copies wins its key. Of the copies equal to the winner, the
# first by provenance is `chosen`: its `output` text and `failed` answer the call.
RESPONSE_OUTPUT_COPIES = pl.Schema({
    "call_key": Str,
    "rec_file": Str,
    "rec_line": Int,
    "rec_item": Int,
    "copy_index": Int,
    "is_winner": pl.Boolean,
    "chosen": pl.Boolean,
    "output": Str,
    "failed": pl.Boolean,
    "day": Day,
    "output_chars": Int,  # its length, kept when it is redacted
})


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table: everything the storage, the rebuild and the SQL need to know.

    `key`: the id whose rows a batch replaces together (None: the table is rewritten
    whole each batch); rows whose `key` is NULL are keyed by `null_key_from` instead
    (the per-response `usage` rows of the Responses API have no step id). `partitioned`:
    stored in `month=`/`day=` directories of `day`, so a batch rewrites only the
    partitions holding its ids. `public`: a DuckDB view of the same name reads it
    (internal tables start with `_`).
    """

    name: str
    schema: pl.Schema
    key: str | None
    partitioned: bool
    public: bool = True
    null_key_from: str | None = None

    def key_expr(self) -> pl.Expr:
        """The key a row is replaced by (see `null_key_from`)."""
        if self.null_key_from is None:
            return pl.col(self.key)
        return pl.coalesce(self.key, self.null_key_from).alias(self.key)


# The one table registry: snapshots, rebuild, accounting and the SQL base views use it.
REGISTRY: tuple[TableSpec, ...] = (
    TableSpec("runs", RUNS, "run_id", partitioned=True),
    TableSpec("steps", STEPS, "step_id", partitioned=True),
    TableSpec("tool_calls", TOOL_CALLS, "step_id", partitioned=True),
    TableSpec("usage", USAGE, "step_id", partitioned=True, null_key_from="run_id"),
    TableSpec("rejects", REJECTS, None, partitioned=False),
    TableSpec("billing_usage", BILLING_USAGE, None, partitioned=False),
    TableSpec("billing_costs", BILLING_COSTS, None, partitioned=False),
    TableSpec("field_coverage", FIELD_COVERAGE, None, partitioned=False),
    TableSpec("_step_sources", STEP_SOURCES, "step_id", partitioned=True, public=False),
    TableSpec("_response_sources", RESPONSE_SOURCES, "run_id", partitioned=True,
              public=False),
    TableSpec("_response_outputs", RESPONSE_OUTPUT_COPIES, "call_key", partitioned=True,
              public=False),
)
TABLES: dict[str, TableSpec] = {t.name: t for t in REGISTRY}
# Tables whose rows are recomputed per id and stored in partitions.
KEYED: dict[str, TableSpec] = {t.name: t for t in REGISTRY if t.partitioned}
PUBLIC_TABLES: tuple[str, ...] = tuple(t.name for t in REGISTRY if t.public)


# ---- content: what users and tools said (docs/tables.md, "What each table holds") ---------------
@dataclass(frozen=True)
class Content:
    """A record column holding content, redacted before any segment is written
    (transforms/redact.py).

    `kind`: "text" (the whole value: NULL or a keyed hash), "fragment" (a streamed piece
    of a value: NULL in every mode, since a hash of a piece groups nothing), "json_values"
    (a metadata object: its values redacted, its keys kept), "canon" (a tool output's
    canonical JSON bytes), "raw" (a rejected line). `chars`: keep the original length in
    `<column>_chars`; `valid`: keep whether it parsed as JSON in `<column>_valid`.
    `types`: only rows whose `type` is one of these (stream events carry several fields).
    """

    frame: str
    column: str
    kind: str
    chars: bool = True
    valid: bool = False
    types: tuple[str, ...] | None = None


_ARG_EVENTS = ("response.function_call_arguments", "response.mcp_call_arguments",
               "response.custom_tool_call_input")
_CODE_EVENTS = ("response.code_interpreter_call_code",)


def _events(prefixes: tuple[str, ...], suffix: str) -> tuple[str, ...]:
    return tuple(f"{p}.{suffix}" for p in prefixes)


# Every redactable field, named `table.column` as users see it (`--redact-fields`), with
# the record columns holding it. `tool_calls.code_logs` is kept in records only (the
# table has `code_log_chars`); file-search result content is never stored.
CONTENT: dict[str, tuple[Content, ...]] = {
    "runs.metadata": (Content("run_records", "metadata", "json_values", chars=False),
                      Content("response_records", "metadata", "json_values", chars=False)),
    "steps.metadata": (Content("step_records", "metadata", "json_values", chars=False),),
    "tool_calls.function_arguments": (
        Content("tool_call_records", "function_arguments", "text", valid=True),
        Content("delta_calls", "function_arguments", "fragment"),
        Content("response_items", "arguments", "text", valid=True),
        Content("response_items", "input", "text"),
        Content("response_events", "delta", "fragment", types=_events(_ARG_EVENTS, "delta")),
        Content("response_events", "done_value", "text", valid=True,
                types=_events(_ARG_EVENTS, "done")),
    ),
    "tool_calls.function_output": (
        Content("tool_call_records", "function_output", "text"),
        Content("delta_calls", "function_output", "fragment"),
        Content("response_items", "output", "text"),
        Content("response_outputs", "output_canon", "canon"),
    ),
    "tool_calls.code_input": (
        Content("tool_call_records", "code_input", "text"),
        Content("delta_calls", "code_input", "fragment"),
        Content("response_items", "code", "text"),
        Content("response_events", "delta", "fragment", types=_events(_CODE_EVENTS, "delta")),
        Content("response_events", "done_value", "text", types=_events(_CODE_EVENTS, "done")),
    ),
    "tool_calls.code_logs": (Content("delta_outputs", "logs", "fragment"),),
    "rejects.raw": (Content("rejects", "raw", "raw", chars=False),),
}


def companions(frame: str) -> dict[str, pl.DataType]:
    """The columns a redacted record frame adds: original lengths and JSON validity."""
    out: dict[str, pl.DataType] = {}
    for cols in CONTENT.values():
        for c in cols:
            if c.frame == frame and c.chars:
                out[f"{c.column}_chars"] = Int
            if c.frame == frame and c.valid:
                out[f"{c.column}_valid"] = pl.Boolean
    return out


# Record frames as stored in segments: a redacted segment also holds the companions
# (NULL, or absent in segments written in clear, where lengths come from the values).
STORED_FRAMES: dict[str, pl.Schema] = {
    name: pl.Schema({**schema, **companions(name)}) for name, schema in RECORD_FRAMES.items()
}


def with_companions(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """`frame` with the companion columns of record frame `name` (NULL where missing: a
    frame parsed in clear, whose lengths come from its values)."""
    extra = {c: t for c, t in companions(name).items() if c not in frame.columns}
    if not extra:
        return frame
    return frame.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in extra.items())


def content_chars(column: str) -> pl.Expr:
    """The original length of a content column: its companion when it was redacted,
    else the length of its value."""
    return pl.coalesce(pl.col(f"{column}_chars"),
                       pl.col(column).str.len_chars().cast(Int)).alias(f"{column}_chars")


def empty(schema: pl.Schema) -> pl.DataFrame:
    """An empty frame of `schema` (tables are written even when empty, so views bind)."""
    return pl.DataFrame(schema=schema)
