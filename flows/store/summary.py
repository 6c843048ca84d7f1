"""The ingest summary: warehouse-wide accounting that balances, and how it is shown.

`records_read = kept + superseded + rejected + skipped` over everything the warehouse
holds (docs/ingest.md, "Accounting"), plus what one batch read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from steplens.flows.store import records, snapshots
from steplens.flows.store.integrity import Check, Finding
from steplens.flows.store.manifest import Action, Manifest
from steplens.flows.store.records import UnitResult
from steplens.flows.store.snapshots import Change
from steplens.transforms import schemas
from steplens.transforms.tables import TOTALS, accounting

# Segment rows that are records (one each): the Assistants frames, the Responses API
# response objects / lifecycle events and other stream events, every reject and skip;
# plus the records holding tool-output copies (`SegmentInfo.output_records`).
COUNTED = ("step_records", "run_records", "delta_events", "response_records",
           "response_events", "billing_usage_records", "billing_costs_records", "rejects",
           "skipped")


def _counted(info: records.SegmentInfo) -> dict[str, int]:
    return {**{k: info.rows.get(k, 0) for k in COUNTED}, "output_records": info.output_records}


def warehouse_totals(root: Path, manifest: Manifest, snapshot: Path | None = None
                     ) -> dict[str, int]:
    """Accounting over everything the warehouse holds; it must balance. `snapshot`: the
    snapshot's directory (a staged one, before it is published), else the one in use."""
    snap = snapshot if snapshot is not None else snapshots.current_snapshot(root)
    rows = Counter()
    for info in manifest.segments.values():
        rows.update(_counted(info))
    tables = {t: snapshots.read_table(snap, t, spec.schema).select(pl.len()).collect().item()
              for t, spec in schemas.KEYED.items() if spec.public}
    tables["rejects"] = rows["rejects"]
    for table in snapshots.UNKEYED:
        tables[table] = snapshots.read_whole(snap, table).select(pl.len()).collect().item()
    totals = accounting(
        rows,
        lines_read=sum(e.consumed_lines + (1 if e.tail_line else 0)
                       for e in manifest.files.values()),
        records_read=sum(rows.values()),
        runs_table=snapshots.read_table(snap, "runs", schemas.RUNS),
        step_sources=snapshots.read_table(snap, "_step_sources", schemas.STEP_SOURCES),
        response_sources=snapshots.read_table(snap, "_response_sources",
                                              schemas.RESPONSE_SOURCES),
        response_outputs=snapshots.read_table(snap, "_response_outputs",
                                              schemas.RESPONSE_OUTPUT_COPIES),
        billing_rows=sum(tables[t] for t in snapshots.UNKEYED if t.startswith("billing_")))
    totals["tables"] = tables
    return totals


def skipped_by_shape(root: Path, manifest: Manifest) -> dict[str, int]:
    counts = (records.scan(root, manifest.segments, "skipped").group_by("shape").len()
              .sort("shape").collect())
    return dict(zip(counts["shape"], counts["len"], strict=True))


def summary_markdown(summary: dict) -> str:
    keys = ("files", "files_new", "files_appended", "files_replaced", "files_unchanged",
            "lines_read", "records_read", "kept", "superseded", "rejected", "skipped",
            "balanced", "seconds", "mb_per_s")
    lines = ["| measure | value |", "|---|---|",
             *(f"| {k} | {summary.get(k)} |" for k in keys)]
    lines += ["", "| table | rows |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary["tables"].items()]
    if summary.get("skipped_by_shape"):
        lines += ["", "| skipped shape | records |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary["skipped_by_shape"].items()]
    return "\n".join(lines)


def rows_written(change: Change) -> int:
    """Rows a change writes (its staged rows: every id recomputed that still has a row)."""
    return change.rows.select(pl.len()).collect().item()


def batch_counts(results: list[UnitResult]) -> dict[str, int]:
    rows = Counter()
    for r in results:
        for info in r.infos:
            rows.update(_counted(info))
    return {
        "lines_read": sum(r.lines_read for r in results),
        "bytes_read": sum(r.bytes_read for r in results),
        "records_read": sum(rows.values()),
        "rejected": rows["rejects"],
        "skipped": rows["skipped"],
    }


# The plan's action per file (flows/store/manifest.py) -> the summary's count of it.
FILE_ACTIONS: dict[Action, str] = {"new": "files_new", "append": "files_appended",
                                   "replace": "files_replaced", "unchanged": "files_unchanged"}


def assemble(root: Path, manifest: Manifest, prev: Path | None, files: int,
             actions: Counter, batch: dict, no_op: bool, seconds: float,
             snapshot: Path | None = None) -> dict:
    """The ingest summary: files by action, the warehouse totals, what this batch read.

    A no-op changed nothing, so the last summary's warehouse totals still hold and are
    reused (counting them again reads every segment's footer). `snapshot`: the staged
    snapshot the totals are counted over (see `snapshots.publish`)."""
    last = snapshots.read_json(prev, snapshots.SUMMARY) if no_op else None
    if last and all(k in last for k in (*TOTALS, "tables", "skipped_by_shape")):
        totals = {k: last[k] for k in (*TOTALS, "tables")}
        shapes = last["skipped_by_shape"]
    else:
        totals = warehouse_totals(root, manifest, snapshot)
        shapes = skipped_by_shape(root, manifest)
    return {
        "files": files,  # given to this run
        "warehouse_files": len(manifest.files),  # held by the warehouse
        **{key: actions[action] for action, key in FILE_ACTIONS.items()},
        **totals,
        "batch": batch,
        "skipped_by_shape": shapes,
        "seconds": round(seconds, 3),
        "mb_per_s": round(batch["bytes_read"] / 1e6 / seconds, 2) if seconds else None,
        "no_op": no_op,
    }


def accounting_check(root: Path, snapshot: Path) -> Check:
    """`steplens check`'s accounting line, counted again from the snapshot's tables and
    record segments, not read from `summary.json`: a summary lost or never written (a
    kill, a full disk) is no false alarm, and one that was edited fools nobody."""
    head = snapshots.read_json(snapshot, snapshots.MANIFEST)
    totals = warehouse_totals(root, Manifest.from_json(head), snapshot)
    what = ("accounting balances (records = kept + superseded + rejected + skipped: "
            f"{totals['records_read']} = {totals['kept']} + {totals['superseded']} + "
            f"{totals['rejected']} + {totals['skipped']})")
    return Check(what, [] if totals["balanced"] else [Finding(
        snapshot / snapshots.MANIFEST, f"its records do not balance: {totals}")])
