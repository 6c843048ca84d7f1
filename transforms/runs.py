"""`runs`: one row per run id from every run record seen (docs/tables.md, "Tables")."""

from __future__ import annotations

import polars as pl

from steplens.transforms import ranking, schemas
from steplens.transforms.statuses import RUN_ENDED_AT
from steplens.transforms.timestamps import ended_at, seconds_between, to_timestamp, utc_day

_TIMESTAMPS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at",
               "expires_at", "ended_at")


def run_winners(run_records: pl.DataFrame) -> pl.DataFrame:
    """The winning record per run id (most advanced state), with `n_records`."""
    return ranking.winners(run_records, "run_id", ranking.run_state_rank(),
                           ranking.RUN_TIMESTAMPS, ranking.run_contents,
                           ranking.RUN_TIEBREAK)


def runs(run_winners: pl.DataFrame) -> pl.DataFrame:
    """Public `runs` rows from the winning records."""
    return (
        run_winners.with_columns(ended_at(RUN_ENDED_AT))
        .with_columns(
            queue_s=seconds_between("created_at", "started_at"),
            duration_s=seconds_between("started_at", "ended_at"),
            day=utc_day(),
        )
        .with_columns(to_timestamp(c) for c in _TIMESTAMPS)
        .with_columns(api=pl.lit("assistants"), previous_response_id=pl.lit(None, pl.String))
        .with_columns(schemas.row_provenance())
        .with_columns(pl.lit(None, t).alias(c) for c, t in schemas.RESPONSE_EXTRAS.items())
        .select(schemas.RUNS.names())
        .cast(dict(schemas.RUNS))
        .sort("run_id")
    )
