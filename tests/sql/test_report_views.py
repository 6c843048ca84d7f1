"""The report's views (transforms/sql/report) over a tiny warehouse written here, without a
flow run: Parquet tables with the schemas of transforms/schemas.py, the views defined by
flows/store/views.py over them, every figure checked against plain Python over the same
rows. And the first screen drawn from them (flows/report/screen.py): its size and its
"N more" lines.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from steplens.flows.report import screen, sections
from steplens.flows.store import prices, views
from steplens.transforms import schemas

T0 = dt.datetime(2025, 3, 1, 12, 0, 0)
PRICE = prices.Price("gpt-4o", dt.date(2024, 1, 1), 2.5, 1.25, 10.0, "shipped")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def run(run_id, status, api="assistants", assistant="asst_A", model="gpt-4o", ended=10.0,
        error=None, incomplete=None, **fields) -> dict:
    return {"api": api, "run_id": run_id, "thread_id": f"th_{run_id}", "assistant_id": assistant,
            "model": model, "status": status, "created_at": T0,
            "ended_at": at(ended) if ended is not None else None,
            "last_error_code": error, "incomplete_reason": incomplete, "day": T0.date(),
            **fields}


def step(step_id, run_id, status, latency=None, api="assistants", type_="tool_calls") -> dict:
    return {"api": api, "step_id": step_id, "run_id": run_id, "assistant_id": "asst_A",
            "model": "gpt-4o", "type": type_, "status": status, "created_at": T0,
            "latency_s": latency, "day": T0.date(), "tool_call_count": 1}


RUNS = [
    run("r1", "completed", ended=10.0),
    run("r2", "failed", ended=20.0, error="rate_limit_exceeded"),
    run("r3", "failed", ended=30.0, error="rate_limit_exceeded"),
    run("r4", "failed", ended=40.0, error="server_error", assistant="asst_B"),
    run("r5", "expired", ended=50.0, assistant="asst_B"),
    run("r6", "incomplete", ended=5.0, incomplete="max_output_tokens", api="responses",
        assistant=None, model="gpt-4o"),
    run("r7", "in_progress", ended=None),
    run("r8", "completed", ended=2.0, api="responses", assistant=None, model="mystery-1",
        prompt_tokens=50, completion_tokens=5, total_tokens=55),
]
STEPS = [
    step("s1", "r1", "completed", 1.0),
    step("s2", "r1", "completed", 2.0),
    step("s3", "r2", "failed"),
    step("s4", "r3", "completed", 8.0),
    step("s5", "r4", "cancelled"),
    step("s6", "r7", "in_progress"),
    step("s7", "r1", "completed", 4.0, type_="message_creation"),
]
CALLS = [
    {"api": "assistants", "tool_call_id": "c1", "step_id": "s1", "run_id": "r1",
     "type": "function", "function_name": "get_weather", "step_status": "completed",
     "call_failed": False, "created_at": T0, "day": T0.date()},
    {"api": "assistants", "tool_call_id": "c2", "step_id": "s3", "run_id": "r2",
     "type": "function", "function_name": "get_weather", "step_status": "failed",
     "call_failed": True, "created_at": T0, "day": T0.date()},
    {"api": "assistants", "tool_call_id": "c3", "step_id": "s4", "run_id": "r3",
     "type": "file_search", "function_name": None, "step_status": "completed",
     "call_failed": False, "created_at": T0, "day": T0.date()},
    {"api": "assistants", "tool_call_id": "c4", "step_id": "s6", "run_id": "r7",
     "type": "function", "function_name": "get_weather", "step_status": "in_progress",
     "call_failed": None, "created_at": T0, "day": T0.date()},
]
USAGE = [
    {"api": "assistants", "step_id": "s1", "run_id": "r1", "model": "gpt-4o", "type": "tool_calls",
     "day": T0.date(), "prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
     "cached_tokens": 400},
    {"api": "assistants", "step_id": "s4", "run_id": "r3", "model": "gpt-4o", "type": "tool_calls",
     "day": T0.date(), "prompt_tokens": 3000, "completion_tokens": 100, "total_tokens": 3100,
     "cached_tokens": 0},
    {"api": "responses", "step_id": None, "run_id": "r8", "model": "mystery-1",
     "type": "response", "day": T0.date(), "prompt_tokens": 50, "completion_tokens": 5,
     "total_tokens": 55, "cached_tokens": 0},
]


def frame(rows: list[dict], schema: pl.Schema) -> pl.DataFrame:
    """Rows as a frame of the table's schema; columns a row leaves out are NULL."""
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


