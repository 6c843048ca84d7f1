"""Every analytics view against an independent plain-Python computation.

The warehouse is ingested (directly, without Prefect) from generated data of both APIs
(Assistants: `tests/support/generate.py`, 300 runs, seed 7; Responses:
`generate_responses.py`, 150 responses, seed 7), with a test price table built to hit
every matching rule: exact names, snapshot names matched by prefix, a `gpt-4` row that
must not price `gpt-4o` or `gpt-4.1`, prices that change on a date, a user override, a
model priced only from a later date, and a model with no price at all. The expected
values are computed here from the base tables (`runs`, `steps`, `tool_calls`, `usage`
without their cost column) with nothing but the standard library: no SQL of the views is
reused.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from steplens.flows.store import prices
from tests.support.generate import generate_export
from tests.support.generate_responses import generate_mixed_export
from tests.support.ingest import ingest_direct
from tests.support.tool_pricing_oracle import charges as tool_charges_of
from tests.support.tool_pricing_oracle import price_rows as tool_price_rows

SHIPPED_FOR_TEST = """\
# test prices: every rule of the matcher
model,effective_from,prompt_usd_per_1m,cached_prompt_usd_per_1m,completion_usd_per_1m
gpt-4,2023-01-01,30,,60
gpt-4-turbo,2024-01-01,10,,30
gpt-4o,2024-01-01,5,,15
gpt-4o,2024-10-02,2.5,1.25,10
gpt-4o-mini,2024-01-01,0.15,0.075,0.6
gpt-4.1,2025-01-01,2,0.5,8
gpt-3.5-turbo,2025-01-01,0.5,,1.5
"""
# replaces both the shipped gpt-4o-mini row; o3-mini stays without a price
USER_PRICES = """\
model,effective_from,prompt_usd_per_1m,cached_prompt_usd_per_1m,completion_usd_per_1m
gpt-4o-mini,2024-01-01,1,0.5,2
"""
STEP_TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
CLIENT_TOOLS = ("function", "custom", "computer", "local_shell", "shell", "apply_patch")
RUN_TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("analytics")
    generate_export(base / "export", runs=300, seed=7)
    generate_mixed_export(base / "export" / "responses-api", responses=150, seed=7,
                          assistants_runs=0)
    user = base / "user.csv"
    user.write_text(USER_PRICES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prices, "shipped_prices",
                   lambda: prices.parse_prices(SHIPPED_FOR_TEST, "test", "shipped"))
        ingest_direct([str(base / "export")], str(base / "wh"), prices=str(user))
    return base / "wh"


@pytest.fixture(scope="module")
def con(wh):
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as c:
        yield c


def rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


@pytest.fixture(scope="module")
def base(con):
    """The base tables as lists of dicts (the Parquet columns, no cost)."""
    return {
        "runs": rows(con, "select * exclude (cost_usd) from runs"),
        "steps": rows(con, "select * exclude (cost_usd) from steps"),
        "usage": rows(con, "select * exclude (cost_usd) from usage"),
        "tool_calls": rows(con, "select * from tool_calls"),
    }


# ---- plain-Python building blocks --------------------------------------------------------

def quantile_cont(values: list[float], q: float) -> float | None:
    """DuckDB quantile_cont: linear interpolation between closest ranks."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(v[lo]) if lo == hi else v[lo] + (pos - lo) * (v[hi] - v[lo])


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def total(values) -> float | None:
    """SQL sum: NULLs skipped, NULL when nothing is left."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def ratio(a, b) -> float | None:
    return None if a is None or not b else a / b


def price_rows(text: str, source: str) -> list[dict]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    out = []
    for r in csv.DictReader(io.StringIO("\n".join(lines))):
        cached = r["cached_prompt_usd_per_1m"]
        out.append({"model": r["model"], "from": dt.date.fromisoformat(r["effective_from"]),
                    "prompt": float(r["prompt_usd_per_1m"]),
                    "cached": float(cached) if cached else None,
                    "completion": float(r["completion_usd_per_1m"]), "source": source})
    return out


def price_table() -> list[dict]:
    user = price_rows(USER_PRICES, "user")
    mine = {p["model"] for p in user}
    return [p for p in price_rows(SHIPPED_FOR_TEST, "shipped") if p["model"] not in mine] + user


PRICES = price_table()


def matched_model(model: str | None) -> str | None:
    if model is None:
        return None
    names = {p["model"] for p in PRICES}
    fits = [n for n in names if model == n or model.startswith(n + "-")]
    return max(fits, key=len) if fits else None


def price_for(model, day) -> dict | None:
    name = matched_model(model)
    if name is None or day is None:
        return None
    valid = [p for p in PRICES if p["model"] == name and p["from"] <= day]
    return max(valid, key=lambda p: p["from"]) if valid else None


def cost(rec: dict) -> float | None:
    prompt, completion = rec["prompt_tokens"], rec["completion_tokens"]
    if prompt is None and completion is None:
        return None
    p = price_for(rec["model"], rec["day"])
    if p is None:
        return None
    cached = min(rec["cached_tokens"] or 0, prompt or 0)
    cached_price = p["cached"] if p["cached"] is not None else p["prompt"]
    return (((prompt or 0) - cached) * p["prompt"] + cached * cached_price
            + (completion or 0) * p["completion"]) / 1e6


def has_tokens(rec: dict) -> bool:
    return rec["prompt_tokens"] is not None or rec["completion_tokens"] is not None


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def assert_rows(actual: list[dict], expected: list[dict], key: tuple[str, ...]) -> None:
    """Same rows (matched by `key`), same columns, values equal (floats to 1e-9)."""
    assert len(actual) == len(expected)
    got = {tuple(r[k] for k in key): r for r in actual}
    assert len(got) == len(actual), "key does not identify rows"
    for exp in expected:
        k = tuple(exp[c] for c in key)
        assert k in got, f"missing row {k}"
        row = got[k]
        assert set(row) == set(exp), (set(row) ^ set(exp))
        bad = {c: (row[c], exp[c]) for c in exp if not same(row[c], exp[c])}
        assert not bad, f"row {k}: (view, expected) {bad}"


def dims(row: dict, names: tuple[str, ...]) -> list[tuple[str, str | None]]:
    out = [("all", None)]
    for name in names:
        v = row[name]
        out.append((name, v.isoformat() if isinstance(v, dt.date) else v))
    return out


# ---- the data exercises what the tests claim ---------------------------------------------

def test_generated_data_covers_the_cases(base):
    assert {r["api"] for r in base["runs"]} == {"assistants", "responses"}
    assert {c["api"] for c in base["tool_calls"] if c["call_failed"]} == {"assistants",
                                                                          "responses"}
    models = {r["model"] for r in base["runs"]}
    assert {"gpt-4o-2024-08-06", "gpt-4.1-mini", "gpt-4-turbo-preview", "o3-mini"} <= models
    statuses = {r["status"] for r in base["runs"]}
    assert {"completed", "failed", "incomplete", "cancelled", "expired"} <= statuses
    assert {c["type"] for c in base["tool_calls"]} >= {"function", "code_interpreter",
                                                       "file_search"}


# ---- cost --------------------------------------------------------------------------------

@pytest.mark.parametrize("table, key", [("runs", "run_id"), ("steps", "step_id"),
                                        ("usage", "coalesce(step_id, run_id)")])
def test_cost_usd_columns(con, base, table, key):
    got = dict(con.sql(f"select {key}, cost_usd from {table}").fetchall())
    expected = {r["step_id"] or r["run_id"] if table == "usage" else r[key]: cost(r)
                for r in base[table]}
    assert got.keys() == expected.keys()
    bad = {k: (got[k], v) for k, v in expected.items() if not same(got[k], v)}
    assert not bad
    assert sum(v is not None for v in expected.values()) > 100  # most are priced
    assert any(v is None and has_tokens(r) for r, v in
               zip(base[table], expected.values(), strict=True))  # some are not


def test_model_prices_table_is_the_merge(con):
    got = rows(con, "select model, effective_from, prompt_usd_per_1m, "
                    "cached_prompt_usd_per_1m, completion_usd_per_1m, source from model_prices")
    expected = [{"model": p["model"], "effective_from": p["from"], "prompt_usd_per_1m":
                 p["prompt"], "cached_prompt_usd_per_1m": p["cached"],
                 "completion_usd_per_1m": p["completion"], "source": p["source"]}
                for p in PRICES]
    assert_rows(got, expected, ("model", "effective_from"))


def test_model_price_match(con, base):
    by_model = defaultdict(list)
    for r in base["runs"]:
        if r["model"] is not None:
            by_model[r["model"]].append(r)
    expected = []
    for model, runs in by_model.items():
        name = matched_model(model)
        dates = [p["from"] for p in PRICES if p["model"] == name]
        days = [r["day"] for r in runs if r["day"] is not None]
        expected.append({"model": model, "price_model": name, "runs": len(runs),
                         "first_day": min(days), "last_day": max(days),
                         "priced_from": min(dates, default=None),
                         "latest_price_from": max(dates, default=None)})
    assert_rows(rows(con, "from model_price_match"), expected, ("model",))
    got = {r["model"]: r["price_model"] for r in expected}
    assert got["gpt-4o-2024-08-06"] == "gpt-4o"
    assert got["gpt-4.1-mini"] == "gpt-4.1"
    assert got["gpt-4-turbo-preview"] == "gpt-4-turbo"
    assert got["o3-mini"] is None


def test_unpriced_models(con, base):
    groups = defaultdict(list)
    for kind, table in (("step", "usage"), ("run", "runs")):
        for r in base[table]:
            if kind == "step" and r["api"] == "responses":
                continue  # a response's usage row is its run's usage: counted once
            if has_tokens(r) and cost(r) is None:
                if r["model"] is None:
                    reason = "model unknown (run not in the data)"
                elif matched_model(r["model"]) is None:
                    reason = "model not in the price table"
                elif r["day"] is None:
                    reason = "no day"
                else:
                    reason = "no price on or before its day"
                groups[(r["api"], r["model"], reason)].append((kind, r))
    expected = []
    for (api, model, reason), items in groups.items():
        steps = [r for k, r in items if k == "step"]
        counted = steps + [r for k, r in items if k == "run" and r["api"] == "responses"]
        days = [r["day"] for _, r in items if r["day"] is not None]
        expected.append({
            "api": api, "model": model, "reason": reason,
            "runs": sum(k == "run" for k, _ in items), "steps": len(steps),
            "prompt_tokens": total(r["prompt_tokens"] for r in counted),
            "completion_tokens": total(r["completion_tokens"] for r in counted),
            "first_day": min(days, default=None), "last_day": max(days, default=None),
        })
    got = rows(con, "from unpriced_models")
    assert_rows(got, expected, ("api", "model", "reason"))
    assert {r["api"] for r in got} == {"assistants", "responses"}
    reasons = {r["reason"] for r in got}
    assert {"model not in the price table", "no price on or before its day"} <= reasons


def tool_charges_expected(base) -> list[dict]:
    """Built-in tool charges from the base tables (tests/support/tool_pricing_oracle.py)."""
    return tool_charges_of(base["runs"], base["tool_calls"], tool_price_rows())


def usage_cost_expected(base) -> list[dict]:
    names = ("assistant_id", "model", "day", "type", "api")
    groups, tool_groups = defaultdict(list), defaultdict(list)
    for r in base["usage"]:
        for key in dims(r, names):
            groups[key].append(r)
    for ch in tool_charges_expected(base):
        for key in dims(ch, names):
            tool_groups[key].append(ch)
    out = []
    for dim, value in set(groups) | set(tool_groups):
        rs, ts = groups.get((dim, value), []), tool_groups.get((dim, value), [])
        costs = [cost(r) for r in rs]
        priced = sum(c is not None for c in costs)
        tool_cost = total(t["cost_usd"] for t in ts)
        out.append({
            "dimension": dim, "value": value, "steps": len(rs), "priced_steps": priced,
            "unpriced_steps": sum(c is None and has_tokens(r)
                                  for c, r in zip(costs, rs, strict=True)),
            **{k: total(r[k] for r in rs) for k in (
                "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens",
                "total_tokens")},
            "cost_usd": total(costs),
            "cost_per_step_usd": ratio(total(costs), priced),
            "tool_cost_usd": tool_cost,
            "unpriced_tool_charges": sum(t["cost_usd"] is None for t in ts),
            "total_cost_usd": plus(total(costs), tool_cost),
        })
    return out


def test_usage_cost(con, base):
    expected = usage_cost_expected(base)
    assert_rows(rows(con, "from usage_cost"), expected, ("dimension", "value"))
    every = next(r for r in expected if r["dimension"] == "all")
    assert every["tool_cost_usd"] and every["unpriced_tool_charges"]  # both cases occur


def test_tool_charges(con, base):
    """Every built-in tool charge, priced from data/tool_prices.csv by its own rules."""
    expected = tool_charges_expected(base)
    assert {(c["api"], c["tool"]) for c in expected} >= {
        ("assistants", "code_interpreter"), ("assistants", "file_search"),
        ("responses", "web_search"), ("responses", "file_search"),
        ("responses", "code_interpreter"), ("responses", "image_generation")}
    sessions = [c for c in expected if c["api"] == "assistants" and c["unit"] == "session"]
    assert any(c["calls"] > 1 for c in sessions)  # a session holds several calls
    assert len({c["thread_id"] for c in sessions}) < len(sessions)  # a thread has several
    assert_rows(rows(con, "from tool_charges"), expected,
                ("api", "tool_type", "run_id", "step_id", "thread_id"))


def test_tool_cost(con, base):
    """A step's cost split over its calls; a response's over its tool calls."""
    steps = {s["step_id"]: s for s in base["steps"] if s["api"] == "assistants"}
    runs = {r["run_id"]: r for r in base["runs"]}
    calls_per_response = defaultdict(int)
    for c in base["tool_calls"]:
        if c["api"] == "responses":
            calls_per_response[c["run_id"]] += 1
    charged = defaultdict(list)
    for ch in tool_charges_expected(base):
        charged[(ch["api"], ch["tool_type"])].append(ch)
    groups = defaultdict(list)
    for c in base["tool_calls"]:
        groups[(c["api"], c["type"], None)].append(c)
        if c["function_name"] is not None:
            groups[(c["api"], c["type"], c["function_name"])].append(c)
    expected = []
    for (api, kind, name), calls in groups.items():
        shares, unpriced, payers = [], set(), set()
        for c in calls:
            if api == "assistants":
                payer, n = steps.get(c["step_id"]), None
                n = payer["tool_call_count"] if payer else None
            else:
                payer, n = runs.get(c["run_id"]), calls_per_response[c["run_id"]]
            payer_id = c["step_id"] if api == "assistants" else c["run_id"]
            payer_cost = cost(payer) if payer else None
            shares.append(None if payer_cost is None else payer_cost / n)
            if payer_id is not None:
                payers.add(payer_id)
            if payer and payer_cost is None and has_tokens(payer):
                unpriced.add(payer_id)
        expected.append({
            "api": api, "tool_type": kind, "function_name": name, "calls": len(calls),
            "steps": len(payers), "unpriced_steps": len(unpriced), "cost_usd": total(shares),
            "cost_per_call_usd": ratio(total(shares), len(calls)),
            **tool_charge_columns(charged.pop((api, kind), []) if name is None else []),
        })
        expected[-1]["total_cost_usd"] = plus(expected[-1]["cost_usd"],
                                              expected[-1]["charge_usd"])
    for (api, kind), charges in charged.items():  # billed without a call in tool_calls
        expected.append({"api": api, "tool_type": kind, "function_name": None, "calls": 0,
                         "steps": 0, "unpriced_steps": 0, "cost_usd": None,
                         "cost_per_call_usd": None, **tool_charge_columns(charges)})
        expected[-1]["total_cost_usd"] = expected[-1]["charge_usd"]
    got = rows(con, "from tool_cost")
    assert_rows(got, expected, ("api", "tool_type", "function_name"))
    assert any(r["api"] == "responses" and r["cost_usd"] for r in got)


def tool_charge_columns(charges: list[dict]) -> dict:
    """tool_cost's charge columns of one (api, tool type): NULL without charges."""
    if not charges:
        return {"unit": None, "billed_units": None, "charge_usd": None,
                "unpriced_charges": None}
    return {"unit": charges[0]["unit"], "billed_units": sum(c["units"] for c in charges),
            "charge_usd": total(c["cost_usd"] for c in charges),
            "unpriced_charges": sum(c["cost_usd"] is None for c in charges)}


