"""The de-duplication order (transforms/ranking.py; docs/ingest.md "De-duplication: one
row per step id and per run id": the contract) on inline micro-tables: one winner per
id by state rank, then the latest timestamp, then usage present, then the larger
canonical content; provenance only between records of identical content; the arrival
order never matters."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from steplens.transforms import ranking

STEP_TS = ranking.STEP_TIMESTAMPS


def records(rows: list[dict]) -> pl.DataFrame:
    """Step records: key, status, the five timestamps, usage, provenance, one content
    column (`message_id`)."""
    base = {"step_id": None, "status": None, **dict.fromkeys(STEP_TS), "usage_present": False,
            "message_id": None, "rec_file": "f", "rec_line": 0, "rec_item": 0}
    return pl.DataFrame([{**base, **r} for r in rows], schema={
        "step_id": pl.String, "status": pl.String, **dict.fromkeys(STEP_TS, pl.Int64),
        "usage_present": pl.Boolean, "message_id": pl.String, "rec_file": pl.String,
        "rec_line": pl.Int64, "rec_item": pl.Int64})


def contents(tied: pl.DataFrame) -> pl.DataFrame:
    return tied.select(*ranking.PROVENANCE, "step_id", "status", *STEP_TS, "message_id")


def winner_lines(frame: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """{step_id: (rec_line of the winner, n_records)}, whatever the input order."""
    results = set()
    for perm in itertools.permutations(range(frame.height)):
        won = ranking.winners(frame[list(perm)], "step_id", ranking.step_state_rank(),
                              STEP_TS, contents)
        results.add(tuple(sorted((r["step_id"], r["rec_line"], r["n_records"])
                                 for r in won.iter_rows(named=True))))
    assert len(results) == 1, results  # the arrival order does not matter
    return {k: (line, n) for k, line, n in results.pop()}


DONE = {"status": "completed", "completed_at": 9}
CASES = {
    # (records of one or more ids, {id: (rec_line of the winner, n_records)}) by hand
    "a terminal record beats a later in-progress one": (
        [{"step_id": "s", "status": "in_progress", "created_at": 50, "rec_line": 1},
         {"step_id": "s", "status": "completed", "created_at": 10, "completed_at": 20,
          "rec_line": 2}],
        {"s": (2, 2)}),
    "then the latest timestamp, then usage present": (
        [{"step_id": "a", "status": "in_progress", "created_at": 10, "rec_line": 1},
         {"step_id": "a", "status": "in_progress", "created_at": 11, "rec_line": 2},
         {"step_id": "b", **DONE, "rec_line": 3},
         {"step_id": "b", **DONE, "usage_present": True, "rec_line": 4},
         {"step_id": "c", "status": "failed", "failed_at": 7, "rec_line": 5}],
        {"a": (2, 2), "b": (4, 2), "c": (5, 1)}),
    # the second record's canonical JSON is longer (a longer message_id): it wins, not the
    # first seen
    "tied records that differ: the larger content": (
        [{"step_id": "s", **DONE, "message_id": "m", "rec_line": 1},
         {"step_id": "s", **DONE, "message_id": "msg_long", "rec_line": 2}],
        {"s": (2, 2)}),
    "identical copies: the first provenance": (
        [{"step_id": "s", **DONE, "rec_line": line} for line in (8, 3, 5)],
        {"s": (3, 3)}),
}


@pytest.mark.parametrize(("rows", "expected"), list(CASES.values()), ids=list(CASES))
def test_the_winner_of_each_id(rows, expected):
    assert winner_lines(records(rows)) == expected


def test_run_state_rank_orders_the_lifecycle():
    statuses = ["queued", "in_progress", "requires_action", "cancelling", "completed",
                "expired", "mystery", None]
    got = pl.DataFrame({"status": statuses}, schema={"status": pl.String}).select(
        r=ranking.run_state_rank())["r"].to_list()
    assert got == [0, 1, 2, 3, 4, 4, -1, -1]


def test_step_state_rank_is_terminal_or_not():
    statuses = ["in_progress", "completed", "failed", "cancelled", "expired", "incomplete",
                None]
    got = pl.DataFrame({"status": statuses}, schema={"status": pl.String}).select(
        r=ranking.step_state_rank())["r"].to_list()
    assert got == [0, 1, 1, 1, 1, 1, 0]
