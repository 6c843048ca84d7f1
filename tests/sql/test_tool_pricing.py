"""Cache writes and built-in tools priced (docs/billing.md, "Built-in tools"), with the
shipped price tables (data/prices.csv, data/tool_prices.csv), on both APIs.

A generated export (seeded, below) holds what the real archives hold and more of it:
responses of priced and unpriced models from March 2025 to late 2026 with web search
(either tool version, with and without the billed request count `tool_usage`), file
search, code interpreter and image generation calls, cache writes on GPT-5.6 models; and
Assistants threads whose code-interpreter calls span several one-hour sessions. Every
generated response validates against the openai SDK's `Response` type. The expected rows
are computed here from the generated records themselves, in plain Python
(tests/support/tool_pricing_oracle.py for the tool rules), never from the warehouse.

The real recordings (tests/data/real-responses, tests/data/real) are walked the same way:
their hosted-tool items per response, and the Assistants file_search calls per step.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.support import tool_pricing_oracle as oracle
from tests.support.ingest import ingest_direct
from tests.support.paths import REAL as REAL_DIR
from tests.support.paths import REAL_RESPONSES as REAL_RESPONSES_DIR
from tests.support.sdk_validation import responses_errors

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14", "gpt-5-mini-2025-08-07",
          "gpt-5.6-sol", "gpt-5.6-terra", "my-private-model")
FIRST, LAST = 1740787200, 1796083200  # 2025-03-01 .. 2026-12-01
TOOL_USAGE_FROM = 1782518400  # 2026-06-27: responses report tool_usage
CACHE_WRITES_FROM = 1783641600  # 2026-07-10
TOOL_OPTIONS = {"file_search": {"vector_store_ids": ["vs_A"]},
                "code_interpreter": {"container": {"type": "auto"}}}
HOSTED = {"web_search": "web_search_call", "file_search": "file_search_call",
          "code_interpreter": "code_interpreter_call",
          "image_generation": "image_generation_call"}


def day_of(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, dt.UTC).date()


# ---- the generated export ----------------------------------------------------------------

def item(rng: random.Random, kind: str, n: int) -> dict:
    """One hosted-tool output item, as the API sends it (SDK-valid)."""
    iid = f"{kind[:2]}_{n:048x}"
    if kind == "web_search_call":
        return {"id": iid, "type": kind, "status": "completed",
                "action": {"type": "search", "query": "weather Paris",
                           "sources": [{"type": "url", "url": "https://example.org/"}]}}
    if kind == "file_search_call":
        return {"id": iid, "type": kind, "status": "completed", "queries": ["returns"],
                "results": None}
    if kind == "code_interpreter_call":
        return {"id": iid, "type": kind, "status": "completed", "code": "print(1)",
                "container_id": f"cntr_{rng.getrandbits(64):016x}", "outputs": None}
    return {"id": iid, "type": kind, "status": "completed", "result": "iVBORw0KGgo="}


def response(rng: random.Random, n: int) -> dict:
    t = rng.randint(FIRST, LAST)
    declared = rng.sample(sorted(HOSTED), rng.randint(0, 4))
    if "web_search" in declared and rng.random() < 0.4:
        declared[declared.index("web_search")] = "web_search_preview"
    output = []
    for tool in declared:
        kind = HOSTED["web_search" if tool.startswith("web_search") else tool]
        output += [item(rng, kind, n * 100 + len(output)) for _ in range(rng.randint(0, 3))]
    output.append({"id": f"msg_{n:048x}", "type": "message", "status": "completed",
                   "role": "assistant", "content": [
                       {"type": "output_text", "text": "Done.", "annotations": [],
                        "logprobs": []}]})
    prompt = rng.randint(1000, 60_000)
    cached = rng.choice([0, prompt // 3, prompt // 2])
    written = rng.randint(0, prompt - cached) if t >= CACHE_WRITES_FROM else 0
    completion = rng.randint(10, 3000)
    r = {"id": f"resp_{n:050x}", "object": "response", "created_at": t, "status": "completed",
         "background": False, "completed_at": t + 5, "error": None,
         "incomplete_details": None, "instructions": None, "metadata": {},
         "model": rng.choice(MODELS), "output": output, "parallel_tool_calls": True,
         "temperature": 1.0, "tool_choice": "auto", "top_p": 1.0,
         "tools": [dict({"type": tool}, **TOOL_OPTIONS.get(tool, {})) for tool in declared],
         "usage": {"input_tokens": prompt,
                   "input_tokens_details": {"cached_tokens": cached,
                                            "cache_write_tokens": written},
                   "output_tokens": completion,
                   "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": prompt + completion}}
    if t >= TOOL_USAGE_FROM:
        searches = sum(i["type"] == "web_search_call" for i in output)
        r["tool_usage"] = {  # billed requests: one call can search more than once
            # (and a bad count now and then: read, never checked, so not a count)
            "web_search": {"num_requests": rng.choice([searches, searches, searches + 1,
                                                       searches + 2, -1])},
            "image_gen": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
                          "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                          "output_tokens_details": {"image_tokens": 0, "text_tokens": 0}}}
    return r


def assistants_records(rng: random.Random) -> list[dict]:
    """Threads of runs whose steps call code_interpreter / file_search over hours."""
    records = []
    for th in range(12):
        t = rng.randint(1704067200, 1735689600)  # 2024
        for ru in range(rng.randint(1, 4)):
            run_id, thread_id = f"run_{th:02d}{ru:02d}", f"thread_{th:02d}"
            records.append({"id": run_id, "object": "thread.run", "created_at": t,
                            "thread_id": thread_id, "assistant_id": "asst_T",
                            "model": "gpt-4o", "status": "completed", "started_at": t,
                            "completed_at": t + 60})
            for st in range(rng.randint(1, 3)):
                t += rng.choice([30, 600, 2400, 3599, 3600, 5000])
                calls = [{"id": f"call_{th:02d}{ru:02d}{st:02d}{k}",
                          "type": kind,
                          kind: ({"input": "1+1", "outputs": []} if kind == "code_interpreter"
                                 else {})}
                         for k, kind in enumerate(rng.choices(
                             ["code_interpreter", "file_search"], k=rng.randint(1, 3)))]
                records.append({
                    "id": f"step_{th:02d}{ru:02d}{st:02d}", "object": "thread.run.step",
                    "created_at": t, "run_id": run_id, "assistant_id": "asst_T",
                    "thread_id": thread_id, "type": "tool_calls", "status": "completed",
                    "completed_at": t + 4,
                    "step_details": {"type": "tool_calls", "tool_calls": calls},
                    "usage": {"prompt_tokens": 100, "completion_tokens": 10,
                              "total_tokens": 110}})
            t += rng.randint(60, 9000)
    return records


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    rng = random.Random(21)
    base = tmp_path_factory.mktemp("tool_pricing")
    responses = [response(rng, n) for n in range(160)]
    assistants = assistants_records(rng)
    (base / "export").mkdir()
    (base / "export" / "responses.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in responses))
    (base / "export" / "assistants.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in assistants))
    ingest_direct([str(base / "export")], str(base / "wh"))
    return responses, assistants, base / "wh"


def rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


# ---- plain-Python expectations from the records ----------------------------------------

def model_prices() -> list[dict]:
    text = (ROOT / "data" / "prices.csv").read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    out = []
    for r in csv.DictReader(io.StringIO("\n".join(lines))):
        opt = {k: float(r[k]) if r.get(k) else None
               for k in ("cached_prompt_usd_per_1m", "cache_write_usd_per_1m")}
        out.append({"model": r["model"], "from": dt.date.fromisoformat(r["effective_from"]),
                    "prompt": float(r["prompt_usd_per_1m"]),
                    "completion": float(r["completion_usd_per_1m"]),
                    "cached": opt["cached_prompt_usd_per_1m"],
                    "write": opt["cache_write_usd_per_1m"]})
    return out


def token_cost(model: str, day: dt.date, usage: dict) -> float | None:
    table = model_prices()
    names = [p["model"] for p in table if model == p["model"]
             or model.startswith(p["model"] + "-")]
    if not names:
        return None
    best = max(names, key=len)
    dated = [p for p in table if p["model"] == best and p["from"] <= day]
    if not dated:
        return None
    p = max(dated, key=lambda p: p["from"])
    prompt, details = usage["input_tokens"], usage["input_tokens_details"]
    cached, written = details["cached_tokens"], details.get("cache_write_tokens") or 0
    plain = prompt - cached - written
    return (plain * p["prompt"] + cached * (p["cached"] if p["cached"] is not None
                                            else p["prompt"])
            + written * (p["write"] if p["write"] is not None else p["prompt"])
            + usage["output_tokens"] * p["completion"]) / 1e6


def as_rows(responses: list[dict], assistants: list[dict]) -> tuple[list[dict], list[dict]]:
    """The records as the oracle's runs and tool_calls dicts (what the tables would hold)."""
    runs, calls = [], []
    for r in responses:
        day = day_of(r["created_at"])
        runs.append({"api": "responses", "run_id": r["id"], "thread_id": None,
                     "assistant_id": None, "model": r["model"], "day": day,
                     "tools": sorted({t["type"] for t in r["tools"]}),
                     "web_search_requests": (r.get("tool_usage") or {}).get(
                         "web_search", {}).get("num_requests")})
        for i in r["output"]:
            if i["type"].endswith("_call"):
                calls.append({"api": "responses", "run_id": r["id"], "step_id": i["id"],
                              "thread_id": None, "assistant_id": None, "model": r["model"],
                              "day": day, "type": i["type"].removesuffix("_call"),
                              "created_at": None, "call_index": None})
    model = {a["id"]: a["model"] for a in assistants if a["object"] == "thread.run"}
    for a in assistants:
        if a["object"] == "thread.run":
            runs.append({"api": "assistants", "run_id": a["id"], "thread_id": a["thread_id"],
                         "assistant_id": a["assistant_id"], "model": a["model"],
                         "day": day_of(a["created_at"]), "tools": None,
                         "web_search_requests": None})
            continue
        for k, c in enumerate(a["step_details"]["tool_calls"]):
            calls.append({"api": "assistants", "run_id": a["run_id"], "step_id": a["id"],
                          "thread_id": a["thread_id"], "assistant_id": a["assistant_id"],
                          "model": model[a["run_id"]], "day": day_of(a["created_at"]),
                          "type": c["type"], "call_index": k,
                          "created_at": dt.datetime.fromtimestamp(a["created_at"])})
    return runs, calls


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9,
                                                                abs_tol=1e-12)
    return a == b


