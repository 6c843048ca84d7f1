"""From parsed records to the public tables, plus the accounting that must balance.

`build_bucket` is the whole flattening pipeline of both APIs as one pure function: the
rows of every id whose records a batch holds. The ingest calls it bucket by bucket
(flows/store/rebuild.py: all records on a full build, every record of the ids a batch
touched on an incremental one), passing in what crosses buckets (`Lookups`);
`build_tables` calls it once over a whole batch, with the accounting, for the tests and
the oracles. A row depends only on the records of its own id and on those lookups (an
Assistants step's run `model`; a Responses call's chosen output and a response's
thread), which is why recomputing the touched ids is enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from steplens.transforms import billing, deltas, runs, schemas, steps
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.responses import tables as responses

# The record frames each part of a bucket is built from (and keyed by: run, step,
# response id); the storage reads a bucket's records frame by frame (flows/store/records.py).
RUN_FRAMES = ("run_records",)
STEP_FRAMES = ("step_records", "tool_call_records", "delta_events", "delta_calls",
               "delta_outputs")
RESPONSE_FRAMES = ("response_records", "response_items", "response_events")

# The accounting (docs/ingest.md, "Accounting"), declared once: what is counted, over a
# whole build here and over the warehouse in the ingest summary and `steplens check`
# (flows/store/summary.py); `balance` derives the rest, and `records_read = kept +
# superseded + rejected + skipped` must hold.
COUNTS = ("lines_read", "records_read", "step_records", "run_records", "delta_events",
          "rejected", "skipped", "runs", "responses", "responses_kept",
          "responses_superseded", "steps", "steps_with_record", "deltas_applied",
          "billing_records", "billing_rows")
DERIVED = ("kept", "superseded", "balanced")
TOTALS = (*COUNTS, *DERIVED)


@dataclass(frozen=True)
class Lookups:
    """What a bucket's rows take from rows outside the bucket. None: from the bucket's
    own records (a whole build holds them all)."""

    models: pl.DataFrame | None = None  # (run_id, model) of Assistants runs: a step's model
    answers: pl.DataFrame | None = None  # `responses.ANSWERS`: a call's chosen output
    threads: pl.DataFrame | None = None  # `responses.THREADS`: a response's thread


@dataclass
class BucketTables:
    """The rows of the keyed tables for one bucket's ids, both APIs (the `api` column
    says which)."""

    runs: pl.DataFrame
    steps: pl.DataFrame
    tool_calls: pl.DataFrame
    usage: pl.DataFrame
    step_sources: pl.DataFrame
    response_sources: pl.DataFrame

    def keyed(self) -> dict[str, pl.DataFrame]:
        """The frames by table name (`schemas.KEYED`; `_response_outputs` is keyed by call,
        not by a bucket's ids: `responses.output_copies`)."""
        return {"runs": self.runs, "steps": self.steps, "tool_calls": self.tool_calls,
                "usage": self.usage, "_step_sources": self.step_sources,
                "_response_sources": self.response_sources}


@dataclass
class Tables(BucketTables):
    """A whole build: the public tables and how every record read was accounted for."""

    rejects: pl.DataFrame
    skipped: pl.DataFrame
    response_outputs: pl.DataFrame
    billing_usage: pl.DataFrame
    billing_costs: pl.DataFrame
    accounting: dict[str, int] = field(default_factory=dict)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"runs": self.runs, "steps": self.steps, "tool_calls": self.tool_calls,
                "usage": self.usage, "rejects": self.rejects,
                "billing_usage": self.billing_usage, "billing_costs": self.billing_costs}


def run_models(runs_table: pl.LazyFrame) -> pl.LazyFrame:
    """(run_id, model) of the runs that name a model: all a step takes from its run."""
    return runs_table.select("run_id", "model").filter(pl.col("model").is_not_null())


def _holds(batch: ParsedBatch, frames: tuple[str, ...]) -> bool:
    return any(getattr(batch, name).height for name in frames)


def _steps(batch: ParsedBatch, models: pl.DataFrame) -> tuple[pl.DataFrame, ...]:
    """`steps`, `tool_calls`, `usage`, `_step_sources` of every step id in `batch`."""
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
        models,
    )
    steps_table = steps.steps(rows, calls, models)
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
    return steps_table, calls, steps.usage(rows, steps_table), sources


def _responses(batch: ParsedBatch, lookups: Lookups) -> responses.ResponsesTables:
    answers = (lookups.answers if lookups.answers is not None
               else responses.answers(responses.output_copies(batch.response_outputs)))
    return responses.build(batch.response_records, batch.response_items,
                           batch.response_events, answers, lookups.threads)


