"""Pick one winning record per id (docs/ingest.md, "De-duplication").

The order of comparison is the contract: state rank, latest timestamp, usage present,
then, between records still tied, the larger size and then the larger crc32 of their
*canonical content* (the table values the record gives its row, as sorted-keys JSON).
Provenance breaks the last tie only between records whose content is identical, so it
cannot change a table's content. Nothing here depends on the order in which records
arrived.

Why content is computed here and only for contested ids: hashing every record's bytes
while parsing cost as much as decoding them. Most ids have one best record, and most
ties are copies of one record (a step in a list page and in a poll), which give the same
rows whichever wins; only ids whose tied records differ in content need the bytes,
a few per thousand, and they are computed from the record frames in plain Python.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import orjson
import polars as pl

from steplens.transforms import config, schemas
from steplens.transforms.statuses import (
    RUN_STATE_RANK,
    RUN_TERMINAL,
    RUN_TERMINAL_RANK,
    STEP_TERMINAL,
)

STEP_TIMESTAMPS = ("created_at", "completed_at", "failed_at", "cancelled_at", "expired_at")
RUN_TIMESTAMPS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at")
PROVENANCE = list(schemas.PROVENANCE)

# The record columns of a record's canonical content, named as in the public tables
# (docs/ingest.md, "De-duplication"); timestamps stay Unix seconds.
_USAGE = ["prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
          "reasoning_tokens"]
RUN_CONTENT = ["run_id", "thread_id", "assistant_id", "model", "status", "created_at",
               "started_at", "completed_at", "failed_at", "cancelled_at", "expires_at",
               "last_error_code", "last_error_message", "incomplete_reason", *_USAGE,
               "metadata"]
STEP_CONTENT = ["step_id", "run_id", "thread_id", "assistant_id", "type", "status",
                "created_at", "completed_at", "failed_at", "cancelled_at", "expired_at",
                "last_error_code", "last_error_message", "message_id", *_USAGE, "metadata"]
CALL_CONTENT = ["tool_call_id", "type", "function_name", "function_arguments",
                "function_output", "code_input", "code_log_chars", "code_image_count",
                "file_search_result_count", "file_search_max_score"]


def step_state_rank() -> pl.Expr:
    return pl.col("status").is_in(STEP_TERMINAL).fill_null(False).cast(pl.Int64)


def run_state_rank() -> pl.Expr:
    return (
        pl.when(pl.col("status").is_in(RUN_TERMINAL))
        .then(RUN_TERMINAL_RANK)
        .otherwise(pl.col("status").replace_strict(RUN_STATE_RANK, default=-1,
                                                   return_dtype=pl.Int64))
        .fill_null(-1)
    )


def _canon(rows: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Size and crc32 of each row as sorted-keys JSON."""
    sizes, crcs = [], []
    for row in rows.iter_rows(named=True):
        data = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
        sizes.append(len(data))
        crcs.append(zlib.crc32(data))
    return pl.Series(sizes, dtype=pl.Int64), pl.Series(crcs, dtype=pl.Int64)


def canonical(contents: pl.DataFrame, key: str, tiebreak: pl.DataFrame | None = None
              ) -> pl.DataFrame:
    """(provenance, canon_size, canon_crc, tie_size, tie_crc) of tied records that differ.

    `contents`: provenance, `key` and the content columns of the tied records (a step's
    `tool_calls` as a list of structs). `tiebreak`: provenance and the columns that
    decide only between records of equal content (a run's configuration,
    docs/views.md, "Assistant versions"), so they never change which record wins a row.
    Ids whose tied records are all equal are left out: any of them gives the same rows.
    """
    columns = [c for c in contents.columns if c not in PROVENANCE]
    extra = [c for c in tiebreak.columns if c not in PROVENANCE] if tiebreak is not None else []
    if extra:
        contents = contents.join(tiebreak.rename({c: f"_tie_{c}" for c in extra}),
                                 on=PROVENANCE, how="left")
    compared = columns + [f"_tie_{c}" for c in extra]
    differ = contents.filter(pl.struct(compared).hash().n_unique().over(key) > 1)
    size, crc = _canon(differ.select(columns))
    out = differ.select(PROVENANCE).with_columns(canon_size=size, canon_crc=crc)
    if extra:
        size, crc = _canon(differ.select(pl.col(f"_tie_{c}").alias(c) for c in extra))
        return out.with_columns(tie_size=size, tie_crc=crc)
    return out.with_columns(tie_size=pl.lit(None, pl.Int64), tie_crc=pl.lit(None, pl.Int64))


def _stages_123(state_rank: pl.Expr, timestamps: tuple[str, ...]) -> pl.Expr:
    """Stages 1 to 3 as one integer (higher wins): state rank (-1..4), latest timestamp
    (0..MAX_TS, -1 without one: under 2^38) and usage present, bit fields of one Int64."""
    latest = pl.max_horizontal(*timestamps).fill_null(-1) + 1
    return (((state_rank + 1) * (1 << 39)) + latest * 2
            + pl.col("usage_present").fill_null(False).cast(pl.Int64))


def winners(records: pl.DataFrame, key: str, state_rank: pl.Expr,
            timestamps: tuple[str, ...],
            contents: Callable[[pl.DataFrame], pl.DataFrame],
            tiebreak: tuple[str, ...] = ()) -> pl.DataFrame:
    """One row per `key`: the best record by the README ranking, plus `n_records`.

    One sort by (key, stages 1-3) decides every id whose best record is alone at the
    top; `contents(tied)` gives the canonical content columns (see
    `canonical`) of the records tied at the top, and only those ids are decided again
    on stages 4 and 5, then on the `tiebreak` columns' canonical bytes (see `canonical`).
    (Window functions over the string key cost more than the sort.)
    """
    ranked = (
        records.with_columns(_rank=_stages_123(state_rank, timestamps))
        .sort([key, "_rank"], descending=[False, True], nulls_last=True)
        .with_columns(_group=pl.col(key).rle_id())
        .with_columns(n_records=pl.len().over("_group"),
                      _top=pl.col("_rank") == pl.col("_rank").first().over("_group"))
    )
    first = pl.col("_group").is_first_distinct()
    contested = ranked.filter(pl.col("_top") & ~first)["_group"].unique()
    firsts = ranked.filter(first)
    if contested.len() == 0:
        return firsts.drop("_rank", "_group", "_top")
    in_contest = pl.col("_group").is_in(contested.implode())
    tied = ranked.filter(pl.col("_top") & in_contest)
    decided = (
        tied.join(canonical(contents(tied), key,
                            tied.select(*PROVENANCE, *tiebreak) if tiebreak else None),
              on=PROVENANCE, how="left")
        .sort(["_group", "canon_size", "canon_crc", "tie_size", "tie_crc", *PROVENANCE],
              descending=[False, True, True, True, True, False, False, False],
              nulls_last=True)
        .filter(pl.col("_group").is_first_distinct())
        .drop("canon_size", "canon_crc", "tie_size", "tie_crc")
    )
    return pl.concat([firsts.filter(~in_contest), decided]).drop("_rank", "_group", "_top")


# A run's configuration (docs/views.md, "Assistant versions", V9): the last tie-break.
RUN_TIEBREAK = config.FIELDS


def run_contents(tied: pl.DataFrame) -> pl.DataFrame:
    return tied.select(*PROVENANCE, *RUN_CONTENT)
