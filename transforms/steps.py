"""`steps`, `tool_calls` and `usage` from step records and deltas (docs/tables.md, "Tables").

`step_rows` decides, per step id, which record wins and whether the tool calls come
from that record or from reassembled deltas; the public tables are projections of it.
"""

from __future__ import annotations

import orjson
import polars as pl

from steplens.transforms import ranking, schemas
from steplens.transforms.statuses import STEP_ENDED_AT
from steplens.transforms.timestamps import ended_at, seconds_between, to_timestamp, utc_day

_TIMESTAMPS = ("created_at", "completed_at", "failed_at", "cancelled_at", "expired_at",
               "ended_at")
_PROVENANCE = list(schemas.PROVENANCE)
_CHARS = ("function_arguments", "function_output", "code_input")


def step_winners(step_records: pl.DataFrame, tool_call_records: pl.DataFrame) -> pl.DataFrame:
    """The winning full record per step id, with `n_records`."""

    def contents(tied: pl.DataFrame) -> pl.DataFrame:
        """A tied record's canonical content: its columns and its calls, as in the tables."""
        calls = by_type(tool_call_records.join(tied.select(_PROVENANCE), on=_PROVENANCE,
                                               how="semi"))
        per_record = (calls.sort(*_PROVENANCE, "call_index")
                      .group_by(_PROVENANCE, maintain_order=True)
                      .agg(tool_calls=pl.struct(ranking.CALL_CONTENT)))
        return (tied.select(*_PROVENANCE, *ranking.STEP_CONTENT)
                .join(per_record, on=_PROVENANCE, how="left")
                .with_columns(pl.col("tool_calls").fill_null(
                    pl.lit([], dtype=per_record.schema["tool_calls"]))))

    return ranking.winners(step_records, "step_id", ranking.step_state_rank(),
                           ranking.STEP_TIMESTAMPS, contents)


def step_rows(step_winners: pl.DataFrame, delta_steps: pl.DataFrame) -> pl.DataFrame:
    """Winners joined with their deltas; `use_deltas` says where the tool calls come from.

    A terminal winner keeps its own tool calls. Otherwise deltas, when there are any,
    replace them; a step known only from deltas becomes an `in_progress` row.
    """
    joined = step_winners.join(delta_steps, on="step_id", how="full", coalesce=True)
    has_record = pl.col("rec_file").is_not_null()
    use_deltas = (pl.col("n_deltas").fill_null(0) > 0) & (
        ~has_record | ~ranking.step_state_rank().cast(pl.Boolean)
    )
    return joined.with_columns(
        use_deltas=use_deltas,
        n_records=pl.col("n_records").fill_null(0),
        n_deltas=pl.col("n_deltas").fill_null(0),
        status=pl.when(has_record).then(pl.col("status")).otherwise(pl.lit("in_progress")),
        type=pl.when(use_deltas).then(pl.coalesce("type", "delta_type")).otherwise("type"),
        message_id=pl.when(use_deltas)
        .then(pl.coalesce("message_id", "delta_message_id"))
        .otherwise("message_id"),
        # the winning record's provenance, else (a step known only from deltas) its
        # first delta's (docs/fidelity.md)
        source_file=pl.coalesce("rec_file", "delta_file"),
        line_no=pl.when(has_record).then("rec_line").otherwise("delta_line"),
        source_item=pl.when(has_record).then("rec_item").otherwise("delta_item"),
    ).drop("delta_type", "delta_message_id", "delta_file", "delta_line", "delta_item")


def json_valid(args: pl.Series) -> pl.Series:
    """Whether each string parses as JSON (NULL for NULL): Polars has no validator."""
    out = []
    for text in args:
        if text is None:
            out.append(None)
            continue
        try:
            orjson.loads(text)
            out.append(True)
        except orjson.JSONDecodeError:
            out.append(False)
    return pl.Series(args.name, out, dtype=pl.Boolean)


