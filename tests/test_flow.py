"""End to end through Prefect: files in, snapshot and DuckDB views out."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from conftest import DATA
from polars.testing import assert_frame_equal

from flows import warehouse
from flows.ingest import ingest
from flows.sources import discover, parse_chunk, plan_chunks
from transforms.parse import ParsedBatch
from transforms.tables import build_tables

pytestmark = pytest.mark.flow

BAD_LINES = (
    b'{"id": "step_x", "object": "thread.run.step", "created_at": "2024-01-01"}\n'
    b"\n"
    b"not json at all\n"
    b'{"object": "thread.message", "id": "msg_1"}\n'
    b'{"id": "step_trunc", "object": "thread.run.st'
)


@pytest.fixture
def export_dir(tmp_path):
    src = tmp_path / "export"
    shutil.copytree(DATA / "real", src)
    (src / "bad.jsonl").write_bytes(BAD_LINES)
    return src


def expected_tables(export_dir):
    batches = [parse_chunk(c) for f in discover([export_dir]) for c in plan_chunks(f, 1 << 30)]
    return build_tables(ParsedBatch.concat(batches))


def test_ingest_flow_end_to_end(prefect_server, export_dir, tmp_path):
    wh = tmp_path / "wh"
    summary = ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    expected = expected_tables(export_dir)

    assert summary["balanced"] == 1
    assert summary["records_read"] == (summary["kept"] + summary["superseded"]
                                       + summary["rejected"] + summary["skipped"])
    assert summary["rejected"] == 3  # wrong-typed created_at, not JSON, truncated line
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        for name, frame in expected.frames().items():
            got = con.sql(f"select * from {name}").pl()
            sort = {"rejects": ["source_file", "line_no"], "runs": ["run_id"],
                    "tool_calls": ["step_id", "call_index"]}.get(name, ["step_id"])
            assert_frame_equal(got.sort(sort), frame.sort(sort), check_dtypes=False)
        rejects = con.sql("select line_no, reason from rejects order by line_no").fetchall()
        assert [r[0] for r in rejects] == [1, 3, 5]
        assert "created_at" in rejects[0][1]
        types = dict(con.sql("select column_name, column_type from (describe steps)").fetchall())
        assert types["created_at"] == "TIMESTAMP" and types["latency_s"] == "DOUBLE"
        assert types["day"] == "DATE"
        views = {r[0] for r in con.sql("select view_name from duckdb_views()").fetchall()}
        assert {"step_latency", "failure_rate", "token_usage", "tool_stats"} <= views


def test_reingest_gives_the_same_tables_and_views_work_from_anywhere(
        prefect_server, export_dir, tmp_path, monkeypatch):
    wh = tmp_path / "wh"
    ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        first = {n: con.sql(f"select * from {n}").pl() for n in ("steps", "runs", "tool_calls")}
    ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    monkeypatch.chdir("/")
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        for name, frame in first.items():
            assert_frame_equal(con.sql(f"select * from {name}").pl(), frame)
    snapshots = [p for p in (wh / warehouse.SNAPSHOTS).iterdir() if not p.name.startswith(".")]
    assert len(snapshots) == 2  # the previous snapshot stays for readers mid-query


def test_split_file_gives_the_same_rows_and_line_numbers(tmp_path):
    lines = []
    for path in sorted((DATA / "real").glob("*/*.jsonl")):
        lines += path.read_bytes().splitlines()
    lines.insert(500, b"{broken")
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n".join(lines) + b"\n")
    whole = build_tables(ParsedBatch.concat([parse_chunk(c) for c in plan_chunks(big, 1 << 30)]))
    from flows.ingest import _renumber

    chunks = plan_chunks(big, 64 * 1024)
    assert len(chunks) > 5
    split = build_tables(ParsedBatch.concat(_renumber(chunks, [parse_chunk(c) for c in chunks])))
    for name, frame in whole.frames().items():
        assert_frame_equal(split.frames()[name], frame)
    assert split.rejects["line_no"].to_list() == [501]
    assert split.accounting == whole.accounting
