"""Built-in tool charges computed in plain Python: the independent check of the
`tool_charges` view (docs/billing.md, "Built-in tools").

Inputs are plain dicts shaped like rows of `runs` and `tool_calls` (a test builds them
from the warehouse's base tables, or straight from the raw records it generated), and the
price rows of a tool price CSV read here with the `csv` module. Nothing of the product's
SQL or Python is used.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "tool_prices.csv"
RESPONSE_TOOLS = {"web_search": "call", "file_search": "call", "code_interpreter": "session",
                  "image_generation": "call"}
SESSION_S = 3600


def price_rows(text: str | None = None) -> list[dict]:
    """The rows of a tool price CSV (`#` lines are comments)."""
    text = SHIPPED.read_text() if text is None else text
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [{"api": r["api"].strip(), "tool": r["tool"].strip(), "model": r["model"].strip(),
             "from": dt.date.fromisoformat(r["effective_from"].strip()),
             "unit": r["unit"].strip(), "usd": float(r["usd_per_unit"])}
            for r in csv.DictReader(io.StringIO("\n".join(lines)))]


def price(prices: list[dict], api: str, tool: str, model: str | None, day: dt.date | None
          ) -> tuple[dict | None, str | None]:
    """(price row, None) or (None, reason)."""
    rows = [p for p in prices if p["api"] == api and p["tool"] == tool]
    fits = [p["model"] for p in rows
            if p["model"] == "" or (model is not None and (
                model == p["model"] or model.startswith(p["model"] + "-")))]
    if not fits:
        return None, "tool not in the tool price table"
    best = max(fits, key=len)
    if day is None:
        return None, "no day"
    dated = [p for p in rows if p["model"] == best and p["from"] <= day]
    if not dated:
        return None, "no price on or before its day"
    return max(dated, key=lambda p: p["from"]), None


def _preview(tools: list[str] | None) -> bool:
    if not tools:
        return False
    return (any(t.startswith("web_search_preview") for t in tools)
            and not any(t.startswith("web_search") and not t.startswith("web_search_preview")
                        for t in tools))


def charges(runs: list[dict], tool_calls: list[dict], prices: list[dict]) -> list[dict]:
    """Every tool charge: the rows `tool_charges` must hold (its columns)."""
    run_by_id = {(r["api"], r["run_id"]): r for r in runs}
    out: list[dict] = []

    # Responses API: per response and tool
    per_response: dict[str, list[dict]] = defaultdict(list)
    for c in tool_calls:
        if c["api"] == "responses" and c["run_id"] is not None and c["type"] in RESPONSE_TOOLS:
            per_response[c["run_id"]].append(c)
    reporting = {r["run_id"] for r in runs
                 if r["api"] == "responses" and (r.get("web_search_requests") or 0) > 0}
    for run_id in sorted(set(per_response) | reporting):
        calls = per_response.get(run_id, [])
        run = run_by_id.get(("responses", run_id))
        first = calls[0] if calls else {}
        base = {
            "api": "responses", "run_id": run_id, "step_id": None,
            "thread_id": run["thread_id"] if run else first.get("thread_id"),
            "assistant_id": run["assistant_id"] if run else first.get("assistant_id"),
            "model": run["model"] if run and run["model"] is not None else first.get("model"),
            "day": run["day"] if run and run["day"] is not None else first.get("day"),
            "type": "response",
        }
        for tool, unit in RESPONSE_TOOLS.items():
            n = sum(c["type"] == tool for c in calls)
            if tool == "web_search":
                reported = run.get("web_search_requests") if run else None
                units = reported if reported is not None and reported >= 0 else n
                priced_as = "web_search_preview" if run and _preview(run["tools"]) else tool
            else:
                units = min(n, 1) if unit == "session" else n
                priced_as = tool
            if n > 0 or units > 0:
                out.append(dict(base, tool_type=tool, tool=priced_as, calls=n, unit=unit,
                                units=units))

    # Assistants API: code-interpreter sessions per thread, file_search per step
    by_key: dict[str, list[dict]] = defaultdict(list)
    by_step: dict[str | None, list[dict]] = defaultdict(list)
    for c in tool_calls:
        if c["api"] != "assistants":
            continue
        if c["type"] == "code_interpreter":
            by_key[c["thread_id"] or c["run_id"] or c["step_id"]].append(c)
        elif c["type"] == "file_search":
            by_step[c["step_id"]].append(c)
    for calls in by_key.values():
        calls.sort(key=lambda c: (c["created_at"] is None, c["created_at"] or dt.datetime.min,
                                  c["step_id"] is None, c["step_id"] or "",
                                  c["call_index"] is None, c["call_index"] or 0))
        sessions: list[list[dict]] = []
        opened = None
        for c in calls:
            t = c["created_at"]
            if not sessions or (t is not None and opened is not None
                                and (t - opened).total_seconds() >= SESSION_S):
                sessions.append([c])
                opened = t
            else:
                sessions[-1].append(c)
        for s in sessions:
            f = s[0]
            out.append({"api": "assistants", "tool_type": "code_interpreter",
                        "tool": "code_interpreter", "run_id": f["run_id"],
                        "step_id": f["step_id"], "thread_id": f["thread_id"],
                        "assistant_id": f["assistant_id"], "model": f["model"],
                        "day": f["day"], "type": "tool_calls", "calls": len(s),
                        "unit": "session", "units": 1})
    for step_id, calls in by_step.items():
        f = calls[0]
        out.append({"api": "assistants", "tool_type": "file_search", "tool": "file_search",
                    "run_id": f["run_id"], "step_id": step_id, "thread_id": f["thread_id"],
                    "assistant_id": f["assistant_id"], "model": f["model"], "day": f["day"],
                    "type": "tool_calls", "calls": len(calls), "unit": "call",
                    "units": len(calls)})

    for ch in out:  # a charge without a day or model takes its run's
        run = run_by_id.get((ch["api"], ch["run_id"]))
        if run:
            ch["day"] = ch["day"] if ch["day"] is not None else run["day"]
            ch["model"] = ch["model"] if ch["model"] is not None else run["model"]
        p, reason = price(prices, ch["api"], ch["tool"], ch["model"], ch["day"])
        if p is not None and p["unit"] != ch["unit"]:
            p, reason = None, f"priced per {p['unit']}, billed per {ch['unit']}"
        ch["usd_per_unit"] = p["usd"] if p else None
        ch["cost_usd"] = ch["units"] * p["usd"] if p else None
        ch["reason"] = reason
    return out
