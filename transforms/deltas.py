"""Reassemble `thread.run.step.delta` fragments into tool calls (docs/ingest.md,
"Streams and deltas").

Fragments are applied in (file, line, position) order: strings concatenate, every other
field takes the latest non-null value. Tool calls are keyed by (step id, index),
code-interpreter outputs by (step id, call index, output index).
"""

from __future__ import annotations

import polars as pl

from steplens.transforms import schemas

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


def _contents(events: pl.DataFrame, calls: pl.DataFrame, outputs: pl.DataFrame
              ) -> pl.DataFrame:
    """`events` with `content`: one hash of everything a delta contributes (its type,
    message id, call fragments and output fragments, in their order), for equality."""
    prov = ["rec_file", "rec_line", "rec_item"]
    per_call = (calls.join(events.select(prov), on=prov, how="semi").sort(*prov, "pos")
                .group_by(prov, maintain_order=True)
                .agg(calls=pl.struct(pl.exclude(*prov, "bucket", "step_id"))))
    per_output = (outputs.join(events.select(prov), on=prov, how="semi")
                  .group_by(prov, maintain_order=True)
                  .agg(outputs=pl.struct(pl.exclude(*prov, "bucket", "step_id"))))
    return (events.join(per_call, on=prov, how="left").join(per_output, on=prov, how="left")
            .with_columns(content=pl.struct("step_type", "message_id", "calls", "outputs")
                          .hash())
            .drop("calls", "outputs"))


def duplicate_streams(delta_events: pl.DataFrame, delta_calls: pl.DataFrame,
                      delta_outputs: pl.DataFrame) -> pl.DataFrame:
    """(step id, file) pairs whose deltas repeat another file's: a stream exported twice.

    A step's deltas may sit in several files for two reasons: the same stream saved
    twice (a `.jsonl` and its `.sse` twin, or a cut-off copy beside a complete one), or
    one stream split into parts. Per step, the sequence of delta contents (everything a
    delta contributes, compared by a hash, in line order) of each file is compared: a
    file whose sequence equals, or is a prefix of, another file's is a duplicate and is
    dropped (equal ones keep the smallest path). Files that remain are concatenated in
    path order. Only steps with deltas in more than one file are compared, which is rare.
    """
    several = delta_events.filter(pl.col("rec_file").n_unique().over("step_id") > 1)
    if several.height == 0:
        return pl.DataFrame(schema={"step_id": pl.String, "rec_file": pl.String})
    seqs = (
        _contents(several, delta_calls, delta_outputs)
        .sort("rec_file", "rec_line", "rec_item")
        .group_by("step_id", "rec_file", maintain_order=True)
        .agg(seq=pl.col("content"))
        .with_columns(n=pl.col("seq").list.len())
    )
    # every ordered pair of files of a step: is `seq` a prefix of (or equal to) `other`?
    pairs = seqs.join(seqs.select("step_id", other_file="rec_file", other="seq",
                                  other_n="n"), on="step_id")
    pairs = pairs.filter((pl.col("rec_file") != pl.col("other_file"))
                         & (pl.col("n") <= pl.col("other_n")))
    covered = pl.col("other").list.head(pl.col("n")) == pl.col("seq")
    dropped = pairs.filter(covered & ((pl.col("n") < pl.col("other_n"))
                                      | (pl.col("other_file") < pl.col("rec_file"))))
    return dropped.select("step_id", "rec_file").unique().sort("step_id", "rec_file")


def without_duplicates(frame: pl.DataFrame, duplicates: pl.DataFrame) -> pl.DataFrame:
    """`frame` minus the delta rows of duplicate (step id, file) pairs."""
    if duplicates.height == 0:
        return frame
    return frame.join(duplicates, on=["step_id", "rec_file"], how="anti")


def delta_steps(delta_events: pl.DataFrame) -> pl.DataFrame:
    """Per step id: how many delta events it has, and the type/message id they carried."""
    return (
        delta_events.sort("rec_file", "rec_line", "rec_item")
        .group_by("step_id", maintain_order=True)
        .agg(
            n_deltas=pl.len(),
            # where a step known only from deltas came from: its first delta
            delta_file=pl.col("rec_file").first(),
            delta_line=pl.col("rec_line").first(),
            delta_item=pl.col("rec_item").first(),
            delta_type=_last("step_type"),
            delta_message_id=_last("message_id"),
        )
    )


def _chars(col: str) -> pl.Expr:
    """Length of the concatenation of the pieces (each piece's own length, or the one
    kept when it was redacted), NULL when there were none."""
    piece = pl.coalesce(pl.col(f"{col}_chars"), pl.col(col).str.len_chars().cast(pl.Int64))
    return (pl.when(piece.count() > 0).then(piece.sum()).otherwise(None)
            .cast(pl.Int64).alias(f"{col}_chars"))


def reassembled_outputs(delta_outputs: pl.DataFrame) -> pl.DataFrame:
    """Per (step id, call index): log characters and image count of rebuilt outputs."""
    outputs = (
        schemas.with_companions(delta_outputs, "delta_outputs").sort(_ORDER)
        .group_by("step_id", "call_index", "output_index", maintain_order=True)
        .agg(_last("output_type"), _chars("logs"))
    )
    return outputs.group_by("step_id", "call_index").agg(
        code_log_chars=pl.col("logs_chars")
        .filter(pl.col("output_type") == "logs")
        .sum()
        .cast(pl.Int64),
        code_image_count=(pl.col("output_type") == "image").sum().cast(pl.Int64),
    )


def reassembled_calls(delta_calls: pl.DataFrame, delta_outputs: pl.DataFrame) -> pl.DataFrame:
    """One row per (step id, call index) rebuilt from its fragments."""
    calls = (
        schemas.with_companions(delta_calls, "delta_calls").sort(_ORDER)
        .group_by("step_id", "call_index", maintain_order=True)
        .agg(
            # provenance of a call rebuilt from fragments: its first fragment
            *(pl.col(rec).first().alias(row) for rec, row in
              zip(schemas.PROVENANCE, schemas.ROW_PROVENANCE, strict=True)),
            _last("tool_call_id"),
            _last("type"),
            _last("function_name"),
            _joined("function_arguments"),
            _joined("function_output"),
            _joined("code_input"),
            *(_chars(c) for c in ("function_arguments", "function_output", "code_input")),
            _last("file_search_result_count"),
            # the score belongs to the latest fragment that sent results, even a NULL one
            pl.col("file_search_max_score")
            .filter(pl.col("file_search_result_count").is_not_null()).last(),
        )
    )
    return (
        calls.join(reassembled_outputs(delta_outputs), on=["step_id", "call_index"],
                   how="left")
        .sort("step_id", "call_index")
    )
