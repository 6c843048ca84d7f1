"""Recompute the Responses API rows a batch touched (issue 12), beside `rebuild.py`.

A Responses row depends on the records of its own response id, and on three things
across ids (transforms/responses/tables.py): the winning copy of each of its tool
calls' outputs (keyed by call id), the thread of its `previous_response_id`, and its
descendants' threads depend on it in turn. So a batch recomputes:

- the output copies of every call key it touched (all copies of those keys);
- every response id it touched, every response holding a call whose output winner may
  have changed, and every response whose `previous_response_id` chain passes through
  one of those (its thread may change);

from all the records of those ids, in hash buckets of ids as the Assistants rows are:
a first light pass over the response records only decides each winner and so the
threads, a second builds the rows. Rows of responses outside the set are untouched;
their threads and output winners are read from the current snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from steplens.flows.store import records, snapshots
from steplens.flows.store.manifest import Manifest
from steplens.transforms import schemas
from steplens.transforms.responses import tables as responses
from steplens.transforms.tables import RESPONSE_FRAMES, Lookups, build_bucket

API = "responses"
# What the second pass writes of a bucket's tables (transforms/tables.py `build_bucket`).
TABLES = ("runs", "steps", "tool_calls", "usage", "_response_sources")
# Records of at most about this many rows are built at once (see rebuild.ROWS_PER_BUCKET).
ROWS_PER_BUCKET = 250_000


def _buckets(rows: int, ids: pl.Series | None) -> int:
    if ids is not None and ids.len() * 4 < ROWS_PER_BUCKET:
        return 1
    return max(1, -(-rows // ROWS_PER_BUCKET))


def _snapshot_runs(prev: Path | None) -> pl.LazyFrame:
    return (snapshots.read_table(prev, "runs", schemas.RUNS)
            .filter(pl.col("api") == API)
            .select("run_id", "thread_id", "previous_response_id"))


def _descendants(prev: Path | None, ids: pl.Series) -> pl.Series:
    """`ids` and every response of the snapshot whose chain of previous responses
    passes through one of them."""
    edges = (_snapshot_runs(prev).filter(pl.col("previous_response_id").is_not_null())
             .select("run_id", "previous_response_id").collect())
    found = set(ids.to_list())
    frontier = found
    while frontier and edges.height:
        kids = set(edges.filter(pl.col("previous_response_id").is_in(list(frontier))
                                & ~pl.col("run_id").is_in(list(found)))["run_id"])
        found |= kids
        frontier = kids
    return pl.Series("run_id", sorted(found), dtype=pl.String)


def _callers(prev: Path | None, call_keys: pl.Series) -> pl.Series:
    """Responses of the snapshot with a tool call answered by one of `call_keys`."""
    return (snapshots.read_table(prev, "tool_calls", schemas.TOOL_CALLS)
            .filter((pl.col("api") == API) & pl.col("tool_call_id").is_in(call_keys.implode()))
            .select("run_id").unique().collect()["run_id"])


def _old_step_ids(prev: Path | None, ids: pl.Series) -> pl.Series:
    """Step ids the snapshot holds for the responses `ids` (they may have gone)."""
    return (snapshots.read_table(prev, "steps", schemas.STEPS)
            .filter((pl.col("api") == API) & pl.col("run_id").is_in(ids.implode()))
            .select("step_id").collect()["step_id"])


Stage = Callable[[pl.DataFrame, str, str], None]  # rows, table, name (rebuild.py)


def _answers(root: Path, manifest: Manifest, call_keys: pl.Series | None,
             stage: Stage) -> pl.DataFrame:
    """Stage the `_response_outputs` rows of `call_keys` (None: every key) from all their
    copies; the chosen answer of each."""
    copies = records.load(root, manifest.segments, None, None, frames=("response_outputs",),
                          call_keys=call_keys).response_outputs
    copy_rows = responses.output_copies(copies)
    stage(copy_rows, "_response_outputs", "r0000")
    return responses.answers(copy_rows)


def _heads(root: Path, manifest: Manifest, ids: pl.Series | None, buckets: int
           ) -> pl.DataFrame:
    """Pass 1: the winner of each response `ids` (None: every one) names its thread."""
    heads = []
    for b in range(buckets):
        batch = records.load(root, manifest.segments, None, None, (b, buckets),
                             ("response_records", "response_events"), response_ids=ids)
        winning = responses.winners(batch.response_records, batch.response_events)
        heads.append(responses.heads(winning))
    return pl.concat(heads) if heads else pl.DataFrame(schema=responses.HEADS)


def _rows(root: Path, manifest: Manifest, ids: pl.Series | None, buckets: int,
          new_answers: pl.DataFrame, old_answers: pl.LazyFrame, threads: pl.DataFrame,
          stage: Stage) -> list[pl.Series]:
    """Pass 2: stage the rows of the responses `ids` (None: every one), bucket by bucket;
    the step ids staged."""
    step_ids = []
    for b in range(buckets):
        batch = records.load(root, manifest.segments, None, None, (b, buckets),
                             RESPONSE_FRAMES, response_ids=ids)
        needed = batch.response_items["call_id"].drop_nulls().unique().implode()
        answer = pl.concat([
            new_answers.filter(pl.col("call_key").is_in(needed)),
            old_answers.filter(pl.col("call_key").is_in(needed)).collect()
            .cast(dict(responses.ANSWERS)),
        ])
        built = build_bucket(batch, Lookups(answers=answer, threads=threads)).keyed()
        for table in TABLES:
            stage(built[table], table, f"r{b:04d}")
        step_ids.append(built["steps"]["step_id"])
        del batch, built
    return step_ids


def responses_full(root: Path, manifest: Manifest, stage: Stage) -> None:
    """Stage every Responses row, from every record."""
    new_answers = _answers(root, manifest, None, stage)
    n = _buckets(records.rows_of(manifest.segments, RESPONSE_FRAMES), None)
    threads = responses.thread_ids(_heads(root, manifest, None, n))
    _rows(root, manifest, None, n, new_answers, pl.LazyFrame(schema=responses.ANSWERS),
          threads, stage)


def responses_incremental(root: Path, prev: Path, manifest: Manifest, response_ids: pl.Series,
                          call_keys: pl.Series, stage: Stage) -> dict[str, pl.Series]:
    """Stage the Responses rows of every affected id (see above) on top of the snapshot
    `prev`; returns, per table, the keys whose rows the staged rows replace."""
    new_answers = _answers(root, manifest, call_keys, stage)
    touched = pl.concat([response_ids.cast(pl.String),
                         _callers(prev, call_keys).cast(pl.String)]).unique()
    ids = _descendants(prev, touched)
    n = _buckets(records.rows_of(manifest.segments, RESPONSE_FRAMES), ids)
    heads = _heads(root, manifest, ids, n)
    prevs = heads["previous_response_id"].drop_nulls().unique().implode()
    known = (_snapshot_runs(prev)
             .filter(pl.col("run_id").is_in(prevs) & ~pl.col("run_id").is_in(ids.implode()))
             .select("run_id", "thread_id").collect())
    old_answers = (snapshots.read_table(prev, "_response_outputs",
                                        schemas.RESPONSE_OUTPUT_COPIES)
                   .filter(pl.col("chosen"))
                   .select(responses.ANSWERS.names())
                   .filter(~pl.col("call_key").is_in(call_keys.implode())))
    new_step_ids = _rows(root, manifest, ids, n, new_answers, old_answers,
                         responses.thread_ids(heads, known), stage)
    ids = ids.cast(pl.String)
    step_ids = pl.concat([_old_step_ids(prev, ids), *new_step_ids]).unique()
    return {"runs": ids, "steps": step_ids, "tool_calls": step_ids, "usage": ids,
            "_response_sources": ids, "_response_outputs": call_keys}