@pytest.fixture
def con(tmp_path: Path):
    filled = {"runs": RUNS, "steps": STEPS, "tool_calls": CALLS, "usage": USAGE}
    for name, spec in schemas.TABLES.items():
        folder = tmp_path / "snapshot" / name / "part"
        folder.mkdir(parents=True)
        frame(filled.get(name, []), spec.schema).write_parquet(folder / "part-0.parquet")
    c = duckdb.connect()
    views.define(c, tmp_path, prices.PriceTable(rows=(PRICE,)), "test",
                 snapshot=tmp_path / "snapshot")
    yield c
    c.close()


def one(c, name: str) -> dict:
    return sections.record(c, name)


def rows(c, name: str) -> list[dict]:
    columns, got = sections.view(c, name)
    return [dict(zip(columns, r, strict=True)) for r in got]


def quantile_cont(values: list[float], q: float) -> float | None:
    """DuckDB's quantile_cont: linear interpolation between the closest ranks."""
    v = sorted(values)
    if not v:
        return None
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


RUN_TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")
STEP_TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")


def cost(u: dict) -> float | None:
    if u["model"] != PRICE.model:
        return None
    cached = u["cached_tokens"] or 0
    return ((u["prompt_tokens"] - cached) * PRICE.prompt_usd_per_1m
            + cached * PRICE.cached_prompt_usd_per_1m
            + u["completion_tokens"] * PRICE.completion_usd_per_1m) / 1e6


def test_report_overview_holds_the_headline_figures(con):
    o = one(con, "report_overview")
    terminal_runs = [r for r in RUNS if r["status"] in RUN_TERMINAL]
    terminal_steps = [s for s in STEPS if s["status"] in STEP_TERMINAL]
    walls = [(r["ended_at"] - r["created_at"]).total_seconds() for r in RUNS if r["ended_at"]]
    latencies = [s["latency_s"] for s in STEPS
                 if s["status"] == "completed" and s["latency_s"] is not None]
    assert (o["runs"], o["assistants_runs"], o["responses_runs"]) == (
        len(RUNS), sum(r["api"] == "assistants" for r in RUNS),
        sum(r["api"] == "responses" for r in RUNS))
    ended = [c for c in CALLS if c["call_failed"] or c["step_status"] in STEP_TERMINAL]
    assert (o["steps"], o["tool_calls"], o["ended_tool_calls"], o["failed_tool_calls"]) == (
        len(STEPS), len(CALLS), len(ended), sum(bool(c["call_failed"]) for c in CALLS))
    # failure_rate's one meaning for calls too: failed / ended (as tool_stats)
    assert o["tool_call_failure_rate"] == pytest.approx(
        sum(bool(c["call_failed"]) for c in CALLS) / len(ended))
    assert (o["terminal_runs"], o["failed_runs"]) == (
        len(terminal_runs), sum(r["status"] == "failed" for r in RUNS))
    # failure_rate keeps one meaning (failed / terminal); expired has its own rate
    assert o["run_failure_rate"] == pytest.approx(3 / len(terminal_runs))
    assert o["run_failed_or_expired_rate"] == pytest.approx(4 / len(terminal_runs))
    assert o["step_failure_rate"] == pytest.approx(
        sum(s["status"] == "failed" for s in STEPS) / len(terminal_steps))
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        assert o[f"step_{name}_s"] == pytest.approx(quantile_cont(latencies, q))
        assert o[f"run_{name}_s"] == pytest.approx(quantile_cont(walls, q))
    assert o["total_tokens"] == sum(u["total_tokens"] for u in USAGE)
    assert o["prompt_tokens"] == sum(u["prompt_tokens"] for u in USAGE)
    priced = [c for c in map(cost, USAGE) if c is not None]
    assert o["cost_usd"] == pytest.approx(sum(priced))
    assert (o["unpriced_steps"], o["unpriced_models"]) == (1, 1)
    assert (o["first_day"], o["last_day"]) == (T0.date(), T0.date())