def plus(a, b):
    """a + b where NULL counts as 0, NULL when both are."""
    return None if a is None and b is None else (a or 0) + (b or 0)


# ---- run lifecycle -----------------------------------------------------------------------

def function_steps(base) -> set[str]:
    return {c["step_id"] for c in base["tool_calls"] if c["type"] == "function"}


def gaps_expected(base) -> list[dict]:
    by_run = defaultdict(list)
    for s in base["steps"]:
        if s["run_id"] is not None and s["created_at"] is not None:
            by_run[s["run_id"]].append(s)
    called = function_steps(base)
    out = []
    for run_id, steps in by_run.items():
        steps.sort(key=lambda s: (s["created_at"], s["step_id"]))
        for s, nxt in zip(steps, steps[1:], strict=False):
            out.append({
                "run_id": run_id, "api": s["api"], "step_id": s["step_id"],
                "step_type": s["type"],
                "step_status": s["status"], "next_step_id": nxt["step_id"],
                "awaited_tool_outputs": s["step_id"] in called,
                "ended_at": s["ended_at"], "next_created_at": nxt["created_at"],
                "gap_s": (None if s["ended_at"] is None
                          else (nxt["created_at"] - s["ended_at"]).total_seconds()),
            })
    return out


def test_step_gaps(con, base):
    expected = gaps_expected(base)
    assert any(g["awaited_tool_outputs"] for g in expected)
    assert_rows(rows(con, "from step_gaps"), expected, ("run_id", "step_id"))


