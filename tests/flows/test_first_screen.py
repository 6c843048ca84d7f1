"""`steplens report`'s first screen (issue 19) on real warehouses: the sample, both APIs,
and a large generated one, at 80 columns. It fits (at most 60 lines, none over 80
characters) and its headline figures equal a computation in plain Python (Polars) over
the same Parquet files, priced from data/prices.csv by a matcher written here.

The warehouses are ingested with `--orchestration direct` (no Prefect: not a flow test).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from steplens.flows.report import screen, sections
from steplens.flows.store import snapshots
from tests.support import tool_pricing_oracle
from tests.support.paths import ROOT, SAMPLE, SAMPLE_BILLING, SAMPLE_RESPONSES

RUN_TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")
STEP_TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")


def cli(*args: str, columns: int = 80) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def ingest(wh: Path, *paths: Path) -> Path:
    cli("ingest", *map(str, paths), "-w", str(wh), "--orchestration", "direct")
    return wh


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return ingest(tmp_path_factory.mktemp("fs") / "wh", SAMPLE, SAMPLE_BILLING)


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> Path:
    return ingest(tmp_path_factory.mktemp("fs") / "wh", SAMPLE, SAMPLE_RESPONSES)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    """A generated export of 3,000 Assistants runs and 400 Responses API responses:
    more assistants, tools, models and failure reasons than a screen holds."""
    from tests.support.generate import generate_export
    from tests.support.generate_responses import generate_mixed_export

    base = tmp_path_factory.mktemp("fs-large")
    generate_export(base / "export", runs=3000, seed=19)
    generate_mixed_export(base / "export" / "responses-api", responses=400, seed=19,
                          assistants_runs=0)
    return ingest(base / "wh", base / "export")


# ---- the independent computation --------------------------------------------------------

def table(wh: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(snapshots.current_snapshot(wh) / name / "**" / "*.parquet")


def prices() -> list[dict]:
    with (ROOT / "data" / "prices.csv").open() as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    return [{"model": r["model"], "from": dt.date.fromisoformat(r["effective_from"]),
             "prompt": float(r["prompt_usd_per_1m"]),
             "cached": float(r["cached_prompt_usd_per_1m"] or r["prompt_usd_per_1m"]),
             "completion": float(r["completion_usd_per_1m"])} for r in rows]


def cost(row: dict, table_: list[dict]) -> float | None:
    """List-price USD of one usage row: the longest price-table model equal to the model
    or a prefix of it followed by `-`, its latest row on or before the day."""
    if row["prompt_tokens"] is None and row["completion_tokens"] is None:
        return None
    model = row["model"]
    names = {p["model"] for p in table_}
    fits = [n for n in names if model is not None and (model == n or model.startswith(n + "-"))]
    if not fits or row["day"] is None:
        return None
    name = max(fits, key=len)
    valid = [p for p in table_ if p["model"] == name and p["from"] <= row["day"]]
    if not valid:
        return None
    p = max(valid, key=lambda p: p["from"])
    prompt, cached = row["prompt_tokens"] or 0, min(row["cached_tokens"] or 0,
                                                    row["prompt_tokens"] or 0)
    return ((prompt - cached) * p["prompt"] + cached * p["cached"]
            + (row["completion_tokens"] or 0) * p["completion"]) / 1e6


def expected(wh: Path) -> dict:
    runs, steps = table(wh, "runs"), table(wh, "steps")
    calls, usage = table(wh, "tool_calls"), table(wh, "usage")
    terminal_runs = runs.filter(pl.col("status").is_in(RUN_TERMINAL))
    terminal_steps = steps.filter(pl.col("status").is_in(STEP_TERMINAL))
    latency = steps.filter(pl.col("status") == "completed")["latency_s"].drop_nulls()
    wall = runs.select((pl.col("ended_at") - pl.col("created_at")).dt.total_microseconds()
                       / 1e6)["ended_at"].drop_nulls()
    price_table = prices()
    costs = [cost(r, price_table) for r in usage.iter_rows(named=True)]
    unpriced = {r["model"] for r, c in zip(usage.iter_rows(named=True), costs, strict=True)
                if c is None and (r["prompt_tokens"] is not None
                                  or r["completion_tokens"] is not None)}

    def q(values: pl.Series, p: float) -> float:
        return values.quantile(p, interpolation="linear")

    ended_calls = calls.filter(pl.col("call_failed").fill_null(False)
                               | pl.col("step_status").is_in(STEP_TERMINAL))
    return {
        "tool_call_failure_rate": (ended_calls["call_failed"].fill_null(False).sum()
                                   / ended_calls.height),
        "runs": runs.height, "steps": steps.height, "tool_calls": calls.height,
        "assistants_runs": (runs["api"] == "assistants").sum(),
        "responses_runs": (runs["api"] == "responses").sum(),
        "run_failure_rate": (terminal_runs["status"] == "failed").sum() / terminal_runs.height,
        "step_failure_rate": ((terminal_steps["status"] == "failed").sum()
                              / terminal_steps.height),
        "step": [q(latency, p) for p in (0.5, 0.95, 0.99)],
        "run": [q(wall, p) for p in (0.5, 0.95, 0.99)],
        "total_tokens": usage["total_tokens"].sum(),
        "cost_usd": sum(c for c in costs if c is not None),
        "unpriced": unpriced,
        "tool_cost_usd": tool_cost(runs, calls),
        "first_day": steps["day"].min(), "last_day": steps["day"].max(),
    }


def tool_cost(runs: pl.DataFrame, calls: pl.DataFrame) -> float | None:
    """The priced built-in tool charges (tests/support/tool_pricing_oracle.py)."""
    charged = [c["cost_usd"] for c in tool_pricing_oracle.charges(
        runs.to_dicts(), calls.to_dicts(), tool_pricing_oracle.price_rows())
        if c["cost_usd"] is not None]
    return sum(charged) if charged else None


def line(out: list[str], start: str) -> str:
    (found,) = [x for x in out if x.strip().startswith(start)]
    return found


@pytest.mark.parametrize("name", ["sample", "both", "large"])
def test_the_first_screen_fits_80_columns_and_its_headline_equals_plain_python(name, request):
    wh = request.getfixturevalue(name)
    out = cli("report", "-w", str(wh)).splitlines()
    assert len(out) <= 60 and len(out) <= screen.MAX_LINES
    assert max(len(x) for x in out) <= 80, max(out, key=len)
    e = expected(wh)
    volume = line(out, "Volume")
    assert f"{screen.count(e['runs'])} runs" in volume
    assert f"{screen.count(e['steps'])} steps" in volume
    assert f"{screen.count(e['tool_calls'])} tool calls" in volume
    if e["assistants_runs"] and e["responses_runs"]:
        assert line(out, "APIs") == (
            f"APIs    {screen.count(e['assistants_runs'])} Assistants API runs, "
            f"{screen.count(e['responses_runs'])} Responses API runs")
        assert any(x.strip().startswith("Assistants→Responses:") for x in out)
    else:
        assert not any("Assistants→Responses" in x for x in out)
    assert f"{e['first_day']} .. {e['last_day']}" in line(out, "Period")
    assert screen.pct(e["run_failure_rate"]) in line(out, "Runs failed")
    assert screen.pct(e["step_failure_rate"]) in line(out, "Steps failed")
    assert screen.pct(e["tool_call_failure_rate"]) in line(out, "Tool calls failed")
    assert line(out, "step (completed").split()[-6:] == " ".join(
        screen.seconds(v) for v in e["step"]).split()
    run_cells = line(out, "run (wall").split()
    assert " ".join(run_cells[-len(" ".join(map(screen.seconds, e["run"])).split()):]) == \
        " ".join(map(screen.seconds, e["run"]))
    assert line(out, "Tokens").split()[1:3] == screen.tokens(e["total_tokens"]).split()
    assert screen.usd(e["cost_usd"]) in line(out, "Cost")
    if e["tool_cost_usd"] is not None:  # the built-in tools' charges and the total
        assert f"tools {screen.usd(e['tool_cost_usd'])})" in line(out, "Cost")
        assert line(out, "Cost").split()[1] == screen.usd(e["cost_usd"] + e["tool_cost_usd"])
    if e["unpriced"]:
        assert any(m in line(out, "Unpriced") for m in e["unpriced"])
    else:
        assert "Every model with usage has a price." in "\n".join(out)
    assert out[-1].startswith("More: steplens report --all")


def test_a_large_warehouse_cuts_its_lists_and_names_the_command_that_shows_them(large):
    out = cli("report", "-w", str(large))
    assert "more reasons: steplens report run_failure_funnel" in out
    assert 'steplens sql "from report_slowest_tools"' in out
    assert 'steplens sql "from report_top_models"' in out
    shown = [x for x in out.splitlines() if x.startswith("  … ")]
    hidden = int(next(x for x in shown if "report_top_models" in x).split()[1])
    models = json.loads(cli("sql", "from report_top_models", "-w", str(large), "-f", "json"))
    assert hidden == len(models) - screen.TOP_MODELS


def test_all_and_one_section_and_formats_keep_every_section(sample):
    everything = cli("report", "--all", "-w", str(sample), columns=120)
    for s in sections.SECTIONS:
        assert s.title in everything
    assert len(everything.splitlines()) > 100  # the full output, one flag away
    one = cli("report", "tool_cost", "-w", str(sample), columns=120)
    assert one.splitlines()[0] == "tool_cost" and "step_latency" not in one
    flag = cli("report", "--section", "tool_cost", "-w", str(sample), columns=120)
    # the same table (its float sums may differ in the last digit: DuckDB adds in parallel)
    assert flag.splitlines()[:4] == one.splitlines()[:4]
    assert len(flag.splitlines()) == len(one.splitlines())
    doc = json.loads(cli("report", "-f", "json", "-w", str(sample)))
    assert list(doc) == [s.key for s in sections.SECTIONS]
    assert list(json.loads(cli("report", "unpriced_models", "-f", "json", "-w",
                               str(sample)))) == ["unpriced_models"]
    overview = json.loads(cli("report", "report_overview", "-f", "json", "-w", str(sample)))
    assert overview["report_overview"][0]["runs"] == expected(sample)["runs"]


def test_an_unknown_section_is_one_line_naming_the_sections(sample):
    result = CliRunner().invoke(app, ["report", "no_such", "-w", str(sample)])
    assert result.exit_code == 1
    assert "no section 'no_such'" in result.output and "step_latency" in result.output
    assert "Traceback" not in result.output


def test_sql_csv_is_what_duckdb_writes(sample):
    """Booleans `true`/`false`, NULL an empty field, as DuckDB's own CSV writer (issue 19)."""
    out = cli("sql", "select true as yes, false as no, null::varchar as nothing, 1.5 as x, "
                     "[1, 2] as xs", "-w", str(sample), "-f", "csv")
    assert out == 'yes,no,nothing,x,xs\ntrue,false,,1.5,"[1, 2]"\n'
    calls = table(sample, "tool_calls")
    out = cli("sql", "select tool_call_id, call_failed from tool_calls order by tool_call_id",
              "-w", str(sample), "-f", "csv").splitlines()
    expect = {r["tool_call_id"]: r["call_failed"] for r in calls.iter_rows(named=True)}
    got = dict(x.split(",") for x in out[1:])
    assert got == {k: {True: "true", False: "false", None: ""}[v] for k, v in expect.items()}