def _either(ours: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """Both APIs' rows of a table (a bucket of the ingest holds one API's records)."""
    if theirs.height == 0:
        return ours
    return theirs if ours.height == 0 else pl.concat([ours, theirs])


def _empty(*tables: pl.Schema) -> tuple[pl.DataFrame, ...]:
    return tuple(schemas.empty(t) for t in tables)


def build_bucket(batch: ParsedBatch, lookups: Lookups = Lookups()) -> BucketTables:
    """The rows of every id whose records `batch` holds (it must hold all the records of
    each), both APIs; what crosses ids comes from `lookups`.

    A part whose records the batch lacks is not built: its rows are none. (The ingest's
    buckets are of run, step or response ids, each holding only those records.)
    """
    run_rows = (runs.runs(runs.run_winners(batch.run_records)) if _holds(batch, RUN_FRAMES)
                else schemas.empty(schemas.RUNS))
    if _holds(batch, STEP_FRAMES):
        models = (lookups.models if lookups.models is not None
                  else run_models(run_rows.lazy()).collect())
        step_rows, calls, usage, step_sources = _steps(batch, models)
    else:
        step_rows, calls, usage, step_sources = _empty(
            schemas.STEPS, schemas.TOOL_CALLS, schemas.USAGE, schemas.STEP_SOURCES)
    if _holds(batch, RESPONSE_FRAMES):
        r = _responses(batch, lookups)
    else:
        r = responses.ResponsesTables(*_empty(schemas.RUNS, schemas.STEPS, schemas.TOOL_CALLS,
                                              schemas.USAGE, schemas.RESPONSE_SOURCES))
    return BucketTables(
        runs=_either(run_rows, r.runs), steps=_either(step_rows, r.steps),
        tool_calls=_either(calls, r.tool_calls), usage=_either(usage, r.usage),
        step_sources=step_sources, response_sources=r.sources)


def balance(counts: Mapping[str, int]) -> dict[str, int]:
    """`counts` (every one of `COUNTS`) with kept, superseded and whether they balance.

    Each run, step with a record, applied delta, Responses record kept (per response id
    and per record holding a tool output's winning copy) and billing row keeps one
    record; the rest of their records are superseded duplicates.
    """
    missing, extra = sorted(set(COUNTS) - set(counts)), sorted(set(counts) - set(COUNTS))
    if missing or extra:  # a count added in one place only: a bug, not bad input
        raise ValueError(f"accounting counts: missing {missing}, unexpected {extra}")
    out = {k: int(counts[k]) for k in COUNTS}
    out["kept"] = (out["runs"] + out["steps_with_record"] + out["deltas_applied"]
                   + out["responses_kept"] + out["billing_rows"])
    out["superseded"] = (
        out["run_records"] - out["runs"]
        + out["step_records"] - out["steps_with_record"]
        + out["delta_events"] - out["deltas_applied"]
        + out["responses_superseded"]
        + out["billing_records"] - out["billing_rows"]
    )
    out["balanced"] = int(
        out["records_read"] == out["kept"] + out["superseded"] + out["rejected"] + out["skipped"]
    )
    return out


def accounting(records: Mapping[str, int], lines_read: int, records_read: int,
               runs_table: pl.LazyFrame, step_sources: pl.LazyFrame,
               response_sources: pl.LazyFrame, response_outputs: pl.LazyFrame,
               billing_rows: int) -> dict[str, int]:
    """The balanced accounting of the records read and the tables built from them.

    `records`: rows per record frame (`ParsedBatch` names); `records_read` is counted
    apart (the parser counts it as it reads, the warehouse per segment), so that the
    sum is a check. Lazy: the ingest counts over a snapshot's files without loading them.
    """
    by_api = dict(runs_table.group_by("api").len().collect().iter_rows())
    sources = (step_sources.select(
        steps=pl.len(), steps_with_record=(pl.col("n_records") > 0).sum(),
        deltas_applied=pl.col("deltas_applied").sum()).collect().row(0, named=True))
    answered = (response_sources.select(pl.col("kept").sum(), pl.col("superseded").sum())
                .collect().row(0, named=True))
    copies_kept, copies_superseded = responses.output_accounting(
        response_outputs.select(*schemas.PROVENANCE, "is_winner").collect())
    return balance({
        "lines_read": lines_read,
        "records_read": records_read,
        "step_records": records["step_records"],
        "run_records": records["run_records"],
        "delta_events": records["delta_events"],
        "rejected": records["rejects"],
        "skipped": records["skipped"],
        "runs": by_api.get("assistants", 0),
        "responses": by_api.get("responses", 0),
        "responses_kept": int(answered["kept"] or 0) + copies_kept,
        "responses_superseded": int(answered["superseded"] or 0) + copies_superseded,
        "steps": sources["steps"],
        "steps_with_record": int(sources["steps_with_record"] or 0),
        "deltas_applied": int(sources["deltas_applied"] or 0),
        "billing_records": records["billing_usage_records"] + records["billing_costs_records"],
        "billing_rows": billing_rows,
    })


def build_tables(batch: ParsedBatch) -> Tables:
    """Every table from one batch of parsed records (a whole build in one bucket, both
    APIs), with the accounting: what the ingest writes for the same records."""
    copies = responses.output_copies(batch.response_outputs)
    built = build_bucket(batch, Lookups(answers=responses.answers(copies)))
    usage_bill = billing.usage_table(batch.billing_usage_records)
    costs_bill = billing.costs_table(batch.billing_costs_records)
    counted = {name: getattr(batch, name).height for name in ParsedBatch.FRAMES}
    return Tables(
        **vars(built),
        rejects=batch.rejects.sort("source_file", "line_no", "reason"),
        skipped=batch.skipped,
        response_outputs=copies,
        billing_usage=usage_bill,
        billing_costs=costs_bill,
        accounting=accounting(counted, batch.lines_read, batch.records_read,
                              built.runs.lazy(), built.step_sources.lazy(),
                              built.response_sources.lazy(), copies.lazy(),
                              usage_bill.height + costs_bill.height),
    )
