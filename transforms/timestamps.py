"""Unix seconds to the warehouse's time types (UTC, naive `TIMESTAMP`; `DATE`; seconds)."""

from __future__ import annotations

import polars as pl

from steplens.transforms.schemas import TS


def to_timestamp(col: str) -> pl.Expr:
    """Unix seconds → `Datetime(us)` holding UTC."""
    return pl.from_epoch(pl.col(col), time_unit="s").cast(TS).alias(col)


def seconds_between(start: str, end: str) -> pl.Expr:
    """`end - start` in seconds as a double, NULL when either is missing."""
    return (pl.col(end) - pl.col(start)).cast(pl.Float64)


def utc_day(col: str = "created_at") -> pl.Expr:
    """UTC calendar day of a Unix-seconds column."""
    return pl.from_epoch(pl.col(col), time_unit="s").dt.date().alias("day")


def ended_at(by_status: dict[str, str]) -> pl.Expr:
    """The `*_at` column that matches the record's status (Unix seconds), else NULL."""
    expr = pl.lit(None, dtype=pl.Int64)
    for status, col in by_status.items():
        expr = pl.when(pl.col("status") == status).then(pl.col(col)).otherwise(expr)
    return expr.alias("ended_at")
