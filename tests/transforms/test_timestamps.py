"""transforms/timestamps.py on inline micro-tables, against the standard library's
datetime arithmetic."""

from __future__ import annotations

import datetime as dt

import polars as pl

from steplens.transforms.timestamps import ended_at, seconds_between, to_timestamp, utc_day

UTC = dt.UTC
# 2024-02-29 23:59:59 UTC, the next second (another day), and the epoch
SECONDS = [1709251199, 1709251200, 0, None]


def _naive_utc(s: int | None) -> dt.datetime | None:
    return None if s is None else dt.datetime.fromtimestamp(s, UTC).replace(tzinfo=None)


def test_to_timestamp_is_naive_utc_and_keeps_nulls():
    got = pl.DataFrame({"t": SECONDS}).select(to_timestamp("t"))["t"].to_list()
    assert got == [_naive_utc(s) for s in SECONDS]


def test_utc_day_is_the_calendar_day_in_utc():
    got = pl.DataFrame({"created_at": SECONDS}).select(utc_day())["day"].to_list()
    expected = [None if s is None else dt.datetime.fromtimestamp(s, UTC).date() for s in SECONDS]
    assert got == expected == [dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(1970, 1, 1),
                               None]


def test_seconds_between_is_a_double_and_null_when_either_is_missing():
    frame = pl.DataFrame({"a": [10, 10, None, 5], "b": [13, None, 4, 5]})
    got = frame.select(d=seconds_between("a", "b"))["d"]
    assert got.dtype == pl.Float64
    assert got.to_list() == [3.0, None, None, 0.0]


def test_ended_at_takes_the_column_of_the_status():
    frame = pl.DataFrame({
        "status": ["completed", "failed", "in_progress", None, "cancelled"],
        "completed_at": [100, 101, 102, 103, 104],
        "failed_at": [200, 201, 202, 203, 204],
        "cancelled_at": [None, None, None, None, None],
    })
    by_status = {"completed": "completed_at", "failed": "failed_at",
                 "cancelled": "cancelled_at"}
    got = frame.select(ended_at(by_status))["ended_at"].to_list()
    expected = [row[by_status[row["status"]]] if row["status"] in by_status else None
                for row in frame.iter_rows(named=True)]
    assert got == expected == [100, 201, None, None, None]