def lifecycle_expected(base) -> list[dict]:
    steps, calls, gaps = defaultdict(list), defaultdict(list), defaultdict(list)
    for s in base["steps"]:
        steps[s["run_id"]].append(s)
    for c in base["tool_calls"]:
        calls[c["run_id"]].append(c)
    for g in gaps_expected(base):
        gaps[g["run_id"]].append(g)
    out = []
    for r in base["runs"]:
        ss, cs, gs = steps.get(r["run_id"], []), calls.get(r["run_id"], []), gaps.get(
            r["run_id"], [])
        if r["api"] == "responses":
            trips = int(any(c["type"] in CLIENT_TOOLS for c in cs))
        else:
            trips = len({c["step_id"] for c in cs if c["type"] == "function"})
        gap_values = [g["gap_s"] for g in gs if g["gap_s"] is not None]
        out.append({
            "run_id": r["run_id"], "api": r["api"], "assistant_id": r["assistant_id"],
            "model": r["model"],
            "status": r["status"], "day": r["day"], "created_at": r["created_at"],
            "queue_s": r["queue_s"], "duration_s": r["duration_s"],
            "steps": len(ss),
            "tool_call_steps": sum(s["type"] == "tool_calls" or (
                s["api"] == "responses" and s["tool_call_count"] > 0) for s in ss),
            "message_creation_steps": sum(s["type"] in ("message_creation", "message")
                                          for s in ss),
            "tool_calls": len(cs), "tool_round_trips": trips,
            "steps_s": total(s["latency_s"] for s in ss),
            "tool_calls_s": total(s["latency_s"] for s in ss if s["type"] == "tool_calls"),
            "message_creation_s": total(s["latency_s"] for s in ss
                                        if s["type"] == "message_creation"),
            "gap_s": total(gap_values),
            "max_gap_s": max(gap_values, default=None),
            "tool_wait_s": (total(g["gap_s"] for g in gs if g["awaited_tool_outputs"])
                            if trips else None),
            "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
            "total_tokens": r["total_tokens"], "cost_usd": cost(r),
        })
    return out


