"""Incremental ingestion: appends, rewrites, late completions, crashes, concurrency.

Each scenario ends by comparing the warehouse with a clean ingest of the same final
input into a fresh warehouse: the tables and the accounting must be identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.flows.errors import IngestRunning
from steplens.flows.ingest import ingest
from steplens.flows.store import snapshots
from tests.support.paths import DATA

pytestmark = pytest.mark.flow

KEYS = {"runs": ["run_id"], "steps": ["step_id"], "tool_calls": ["step_id", "call_index"],
        "usage": ["step_id"], "rejects": ["source_file", "line_no", "reason"]}
TOTALS = ("records_read", "kept", "superseded", "rejected", "skipped", "lines_read")


def real_lines(name: str) -> list[bytes]:
    return (DATA / "real" / name).read_bytes().splitlines(keepends=True)


def tables(wh: Path) -> dict[str, pl.DataFrame]:
    snap = snapshots.current_snapshot(wh)
    return {t: pl.read_parquet(snap / t / "**" / "*.parquet").sort(k) for t, k in KEYS.items()}


def assert_like_clean_run(wh: Path, export: Path, tmp_path: Path, summary: dict) -> None:
    clean_wh = tmp_path / f"clean-{time.time_ns()}"
    clean = ingest(paths=[str(export)], warehouse_dir=str(clean_wh))
    for name, frame in tables(clean_wh).items():
        assert_frame_equal(tables(wh)[name], frame, check_row_order=False)
    for key in TOTALS:
        assert summary[key] == clean[key], key
    assert summary["balanced"] == 1


@pytest.fixture
def export(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    return d


def test_appended_tail_is_all_that_is_read(prefect_server, export, tmp_path):
    lines = real_lines("openai-dotnet/steps_and_runs.jsonl")
    f = export / "polls.jsonl"
    f.write_bytes(b"".join(lines[:60]))
    wh = tmp_path / "wh"
    ingest(paths=[str(export)], warehouse_dir=str(wh))
    with open(f, "ab") as out:
        out.write(b"".join(lines[60:]))
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert summary["files_appended"] == 1
    assert summary["batch"]["lines_read"] == len(lines) - 60
    assert summary["batch"]["bytes_read"] == sum(map(len, lines[60:]))
    assert_like_clean_run(wh, export, tmp_path, summary)


def test_rewritten_file_replaces_its_old_rows(prefect_server, export, tmp_path):
    lines = real_lines("openai-dotnet/steps_and_runs.jsonl")
    other = real_lines("ruby-openai/steps_and_runs.jsonl")
    (export / "a.jsonl").write_bytes(b"".join(lines))
    (export / "b.jsonl").write_bytes(b"".join(other))
    wh = tmp_path / "wh"
    first = ingest(paths=[str(export)], warehouse_dir=str(wh))
    (export / "a.jsonl").write_bytes(b"".join(lines[::3]))  # shorter, different content
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert summary["files_replaced"] == 1 and summary["files_unchanged"] == 1
    assert summary["tables"]["steps"] < first["tables"]["steps"]
    assert_like_clean_run(wh, export, tmp_path, summary)


def test_late_completion_of_an_in_progress_step(prefect_server, export, tmp_path):
    step = json.loads((DATA / "examples" / "step_tool_calls_function_completed.json").read_text())
    running = dict(step, status="in_progress", completed_at=None, usage=None)
    (export / "day1.jsonl").write_text(json.dumps(running) + "\n")
    wh = tmp_path / "wh"
    ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert tables(wh)["steps"]["status"].to_list() == ["in_progress"]
    (export / "day2.jsonl").write_text(json.dumps(step) + "\n")
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert summary["files_new"] == 1 and summary["files_unchanged"] == 1
    row = tables(wh)["steps"].row(0, named=True)
    assert (row["status"], row["latency_s"]) == ("completed", 6.0)
    assert summary["superseded"] == 1
    assert_like_clean_run(wh, export, tmp_path, summary)


def test_unterminated_last_line_is_read_again_when_it_grows(prefect_server, export, tmp_path):
    lines = real_lines("ruby-openai/steps_and_runs.jsonl")
    f = export / "live.jsonl"
    last = lines[10]
    f.write_bytes(b"".join(lines[:10]) + last[:40])  # a writer mid-line
    wh = tmp_path / "wh"
    first = ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert first["rejected"] == 1
    with open(f, "ab") as out:
        out.write(last[40:] + b"".join(lines[11:20]))
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert summary["rejected"] == 0
    assert summary["files_appended"] == 1
    assert_like_clean_run(wh, export, tmp_path, summary)


def _api_env(**extra: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()), **extra)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _cli(wh: Path, export: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "steplens.flows.cli", "ingest", str(export), "-w", str(wh)],
        env=_api_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


KILL_POINTS = ("after_parse", "after_remove", "publish_partial", "publish_renamed",
               "publish_swapped")


# Every point in a flow run; two of them in a direct run (flows/pipeline.py: the same
# steps, no Prefect), which must be just as safe.
@pytest.mark.parametrize("point,orchestration", [
    *((p, "prefect") for p in KILL_POINTS), ("after_remove", "direct"),
    ("publish_renamed", "direct")])
def test_killed_run_leaves_a_readable_warehouse_and_the_next_run_completes(
        prefect_server, export, tmp_path, point, orchestration):
    lines = real_lines("openai-dotnet/steps_and_runs.jsonl")
    (export / "a.jsonl").write_bytes(b"".join(lines[:70]))
    (export / "b.jsonl").write_bytes(b"".join(real_lines("ruby-openai/steps_and_runs.jsonl")))
    wh = tmp_path / "wh"
    ingest(paths=[str(export)], warehouse_dir=str(wh))
    before = tables(wh)
    with open(export / "a.jsonl", "ab") as out:  # an append ...
        out.write(b"".join(lines[70:]))
    (export / "b.jsonl").write_bytes(b"".join(real_lines("ruby-openai/steps_and_runs.jsonl")[::2]))

    proc = _cli(wh, export, STEPLENS_FAULT=f"kill@{point}",
                STEPLENS_ORCHESTRATION=orchestration)
    proc.communicate(timeout=120)
    assert proc.returncode == -9

    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        n = con.sql("select count(*) from steps").fetchall()[0][0]
    after_kill = tables(wh)
    if point == "publish_swapped":  # the new snapshot was already in place
        assert n == after_kill["steps"].height
    else:
        assert n == before["steps"].height
        for name, frame in before.items():
            assert_frame_equal(after_kill[name], frame)

    summary = ingest(paths=[str(export)], warehouse_dir=str(wh))
    assert_like_clean_run(wh, export, tmp_path, summary)
    leftovers = [p.name for p in (wh / snapshots.SNAPSHOTS).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_second_concurrent_ingest_stops_or_waits(prefect_server, export, tmp_path):
    (export / "a.jsonl").write_bytes(b"".join(real_lines("openai-dotnet/steps_and_runs.jsonl")))
    wh = tmp_path / "wh"
    holder = _cli(wh, export, STEPLENS_FAULT="sleep@after_parse:8")
    deadline = time.time() + 60
    while not (wh / snapshots.LOCK).exists() or not (wh / snapshots.LOCK).read_text():
        assert time.time() < deadline and holder.poll() is None
        time.sleep(0.2)
    with pytest.raises(IngestRunning, match="another steplens ingest"):
        ingest(paths=[str(export)], warehouse_dir=str(wh))
    summary = ingest(paths=[str(export)], warehouse_dir=str(wh), wait=True)
    assert holder.wait(timeout=60) == 0
    assert summary["no_op"]  # the first ingest did the work while the second waited
    assert_like_clean_run(wh, export, tmp_path, summary)


def test_rebuild_in_many_buckets_gives_the_same_tables(prefect_server, export, tmp_path,
                                                       monkeypatch):
    """A large batch is rebuilt bucket by bucket (bounded memory): same tables as one go."""
    from steplens.flows.store import rebuild
    from tests.support.generate import generate_export

    generate_export(export, runs=40, seed=11)
    one = tmp_path / "one"
    ingest(paths=[str(export)], warehouse_dir=str(one))
    monkeypatch.setattr(rebuild, "ROWS_PER_BUCKET", 30)
    splits = []  # a full build of that many buckets splits the records by bucket once
    split_by_bucket = rebuild.records.split_by_bucket
    monkeypatch.setattr(rebuild.records, "split_by_bucket",
                        lambda *a: splits.append(a[3]) or split_by_bucket(*a))
    many = tmp_path / "many"
    summary = ingest(paths=[str(export)], warehouse_dir=str(many))
    assert len(splits) == 2 and min(splits) >= rebuild.SPLIT_BUCKETS, (splits, summary)
    for name, frame in tables(one).items():
        assert_frame_equal(tables(many)[name], frame, check_row_order=False)
    assert summary["balanced"] == 1
    with open(export / "runs_and_steps.jsonl", "ab") as out:  # and incrementally
        out.write((DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl").read_bytes())
    ingest(paths=[str(export)], warehouse_dir=str(many))
    ingest(paths=[str(export)], warehouse_dir=str(one))
    for name, frame in tables(one).items():
        assert_frame_equal(tables(many)[name], frame, check_row_order=False)


def test_a_full_disk_while_records_are_split_leaves_the_warehouse_as_it_was(
        prefect_server, export, tmp_path, monkeypatch):
    """The disk fills while a large full build splits its records by bucket: the ingest
    fails, the published snapshot and its rows stay, the split is removed, and the next
    ingest builds the same tables."""
    import errno

    from steplens.flows.store import rebuild, records
    from steplens.flows.store.keyed_parquet import KeyedParquet
    from tests.support.generate import generate_export

    generate_export(export, runs=40, seed=11)
    wh = tmp_path / "wh"
    ingest(paths=[str(export)], warehouse_dir=str(wh))
    before, published = tables(wh), snapshots.current_snapshot(wh)
    written = []

    class FillsUp(KeyedParquet):  # the split's files only
        def append(self, key, frame):
            written.append(1)
            if len(written) > 5:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().append(key, frame)

    monkeypatch.setattr(rebuild, "ROWS_PER_BUCKET", 30)
    monkeypatch.setattr(records, "KeyedParquet", FillsUp)
    with pytest.raises(OSError, match="No space left"):
        ingest(paths=[str(export)], warehouse_dir=str(wh), full_refresh=True)
    assert len(written) == 6  # it failed inside the split
    assert snapshots.current_snapshot(wh) == published
    for name, frame in before.items():
        assert_frame_equal(tables(wh)[name], frame)
    assert not (wh / ".staging" / rebuild.SPLIT).exists()
    monkeypatch.setattr(records, "KeyedParquet", KeyedParquet)
    ingest(paths=[str(export)], warehouse_dir=str(wh), full_refresh=True)
    assert snapshots.current_snapshot(wh) != published
    for name, frame in before.items():
        assert_frame_equal(tables(wh)[name], frame)
