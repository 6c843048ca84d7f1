"""End to end through Prefect: files in, snapshot and DuckDB views out."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from polars.testing import assert_frame_equal

from steplens.flows.ingest import ingest
from steplens.flows.io.inputs import discover, parse_chunk
from steplens.flows.store import snapshots
from steplens.flows.store.records import Range
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.tables import build_tables
from tests.support.paths import DATA

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
    batches = []
    for f in discover([export_dir]):
        from steplens.flows.store.manifest import file_kind

        _, gz, sse, doc = file_kind(f)
        batches.append(parse_chunk(Range(str(f), 0, -1, 1, gz, sse, doc).chunk()))
    return build_tables(ParsedBatch.concat(batches))


def test_ingest_flow_end_to_end(prefect_server, export_dir, tmp_path):
    wh = tmp_path / "wh"
    summary = ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    expected = expected_tables(export_dir)
    for key in ("records_read", "kept", "superseded", "rejected", "skipped"):
        assert summary[key] == expected.accounting[key], key

    assert summary["balanced"] == 1
    assert summary["records_read"] == (summary["kept"] + summary["superseded"]
                                       + summary["rejected"] + summary["skipped"])
    assert summary["rejected"] == 3  # wrong-typed created_at, not JSON, truncated line
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        for name, frame in expected.frames().items():
            # cost_usd exists only in the views (transforms/sql/priced/)
            got = con.sql(f"select * from {name}").pl().drop("cost_usd", strict=False)
            sort = {"rejects": ["source_file", "line_no"], "runs": ["run_id"],
                    "tool_calls": ["step_id", "call_index"],
                    "billing_usage": ["start_time"], "billing_costs": ["start_time"]
                    }.get(name, ["step_id"])
            assert_frame_equal(got.sort(sort), frame.sort(sort), check_dtypes=False)
        rejects = con.sql("select line_no, reason from rejects order by line_no").fetchall()
        assert [r[0] for r in rejects] == [1, 3, 5]
        assert "created_at" in rejects[0][1]
        types = dict(con.sql("select column_name, column_type from (describe steps)").fetchall())
        assert types["created_at"] == "TIMESTAMP" and types["latency_s"] == "DOUBLE"
        assert types["day"] == "DATE"
        views = {r[0] for r in con.sql("select view_name from duckdb_views()").fetchall()}
        assert {"step_latency", "failure_rate", "token_usage", "tool_stats"} <= views


def test_rerun_is_a_no_op_and_full_refresh_gives_the_same_tables(
        prefect_server, export_dir, tmp_path, monkeypatch):
    wh = tmp_path / "wh"
    ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        first = {n: con.sql(f"select * from {n}").pl() for n in ("steps", "runs", "tool_calls")}
    again = ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    assert again["no_op"] and again["batch"]["records_read"] == 0
    assert again["files_unchanged"] == again["files"]
    refreshed = ingest(paths=[str(export_dir)], warehouse_dir=str(wh), full_refresh=True)
    assert refreshed["records_read"] == again["records_read"]
    monkeypatch.chdir("/")
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        for name, frame in first.items():
            assert_frame_equal(con.sql(f"select * from {name}").pl(), frame)
    kept = [p for p in (wh / snapshots.SNAPSHOTS).iterdir() if not p.name.startswith(".")]
    assert len(kept) == 2  # the previous snapshot stays for readers mid-query


def test_metric_view_counts_are_bigint(prefect_server, export_dir, tmp_path):
    wh = tmp_path / "wh"
    ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        for view in ("step_latency", "failure_rate", "token_usage", "tool_stats",
                     "failure_rate_by(model)", "step_latency_by(type)", "token_usage_by(day)"):
            types = con.sql(f"select column_name, column_type from (describe from {view})")
            assert "HUGEINT" not in {t for _, t in types.fetchall()}, view


def test_a_moved_warehouse_works_after_the_same_ingest(prefect_server, export_dir, tmp_path):
    wh = tmp_path / "wh"
    first = ingest(paths=[str(export_dir)], warehouse_dir=str(wh))
    moved = tmp_path / "elsewhere" / "wh"
    moved.parent.mkdir()
    shutil.move(wh, moved)
    again = ingest(paths=[str(export_dir)], warehouse_dir=str(moved))
    assert again["no_op"] and again["tables"] == first["tables"]
    with duckdb.connect(str(moved / "steplens.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from steps").fetchall()[0][0] == first["tables"]["steps"]
        assert con.sql("select steplens_root()").fetchall()[0][0] == str(moved)


def test_a_warehouse_inside_the_input_folder_is_not_read_as_input(prefect_server, tmp_path):
    folder = tmp_path / "data"
    (folder / "export").mkdir(parents=True)
    (folder / "export" / "a.jsonl").write_bytes(
        (DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl").read_bytes())
    first = ingest(paths=[str(folder)], warehouse_dir=str(folder / "warehouse"))
    again = ingest(paths=[str(folder)], warehouse_dir=str(folder / "warehouse"))
    assert first["files"] == again["files"] == 1
    assert again["no_op"]