def test_run_lifecycle(con, base):
    expected = lifecycle_expected(base)
    assert any(r["tool_wait_s"] for r in expected) and any(r["tool_round_trips"] > 1
                                                          for r in expected)
    assert_rows(rows(con, "from run_lifecycle"), expected, ("run_id",))


LIFECYCLE_MEASURES = ("queue_s", "duration_s", "steps", "tool_calls", "tool_round_trips",
                      "steps_s", "tool_calls_s", "message_creation_s", "gap_s", "tool_wait_s")


def test_run_lifecycle_stats(con, base):
    groups = defaultdict(list)
    for r in lifecycle_expected(base):
        if r["status"] not in RUN_TERMINAL:
            continue
        for key in dims(r, ("assistant_id", "model", "day", "api")):
            for m in LIFECYCLE_MEASURES:
                if r[m] is not None:
                    groups[(*key, m)].append(float(r[m]))
    expected = [{
        "dimension": dim, "value": value, "measure": m, "n": len(vs), "mean": mean(vs),
        "p50": quantile_cont(vs, 0.5), "p90": quantile_cont(vs, 0.9),
        "p95": quantile_cont(vs, 0.95), "p99": quantile_cont(vs, 0.99), "max": max(vs),
    } for (dim, value, m), vs in groups.items()]
    assert_rows(rows(con, "from run_lifecycle_stats"), expected,
                ("dimension", "value", "measure"))


