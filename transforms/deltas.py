"""Reassemble `thread.run.step.delta` fragments into tool calls (README, "Streams").

Fragments are applied in (file, line, position) order: strings concatenate, every other
field takes the latest non-null value. Tool calls are keyed by (step id, index),
code-interpreter outputs by (step id, call index, output index).
"""

from __future__ import annotations

import polars as pl

_ORDER = ["rec_file", "rec_line", "rec_item", "pos"]


def _last(col: str) -> pl.Expr:
    return pl.col(col).drop_nulls().last()


def _joined(col: str) -> pl.Expr:
    """Concatenation of the non-null pieces, NULL when there were none."""
    return (
        pl.when(pl.col(col).count() > 0)
        .then(pl.col(col).drop_nulls().str.join(""))
        .otherwise(None)
        .alias(col)
    )


def delta_steps(delta_events: pl.DataFrame) -> pl.DataFrame:
    """Per step id: how many delta events it has, and the type/message id they carried."""
    return (
        delta_events.sort("rec_file", "rec_line", "rec_item")
        .group_by("step_id", maintain_order=True)
        .agg(
            n_deltas=pl.len(),
            delta_type=_last("step_type"),
            delta_message_id=_last("message_id"),
        )
    )


def reassembled_outputs(delta_outputs: pl.DataFrame) -> pl.DataFrame:
    """Per (step id, call index): log characters and image count of rebuilt outputs."""
    outputs = (
        delta_outputs.sort(_ORDER)
        .group_by("step_id", "call_index", "output_index", maintain_order=True)
        .agg(_last("output_type"), _joined("logs"))
    )
    return outputs.group_by("step_id", "call_index").agg(
        code_log_chars=pl.col("logs")
        .str.len_chars()
        .filter(pl.col("output_type") == "logs")
        .sum()
        .cast(pl.Int64),
        code_image_count=(pl.col("output_type") == "image").sum().cast(pl.Int64),
    )


def reassembled_calls(delta_calls: pl.DataFrame, delta_outputs: pl.DataFrame) -> pl.DataFrame:
    """One row per (step id, call index) rebuilt from its fragments."""
    calls = (
        delta_calls.sort(_ORDER)
        .group_by("step_id", "call_index", maintain_order=True)
        .agg(
            _last("tool_call_id"),
            _last("type"),
            _last("function_name"),
            _joined("function_arguments"),
            _joined("function_output"),
            _joined("code_input"),
            _last("file_search_result_count"),
        )
    )
    is_code = pl.col("type") == "code_interpreter"
    return (
        calls.join(reassembled_outputs(delta_outputs), on=["step_id", "call_index"],
                   how="left")
        .with_columns(
            code_log_chars=pl.when(is_code).then(pl.col("code_log_chars").fill_null(0)),
            code_image_count=pl.when(is_code).then(pl.col("code_image_count").fill_null(0)),
            file_search_result_count=pl.when(pl.col("type") == "file_search").then(
                pl.col("file_search_result_count")
            ),
        )
        .sort("step_id", "call_index")
    )
