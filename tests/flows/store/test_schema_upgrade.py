"""A warehouse built before a column existed (here `steps.phase`, issue 21) is upgraded by
the next ingest: `snapshots.outdated` sees the table lacks a column of the registry and
the ingest rebuilds every table from the record segments it holds, and reads the inputs
given again, so the column is filled as a clean ingest fills it; an input no longer at
hand keeps its rows (docs/fidelity.md, "Message phase (Responses API)")."""

from __future__ import annotations

import json
import shutil

import duckdb
import orjson
import polars as pl
from polars.testing import assert_frame_equal

from steplens.flows.store import integrity, snapshots
from tests.support.ingest import ingest_direct
from tests.support.paths import REAL_RESPONSES

RECORDING = REAL_RESPONSES / "pydantic-ai-phase-live" / "responses.jsonl"
# a recording without any phase: its rows are the same with or without the column
OTHER = REAL_RESPONSES / "openai-dotnet-functioncallworks" / "responses.jsonl"


def _as_before_phase(wh) -> None:
    """Rewrite the current snapshot as a steplens without `phase` wrote it: its `steps`
    files and its record segments' `response_items` without the column, the inventory
    (and `HEAD`'s digest of it) describing those files."""
    snap = snapshots.current_snapshot(wh)
    for path in [*snap.glob("steps/*/*.parquet"),
                 *wh.glob(f"{snapshots.RECORDS}/*/response_items.parquet")]:
        pl.read_parquet(path).drop("phase").write_parquet(path)
    manifest = json.loads((snap / snapshots.MANIFEST).read_text())
    integrity.write_inventory(wh, snap, manifest)
    shutil.copyfile(snap / snapshots.INVENTORY, wh / snapshots.INVENTORIES / f"{snap.name}.json")
    snapshots.point_current(wh, snap)


def _steps(wh) -> pl.DataFrame:
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        return con.sql("select * from steps order by step_id").pl()


def test_a_warehouse_without_the_phase_column_is_rebuilt_whole(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(RECORDING, src / "responses.jsonl")
    wh = tmp_path / "wh"
    ingest_direct([src], wh)
    _as_before_phase(wh)
    integrity.verify(wh)  # a consistent older warehouse, not a damaged one
    assert snapshots.outdated(snapshots.current_snapshot(wh))
    summary = ingest_direct([src], wh)
    assert summary["batch"]["lines_read"] > 0  # read again, not a no-op
    assert not snapshots.outdated(snapshots.current_snapshot(wh))
    clean = tmp_path / "clean"
    ingest_direct([src], clean)
    got = _steps(wh)
    assert_frame_equal(got, _steps(clean))
    # independently: the message items' phases as recorded (plain Python)
    recorded = {i["id"]: i.get("phase") for line in RECORDING.read_bytes().splitlines()
                for i in orjson.loads(line).get("output") or () if i["type"] == "message"}
    assert sorted(recorded.values()) == ["commentary", "final_answer"]
    assert dict(got.filter(pl.col("type") == "message").select("step_id", "phase")
                .iter_rows()) == recorded


def test_an_upgrade_keeps_the_rows_of_inputs_no_longer_at_hand(tmp_path):
    """The archive of one file is gone when the upgrade runs: its rows stay (the tables
    are rebuilt from the segments), the file still given is read again (phase filled)."""
    src, gone = tmp_path / "in", tmp_path / "gone"
    src.mkdir()
    gone.mkdir()
    shutil.copy(RECORDING, src / "responses.jsonl")
    shutil.copy(OTHER, gone / "other.jsonl")
    assert b'"phase"' not in OTHER.read_bytes()
    wh = tmp_path / "wh"
    ingest_direct([src, gone], wh)
    clean_steps = _steps(wh)
    _as_before_phase(wh)
    assert snapshots.outdated(snapshots.current_snapshot(wh))
    shutil.rmtree(gone)  # the archive cannot be fetched again
    summary = ingest_direct([src], wh)
    assert not snapshots.outdated(snapshots.current_snapshot(wh))
    assert summary["balanced"]
    got = _steps(wh)
    other_ids = {i["id"] for line in OTHER.read_bytes().splitlines()
                 for i in orjson.loads(line).get("output") or ()}
    assert other_ids and other_ids <= set(got["step_id"])  # nothing lost
    assert_frame_equal(got, clean_steps)  # phase filled again where the input is at hand
