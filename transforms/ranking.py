"""Pick one winning record per id (README, "De-duplication").

The order of comparison is the contract: state rank, latest timestamp, usage present,
canonical size, canonical crc32; provenance breaks the last tie only between records
whose canonical bytes are identical, so it cannot change a table's content. Nothing
here depends on the order in which records arrived.
"""

from __future__ import annotations

import polars as pl

from steplens.transforms.statuses import (
    RUN_STATE_RANK,
    RUN_TERMINAL,
    RUN_TERMINAL_RANK,
    STEP_TERMINAL,
)

STEP_TIMESTAMPS = ("created_at", "completed_at", "failed_at", "cancelled_at", "expired_at")
RUN_TIMESTAMPS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at")


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


def winners(records: pl.DataFrame, key: str, state_rank: pl.Expr,
            timestamps: tuple[str, ...]) -> pl.DataFrame:
    """One row per `key`: the best record by the README ranking, plus `n_records`."""
    ranked = records.with_columns(
        _rank_state=state_rank,
        _rank_ts=pl.max_horizontal(*timestamps).fill_null(-1),
        n_records=pl.len().over(key),
    )
    order = ["_rank_state", "_rank_ts", "usage_present", "canon_size", "canon_crc"]
    return (
        ranked.sort(
            [key, *order, "rec_file", "rec_line", "rec_item"],
            descending=[False] + [True] * len(order) + [False, False, False],
            nulls_last=True,
        )
        .unique(subset=key, keep="first", maintain_order=True)
        .drop("_rank_state", "_rank_ts")
    )