COMPARED = ("api", "tool_type", "tool", "run_id", "step_id", "model", "day", "calls", "unit",
            "units", "usd_per_unit", "cost_usd", "reason")


def assert_charges(got: list[dict], expected: list[dict]) -> None:
    def key(r):
        return (r["api"], r["tool_type"], r["run_id"], r["step_id"] if r["api"] ==
                "assistants" else None)
    g = {key(r): r for r in got}
    e = {key(r): r for r in expected}
    assert len(g) == len(got) and len(e) == len(expected)
    assert set(g) == set(e), (set(g) - set(e), set(e) - set(g))
    bad = {k: {c: (g[k][c], e[k][c]) for c in COMPARED if not same(g[k][c], e[k][c])}
           for k in e}
    assert not any(bad.values()), {k: v for k, v in bad.items() if v}


# ---- the generated export ----------------------------------------------------------------

def test_generated_responses_are_what_the_sdk_knows(generated):
    responses, _, _ = generated
    assert [e for r in responses for e in responses_errors("Response", r)] == []


def test_generated_export_covers_the_cases(generated):
    responses, assistants, _ = generated
    runs, calls = as_rows(responses, assistants)
    charges = oracle.charges(runs, calls, oracle.price_rows())
    tools = {(c["api"], c["tool"]) for c in charges}
    assert ("responses", "web_search_preview") in tools and ("responses", "web_search") in tools
    assert {c["reason"] for c in charges} >= {None, "tool not in the tool price table",
                                              "no price on or before its day"}
    assert any(r["web_search_requests"] and r["web_search_requests"] > sum(
        c["run_id"] == r["run_id"] and c["type"] == "web_search" for c in calls)
        for r in runs)  # more requests billed than calls shown
    assert any((r["web_search_requests"] or 0) < 0 for r in runs)
    assert any(r["usage"]["input_tokens_details"]["cache_write_tokens"]
               and r["model"].startswith("gpt-5.6") for r in responses)
    sessions = Counter(c["thread_id"] for c in charges if c["unit"] == "session"
                       and c["api"] == "assistants")
    assert max(sessions.values()) > 1