def test_report_overview_agrees_with_the_metric_views_it_summarises(con):
    o = one(con, "report_overview")
    latency = next(r for r in rows(con, "step_latency") if r["dimension"] == "all")
    money = next(r for r in rows(con, "usage_cost") if r["dimension"] == "all")
    assert (o["step_p50_s"], o["step_p95_s"], o["step_p99_s"]) == (
        latency["p50_s"], latency["p95_s"], latency["p99_s"])
    for c in ("prompt_tokens", "cached_tokens", "completion_tokens", "total_tokens",
              "unpriced_steps"):
        assert o[c] == money[c], c
    assert o["cost_usd"] == pytest.approx(money["cost_usd"])


def test_failure_reasons_count_the_runs_that_did_not_complete(con):
    terminal = [r for r in RUNS if r["status"] in RUN_TERMINAL]
    expected: dict[tuple, int] = {}
    for r in terminal:
        if r["status"] != "completed":
            key = (r["status"], r["last_error_code"] or r["incomplete_reason"])
            expected[key] = expected.get(key, 0) + 1
    got = rows(con, "report_failure_reasons")
    assert {(r["status"], r["reason"]): r["runs"] for r in got} == expected
    assert got[0] == {"status": "failed", "reason": "rate_limit_exceeded", "runs": 2,
                      "share_of_terminal": pytest.approx(2 / len(terminal))}
    assert [r["runs"] for r in got] == sorted((r["runs"] for r in got), reverse=True)


def test_slowest_assistants_and_tools_are_ordered_by_p95(con):
    got = rows(con, "report_slowest_assistants")
    by_key = {(r["api"], r["assistant_id"]): r for r in got}
    walls_b = [40.0, 50.0]
    assert by_key[("assistants", "asst_B")]["p95_s"] == pytest.approx(
        quantile_cont(walls_b, 0.95))
    assert [r["p95_s"] for r in got] == sorted((r["p95_s"] for r in got), reverse=True)
    tools = rows(con, "report_slowest_tools")
    assert {r["tool"] for r in tools} == {"get_weather", "file_search"}
    weather = next(r for r in tools if r["tool"] == "get_weather")
    # its completed steps: s1 (1.0 s); the failed step s3 has no latency
    assert (weather["calls"], weather["failed_calls"], weather["step_p95_s"]) == (3, 1, 1.0)
    assert tools[0]["tool"] == "file_search"  # s4 took 8 s


def test_top_models_share_the_priced_cost(con):
    got = rows(con, "report_top_models")
    assert [r["model"] for r in got] == ["gpt-4o", "mystery-1"]
    assert got[0]["share_of_cost"] == pytest.approx(1.0)
    assert got[1]["cost_usd"] is None and got[1]["unpriced_steps"] == 1


def test_every_report_view_answers_on_an_empty_warehouse(tmp_path):
    for name, spec in schemas.TABLES.items():
        folder = tmp_path / "snapshot" / name / "part"
        folder.mkdir(parents=True)
        schemas.empty(spec.schema).write_parquet(folder / "part-0.parquet")
    c = duckdb.connect()
    views.define(c, tmp_path, prices.PriceTable(rows=()), "test", snapshot=tmp_path / "snapshot")
    names = [m.name for m in views.sql_models() if m.layer == "report"
             and "create or replace view" in m.text]
    assert "report_overview" in names
    for name in names:
        c.sql(f"from {name}").fetchall()
    o = one(c, "report_overview")
    assert o["runs"] == 0 and o["run_failure_rate"] is None
    text = screen.lines(screen.load(c), 80)
    assert any("Nothing ingested yet" in line for line in text)