# ---- failures ----------------------------------------------------------------------------

def funnel_expected(records, names, outcome, count_name, terminal_states):
    groups = defaultdict(list)
    for r in records:
        for key in dims(r, names):
            groups[key].append(r)
    out = []
    for (dim, value), rs in groups.items():
        terminal = sum(r["status"] in terminal_states for r in rs)
        counts = defaultdict(int)
        for r in rs:
            counts[tuple(r[c] for c in outcome)] += 1
        for combo, n in counts.items():
            out.append({
                "dimension": dim, "value": value, **dict(zip(outcome, combo, strict=True)),
                count_name: n, f"share_of_{count_name}": n / len(rs),
                "share_of_terminal": n / terminal if combo[0] in terminal_states else None,
            })
    return out


def test_run_failure_funnel(con, base):
    outcome = ("status", "last_error_code", "incomplete_reason")
    expected = funnel_expected(base["runs"], ("assistant_id", "model", "api"), outcome, "runs",
                               RUN_TERMINAL)
    assert_rows(rows(con, "from run_failure_funnel"), expected,
                ("dimension", "value", *outcome))


def test_step_failure_funnel(con, base):
    outcome = ("status", "last_error_code")
    expected = funnel_expected(base["steps"], ("assistant_id", "model", "type", "api"), outcome,
                               "steps", STEP_TERMINAL)
    assert_rows(rows(con, "from step_failure_funnel"), expected,
                ("dimension", "value", *outcome))


