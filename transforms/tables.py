"""From parsed records to the public tables, plus the accounting that must balance.

This is the whole flattening pipeline as one pure function; `flows/` calls it and
writes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from transforms import deltas, runs, steps
from transforms.parse import ParsedBatch


@dataclass
class Tables:
    """The public tables and how every record read was accounted for."""

    runs: pl.DataFrame
    steps: pl.DataFrame
    tool_calls: pl.DataFrame
    usage: pl.DataFrame
    rejects: pl.DataFrame
    accounting: dict[str, int] = field(default_factory=dict)
    skipped: pl.DataFrame | None = None

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"runs": self.runs, "steps": self.steps, "tool_calls": self.tool_calls,
                "usage": self.usage, "rejects": self.rejects}


def accounting(batch: ParsedBatch, run_winners: pl.DataFrame,
               step_rows: pl.DataFrame) -> dict[str, int]:
    """Counts for the summary; `records_read` equals the sum of the four buckets."""
    step_winners = int(step_rows["n_records"].gt(0).sum())
    deltas_kept, deltas_superseded = steps.delta_accounting(step_rows)
    counts = {
        "lines_read": batch.lines_read,
        "bytes_read": batch.bytes_read,
        "records_read": batch.records_read,
        "kept": run_winners.height + step_winners + deltas_kept,
        "superseded": (batch.run_records.height - run_winners.height)
        + (batch.step_records.height - step_winners) + deltas_superseded,
        "rejected": batch.rejects.height,
        "skipped": int(batch.skipped["records"].sum()),
        "runs": run_winners.height,
        "steps": step_rows.height,
        "deltas_applied": deltas_kept,
    }
    counts["balanced"] = int(
        counts["records_read"]
        == counts["kept"] + counts["superseded"] + counts["rejected"] + counts["skipped"]
    )
    return counts


def build_tables(batch: ParsedBatch) -> Tables:
    """Every public table from one batch of parsed records."""
    run_winners = runs.run_winners(batch.run_records)
    runs_table = runs.runs(run_winners)
    rows = steps.step_rows(
        steps.step_winners(batch.step_records), deltas.delta_steps(batch.delta_events)
    )
    calls = steps.tool_calls(
        rows, batch.tool_call_records,
        deltas.reassembled_calls(batch.delta_calls, batch.delta_outputs), runs_table,
    )
    steps_table = steps.steps(rows, calls, runs_table)
    return Tables(
        runs=runs_table,
        steps=steps_table,
        tool_calls=calls,
        usage=steps.usage(rows, steps_table),
        rejects=batch.rejects.sort("source_file", "line_no", "reason"),
        accounting=accounting(batch, run_winners, rows),
        skipped=batch.skipped,
    )
