"""From parsed records to the public tables, plus the accounting that must balance.

`build_runs` and `build_steps` are the whole flattening pipeline of the Assistants API
as pure functions, `transforms/responses/tables.py` that of the Responses API; `flows/`
calls them, on all records (a clean run) or on every record of the ids a batch touched
(an incremental run). A step's row depends only on the records of its own id and on its
run's `model`, which is why recomputing the touched ids is enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from steplens.transforms import billing, deltas, runs, schemas, steps
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.responses import tables as responses


@dataclass
class StepTables:
    """Everything keyed by step id."""

    steps: pl.DataFrame
    tool_calls: pl.DataFrame
    usage: pl.DataFrame
    step_sources: pl.DataFrame


@dataclass
class Tables:
    """The public tables and how every record read was accounted for."""

    runs: pl.DataFrame
    steps: pl.DataFrame
    tool_calls: pl.DataFrame
    usage: pl.DataFrame
    rejects: pl.DataFrame
    step_sources: pl.DataFrame
    accounting: dict[str, int] = field(default_factory=dict)
    skipped: pl.DataFrame | None = None
    response_sources: pl.DataFrame | None = None
    response_outputs: pl.DataFrame | None = None
    billing_usage: pl.DataFrame | None = None
    billing_costs: pl.DataFrame | None = None

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"runs": self.runs, "steps": self.steps, "tool_calls": self.tool_calls,
                "usage": self.usage, "rejects": self.rejects,
                "billing_usage": self.billing_usage, "billing_costs": self.billing_costs}


def build_runs(run_records: pl.DataFrame) -> pl.DataFrame:
    """`runs` rows for every run id in `run_records`."""
    return runs.runs(runs.run_winners(run_records))


def build_steps(batch: ParsedBatch, runs_table: pl.DataFrame) -> StepTables:
    """`steps`, `tool_calls`, `usage` for every step id in `batch`.

    `runs_table` supplies each step's `model`; it may hold more runs than the batch.
    """
    duplicates = deltas.duplicate_streams(batch.delta_events, batch.delta_calls,
                                          batch.delta_outputs)
    delta_events, delta_calls, delta_outputs = (
        deltas.without_duplicates(f, duplicates)
        for f in (batch.delta_events, batch.delta_calls, batch.delta_outputs)
    )
    rows = steps.step_rows(steps.step_winners(batch.step_records, batch.tool_call_records),
                           deltas.delta_steps(delta_events))
    calls = steps.tool_calls(
        rows, batch.tool_call_records, deltas.reassembled_calls(delta_calls, delta_outputs),
        runs_table,
    )
    steps_table = steps.steps(rows, calls, runs_table)
    sources = (
        rows.select(
            "step_id",
            "n_records",
            "n_deltas",
            deltas_applied=pl.when(pl.col("use_deltas")).then("n_deltas").otherwise(0),
        )
        .join(steps_table.select("step_id", "day"), on="step_id", how="left")
        .select(schemas.STEP_SOURCES.names())
        .cast(dict(schemas.STEP_SOURCES))
        .sort("step_id")
    )
    return StepTables(steps_table, calls, steps.usage(rows, steps_table), sources)


def balance(counts: dict[str, int]) -> dict[str, int]:
    """Derive kept/superseded from record totals and row counts, and check the sum.

    Needs: records_read, step_records, run_records, delta_events, rejected, skipped,
    runs (Assistants rows), steps_with_record, deltas_applied; and for the Responses API
    the kept and superseded records of its responses and of its tool-output holders
    (`responses_kept`, `responses_superseded`, counted per response id and per record);
    for billing exports the records read and the rows of both billing tables
    (`billing_records`, `billing_rows`: each row keeps one record, the rest are
    superseded duplicates).
    """
    out = dict(counts)
    for k in ("responses_kept", "responses_superseded", "billing_records", "billing_rows"):
        out.setdefault(k, 0)
    out["kept"] = (counts["runs"] + counts["steps_with_record"] + counts["deltas_applied"]
                   + out["responses_kept"] + out["billing_rows"])
    out["superseded"] = (
        counts["run_records"] - counts["runs"]
        + counts["step_records"] - counts["steps_with_record"]
        + counts["delta_events"] - counts["deltas_applied"]
        + out["responses_superseded"]
        + out["billing_records"] - out["billing_rows"]
    )
    out["balanced"] = int(
        out["records_read"] == out["kept"] + out["superseded"] + out["rejected"] + out["skipped"]
    )
    return out


def accounting(batch: ParsedBatch, runs_table: pl.DataFrame,
               step_sources: pl.DataFrame, response_sources: pl.DataFrame | None = None,
               response_outputs: pl.DataFrame | None = None, billing_rows: int = 0
               ) -> dict[str, int]:
    """Counts for the summary; `records_read` equals the sum of the four buckets.
    `runs_table`: the Assistants runs."""
    kept = superseded = 0
    if response_sources is not None:
        kept += int(response_sources["kept"].sum())
        superseded += int(response_sources["superseded"].sum())
    if response_outputs is not None:
        k, s = responses.output_accounting(response_outputs)
        kept, superseded = kept + k, superseded + s
    return balance({
        "responses_kept": kept,
        "responses_superseded": superseded,
        "billing_records": (batch.billing_usage_records.height
                            + batch.billing_costs_records.height),
        "billing_rows": billing_rows,
        "lines_read": batch.lines_read,
        "bytes_read": batch.bytes_read,
        "records_read": batch.records_read,
        "step_records": batch.step_records.height,
        "run_records": batch.run_records.height,
        "delta_events": batch.delta_events.height,
        "rejected": batch.rejects.height,
        "skipped": batch.skipped.height,
        "runs": runs_table.height,
        "steps": step_sources.height,
        "steps_with_record": int((step_sources["n_records"] > 0).sum()),
        "deltas_applied": int(step_sources["deltas_applied"].sum()),
    })


def build_tables(batch: ParsedBatch) -> Tables:
    """Every public table from one batch of parsed records (a clean, whole build), both
    APIs (the `api` column says which)."""
    runs_table = build_runs(batch.run_records)
    step_tables = build_steps(batch, runs_table)
    copies = responses.output_copies(batch.response_outputs)
    r = responses.build(batch.response_records, batch.response_items, batch.response_events,
                        responses.answers(copies))
    usage_bill = billing.usage_table(batch.billing_usage_records)
    costs_bill = billing.costs_table(batch.billing_costs_records)
    return Tables(
        runs=pl.concat([runs_table, r.runs]),
        steps=pl.concat([step_tables.steps, r.steps]),
        tool_calls=pl.concat([step_tables.tool_calls, r.tool_calls]),
        usage=pl.concat([step_tables.usage, r.usage]),
        rejects=batch.rejects.sort("source_file", "line_no", "reason"),
        step_sources=step_tables.step_sources,
        accounting=accounting(batch, runs_table, step_tables.step_sources, r.sources, copies,
                              usage_bill.height + costs_bill.height),
        skipped=batch.skipped,
        response_sources=r.sources,
        response_outputs=copies,
        billing_usage=usage_bill,
        billing_costs=costs_bill,
    )