def test_failing_step_tools(con, base):
    calls = defaultdict(list)
    for c in base["tool_calls"]:
        calls[c["step_id"]].append(c)
    groups = defaultdict(lambda: {"steps": set(), "calls": 0})
    for s in base["steps"]:
        if s["status"] not in STEP_TERMINAL or s["status"] == "completed":
            continue
        for c in calls.get(s["step_id"]) or [None]:
            key = (s["api"], s["status"], s["last_error_code"], c and c["type"],
                   c and c["function_name"])
            groups[key]["steps"].add(s["step_id"])
            groups[key]["calls"] += c is not None
    expected = [{"api": k[0], "step_status": k[1], "last_error_code": k[2], "tool_type": k[3],
                 "function_name": k[4], "steps": len(v["steps"]), "calls": v["calls"]}
                for k, v in groups.items()]
    assert_rows(rows(con, "from failing_step_tools"), expected,
                ("api", "step_status", "last_error_code", "tool_type", "function_name"))


# ---- tools -------------------------------------------------------------------------------

def test_tool_analytics(con, base):
    steps = {s["step_id"]: s for s in base["steps"]}
    groups = defaultdict(list)
    for c in base["tool_calls"]:
        groups[(c["api"], c["type"], None)].append(c)
        if c["function_name"] is not None:
            groups[(c["api"], c["type"], c["function_name"])].append(c)
    expected = []
    for (api, kind, name), cs in groups.items():
        runs = len({c["run_id"] for c in cs if c["run_id"] is not None})
        # a call fails: with its step (Assistants), on its own (Responses: call_failed)
        failed = sum(c["step_status"] == "failed" if api == "assistants" else c["call_failed"]
                     for c in cs)
        terminal = sum(c["step_status"] in STEP_TERMINAL or c["call_failed"] for c in cs)
        latencies = {c["step_id"]: steps[c["step_id"]]["latency_s"] for c in cs
                     if c["step_id"] in steps and steps[c["step_id"]]["status"] == "completed"
                     and steps[c["step_id"]]["latency_s"] is not None}
        args = [len(c["function_arguments"]) for c in cs if c["function_arguments"] is not None]
        outputs = [len(c["function_output"]) for c in cs if c["function_output"] is not None]
        valid = [c["arguments_valid_json"] for c in cs if c["arguments_valid_json"] is not None]
        results = [c["file_search_result_count"] for c in cs
                   if c["file_search_result_count"] is not None]
        logs = [c["code_log_chars"] for c in cs if c["code_log_chars"] is not None]
        scores = [c["file_search_max_score"] for c in cs
                  if c["file_search_max_score"] is not None]
        expected.append({
            "api": api, "tool_type": kind, "function_name": name, "calls": len(cs),
            "runs": runs,
            "calls_per_run": ratio(len(cs), runs),
            "failed_calls": failed, "failure_rate": ratio(failed, terminal),
            "step_p50_s": quantile_cont(list(latencies.values()), 0.5),
            "step_p95_s": quantile_cont(list(latencies.values()), 0.95),
            "args_chars_mean": mean(args), "args_chars_p95": quantile_cont(args, 0.95),
            "args_chars_max": max(args, default=None),
            "output_chars_mean": mean(outputs), "output_chars_max": max(outputs, default=None),
            "invalid_json_args": valid.count(False) if valid else None,
            "invalid_json_rate": ratio(valid.count(False), len(valid)),
            "file_search_calls_with_results": len(results),
            "file_search_results": total(results), "file_search_results_mean": mean(results),
            "file_search_empty": results.count(0) if results else None,
            "file_search_score_mean": mean(scores),
            "file_search_score_p50": quantile_cont(scores, 0.5),
            "code_log_chars": total(logs), "code_log_chars_mean": mean(logs),
            "code_images": total(c["code_image_count"] for c in cs),
        })
    got = rows(con, "from tool_analytics")
    assert_rows(got, expected, ("api", "tool_type", "function_name"))
    assert any(r["invalid_json_args"] for r in got)  # the generator sends broken arguments
    assert any(r["api"] == "responses" and r["failed_calls"] for r in got)
    assert any(r["file_search_score_mean"] is not None for r in got)