def by_type(calls: pl.DataFrame) -> pl.DataFrame:
    """Keep each call's type-specific columns only for its type (dispatch on the raw type).

    A `function` call has function columns, a `code_interpreter` call has code columns
    (counts 0 when it has no outputs), a `file_search` call has its result count; any
    other type (`retrieval`, a future `mcp`) keeps id and type only.
    """
    kind = pl.col("type")
    present = set(calls.columns)  # lengths and validity kept of redacted content
    function_cols = [c for c in ("function_name", "function_arguments", "function_output",
                                 "function_arguments_chars", "function_output_chars",
                                 "function_arguments_valid") if c in present]
    code_cols = [c for c in ("code_input", "code_input_chars") if c in present]
    return calls.with_columns(
        *(pl.when(kind == "function").then(c).alias(c) for c in function_cols),
        *(pl.when(kind == "code_interpreter").then(c).alias(c) for c in code_cols),
        *(pl.when(kind == "code_interpreter").then(pl.col(c).fill_null(0)).alias(c)
          for c in ("code_log_chars", "code_image_count")),
        *(pl.when(kind == "file_search").then(c).alias(c)
          for c in ("file_search_result_count", "file_search_max_score")),
    )


def tool_calls(step_rows: pl.DataFrame, tool_call_records: pl.DataFrame,
               reassembled_calls: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """One row per tool call of each step, from the winning record or from deltas."""
    from_records = schemas.with_companions(tool_call_records, "tool_call_records").join(
        step_rows.filter(~pl.col("use_deltas")).select(_PROVENANCE), on=_PROVENANCE,
        how="semi",
    ).with_columns(schemas.row_provenance()).drop(_PROVENANCE)
    from_deltas = reassembled_calls.join(
        step_rows.filter(pl.col("use_deltas")).select("step_id"), on="step_id", how="semi"
    )
    calls = by_type(pl.concat([from_records, from_deltas], how="diagonal_relaxed")
                    .with_columns(schemas.content_chars(c) for c in _CHARS))
    step_cols = step_rows.select(
        "step_id", "run_id", "thread_id", "assistant_id",
        pl.col("status").alias("step_status"), pl.col("type").alias("step_type"),
        "created_at", day=utc_day(),
    )
    return (
        calls.join(step_cols, on="step_id", how="left")
        .join(runs.select("run_id", "model"), on="run_id", how="left")
        .with_columns(
            # kept when the arguments were redacted; unknown (NULL) for redacted ones
            # rebuilt from stream fragments (transforms/redact.py)
            arguments_valid_json=pl.coalesce(
                "function_arguments_valid",
                pl.col("function_arguments").map_batches(json_valid, return_dtype=pl.Boolean)),
            created_at=to_timestamp("created_at"),
            api=pl.lit("assistants"),
            # a call of the Assistants API fails with its step (docs/tables.md, "Tables")
            call_failed=(pl.col("step_status") == "failed").fill_null(False),
        )
        .select(schemas.TOOL_CALLS.names())
        .cast(dict(schemas.TOOL_CALLS))
        .sort("step_id", "call_index")
    )


def steps(step_rows: pl.DataFrame, tool_calls: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """Public `steps` rows: one per step id, with the run's model and latency."""
    counts = tool_calls.group_by("step_id").agg(tool_call_count=pl.len().cast(pl.Int64))
    return (
        step_rows.join(counts, on="step_id", how="left")
        .join(runs.select("run_id", "model"), on="run_id", how="left")
        .with_columns(ended_at(STEP_ENDED_AT), tool_call_count=pl.col("tool_call_count")
                      .fill_null(0))
        .with_columns(latency_s=seconds_between("created_at", "ended_at"), day=utc_day())
        .with_columns(to_timestamp(c) for c in _TIMESTAMPS)
        .with_columns(api=pl.lit("assistants"), phase=pl.lit(None, dtype=pl.String))
        .select(schemas.STEPS.names())
        .cast(dict(schemas.STEPS))
        .sort("step_id")
    )


def usage(step_rows: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """Public `usage` rows: one per step whose winning record carries a usage object."""
    reported = step_rows.filter(pl.col("usage_present").fill_null(False)).select("step_id")
    return (
        steps.join(reported, on="step_id", how="semi")
        # billed apart from tokens: the Responses API's (schemas.BILLED_USAGE)
        .with_columns(pl.lit(None, t).alias(c) for c, t in schemas.BILLED_USAGE.items())
        .select(schemas.USAGE.names())
        .sort("step_id")
    )