def test_report_models_with_logic_end_with_final():
    """dbt's rhythm: CTEs, then `select * from final`, for every model that aggregates or
    has CTEs (a plain selection of a view's columns and rows needs none)."""
    for m in views.sql_models():
        if m.layer != "report":
            continue
        code = "\n".join(line.split("--", 1)[0] for line in m.text.splitlines()).strip()
        if re.search(r"\b(with|group by)\b|\b(count|sum|avg|min|max|p50|p95|p99)\(", code):
            assert re.search(r"select \* from final\b[^;]*;$", code), m.name


def test_the_report_code_holds_no_sql_but_view_names():
    """The report's SQL is in transforms/sql: flows/report reads views by name only."""
    root = Path(__file__).resolve().parents[2] / "flows" / "report"
    sql_words = re.compile(r"\b(select|where|group by|order by|join)\b", re.IGNORECASE)
    for path in root.glob("*.py"):
        for literal in re.findall(r'"""(.*?)"""|"([^"\n]*)"', path.read_text(), re.S):
            text = literal[1]  # one-line strings: docstrings are prose
            assert not (sql_words.search(text) and re.search(r"\bfrom\b", text)), (
                path.name, text)
    for s in sections.SECTIONS:
        assert re.fullmatch(r"from \w+", s.query), s


# ---- the first screen, from rows made here -------------------------------------------------

def test_the_first_screen_fits_and_says_how_many_more(con):
    data = screen.load(con)
    many = 40
    data.reasons = [{"status": "failed", "reason": f"error_code_{i}_" + "x" * 60, "runs": 50 - i,
                     "share_of_terminal": 0.01} for i in range(many)]
    data.models = [{"model": f"model-{i}", "total_tokens": 10 ** 9, "cost_usd": 12345.678,
                    "share_of_cost": 0.5} for i in range(many)]
    data.unpriced = [{"model": f"unpriced-{i}"} for i in range(many)]
    for width in (80, 60):
        out = screen.lines(data, width, source="/a/very/long/warehouse/path" * 4,
                           hint=" --warehouse /a/very/long/warehouse/path")
        assert len(out) <= screen.MAX_LINES
        assert max(map(len, out)) <= width, max(out, key=len)
    out = screen.lines(data, 80)
    assert f"… {many - screen.TOP_REASONS} more reasons: steplens report run_failure_funnel" \
        in "\n".join(out)
    assert f"… {many - screen.TOP_MODELS} more models" in "\n".join(out)
    assert f"and {many - screen.TOP_UNPRICED} more" in "\n".join(out)


@pytest.mark.parametrize(("value", "text"), [
    (1_370_000, "1.37 M"), (950_400, "950 k"), (812, "812"), (12_345, "12.3 k"),
    (999_999, "1.00 M"), (2_500_000_000, "2.50 B"), (None, "n/a")])
def test_tokens_read_as_people_write_them(value, text):
    assert screen.tokens(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (5.138, "$5.14"), (1234.5, "$1,234"), (0.0034, "$0.0034"), (0, "$0"), (0.5, "$0.50")])
def test_dollars(value, text):
    assert screen.usd(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (3.04, "3.0 s"), (0.456, "0.46 s"), (42.4, "42 s"), (150.0, "2.5 min"), (7200.0, "2.0 h")])
def test_seconds(value, text):
    assert screen.seconds(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.0432, "4.3%"), (0.0, "0%"), (0.0004, "<0.1%"), (None, "n/a"), (1.0, "100.0%")])
def test_percentages(value, text):
    assert screen.pct(value) == text