# ---- time series -------------------------------------------------------------------------

def truncate(ts: dt.datetime, unit: str) -> dt.datetime:
    return ts.replace(minute=0, second=0, microsecond=0, **({"hour": 0} if unit == "day"
                                                           else {}))


@pytest.mark.parametrize("view, unit", [("daily_metrics", "day"), ("hourly_metrics", "hour")])
def test_metrics_over_time(con, base, view, unit):
    groups = defaultdict(list)
    # a Responses API response's usage counts at its created_at (its items have none)
    usage_rows = [dict(r, status=None, latency_s=None, is_step=False) for r in base["runs"]
                  if r["api"] == "responses"]
    for s in [dict(s, is_step=True) for s in base["steps"]] + usage_rows:
        if s["created_at"] is None:
            continue
        bucket = truncate(s["created_at"], unit)
        for dim, value in dims(s, ("assistant_id", "model", "api")):
            groups[(dim, value, bucket)].append(s)
    expected = []
    for (dim, value, bucket), ss in groups.items():
        lat = [s["latency_s"] for s in ss
               if s["status"] == "completed" and s["latency_s"] is not None]
        terminal = sum(s["status"] in STEP_TERMINAL for s in ss)
        costs = [cost(s) for s in ss]
        expected.append({
            "dimension": dim, "value": value, "bucket": bucket,
            "steps": sum(s["is_step"] for s in ss),
            "completed_with_latency": len(lat),
            **{f"p{q}_s": quantile_cont(lat, q / 100) for q in (50, 90, 95, 99)},
            "terminal": terminal,
            "failed": sum(s["status"] == "failed" for s in ss),
            **{f"{st}_rate": ratio(sum(s["status"] == st for s in ss), terminal)
               for st in ("cancelled", "expired")},
            "failure_rate": ratio(sum(s["status"] == "failed" for s in ss), terminal),
            **{k: total(s[k] for s in ss)
               for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
            "cost_usd": total(costs),
            "unpriced_steps": sum(c is None and has_tokens(s)
                                  for c, s in zip(costs, ss, strict=True)),
        })
    assert_rows(rows(con, f"from {view}"), expected, ("dimension", "value", "bucket"))


def test_new_views_have_no_hugeint_columns(con):
    """Counts are BIGINT: HUGEINT comes out of Polars and pandas as objects or floats."""
    views = ("model_price_match", "unpriced_models", "step_gaps", "run_lifecycle",
             "run_lifecycle_stats", "run_failure_funnel", "step_failure_funnel",
             "failing_step_tools", "tool_analytics", "usage_cost", "tool_cost",
             "daily_metrics", "hourly_metrics", "runs", "steps", "usage")
    for view in views:
        types = {t for _, t, *_ in con.sql(f"describe {view}").fetchall()}
        assert "HUGEINT" not in types, view


# ---- migration ---------------------------------------------------------------------------

def test_migration(con, base):
    """Both APIs side by side, overall, per model (as priced) and per assistant-or-prompt."""
    groups = defaultdict(lambda: {"assistants": [], "responses": []})
    for r in base["runs"]:
        family = matched_model(r["model"]) or r["model"]
        for key in (("all", None), ("model", family), ("assistant_id", r["assistant_id"])):
            groups[key][r["api"]].append(r)

    def measures(rs: list[dict]) -> dict:
        walls = [(r["ended_at"] - r["created_at"]).total_seconds() for r in rs
                 if r["ended_at"] is not None and r["created_at"] is not None]
        terminal = [r for r in rs if r["status"] in RUN_TERMINAL]
        with_prompt = [r for r in rs if r["prompt_tokens"] is not None]
        costs = [cost(r) for r in rs]
        priced = [c for c in costs if c is not None]
        return {
            "runs": len(rs), "p50_s": quantile_cont(walls, 0.5),
            "p95_s": quantile_cont(walls, 0.95),
            "failure_rate": ratio(sum(r["status"] == "failed" for r in terminal),
                                  len(terminal)),
            "failed_or_expired_rate": ratio(
                sum(r["status"] in ("failed", "expired") for r in terminal), len(terminal)),
            "tokens_per_run": mean([r["total_tokens"] for r in rs
                                    if r["total_tokens"] is not None]),
            "cached_share": ratio(total(r["cached_tokens"] for r in with_prompt),
                                  total(r["prompt_tokens"] for r in with_prompt)),
            "cost_per_run_usd": ratio(total(priced), len(priced)),
            "unpriced_runs": sum(c is None and has_tokens(r)
                                 for c, r in zip(costs, rs, strict=True)),
        }

    expected = []
    for (dim, value), sides in groups.items():
        row = {"dimension": dim, "value": value}
        for api in ("assistants", "responses"):
            m = measures(sides[api]) if sides[api] else {}
            for name in ("runs", "p50_s", "p95_s", "failure_rate", "failed_or_expired_rate",
                         "tokens_per_run",
                         "cached_share", "cost_per_run_usd", "unpriced_runs"):
                default = 0 if name in ("runs", "unpriced_runs") else None
                row[f"{api}_{name}"] = m.get(name, default)
        expected.append(row)
    got = rows(con, "from migration")
    assert_rows(got, expected, ("dimension", "value"))
    both = [r for r in got if r["dimension"] == "model" and r["assistants_runs"]
            and r["responses_runs"] and r["responses_cost_per_run_usd"]]
    assert both and any(r["responses_cached_share"] for r in both)
    assert any(r["responses_unpriced_runs"] for r in got if r["dimension"] == "model")