def test_tool_charges_of_generated_export(generated):
    responses, assistants, wh = generated
    runs, calls = as_rows(responses, assistants)
    expected = oracle.charges(runs, calls, oracle.price_rows())
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        assert_charges(rows(con, "from tool_charges"), expected)


def test_cache_writes_priced_at_their_own_rate(generated):
    responses, _, wh = generated
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        got = dict(con.sql("select run_id, cost_usd from usage where api = 'responses'"
                           ).fetchall())
    assert len(got) == len(responses)
    for r in responses:
        want = token_cost(r["model"], day_of(r["created_at"]), r["usage"])
        assert same(got[r["id"]], want) if want is not None else got[r["id"]] is None, r["id"]


def test_usage_cost_says_where_the_dollars_go(generated):
    responses, assistants, wh = generated
    runs, calls = as_rows(responses, assistants)
    charges = oracle.charges(runs, calls, oracle.price_rows())
    by_api: dict[str, list[float]] = defaultdict(list)
    for c in charges:
        if c["cost_usd"] is not None:
            by_api[c["api"]].append(c["cost_usd"])
    tokens = [token_cost(r["model"], day_of(r["created_at"]), r["usage"]) for r in responses]
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        got = {r["value"]: r for r in rows(con, "from usage_cost where dimension = 'api'")}
        every = rows(con, "from usage_cost where dimension = 'all'")[0]
        cost = rows(con, "select * from tool_cost where function_name is null")
    for api in ("assistants", "responses"):
        assert same(got[api]["tool_cost_usd"], sum(by_api[api]))
        assert got[api]["unpriced_tool_charges"] == sum(
            c["cost_usd"] is None for c in charges if c["api"] == api)
    assert same(got["responses"]["cost_usd"], sum(t for t in tokens if t is not None))
    assert same(every["total_cost_usd"], every["cost_usd"] + every["tool_cost_usd"])
    per_type: dict[tuple, float] = defaultdict(float)
    for c in charges:
        if c["cost_usd"] is not None:
            per_type[(c["api"], c["tool_type"])] += c["cost_usd"]
    assert {(r["api"], r["tool_type"]): r["charge_usd"] for r in cost
            if r["charge_usd"] is not None} == pytest.approx(dict(per_type))


