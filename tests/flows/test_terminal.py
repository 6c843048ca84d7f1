"""The first five minutes (issue 14): what the terminal shows.

Tables fit the terminal's width (COLUMNS), long day series are summarised there and
whole elsewhere, CSV lines end in LF, NULL reads the same in every text format, flags
look like flags, and counts agree in number.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app, plural
from steplens.flows.report import render
from steplens.flows.report.sections import SECTIONS
from steplens.flows.store import snapshots


def run(*args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else None
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def steps(wh) -> pl.DataFrame:
    return pl.read_parquet(snapshots.current_snapshot(wh) / "steps" / "**" / "*.parquet")


@pytest.mark.flow
@pytest.mark.parametrize("width", [60, 80, 120])
def test_report_never_exceeds_the_terminal_width_and_keeps_values_whole(sample_warehouse,
                                                                        width):
    out = run("report", "--all", "-w", str(sample_warehouse), columns=width)
    assert max(len(line) for line in out.splitlines()) <= width
    for assistant in steps(sample_warehouse)["assistant_id"].drop_nulls().unique():
        assert assistant in out  # never cut, whatever the layout
    for section in SECTIONS:
        assert section.title in out


@pytest.mark.flow
def test_a_wide_terminal_gets_the_boxed_tables(sample_warehouse):
    out = run("report", "--all", "-w", str(sample_warehouse), columns=250)
    assert "┃ dimension" in out and "-- row 1" not in out


@pytest.mark.flow
def test_long_day_series_is_summarised_in_the_terminal_and_whole_in_json(sample_warehouse):
    s = steps(sample_warehouse)
    days = sorted(str(d) for d in s.filter(pl.col("status") == "completed",
                                           pl.col("latency_s").is_not_null())["day"].unique())
    assert len(days) > 2 * render.SERIES_KEEP  # the sample holds a long series
    doc = json.loads(run("report", "-w", str(sample_warehouse), "--format", "json"))
    assert sorted(r["value"] for r in doc["step_latency"] if r["dimension"] == "day") == days

    out = run("report", "--all", "-w", str(sample_warehouse), columns=250)
    latency = out[out.index("step_latency"):out.index("failure_rate")]
    rows = "\n".join(line for line in latency.splitlines() if line.startswith("│"))
    shown = [d for d in days if d in rows]
    assert shown == days[-render.SERIES_KEEP:]
    hidden = len(days) - render.SERIES_KEEP
    assert f"{hidden} earlier days ({days[0]} .. {days[-render.SERIES_KEEP - 1]}) not shown" \
        in latency


@pytest.mark.flow
def test_csv_lines_end_in_lf(sample_warehouse):
    out = CliRunner().invoke(app, ["sql", "select step_id, status from steps limit 5", "-w",
                                   str(sample_warehouse), "-f", "csv"]).stdout_bytes
    assert b"\r" not in out and out.count(b"\n") == 6


@pytest.mark.flow
def test_null_reads_null_in_table_and_markdown_and_is_null_in_json(sample_warehouse):
    wh = str(sample_warehouse)
    doc = json.loads(run("report", "-w", wh, "--format", "json"))
    overall = next(r for r in doc["step_latency"] if r["dimension"] == "all")
    assert overall["value"] is None
    markdown = run("report", "-w", wh, "--format", "markdown")
    assert "| all | null |" in markdown
    table = run("report", "--all", "-w", wh, columns=250)
    assert any(line.replace(" ", "").startswith("│all│null│") for line in table.splitlines())


@pytest.mark.flow
def test_json_keys_are_the_view_names_the_titles_start_with(sample_warehouse):
    doc = json.loads(run("report", "-w", str(sample_warehouse), "--format", "json"))
    assert list(doc) == [s.key for s in SECTIONS]
    assert all(s.title.split()[0] == s.key for s in SECTIONS)


def test_flags_show_as_flags_in_help():
    out = run("ingest", "--help", columns=200)
    line = next(line for line in out.splitlines() if "--full-refresh" in line)
    assert "<bool>" not in line


def test_one_rejected_record_is_singular():
    assert plural(1, "rejected record") == "1 rejected record"
    assert plural(2, "rejected record") == "2 rejected records"
    assert plural(0, "file") == "0 files"
