"""Parsing started before the flow run (flows/prefetch.py) gives the same warehouse."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.flows import prefetch
from steplens.flows.ingest import ingest
from steplens.flows.preflight import input_files
from steplens.flows.settings import Settings
from steplens.flows.store import snapshots
from tests.support.paths import SAMPLE

pytestmark = pytest.mark.flow

KEYS = {"runs": ["run_id"], "steps": ["step_id"], "tool_calls": ["step_id", "call_index"],
        "usage": ["step_id"], "rejects": ["source_file", "line_no", "reason"]}


def tables(wh) -> dict[str, pl.DataFrame]:
    snap = snapshots.current_snapshot(wh)
    return {t: pl.read_parquet(snap / t / "**" / "*.parquet").sort(k) for t, k in KEYS.items()}


def test_a_claimed_prefetch_gives_the_tables_of_a_plain_ingest(prefect_server, tmp_path,
                                                               monkeypatch):
    export = tmp_path / "export"
    shutil.copytree(SAMPLE, export)
    plain = tmp_path / "plain"
    ingest(paths=[str(export)], warehouse_dir=str(plain))

    monkeypatch.setattr(prefetch, "PARALLEL_MIN_BYTES", 0)  # the sample is small
    claimed = []
    real_claim = prefetch.claim
    monkeypatch.setattr(prefetch, "claim", lambda *a: claimed.append(real_claim(*a))
                        or claimed[-1])
    early = tmp_path / "early"
    settings = Settings.from_env(warehouse=early, workers=2, chunk_bytes=64 * 1024).resolved()
    started = prefetch.start(input_files([str(export)], settings.warehouse), settings, False)
    assert started is not None and len(started.units) > 1
    ingest(paths=[str(export)], warehouse_dir=str(early), workers=2, chunk_mb=1)
    assert claimed and claimed[0] is None  # other chunk size: planned differently, dropped

    again = tmp_path / "again"
    started = prefetch.start(input_files([str(export)], again), Settings.from_env(
        warehouse=again, workers=2, chunk_bytes=1024 * 1024).resolved(), False)
    assert started is not None and len(started.units) > 1
    summary = ingest(paths=[str(export)], warehouse_dir=str(again), workers=2, chunk_mb=1)
    assert claimed[-1] is started  # the flow's parse task took the early work over
    assert summary["balanced"]
    for name, frame in tables(plain).items():
        assert_frame_equal(tables(again)[name], frame)
    for name, frame in tables(plain).items():
        assert_frame_equal(tables(early)[name], frame)
