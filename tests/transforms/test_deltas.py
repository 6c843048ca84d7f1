"""transforms/deltas.py on inline micro-tables: which files of a step's deltas are a
stream exported twice, and what a step's deltas say, against hand-worked expectations."""

from __future__ import annotations

import polars as pl

from steplens.transforms import schemas
from steplens.transforms.deltas import delta_steps, duplicate_streams, without_duplicates


def frame(schema: pl.Schema, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{**dict.fromkeys(schema.names()), "rec_item": 0, **r} for r in rows],
                        schema=schema)


def events(rows: list[tuple[str, str, int, str | None]]) -> pl.DataFrame:
    """(step_id, file, line, message_id) delta events of a message-creation step."""
    return frame(schemas.DELTA_EVENTS, [
        {"step_id": s, "rec_file": f, "rec_line": n, "step_type": "message_creation",
         "message_id": m} for s, f, n, m in rows])


NO_CALLS = frame(schemas.DELTA_CALLS, [])
NO_OUTPUTS = frame(schemas.DELTA_OUTPUTS, [])


def test_a_copy_and_a_cut_copy_are_duplicates_a_different_stream_is_not():
    deltas = events([
        ("s", "a.jsonl", 1, "m1"), ("s", "a.jsonl", 2, "m2"),  # the whole stream
        ("s", "b.sse", 1, "m1"), ("s", "b.sse", 2, "m2"),      # the same, saved twice
        ("s", "c.jsonl", 1, "m1"),                              # a cut-off copy
        ("t", "a.jsonl", 3, "x"), ("t", "d.jsonl", 1, "y"),     # two parts of one stream
        ("u", "a.jsonl", 4, "z"),                               # one file only
    ])
    dropped = duplicate_streams(deltas, NO_CALLS, NO_OUTPUTS)
    # equal sequences keep the smallest path (a.jsonl); a prefix is dropped
    assert dropped.rows() == [("s", "b.sse"), ("s", "c.jsonl")]
    kept = without_duplicates(deltas, dropped)
    assert sorted(kept.select("step_id", "rec_file").unique().rows()) == [
        ("s", "a.jsonl"), ("t", "a.jsonl"), ("t", "d.jsonl"), ("u", "a.jsonl")]


def test_delta_steps_count_and_take_the_last_non_null_value():
    deltas = events([("s", "a", 2, None), ("s", "a", 1, "m1"), ("s", "b", 1, None),
                     ("t", "a", 5, "m9")])
    got = {r["step_id"]: r for r in delta_steps(deltas).iter_rows(named=True)}
    assert {k: (r["n_deltas"], r["delta_message_id"]) for k, r in got.items()} == {
        "s": (3, "m1"), "t": (1, "m9")}
