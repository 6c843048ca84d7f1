"""transforms/runs.py on an inline micro-table: one row per run id, the winner's values,
and the derived columns computed by hand (queue, duration, end, UTC day)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from steplens.transforms import schemas
from steplens.transforms.runs import run_winners, runs


def run_records(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{**dict.fromkeys(schemas.RUN_RECORDS.names()), "rec_file": "f",
                          "rec_item": 0, **r} for r in rows], schema=schemas.RUN_RECORDS)


def test_one_row_per_run_from_the_winner_with_its_durations():
    frame = run_records([
        {"run_id": "r1", "status": "in_progress", "created_at": 100, "started_at": 103,
         "rec_line": 1},
        {"run_id": "r1", "status": "failed", "created_at": 100, "started_at": 103,
         "failed_at": 110, "rec_line": 2},
        {"run_id": "r2", "status": "queued", "created_at": 86_399, "rec_line": 3},
    ])
    winners = run_winners(frame)
    assert dict(winners.select("run_id", "n_records").iter_rows()) == {"r1": 2, "r2": 1}
    got = {r["run_id"]: r for r in runs(winners).iter_rows(named=True)}
    assert set(got) == {"r1", "r2"}
    r1, r2 = got["r1"], got["r2"]
    assert r1["status"] == "failed"
    assert r1["queue_s"] == 103.0 - 100.0 and r1["duration_s"] == 110.0 - 103.0
    assert r1["ended_at"] == dt.datetime(1970, 1, 1, 0, 1, 50)  # 110 s after the epoch
    assert r1["day"] == dt.date(1970, 1, 1) and r2["day"] == dt.date(1970, 1, 1)
    assert r2["started_at"] is None and r2["queue_s"] is None and r2["ended_at"] is None
    assert r1["api"] == "assistants"
