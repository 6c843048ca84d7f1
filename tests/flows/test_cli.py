"""The `steplens` command: happy path and one clear line for each user mistake."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from tests.support.paths import DATA

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, prefect_server):
    wh = tmp_path_factory.mktemp("cli") / "wh"
    result = run("ingest", str(DATA / "real"), "--warehouse", str(wh))
    assert result.exit_code == 0, result.output
    assert "ingest summary" in result.output
    # the closing hints repeat the user's --warehouse, so they work when pasted
    assert f'steplens report --warehouse {wh}' in result.output
    return wh


@pytest.mark.flow
def test_report_prints_every_metric_view(warehouse):
    result = run("report", "--all", "--warehouse", str(warehouse))
    assert result.exit_code == 0
    for view in ("step_latency", "failure_rate", "token_usage", "tool_stats"):
        assert view in result.output


@pytest.mark.flow
def test_sql_formats(warehouse):
    query = "select count(*) as n from steps"
    as_json = json.loads(run("sql", query, "-w", str(warehouse), "--format", "json").output)
    as_csv = list(csv.reader(io.StringIO(run("sql", query, "-w", str(warehouse),
                                              "-f", "csv").output)))
    assert as_csv[0] == ["n"]
    assert int(as_csv[1][0]) == as_json[0]["n"] > 0


@pytest.mark.flow
def test_bad_sql_is_one_line(warehouse):
    result = run("sql", "select nope from steps", "-w", str(warehouse))
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


@pytest.mark.flow
def test_a_duckdb_file_held_for_writing_elsewhere_does_not_block_reads(warehouse):
    """`sql` and `report` define the views in memory: another process writing
    steplens.duckdb (a user's DuckDB session, an ingest) does not lock them out."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(warehouse / "steplens.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run("sql", "select count(*) as n from steps", "-w", str(warehouse),
                     "-f", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)[0]["n"] > 0
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)


def test_missing_path_is_one_line(tmp_path):
    result = run("ingest", str(tmp_path / "nope"), "-w", str(tmp_path / "wh"))
    assert result.exit_code == 1
    assert "no such file or directory" in result.output
    assert "Traceback" not in result.output


@pytest.mark.flow
def test_no_input_files_is_one_line(tmp_path, prefect_server):
    (tmp_path / "empty").mkdir()
    result = run("ingest", str(tmp_path / "empty"), "-w", str(tmp_path / "wh"))
    assert result.exit_code == 1
    assert "no input files" in result.output


def test_report_without_warehouse(tmp_path):
    result = run("report", "-w", str(tmp_path / "none"))
    assert result.exit_code == 1
    assert "steplens ingest" in result.output