# ---- the real recordings -----------------------------------------------------------------

def final_responses(folder: Path) -> dict[str, dict]:
    """Each response id's terminal record in the recordings (JSON bodies and the
    `response.completed`/`incomplete` events of streams; they agree on output)."""
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            value = json.loads(line)
            r = value.get("response") if value.get("type") in (
                "response.completed", "response.incomplete") else value
            if isinstance(r, dict) and r.get("object") == "response" and r.get(
                    "status") in ("completed", "incomplete"):
                kinds = Counter(i["type"] for i in r["output"]
                                if i["type"] in HOSTED.values())
                # copies agree on their hosted tool calls (some pydantic-ai cassettes share
                # anonymised ids between responses: none of those calls a hosted tool)
                assert out.get(r["id"], (r, kinds))[1] == kinds
                out[r["id"]] = (r, kinds)
    return {k: v[0] for k, v in out.items()}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    wh = tmp_path_factory.mktemp("real_tools") / "wh"
    ingest_direct([str(REAL_RESPONSES_DIR), str(REAL_DIR)], str(wh))
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        yield con


def test_real_responses_tool_charges(real):
    finals = final_responses(REAL_RESPONSES_DIR)
    runs, calls = as_rows([dict(r, tools=r.get("tools") or []) for r in finals.values()], [])
    expected = oracle.charges(runs, calls, oracle.price_rows())
    # the recordings hold every hosted tool: web search (both versions), file search,
    # code interpreter, and image generation (unpriced)
    assert {c["tool"] for c in expected} == {"web_search", "web_search_preview",
                                             "file_search", "code_interpreter",
                                             "image_generation"}
    got = rows(real, "from tool_charges where api = 'responses'")
    assert_charges(got, expected)
    assert [r["tool"] for r in rows(real, "from unpriced_tools")] == ["image_generation"]


def test_real_assistants_file_search_calls(real):
    """Assistants file_search: a call per call (no per-call fee: $0), per step, whatever
    the step's status."""
    steps: dict[str, int] = {}
    for path in sorted(REAL_DIR.glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            value = json.loads(line)
            data = value.get("data", value)  # a list page, an event envelope, a record
            for s in data if isinstance(data, list) else [data]:
                if isinstance(s, dict) and s.get("object") == "thread.run.step" and (
                        s["step_details"]["type"] == "tool_calls"):
                    n = sum(c["type"] == "file_search" for c in s["step_details"]["tool_calls"])
                    if n:  # snapshots of a step only add calls: the fullest one
                        steps[s["id"]] = max(n, steps.get(s["id"], 0))
    assert steps
    got = {r["step_id"]: r for r in rows(real, "from tool_charges where api = 'assistants'")}
    assert {k: r["calls"] for k, r in got.items() if r["tool"] == "file_search"} == steps
    assert all(r["cost_usd"] == 0 for r in got.values() if r["tool"] == "file_search")
